//! Per-call state of the extensions an INVITE session may use: UPDATE
//! (RFC 3311), session timers (RFC 4028) and reliable provisional responses
//! (RFC 3262). Kept apart from [`Call`](super::Call)'s core fields.

use super::timer::SessionTimer;
use super::update::{InboundUpdate, OutboundUpdate};
use super::{Call, CallState, Role};
use crate::rsip::Response;
use crate::transaction::TxKey;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A reliable provisional response we sent (UAS), retransmitted until its
/// PRACK (RFC 3262 §3).
#[derive(Debug, Clone)]
pub struct ReliableProvisional {
    /// Its RSeq.
    pub rseq: u32,
    /// The response, as sent.
    pub resp: Response,
    /// Whether it carried SDP (no 2xx may pass it unacknowledged, §3).
    pub with_sdp: bool,
    /// Next retransmission.
    pub next: Instant,
    /// Current interval (T1 doubling).
    pub interval: Duration,
    /// 64·T1 after the first send: reject the INVITE with 5xx.
    pub give_up: Instant,
}

/// Extension state of one call.
#[derive(Debug, Clone, Default)]
pub struct CallExtensions {
    /// An UPDATE offer from the peer waiting for the application.
    pub update_in: Option<InboundUpdate>,
    /// Our UPDATE, until its final response.
    pub update_out: Option<OutboundUpdate>,
    /// The running session timer, once a 2xx negotiated one.
    pub timer: Option<SessionTimer>,
    /// The peer's Min-SE from a 422 (our requests ask for at least this).
    pub se_floor: Option<u32>,
    /// The INVITE was already retried after a 422 (once only).
    pub retried_422: bool,
    /// The peer lists UPDATE in Allow: refreshes go by UPDATE.
    pub peer_allows_update: bool,
    /// UAS: RSeq of the next reliable provisional (random start, §3).
    pub next_rseq: u32,
    /// UAS: the reliable provisional waiting for its PRACK.
    pub unacked: Option<ReliableProvisional>,
    /// UAS: reliable provisionals waiting for the one before to be PRACKed.
    pub queued: VecDeque<(Response, bool)>,
    /// UAS: the answer given while a reliable provisional with SDP was
    /// unacknowledged; the 2xx goes out with the PRACK.
    pub deferred_answer: Option<Vec<u8>>,
    /// UAC: RSeq of the last reliable provisional taken (PRACKed).
    pub last_rseq: Option<u32>,
    /// UAC: our PRACK transactions.
    pub prack_txs: Vec<TxKey>,
    /// The initial offer/answer completed before the 2xx (reliable 18x
    /// with SDP): UPDATE may carry offers in the early dialog.
    pub early_answer: bool,
}

impl CallExtensions {
    /// The earliest instant one of the extension timers is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let answer = self.update_in.as_ref().map(|u| u.answer_by);
        let backoff = self
            .update_out
            .as_ref()
            .and_then(|u| u.attempt.backoff_until());
        let timer = self.timer.as_ref().map(SessionTimer::next_deadline);
        let rel = self.unacked.as_ref().map(|r| r.next.min(r.give_up));
        [answer, backoff, timer, rel].into_iter().flatten().min()
    }

    /// Whether an UPDATE of ours with an offer is outstanding (sent or
    /// backing off).
    pub fn update_offer_pending(&self) -> bool {
        self.update_out
            .as_ref()
            .is_some_and(OutboundUpdate::offer_outstanding)
    }
}

impl Call {
    /// Whether we sent an offer whose answer has not come (RFC 3311 §5.2:
    /// an UPDATE offer then gets 491): our UPDATE or re-INVITE in flight,
    /// the offer in our 2xx awaiting the ACK, or our INVITE's offer with no
    /// reliable answer yet.
    pub fn offer_sent_unanswered(&self) -> bool {
        let update = self
            .ext
            .update_out
            .as_ref()
            .is_some_and(|u| u.offer.is_some() && u.in_flight().is_some());
        let reinvite = self
            .reinvite_out
            .as_ref()
            .is_some_and(|r| r.in_flight().is_some());
        let in_2xx = self.pending_2xx.as_ref().is_some_and(|p| p.offer_in_2xx);
        let initial = self.role == Role::Uac
            && self.is_early()
            && !self.invite.body.is_empty()
            && !self.ext.early_answer;
        update || reinvite || in_2xx || initial
    }

    /// Whether the peer sent an offer (or an offerless re-INVITE) we have
    /// not answered yet (§5.2: an UPDATE offer then gets 500).
    pub fn offer_received_unanswered(&self) -> bool {
        let initial = self.role == Role::Uas
            && self.is_early()
            && !self.invite.body.is_empty()
            && !self.ext.early_answer;
        self.reinvite_in.is_some() || self.ext.update_in.is_some() || initial
    }

    /// The INVITE has no final response yet (early dialog, if any).
    pub fn is_early(&self) -> bool {
        matches!(self.state, CallState::Calling | CallState::Ringing)
    }
}
