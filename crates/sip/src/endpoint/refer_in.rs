//! Transfers the peer asks of us (RFC 3515 as the REFER recipient): the
//! REFER is reported and waits for the application (never accepted
//! silently), 202 and the first NOTIFY on accept, NOTIFYs with the referred
//! call's status as `message/sipfrag` (one NOTIFY transaction at a time,
//! increasing CSeq), the final one terminating the subscription, and the
//! subscription's expiry.

use super::build::{finish_request, set_body};
use super::{Endpoint, EndpointError, Event, Owner};
use crate::message;
use crate::refer::state::{InStep, InTransfer, QueuedNotify};
use crate::refer::{
    sipfrag, ReferTarget, SubState, SubscriptionState, TransferId, TRANSFER_SUBSCRIPTION,
};
use crate::rsip::{Header, Method, Request};
use crate::session::{Call, CallId, CallState};
use crate::transaction::TxKey;
use std::time::{Duration, Instant};

impl Endpoint {
    /// A REFER arrived in `call`'s dialog (CSeq checked): 400 unless it has
    /// exactly one usable Refer-To (RFC 3515 §2.4.1), else reported as
    /// [`Event::TransferRequested`].
    pub(super) fn refer_received(&mut self, now: Instant, key: TxKey, call: CallId, req: Request) {
        if self.calls.get(&call).map(|c| c.state) == Some(CallState::Terminating) {
            return self.respond_code(now, key, &req, 481);
        }
        let refer_to = match message::header_values(&req, "Refer-To")[..] {
            [one] => ReferTarget::parse_refer_to(one).map_err(|e| e.to_string()),
            [] => Err("no Refer-To (RFC 3515 §2.4.1)".to_string()),
            _ => Err("more than one Refer-To (RFC 3515 §2.4.1)".to_string()),
        };
        let refer_to = match refer_to {
            Ok(t) => t,
            Err(why) => return self.respond_warning(now, key, &req, 400, &why),
        };
        let Ok((id, _)) = message::cseq(&req) else {
            return self.respond_code(now, key, &req, 400);
        };
        let referred_by = message::header(&req, "Referred-By").map(str::to_string);
        let answer_by = now + self.cfg.timers.t1 * 32;
        self.transfers.of(call).inbound.insert(
            id,
            InTransfer {
                request: req,
                step: InStep::Asked { key, answer_by },
                expires_at: None,
                last: (100, "Trying".into()),
                queued: None,
                in_flight: None,
                closing: false,
            },
        );
        self.events.push_back(Event::TransferRequested {
            call,
            transfer: TransferId(id),
            refer_to,
            referred_by,
        });
    }

    /// Accepts the peer's REFER `transfer`: 202 Accepted, then the first
    /// NOTIFY (`SIP/2.0 100 Trying`, `Subscription-State: active;expires=`
    /// [`TRANSFER_SUBSCRIPTION`]). Place the referred call next and report
    /// its progress with [`Endpoint::notify_transfer`].
    pub fn accept_transfer(
        &mut self,
        now: Instant,
        call: CallId,
        transfer: TransferId,
    ) -> Result<(), EndpointError> {
        let (key, req) = self.take_asked(call, transfer)?;
        self.respond_code(now, key, &req, 202);
        if let Some(t) = self.in_transfer(call, transfer) {
            t.step = InStep::Accepted;
            t.expires_at = Some(now + TRANSFER_SUBSCRIPTION);
            t.queued = Some(QueuedNotify {
                code: 100,
                reason: "Trying".into(),
                terminate: None,
            });
        }
        self.send_next_notify(now, call, transfer.0);
        self.pump(now);
        Ok(())
    }

    /// Refuses the peer's REFER `transfer` with `code` (300-699, e.g. 603
    /// Declined); no subscription is created.
    pub fn reject_transfer(
        &mut self,
        now: Instant,
        call: CallId,
        transfer: TransferId,
        code: u16,
    ) -> Result<(), EndpointError> {
        if !(300..=699).contains(&code) {
            return Err(EndpointError::BadStatus(code));
        }
        let (key, req) = self.take_asked(call, transfer)?;
        self.respond_code(now, key, &req, code);
        self.forget_in_transfer(call, transfer.0);
        self.pump(now);
        Ok(())
    }

    /// Reports the referred call's status to the referrer in a NOTIFY
    /// (sipfrag `SIP/2.0 <code> <reason>`): 1xx keeps the subscription
    /// active; a final status (2xx success, else failure) terminates it
    /// (`Subscription-State: terminated;reason=noresource`), after which
    /// the transfer is over. Refused before `accept_transfer`, after the
    /// final status, or once the referrer dropped the subscription (a
    /// NOTIFY answered 481, or timed out).
    pub fn notify_transfer(
        &mut self,
        now: Instant,
        call: CallId,
        transfer: TransferId,
        code: u16,
        reason: &str,
    ) -> Result<(), EndpointError> {
        if !(100..=699).contains(&code) {
            return Err(EndpointError::BadStatus(code));
        }
        let t = self
            .in_transfer(call, transfer)
            .filter(|t| matches!(t.step, InStep::Accepted) && !t.closing)
            .ok_or(EndpointError::NoSuchTransfer(call, transfer))?;
        t.last = (code, reason.to_string());
        t.closing = code >= 200;
        t.queued = Some(QueuedNotify {
            code,
            reason: reason.to_string(),
            terminate: (code >= 200).then_some("noresource"),
        });
        self.send_next_notify(now, call, transfer.0);
        self.pump(now);
        Ok(())
    }

    fn in_transfer(&mut self, call: CallId, transfer: TransferId) -> Option<&mut InTransfer> {
        self.transfers
            .calls
            .get_mut(&call)
            .and_then(|t| t.inbound.get_mut(&transfer.0))
    }

    /// The server transaction and request of a REFER still waiting for the
    /// application's answer.
    fn take_asked(
        &mut self,
        call: CallId,
        transfer: TransferId,
    ) -> Result<(TxKey, Request), EndpointError> {
        if !self.calls.contains_key(&call) {
            return Err(EndpointError::NoSuchCall(call));
        }
        let t = self
            .in_transfer(call, transfer)
            .ok_or(EndpointError::NoSuchTransfer(call, transfer))?;
        match t.step {
            InStep::Asked { key, .. } => Ok((key, t.request.clone())),
            InStep::Accepted => Err(EndpointError::NoSuchTransfer(call, transfer)),
        }
    }

    fn forget_in_transfer(&mut self, call: CallId, id: u32) {
        if let Some(t) = self.transfers.calls.get_mut(&call) {
            t.inbound.remove(&id);
        }
    }

    /// Sends the queued NOTIFY of subscription `id` unless one is in
    /// flight (then it goes when that one completes).
    fn send_next_notify(&mut self, now: Instant, call: CallId, id: u32) {
        let Some(transport) = self.calls.get(&call).map(|c| c.peer.transport) else {
            return;
        };
        let Some(t) = self.in_transfer(call, TransferId(id)) else {
            return;
        };
        if t.in_flight.is_some() {
            return;
        }
        let Some(q) = t.queued.take() else {
            return;
        };
        let left = t
            .expires_at
            .map_or(Duration::ZERO, |e| e.saturating_duration_since(now));
        let state = SubscriptionState {
            state: if q.terminate.is_some() {
                SubState::Terminated
            } else {
                SubState::Active
            },
            // Whole seconds, rounded up: never "active;expires=0".
            expires: q.terminate.is_none().then(|| {
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                secs.clamp(1, u64::from(u32::MAX)) as u32
            }),
            reason: q.terminate.map(str::to_string),
        };
        let via = self.via(transport);
        let Some(dialog) = self.calls.get_mut(&call).and_then(|c| c.dialog.as_mut()) else {
            return;
        };
        let mut notify = dialog.request(Method::Notify, &via, None);
        notify
            .headers
            .push(Header::Other("Event".into(), format!("refer;id={id}")));
        notify.headers.push(Header::Other(
            "Subscription-State".into(),
            state.to_header_value(),
        ));
        let body = sipfrag(q.code, &q.reason);
        set_body(
            &mut notify.headers,
            &mut notify.body,
            "message/sipfrag;version=2.0",
            body.as_bytes(),
        );
        finish_request(&mut notify);
        let dest = self.in_dialog_destination(call);
        match self.tx.send_request(now, notify, dest) {
            Ok(key) => {
                self.owners.insert(key, Owner::Refer(call));
                if let Some(t) = self.in_transfer(call, TransferId(id)) {
                    t.in_flight = Some(key);
                }
            }
            Err(e) => {
                tracing::warn!(%call, id, error = %e, "NOTIFY not sent; subscription dropped");
                self.forget_in_transfer(call, id);
            }
        }
    }

    /// A final response (or `408` for a timeout) to a NOTIFY we sent: the
    /// next one goes, or the subscription ends — after its terminating
    /// NOTIFY, or when the referrer refuses one (481: it has no such
    /// subscription; any failure removes it, RFC 6665 §4.2.2).
    pub(super) fn notify_response(&mut self, now: Instant, call: CallId, key: TxKey, code: u16) {
        if code < 200 {
            return;
        }
        let id = self.transfers.calls.get(&call).and_then(|t| {
            t.inbound
                .iter()
                .find_map(|(id, i)| (i.in_flight == Some(key)).then_some(*id))
        });
        let Some(id) = id else {
            return;
        };
        let Some(t) = self.in_transfer(call, TransferId(id)) else {
            return;
        };
        t.in_flight = None;
        if code >= 300 {
            tracing::info!(%call, id, code, "NOTIFY refused; transfer subscription over");
            return self.forget_in_transfer(call, id);
        }
        if t.queued.is_some() {
            self.send_next_notify(now, call, id);
        } else if t.closing {
            self.forget_in_transfer(call, id);
        }
    }

    /// Every transfer deadline of every call: unanswered REFERs (603),
    /// expired subscriptions we notify (a last NOTIFY with
    /// `terminated;reason=timeout`), our REFERs' subscriptions.
    pub(super) fn transfer_timers(&mut self, now: Instant) {
        for call in self.transfers.due(now) {
            self.out_transfer_deadlines(now, call);
            let Some(t) = self.transfers.calls.get(&call) else {
                continue;
            };
            let unanswered: Vec<u32> = t
                .inbound
                .iter()
                .filter(
                    |(_, i)| matches!(i.step, InStep::Asked { answer_by, .. } if answer_by <= now),
                )
                .map(|(id, _)| *id)
                .collect();
            let expired: Vec<u32> = t
                .inbound
                .iter()
                .filter(|(_, i)| {
                    matches!(i.step, InStep::Accepted)
                        && !i.closing
                        && i.expires_at.is_some_and(|e| e <= now)
                })
                .map(|(id, _)| *id)
                .collect();
            for id in unanswered {
                tracing::warn!(%call, id, "REFER not answered by the application; refusing it");
                if let Ok((key, req)) = self.take_asked(call, TransferId(id)) {
                    self.respond_code(now, key, &req, 603);
                }
                self.forget_in_transfer(call, id);
            }
            for id in expired {
                if let Some(t) = self.in_transfer(call, TransferId(id)) {
                    t.closing = true;
                    t.queued = Some(QueuedNotify {
                        code: t.last.0,
                        reason: t.last.1.clone(),
                        terminate: Some("timeout"),
                    });
                }
                self.send_next_notify(now, call, id);
            }
        }
    }

    /// `call` ended: its subscriptions go with its dialog. Our REFERs with
    /// no outcome yet fail (`DialogEnded`); a REFER still waiting for the
    /// application gets 487. The dialog is remembered so a Replaces naming
    /// it gets 603 (RFC 3891 §3).
    pub(super) fn transfers_call_ended(&mut self, now: Instant, call: CallId, c: &Call) {
        if let Some(d) = &c.dialog {
            self.transfers.remember_ended(d.id.clone());
        }
        let Some(t) = self.transfers.calls.remove(&call) else {
            return;
        };
        for (id, out) in t.out {
            if !out.reported {
                self.events.push_back(Event::TransferFailed {
                    call,
                    transfer: TransferId(id),
                    reason: crate::refer::TransferFailure::DialogEnded,
                });
            }
        }
        for (_, i) in t.inbound {
            if let InStep::Asked { key, .. } = i.step {
                self.respond_code(now, key, &i.request, 487);
            }
        }
    }

    /// A response saying why in a `Warning: 399` (RFC 3261 §20.43), e.g.
    /// what is wrong with a REFER's Refer-To.
    fn respond_warning(&mut self, now: Instant, key: TxKey, req: &Request, code: u16, why: &str) {
        let transport = crate::transport::Transport::Udp;
        let mut resp = self.response(req, code, None, transport, None);
        let text: String = why
            .chars()
            .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
            .collect();
        let agent = self.cfg.sent_by(transport);
        resp.headers
            .push(Header::Warning(format!("399 {agent} \"{text}\"").into()));
        self.respond_or_log(now, key, resp);
    }
}
