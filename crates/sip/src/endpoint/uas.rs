//! Calls we receive: ringing, answering (with 2xx retransmission until the ACK,
//! §13.3.1.4), rejecting.

use super::{Endpoint, EndpointError, Event};
use crate::dialog::Dialog;
use crate::rsip::{Request, Response};
use crate::session::{CallId, CallState, EndReason, Pending2xx, Retransmit2xx, Role};
use crate::transaction::TxKey;
use std::time::Instant;

impl Endpoint {
    fn incoming(&mut self, call: CallId, action: &'static str) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        if c.role != Role::Uas || !matches!(c.state, CallState::Calling | CallState::Ringing) {
            return Err(EndpointError::WrongState {
                call,
                action,
                state: c.state,
            });
        }
        Ok(())
    }

    /// Sends 180 Ringing for an incoming call; reliably (RFC 3262) when the
    /// INVITE requires 100rel.
    pub fn ring(&mut self, now: Instant, call: CallId) -> Result<(), EndpointError> {
        self.incoming(call, "ring")?;
        let sent = self.send_provisional(now, call, 180, None);
        self.pump(now);
        sent
    }

    /// Sends 183 Session Progress with `sdp` (early media) for an incoming
    /// call; reliably (RFC 3262) when the INVITE requires 100rel, which
    /// makes `sdp` the answer to the INVITE's offer: pass the same SDP to
    /// [`Endpoint::answer`] later. A 2xx waits for the PRACK of a reliable
    /// 183 (§3).
    pub fn early_media(
        &mut self,
        now: Instant,
        call: CallId,
        sdp: Vec<u8>,
    ) -> Result<(), EndpointError> {
        self.incoming(call, "send early media")?;
        let sent = self.send_provisional(now, call, 183, Some(sdp));
        self.pump(now);
        sent
    }

    /// Answers an incoming call with 200 OK carrying `sdp`. The call is
    /// `Established` when the ACK arrives.
    pub fn answer(
        &mut self,
        now: Instant,
        call: CallId,
        sdp: Vec<u8>,
    ) -> Result<(), EndpointError> {
        self.incoming(call, "answer")?;
        if self.hold_answer_for_prack(call, &sdp) {
            return Ok(());
        }
        let first_seq = 1 + u32::from(rand::Rng::random::<u16>(&mut self.rng));
        let c = &self.calls[&call];
        let contact = self.cfg.contact_for(c.peer.transport, &c.invite.uri);
        let dialog = match c.dialog.clone() {
            // The early dialog of our provisional responses goes on.
            Some(d) => Ok(d),
            None => Dialog::from_uas(&c.invite, &c.local_tag, &contact, first_seq),
        };
        let mut resp = self.response(
            &c.invite,
            200,
            Some(&c.local_tag),
            c.peer.transport,
            Some(&sdp),
        );
        let key = c.invite_tx;
        let offer_in_2xx = c.invite.body.is_empty();
        let cseq = crate::message::cseq(&c.invite).map(|(n, _)| n);
        let dialog = match dialog {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(%call, error = %e, "cannot answer: bad INVITE");
                return self.reject(now, call, 400);
            }
        };
        let (Some(key), Ok(cseq)) = (key, cseq) else {
            return Err(EndpointError::Transaction(format!(
                "{call}: no INVITE transaction to answer"
            )));
        };
        let invite = self.calls[&call].invite.clone();
        self.timer_on_2xx_sent(now, call, &invite, &mut resp);
        self.send_2xx(now, call, key, resp, cseq, offer_in_2xx);
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Answered;
            c.dialog = Some(dialog);
            c.local_sdp = sdp;
        }
        self.pump(now);
        Ok(())
    }

    /// Sends a 2xx to an INVITE or re-INVITE on server transaction `key` and
    /// arms its retransmission until the ACK with CSeq `cseq` (§13.3.1.4).
    pub(super) fn send_2xx(
        &mut self,
        now: Instant,
        call: CallId,
        key: TxKey,
        resp: Response,
        cseq: u32,
        offer_in_2xx: bool,
    ) {
        if let Err(e) = self.tx.respond(now, key, resp.clone()) {
            tracing::debug!(%call, error = %e, "2xx not sent");
        }
        let t1 = self.cfg.timers.t1;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        // Over TCP the transport is reliable: no retransmission, but the
        // ACK still has to come within 64·T1.
        let reliable = c.peer.transport.is_reliable();
        c.pending_2xx = Some(Pending2xx {
            key,
            resp,
            cseq,
            offer_in_2xx,
            schedule: Retransmit2xx {
                next: if reliable { now + t1 * 64 } else { now + t1 },
                interval: t1,
                give_up: now + t1 * 64,
            },
        });
    }

    /// Rejects an incoming call with a final status (486, 603, 480, …).
    pub fn reject(&mut self, now: Instant, call: CallId, code: u16) -> Result<(), EndpointError> {
        self.reject_saying(now, call, code, None)
    }

    /// Rejects an incoming call saying why in a `Warning: 399` (RFC 3261
    /// §20.43), e.g. a 488 because SRTP is required here.
    pub fn reject_with_warning(
        &mut self,
        now: Instant,
        call: CallId,
        code: u16,
        why: &str,
    ) -> Result<(), EndpointError> {
        self.reject_saying(now, call, code, Some(why))
    }

    fn reject_saying(
        &mut self,
        now: Instant,
        call: CallId,
        code: u16,
        why: Option<&str>,
    ) -> Result<(), EndpointError> {
        self.incoming(call, "reject")?;
        let c = &self.calls[&call];
        let mut resp = self.response(&c.invite, code, Some(&c.local_tag), c.peer.transport, None);
        if let Some(why) = why {
            let text: String = why
                .chars()
                .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                .collect();
            let agent = self.cfg.sent_by(c.peer.transport);
            resp.headers.push(crate::rsip::Header::Warning(
                format!("399 {agent} \"{text}\"").into(),
            ));
        }
        if let Some(key) = c.invite_tx {
            if let Err(e) = self.tx.respond(now, key, resp) {
                tracing::debug!(%call, error = %e, "rejection not sent");
            }
        }
        self.end_call(now, call, EndReason::LocalReject(code));
        self.pump(now);
        Ok(())
    }

    /// Retransmits our 2xx (T1 doubling, capped at T2) until the ACK arrives;
    /// after 64·T1 gives up and ends the dialog with BYE.
    pub(super) fn uas_retransmit_2xx(&mut self, now: Instant, call: CallId) {
        let t2 = self.cfg.timers.t2;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(pending) = c.pending_2xx.as_mut() else {
            return;
        };
        let rt = &mut pending.schedule;
        if rt.give_up <= now {
            c.pending_2xx = None;
            tracing::warn!(%call, "no ACK for our 2xx; hanging up");
            self.send_bye(now, call, EndReason::NoAck);
            return;
        }
        if rt.next > now {
            return;
        }
        rt.interval = (rt.interval * 2).min(t2);
        rt.next = now + rt.interval;
        let (key, resp) = (pending.key, pending.resp.clone());
        if self.tx.respond(now, key, resp.clone()).is_err() {
            // The server transaction is gone (Timer L): the core sends alone.
            let dest = c.peer;
            self.send_wire(dest, crate::transaction::Wire::response(&resp));
        }
    }

    /// An ACK for a 2xx arrived in `call`'s dialog. The one matching our
    /// pending 2xx stops its retransmission and completes the exchange: the
    /// call is up (initial INVITE), or the re-INVITE is done. Others (a
    /// retransmitted ACK, one for an older 2xx) change nothing.
    pub(super) fn uas_acked(&mut self, call: CallId, ack: &Request) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Ok((n, _)) = crate::message::cseq(ack) else {
            return;
        };
        let Some(pending) = c.pending_2xx.take_if(|p| p.cseq == n) else {
            return;
        };
        let ack_sdp = (!ack.body.is_empty()).then(|| ack.body.clone());
        if pending.offer_in_2xx && ack_sdp.is_some() {
            c.remote_sdp = ack_sdp.clone();
        }
        if c.state == CallState::Answered {
            c.state = CallState::Confirmed;
            let remote_sdp = c.remote_sdp.clone();
            self.events
                .push_back(Event::Established { call, remote_sdp });
        } else if pending.offer_in_2xx {
            self.events.push_back(Event::ReInviteAckAnswer {
                call,
                answer: ack_sdp,
            });
        }
    }
}
