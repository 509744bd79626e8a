//! Reliable provisional responses (RFC 3262). As UAC: PRACK each reliable
//! 18x once per RSeq, in order, in its early dialog (§4). As UAS: when the
//! INVITE requires `100rel`, send our 18x with Require and RSeq and
//! retransmit it (T1 doubling) until its PRACK, one at a time; answer the
//! PRACK 200, a PRACK matching nothing 481 (§3); hold back a 2xx behind an
//! unacknowledged 18x with SDP; reject the INVITE with 500 when no PRACK
//! comes within 64·T1.

use super::build::finish_request;
use super::require::lists;
use super::{Endpoint, EndpointError, Owner};
use crate::dialog::Dialog;
use crate::message;
use crate::rsip::{Header, Method, Request, Response};
use crate::session::timer::parse_delta;
use crate::session::{CallId, CallState, ReliableProvisional};
use crate::transaction::TxKey;
use rand::Rng;
use std::time::Instant;

impl Endpoint {
    /// A provisional response to our INVITE arrived. For a reliable one
    /// (Require: 100rel, RSeq), send the PRACK the first time its RSeq is
    /// seen. False when the response is to be dropped: a retransmission, one
    /// out of order, or one without RSeq (§4).
    pub(super) fn prack_provisional(
        &mut self,
        now: Instant,
        call: CallId,
        resp: &Response,
    ) -> bool {
        if !lists(resp, "Require", "100rel") {
            return true;
        }
        let Some(rseq) = message::header(resp, "RSeq").and_then(parse_delta) else {
            return false;
        };
        let contact = self.cfg.contact(self.calls[&call].peer.transport);
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if c.ext
            .last_rseq
            .is_some_and(|last| rseq != last.wrapping_add(1))
        {
            return false;
        }
        let Ok(fresh) = Dialog::from_uac(&c.invite, resp, &contact) else {
            tracing::debug!(%call, "reliable provisional without To tag or Contact dropped");
            return false;
        };
        c.ext.last_rseq = Some(rseq);
        // §12.1.2: the early dialog, kept for the PRACK, UPDATEs and the
        // CSeq numbers the 2xx's dialog continues. A 18x from another fork
        // gets its PRACK in a dialog of its own, not kept.
        let same = c
            .dialog
            .as_ref()
            .is_none_or(|d| d.id.remote_tag == fresh.id.remote_tag);
        if c.dialog.is_none() {
            c.dialog = Some(fresh.clone());
        }
        if same && !resp.body.is_empty() && !c.invite.body.is_empty() {
            // The reliable 18x carries the answer to our INVITE's offer.
            c.ext.early_answer = true;
            c.remote_sdp = Some(resp.body.clone());
        }
        let mut dialog = if same {
            c.dialog.clone().unwrap_or(fresh)
        } else {
            fresh
        };
        let cseq = message::cseq(&c.invite).map_or(1, |(n, _)| n);
        let transport = c.peer.transport;
        let via = self.via(transport);
        let mut prack = dialog.request(Method::PRack, &via, None);
        prack
            .headers
            .push(Header::RAck(format!("{rseq} {cseq} INVITE").into()));
        finish_request(&mut prack);
        if same {
            if let Some(c) = self.calls.get_mut(&call) {
                c.dialog = Some(dialog);
            }
        }
        let dest = self.in_dialog_destination(call);
        match self.tx.send_request(now, prack, dest) {
            Ok(key) => {
                self.owners.insert(key, Owner::Call(call));
                if let Some(c) = self.calls.get_mut(&call) {
                    c.ext.prack_txs.push(key);
                }
            }
            Err(e) => tracing::warn!(%call, error = %e, "PRACK not sent"),
        }
        true
    }

    /// A final response (or timeout) on one of our PRACKs: nothing waits on
    /// it; the INVITE's own outcome decides the call.
    pub(super) fn prack_done(&mut self, call: CallId, key: TxKey, code: Option<u16>) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.ext.prack_txs.retain(|k| *k != key);
        }
        if code.is_none_or(|c| c >= 300) {
            tracing::info!(%call, ?code, "PRACK failed");
        }
    }

    /// Sends provisional `code` (180, 183) for an incoming call, with `sdp`
    /// when given; reliably when the INVITE requires 100rel. The early
    /// dialog starts here (§12.1.1).
    pub(super) fn send_provisional(
        &mut self,
        now: Instant,
        call: CallId,
        code: u16,
        sdp: Option<Vec<u8>>,
    ) -> Result<(), EndpointError> {
        self.early_dialog_uas(call);
        let c = &self.calls[&call];
        let mut resp = self.response(
            &c.invite,
            code,
            Some(&c.local_tag),
            c.peer.transport,
            sdp.as_deref(),
        );
        let reliable = lists(&c.invite, "Require", "100rel");
        let offered = !c.invite.body.is_empty();
        let key = c
            .invite_tx
            .ok_or_else(|| EndpointError::Transaction(format!("{call}: no INVITE transaction")))?;
        let with_sdp = sdp.is_some();
        let first_rseq = 1 + self.rng.random_range(0..(1u32 << 30));
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(EndpointError::NoSuchCall(call));
        };
        c.state = CallState::Ringing;
        if let Some(sdp) = sdp {
            c.local_sdp = sdp;
        }
        if !reliable {
            return self
                .tx
                .respond(now, key, resp)
                .map_err(|e| EndpointError::Transaction(e.to_string()));
        }
        if with_sdp && offered {
            c.ext.early_answer = true;
        }
        if c.ext.next_rseq == 0 {
            c.ext.next_rseq = first_rseq;
        }
        let rseq = c.ext.next_rseq;
        c.ext.next_rseq = rseq.wrapping_add(1).max(1);
        resp.headers.push(Header::Require("100rel".into()));
        resp.headers.push(Header::RSeq(rseq.to_string().into()));
        if c.ext.unacked.is_some() {
            // §3: one reliable provisional at a time.
            c.ext.queued.push_back((resp, with_sdp));
            return Ok(());
        }
        self.send_reliable(now, call, key, resp, with_sdp);
        Ok(())
    }

    fn send_reliable(
        &mut self,
        now: Instant,
        call: CallId,
        key: TxKey,
        resp: Response,
        with_sdp: bool,
    ) {
        let t1 = self.cfg.timers.t1;
        let rseq = message::header(&resp, "RSeq")
            .and_then(parse_delta)
            .unwrap_or(0);
        if let Err(e) = self.tx.respond(now, key, resp.clone()) {
            tracing::debug!(%call, error = %e, "reliable provisional not sent");
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        // Over TCP no retransmission, but the PRACK still has 64·T1.
        let next = if c.peer.transport.is_reliable() {
            now + t1 * 64
        } else {
            now + t1
        };
        c.ext.unacked = Some(ReliableProvisional {
            rseq,
            resp,
            with_sdp,
            next,
            interval: t1,
            give_up: now + t1 * 64,
        });
    }

    /// The UAS's early dialog, made when the first provisional goes out.
    fn early_dialog_uas(&mut self, call: CallId) {
        let first_seq = 1 + u32::from(self.rng.random::<u16>());
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.dialog.is_some() {
            return;
        }
        let contact = self.cfg.contact(c.peer.transport);
        match Dialog::from_uas(&c.invite, &c.local_tag, &contact, first_seq) {
            Ok(d) => c.dialog = Some(d),
            Err(e) => tracing::debug!(%call, error = %e, "no early dialog"),
        }
    }

    /// Retransmits our unacknowledged reliable provisional (T1 doubling,
    /// §3); after 64·T1 without PRACK rejects the INVITE with 500.
    pub(super) fn reliable_provisional_due(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !c.is_early() {
            c.ext.unacked = None;
            c.ext.queued.clear();
            return;
        }
        let (Some(rel), Some(key)) = (c.ext.unacked.as_mut(), c.invite_tx) else {
            return;
        };
        if rel.give_up <= now {
            tracing::warn!(%call, "no PRACK for our reliable provisional; rejecting the INVITE");
            c.ext.unacked = None;
            if let Err(e) = self.reject(now, call, 500) {
                tracing::debug!(%call, error = %e, "500 not sent");
            }
            return;
        }
        if rel.next > now {
            return;
        }
        rel.interval *= 2;
        rel.next = (now + rel.interval).min(rel.give_up);
        let resp = rel.resp.clone();
        if let Err(e) = self.tx.respond(now, key, resp) {
            tracing::debug!(%call, error = %e, "reliable provisional not resent");
        }
    }

    /// A PRACK arrived in `call`'s early dialog: 200 when its RAck names our
    /// unacknowledged reliable provisional, else 481 (§3). Then the next
    /// queued provisional goes out, or the 2xx held back for it.
    pub(super) fn prack_received(&mut self, now: Instant, key: TxKey, call: CallId, req: Request) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let invite_cseq = message::cseq(&c.invite).ok().map(|(n, _)| n);
        let rack = message::header(&req, "RAck").and_then(parse_rack);
        let matches = c.ext.unacked.as_ref().is_some_and(|u| {
            rack.as_ref()
                .is_some_and(|(r, n, m)| *r == u.rseq && Some(*n) == invite_cseq && m == "INVITE")
        });
        if !matches {
            return self.respond_code(now, key, &req, 481);
        }
        c.ext.unacked = None;
        let next = c.ext.queued.pop_front();
        let deferred = if next.is_none() {
            c.ext.deferred_answer.take()
        } else {
            None
        };
        let invite_tx = c.invite_tx;
        self.respond_code(now, key, &req, 200);
        if let (Some((resp, with_sdp)), Some(k)) = (next, invite_tx) {
            self.send_reliable(now, call, k, resp, with_sdp);
        } else if let Some(sdp) = deferred {
            if let Err(e) = self.answer(now, call, sdp) {
                tracing::warn!(%call, error = %e, "held-back answer not sent");
            }
        }
    }

    /// `answer` was called while a reliable provisional with SDP waits for
    /// its PRACK: the 2xx must wait too (§3). True when held back.
    pub(super) fn hold_answer_for_prack(&mut self, call: CallId, sdp: &[u8]) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let waiting = c.ext.unacked.as_ref().is_some_and(|u| u.with_sdp)
            || c.ext.queued.iter().any(|(_, with_sdp)| *with_sdp);
        if waiting {
            c.ext.deferred_answer = Some(sdp.to_vec());
        }
        waiting
    }
}

/// RAck: `response-num CSeq-num Method` (RFC 3262 §7.2).
fn parse_rack(v: &str) -> Option<(u32, u32, String)> {
    let mut parts = v.split_whitespace();
    let rseq = parts.next()?.parse().ok()?;
    let cseq = parts.next()?.parse().ok()?;
    let method = parts.next()?.to_string();
    parts.next().is_none().then_some((rseq, cseq, method))
}
