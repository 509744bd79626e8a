//! The user agent: one value that owns all SIP state of a softphone — the
//! transaction layer, registrations and calls — and is driven from outside.
//!
//! Inputs: `handle_input(now, src, bytes)` for a received datagram or framed
//! stream message, the user commands (`register`, `call`, `answer`, `hangup`,
//! `reinvite`, `accept_reinvite`, `reject_reinvite`, `update`,
//! `accept_update`, `reject_update`, `early_media`, `transfer`,
//! `attended_transfer`, `accept_transfer`, `reject_transfer`,
//! `notify_transfer`, …) and
//! `handle_timeout(now)`. Outputs: `poll_transmit`, `poll_timeout`,
//! `poll_event`. No clock reads, no sockets: a test drives two endpoints on a
//! fake clock by shuttling their transmits.

mod admission;
mod build;
mod call_table;
mod config;
mod extensions;
mod inbound;
mod keepalive;
mod outbound;
mod prack;
mod refer_in;
mod refer_out;
mod registrar;
mod reinvite_in;
mod reinvite_out;
mod replaces;
mod require;
mod session_timer;
mod uac;
mod uas;
mod update_in;
mod update_out;

pub use admission::{Admission, Refusals};
pub use config::{is_sips, uri_transport, Credentials, EndpointConfig};

use crate::message;
use crate::refer::{state::Transfers, ReferTarget, TransferFailure, TransferId};
use crate::register::{RegId, RegisterError, Registration};
use crate::rsip::{Request, Response, SipMessage};
use crate::session::{CallId, CallState, EndReason};
use crate::transaction::{Traced, TransactionLayer, TxEvent, TxKey, Wire};
use crate::transport::{Destination, Transmit};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Something the user (or the layer above) should know about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The registrar accepted our binding.
    Registered {
        /// Which registration.
        reg: RegId,
        /// The Contact bound.
        contact: String,
        /// Lifetime granted.
        expires: Duration,
    },
    /// The binding was removed (Expires: 0 answered).
    Unregistered {
        /// Which registration.
        reg: RegId,
    },
    /// Registering failed; the registration is gone.
    RegistrationFailed {
        /// Which registration.
        reg: RegId,
        /// Why.
        error: RegisterError,
    },
    /// A new INVITE arrived.
    IncomingCall {
        /// Handle to answer/reject it with.
        call: CallId,
        /// The caller (From value).
        from: String,
        /// The callee (To value).
        to: String,
        /// The SDP offer, if any.
        offer: Option<Vec<u8>>,
        /// All headers of the INVITE as `(name, value)`, for call variables.
        headers: Vec<(String, String)>,
        /// The INVITE carries a Replaces header naming this call of ours
        /// (RFC 3891, attended transfer): answer the new call, then hang up
        /// the replaced one. Replaces naming no dialog, a dialog that ended,
        /// or a confirmed one with `early-only`, was refused (481/603/486)
        /// without an event.
        replaces: Option<CallId>,
    },
    /// A provisional response (180, 183) arrived for our call.
    Progress {
        /// Which call.
        call: CallId,
        /// Status code.
        code: u16,
        /// Early-media SDP (183 with a body).
        sdp: Option<Vec<u8>>,
    },
    /// The call is up: 2xx received and ACKed (UAC), or ACK received (UAS).
    Established {
        /// Which call.
        call: CallId,
        /// The peer's SDP.
        remote_sdp: Option<Vec<u8>>,
    },
    /// The peer sent a re-INVITE. Answer it with
    /// [`Endpoint::accept_reinvite`] (the SDP answer to `offer`, or our offer
    /// when `offer` is `None`) or [`Endpoint::reject_reinvite`] (e.g. 488: the
    /// call keeps its old session). Unanswered after
    /// [`EndpointConfig::reinvite_answer_wait`], the endpoint accepts it with
    /// the call's current local SDP so the peer is never left hanging.
    ReInvite {
        /// Which call.
        call: CallId,
        /// The new offer.
        offer: Option<Vec<u8>>,
    },
    /// The ACK for our 2xx to an offerless re-INVITE arrived: it carries the
    /// answer to the offer we put in the 2xx (`None`: the peer broke
    /// offer/answer by sending none, RFC 3261 §13.2.1).
    ReInviteAckAnswer {
        /// Which call.
        call: CallId,
        /// The peer's SDP answer.
        answer: Option<Vec<u8>>,
    },
    /// Our re-INVITE ([`Endpoint::reinvite`]) was accepted (2xx, ACKed).
    ReInviteAnswered {
        /// Which call.
        call: CallId,
        /// The peer's SDP answer.
        sdp: Option<Vec<u8>>,
    },
    /// Our re-INVITE got a final non-2xx response; the call goes on with the
    /// session it had (RFC 3261 §14.1). A 481 or 408 ends the call instead
    /// (`Ended`, §12.2.1.2).
    ReInviteFailed {
        /// Which call.
        call: CallId,
        /// The final status code.
        code: u16,
    },
    /// The peer sent an UPDATE with an SDP offer (RFC 3311), in an early or
    /// confirmed dialog. Answer it like a re-INVITE offer: with
    /// [`Endpoint::accept_update`] (our SDP answer) or
    /// [`Endpoint::reject_update`] (e.g. 488: the session stays as it was).
    /// Unanswered after [`EndpointConfig::reinvite_answer_wait`], the
    /// endpoint accepts it with the call's current local SDP. UPDATEs
    /// without SDP (session refreshes) are answered by the endpoint and not
    /// reported.
    Update {
        /// Which call.
        call: CallId,
        /// The peer's offer.
        offer: Vec<u8>,
    },
    /// Our UPDATE ([`Endpoint::update`]) was accepted (2xx). With an offer,
    /// the new session is in place on both sides.
    UpdateAnswered {
        /// Which call.
        call: CallId,
        /// The peer's SDP answer (`None` for an UPDATE without offer).
        sdp: Option<Vec<u8>>,
    },
    /// Our UPDATE got a final non-2xx response after the endpoint's own
    /// retries (491 glare, one challenge, one 422); the session stays as it
    /// was. A 481 or 408 ends the call instead (`Ended`).
    UpdateFailed {
        /// Which call.
        call: CallId,
        /// The final status code.
        code: u16,
    },
    /// The call is over.
    Ended {
        /// Which call.
        call: CallId,
        /// Why.
        reason: EndReason,
    },
    /// The peer asks us to transfer `call` (a REFER, RFC 3515): place a call
    /// to `refer_to.uri` (with [`ReferTarget::invite_headers`] as extra
    /// headers, so Replaces and Referred-By go along). Nothing is accepted
    /// silently: answer with [`Endpoint::accept_transfer`] (202, then the
    /// first NOTIFY) or [`Endpoint::reject_transfer`]; unanswered after
    /// 32·T1 the REFER is refused with 603. After accepting, report the new
    /// call's progress with [`Endpoint::notify_transfer`].
    TransferRequested {
        /// The call (dialog) the REFER came in.
        call: CallId,
        /// Which REFER of the call.
        transfer: TransferId,
        /// Where to call, with any Replaces parsed out of the Refer-To.
        refer_to: ReferTarget,
        /// The Referred-By value (RFC 3892), to copy into the new INVITE.
        referred_by: Option<String>,
    },
    /// The peer accepted our REFER ([`Endpoint::transfer`]) with a 2xx: it
    /// is now trying the referred call; `TransferProgress`,
    /// `TransferSucceeded` or `TransferFailed` follow.
    TransferAccepted {
        /// Which call.
        call: CallId,
        /// Which REFER.
        transfer: TransferId,
    },
    /// A NOTIFY reported a provisional status of the referred call (its
    /// sipfrag, e.g. `SIP/2.0 180 Ringing`).
    TransferProgress {
        /// Which call.
        call: CallId,
        /// Which REFER.
        transfer: TransferId,
        /// The status code of the sipfrag.
        code: u16,
        /// The sipfrag's status line.
        status_line: String,
    },
    /// A NOTIFY reported a 2xx for the referred call: the transfer worked;
    /// hang up `call` when the application is done with it.
    TransferSucceeded {
        /// Which call.
        call: CallId,
        /// Which REFER.
        transfer: TransferId,
        /// The sipfrag's status line (`SIP/2.0 200 OK`).
        status_line: String,
    },
    /// Our transfer did not succeed: see [`TransferFailure`]. The call
    /// itself goes on (take it off hold, or try again).
    TransferFailed {
        /// Which call.
        call: CallId,
        /// Which REFER.
        transfer: TransferId,
        /// Why.
        reason: TransferFailure,
    },
    /// A message was sent or received (for `-v` logs and the demo summary).
    Trace {
        /// Direction: true when sent.
        sent: bool,
        /// Peer.
        peer: Destination,
        /// First line of the message.
        first_line: String,
    },
}

/// A user command that could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No such call (ended or never existed).
    #[error("no such call: {0}")]
    NoSuchCall(CallId),
    /// No such registration.
    #[error("no such registration: {0:?}")]
    NoSuchRegistration(RegId),
    /// The command does not fit the call's state.
    #[error("{call}: cannot {action} while {state:?}")]
    WrongState {
        /// Which call.
        call: CallId,
        /// What was asked.
        action: &'static str,
        /// Where the call stands.
        state: CallState,
    },
    /// The transaction layer refused the request.
    #[error("cannot send: {0}")]
    Transaction(String),
    /// Another INVITE transaction of the dialog is still in progress
    /// (RFC 3261 §14.1): wait for `ReInviteAnswered`/`ReInviteFailed` or for
    /// the pending re-INVITE to be answered, then try again.
    #[error("{0}: another INVITE is in progress in this dialog")]
    InviteInProgress(CallId),
    /// `accept_reinvite`/`reject_reinvite` without a re-INVITE to answer.
    #[error("{0}: no re-INVITE waiting for an answer")]
    NoPendingReInvite(CallId),
    /// `accept_update`/`reject_update` without an UPDATE offer to answer.
    #[error("{0}: no UPDATE waiting for an answer")]
    NoPendingUpdate(CallId),
    /// `update` while our previous UPDATE has no final response yet, or
    /// (with an offer) while another offer/answer exchange of the dialog is
    /// in progress (RFC 3311 §5.1): wait for its outcome and try again.
    #[error("{0}: an offer/answer exchange or UPDATE is in progress")]
    OfferPending(CallId),
    /// A rejection needs a final non-2xx status (300-699).
    #[error("{0} is not a final non-2xx status")]
    BadStatus(u16),
    /// No such transfer waiting for this command: never received, already
    /// answered, already at its final NOTIFY, or its subscription is gone.
    #[error("{0}: no {1} waiting for this")]
    NoSuchTransfer(CallId, TransferId),
    /// Replaces can only name a confirmed dialog: the peer of an early
    /// dialog it did not initiate refuses it with 481.
    #[error("{call}: RFC 3891 §3: Replaces needs a confirmed dialog, this one is {state:?} (the consultee would answer 481)")]
    NotConfirmed {
        /// Which call.
        call: CallId,
        /// Where it stands.
        state: CallState,
    },
    /// The target cannot be reached from here.
    #[error("cannot resolve {0}: give an IP address or a host the I/O layer resolved")]
    Unresolvable(String),
}

/// Who owns a client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Call(CallId),
    Reg(RegId),
    /// A REFER of the call, or a NOTIFY of a subscription a REFER created.
    Refer(CallId),
    /// Requests whose outcome nobody waits for (e.g. BYE after a crossed CANCEL).
    Nobody,
}

/// The SIP user agent. See the module documentation.
pub struct Endpoint {
    cfg: EndpointConfig,
    tx: TransactionLayer,
    rng: StdRng,
    calls: call_table::CallTable,
    regs: BTreeMap<RegId, Registration>,
    owners: HashMap<TxKey, Owner>,
    /// Server INVITE transactions → calls, to route CANCEL.
    server_invites: HashMap<TxKey, CallId>,
    /// REFERs and their subscriptions, per call.
    transfers: Transfers,
    /// Messages the core sends outside any transaction.
    out: VecDeque<Traced>,
    events: VecDeque<Event>,
    next_id: u64,
    /// Which new INVITEs may ring.
    admission: admission::AdmissionState,
    /// The I/O layer's explanation of the transport failure being handled.
    transport_reason: Option<String>,
}

impl Endpoint {
    /// A new endpoint. `seed` feeds tags, branches and Call-IDs: tests pass a
    /// fixed seed for reproducible messages, the binary passes entropy.
    pub fn new(cfg: EndpointConfig, seed: u64) -> Self {
        let tx = TransactionLayer::new(cfg.timers);
        Endpoint {
            cfg,
            tx,
            rng: StdRng::seed_from_u64(seed),
            calls: call_table::CallTable::default(),
            regs: BTreeMap::new(),
            owners: HashMap::new(),
            server_invites: HashMap::new(),
            transfers: Transfers::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 1,
            admission: Default::default(),
            transport_reason: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// Number of calls not yet ended.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Credentials to answer challenges with on a call we received (a proxy
    /// may challenge our re-INVITE or BYE, RFC 3261 §22); a call we place has
    /// them from its `CallRequest`.
    pub fn set_credentials(
        &mut self,
        call: CallId,
        credentials: Credentials,
    ) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        c.credentials = Some(credentials);
        Ok(())
    }

    /// State of a call, if it exists.
    pub fn call_state(&self, call: CallId) -> Option<CallState> {
        self.calls.get(&call).map(|c| c.state)
    }

    /// Our current SDP in a call: the last offer or answer we sent that took
    /// effect (a rejected re-INVITE leaves it as it was).
    pub fn local_sdp(&self, call: CallId) -> Option<&[u8]> {
        self.calls.get(&call).map(|c| c.local_sdp.as_slice())
    }

    /// The peer's current SDP in a call, when it sent one.
    pub fn remote_sdp(&self, call: CallId) -> Option<&[u8]> {
        self.calls.get(&call).and_then(|c| c.remote_sdp.as_deref())
    }

    /// The hop a call's INVITE came from (UAS) or went to (UAC), with its
    /// transport: what the binary asks to know whether the call's SDP (and the
    /// SRTP keys in it) crossed that hop inside TLS.
    pub fn call_peer(&self, call: CallId) -> Option<Destination> {
        self.calls.get(&call).map(|c| c.peer)
    }

    /// A received datagram (UDP) or one framed message (TCP) from `src`.
    pub fn handle_input(&mut self, now: Instant, src: Destination, bytes: &[u8]) {
        let msg = match message::parse_datagram(bytes) {
            Ok(m) => m,
            Err(failure) => {
                tracing::debug!(%src, error = %failure, "unparseable SIP message");
                if let Some(resp) = failure.error_response() {
                    // Built as text, not as a message: its trace line is
                    // read back (a rare path: the peer sent garbage).
                    let line = match message::parse_datagram(&resp) {
                        Ok(msg) => first_line(&msg),
                        Err(_) => String::from_utf8_lossy(&resp)
                            .lines()
                            .next()
                            .unwrap_or("")
                            .to_owned(),
                    };
                    self.send_wire(
                        src,
                        Wire {
                            bytes: resp,
                            line: line.into(),
                        },
                    );
                }
                return;
            }
        };
        self.events.push_back(Event::Trace {
            sent: false,
            peer: src,
            first_line: first_line(&msg),
        });
        match msg {
            SipMessage::Request(req) => self.on_request(now, src, req),
            SipMessage::Response(resp) => self.on_response(now, src, resp),
        }
        self.pump(now);
    }

    /// The I/O layer could not deliver to `dest` (TCP connection refused or
    /// reset, no route, wrong address family): the transactions talking to it
    /// fail at once (RFC 3261 §8.1.3.1, §17.1.4) instead of retransmitting
    /// into the void until Timer B or F; calls among them end with
    /// [`EndReason::TransportError`], registrations fail with 503.
    pub fn handle_transport_error(&mut self, now: Instant, dest: Destination) {
        self.tx.on_transport_error(dest);
        self.pump(now);
    }

    /// Like [`handle_transport_error`](Self::handle_transport_error), with
    /// the I/O layer's explanation (e.g. why a TLS certificate was refused),
    /// which the failed registrations and calls carry to the user.
    pub fn handle_transport_failure(&mut self, now: Instant, dest: Destination, reason: &str) {
        self.transport_reason = Some(reason.to_owned());
        self.tx.on_transport_error(dest);
        self.pump(now);
        self.transport_reason = None;
    }

    /// A connection we opened was closed by the peer (or broke) after it was
    /// up. Registrations bound over it lost their flow: the registrar can no
    /// longer reach us through it, so each registers again at once, on a new
    /// connection (RFC 5626 §4.4.1's reaction to a failed flow).
    pub fn handle_flow_closed(&mut self, now: Instant, dest: Destination) {
        let lost: Vec<RegId> = self
            .regs
            .iter()
            .filter(|(_, r)| {
                let reg = r.req.registrar;
                reg.addr == dest.addr
                    && reg.transport.with_conn(None) == dest.transport.with_conn(None)
                    && matches!(r.state, crate::register::RegState::Registered { .. })
            })
            .map(|(id, _)| *id)
            .collect();
        for reg in lost {
            tracing::info!(%dest, "registration flow closed; registering again");
            self.reg_refresh(now, reg);
        }
        self.pump(now);
    }

    /// Time has advanced to `now`: fire due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.core_timers(now);
        self.pump(now);
    }

    /// The next instant `handle_timeout` wants to be called. Transaction and
    /// call timers come from deadline queues, without a scan.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let core = self
            .calls
            .next_deadline()
            .into_iter()
            .chain(self.regs.values().filter_map(|r| r.refresh_at))
            .chain(self.regs.values().filter_map(|r| r.keepalive_at))
            .chain(self.transfers.next_deadline());
        core.chain(self.tx.poll_timeout()).min()
    }

    /// The next message to put on the wire. Its `Trace` event carries the
    /// line kept from when the message was built: our own output is never
    /// parsed again.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self
            .out
            .pop_front()
            .or_else(|| self.tx.poll_transmit_traced())?;
        self.events.push_back(Event::Trace {
            sent: true,
            peer: t.transmit.dest,
            first_line: t.line.to_string(),
        });
        Some(t.transmit)
    }

    /// Queue a message the core built, outside any transaction.
    fn send_wire(&mut self, dest: Destination, wire: Wire) {
        self.out.push_back(Traced {
            transmit: Transmit {
                dest,
                payload: wire.bytes,
            },
            line: wire.line,
        });
    }

    /// The next event for the user.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Drains transaction-layer events into the UA core.
    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.tx.poll_event() {
            match ev {
                TxEvent::Timeout { key, .. } => self.on_tx_timeout(now, key),
                TxEvent::TransportError { key, .. } => self.on_tx_failure(now, key),
                TxEvent::Terminated(key) => {
                    self.owners.remove(&key);
                    self.server_invites.remove(&key);
                }
            }
        }
    }

    fn on_tx_timeout(&mut self, now: Instant, key: TxKey) {
        match self.owners.get(&key).copied() {
            Some(Owner::Call(call)) => self.uac_timeout(now, call, key),
            Some(Owner::Reg(reg)) => {
                if self.reg_failover(now, reg, "no response") {
                    return;
                }
                let wait = self.cfg.timers.t1 * 64;
                self.reg_failed(reg, RegisterError::Timeout(wait));
            }
            Some(Owner::Refer(call)) => self.refer_tx_gone(now, call, key),
            Some(Owner::Nobody) | None => {
                // A server INVITE whose non-2xx was never ACKed: nothing to tell.
            }
        }
    }

    fn on_tx_failure(&mut self, now: Instant, key: TxKey) {
        match self.owners.get(&key).copied() {
            Some(Owner::Call(call)) => {
                let why = self.transport_reason.clone();
                let initial = self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.invite_tx == Some(key) && c.ack.is_none());
                let shown = why.as_deref().unwrap_or("transport error");
                if initial && self.uac_failover(now, call, shown) {
                    return;
                }
                let reason = match why {
                    Some(why) => EndReason::TransportFailed(why),
                    None => EndReason::TransportError,
                };
                self.end_call(now, call, reason)
            }
            Some(Owner::Refer(call)) => self.refer_tx_gone(now, call, key),
            Some(Owner::Reg(reg)) => {
                let shown = self.transport_reason.clone();
                if self.reg_failover(now, reg, shown.as_deref().unwrap_or("transport error")) {
                    return;
                }
                let error = match self.transport_reason.clone() {
                    Some(why) => RegisterError::Transport(why),
                    None => RegisterError::Refused {
                        code: 503,
                        phrase: "transport error".into(),
                    },
                };
                self.reg_failed(reg, error)
            }
            _ => {}
        }
    }

    fn on_response(&mut self, now: Instant, src: Destination, resp: Response) {
        use crate::transaction::ResponseDisposition as D;
        match self.tx.on_response(now, resp, src) {
            Ok(D::Deliver(key, resp)) => match self.owners.get(&key).copied() {
                Some(Owner::Call(call)) => self.uac_response(now, call, key, resp),
                Some(Owner::Reg(reg)) => self.reg_response(now, reg, resp),
                Some(Owner::Refer(call)) => self.refer_response(now, call, key, resp),
                Some(Owner::Nobody) | None => {}
            },
            Ok(D::Absorbed) => {}
            Ok(D::Stray(resp)) => self.stray_response(now, resp),
            Err(e) => tracing::debug!(%src, error = %e, "response dropped"),
        }
    }

    /// Ends a call, reporting it once, and forgets it. A re-INVITE still
    /// waiting for the application gets 487 (§15.1.2: pending requests of a
    /// dialog are answered even when it ends).
    fn end_call(&mut self, now: Instant, call: CallId, reason: EndReason) {
        let Some(mut c) = self.calls.remove(&call) else {
            return;
        };
        self.transfers_call_ended(now, call, &c);
        self.ext_call_ended(now, &mut c);
        if let Some(k) = c.invite_tx {
            self.server_invites.remove(&k);
        }
        if let Some(pending) = c.reinvite_in {
            self.server_invites.remove(&pending.key);
            let resp = self.response(
                &pending.request,
                487,
                Some(&c.local_tag),
                c.peer.transport,
                None,
            );
            if let Err(e) = self.tx.respond(now, pending.key, resp) {
                tracing::debug!(%call, error = %e, "487 for the pending re-INVITE not sent");
            }
        }
        self.events.push_back(Event::Ended { call, reason });
    }

    fn core_timers(&mut self, now: Instant) {
        for call in self.calls.due(now) {
            self.uas_retransmit_2xx(now, call);
            self.reinvite_auto_answer(now, call);
            self.reinvite_backoff_over(now, call);
            self.ext_timers(now, call);
        }
        self.transfer_timers(now);
        let refresh: Vec<RegId> = self
            .regs
            .iter()
            .filter(|(_, r)| r.refresh_at.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for reg in refresh {
            self.reg_refresh(now, reg);
        }
        self.keepalive_timers(now);
    }
}

fn first_line(msg: &SipMessage) -> String {
    message::trace_line(msg)
}

/// The first line of a request, for logs.
pub fn describe_request(r: &Request) -> String {
    format!("{} {}", r.method, r.uri)
}
