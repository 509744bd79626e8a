//! The server against a fake desk task, over real loopback HTTP.

use super::client::Client;
use super::testing::{event_json, sample_status, start, TOKEN};
use super::Token;
use agentphone_desk::{AgentCommand, CallRef, DeskEvent};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

const WAIT: Duration = Duration::from_secs(5);

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn body(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn every_route_but_sign_in_and_the_page_needs_the_token() {
    let s = start(true, 16).await;
    let c = http();
    for (method, path) in [
        ("GET", "/api/v1/status"),
        ("POST", "/api/v1/command"),
        ("GET", "/api/v1/wrapup-reasons"),
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/ws"),
    ] {
        let req = c.request(method.parse().unwrap(), format!("{}{path}", s.url));
        let (status, b) = body(req.try_clone().unwrap().send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(b["error"], "unauthorized");
        let (status, _) = body(req.bearer_auth("wrong").send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    let resp = c.get(format!("{}/", s.url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("not built yet"));
    let (status, b) = body(c.get(format!("{}/nope", s.url)).send().await.unwrap()).await;
    assert_eq!(
        (status, &b["error"]),
        (StatusCode::NOT_FOUND, &json!("not-found"))
    );
}

#[tokio::test]
async fn bearer_token_reads_status_and_wrapup_reasons() {
    let s = start(true, 16).await;
    let c = http();
    let (status, b) = body(
        c.get(format!("{}/api/v1/status", s.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b, serde_json::to_value(sample_status()).unwrap());
    assert_eq!(b["agent"], json!({"state": "idle", "reason": "lunch"}));
    let (_, b) = body(
        c.get(format!("{}/api/v1/wrapup-reasons?q=SALE", s.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(b, json!(["Sale", "No sale"]));
    let (_, b) = body(
        c.get(format!("{}/api/v1/wrapup-reasons", s.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(b.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn commands_answer_with_replies_and_each_error_its_status() {
    let mut s = start(true, 16).await;
    let c = http();
    let post = |body: String| {
        c.post(format!("{}/api/v1/command", s.url))
            .bearer_auth(TOKEN)
            .body(body)
            .send()
    };
    let (status, b) = body(post(r#"{"cmd":"hold"}"#.into()).await.unwrap()).await;
    assert_eq!((status, b), (StatusCode::OK, json!({"result": "ok"})));
    assert_eq!(
        s.commands.recv().await.unwrap(),
        AgentCommand::Hold { call: None }
    );
    let (status, b) = body(
        post(r#"{"cmd":"dial","target":"1002"}"#.into())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, b),
        (StatusCode::OK, json!({"result": "call", "call": 4}))
    );
    let (status, b) = body(post(r#"{"cmd":"hangup","call":3}"#.into()).await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        b,
        json!({"error": "refused", "rule": "R-HOLD-3",
               "reason": "call 3 is held: resume it before hanging up"})
    );
    let (status, b) = body(post(r#"{"cmd":"hold","call":99}"#.into()).await.unwrap()).await;
    assert_eq!(
        (status, &b["error"]),
        (StatusCode::NOT_FOUND, &json!("no-such-call"))
    );
    let (status, b) = body(
        post(r#"{"cmd":"dtmf","digits":"12x"}"#.into())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &b["error"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid"))
    );
    let (status, b) = body(post(r#"{"cmd":"levitate"}"#.into()).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let reason = b["reason"].as_str().unwrap();
    assert!(reason.contains("unknown variant `levitate`"), "{reason}");
    let (status, _) = body(post("{not json".into()).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let huge = format!(r#"{{"cmd":"dial","target":"{}"}}"#, "9".repeat(70_000));
    let (status, b) = body(post(huge).await.unwrap()).await;
    assert_eq!(
        (status, &b["error"]),
        (StatusCode::PAYLOAD_TOO_LARGE, &json!("too-large"))
    );
}

#[tokio::test]
async fn sign_in_sets_an_http_only_strict_cookie_that_is_not_the_token() {
    let s = start(true, 16).await;
    let c = http();
    let session = format!("{}/api/v1/session", s.url);
    let resp = c
        .post(&session)
        .body(r#"{"token":"wrong"}"#)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("set-cookie").is_none());
    let (status, b) = body(resp).await;
    assert_eq!(
        (status, &b["error"]),
        (StatusCode::UNAUTHORIZED, &json!("unauthorized"))
    );

    let resp = c
        .post(&session)
        .body(format!(r#"{{"token":"{TOKEN}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.starts_with("agentphone_session="),
        "{set_cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(!set_cookie.contains(TOKEN), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let status_url = format!("{}/api/v1/status", s.url);
    let resp = c
        .get(&status_url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Same site is not same origin: another local app's page is refused.
    let resp = c
        .get(&status_url)
        .header("cookie", &cookie)
        .header("origin", "http://127.0.0.1:1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let origin = s.url.clone();
    let resp = c
        .get(&status_url)
        .header("cookie", &cookie)
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let resp = c
        .delete(&session)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let resp = c
        .get(&status_url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sse_sends_the_snapshot_then_each_broadcast_event() {
    let s = start(true, 16).await;
    let client = Client::new(&s.url, Token::new(TOKEN).unwrap()).unwrap();
    let mut events = client.events().await.unwrap();
    let first = timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        first,
        json!({"event": "status", "status": serde_json::to_value(sample_status()).unwrap()})
    );
    let ended = DeskEvent::Ended {
        call: CallRef(3),
        reason: "remote hangup".into(),
    };
    s.events.send(event_json(&ended)).unwrap();
    let next = timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        next,
        json!({"event": "ended", "call": 3, "reason": "remote hangup"})
    );

    // The raw stream: the snapshot is an SSE event named `status`.
    let resp = http()
        .get(format!("{}/api/v1/events", s.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut bytes = resp.bytes_stream();
    let chunk = timeout(WAIT, bytes.next()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8_lossy(&chunk);
    assert!(
        text.starts_with("event: status\ndata: {\"event\":\"status\""),
        "{text}"
    );
}

#[tokio::test]
async fn a_client_that_fell_behind_gets_a_fresh_snapshot() {
    use super::feed::{Feed, FeedItem, Hub};
    use super::ApiRequest;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ApiRequest>(4);
    tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            if let ApiRequest::Status { reply } = req {
                let _ = reply.send(sample_status());
            }
        }
    });
    let desk = super::port::Desk::new(tx);
    let (events, _) = tokio::sync::broadcast::channel(2);
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let hub = Hub::new(events.subscribe(), stop_rx);
    let (mut feed, _) = Feed::open(&hub, &desk).await.unwrap();
    for reason in ["a", "b", "c", "d", "e"] {
        let e = DeskEvent::Stopping {
            reason: reason.into(),
        };
        events.send(event_json(&e)).unwrap();
    }
    match timeout(WAIT, feed.next()).await.unwrap().unwrap() {
        FeedItem::Snapshot(json) => assert!(json.starts_with("{\"event\":\"status\"")),
        other => panic!("expected a snapshot, got {other:?}"),
    }
    // Then the events still buffered, the newest last.
    let mut last = None;
    while let Ok(Some(FeedItem::Event(e))) = timeout(Duration::from_millis(100), feed.next()).await
    {
        last = Some(e);
    }
    assert_eq!(
        last.as_deref(),
        Some(r#"{"event":"stopping","reason":"e"}"#)
    );
}

/// The next text frame (pings and pongs skipped).
async fn next_text<S>(ws: &mut S) -> String
where
    S: futures_util::Stream<Item = Result<tungstenite::Message, tungstenite::Error>> + Unpin,
{
    loop {
        let msg = timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
        if let tungstenite::Message::Text(t) = msg {
            return t;
        }
    }
}

#[tokio::test]
async fn websocket_streams_events_and_answers_command_frames() {
    let s = start(true, 16).await;
    let ws_url = format!("{}/api/v1/ws", s.url.replace("http://", "ws://"));
    let mut req = ws_url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let first: Value = serde_json::from_str(&next_text(&mut ws).await).unwrap();
    assert_eq!(first["event"], "status");

    ws.send(tungstenite::Message::Text(
        r#"{"id":7,"cmd":"hangup","call":3}"#.into(),
    ))
    .await
    .unwrap();
    ws.send(tungstenite::Message::Text(
        r#"{"id":"b","cmd":"dial","target":"1002"}"#.into(),
    ))
    .await
    .unwrap();
    ws.send(tungstenite::Message::Text(r#"{"id":9,"cmd":"fly"}"#.into()))
        .await
        .unwrap();
    let mut replies = Vec::new();
    for _ in 0..3 {
        replies.push(serde_json::from_str::<Value>(&next_text(&mut ws).await).unwrap());
    }
    assert_eq!(
        replies[0],
        json!({"id": 7, "reply": {"error": "refused", "rule": "R-HOLD-3",
               "reason": "call 3 is held: resume it before hanging up"}})
    );
    assert_eq!(
        replies[1],
        json!({"id": "b", "reply": {"result": "call", "call": 4}})
    );
    assert_eq!(replies[2]["id"], 9);
    assert_eq!(replies[2]["reply"]["error"], "bad-request");

    s.events
        .send(event_json(&DeskEvent::Stopping {
            reason: "logout".into(),
        }))
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await,
        r#"{"event":"stopping","reason":"logout"}"#
    );
}

#[tokio::test]
async fn a_desk_that_is_gone_is_503() {
    let s = start(false, 16).await;
    let c = http();
    let (status, b) = body(
        c.get(format!("{}/api/v1/status", s.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b["error"], "unavailable");
    for (method, path, body_text) in [
        ("POST", "/api/v1/command", r#"{"cmd":"toggle"}"#),
        ("GET", "/api/v1/events", ""),
        ("GET", "/api/v1/wrapup-reasons", ""),
    ] {
        let resp = c
            .request(method.parse().unwrap(), format!("{}{path}", s.url))
            .bearer_auth(TOKEN)
            .body(body_text)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    }
}

#[tokio::test]
async fn shutdown_ends_open_event_streams_and_the_server() {
    let mut s = start(true, 16).await;
    let client = Client::new(&s.url, Token::new(TOKEN).unwrap()).unwrap();
    let mut events = client.events().await.unwrap();
    timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    s.shut_down();
    assert!(timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap()
        .is_none());
    // Well inside the grace period: the streams ended, nothing was cut.
    let result = timeout(Duration::from_secs(1), &mut s.server).await;
    result.expect("server stopped").unwrap().unwrap();
}
