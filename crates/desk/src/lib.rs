//! The agent's desk: the call rules of `shared/spec/call-handling.md` as a
//! sans-IO core, one level above `agentphone-sip`.
//!
//! [`Desk`] takes the agent's requests ([`AgentCommand`], from any control)
//! and what happens on the calls ([`CallInput`], translated by the binary from
//! SIP and media events), each with `now`. It answers requests at once (a
//! [`Reply`] or a [`CommandError`]: a refusal names its rule, `R-HOLD-3` ...),
//! and queues [`Action`]s for the binary (SIP requests, media-engine changes)
//! and [`DeskEvent`]s for the controls. Timers (ring timeout, recording
//! auto-resume, REFER prompts) are polled like quinn-proto's: `poll_timeout`,
//! `handle_timeout`.
//!
//! Boundaries: no I/O, no clock, no SIP or RTP types; the binary owns the
//! sockets, the media engine and the mapping from [`CallRef`] to SIP dialogs.
//! One file per rule family: `agent_state`, `offers`, `hold`, `consult`,
//! `transfer`, `conference`, `wrapup`, `variables`, `recording`, `dial`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod action;
mod agent_state;
mod calls;
mod command;
mod conference;
mod config;
mod consult;
mod desk;
mod dial;
mod event;
mod hold;
mod ids;
mod input;
mod media;
pub mod noise;
mod offers;
mod recording;
mod refused;
mod status;
mod transfer;
mod variables;
mod wrapup;

pub use action::{Action, DialTarget};
pub use command::{AgentCommand, RequestedState};
pub use config::{DeskConfig, ReferPolicy, VariableSpec};
pub use desk::Desk;
pub use event::DeskEvent;
pub use ids::{CallRef, ReferRef, RoomRef};
pub use input::CallInput;
pub use refused::Refused;
pub use status::{
    AgentStatus, CallKind, CallState, CallView, DenoiseView, OfferView, Status, Variable,
};

/// What an accepted request gives back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Reply {
    /// Done (or under way: its outcome arrives as events).
    Ok,
    /// A call was created (dial, consult): its handle.
    Call {
        /// The new call.
        call: CallRef,
    },
}

/// Why a request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A rule of the spec refuses it.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// No call with this handle (or it ended).
    #[error("no call {0}")]
    NoSuchCall(CallRef),
    /// The request needs a call and there is none to pick.
    #[error("no call to {0}: give --call ID")]
    NoCall(&'static str),
    /// Something in the request is not valid (an unknown reason, a bad digit).
    #[error("{0}")]
    Invalid(String),
}
