//! Calls we place: INVITE, challenges, provisional and final responses, ACK for
//! 2xx, CANCEL (only after a provisional, §9.1) and the 2xx/CANCEL race.

use super::build::{finish_request, set_body};
use super::registrar::ChallengeError;
use super::{Endpoint, EndpointError, Event, Owner};
use crate::dialog::{tag_of, Dialog};
use crate::rsip::{Header, HeadersExt, Method, Request, Response};
use crate::session::{Call, CallId, CallRequest, CallState, EndReason, Role};
use crate::transaction::TxKey;
use crate::transport::{Destination, Transport};
use std::time::Instant;

impl Endpoint {
    /// Places a call. Events follow: `Progress`, `Established`, `Ended`.
    pub fn call(&mut self, now: Instant, req: CallRequest) -> Result<CallId, EndpointError> {
        let dest = match req.via_proxy {
            Some(d) => d,
            None => self
                .cfg
                .resolve(&req.target)
                .ok_or_else(|| EndpointError::Unresolvable(req.target.to_string()))?,
        };
        // The proxy's or the URI's transport (TLS for `sips:`), TCP when
        // asked for over a UDP hop; always a new or reused connection, never
        // one a stale id names.
        let transport = match dest.transport {
            Transport::Udp if req.tcp => Transport::Tcp(None),
            t => t.with_conn(None),
        };
        let dest = Destination {
            transport,
            addr: dest.addr,
        };
        let local_tag = self.token(10);
        let call_id = self.new_call_id();
        let from = format!("{};tag={local_tag}", req.from);
        let to = format!("<{}>", req.target);
        let mut invite = self.new_request(
            Method::Invite,
            req.target.clone(),
            &from,
            &to,
            &call_id,
            1,
            dest.transport,
        );
        for (name, value) in &req.extra_headers {
            invite
                .headers
                .push(Header::Other(name.clone(), value.clone()));
        }
        self.set_timer_headers(None, &mut invite.headers);
        set_body(
            &mut invite.headers,
            &mut invite.body,
            "application/sdp",
            &req.sdp_offer,
        );
        let id = CallId(self.alloc_id());
        let key = self
            .tx
            .send_request(now, invite.clone(), dest)
            .map_err(|e| EndpointError::Transaction(e.to_string()))?;
        self.owners.insert(key, Owner::Call(id));
        let mut call = Call::new(Role::Uac, invite, dest, key, local_tag);
        call.alternates = req
            .alternates
            .iter()
            .map(|d| Destination {
                transport: d.transport.with_conn(None),
                addr: d.addr,
            })
            .collect();
        call.credentials = req.credentials;
        call.local_sdp = req.sdp_offer;
        self.calls.insert(id, call);
        Ok(id)
    }

    /// Hangs up: CANCEL before the answer, BYE after, reject for an unanswered
    /// incoming call.
    pub fn hangup(&mut self, now: Instant, call: CallId) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        match (c.role, c.state) {
            (Role::Uas, CallState::Calling | CallState::Ringing) => self.reject(now, call, 603),
            (Role::Uac, CallState::Calling) => {
                // §9.1: no CANCEL before a provisional response has arrived.
                c.cancel_pending = true;
                Ok(())
            }
            (Role::Uac, CallState::Ringing) => {
                self.send_cancel(now, call);
                Ok(())
            }
            (_, CallState::Confirmed | CallState::Answered) => {
                self.send_bye(now, call, EndReason::LocalHangup);
                Ok(())
            }
            (_, state) => Err(EndpointError::WrongState {
                call,
                action: "hang up",
                state,
            }),
        }
    }

    fn send_cancel(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(invite_tx) = c.invite_tx else {
            return;
        };
        c.state = CallState::Terminating;
        c.end_reason = Some(EndReason::Cancelled);
        let peer = c.peer;
        if let Some(mut cancel) = self.tx.build_cancel(invite_tx) {
            finish_request(&mut cancel);
            match self.tx.send_request(now, cancel, peer) {
                Ok(key) => {
                    self.owners.insert(key, Owner::Nobody);
                }
                Err(e) => tracing::warn!(%call, error = %e, "CANCEL not sent"),
            }
        }
    }

    /// Sends BYE in the call's dialog; the call ends when the BYE completes.
    pub(super) fn send_bye(&mut self, now: Instant, call: CallId, reason: EndReason) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let transport = c.peer.transport;
        let via = self.via(transport);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dialog) = c.dialog.as_mut() else {
            return;
        };
        let mut bye = dialog.request(Method::Bye, &via, None);
        finish_request(&mut bye);
        let dest = self.in_dialog_destination(call);
        let key = match self.tx.send_request(now, bye, dest) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(%call, error = %e, "BYE not sent");
                return self.end_call(now, call, reason);
            }
        };
        self.owners.insert(key, Owner::Call(call));
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Terminating;
            c.pending_2xx = None;
            c.end_tx = Some(key);
            c.end_reason = Some(reason);
        }
    }

    /// A proxy challenged our BYE (RFC 3261 §22.2 allows it for any request):
    /// send a new BYE in the dialog (next CSeq, new branch) answering the
    /// challenge with the call's credentials, once. False when there are none
    /// or this BYE was already retried: the call then ends here, as it would
    /// have anyway.
    fn retry_bye_with_credentials(&mut self, now: Instant, call: CallId, resp: &Response) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        let (Some(creds), false) = (c.credentials.clone(), c.bye_challenged) else {
            return false;
        };
        let via = self.via(c.peer.transport);
        let Some(mut bye) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.dialog.as_mut())
            .map(|d| d.request(Method::Bye, &via, None))
        else {
            return false;
        };
        finish_request(&mut bye);
        if self.answer_challenge(&mut bye, resp, &creds, &[]).is_err() {
            return false;
        }
        let dest = self.in_dialog_destination(call);
        let Ok(retry) = self.tx.send_request(now, bye, dest) else {
            return false;
        };
        self.owners.insert(retry, Owner::Call(call));
        if let Some(c) = self.calls.get_mut(&call) {
            c.bye_challenged = true;
            c.end_tx = Some(retry);
        }
        true
    }

    /// Where in-dialog requests of `call` go: on a TCP call the connection the
    /// dialog was set up on; over UDP the dialog's next hop.
    pub(super) fn in_dialog_destination(&self, call: CallId) -> Destination {
        let c = &self.calls[&call];
        if c.peer.transport.is_reliable() {
            return c.peer;
        }
        c.dialog
            .as_ref()
            .and_then(|d| self.cfg.resolve(&d.next_hop()))
            .map(|d| Destination {
                transport: c.peer.transport,
                addr: d.addr,
            })
            .unwrap_or(c.peer)
    }

    pub(super) fn uac_response(&mut self, now: Instant, call: CallId, key: TxKey, resp: Response) {
        let code = u16::from(resp.status_code.clone());
        if self.ext_response(now, call, key, code, &resp) {
            return;
        }
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.end_tx == Some(key) {
            let reason = c.end_reason.clone().unwrap_or(EndReason::LocalHangup);
            if matches!(code, 401 | 407) && self.retry_bye_with_credentials(now, call, &resp) {
                return;
            }
            // The BYE completed (whatever its status): the call is over.
            self.end_call(now, call, reason);
            return;
        }
        if c.reinvite_out.as_ref().and_then(|r| r.in_flight()) == Some(key) {
            return self.reinvite_response(now, call, code, resp);
        }
        if c.invite_tx != Some(key) {
            // A 2xx retransmitted for a re-INVITE already answered: its ACK
            // was lost (§13.2.2.4).
            if (200..300).contains(&code) {
                self.resend_ack(call, &resp);
            }
            return;
        }
        if let Some(c) = self.calls.get_mut(&call) {
            // The next hop answered: whatever follows, it stays the hop.
            c.alternates.clear();
        }
        match code {
            100 => {}
            101..=199 => self.uac_provisional(now, call, code, resp),
            200..=299 => self.uac_success(now, call, resp),
            401 | 407 => self.uac_challenge(now, call, code, resp),
            422 if self.retry_invite_after_422(now, call, &resp) => {}
            _ => {
                let phrase = resp.reason_phrase().unwrap_or("").to_string();
                let reason = match self.calls.get(&call).map(|c| c.state) {
                    Some(CallState::Terminating) if code == 487 => EndReason::Cancelled,
                    _ => EndReason::from_status(code, &phrase),
                };
                self.end_call(now, call, reason);
            }
        }
    }

    fn uac_provisional(&mut self, now: Instant, call: CallId, code: u16, resp: Response) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state == CallState::Calling {
            c.state = CallState::Ringing;
        }
        if c.cancel_pending {
            c.cancel_pending = false;
            self.send_cancel(now, call);
            return;
        }
        if !self.prack_provisional(now, call, &resp) {
            return;
        }
        let sdp = (!resp.body.is_empty()).then(|| resp.body.clone());
        self.events.push_back(Event::Progress { call, code, sdp });
    }

    fn uac_success(&mut self, now: Instant, call: CallId, resp: Response) {
        let c = &self.calls[&call];
        let contact = self.cfg.contact_for(c.peer.transport, &c.invite.uri);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.ack.is_some() {
            // Retransmitted 2xx: our ACK was lost; send it again (§13.2.2.4).
            self.resend_ack(call, &resp);
            return;
        }
        let mut dialog = match Dialog::from_uac(&c.invite, &resp, &contact) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(%call, error = %e, "unusable 2xx; hanging up");
                return self.end_call(now, call, EndReason::Rejected(502, e.to_string()));
            }
        };
        if let Some(early) = c.dialog.as_ref() {
            // PRACKs and UPDATEs of the early dialog used CSeq numbers.
            dialog.continue_from(early);
        }
        let crossed = c.state == CallState::Terminating;
        c.dialog = Some(dialog);
        c.remote_sdp = (!resp.body.is_empty()).then(|| resp.body.clone());
        self.send_ack(call);
        if crossed {
            // §15: a 2xx that crossed our CANCEL still makes a dialog; end it.
            self.send_bye(now, call, EndReason::Cancelled);
            return;
        }
        self.timer_on_2xx_received(now, call, &resp);
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Confirmed;
            let remote_sdp = c.remote_sdp.clone();
            self.events
                .push_back(Event::Established { call, remote_sdp });
        }
    }

    fn send_ack(&mut self, call: CallId) {
        let transport = self.calls[&call].peer.transport;
        let via = self.via(transport);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dialog) = c.dialog.as_mut() else {
            return;
        };
        let ack = ack_for_2xx(dialog, &via, &c.invite);
        c.ack = Some(ack.clone());
        self.send_direct(call, ack);
    }

    /// Resends the ACK (initial or re-INVITE) whose CSeq number the
    /// retransmitted 2xx `resp` carries.
    fn resend_ack(&mut self, call: CallId, resp: &Response) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Ok((n, _)) = crate::message::cseq(resp) else {
            return;
        };
        let ack = [&c.ack, &c.reinvite_ack]
            .into_iter()
            .flatten()
            .find(|a| crate::message::cseq(*a).is_ok_and(|(m, _)| m == n))
            .cloned();
        if let Some(ack) = ack {
            self.send_direct(call, ack);
        }
    }

    pub(super) fn send_direct(&mut self, call: CallId, req: Request) {
        let dest = self.in_dialog_destination(call);
        self.send_wire(dest, crate::transaction::Wire::request(&req));
    }

    fn uac_challenge(&mut self, now: Instant, call: CallId, code: u16, resp: Response) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.state == CallState::Terminating {
            return self.end_call(now, call, EndReason::Cancelled);
        }
        let Some(creds) = c.credentials.clone() else {
            return self.end_call(
                now,
                call,
                EndReason::AuthFailed(format!("{code} challenge but no password configured")),
            );
        };
        let mut invite = c.invite.clone();
        let answered = c.answered_nonces.clone();
        let peer = c.peer;
        match self.answer_challenge(&mut invite, &resp, &creds, &answered) {
            Ok(nonce) => {
                let via = self.via(peer.transport);
                bump_for_retry(&mut invite, &via);
                let key = match self.tx.send_request(now, invite.clone(), peer) {
                    Ok(k) => k,
                    Err(e) => {
                        return self.end_call(now, call, EndReason::AuthFailed(e.to_string()))
                    }
                };
                self.owners.insert(key, Owner::Call(call));
                if let Some(c) = self.calls.get_mut(&call) {
                    c.answered_nonces.push(nonce);
                    c.invite = invite;
                    c.invite_tx = Some(key);
                }
            }
            Err(ChallengeError::Refused) => self.end_call(
                now,
                call,
                EndReason::AuthFailed(format!(
                    "{code}: credentials for '{}' refused (wrong user or password)",
                    creds.user
                )),
            ),
            Err(ChallengeError::Unusable(why)) => {
                self.end_call(now, call, EndReason::AuthFailed(why))
            }
        }
    }

    pub(super) fn uac_timeout(&mut self, now: Instant, call: CallId, key: TxKey) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.end_tx == Some(key) {
            let reason = c.end_reason.clone().unwrap_or(EndReason::LocalHangup);
            return self.end_call(now, call, reason);
        }
        if self.ext_timeout(now, call, key) {
            return;
        }
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.invite_tx == Some(key) && c.ack.is_none() {
            if self.uac_failover(now, call, "no response") {
                return;
            }
            self.end_call(now, call, EndReason::NoAnswer(408));
        } else if c.reinvite_out.as_ref().and_then(|r| r.in_flight()) == Some(key) {
            self.reinvite_timed_out(now, call);
        }
    }

    /// RFC 3263 §4.3: the INVITE had no response at all from its next hop
    /// (Timer B, or the transport failed), so the same request with a new
    /// branch (CSeq + 1, as after a challenge; Via and Contact for the new
    /// transport) goes to the next target. False when none is left or the
    /// user hung up meanwhile: the call then ends as it would have.
    pub(super) fn uac_failover(&mut self, now: Instant, call: CallId, why: &str) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if c.state != CallState::Calling || c.cancel_pending {
            return false;
        }
        let Some(next) = c.alternates.pop_front() else {
            return false;
        };
        let old = c.peer;
        let mut invite = c.invite.clone();
        let via = self.via(next.transport);
        bump_for_retry(&mut invite, &via);
        let contact = self.cfg.contact_for(next.transport, &invite.uri);
        for h in invite.headers.iter_mut() {
            if let Header::Contact(v) = h {
                *v = contact.clone().into();
            }
        }
        tracing::warn!(%call, "INVITE: {why} from {old}; trying the next server, {next}");
        let key = match self.tx.send_request(now, invite.clone(), next) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(%call, error = %e, "INVITE to {next} not sent");
                return false;
            }
        };
        self.owners.insert(key, Owner::Call(call));
        if let Some(c) = self.calls.get_mut(&call) {
            c.invite = invite;
            c.invite_tx = Some(key);
            c.peer = next;
        }
        true
    }

    /// A 2xx that no transaction claims (after Timer M, or from a second fork):
    /// ACK it if it belongs to a call we know, so the peer stops retransmitting.
    pub(super) fn stray_response(&mut self, _now: Instant, resp: Response) {
        let code = u16::from(resp.status_code.clone());
        if !(200..300).contains(&code) {
            return;
        }
        let call_id = resp.call_id_header().map(|c| c.value().to_string()).ok();
        let to_tag = resp.to_header().ok().and_then(|t| tag_of(t.value()));
        let Some(call_id) = call_id else {
            return;
        };
        let found = self.calls.with_call_id(&call_id).find(|(_, c)| {
            c.dialog.as_ref().is_some_and(|d| {
                d.id.call_id == call_id && Some(&d.id.remote_tag) == to_tag.as_ref()
            })
        });
        if let Some((id, _)) = found {
            self.resend_ack(id, &resp);
        }
    }
}

/// A re-sent request after a challenge: same Call-ID and tags, CSeq + 1, new
/// branch (§22.2).
pub(super) fn bump_for_retry(req: &mut Request, via: &str) {
    for h in req.headers.iter_mut() {
        match h {
            Header::Via(v) => *v = via.to_string().into(),
            Header::CSeq(c) => {
                let mut parts = c.value().split_whitespace();
                let n: u32 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
                let m = parts.next().unwrap_or("INVITE").to_string();
                *c = format!("{} {m}", n.saturating_add(1)).into();
            }
            _ => {}
        }
    }
}

/// The ACK for a 2xx to `invite`: in the dialog, with the INVITE's CSeq number
/// and the INVITE's credentials (RFC 3261 §13.2.2.4; a proxy that challenged
/// the INVITE may check the ACK too).
pub(super) fn ack_for_2xx(dialog: &mut Dialog, via: &str, invite: &Request) -> Request {
    let cseq = crate::message::cseq(invite).map(|(n, _)| n).ok();
    let mut ack = dialog.request(Method::Ack, via, cseq);
    let auth: Vec<Header> = invite
        .headers
        .iter()
        .filter(|h| matches!(h, Header::Authorization(_) | Header::ProxyAuthorization(_)))
        .cloned()
        .collect();
    ack.headers.extend(auth);
    finish_request(&mut ack);
    ack
}
