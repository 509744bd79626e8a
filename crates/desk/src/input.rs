//! What happens on the agent's calls, as the binary reports it from SIP and
//! the media engine. The binary translates its SIP events into these (it maps
//! SIP dialogs to [`CallRef`]s) and feeds them with `now`.

use crate::ids::{CallRef, ReferRef};

/// One SIP or media event about the agent's calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallInput {
    /// A new INVITE. The binary picked `call` (a number the desk has not
    /// used: see [`Desk::next_call_ref`](crate::Desk::next_call_ref)).
    Offered {
        /// The new call.
        call: CallRef,
        /// The caller (From header value).
        from: String,
        /// The callee (To header value).
        to: String,
        /// Every header of the INVITE, for call variables (R-OFFER-6).
        headers: Vec<(String, String)>,
        /// The INVITE replaces this call of ours (RFC 3891): not an offer,
        /// it bypasses the state check and does not ring (R-STATE-1).
        replaces: Option<CallRef>,
    },
    /// An offer we could not take (no common codec): the binary rejected it.
    OfferUnusable {
        /// The call, as given in `Offered`.
        call: CallRef,
        /// The final response sent.
        code: u16,
    },
    /// A provisional response to a call we placed (180, 183).
    Progress {
        /// Which call.
        call: CallRef,
        /// The status code.
        code: u16,
    },
    /// The call is established: our 200 was ACKed, or the far end answered
    /// ours.
    Answered {
        /// Which call.
        call: CallRef,
    },
    /// A call we placed failed before it was answered (busy, no answer,
    /// 4xx-6xx, timeout, transport error).
    Failed {
        /// Which call.
        call: CallRef,
        /// The final status, when there was one.
        code: Option<u16>,
        /// In words.
        reason: String,
    },
    /// An established call, or an offer the caller cancelled, ended.
    Ended {
        /// Which call.
        call: CallRef,
        /// In words (BYE from the far end, RTP timeout, ...).
        reason: String,
    },
    /// The far end holds us (sendonly/inactive) or took us back (R-HOLD-5).
    RemoteHold {
        /// Which call.
        call: CallRef,
        /// Held or not.
        held: bool,
    },
    /// Our hold or resume re-INVITE was refused: the call stays as it was.
    HoldFailed {
        /// Which call.
        call: CallRef,
        /// The final status.
        code: u16,
    },
    /// Progress of a transfer we asked for (the far end's NOTIFY sipfrag),
    /// `202 Accepted` included.
    TransferProgress {
        /// The transferred call.
        call: CallRef,
        /// The status line reported (`SIP/2.0 180 Ringing`).
        status: String,
    },
    /// Our transfer succeeded (NOTIFY with a 2xx).
    TransferSucceeded {
        /// The transferred call.
        call: CallRef,
    },
    /// Our transfer failed: REFER refused, or a NOTIFY with a final failure.
    TransferFailed {
        /// The transferred call.
        call: CallRef,
        /// In words.
        reason: String,
    },
    /// The far end of `call` asks us to call `target` (REFER). The binary
    /// picked `refer` and has not answered: the desk answers with
    /// [`Action::AcceptRefer`](crate::Action::AcceptRefer) (202) or
    /// [`Action::RejectRefer`](crate::Action::RejectRefer) by its policy.
    ReferReceived {
        /// The call the REFER came on.
        call: CallRef,
        /// Handle for the agent's answer.
        refer: ReferRef,
        /// The Refer-To URI.
        target: String,
        /// Whether it carries Replaces (an attended transfer).
        replaces: bool,
    },
    /// The system asks the run to stop (SIGTERM, Ctrl-C): R-OFFER-3's
    /// honoured shutdown.
    Shutdown,
}
