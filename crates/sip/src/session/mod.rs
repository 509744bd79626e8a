//! INVITE sessions (RFC 3261 §13–15): one call, from INVITE to BYE, as seen by
//! the user agent core. The endpoint drives these values; this module holds the
//! call state and the typed outcomes a user sees.

mod ext;
mod reinvite;
pub mod timer;
mod update;

pub use ext::{CallExtensions, ReliableProvisional};
pub use reinvite::{
    InboundReInvite, OutboundAttempt, OutboundReInvite, OutboundStep, Pending2xx, Retransmit2xx,
};
pub use timer::SessionTimerConfig;
pub use update::{InboundUpdate, OutboundUpdate};

use crate::dialog::Dialog;
use crate::endpoint::Credentials;
use crate::rsip::{Request, Uri};
use crate::transaction::TxKey;
use crate::transport::Destination;
use std::fmt;
use std::time::Instant;

/// Handle of a call inside an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call#{}", self.0)
    }
}

/// Who started the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the INVITE.
    Uac,
    /// We received the INVITE.
    Uas,
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// INVITE sent (UAC) or received (UAS), no provisional response yet.
    Calling,
    /// A provisional response was sent or received.
    Ringing,
    /// 2xx sent, waiting for the ACK (UAS).
    Answered,
    /// The dialog is confirmed: the call is up.
    Confirmed,
    /// CANCEL or BYE sent, waiting for it to complete.
    Terminating,
    /// Over; the endpoint forgets the call after reporting it.
    Ended,
}

/// How a call ended: the typed outcome a user or test checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up an established call (BYE sent).
    LocalHangup,
    /// The peer hung up (BYE received).
    RemoteHangup,
    /// We cancelled before the answer.
    Cancelled,
    /// The caller cancelled before we answered.
    RemoteCancelled,
    /// 486 Busy Here / 600 Busy Everywhere.
    Busy(u16),
    /// 603 Decline.
    Declined,
    /// 404 Not Found / 604 Does Not Exist Anywhere.
    NotFound(u16),
    /// 408, 480 or no answer at all (Timer B).
    NoAnswer(u16),
    /// The peer refused our credentials or we had none.
    AuthFailed(String),
    /// 488/606: no common media.
    NotAcceptable(u16),
    /// Any other final response.
    Rejected(u16, String),
    /// We rejected an incoming call with this code.
    LocalReject(u16),
    /// Our 2xx was never acknowledged (§13.3.1.4): BYE sent.
    NoAck,
    /// A transport failure ended the call.
    TransportError,
    /// A transport failure the I/O layer explained (a refused TLS
    /// certificate, a connection refused) ended the call.
    TransportFailed(String),
    /// No session refresh came within the session interval (RFC 4028 §10):
    /// BYE sent.
    SessionExpired,
}

impl EndReason {
    /// Maps a final non-2xx response to the outcome a user understands.
    pub fn from_status(code: u16, phrase: &str) -> Self {
        match code {
            486 | 600 => EndReason::Busy(code),
            603 => EndReason::Declined,
            404 | 604 => EndReason::NotFound(code),
            408 | 480 => EndReason::NoAnswer(code),
            488 | 606 => EndReason::NotAcceptable(code),
            487 => EndReason::Cancelled,
            _ => EndReason::Rejected(code, phrase.to_string()),
        }
    }

    /// Whether a user would call this a normal end of an answered call.
    pub fn is_clean(&self) -> bool {
        matches!(self, EndReason::LocalHangup | EndReason::RemoteHangup)
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::LocalHangup => write!(f, "hung up"),
            EndReason::RemoteHangup => write!(f, "remote hung up"),
            EndReason::Cancelled => write!(f, "cancelled"),
            EndReason::RemoteCancelled => write!(f, "caller cancelled"),
            EndReason::Busy(c) => write!(f, "busy here ({c})"),
            EndReason::Declined => write!(f, "declined (603)"),
            EndReason::NotFound(c) => write!(f, "not found ({c})"),
            EndReason::NoAnswer(408) => write!(f, "no answer (408 request timeout)"),
            EndReason::NoAnswer(c) => write!(f, "no answer ({c})"),
            EndReason::AuthFailed(why) => write!(f, "authentication failed: {why}"),
            EndReason::NotAcceptable(c) => write!(f, "no common media ({c} not acceptable)"),
            EndReason::Rejected(c, p) => write!(f, "rejected ({c} {p})"),
            EndReason::LocalReject(c) => write!(f, "rejected locally ({c})"),
            EndReason::NoAck => write!(f, "no ACK for our 200 OK"),
            EndReason::TransportError => write!(f, "transport error"),
            EndReason::TransportFailed(why) => write!(f, "transport error: {why}"),
            EndReason::SessionExpired => write!(f, "session expired (no refresh, RFC 4028)"),
        }
    }
}

/// What the user asks for when placing a call.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// Request-URI: who to call.
    pub target: Uri,
    /// Our From value without tag (e.g. `<sip:alice@example.org>`).
    pub from: String,
    /// Where to send the INVITE (outbound proxy); `None` resolves `target`.
    pub via_proxy: Option<Destination>,
    /// Digest credentials for 401/407 challenges.
    pub credentials: Option<Credentials>,
    /// SDP offer (opaque to SIP).
    pub sdp_offer: Vec<u8>,
    /// Use TCP instead of UDP.
    pub tcp: bool,
    /// Extra headers `(name, value)`, e.g. call variables.
    pub extra_headers: Vec<(String, String)>,
    /// Where the INVITE goes next when `via_proxy` does not answer at all
    /// (Timer B, or a transport error before any response): the rest of
    /// the RFC 3263 target list, in order. Tried one after another, each
    /// with a new transaction.
    pub alternates: Vec<Destination>,
}

/// One call.
#[derive(Debug)]
pub struct Call {
    /// Who started it.
    pub role: Role,
    /// Current state.
    pub state: CallState,
    /// The INVITE (as last sent, for a UAC; as received, for a UAS).
    pub invite: Request,
    /// Where the INVITE went / came from.
    pub peer: Destination,
    /// The INVITE's transaction.
    pub invite_tx: Option<TxKey>,
    /// Set once the dialog exists (2xx received, or 2xx sent).
    pub dialog: Option<Dialog>,
    /// Our tag (UAS: chosen when we first answer; UAC: From tag).
    pub local_tag: String,
    /// Credentials for challenges: given with the call we place, or by the
    /// application for a call we received (`Endpoint::set_credentials`).
    pub credentials: Option<Credentials>,
    /// Nonces answered for this INVITE, so refused credentials end the call
    /// instead of looping on fresh challenges.
    pub answered_nonces: Vec<String>,
    /// The user hung up before any provisional response: CANCEL waits for one.
    pub cancel_pending: bool,
    /// The 2xx we sent (to the INVITE or a re-INVITE), retransmitted until ACKed.
    pub pending_2xx: Option<Pending2xx>,
    /// The ACK we sent for the initial 2xx (UAC), resent when the 2xx is retransmitted.
    pub ack: Option<Request>,
    /// The ACK we sent for the 2xx to our latest re-INVITE, likewise.
    pub reinvite_ack: Option<Request>,
    /// A re-INVITE from the peer waiting for the application's answer.
    pub reinvite_in: Option<InboundReInvite>,
    /// Our re-INVITE, until its final response.
    pub reinvite_out: Option<OutboundReInvite>,
    /// Our current SDP (the last offer or answer we sent that took effect).
    pub local_sdp: Vec<u8>,
    /// The peer's SDP.
    pub remote_sdp: Option<Vec<u8>>,
    /// The call's BYE/CANCEL transaction, while terminating.
    pub end_tx: Option<TxKey>,
    /// Outcome to report when the terminating transaction completes.
    pub end_reason: Option<EndReason>,
    /// The BYE was challenged once and resent with credentials.
    pub bye_challenged: bool,
    /// UPDATE, session timer and reliable provisional state.
    pub ext: CallExtensions,
    /// Next hops still to try while the INVITE has had no response at all
    /// (RFC 3263 §4.3); emptied by the first response.
    pub alternates: std::collections::VecDeque<Destination>,
}

impl Call {
    /// A call in state `Calling` around its INVITE transaction.
    pub fn new(
        role: Role,
        invite: Request,
        peer: Destination,
        invite_tx: TxKey,
        local_tag: String,
    ) -> Self {
        Call {
            role,
            state: CallState::Calling,
            invite,
            peer,
            invite_tx: Some(invite_tx),
            dialog: None,
            local_tag,
            credentials: None,
            answered_nonces: Vec::new(),
            bye_challenged: false,
            cancel_pending: false,
            pending_2xx: None,
            ack: None,
            reinvite_ack: None,
            reinvite_in: None,
            reinvite_out: None,
            local_sdp: Vec::new(),
            remote_sdp: None,
            end_tx: None,
            end_reason: None,
            ext: CallExtensions::default(),
            alternates: Default::default(),
        }
    }

    /// Whether the dialog is confirmed (call up).
    pub fn is_up(&self) -> bool {
        self.state == CallState::Confirmed
    }

    /// The earliest instant one of the call's own timers is due: 2xx
    /// retransmission, the automatic re-INVITE answer, a glare backoff.
    pub fn next_deadline(&self) -> Option<Instant> {
        let retransmit = self
            .pending_2xx
            .as_ref()
            .map(|p| p.schedule.next.min(p.schedule.give_up));
        let answer = self.reinvite_in.as_ref().map(|r| r.answer_by);
        let backoff = self
            .reinvite_out
            .as_ref()
            .and_then(|r| r.attempt.backoff_until());
        [retransmit, answer, backoff, self.ext.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether an INVITE transaction of this dialog is still in progress in
    /// either direction, counting a 2xx not yet ACKed (§14.1: no new
    /// re-INVITE may start meanwhile), or an offer/answer by UPDATE is
    /// (RFC 3311 §5.1).
    pub fn invite_in_progress(&self) -> bool {
        self.pending_2xx.is_some()
            || self.ext.update_offer_pending()
            || self.ext.update_in.is_some()
            || self.reinvite_in.is_some()
            || self
                .reinvite_out
                .as_ref()
                .is_some_and(|r| r.in_flight().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_typed_outcomes() {
        assert_eq!(
            EndReason::from_status(486, "Busy Here"),
            EndReason::Busy(486)
        );
        assert_eq!(
            EndReason::from_status(486, "Busy Here").to_string(),
            "busy here (486)"
        );
        assert_eq!(EndReason::from_status(603, "Decline"), EndReason::Declined);
        assert_eq!(
            EndReason::from_status(404, "Not Found"),
            EndReason::NotFound(404)
        );
        assert_eq!(
            EndReason::from_status(408, "Request Timeout"),
            EndReason::NoAnswer(408)
        );
        assert_eq!(
            EndReason::from_status(500, "Server Error"),
            EndReason::Rejected(500, "Server Error".into())
        );
        assert!(!EndReason::Busy(486).is_clean());
        assert!(EndReason::RemoteHangup.is_clean());
    }
}
