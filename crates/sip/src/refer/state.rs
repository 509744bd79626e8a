//! The transfers an endpoint keeps per call: REFERs we sent (and the
//! subscription whose NOTIFYs we receive), REFERs we received (and the
//! subscription we notify), and the identities of dialogs that ended
//! lately, so an INVITE with Replaces for one of them gets 603 rather than
//! 481 (RFC 3891 §3).

use crate::dialog::DialogId;
use crate::rsip::Request;
use crate::session::CallId;
use crate::transaction::TxKey;
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

/// How many ended dialogs are remembered for Replaces.
const ENDED_MEMORY: usize = 64;

/// A REFER we sent, from `Endpoint::transfer` until its outcome is known
/// and its subscription is over.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutTransfer {
    /// The REFER's client transaction, until its final response.
    pub tx: Option<TxKey>,
    /// A 2xx to the REFER arrived.
    pub accepted: bool,
    /// At least one NOTIFY arrived.
    pub notified: bool,
    /// The outcome (success or failure) was reported; the entry stays only
    /// to answer the NOTIFYs that may still come until `terminated`.
    pub reported: bool,
    /// When the subscription is over: 64·T1 after the 2xx without any
    /// NOTIFY, else the `expires` of the last NOTIFY plus 64·T1 for the
    /// notifier's terminating NOTIFY to arrive.
    pub deadline: Option<Instant>,
}

/// Where a REFER we received stands.
#[derive(Debug, Clone)]
pub(crate) enum InStep {
    /// Reported to the application, not answered yet: its server
    /// transaction, and when it is refused for want of an answer.
    Asked { key: TxKey, answer_by: Instant },
    /// Accepted (202 sent): we are the notifier.
    Accepted,
}

/// A NOTIFY waiting to be sent (one NOTIFY transaction at a time per
/// subscription: a newer status replaces a queued one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueuedNotify {
    /// Status of the referred call for the sipfrag.
    pub code: u16,
    /// Its reason phrase.
    pub reason: String,
    /// `Some(reason)`: this NOTIFY terminates the subscription.
    pub terminate: Option<&'static str>,
}

/// A REFER we received, and the subscription it created once accepted.
#[derive(Debug, Clone)]
pub(crate) struct InTransfer {
    /// The REFER as received.
    pub request: Request,
    /// Asked or accepted.
    pub step: InStep,
    /// When the subscription expires (set on accept).
    pub expires_at: Option<Instant>,
    /// The last status we notified (for the `timeout` NOTIFY's sipfrag).
    pub last: (u16, String),
    /// The next NOTIFY to send.
    pub queued: Option<QueuedNotify>,
    /// The NOTIFY transaction in progress.
    pub in_flight: Option<TxKey>,
    /// A terminating NOTIFY was queued or sent: nothing may follow it.
    pub closing: bool,
}

/// The transfers of one call.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallTransfers {
    /// CSeq of the first REFER we sent in this dialog: a NOTIFY without
    /// `id` belongs to it (RFC 3515 §2.4.6).
    pub first_out: Option<u32>,
    /// REFERs we sent, by CSeq.
    pub out: BTreeMap<u32, OutTransfer>,
    /// REFERs we received, by CSeq.
    pub inbound: BTreeMap<u32, InTransfer>,
}

impl CallTransfers {
    fn next_deadline(&self) -> Option<Instant> {
        let out = self.out.values().filter_map(|t| t.deadline);
        let inbound = self.inbound.values().filter_map(|t| match t.step {
            InStep::Asked { answer_by, .. } => Some(answer_by),
            InStep::Accepted if !t.closing => t.expires_at,
            InStep::Accepted => None,
        });
        out.chain(inbound).min()
    }
}

/// Every call's transfers, plus recently ended dialogs.
#[derive(Debug, Default)]
pub(crate) struct Transfers {
    /// By call.
    pub calls: BTreeMap<CallId, CallTransfers>,
    ended: VecDeque<DialogId>,
}

impl Transfers {
    /// The transfers of `call`, created empty on first use.
    pub fn of(&mut self, call: CallId) -> &mut CallTransfers {
        self.calls.entry(call).or_default()
    }

    /// The earliest transfer deadline of any call.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.calls
            .values()
            .filter_map(CallTransfers::next_deadline)
            .min()
    }

    /// Calls with a transfer deadline at or before `now`.
    pub fn due(&self, now: Instant) -> Vec<CallId> {
        self.calls
            .iter()
            .filter(|(_, t)| t.next_deadline().is_some_and(|d| d <= now))
            .map(|(c, _)| *c)
            .collect()
    }

    /// Remembers a dialog that ended (bounded memory).
    pub fn remember_ended(&mut self, id: DialogId) {
        if self.ended.len() == ENDED_MEMORY {
            self.ended.pop_front();
        }
        self.ended.push_back(id);
    }

    /// Whether a dialog with these identifiers ended lately.
    pub fn ended_lately(&self, call_id: &str, local_tag: &str, remote_tag: &str) -> bool {
        self.ended
            .iter()
            .any(|d| d.call_id == call_id && d.local_tag == local_tag && d.remote_tag == remote_tag)
    }
}
