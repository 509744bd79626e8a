//! What the controls are told: every change of the agent's state, of an
//! offer and of a call, as it happens. The API streams these as JSON (one
//! object per event, `"event"` naming its kind).

use crate::ids::{CallRef, ReferRef};
use crate::status::{AgentStatus, CallView, OfferView};
use serde::Serialize;

/// One change for the controls.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum DeskEvent {
    /// The agent state changed.
    Agent {
        /// The new state.
        agent: AgentStatus,
        /// Why, when the desk changed it on its own (ring timeout, R-OFFER-2).
        #[serde(skip_serializing_if = "Option::is_none")]
        why: Option<String>,
    },
    /// A new offer rings (R-OFFER-1/4/6/8).
    Offer {
        /// The offer as shown.
        offer: OfferView,
    },
    /// An offer is gone: `accepted`, `declined`, `timeout`, `cancelled`,
    /// `shutdown`.
    OfferGone {
        /// Which.
        call: CallRef,
        /// Why.
        reason: String,
    },
    /// A call's view changed (state, held, conference membership ...).
    Call {
        /// The call as shown.
        call: CallView,
    },
    /// A call ended.
    Ended {
        /// Which.
        call: CallRef,
        /// Why.
        reason: String,
    },
    /// A consult call failed (R-CONS-7): the customer is still held.
    ConsultFailed {
        /// The consult call.
        call: CallRef,
        /// Why.
        reason: String,
    },
    /// Progress of a transfer we asked for.
    Transfer {
        /// The transferred call.
        call: CallRef,
        /// `progress`, `succeeded` or `failed`.
        outcome: String,
        /// The sipfrag status line or the failure.
        detail: String,
    },
    /// The far end asks the agent to follow a REFER (policy `ask`).
    ReferAsk {
        /// The handle to answer with.
        refer: ReferRef,
        /// The call it came on.
        call: CallRef,
        /// Where it points.
        target: String,
    },
    /// A call waits for its wrap-up reason (R-END-2).
    WrapUp {
        /// Which call.
        call: CallRef,
        /// The configured reasons.
        reasons: Vec<String>,
    },
    /// The recording of a call was paused or resumed (R-REC-2).
    Recording {
        /// Which call.
        call: CallRef,
        /// Paused now.
        paused: bool,
        /// When paused: milliseconds until it resumes by itself.
        #[serde(skip_serializing_if = "Option::is_none")]
        resumes_in_ms: Option<u64>,
    },
    /// The run is ending (logout or shutdown).
    Stopping {
        /// Why.
        reason: String,
    },
}
