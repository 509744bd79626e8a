//! What our re-INVITEs (RFC 3261 §14.1) and UPDATEs (RFC 3311 §5.1) do
//! alike once built: the send on a fresh client transaction, the random 491
//! backoff and its bound on retries, and the one answer to an auth
//! challenge. Building the request and reporting the outcome stay with each
//! method (`reinvite_out.rs`, `update_out.rs`).

use super::{Endpoint, EndpointError, Owner};
use crate::rsip::{Request, Response};
use crate::session::{Call, CallId, OutboundAttempt, OutboundStep, Role};
use rand::Rng;
use std::time::{Duration, Instant};

/// Sends of one re-INVITE or UPDATE at most (first send, glare retries, the
/// auth retry, a 422 retry, deferrals behind the peer's offer): a peer that
/// answers 491 for ever does not keep us retrying.
const MAX_ATTEMPTS: u32 = 5;

/// Which of a call's own offer requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outbound {
    /// `Call::reinvite_out`.
    ReInvite,
    /// `Call::ext.update_out`.
    Update,
}

impl Outbound {
    /// For logs.
    fn name(self) -> &'static str {
        match self {
            Outbound::ReInvite => "re-INVITE",
            Outbound::Update => "UPDATE",
        }
    }

    fn attempt(self, c: &Call) -> Option<&OutboundAttempt> {
        match self {
            Outbound::ReInvite => c.reinvite_out.as_ref().map(|r| &r.attempt),
            Outbound::Update => c.ext.update_out.as_ref().map(|u| &u.attempt),
        }
    }

    fn attempt_mut(self, c: &mut Call) -> Option<&mut OutboundAttempt> {
        match self {
            Outbound::ReInvite => c.reinvite_out.as_mut().map(|r| &mut r.attempt),
            Outbound::Update => c.ext.update_out.as_mut().map(|u| &mut u.attempt),
        }
    }
}

impl Endpoint {
    fn outbound_attempt(&mut self, call: CallId, kind: Outbound) -> Option<&mut OutboundAttempt> {
        self.calls.get_mut(&call).and_then(|c| kind.attempt_mut(c))
    }

    /// A new request for `call`'s pending `kind` (next CSeq).
    fn build_outbound(&mut self, call: CallId, kind: Outbound) -> Result<Request, EndpointError> {
        match kind {
            Outbound::ReInvite => self.build_reinvite(call),
            Outbound::Update => self.build_update(call),
        }
    }

    /// Gives up `call`'s pending `kind`, telling the application (`code`).
    fn fail_outbound(&mut self, call: CallId, kind: Outbound, code: u16) {
        match kind {
            Outbound::ReInvite => self.reinvite_failed(call, code),
            Outbound::Update => self.update_failed(call, code),
        }
    }

    /// Sends `req` on a new client transaction owned by `call` and counts
    /// the send.
    pub(super) fn launch_outbound(
        &mut self,
        now: Instant,
        call: CallId,
        kind: Outbound,
        mut req: Request,
    ) -> Result<(), EndpointError> {
        super::build::finish_request(&mut req);
        let dest = self.in_dialog_destination(call);
        let key = self
            .tx
            .send_request(now, req.clone(), dest)
            .map_err(|e| EndpointError::Transaction(e.to_string()))?;
        self.owners.insert(key, Owner::Call(call));
        if let Some(out) = self.outbound_attempt(call, kind) {
            out.step = OutboundStep::Sent(key);
            out.request = Some(req);
            out.attempts += 1;
        }
        Ok(())
    }

    /// Builds and sends `call`'s pending `kind` again; fails it with
    /// `code` when that is not possible.
    pub(super) fn resend_outbound(
        &mut self,
        now: Instant,
        call: CallId,
        kind: Outbound,
        code: u16,
    ) {
        let sent = self
            .build_outbound(call, kind)
            .and_then(|req| self.launch_outbound(now, call, kind, req));
        if let Err(e) = sent {
            tracing::warn!(%call, code, error = %e, "{} retry not sent", kind.name());
            self.fail_outbound(call, kind, code);
        }
    }

    /// 491: both sides sent an offer at once. Try again after a random
    /// 2.1-4 s if we chose the Call-ID, else 0-2 s, in 10 ms steps (§14.1,
    /// which RFC 3311 §5.1 adopts for UPDATE), so the two retries do not
    /// collide again; fail after [`MAX_ATTEMPTS`] sends.
    pub(super) fn outbound_glare(&mut self, now: Instant, call: CallId, kind: Outbound) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let attempts = kind.attempt(c).map_or(0, |a| a.attempts);
        if attempts >= MAX_ATTEMPTS {
            return self.fail_outbound(call, kind, 491);
        }
        let steps = if c.role == Role::Uac {
            self.rng.random_range(210..=400u64)
        } else {
            self.rng.random_range(0..=200u64)
        };
        let at = now + Duration::from_millis(steps * 10);
        if let Some(out) = self.outbound_attempt(call, kind) {
            out.step = OutboundStep::Backoff(at);
        }
    }

    /// The backoff ended while the peer's own offer is still in progress:
    /// back off again, counted as a send so that a peer that keeps one
    /// going cannot keep us deferring for ever.
    pub(super) fn defer_outbound(&mut self, now: Instant, call: CallId, kind: Outbound) {
        if let Some(out) = self.outbound_attempt(call, kind) {
            out.attempts += 1;
        }
        self.outbound_glare(now, call, kind);
    }

    /// 401/407: answer the challenge once with the call's credentials, in a
    /// new request (next CSeq, §22.2); a challenge with a nonce already
    /// answered fails it.
    pub(super) fn outbound_challenged(
        &mut self,
        now: Instant,
        call: CallId,
        kind: Outbound,
        code: u16,
        resp: Response,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (Some(creds), Some(out)) = (c.credentials.clone(), kind.attempt(c)) else {
            return self.fail_outbound(call, kind, code);
        };
        if out.attempts >= MAX_ATTEMPTS {
            return self.fail_outbound(call, kind, code);
        }
        let answered = out.answered_nonces.clone();
        let Ok(mut req) = self.build_outbound(call, kind) else {
            return self.fail_outbound(call, kind, code);
        };
        let nonce = match self.answer_challenge(&mut req, &resp, &creds, &answered) {
            Ok(n) => n,
            Err(e) => {
                tracing::info!(%call, code, error = ?e, "{} challenge not answered", kind.name());
                return self.fail_outbound(call, kind, code);
            }
        };
        if let Some(out) = self.outbound_attempt(call, kind) {
            out.answered_nonces.push(nonce);
        }
        if let Err(e) = self.launch_outbound(now, call, kind, req) {
            tracing::warn!(%call, error = %e, "authenticated {} not sent", kind.name());
            self.fail_outbound(call, kind, code);
        }
    }
}
