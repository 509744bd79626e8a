//! Re-INVITEs from the peer (RFC 3261 §14.2): the glare and overlap
//! refusals, the application's answer or rejection, the bounded automatic
//! answer for an application that never answers, and CANCEL of a re-INVITE
//! not answered yet.

use super::{Endpoint, EndpointError, Event};
use crate::message;
use crate::rsip::{Header, Request};
use crate::session::{CallId, CallState, InboundReInvite};
use crate::transaction::TxKey;
use rand::Rng;
use std::time::Instant;

impl Endpoint {
    /// A re-INVITE arrived in `call`'s dialog (its CSeq already checked).
    pub(super) fn reinvite_received(
        &mut self,
        now: Instant,
        key: TxKey,
        call: CallId,
        req: Request,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.reinvite_in.is_some() {
            // §14.2: an earlier INVITE of this dialog has no final response yet.
            return self.respond_500_retry_after(now, key, &req);
        }
        if c.state == CallState::Terminating {
            // Our BYE is on its way: 487 "terminated by a BYE" (§21.4.25).
            return self.respond_code(now, key, &req, 487);
        }
        if c.invite_in_progress() {
            // §14.2: our own re-INVITE is pending (glare), or our 2xx awaits its
            // ACK, so the offer/answer it carries is not complete (RFC 6337 §3.1).
            return self.respond_code(now, key, &req, 491);
        }
        let offer = (!req.body.is_empty()).then(|| req.body.clone());
        let answer_by = now + self.cfg.reinvite_answer_wait;
        self.server_invites.insert(key, call);
        if let Some(c) = self.calls.get_mut(&call) {
            c.reinvite_in = Some(InboundReInvite {
                key,
                request: req,
                answer_by,
            });
        }
        self.events.push_back(Event::ReInvite { call, offer });
    }

    /// Accepts the peer's re-INVITE with 200 carrying `sdp`: the answer to its
    /// offer, or our offer when the re-INVITE had none (the answer then comes
    /// in the ACK, as [`Event::ReInviteAckAnswer`]). The 200 is retransmitted
    /// until the ACK; a missing ACK ends the call with BYE (§14.2, §13.3.1.4).
    pub fn accept_reinvite(
        &mut self,
        now: Instant,
        call: CallId,
        sdp: Vec<u8>,
    ) -> Result<(), EndpointError> {
        let pending = self.take_pending_reinvite(call)?;
        let cseq = message::cseq(&pending.request)
            .map_err(|e| EndpointError::Transaction(e.to_string()))?
            .0;
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        // RFC 6141 §3.1: only a target refresh that succeeds moves the target.
        if let Some(d) = c.dialog.as_mut() {
            d.refresh_target(&pending.request);
        }
        let offer = pending.offer().map(<[u8]>::to_vec);
        let offer_in_2xx = offer.is_none();
        if offer.is_some() {
            c.remote_sdp = offer;
        }
        c.local_sdp = sdp.clone();
        let (tag, transport) = (c.local_tag.clone(), c.peer.transport);
        let mut resp = self.response(&pending.request, 200, Some(&tag), transport, Some(&sdp));
        self.timer_on_2xx_sent(now, call, &pending.request, &mut resp);
        self.send_2xx(now, call, pending.key, resp, cseq, offer_in_2xx);
        self.pump(now);
        Ok(())
    }

    /// Rejects the peer's re-INVITE with `code` (300-699; 488 for an offer we
    /// cannot take). The call goes on with the session it had (§14.2).
    pub fn reject_reinvite(
        &mut self,
        now: Instant,
        call: CallId,
        code: u16,
    ) -> Result<(), EndpointError> {
        if !(300..=699).contains(&code) {
            return Err(EndpointError::BadStatus(code));
        }
        let pending = self.take_pending_reinvite(call)?;
        let c = &self.calls[&call];
        let (tag, transport) = (c.local_tag.clone(), c.peer.transport);
        let resp = self.response(&pending.request, code, Some(&tag), transport, None);
        self.respond_or_log(now, pending.key, resp);
        self.pump(now);
        Ok(())
    }

    /// The peer's re-INVITE waiting for the application's answer, taken out of
    /// the call (an answer is given once).
    fn take_pending_reinvite(&mut self, call: CallId) -> Result<InboundReInvite, EndpointError> {
        let pending = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?
            .reinvite_in
            .take()
            .ok_or(EndpointError::NoPendingReInvite(call))?;
        self.server_invites.remove(&pending.key);
        Ok(pending)
    }

    /// The application let a re-INVITE wait past `reinvite_answer_wait`:
    /// accept it with the current local SDP, as the endpoint always did
    /// before the application could answer.
    pub(super) fn reinvite_auto_answer(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.reinvite_in.as_ref().is_none_or(|r| r.answer_by > now) {
            return;
        }
        tracing::warn!(%call, "re-INVITE not answered by the application; accepting it with the current SDP");
        let sdp = c.local_sdp.clone();
        if let Err(e) = self.accept_reinvite(now, call, sdp) {
            tracing::warn!(%call, error = %e, "automatic re-INVITE answer failed");
        }
    }

    /// CANCEL matched server INVITE transaction `key` of an established
    /// call: a re-INVITE still unanswered gets 487 and the call goes on with
    /// its old session (§9.2); an answered one is past cancelling.
    pub(super) fn reinvite_cancelled(&mut self, now: Instant, call: CallId, key: TxKey) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(pending) = c.reinvite_in.take_if(|r| r.key == key) else {
            return;
        };
        let (tag, transport) = (c.local_tag.clone(), c.peer.transport);
        self.server_invites.remove(&key);
        let resp = self.response(&pending.request, 487, Some(&tag), transport, None);
        self.respond_or_log(now, key, resp);
    }

    /// 500 with a Retry-After of 0-10 s chosen at random (§14.2), for an
    /// INVITE that overlaps one not answered yet.
    fn respond_500_retry_after(&mut self, now: Instant, key: TxKey, req: &Request) {
        let secs: u32 = self.rng.random_range(0..=10);
        let mut resp = self.response(req, 500, None, crate::transport::Transport::Udp, None);
        resp.headers
            .push(Header::RetryAfter(secs.to_string().into()));
        self.respond_or_log(now, key, resp);
    }
}
