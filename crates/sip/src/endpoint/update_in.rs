//! UPDATEs from the peer (RFC 3311 §5.2), in early and confirmed dialogs:
//! a session refresh without SDP is answered 200 at once; an offer is
//! handed to the application (`Event::Update`) unless it collides with an
//! offer/answer in progress (491 when ours waits for an answer, 500 with
//! Retry-After when we owe one); an application that stays silent gets the
//! bounded automatic answer the re-INVITE path uses.

use super::{Endpoint, EndpointError, Event};
use crate::rsip::{Header, Request};
use crate::session::{CallId, InboundUpdate};
use crate::transaction::TxKey;
use rand::Rng;
use std::time::Instant;

impl Endpoint {
    /// An UPDATE arrived in `call`'s dialog (early or confirmed; its CSeq
    /// already checked).
    pub(super) fn update_received(&mut self, now: Instant, key: TxKey, call: CallId, req: Request) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if req.body.is_empty() {
            // No offer: a session refresh (RFC 4028 §9) or a target refresh.
            return self.update_ok(now, key, call, &req, None);
        }
        if c.offer_sent_unanswered() {
            // §5.2: glare with our own offer.
            return self.respond_code(now, key, &req, 491);
        }
        if c.offer_received_unanswered() {
            // §5.2: we still owe an answer to the peer's last offer.
            let secs: u32 = self.rng.random_range(0..=10);
            let retry = Header::RetryAfter(secs.to_string().into());
            return self.respond_with(now, key, &req, 500, vec![retry]);
        }
        let offer = req.body.clone();
        let answer_by = now + self.cfg.reinvite_answer_wait;
        if let Some(c) = self.calls.get_mut(&call) {
            c.ext.update_in = Some(InboundUpdate {
                key,
                request: req,
                answer_by,
            });
        }
        self.events.push_back(Event::Update { call, offer });
    }

    /// Accepts the peer's UPDATE offer with 200 carrying `sdp`, our answer
    /// (RFC 3311 §5.2). The new session applies at once on both sides.
    pub fn accept_update(
        &mut self,
        now: Instant,
        call: CallId,
        sdp: Vec<u8>,
    ) -> Result<(), EndpointError> {
        let pending = self.take_pending_update(call)?;
        if let Some(c) = self.calls.get_mut(&call) {
            c.remote_sdp = Some(pending.request.body.clone());
            c.local_sdp = sdp.clone();
        }
        self.update_ok(now, pending.key, call, &pending.request, Some(&sdp));
        self.pump(now);
        Ok(())
    }

    /// Rejects the peer's UPDATE offer with `code` (300-699; 488 for an
    /// offer we cannot take). The session stays as it was (§5.2).
    pub fn reject_update(
        &mut self,
        now: Instant,
        call: CallId,
        code: u16,
    ) -> Result<(), EndpointError> {
        if !(300..=699).contains(&code) {
            return Err(EndpointError::BadStatus(code));
        }
        let pending = self.take_pending_update(call)?;
        self.respond_code(now, pending.key, &pending.request, code);
        self.pump(now);
        Ok(())
    }

    fn take_pending_update(&mut self, call: CallId) -> Result<InboundUpdate, EndpointError> {
        self.calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?
            .ext
            .update_in
            .take()
            .ok_or(EndpointError::NoPendingUpdate(call))
    }

    /// 200 to an UPDATE: our Contact (§5.2, it is a target refresh), the
    /// session timer settled as its UAS in a confirmed dialog, `sdp` as body.
    fn update_ok(
        &mut self,
        now: Instant,
        key: TxKey,
        call: CallId,
        req: &Request,
        sdp: Option<&[u8]>,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(d) = c.dialog.as_mut() {
            d.refresh_target(req);
        }
        let (tag, transport, up) = (c.local_tag.clone(), c.peer.transport, c.is_up());
        let mut resp = self.response(req, 200, Some(&tag), transport, sdp);
        resp.headers
            .push(Header::Contact(self.cfg.contact(transport).into()));
        if up {
            self.timer_on_2xx_sent(now, call, req, &mut resp);
        }
        self.respond_or_log(now, key, resp);
    }

    /// The application let an UPDATE offer wait past
    /// `reinvite_answer_wait`: accept it with the current local SDP.
    pub(super) fn update_auto_answer(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.ext.update_in.as_ref().is_none_or(|u| u.answer_by > now) {
            return;
        }
        tracing::warn!(%call, "UPDATE not answered by the application; accepting it with the current SDP");
        let sdp = c.local_sdp.clone();
        if let Err(e) = self.accept_update(now, call, sdp) {
            tracing::warn!(%call, error = %e, "automatic UPDATE answer failed");
        }
    }

    /// The call ends with the peer's UPDATE unanswered: 487 for it.
    pub(super) fn update_in_dropped(&mut self, now: Instant, pending: Option<InboundUpdate>) {
        if let Some(p) = pending {
            self.respond_code(now, p.key, &p.request, 487);
        }
    }
}
