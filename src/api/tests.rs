//! The server against a fake desk task, over real loopback HTTP.

use super::client::Client;
use super::testing::{event_json, sample_status, start, LOGIN_CODE, TOKEN};
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
    // The web desk's page and assets need no token: they hold no data.
    for (path, kind) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/desk.css", "text/css"),
    ] {
        let resp = c.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let headers = resp.headers();
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind));
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
    }
    let page = c.get(format!("{}/", s.url)).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("/assets/app.js"));
    let resp = c
        .get(format!("{}/assets/x.js", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
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

    // The one-time login code signs in once; then it is spent.
    for (body, expected) in [
        (format!(r#"{{"code":"{LOGIN_CODE}"}}"#), StatusCode::OK),
        (
            format!(r#"{{"code":"{LOGIN_CODE}"}}"#),
            StatusCode::UNAUTHORIZED,
        ),
        (
            format!(r#"{{"code":"x","token":"{TOKEN}"}}"#),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let resp = c.post(&session).body(body.clone()).send().await.unwrap();
        assert_eq!(resp.status(), expected, "{body}");
        assert_eq!(
            resp.headers().contains_key("set-cookie"),
            expected == StatusCode::OK
        );
    }

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

/// One of each command, as documented in docs/api.md.
fn sample_commands() -> Vec<AgentCommand> {
    use agentphone_desk::noise::NoiseTarget;
    use agentphone_desk::{ReferRef, RequestedState};
    let c = Some(CallRef(3));
    vec![
        AgentCommand::State(RequestedState::Available),
        AgentCommand::State(RequestedState::Idle {
            reason: "lunch".into(),
        }),
        AgentCommand::Answer {
            call: Some(CallRef(5)),
        },
        AgentCommand::AnswerAll,
        AgentCommand::Decline {
            call: Some(CallRef(5)),
        },
        AgentCommand::Dial {
            target: "sip:1002@pbx.example.com".into(),
        },
        AgentCommand::Hold { call: c },
        AgentCommand::Resume { call: c },
        AgentCommand::Consult {
            call: c,
            target: "2001".into(),
            hold_conference: None,
        },
        AgentCommand::Toggle,
        AgentCommand::TransferBlind {
            call: c,
            target: "2001".into(),
        },
        AgentCommand::TransferConsult { call: c },
        AgentCommand::Conference { call: c },
        AgentCommand::Remove { party: CallRef(4) },
        AgentCommand::Mute { on: true },
        AgentCommand::Leave { call: None },
        AgentCommand::Hangup { call: c },
        AgentCommand::WrapUp {
            call: c,
            reason: "Sale".into(),
        },
        AgentCommand::Record {
            call: c,
            pause: true,
        },
        AgentCommand::Dtmf {
            call: c,
            digits: "1234#".into(),
        },
        AgentCommand::Denoise {
            on: false,
            target: Some(NoiseTarget::Microphone),
        },
        AgentCommand::Refer {
            refer: ReferRef(2),
            accept: true,
        },
        AgentCommand::Logout,
    ]
}

/// A number per variant: the match fails to compile when the desk gets a
/// new command, so the docs cannot silently miss it.
fn command_kind(c: &AgentCommand) -> usize {
    match c {
        AgentCommand::State(_) => 0,
        AgentCommand::Answer { .. } => 1,
        AgentCommand::AnswerAll => 2,
        AgentCommand::Decline { .. } => 3,
        AgentCommand::Dial { .. } => 4,
        AgentCommand::Hold { .. } => 5,
        AgentCommand::Resume { .. } => 6,
        AgentCommand::Consult { .. } => 7,
        AgentCommand::Toggle => 8,
        AgentCommand::TransferBlind { .. } => 9,
        AgentCommand::TransferConsult { .. } => 10,
        AgentCommand::Conference { .. } => 11,
        AgentCommand::Remove { .. } => 12,
        AgentCommand::Mute { .. } => 13,
        AgentCommand::Leave { .. } => 14,
        AgentCommand::Hangup { .. } => 15,
        AgentCommand::WrapUp { .. } => 16,
        AgentCommand::Record { .. } => 17,
        AgentCommand::Dtmf { .. } => 18,
        AgentCommand::Denoise { .. } => 19,
        AgentCommand::Refer { .. } => 20,
        AgentCommand::Logout => 21,
    }
}

/// One of each event, as documented in docs/api.md.
fn sample_events() -> Vec<DeskEvent> {
    use agentphone_desk::{AgentStatus, ReferRef};
    let status = sample_status();
    vec![
        DeskEvent::Agent {
            agent: AgentStatus::Idle {
                reason: "missed offer".into(),
            },
            why: Some("ring timeout (R-OFFER-2)".into()),
        },
        DeskEvent::Agent {
            agent: AgentStatus::WrapUp { call: CallRef(3) },
            why: None,
        },
        DeskEvent::Offer {
            offer: status.offers[0].clone(),
        },
        DeskEvent::OfferGone {
            call: CallRef(5),
            reason: "timeout".into(),
        },
        DeskEvent::Call {
            call: status.calls[0].clone(),
        },
        DeskEvent::Ended {
            call: CallRef(3),
            reason: "remote hangup".into(),
        },
        DeskEvent::ConsultFailed {
            call: CallRef(4),
            reason: "486 Busy Here".into(),
        },
        DeskEvent::Transfer {
            call: CallRef(3),
            outcome: "succeeded".into(),
            detail: "SIP/2.0 200 OK".into(),
        },
        DeskEvent::ReferAsk {
            refer: ReferRef(2),
            call: CallRef(3),
            target: "sip:2001@pbx.example.com".into(),
        },
        DeskEvent::WrapUp {
            call: CallRef(3),
            reasons: vec!["Sale".into(), "No sale".into(), "Callback".into()],
        },
        DeskEvent::Recording {
            call: CallRef(3),
            paused: true,
            resumes_in_ms: Some(30_000),
        },
        DeskEvent::Stopping {
            reason: "logout".into(),
        },
    ]
}

fn event_kind(e: &DeskEvent) -> usize {
    match e {
        DeskEvent::Agent { .. } => 0,
        DeskEvent::Offer { .. } => 1,
        DeskEvent::OfferGone { .. } => 2,
        DeskEvent::Call { .. } => 3,
        DeskEvent::Ended { .. } => 4,
        DeskEvent::ConsultFailed { .. } => 5,
        DeskEvent::Transfer { .. } => 6,
        DeskEvent::ReferAsk { .. } => 7,
        DeskEvent::WrapUp { .. } => 8,
        DeskEvent::Recording { .. } => 9,
        DeskEvent::Stopping { .. } => 10,
    }
}

/// The JSON in docs/api.md is JSON of the real types: every `{"cmd":..}`
/// line reads as an AgentCommand and every command kind is shown; every
/// event kind is shown exactly as serde writes it; the status example is the
/// sample status.
#[test]
fn the_api_docs_show_every_command_and_event_as_serialized() {
    let doc = include_str!("../../docs/api.md");
    let mut shown = std::collections::BTreeSet::new();
    for line in doc
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("{\"cmd\""))
    {
        let cmd: AgentCommand =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("docs/api.md: {line}: {e}"));
        shown.insert(command_kind(&cmd));
    }
    let all: std::collections::BTreeSet<usize> =
        sample_commands().iter().map(command_kind).collect();
    assert_eq!(all.len(), 22, "one sample per command");
    let not_shown: Vec<String> = sample_commands()
        .iter()
        .filter(|c| !shown.contains(&command_kind(c)))
        .map(|c| serde_json::to_string(c).unwrap())
        .collect();
    assert!(
        not_shown.is_empty(),
        "docs/api.md shows no command like:\n{}",
        not_shown.join("\n")
    );

    let events = sample_events();
    let kinds: std::collections::BTreeSet<usize> = events.iter().map(event_kind).collect();
    assert_eq!(kinds.len(), 11, "one sample per event");
    let missing: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .filter(|json| !doc.contains(json.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/api.md lacks:\n{}",
        missing.join("\n")
    );

    let marker = "<!-- status example -->";
    let after = &doc[doc.find(marker).expect("status example marker") + marker.len()..];
    let block = after
        .split("```json")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a json block after the marker");
    let shown: Value = serde_json::from_str(block).expect("status example is JSON");
    assert_eq!(shown, serde_json::to_value(sample_status()).unwrap());
}

#[tokio::test]
async fn bind_makes_the_token_and_names_a_busy_port() {
    let dir = std::env::temp_dir().join(format!(
        "agentphone-bind-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let api = super::config::ResolvedApi {
        listen: "127.0.0.1:0".parse().unwrap(),
        token_file: dir.join("t.token"),
        allow_remote: false,
    };
    let (listener, token) = super::bind(&api).await.unwrap();
    assert_eq!(
        Token::load(&api.token_file).unwrap().as_str(),
        token.as_str()
    );
    let busy = super::config::ResolvedApi {
        listen: listener.local_addr().unwrap(),
        ..api
    };
    let err = format!("{:#}", super::bind(&busy).await.unwrap_err());
    assert!(err.contains("[api] key 'listen'"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
