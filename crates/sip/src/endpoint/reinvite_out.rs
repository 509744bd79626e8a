//! Re-INVITEs we send (RFC 3261 §14.1): a new offer in an established call,
//! the 2xx and its ACK, glare (491) and its random backoff, one answer to an
//! auth challenge, and the responses that end the dialog (§12.2.1.2).

use super::build::{set_body, ALLOW};
use super::outbound::Outbound;
use super::{Endpoint, EndpointError, Event};
use crate::rsip::{Header, Method, Request, Response};
use crate::session::{CallId, CallState, EndReason, OutboundAttempt, OutboundReInvite};
use std::time::Instant;

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
            attempt: OutboundAttempt::new(now),
        });
        let sent = self
            .build_reinvite(call)
            .and_then(|req| self.launch_outbound(now, call, Outbound::ReInvite, req));
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
    pub(super) fn build_reinvite(&mut self, call: CallId) -> Result<Request, EndpointError> {
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
            491 => self.outbound_glare(now, call, Outbound::ReInvite),
            401 | 407 => self.outbound_challenged(now, call, Outbound::ReInvite, code, resp),
            481 => {
                // §12.2.1.2: the peer has no such dialog; a BYE would get 481 too.
                let phrase = resp.reason_phrase().unwrap_or("").to_string();
                self.end_call(now, call, EndReason::from_status(code, &phrase));
            }
            408 => self.reinvite_timed_out(now, call),
            _ => self.reinvite_failed(call, code),
        }
    }

    pub(super) fn reinvite_failed(&mut self, call: CallId, code: u16) {
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
        let Some(invite) = out.attempt.request else {
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

    /// The glare backoff of `call`'s re-INVITE is over: send it again, unless
    /// the peer's re-INVITE is still in progress (then back off once more).
    pub(super) fn reinvite_backoff_over(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let due = c
            .reinvite_out
            .as_ref()
            .is_some_and(|r| r.attempt.backoff_over(now));
        if !due {
            return;
        }
        if c.invite_in_progress() || c.state != CallState::Confirmed {
            return self.defer_outbound(now, call, Outbound::ReInvite);
        }
        self.resend_outbound(now, call, Outbound::ReInvite, 491);
    }

    /// 408 or no response at all: the peer is gone (§12.2.1.2). Say BYE in
    /// case it only lost our re-INVITE, and end the call now.
    pub(super) fn reinvite_timed_out(&mut self, now: Instant, call: CallId) {
        self.send_bye(now, call, EndReason::NoAnswer(408));
        self.end_call(now, call, EndReason::NoAnswer(408));
    }
}
