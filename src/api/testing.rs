//! A fake desk task and an API server on a free loopback port, for the
//! server's and `ctl`'s tests.

use super::port::{ApiRequest, DeskPort};
use super::token::Token;
use agentphone_desk::{
    AgentCommand, AgentStatus, CallKind, CallRef, CallState, CallView, CommandError, DenoiseView,
    DeskEvent, OfferView, Refused, Reply, RoomRef, Status, Variable,
};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};

pub(crate) const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The test server's one-time login code.
pub(crate) const LOGIN_CODE: &str = "00112233445566778899aabbccddeeff";

/// The snapshot the fake desk shows.
pub(crate) fn sample_status() -> Status {
    Status {
        agent: AgentStatus::Idle {
            reason: "lunch".into(),
        },
        offers: vec![OfferView {
            call: CallRef(5),
            position: 1,
            caller: "+33 1 ** ** 42".into(),
            variables: vec![Variable {
                label: "Customer".into(),
                value: "ACME".into(),
            }],
            ring_remaining_ms: 12_000,
        }],
        calls: vec![CallView {
            call: CallRef(3),
            kind: CallKind::Inbound,
            state: CallState::Held,
            peer: "sip:bob@example.com".into(),
            consult_of: None,
            conference: None,
            room: RoomRef(1),
            remote_held: false,
            active: false,
            connected_ms: Some(65_000),
            recording: "on".into(),
            variables: vec![],
            allowed: vec!["resume".into()],
        }],
        muted: false,
        denoise: DenoiseView {
            inbound: true,
            microphone: false,
            locked: true,
        },
        refers: vec![],
        idle_reasons: vec!["lunch".into(), "Missed call".into()],
    }
}

/// A desk event as the desk task broadcasts it.
pub(crate) fn event_json(e: &DeskEvent) -> Arc<str> {
    Arc::from(serde_json::to_string(e).expect("desk events serialize"))
}

/// The fake desk's answers: hanging up call 3 is refused (it is held),
/// call 99 does not exist, `dial` creates call 4, digits with `x` are
/// invalid; everything else is ok.
fn answer(cmd: &AgentCommand) -> Result<Reply, CommandError> {
    match cmd {
        AgentCommand::Hangup {
            call: Some(CallRef(3)),
        } => Err(CommandError::Refused(Refused {
            rule: "R-HOLD-3",
            reason: "call 3 is held: resume it before hanging up".into(),
        })),
        AgentCommand::Hold {
            call: Some(CallRef(99)),
        } => Err(CommandError::NoSuchCall(CallRef(99))),
        AgentCommand::Dial { .. } => Ok(Reply::Call { call: CallRef(4) }),
        AgentCommand::Dtmf { digits, .. } if digits.contains('x') => {
            Err(CommandError::Invalid(format!("'{digits}' is not DTMF")))
        }
        _ => Ok(Reply::Ok),
    }
}

/// The fake desk task: answers until its request channel closes. Every
/// command it gets is kept in `log`.
async fn fake_desk(
    mut requests: mpsc::Receiver<ApiRequest>,
    log: mpsc::UnboundedSender<AgentCommand>,
) {
    while let Some(req) = requests.recv().await {
        match req {
            ApiRequest::Command { cmd, reply } => {
                let _ = reply.send(answer(&cmd));
                let _ = log.send(cmd);
            }
            ApiRequest::Status { reply } => {
                let _ = reply.send(sample_status());
            }
            ApiRequest::WrapupReasons { query, reply } => {
                let q = query.to_lowercase();
                let all = ["Sale", "No sale", "Callback"];
                let _ = reply.send(
                    all.iter()
                        .filter(|r| r.to_lowercase().contains(&q))
                        .map(|r| r.to_string())
                        .collect(),
                );
            }
        }
    }
}

/// A running server with its fake desk.
pub(crate) struct Running {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// The desk's event sender.
    pub(crate) events: broadcast::Sender<Arc<str>>,
    /// The commands the desk got.
    pub(crate) commands: mpsc::UnboundedReceiver<AgentCommand>,
    shutdown: Option<oneshot::Sender<()>>,
    pub(crate) server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Asks the server to stop.
    pub(crate) fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the server with a fake desk (`desk_alive`), or with a desk task
/// that is already gone.
pub(crate) async fn start(desk_alive: bool, event_capacity: usize) -> Running {
    let (req_tx, req_rx) = mpsc::channel(16);
    let (events, _) = broadcast::channel(event_capacity);
    let (log_tx, commands) = mpsc::unbounded_channel();
    if desk_alive {
        tokio::spawn(fake_desk(req_rx, log_tx));
    } else {
        drop(req_rx);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let port = DeskPort {
        requests: req_tx,
        events: events.clone(),
    };
    let token = Token::new(TOKEN).expect("token");
    let login = super::auth::LoginCode::new(LOGIN_CODE);
    let server = tokio::spawn(super::serve(listener, token, Some(login), port, async {
        let _ = shutdown_rx.await;
    }));
    Running {
        url,
        events,
        commands,
        shutdown: Some(shutdown_tx),
        server,
    }
}
