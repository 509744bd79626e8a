//! agentphone's SIP signaling core, sans-IO.
//!
//! Role: everything RFC 3261 asks of a user agent — message parsing and
//! validation, transactions with their §17 timers, dialogs, REGISTER with digest
//! auth, INVITE sessions (offer/answer carried as opaque SDP bytes), CANCEL, BYE,
//! REFER/Replaces/NOTIFY.
//!
//! Boundaries: no sockets, no async runtime, no clock reads. Callers hand in
//! `(now, input)` — a datagram or stream bytes with their source, a user command,
//! or "time is now T" — and drain outputs: datagrams to send, the next timer
//! deadline, and events. Message types come from `rsipstack`'s `sip` module;
//! rsipstack's own (tokio-bound) transactions are not used.
#![forbid(unsafe_code)]

pub mod auth;
pub mod dialog;
pub mod endpoint;
pub mod keepalive;
pub mod message;
pub mod refer;
pub mod register;
pub mod session;
pub mod timer_queue;
pub mod transaction;
pub mod transport;

pub use endpoint::{
    Admission, Credentials, Endpoint, EndpointConfig, EndpointError, Event, Refusals,
};
pub use refer::{ReferTarget, Replaces, TransferFailure, TransferId};
pub use register::{RegId, RegisterError, RegisterRequest};
pub use session::{CallId, CallRequest, CallState, EndReason};

pub use rsipstack::sip as rsip;
