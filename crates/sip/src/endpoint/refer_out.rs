//! Transfers we ask for (RFC 3515 as the referrer): REFER in a confirmed
//! call with Refer-To and Referred-By (RFC 3892), its 202, and the NOTIFYs
//! of its implicit subscription that report the referred call's progress.
//! Attended transfer builds the Refer-To's Replaces from a confirmed consult
//! dialog (RFC 3891 §3, RFC 5589 §7).

use super::build::{finish_request, ALLOW};
use super::{Endpoint, EndpointError, Event, Owner};
use crate::message::{self, grammar};
use crate::refer::state::OutTransfer;
use crate::refer::{
    parse_event, parse_sipfrag, ReferTarget, Replaces, SubState, SubscriptionState,
    TransferFailure, TransferId,
};
use crate::rsip::{Header, Method, Request, Response, Uri};
use crate::session::{CallId, CallState};
use crate::transaction::TxKey;
use std::time::{Duration, Instant};

impl Endpoint {
    /// The Replaces that names `consult`, a confirmed call of ours, for a
    /// Refer-To (attended transfer): `to_tag` is the consultee's (remote)
    /// tag, `from_tag` ours, whichever side placed the consult call
    /// (RFC 3891 §3). Refused while the consult call is not confirmed: the
    /// consultee answers 481 to a Replaces for an early dialog it did not
    /// initiate.
    pub fn replaces_for(&self, consult: CallId) -> Result<Replaces, EndpointError> {
        let c = self
            .calls
            .get(&consult)
            .ok_or(EndpointError::NoSuchCall(consult))?;
        let d = c
            .dialog
            .as_ref()
            .filter(|_| c.state == CallState::Confirmed)
            .ok_or(EndpointError::NotConfirmed {
                call: consult,
                state: c.state,
            })?;
        Ok(Replaces {
            call_id: d.id.call_id.clone(),
            to_tag: d.id.remote_tag.clone(),
            from_tag: d.id.local_tag.clone(),
            early_only: false,
        })
    }

    /// Asks the peer of `call` (confirmed) to call `target` (REFER, RFC
    /// 3515): blind transfer with `replaces: None`; attended transfer with
    /// the Replaces of a consult call ([`Endpoint::replaces_for`], or use
    /// [`Endpoint::attended_transfer`]). Sends `Refer-To` and our AoR as
    /// `Referred-By`. Events follow: `TransferAccepted` (2xx), then
    /// `TransferProgress`* and `TransferSucceeded` or `TransferFailed`. A
    /// challenge (401/407) to the REFER is not answered: it fails the
    /// transfer (`Refused`).
    pub fn transfer(
        &mut self,
        now: Instant,
        call: CallId,
        target: Uri,
        replaces: Option<Replaces>,
    ) -> Result<TransferId, EndpointError> {
        let c = self
            .calls
            .get(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        if c.state != CallState::Confirmed {
            return Err(EndpointError::WrongState {
                call,
                action: "transfer",
                state: c.state,
            });
        }
        let via = self.via(c.peer.transport);
        let user_agent = self.cfg.user_agent.clone();
        let Some(dialog) = self.calls.get_mut(&call).and_then(|c| c.dialog.as_mut()) else {
            return Err(EndpointError::NoSuchCall(call));
        };
        let mut refer = dialog.request(Method::Refer, &via, None);
        let id = dialog.local_seq();
        let refer_to = ReferTarget::new(target, replaces).to_refer_to();
        refer
            .headers
            .push(Header::Other("Refer-To".into(), refer_to));
        if let Some(aor) = address_of_record(dialog.local_party()) {
            refer.headers.push(Header::Other("Referred-By".into(), aor));
        }
        refer.headers.push(Header::UserAgent(user_agent.into()));
        refer.headers.push(Header::Allow(ALLOW.into()));
        finish_request(&mut refer);
        let dest = self.in_dialog_destination(call);
        let key = self
            .tx
            .send_request(now, refer, dest)
            .map_err(|e| EndpointError::Transaction(e.to_string()))?;
        self.owners.insert(key, Owner::Refer(call));
        let transfers = self.transfers.of(call);
        transfers.first_out.get_or_insert(id);
        transfers.out.insert(
            id,
            OutTransfer {
                tx: Some(key),
                ..OutTransfer::default()
            },
        );
        self.pump(now);
        Ok(TransferId(id))
    }

    /// Attended transfer: asks the peer of `call` to call the peer of
    /// `consult` (its remote target, the Contact of the consult dialog)
    /// with a Replaces naming `consult`, so the consultee swaps our consult
    /// call for the transferee's. Refused unless `consult` is confirmed
    /// (RFC 3891 §3, see [`Endpoint::replaces_for`]).
    pub fn attended_transfer(
        &mut self,
        now: Instant,
        call: CallId,
        consult: CallId,
    ) -> Result<TransferId, EndpointError> {
        let replaces = self.replaces_for(consult)?;
        let target = self.calls[&consult]
            .dialog
            .as_ref()
            .map(|d| d.remote_target().clone())
            .ok_or(EndpointError::NoSuchCall(consult))?;
        self.transfer(now, call, target, Some(replaces))
    }

    /// A response on a transaction owned by `call`'s transfers: our REFER,
    /// or a NOTIFY we sent as notifier.
    pub(super) fn refer_response(
        &mut self,
        now: Instant,
        call: CallId,
        key: TxKey,
        resp: Response,
    ) {
        let code = u16::from(resp.status_code.clone());
        let id = self.transfers.calls.get(&call).and_then(|t| {
            t.out
                .iter()
                .find_map(|(id, o)| (o.tx == Some(key)).then_some(*id))
        });
        let Some(id) = id else {
            return self.notify_response(now, call, key, code);
        };
        if code < 200 {
            return;
        }
        let first_notify_wait = self.cfg.timers.t1 * 64;
        let Some(out) = self
            .transfers
            .calls
            .get_mut(&call)
            .and_then(|t| t.out.get_mut(&id))
        else {
            return;
        };
        out.tx = None;
        if code < 300 {
            out.accepted = true;
            if !out.notified {
                // RFC 6665 §4.1.2.4: no NOTIFY within 64·T1 of the 2xx means
                // the subscription failed.
                out.deadline = Some(now + first_notify_wait);
            }
            self.events.push_back(Event::TransferAccepted {
                call,
                transfer: TransferId(id),
            });
        } else {
            self.out_transfer_over(call, id, Some(TransferFailure::Refused(code)));
        }
    }

    /// The REFER or NOTIFY transaction `key` timed out or hit a transport
    /// error.
    pub(super) fn refer_tx_gone(&mut self, now: Instant, call: CallId, key: TxKey) {
        let id = self.transfers.calls.get(&call).and_then(|t| {
            t.out
                .iter()
                .find_map(|(id, o)| (o.tx == Some(key)).then_some(*id))
        });
        match id {
            Some(id) => self.out_transfer_over(call, id, Some(TransferFailure::NoAnswer)),
            None => self.notify_response(now, call, key, 408),
        }
    }

    /// Forgets our transfer `id`, reporting `failure` unless an outcome was
    /// already reported.
    fn out_transfer_over(&mut self, call: CallId, id: u32, failure: Option<TransferFailure>) {
        let Some(out) = self
            .transfers
            .calls
            .get_mut(&call)
            .and_then(|t| t.out.remove(&id))
        else {
            return;
        };
        if let (false, Some(reason)) = (out.reported, failure) {
            self.events.push_back(Event::TransferFailed {
                call,
                transfer: TransferId(id),
                reason,
            });
        }
    }

    /// A NOTIFY arrived in `call`'s dialog (CSeq checked): the state of a
    /// REFER we sent (RFC 3515 §2.4.4). 489 for another event package,
    /// 481 when it names no subscription of ours, else 200 and the events.
    pub(super) fn notify_received(&mut self, now: Instant, key: TxKey, call: CallId, req: Request) {
        let id = match notify_id(&req) {
            Ok(id) => id,
            Err(code) => return self.respond_code(now, key, &req, code),
        };
        let first = self.transfers.calls.get(&call).and_then(|t| t.first_out);
        let Some(id) = id.or(first) else {
            return self.respond_code(now, key, &req, 481);
        };
        let known = self
            .transfers
            .calls
            .get(&call)
            .is_some_and(|t| t.out.contains_key(&id));
        if !known {
            return self.respond_code(now, key, &req, 481);
        }
        let state = match message::header(&req, "Subscription-State").map(SubscriptionState::parse)
        {
            Some(Ok(s)) => s,
            _ => return self.respond_code(now, key, &req, 400),
        };
        self.respond_code(now, key, &req, 200);
        let frag = sipfrag_of(&req);
        self.out_transfer_notified(now, call, id, state, frag);
    }

    fn out_transfer_notified(
        &mut self,
        now: Instant,
        call: CallId,
        id: u32,
        state: SubscriptionState,
        frag: Option<(u16, String)>,
    ) {
        // The notifier sends a terminating NOTIFY when the subscription
        // expires; give it the 64·T1 a non-INVITE transaction may take to
        // get through before calling the transfer timed out.
        let grace = self.cfg.timers.t1 * 64;
        let Some(out) = self
            .transfers
            .calls
            .get_mut(&call)
            .and_then(|t| t.out.get_mut(&id))
        else {
            return;
        };
        out.notified = true;
        out.deadline = match state.expires {
            Some(secs) => Some(now + Duration::from_secs(u64::from(secs)) + grace),
            None => out.deadline.or(Some(now + grace)),
        };
        let transfer = TransferId(id);
        if let (false, Some((code, status_line))) = (out.reported, frag) {
            let event = match code {
                100..=199 => Event::TransferProgress {
                    call,
                    transfer,
                    code,
                    status_line,
                },
                200..=299 => Event::TransferSucceeded {
                    call,
                    transfer,
                    status_line,
                },
                _ => Event::TransferFailed {
                    call,
                    transfer,
                    reason: TransferFailure::CallFailed(code),
                },
            };
            out.reported = code >= 200;
            self.events.push_back(event);
        }
        if state.state == SubState::Terminated {
            self.out_transfer_over(call, id, Some(TransferFailure::Terminated(state.reason)));
        }
    }

    /// Subscriptions of our REFERs that expired without a final status.
    pub(super) fn out_transfer_deadlines(&mut self, now: Instant, call: CallId) {
        let due: Vec<u32> = self
            .transfers
            .calls
            .get(&call)
            .map(|t| {
                t.out
                    .iter()
                    .filter(|(_, o)| o.deadline.is_some_and(|d| d <= now))
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default();
        for id in due {
            self.out_transfer_over(call, id, Some(TransferFailure::Timeout));
        }
    }
}

/// The `id` of a `refer` NOTIFY (`None`: no id, the first REFER), or the
/// status to refuse it with: 489 Bad Event for a missing Event or another
/// package (RFC 6665 §8.3.2), 400 for a malformed one.
fn notify_id(req: &Request) -> Result<Option<u32>, u16> {
    let event = message::header(req, "Event").ok_or(489u16)?;
    let (package, id) = parse_event(event).map_err(|_| 400u16)?;
    if !package.eq_ignore_ascii_case("refer") {
        return Err(489);
    }
    Ok(id)
}

/// The status of a NOTIFY's sipfrag body, when it has one (a body with
/// another Content-Type is ignored).
fn sipfrag_of(req: &Request) -> Option<(u16, String)> {
    let ctype = message::content_type(req).ok().flatten();
    if ctype.is_some_and(|t| t != "message/sipfrag") {
        return None;
    }
    parse_sipfrag(&req.body)
}

/// `<uri>` of a From/To value (display name and tag dropped): our AoR for
/// Referred-By.
fn address_of_record(party: &str) -> Option<String> {
    grammar::parse_addr(party)
        .ok()
        .map(|a| format!("<{}>", a.uri))
}
