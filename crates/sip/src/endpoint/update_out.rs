//! UPDATEs we send (RFC 3311 §5.1): a new offer, or a session refresh
//! without one, in an early or confirmed dialog; the 2xx and its answer,
//! glare (491) and its random backoff, one answer to an auth challenge, one
//! retry after 422, and the responses that end the dialog.

use super::build::{set_body, ALLOW};
use super::outbound::Outbound;
use super::{Endpoint, EndpointError, Event};
use crate::message;
use crate::rsip::{Header, Method, Request, Response};
use crate::session::timer::parse_delta;
use crate::session::{CallId, CallState, EndReason, OutboundAttempt, OutboundUpdate};
use std::time::{Duration, Instant};

impl Endpoint {
    /// Sends an UPDATE in `call`: with `sdp_offer`, a new offer (hold,
    /// resume, a media move) that, unlike a re-INVITE, also works before
    /// the call is answered, once the INVITE's offer/answer is complete
    /// (a reliable 18x carried the answer); with `None`, a session refresh
    /// or target refresh. Events follow: `UpdateAnswered` with the peer's
    /// answer, `UpdateFailed` (the session stays as it was), or `Ended` on
    /// 481/408. Refused while another offer/answer or UPDATE is in progress.
    pub fn update(
        &mut self,
        now: Instant,
        call: CallId,
        sdp_offer: Option<Vec<u8>>,
    ) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        let early_ok = c.is_early() && (sdp_offer.is_none() || c.ext.early_answer);
        if c.dialog.is_none() || !(c.state == CallState::Confirmed || early_ok) {
            return Err(EndpointError::WrongState {
                call,
                action: "UPDATE",
                state: c.state,
            });
        }
        let busy = sdp_offer.is_some()
            && (c.invite_in_progress()
                || c.offer_sent_unanswered()
                || c.offer_received_unanswered());
        if c.ext.update_out.is_some() || busy {
            return Err(EndpointError::OfferPending(call));
        }
        self.start_update(now, call, sdp_offer, false)
    }

    /// A session refresh by UPDATE, sent by the session timer.
    pub(super) fn refresh_by_update(
        &mut self,
        now: Instant,
        call: CallId,
    ) -> Result<(), EndpointError> {
        self.start_update(now, call, None, true)
    }

    fn start_update(
        &mut self,
        now: Instant,
        call: CallId,
        offer: Option<Vec<u8>>,
        internal: bool,
    ) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        c.ext.update_out = Some(OutboundUpdate {
            offer,
            attempt: OutboundAttempt::new(now),
            internal,
        });
        let sent = self
            .build_update(call)
            .and_then(|req| self.launch_outbound(now, call, Outbound::Update, req));
        if sent.is_err() {
            if let Some(c) = self.calls.get_mut(&call) {
                c.ext.update_out = None;
            }
        }
        self.pump(now);
        sent
    }

    /// A new UPDATE for `call`'s pending one: next CSeq, our Contact, the
    /// route set, session-timer headers, the offer if any.
    pub(super) fn build_update(&mut self, call: CallId) -> Result<Request, EndpointError> {
        let transport = self.calls[&call].peer.transport;
        let via = self.via(transport);
        let user_agent = self.cfg.user_agent.clone();
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        let state = c.state;
        let (Some(dialog), Some(out)) = (c.dialog.as_mut(), c.ext.update_out.as_ref()) else {
            return Err(EndpointError::WrongState {
                call,
                action: "UPDATE",
                state,
            });
        };
        let mut req = dialog.request(Method::Update, &via, None);
        let offer = out.offer.clone();
        req.headers.push(Header::UserAgent(user_agent.into()));
        req.headers.push(Header::Allow(ALLOW.into()));
        self.set_call_timer_headers(call, &mut req.headers);
        if let Some(sdp) = offer {
            set_body(&mut req.headers, &mut req.body, "application/sdp", &sdp);
        }
        Ok(req)
    }

    /// A response on our UPDATE's transaction.
    pub(super) fn update_response(
        &mut self,
        now: Instant,
        call: CallId,
        code: u16,
        resp: Response,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state == CallState::Terminating && code >= 200 {
            c.ext.update_out = None;
            return;
        }
        match code {
            100..=199 => {}
            200..=299 => self.update_accepted(now, call, resp),
            491 => self.outbound_glare(now, call, Outbound::Update),
            401 | 407 => self.outbound_challenged(now, call, Outbound::Update, code, resp),
            422 => self.update_too_brief(now, call, resp),
            481 => {
                let phrase = resp.reason_phrase().unwrap_or("").to_string();
                self.end_call(now, call, EndReason::from_status(code, &phrase));
            }
            408 => self.reinvite_timed_out(now, call),
            _ => self.update_failed(call, code),
        }
    }

    pub(super) fn update_failed(&mut self, call: CallId, code: u16) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let internal = c.ext.update_out.take().is_some_and(|u| u.internal);
        if internal {
            // A refresh that failed: the session runs out unless another
            // refresh succeeds (RFC 4028 §10).
            tracing::info!(%call, code, "session refresh by UPDATE refused");
        } else {
            self.events.push_back(Event::UpdateFailed { call, code });
        }
    }

    /// 2xx: the answer (if we made an offer) applies, the 2xx's Contact is
    /// the new remote target, and the session timer restarts.
    fn update_accepted(&mut self, now: Instant, call: CallId, resp: Response) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(out) = c.ext.update_out.take() else {
            return;
        };
        if let Some(d) = c.dialog.as_mut() {
            d.refresh_target(&resp);
        }
        let sdp = (!resp.body.is_empty()).then(|| resp.body.clone());
        if let Some(offer) = out.offer {
            c.local_sdp = offer;
            if sdp.is_some() {
                c.remote_sdp = sdp.clone();
            }
        }
        if c.is_up() {
            self.timer_on_2xx_received(now, call, &resp);
        }
        if !out.internal {
            self.events.push_back(Event::UpdateAnswered { call, sdp });
        }
    }

    /// The backoff of `call`'s UPDATE is over: send it again, unless an
    /// offer/answer of the peer is in progress (then back off once more).
    pub(super) fn update_backoff_over(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(out) = c.ext.update_out.as_ref() else {
            return;
        };
        if !out.attempt.backoff_over(now) {
            return;
        }
        let busy = out.offer.is_some()
            && (c.offer_received_unanswered()
                || c.pending_2xx.is_some()
                || c.reinvite_out
                    .as_ref()
                    .is_some_and(|r| r.in_flight().is_some()));
        if busy || c.dialog.is_none() {
            return self.defer_outbound(now, call, Outbound::Update);
        }
        self.resend_outbound(now, call, Outbound::Update, 491);
    }

    /// 422 (RFC 4028 §7.4): ask again, once, for the peer's Min-SE.
    fn update_too_brief(&mut self, now: Instant, call: CallId, resp: Response) {
        let min = message::header(&resp, "Min-SE").and_then(parse_delta);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let (Some(min), false) = (min, c.ext.se_floor.is_some_and(|f| f >= min.unwrap_or(0)))
        else {
            return self.update_failed(call, 422);
        };
        c.ext.se_floor = Some(min);
        if let Some(t) = c.ext.timer.as_mut() {
            t.interval = t.interval.max(Duration::from_secs(u64::from(min)));
        }
        self.resend_outbound(now, call, Outbound::Update, 422);
    }
}
