//! Re-INVITEs we send (RFC 3261 §14.1): a new offer in an established call,
//! the 2xx and its ACK, glare (491) and its random backoff, one answer to an
//! auth challenge, and the responses that end the dialog (§12.2.1.2).

use super::build::{finish_request, set_body, ALLOW};
use super::{Endpoint, EndpointError, Event, Owner};
use crate::rsip::{Header, Method, Request, Response};
use crate::session::{CallId, CallState, EndReason, OutboundReInvite, OutboundStep, Role};
use rand::Rng;
use std::time::{Duration, Instant};

/// Sends of one re-INVITE at most (first send, glare retries, the auth
/// retry, deferrals behind the peer's INVITE): a peer that answers 491 for
/// ever does not keep us retrying.
const MAX_ATTEMPTS: u32 = 5;

impl Endpoint {
    /// Sends a re-INVITE with `sdp_offer` in an established call (hold,
    /// resume, a media move). Events follow: `ReInviteAnswered` with the
    /// peer's answer, or `ReInviteFailed` (the call keeps its old session),
    /// or `Ended` on 481/408. Refused while another INVITE of the dialog is in
    /// progress in either direction (§14.1).
    pub fn reinvite(
        &mut self,
        now: Instant,
        call: CallId,
        sdp_offer: Vec<u8>,
    ) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        if c.state != CallState::Confirmed {
            return Err(EndpointError::WrongState {
                call,
                action: "re-INVITE",
                state: c.state,
            });
        }
        if c.invite_in_progress() || c.reinvite_out.is_some() {
            return Err(EndpointError::InviteInProgress(call));
        }
        c.reinvite_out = Some(OutboundReInvite {
            offer: sdp_offer,
            step: OutboundStep::Backoff(now),
            request: None,
            attempts: 0,
            answered_nonces: Vec::new(),
        });
        let sent = self
            .build_reinvite(call)
            .and_then(|req| self.launch_reinvite(now, call, req));
        if sent.is_err() {
            if let Some(c) = self.calls.get_mut(&call) {
                c.reinvite_out = None;
            }
        }
        self.pump(now);
        sent
    }

    /// A new re-INVITE for `call`'s pending offer: next CSeq of the dialog,
    /// our Contact, the route set, fresh branch (§14.1, §12.2.1.1).
    fn build_reinvite(&mut self, call: CallId) -> Result<Request, EndpointError> {
        let transport = self.calls[&call].peer.transport;
        let via = self.via(transport);
        let user_agent = self.cfg.user_agent.clone();
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        let (Some(dialog), Some(out)) = (c.dialog.as_mut(), c.reinvite_out.as_ref()) else {
            return Err(EndpointError::WrongState {
                call,
                action: "re-INVITE",
                state: c.state,
            });
        };
        let mut req = dialog.request(Method::Invite, &via, None);
        req.headers.push(Header::UserAgent(user_agent.into()));
        req.headers.push(Header::Allow(ALLOW.into()));
        set_body(
            &mut req.headers,
            &mut req.body,
            "application/sdp",
            &out.offer,
        );
        self.set_call_timer_headers(call, &mut req.headers);
        Ok(req)
    }

    fn launch_reinvite(
        &mut self,
        now: Instant,
        call: CallId,
        mut req: Request,
    ) -> Result<(), EndpointError> {
        finish_request(&mut req);
        let dest = self.in_dialog_destination(call);
        let key = self
            .tx
            .send_request(now, req.clone(), dest)
            .map_err(|e| EndpointError::Transaction(e.to_string()))?;
        self.owners.insert(key, Owner::Call(call));
        if let Some(out) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.reinvite_out.as_mut())
        {
            out.step = OutboundStep::Sent(key);
            out.request = Some(req);
            out.attempts += 1;
        }
        Ok(())
    }

    /// A response on our re-INVITE's transaction.
    pub(super) fn reinvite_response(
        &mut self,
        now: Instant,
        call: CallId,
        code: u16,
        resp: Response,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state == CallState::Terminating && !(200..300).contains(&code) {
            // We are hanging up: no retry, nobody to tell.
            if code >= 200 {
                c.reinvite_out = None;
            }
            return;
        }
        match code {
            100..=199 => {}
            200..=299 => {
                self.timer_on_2xx_received(now, call, &resp);
                self.reinvite_accepted(call, resp)
            }
            491 => self.reinvite_glare(now, call),
            401 | 407 => self.reinvite_challenged(now, call, code, resp),
            481 => {
                // §12.2.1.2: the peer has no such dialog; a BYE would get 481 too.
                let phrase = resp.reason_phrase().unwrap_or("").to_string();
                self.end_call(now, call, EndReason::from_status(code, &phrase));
            }
            408 => self.reinvite_timed_out(now, call),
            _ => self.reinvite_failed(call, code),
        }
    }

    fn reinvite_failed(&mut self, call: CallId, code: u16) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.reinvite_out = None;
            self.events.push_back(Event::ReInviteFailed { call, code });
        }
    }

    /// 2xx: the new session is in place. ACK it (same CSeq number, the
    /// INVITE's credentials, §13.2.2.4) and adopt the 2xx's Contact as the
    /// new remote target (§12.2.1.2).
    fn reinvite_accepted(&mut self, call: CallId, resp: Response) {
        let transport = self.calls[&call].peer.transport;
        let via = self.via(transport);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(out) = c.reinvite_out.take() else {
            return;
        };
        let Some(dialog) = c.dialog.as_mut() else {
            return;
        };
        let Some(invite) = out.request else {
            return;
        };
        dialog.refresh_target(&resp);
        let ack = super::uac::ack_for_2xx(dialog, &via, &invite);
        c.reinvite_ack = Some(ack.clone());
        let sdp = (!resp.body.is_empty()).then(|| resp.body.clone());
        let up = c.state == CallState::Confirmed;
        if up {
            c.local_sdp = out.offer;
            if sdp.is_some() {
                c.remote_sdp = sdp.clone();
            }
        }
        self.send_direct(call, ack);
        if up {
            self.events.push_back(Event::ReInviteAnswered { call, sdp });
        }
    }

    /// 491: both sides sent a re-INVITE at once. Try again after a random
    /// 2.1-4 s if we chose the Call-ID, else 0-2 s, in 10 ms steps (§14.1),
    /// so the two retries do not collide again.
    fn reinvite_glare(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let attempts = c.reinvite_out.as_ref().map_or(0, |r| r.attempts);
        if attempts >= MAX_ATTEMPTS {
            return self.reinvite_failed(call, 491);
        }
        let steps = if c.role == Role::Uac {
            self.rng.random_range(210..=400u64)
        } else {
            self.rng.random_range(0..=200u64)
        };
        let at = now + Duration::from_millis(steps * 10);
        if let Some(out) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.reinvite_out.as_mut())
        {
            out.step = OutboundStep::Backoff(at);
        }
    }

    /// The glare backoff of `call`'s re-INVITE is over: send it again, unless
    /// the peer's re-INVITE is still in progress (then back off once more).
    pub(super) fn reinvite_backoff_over(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let due = c
            .reinvite_out
            .as_ref()
            .is_some_and(|r| matches!(r.step, OutboundStep::Backoff(at) if at <= now));
        if !due {
            return;
        }
        if c.invite_in_progress() || c.state != CallState::Confirmed {
            // Counted as a send, so a peer that keeps an INVITE going cannot
            // keep us deferring for ever.
            if let Some(out) = self
                .calls
                .get_mut(&call)
                .and_then(|c| c.reinvite_out.as_mut())
            {
                out.attempts += 1;
            }
            return self.reinvite_glare(now, call);
        }
        let sent = self
            .build_reinvite(call)
            .and_then(|req| self.launch_reinvite(now, call, req));
        if let Err(e) = sent {
            tracing::warn!(%call, error = %e, "re-INVITE retry not sent");
            self.reinvite_failed(call, 491);
        }
    }

    /// 401/407: answer the challenge once with the call's credentials, in a
    /// new re-INVITE (next CSeq, §22.2); a second challenge fails it.
    fn reinvite_challenged(&mut self, now: Instant, call: CallId, code: u16, resp: Response) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (Some(creds), Some(out)) = (c.credentials.clone(), c.reinvite_out.as_ref()) else {
            return self.reinvite_failed(call, code);
        };
        let answered = out.answered_nonces.clone();
        if out.attempts >= MAX_ATTEMPTS {
            return self.reinvite_failed(call, code);
        }
        let mut req = match self.build_reinvite(call) {
            Ok(r) => r,
            Err(_) => return self.reinvite_failed(call, code),
        };
        let nonce = match self.answer_challenge(&mut req, &resp, &creds, &answered) {
            Ok(n) => n,
            Err(e) => {
                tracing::info!(%call, code, error = ?e, "re-INVITE challenge not answered");
                return self.reinvite_failed(call, code);
            }
        };
        if let Some(out) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.reinvite_out.as_mut())
        {
            out.answered_nonces.push(nonce);
        }
        if let Err(e) = self.launch_reinvite(now, call, req) {
            tracing::warn!(%call, error = %e, "authenticated re-INVITE not sent");
            self.reinvite_failed(call, code);
        }
    }

    /// 408 or no response at all: the peer is gone (§12.2.1.2). Say BYE in
    /// case it only lost our re-INVITE, and end the call now.
    pub(super) fn reinvite_timed_out(&mut self, now: Instant, call: CallId) {
        self.send_bye(now, call, EndReason::NoAnswer(408));
        self.end_call(now, call, EndReason::NoAnswer(408));
    }
}
