//! One client's view of the desk's events, shared by the SSE and WebSocket
//! streams: a status snapshot first, then every event, and a fresh snapshot
//! whenever the client fell behind and events were dropped for it.

use super::port::{Desk, Unavailable};
use agentphone_desk::Status;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

/// What every feed is opened from.
#[derive(Debug)]
pub(crate) struct Hub {
    /// Never read: only resubscribed from. Keeping a receiver instead of the
    /// desk's sender lets the streams end when the desk task drops its own.
    events: broadcast::Receiver<Arc<str>>,
    /// Turns true when the server shuts down: the streams end, so graceful
    /// shutdown does not wait on them forever.
    stop: watch::Receiver<bool>,
}

impl Hub {
    pub(crate) fn new(events: broadcast::Receiver<Arc<str>>, stop: watch::Receiver<bool>) -> Self {
        Hub { events, stop }
    }
}

/// One item of a feed, as the JSON text sent to the client.
#[derive(Debug, PartialEq)]
pub(crate) enum FeedItem {
    /// `{"event":"status","status":{...}}`.
    Snapshot(String),
    /// A desk event as the desk serialized it.
    Event(Arc<str>),
}

/// One client's feed.
pub(crate) struct Feed {
    events: broadcast::Receiver<Arc<str>>,
    stop: watch::Receiver<bool>,
    desk: Desk,
    /// Set when events were lost and the snapshot that replaces them is not
    /// delivered yet; kept across a cancelled `next` so it is not lost too.
    resync: bool,
}

/// The JSON of a snapshot: shaped like an event so a client reads one kind of
/// object from the stream.
pub(crate) fn snapshot_json(status: &Status) -> String {
    serde_json::json!({ "event": "status", "status": status }).to_string()
}

impl Feed {
    /// Subscribes, then asks for the snapshot: an event between the two is
    /// both in the snapshot and sent after it, rather than lost.
    pub(crate) async fn open(hub: &Hub, desk: &Desk) -> Result<(Feed, String), Unavailable> {
        let events = hub.events.resubscribe();
        let status = desk.status().await?;
        let feed = Feed {
            events,
            stop: hub.stop.clone(),
            desk: desk.clone(),
            resync: false,
        };
        Ok((feed, snapshot_json(&status)))
    }

    /// The next item; None when the stream is over (server shutting down,
    /// desk gone). Cancel-safe.
    pub(crate) async fn next(&mut self) -> Option<FeedItem> {
        loop {
            if self.resync {
                let status = self.desk.status().await.ok()?;
                self.resync = false;
                return Some(FeedItem::Snapshot(snapshot_json(&status)));
            }
            tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop) => return None,
                r = self.events.recv() => match r {
                    Ok(event) => return Some(FeedItem::Event(event)),
                    Err(broadcast::error::RecvError::Closed) => return None,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("an API client fell {n} events behind; sending it a fresh status");
                        self.resync = true;
                    }
                },
            }
        }
    }
}
