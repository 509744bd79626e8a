//! Call transfer: REFER (RFC 3515) with its implicit `refer` event
//! subscription (RFC 6665 NOTIFYs carrying `message/sipfrag`, RFC 3420),
//! Referred-By (RFC 3892) and Replaces (RFC 3891).
//!
//! This module holds the pieces that need no endpoint: the Replaces header
//! and the `?Replaces=` URI header of a Refer-To (with RFC 3261 §19.1.1
//! escaping), the Event / Subscription-State headers and the sipfrag body,
//! and the per-call transfer state the endpoint keeps. The endpoint drives
//! them in `endpoint/refer_out.rs` (we transfer), `endpoint/refer_in.rs`
//! (the peer asks us to transfer) and `endpoint/replaces.rs` (an INVITE
//! that replaces one of our dialogs).

mod notify;
mod replaces;
pub(crate) mod state;

pub use notify::{parse_event, parse_sipfrag, sipfrag, SubState, SubscriptionState};
pub use replaces::{escape_uri_header_value, unescape, ReferTarget, Replaces};

use std::fmt;
use std::time::Duration;

/// How long the subscription of a REFER we accept lasts (the `expires` of
/// our NOTIFYs, RFC 3515 §2.4.4 leaves it to the notifier): long enough for
/// the referred call to ring and be answered. At expiry the endpoint sends
/// a last NOTIFY with `terminated;reason=timeout`.
pub const TRANSFER_SUBSCRIPTION: Duration = Duration::from_secs(180);

/// Identifies one transfer (one REFER and its subscription) inside a call:
/// the CSeq number of the REFER, which is also the `id` parameter of the
/// `Event: refer` header of its NOTIFYs (RFC 3515 §2.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub u32);

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refer#{}", self.0)
    }
}

/// Why a transfer we asked for did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferFailure {
    /// The peer refused the REFER with this final status (e.g. 603, 405).
    Refused(u16),
    /// The REFER got no final response (Timer F) or could not be delivered.
    NoAnswer,
    /// The referred call failed: the final non-2xx status of the NOTIFY's
    /// sipfrag (e.g. 486 when the transfer target was busy).
    CallFailed(u16),
    /// The peer ended the subscription without reporting a final status;
    /// the `reason` parameter of its `Subscription-State`, if any.
    Terminated(Option<String>),
    /// No final status before the subscription expired (the `expires` of the
    /// last NOTIFY, plus 64·T1 for a terminating NOTIFY to arrive), or no
    /// first NOTIFY within 64·T1 of the 2xx to the REFER (RFC 6665 §4.1.2.4).
    Timeout,
    /// The call carrying the REFER ended before the outcome was known.
    DialogEnded,
}

impl TransferFailure {
    /// The SIP status this failure carries, when there is one.
    pub fn code(&self) -> Option<u16> {
        match self {
            TransferFailure::Refused(c) | TransferFailure::CallFailed(c) => Some(*c),
            _ => None,
        }
    }
}

impl fmt::Display for TransferFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferFailure::Refused(c) => write!(f, "REFER refused ({c})"),
            TransferFailure::NoAnswer => write!(f, "no answer to the REFER"),
            TransferFailure::CallFailed(c) => write!(f, "the referred call failed ({c})"),
            TransferFailure::Terminated(Some(r)) => {
                write!(f, "subscription terminated ({r}) without a final status")
            }
            TransferFailure::Terminated(None) => {
                write!(f, "subscription terminated without a final status")
            }
            TransferFailure::Timeout => {
                write!(f, "no final NOTIFY before the subscription expired")
            }
            TransferFailure::DialogEnded => write!(f, "the call ended before the transfer outcome"),
        }
    }
}

/// A Refer-To, Replaces, Event or Subscription-State value that does not
/// parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferError {
    /// The value is malformed; says what is wrong.
    #[error("malformed {header}: {reason}")]
    Malformed {
        /// Header name.
        header: &'static str,
        /// What is wrong.
        reason: String,
    },
}

pub(crate) fn malformed(header: &'static str, reason: impl Into<String>) -> ReferError {
    ReferError::Malformed {
        header,
        reason: reason.into(),
    }
}
