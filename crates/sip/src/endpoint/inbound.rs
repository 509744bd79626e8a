//! Requests from peers: new INVITEs, in-dialog requests (ACK, BYE, re-INVITE,
//! INFO, UPDATE, REFER, NOTIFY), CANCEL, OPTIONS, and the answers the UAS core owes for
//! requests it does not handle (§8.2).

use super::{Endpoint, Event};
use crate::dialog::tag_of;
use crate::rsip::{HeadersExt, Method, Request};
use crate::session::{Call, CallId, CallState, EndReason, Role};
use crate::transaction::{RequestDisposition, TxKey};
use crate::transport::Destination;
use std::time::Instant;

impl Endpoint {
    pub(super) fn on_request(&mut self, now: Instant, src: Destination, mut req: Request) {
        // Responses: on the same connection, or over UDP where the top Via
        // says (RFC 3261 §18.2.2, RFC 3581). A Via too broken to stamp fails
        // the transaction match just below.
        let reply_to = match crate::message::stamp_top_via(&mut req, src.addr) {
            Ok(addr) if !src.transport.is_reliable() => Destination { addr, ..src },
            _ => src,
        };
        let disposition = match self.tx.on_request(now, req, reply_to) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(%src, error = %e, "request dropped");
                return;
            }
        };
        match disposition {
            RequestDisposition::New(key) => self.new_request_tx(now, src, key),
            RequestDisposition::Ack2xxOrStray(ack) => self.on_ack(&ack),
            RequestDisposition::CancelFor {
                cancel_tx,
                invite_tx,
            } => self.on_cancel(now, src, cancel_tx, invite_tx),
            RequestDisposition::Overloaded(req) => self.overloaded(now, reply_to, &req),
            RequestDisposition::Retransmission | RequestDisposition::AckForNon2xx => {}
        }
    }

    fn new_request_tx(&mut self, now: Instant, src: Destination, key: TxKey) {
        let Some(req) = self.tx.request(key).cloned() else {
            return;
        };
        if self.screen_request(now, key, &req) {
            return;
        }
        let to_tag = req.to_header().ok().and_then(|t| tag_of(t.value()));
        if let Some(tag) = to_tag {
            return self.in_dialog_request(now, key, req, &tag);
        }
        match req.method {
            Method::Invite => self.new_invite(now, src, key, req),
            Method::Options => {
                let mut resp = self.response(&req, 200, None, src.transport, None);
                resp.headers
                    .push(crate::rsip::Header::Allow(super::build::ALLOW.into()));
                resp.headers
                    .push(crate::rsip::Header::Accept("application/sdp".into()));
                let supported = super::build::supported(self.cfg.session_timer.enabled);
                resp.headers
                    .push(crate::rsip::Header::Supported(supported.into()));
                self.respond_or_log(now, key, resp);
            }
            Method::Bye
            | Method::Info
            | Method::Update
            | Method::PRack
            | Method::Notify
            | Method::Refer => self.respond_code(now, key, &req, 481),
            Method::Register | Method::Subscribe | Method::Publish | Method::Message => {
                self.respond_code(now, key, &req, 405)
            }
            _ => self.respond_code(now, key, &req, 501),
        }
    }

    fn new_invite(&mut self, now: Instant, src: Destination, key: TxKey, req: Request) {
        if self.is_merged(&req) {
            // §8.2.2.2: the same request reached us over two paths.
            return self.respond_code(now, key, &req, 482);
        }
        // Before Replaces is looked at: a scanner's INVITE gets 403/404
        // whatever it carries.
        if !self.admit(now, (&src, key), &req) {
            return;
        }
        let replaces = match self.replaced_call(&req) {
            Ok(r) => r,
            Err(code) => return self.respond_code(now, key, &req, code),
        };
        let id = CallId(self.alloc_id());
        let local_tag = self.token(10);
        let from = req
            .from_header()
            .map(|f| f.value().to_string())
            .unwrap_or_default();
        let to = req
            .to_header()
            .map(|t| t.value().to_string())
            .unwrap_or_default();
        let offer = (!req.body.is_empty()).then(|| req.body.clone());
        let headers = req
            .headers
            .iter()
            .filter_map(|h| {
                let line = h.to_string();
                let (n, v) = line.split_once(':')?;
                Some((n.trim().to_string(), v.trim().to_string()))
            })
            .collect();
        self.server_invites.insert(key, id);
        let mut call = Call::new(Role::Uas, req, src, key, local_tag);
        call.remote_sdp = offer.clone();
        self.calls.insert(id, call);
        self.events.push_back(Event::IncomingCall {
            call: id,
            from,
            to,
            offer,
            headers,
            replaces,
        });
    }

    fn is_merged(&self, req: &Request) -> bool {
        let key = |r: &Request| {
            (
                r.call_id_header().map(|c| c.value().to_string()).ok(),
                r.from_header().ok().and_then(|f| tag_of(f.value())),
                r.cseq_header().map(|c| c.value().to_string()).ok(),
            )
        };
        let k = key(req);
        let Some(call_id) = k.0.as_deref() else {
            return false;
        };
        let branch = |r: &Request| r.via_header().map(|v| v.value().to_string()).ok();
        self.calls.with_call_id(call_id).any(|(_, c)| {
            c.role == Role::Uas && key(&c.invite) == k && branch(&c.invite) != branch(req)
        })
    }

    fn find_dialog(
        &self,
        call_id: &str,
        local_tag: &str,
        remote_tag: Option<&str>,
    ) -> Option<CallId> {
        self.calls.with_call_id(call_id).find_map(|(id, c)| {
            let d = c.dialog.as_ref()?;
            (d.id.call_id == call_id
                && d.id.local_tag == local_tag
                && remote_tag.is_none_or(|t| d.id.remote_tag == t))
            .then_some(id)
        })
    }

    fn in_dialog_request(&mut self, now: Instant, key: TxKey, req: Request, to_tag: &str) {
        let call_id = req
            .call_id_header()
            .map(|c| c.value().to_string())
            .unwrap_or_default();
        let from_tag = req.from_header().ok().and_then(|f| tag_of(f.value()));
        let Some(call) = self.find_dialog(&call_id, to_tag, from_tag.as_deref()) else {
            return self.respond_code(now, key, &req, 481);
        };
        let in_order = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.dialog.as_mut())
            .is_some_and(|d| d.accept_remote_cseq(&req));
        if !in_order {
            return self.respond_code(now, key, &req, 500);
        }
        match req.method {
            Method::Bye => {
                self.respond_code(now, key, &req, 200);
                self.end_call(now, call, EndReason::RemoteHangup);
            }
            Method::Invite => self.reinvite_received(now, key, call, req),
            Method::Info => self.respond_code(now, key, &req, 200),
            Method::Update => self.update_received(now, key, call, req),
            Method::PRack => self.prack_received(now, key, call, req),
            Method::Refer => self.refer_received(now, key, call, req),
            Method::Notify => self.notify_received(now, key, call, req),
            Method::Options => self.respond_code(now, key, &req, 200),
            _ => self.respond_code(now, key, &req, 501),
        }
    }

    fn on_ack(&mut self, ack: &Request) {
        let call_id = ack
            .call_id_header()
            .map(|c| c.value().to_string())
            .unwrap_or_default();
        let Some(to_tag) = ack.to_header().ok().and_then(|t| tag_of(t.value())) else {
            return;
        };
        let from_tag = ack.from_header().ok().and_then(|f| tag_of(f.value()));
        if let Some(call) = self.find_dialog(&call_id, &to_tag, from_tag.as_deref()) {
            self.uas_acked(call, ack);
        }
    }

    fn on_cancel(
        &mut self,
        now: Instant,
        src: Destination,
        cancel_tx: TxKey,
        invite_tx: Option<TxKey>,
    ) {
        let Some(cancel) = self.tx.request(cancel_tx).cloned() else {
            return;
        };
        let call = invite_tx.and_then(|k| self.server_invites.get(&k).copied());
        let Some(call) = call else {
            // §9.2: no matching transaction.
            return self.respond_code(now, cancel_tx, &cancel, 481);
        };
        self.respond_code(now, cancel_tx, &cancel, 200);
        let pending = self
            .calls
            .get(&call)
            .is_some_and(|c| matches!(c.state, CallState::Calling | CallState::Ringing));
        if pending {
            let c = &self.calls[&call];
            let resp = self.response(&c.invite, 487, Some(&c.local_tag), src.transport, None);
            if let Some(k) = c.invite_tx {
                self.respond_or_log(now, k, resp);
            }
            self.end_call(now, call, EndReason::RemoteCancelled);
        } else if let Some(k) = invite_tx {
            self.reinvite_cancelled(now, call, k);
        }
    }

    pub(super) fn respond_code(&mut self, now: Instant, key: TxKey, req: &Request, code: u16) {
        let tag = if code > 100
            && tag_of(
                &req.to_header()
                    .map(|t| t.value().to_string())
                    .unwrap_or_default(),
            )
            .is_none()
        {
            Some(self.token(10))
        } else {
            None
        };
        let resp = self.response(
            req,
            code,
            tag.as_deref(),
            crate::transport::Transport::Udp,
            None,
        );
        self.respond_or_log(now, key, resp);
    }

    pub(super) fn respond_or_log(&mut self, now: Instant, key: TxKey, resp: crate::rsip::Response) {
        if let Err(e) = self.tx.respond(now, key, resp) {
            tracing::debug!(error = %e, "response not sent");
        }
    }
}
