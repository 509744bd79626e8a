//! The desk as the controls see it at one instant: the agent state, the
//! offers (earliest first) and every call of the task list (R-OFFER-5).

use crate::ids::{CallRef, RoomRef};
use serde::Serialize;

/// The agent state (R-STATE-2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum AgentStatus {
    /// Takes offers.
    Available,
    /// Does not take offers.
    Idle {
        /// The configured reason.
        reason: String,
    },
    /// Must submit a wrap-up reason for `call` (R-END-2).
    WrapUp {
        /// The call to wrap up.
        call: CallRef,
    },
}

/// One call's state (R-STATE-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallState {
    /// An offer ringing.
    Ringing,
    /// A call the agent dialled, not answered yet.
    Dialing,
    /// Talking.
    Connected,
    /// Held by the agent.
    Held,
    /// A consult call not answered yet (R-CONS-5).
    ConsultRequested,
    /// A consult call answered (R-CONS-6).
    Consulting,
    /// A consult call held (R-CONS-6).
    ConsultHeld,
    /// In a conference (R-CONF-1).
    Conference,
    /// The customer left; the rest goes on (R-CONS-10, R-CONF-4).
    PostCall,
    /// Over.
    Ended,
}

/// What kind of call it is for the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallKind {
    /// An offer from a customer (or anyone calling the agent).
    Inbound,
    /// A call the agent placed.
    Outbound,
    /// A consult call placed from another call.
    Consult,
    /// A call placed to follow a REFER.
    Referred,
}

/// A labelled call variable (R-OFFER-6). Secure ones never get here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variable {
    /// The configured label.
    pub label: String,
    /// The value from the INVITE.
    pub value: String,
}

/// An offer as shown (R-OFFER-1/4/6/8).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferView {
    /// Its handle.
    pub call: CallRef,
    /// 1 for the earliest.
    pub position: usize,
    /// The caller, masked by R-OFFER-8 when sensitive-data protection is on.
    pub caller: String,
    /// Three to six configured variables, in configured order.
    pub variables: Vec<Variable>,
    /// Milliseconds until its ring timer runs out (R-OFFER-2).
    pub ring_remaining_ms: u64,
}

/// One call of the task list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallView {
    /// Its handle.
    pub call: CallRef,
    /// Its kind.
    pub kind: CallKind,
    /// Its state.
    pub state: CallState,
    /// The far end (masked by R-OFFER-8 for inbound calls when on).
    pub peer: String,
    /// The call consulted from, for a consult call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consult_of: Option<CallRef>,
    /// The conference it belongs to (the primary call), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conference: Option<CallRef>,
    /// Its room in the media engine.
    pub room: RoomRef,
    /// The far end holds us (R-HOLD-5).
    pub remote_held: bool,
    /// The agent talks on it now.
    pub active: bool,
    /// Milliseconds since it was answered (the call timer, R-ANS-1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_ms: Option<u64>,
    /// Recording state: `off`, `on`, `paused`.
    pub recording: String,
    /// The call's variables (inbound calls).
    pub variables: Vec<Variable>,
    /// What the agent may do now, by verb (`hold`, `resume`, `hangup`,
    /// `consult`, `transfer`, `conference`, `leave`, `remove`, `record`):
    /// the web desk enables its buttons from this.
    pub allowed: Vec<String>,
}

/// Everything at once, for `ctl status` and a new control connecting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The agent state.
    pub agent: AgentStatus,
    /// Offers, earliest first.
    pub offers: Vec<OfferView>,
    /// Every call not ended, in the order they arrived.
    pub calls: Vec<CallView>,
    /// The agent's microphone is muted.
    pub muted: bool,
    /// Noise removal on what the agent hears / on the microphone.
    pub denoise: DenoiseView,
    /// Incoming REFERs waiting for the agent.
    pub refers: Vec<crate::ids::ReferRef>,
    /// The configured idle reasons, for a control to offer (R-STATE-2).
    pub idle_reasons: Vec<String>,
}

/// Noise removal now (R-NR-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DenoiseView {
    /// On what the agent hears.
    pub inbound: bool,
    /// On the agent's microphone.
    pub microphone: bool,
    /// The configuration locks it on.
    pub locked: bool,
}
