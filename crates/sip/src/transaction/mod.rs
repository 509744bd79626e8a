//! SIP transactions (RFC 3261 §17, amended by RFC 6026), sans-IO.
//!
//! One [`TransactionLayer`] owns every client and server transaction of an
//! endpoint. The caller feeds it requests to send, received messages and the
//! current time, and drains what it produced:
//!
//! ```text
//! send_request / respond / on_request / on_response / handle_timeout   (in)
//! poll_transmit -> Transmit   poll_event -> TxEvent   poll_timeout      (out)
//! ```
//!
//! The layer retransmits over UDP on the RFC schedules (timers A, E, G), sends
//! the ACK for non-2xx final responses, answers 100 Trying when the TU is slow,
//! absorbs retransmissions, and reports timeouts (B, F, H). It never reads the
//! clock: every entry point takes `now`.
//!
//! Layout: one file per transaction kind (`client_invite`, `client_non_invite`,
//! `server_invite`, `server_non_invite`), the table and dispatch in `layer`,
//! matching keys in `key`, timers in `timer`, self-built messages in `build`.

mod build;
mod client_invite;
mod client_non_invite;
mod key;
mod layer;
mod server_invite;
mod server_non_invite;
mod timer;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::rsip::typed::CSeq;
use crate::rsip::{Method, Request, Response};
use crate::transport::{Destination, Transmit};

pub use key::{Role, TxKey, MAGIC_COOKIE};
pub use layer::TransactionLayer;
pub use timer::{TimerKind, Timers, TRYING_DELAY};

use key::MatchKey;
use timer::TimerTable;

/// State of a live transaction (RFC 3261 figures 5-8, RFC 6026 figures 5-6).
/// Terminated transactions leave the table, so there is no `Terminated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxState {
    /// INVITE client: request sent, no response yet.
    Calling,
    /// Non-INVITE client or server: no response yet.
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// A final response (non-2xx for INVITE) was received or sent.
    Completed,
    /// INVITE server: the ACK for the non-2xx final response arrived.
    Confirmed,
    /// INVITE (RFC 6026): a 2xx was received or sent.
    Accepted,
}

/// Why a transaction gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutKind {
    /// INVITE client: no response within 64*T1. Report 408 to the user.
    TimerB,
    /// Non-INVITE client: no final response within 64*T1. Report 408.
    TimerF,
    /// INVITE server: no ACK for our non-2xx final response within 64*T1.
    TimerH,
}

/// Something the TU must learn about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// The transaction timed out; it is terminated (a `Terminated` follows).
    Timeout {
        /// The transaction.
        key: TxKey,
        /// Which timer fired.
        kind: TimeoutKind,
    },
    /// The I/O layer reported that sending to the transaction's peer failed
    /// (RFC 3261 §17.1.4, §17.2.4); the transaction is terminated.
    TransportError {
        /// The transaction.
        key: TxKey,
    },
    /// The transaction left the table; its key will match nothing from now on.
    Terminated(TxKey),
}

/// What became of a received request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestDisposition {
    /// A new server transaction was created: give the request to the TU,
    /// which answers with [`TransactionLayer::respond`].
    New(TxKey),
    /// A retransmission: the layer re-sent its last response or absorbed it.
    Retransmission,
    /// The ACK for our non-2xx final response: absorbed.
    AckForNon2xx,
    /// An ACK matching no transaction in Completed/Confirmed: the ACK for a
    /// 2xx, or a stray. The dialog layer handles it.
    Ack2xxOrStray(Request),
    /// A CANCEL: it got its own server transaction `cancel_tx` (answer it with
    /// 200, or 481 when `invite_tx` is `None`); `invite_tx` is the INVITE
    /// server transaction it targets (§9.2).
    CancelFor {
        /// The CANCEL's own non-INVITE server transaction.
        cancel_tx: TxKey,
        /// The INVITE server transaction with the same branch and sent-by.
        invite_tx: Option<TxKey>,
    },
    /// A new request while the layer already holds its most server
    /// transactions ([`TransactionLayer::set_server_limit`]): no transaction
    /// was made; the TU answers it statelessly (503) or drops it.
    Overloaded(Request),
}

/// What became of a received response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseDisposition {
    /// Give this response to the TU that owns the transaction.
    Deliver(TxKey, Response),
    /// A retransmission handled (or ignored) by the transaction.
    Absorbed,
    /// No transaction matches, e.g. a 2xx retransmitted after Timer M: the
    /// dialog layer may still have to ACK it.
    Stray(Response),
}

/// Errors of the transaction layer. None of them changes any state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// A header the transaction layer matches on is absent.
    #[error("message has no {header} header")]
    MissingHeader {
        /// Header name.
        header: &'static str,
    },
    /// A header the transaction layer matches on does not parse.
    #[error("{header} header does not parse: {reason}")]
    BadHeader {
        /// Header name.
        header: &'static str,
        /// Parser message.
        reason: String,
    },
    /// The top Via has no branch (or, on a request we send, no RFC 3261
    /// `z9hG4bK` branch).
    #[error("top Via has no RFC 3261 branch parameter")]
    NoBranch,
    /// The CSeq method differs from the request method.
    #[error("request method {request} does not match CSeq method {cseq}")]
    MethodMismatch {
        /// Request-line method.
        request: Method,
        /// CSeq method.
        cseq: Method,
    },
    /// ACK is not sent through a client transaction (§17.1.1.3, §13.2.2.4).
    #[error("ACK does not start a transaction; use send_stateless")]
    AckIsNotATransaction,
    /// A client transaction with this branch and method already exists.
    #[error("a client transaction with branch {branch} and method {method} already exists")]
    DuplicateBranch {
        /// The branch.
        branch: String,
        /// The method.
        method: Method,
    },
    /// No transaction has this key (it may have terminated).
    #[error("no transaction {0}")]
    UnknownTransaction(TxKey),
    /// `respond` was called on a client transaction.
    #[error("{0} is a client transaction; only server transactions respond")]
    NotAServerTransaction(TxKey),
    /// The response's CSeq is not the CSeq of the transaction's request.
    #[error("response CSeq {got} does not match the request of {key} ({want})")]
    CSeqMismatch {
        /// The transaction.
        key: TxKey,
        /// CSeq of the request.
        want: String,
        /// CSeq of the response.
        got: String,
    },
    /// The status code is outside 100..=699.
    #[error("status code {0} is not a valid SIP response code")]
    BadStatus(u16),
    /// The transaction's state does not allow this response.
    #[error("{key} in state {state:?} cannot send a {status} response")]
    InvalidState {
        /// The transaction.
        key: TxKey,
        /// Its state.
        state: TxState,
        /// The refused status code.
        status: u16,
    },
}

/// One transaction, whatever its kind; the kind follows from its key
/// (role + INVITE or not).
#[derive(Debug)]
pub(crate) struct Transaction {
    pub(crate) key: TxKey,
    pub(crate) match_key: MatchKey,
    pub(crate) state: TxState,
    /// The request that made it; a server transaction lets go of it once it
    /// has sent its final response, as nothing reads it after that (a
    /// retransmission is matched on `match_key` and answered from `resend`)
    /// and it stays up to 32 s more (timers J and L), several per call.
    pub(crate) request: Option<Request>,
    /// The request's CSeq, which every response must carry.
    pub(crate) cseq: Option<CSeq>,
    /// Peer: where client requests go, where server responses go back to.
    pub(crate) peer: Destination,
    /// The serialized request, for client retransmissions.
    pub(crate) request_wire: Wire,
    /// The last response sent (server) or the ACK sent (INVITE client).
    pub(crate) resend: Option<Wire>,
    pub(crate) timers: TimerTable,
    /// Current retransmission interval of timer A, E or G.
    pub(crate) interval: Duration,
}

impl Transaction {
    pub(crate) fn reliable(&self) -> bool {
        self.peer.transport.is_reliable()
    }

    /// Queue the stored retransmittable message (last response or ACK).
    pub(crate) fn resend(&self, out: &mut Output) {
        if let Some(wire) = &self.resend {
            out.send(self.peer, wire);
        }
    }
}

/// A message we serialized, kept with its trace line, so that nothing has
/// to parse our own output again to say what was sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wire {
    pub(crate) bytes: Vec<u8>,
    /// [`crate::message::trace_line`] of the message.
    pub(crate) line: Arc<str>,
}

impl Wire {
    pub(crate) fn request(r: &Request) -> Self {
        Wire {
            bytes: r.to_bytes(),
            line: crate::message::request_line(r).into(),
        }
    }

    pub(crate) fn response(r: &Response) -> Self {
        Wire {
            bytes: r.to_bytes(),
            line: crate::message::response_line(r).into(),
        }
    }
}

/// A transmit with the trace line of its message.
#[derive(Debug, Clone)]
pub(crate) struct Traced {
    pub(crate) transmit: Transmit,
    pub(crate) line: Arc<str>,
}

/// Whether a transaction lives on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Continue,
    Terminate,
}

/// Queues drained by `poll_transmit` / `poll_event`.
#[derive(Debug, Default)]
pub(crate) struct Output {
    transmits: VecDeque<Traced>,
    events: VecDeque<TxEvent>,
}

impl Output {
    /// Queue a copy of `wire` for `dest`.
    pub(crate) fn send(&mut self, dest: Destination, wire: &Wire) {
        self.transmits.push_back(Traced {
            transmit: Transmit {
                dest,
                payload: wire.bytes.clone(),
            },
            line: wire.line.clone(),
        });
    }

    /// Queue `wire` itself for `dest`.
    pub(crate) fn send_owned(&mut self, dest: Destination, wire: Wire) {
        self.transmits.push_back(Traced {
            transmit: Transmit {
                dest,
                payload: wire.bytes,
            },
            line: wire.line,
        });
    }

    pub(crate) fn event(&mut self, event: TxEvent) {
        self.events.push_back(event);
    }
}
