//! `GET /api/v1/events`: the feed as server-sent events.

use super::error::ApiError;
use super::feed::{Feed, FeedItem};
use super::server::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;

/// A snapshot is an SSE event named `status`; desk events are unnamed
/// (`message`), their kind is in the JSON.
fn sse_event(item: FeedItem) -> Event {
    match item {
        FeedItem::Snapshot(json) => Event::default().event("status").data(json),
        FeedItem::Event(json) => Event::default().data(&*json),
    }
}

pub(crate) async fn events(
    State(state): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Opened before the response starts, so a desk that is gone is a 503,
    // not an empty stream.
    let (feed, snapshot) = Feed::open(&state.hub, &state.desk).await?;
    let first = Some(FeedItem::Snapshot(snapshot));
    let stream = futures_util::stream::unfold((feed, first), |(mut feed, first)| async move {
        let item = match first {
            Some(item) => item,
            None => feed.next().await?,
        };
        Some((Ok(sse_event(item)), (feed, None)))
    });
    // The keep-alive comments let a client (and the server) notice a dead
    // connection while the desk is quiet.
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
