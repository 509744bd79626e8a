//! What the agent asks for, from any control (`agentphone ctl`, the web desk,
//! the API). Verbs that act on a call take `call`; `None` means the active
//! call (the one the agent is talking on, else the only call there is).

use crate::ids::{CallRef, ReferRef};
use crate::noise::NoiseTarget;
use serde::{Deserialize, Serialize};

/// The agent's availability as requested from the controls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum RequestedState {
    /// Ready for offers (R-STATE-1).
    Available,
    /// Not taking offers, with one of the configured reasons.
    Idle {
        /// One of `DeskConfig::idle_reasons`.
        reason: String,
    },
}

/// One request of the agent's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "cmd")]
pub enum AgentCommand {
    /// Change the agent state (available / idle with a reason).
    State(RequestedState),
    /// Accept one offer (the earliest when `call` is None), R-ANS-1. A call
    /// the agent was talking on is held first (R-HOLD-4).
    Answer {
        /// Which offer.
        #[serde(default)]
        call: Option<CallRef>,
    },
    /// Accept every pending offer: the earliest becomes active, the others
    /// are held (R-OFFER-4).
    AnswerAll,
    /// Decline an offer (the earliest when None), R-ANS-2.
    Decline {
        /// Which offer.
        #[serde(default)]
        call: Option<CallRef>,
    },
    /// Place a call of the agent's own (not a consult): URI, extension or
    /// dial number (R-CONS-3 rules for numbers). A talking call is held first.
    Dial {
        /// What to call.
        target: String,
    },
    /// Hold a call (R-HOLD-1).
    Hold {
        /// Which call.
        #[serde(default)]
        call: Option<CallRef>,
    },
    /// Take a held call back (R-HOLD-1); when another call is talking it is
    /// held first (R-HOLD-4); resuming the customer during a consult that is
    /// not answered yet ends that consult leg (R-CONS-5).
    Resume {
        /// Which call.
        #[serde(default)]
        call: Option<CallRef>,
    },
    /// Consult a target from a call (R-CONS): the call is held, the consult
    /// call is placed.
    Consult {
        /// The call consulted from (the customer call or a conference).
        #[serde(default)]
        call: Option<CallRef>,
        /// URI, extension or dial number.
        target: String,
        /// From a conference only (R-CONF-6): hold the conference meanwhile.
        /// Default true.
        #[serde(default)]
        hold_conference: Option<bool>,
    },
    /// Swap between the held customer and the consult call (R-CONS-8).
    Toggle,
    /// Blind transfer (R-XFER-1): REFER the call to `target`.
    TransferBlind {
        /// Which call.
        #[serde(default)]
        call: Option<CallRef>,
        /// URI, extension or dial number (R-XFER-6).
        target: String,
    },
    /// Attended transfer: REFER the customer to the consultee with Replaces
    /// (R-XFER-1, R-CONS-5: only once the consultee answered).
    TransferConsult {
        /// The customer call (default: the one the current consult was placed
        /// from).
        #[serde(default)]
        call: Option<CallRef>,
    },
    /// Merge the consult into the customer's call: one room (R-CONF-1).
    Conference {
        /// The customer call or the conference (default: the one the current
        /// consult was placed from).
        #[serde(default)]
        call: Option<CallRef>,
    },
    /// Hang up one party of a conference.
    Remove {
        /// The party's call.
        party: CallRef,
    },
    /// Mute or unmute the agent's microphone.
    Mute {
        /// Muted or not.
        on: bool,
    },
    /// Leave the conference (R-CONF-3): the others go on.
    Leave {
        /// The conference (default: the one the agent is in).
        #[serde(default)]
        call: Option<CallRef>,
    },
    /// End a call (R-END-1); refused while it is held (R-HOLD-3) unless it is
    /// a consult leg (R-CONS-8).
    Hangup {
        /// Which call.
        #[serde(default)]
        call: Option<CallRef>,
    },
    /// Submit the wrap-up reason for a call that ended (R-END-2).
    WrapUp {
        /// The call wrapped up (default: the one waiting for wrap-up).
        #[serde(default)]
        call: Option<CallRef>,
        /// One of `DeskConfig::wrapup_reasons`.
        reason: String,
    },
    /// Pause or resume the recording (R-REC-2/3).
    Record {
        /// Which call.
        #[serde(default)]
        call: Option<CallRef>,
        /// Pause (true) or resume (false).
        pause: bool,
    },
    /// Send DTMF (RFC 4733) on a call.
    Dtmf {
        /// Which call.
        #[serde(default)]
        call: Option<CallRef>,
        /// `0-9 * # A-D`.
        digits: String,
    },
    /// Switch noise removal (R-NR-2).
    Denoise {
        /// On or off.
        on: bool,
        /// What it applies to (default: what the agent hears).
        #[serde(default)]
        target: Option<NoiseTarget>,
    },
    /// Answer an incoming REFER held for the agent (policy `ask`).
    Refer {
        /// Which REFER.
        refer: ReferRef,
        /// Follow it (true) or refuse it (false).
        accept: bool,
    },
    /// Log out: unregister and stop the run; refused while an offer is shown
    /// (R-OFFER-3).
    Logout,
}
