//! The API's side of the desk task: requests over an mpsc, each with a
//! oneshot for its answer, and the desk's events on a broadcast.

use agentphone_desk::{AgentCommand, CommandError, Reply, Status};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// One request from a control to the desk task.
#[derive(Debug)]
pub enum ApiRequest {
    /// An agent command; the desk answers at once.
    Command {
        /// The command.
        cmd: AgentCommand,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Reply, CommandError>>,
    },
    /// The whole desk now.
    Status {
        /// Where the snapshot goes.
        reply: oneshot::Sender<Status>,
    },
    /// The configured wrap-up reasons matching `query` (empty: all).
    WrapupReasons {
        /// What the agent typed.
        query: String,
        /// Where the list goes.
        reply: oneshot::Sender<Vec<String>>,
    },
}

/// What the desk task hands the API server.
///
/// The server keeps only a receiver of `events` (it drops this sender), so
/// when the desk task drops its last sender the event streams end; when it
/// drops the receiver of `requests`, every route answers 503.
#[derive(Debug, Clone)]
pub struct DeskPort {
    /// Requests to the desk task.
    pub requests: mpsc::Sender<ApiRequest>,
    /// The desk's events, one JSON object each (a serialized `DeskEvent`).
    pub events: broadcast::Sender<Arc<str>>,
}

/// Why the desk did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The desk task is gone (the run is stopping or crashed).
    Gone,
    /// It did not answer in time.
    Busy,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unavailable::Gone => "the desk is not running",
            Unavailable::Busy => "the desk did not answer in time",
        })
    }
}

/// How long a request waits for the desk. The desk answers from memory, so
/// anything near this means it is stuck; the client gets a 503 instead of
/// hanging.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's handle on the desk task.
#[derive(Debug, Clone)]
pub(crate) struct Desk {
    requests: mpsc::Sender<ApiRequest>,
}

impl Desk {
    pub(crate) fn new(requests: mpsc::Sender<ApiRequest>) -> Self {
        Desk { requests }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> ApiRequest,
    ) -> Result<T, Unavailable> {
        let (tx, rx) = oneshot::channel();
        let asked = async {
            self.requests
                .send(make(tx))
                .await
                .map_err(|_| Unavailable::Gone)?;
            rx.await.map_err(|_| Unavailable::Gone)
        };
        tokio::time::timeout(ANSWER_TIMEOUT, asked)
            .await
            .unwrap_or(Err(Unavailable::Busy))
    }

    pub(crate) async fn command(
        &self,
        cmd: AgentCommand,
    ) -> Result<Result<Reply, CommandError>, Unavailable> {
        self.ask(|reply| ApiRequest::Command { cmd, reply }).await
    }

    pub(crate) async fn status(&self) -> Result<Status, Unavailable> {
        self.ask(|reply| ApiRequest::Status { reply }).await
    }

    pub(crate) async fn wrapup_reasons(&self, query: String) -> Result<Vec<String>, Unavailable> {
        self.ask(|reply| ApiRequest::WrapupReasons { query, reply })
            .await
    }
}
