//! `GET /api/v1/ws`: the feed over a WebSocket, which also takes commands
//! (`{"id":..,"cmd":..}` answered with `{"id":..,"reply":..}`), so the web
//! desk needs one connection.

use super::error::ApiError;
use super::feed::{Feed, FeedItem};
use super::port::Desk;
use super::server::{AppState, MAX_BODY};
use agentphone_desk::AgentCommand;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

pub(crate) async fn upgrade(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|r| ApiError::new(r.status(), "bad-request", r.body_text()))?;
    let (feed, snapshot) = Feed::open(&state.hub, &state.desk).await?;
    let desk = state.desk.clone();
    Ok(upgrade
        .max_message_size(MAX_BODY)
        .max_frame_size(MAX_BODY)
        .on_upgrade(move |socket| session(socket, feed, snapshot, desk)))
}

async fn session(mut socket: WebSocket, mut feed: Feed, snapshot: String, desk: Desk) {
    if socket.send(Message::Text(snapshot)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            item = feed.next() => {
                let text = match item {
                    Some(FeedItem::Snapshot(s)) => s,
                    Some(FeedItem::Event(e)) => e.to_string(),
                    None => {
                        // Server stopping or desk gone: say goodbye properly.
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                };
                if socket.send(Message::Text(text)).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => {
                let reply = match msg {
                    Some(Ok(Message::Text(text))) => command_frame(&desk, &text).await,
                    Some(Ok(Message::Binary(_))) => json!({
                        "id": null,
                        "reply": {"error": "bad-request", "reason": "send commands as text frames"},
                    }),
                    // Pings are answered by axum; pongs need nothing.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                };
                if socket.send(Message::Text(reply.to_string())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// One command frame and its answer: `reply` is exactly what the HTTP route
/// would have sent as its body.
pub(crate) async fn command_frame(desk: &Desk, text: &str) -> Value {
    let mut frame: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return answer(Value::Null, ApiError::bad_request(e).body),
    };
    let id = frame
        .as_object_mut()
        .and_then(|o| o.remove("id"))
        .unwrap_or(Value::Null);
    let cmd: AgentCommand = match serde_json::from_value(frame) {
        Ok(c) => c,
        Err(e) => return answer(id, ApiError::bad_request(e).body),
    };
    tracing::debug!(?cmd, "command from the WebSocket");
    let body = match desk.command(cmd).await {
        Ok(Ok(reply)) => json!(reply),
        Ok(Err(e)) => ApiError::from(e).body,
        Err(u) => ApiError::from(u).body,
    };
    answer(id, body)
}

fn answer(id: Value, reply: Value) -> Value {
    json!({ "id": id, "reply": reply })
}
