//! The transaction table and its entry points.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tracing::{debug, trace};

use crate::rsip::{Method, Request, Response, SipMessage};
use crate::transport::{Destination, Transmit};

use crate::timer_queue::TimerQueue;

use super::key::{self, MatchKey, Role, TxKey};
use super::{
    build, client_invite, client_non_invite, server_invite, server_non_invite, Output,
    RequestDisposition, ResponseDisposition, Step, TimerKind, TimerTable, Timers, Traced,
    Transaction, TxError, TxEvent, TxState, Wire,
};

/// The four transaction machines of RFC 3261 §17.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    InviteClient,
    NonInviteClient,
    InviteServer,
    NonInviteServer,
}

fn kind_of(key: TxKey) -> Kind {
    match (key.role(), key.method() == Method::Invite) {
        (Role::Client, true) => Kind::InviteClient,
        (Role::Client, false) => Kind::NonInviteClient,
        (Role::Server, true) => Kind::InviteServer,
        (Role::Server, false) => Kind::NonInviteServer,
    }
}

fn status_of(resp: &Response) -> Result<u16, TxError> {
    let code = resp.status_code.code();
    if (100..=699).contains(&code) {
        Ok(code)
    } else {
        Err(TxError::BadStatus(code))
    }
}

/// Every transaction of one endpoint, sans-IO (see the module docs).
///
/// Every armed timer of every transaction sits in one deadline queue, so
/// [`TransactionLayer::poll_timeout`] is O(1) and
/// [`TransactionLayer::handle_timeout`] touches only the due timers, in
/// deadline order (ties in arming order): outputs are deterministic.
/// Transactions leave the table when they terminate, with a
/// [`TxEvent::Terminated`].
#[derive(Debug)]
pub struct TransactionLayer {
    timers: Timers,
    next_id: u64,
    /// Boxed: a table sized for a burst keeps its slots, and a slot the size
    /// of a whole transaction (request included) would be most of it.
    txs: HashMap<u64, Box<Transaction>>,
    /// The armed timers of all transactions, keyed by (transaction id, kind).
    queue: TimerQueue<(u64, TimerKind)>,
    client_index: HashMap<MatchKey, TxKey>,
    server_index: HashMap<MatchKey, TxKey>,
    /// New server transactions beyond this many are refused
    /// ([`RequestDisposition::Overloaded`]), once no lingering one is left
    /// to forget.
    server_limit: usize,
    /// Server transactions that sent their final response and only absorb
    /// retransmissions until Timer J, L or I (see [`lingers`]), oldest
    /// first; entries of transactions gone since are skipped.
    lingering: VecDeque<TxKey>,
    out: Output,
}

/// A server transaction whose final response is out and that only waits to
/// absorb retransmissions: a non-INVITE one in Completed (Timer J), an
/// INVITE one Accepted (2xx sent: the UAS core retransmits the 2xx, and the
/// ACK for it is a transaction of its own) or Confirmed (Timer I). An INVITE
/// one in Completed still retransmits its non-2xx until the ACK: it is not
/// lingering.
fn lingers(key: TxKey, state: TxState) -> bool {
    match kind_of(key) {
        Kind::NonInviteServer => state == TxState::Completed,
        Kind::InviteServer => matches!(state, TxState::Accepted | TxState::Confirmed),
        _ => false,
    }
}

impl Default for TransactionLayer {
    fn default() -> Self {
        Self::new(Timers::default())
    }
}

impl TransactionLayer {
    /// An empty layer using `timers` (values below 1 ms are raised to 1 ms).
    pub fn new(timers: Timers) -> Self {
        TransactionLayer {
            timers: timers.sanitized(),
            next_id: 1,
            txs: HashMap::new(),
            queue: TimerQueue::new(),
            client_index: HashMap::new(),
            server_index: HashMap::new(),
            server_limit: usize::MAX,
            lingering: VecDeque::new(),
            out: Output::default(),
        }
    }

    /// The timer values in use.
    pub fn timers(&self) -> Timers {
        self.timers
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Number of live server transactions.
    pub fn server_len(&self) -> usize {
        self.server_index.len()
    }

    /// At most `limit` server transactions at once: a flood of new requests
    /// (each kept up to 32 s by Timer H or J) must not grow memory without
    /// bound. Requests matching a live transaction and CANCELs of live
    /// INVITEs are still handled beyond it. At the limit, a new request
    /// first makes room by forgetting the oldest lingering transaction (one
    /// that only absorbs retransmissions of a request already answered):
    /// only requests in progress refuse new ones, so a steady call rate
    /// whose answered BYEs and INVITEs linger 32 s is not refused for them.
    pub fn set_server_limit(&mut self, limit: usize) {
        self.server_limit = limit;
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    fn insert(
        &mut self,
        method: Method,
        role: Role,
        mk: MatchKey,
        req: Request,
        peer: Destination,
    ) -> TxKey {
        let key = TxKey::new(self.next_id, method, role);
        self.next_id += 1;
        let request_wire = match role {
            Role::Client => Wire::request(&req),
            Role::Server => Wire::default(),
        };
        let index = match role {
            Role::Client => &mut self.client_index,
            Role::Server => &mut self.server_index,
        };
        index.insert(mk.clone(), key);
        let tx = Box::new(Transaction {
            key,
            match_key: mk,
            state: TxState::Trying,
            cseq: key::cseq(&req).ok(),
            request: Some(req),
            peer,
            request_wire,
            resend: None,
            timers: TimerTable::default(),
            interval: Duration::ZERO,
        });
        self.txs.insert(key.id(), tx);
        debug!(%key, %peer, "transaction created");
        key
    }

    fn get(&self, key: TxKey) -> Option<&Transaction> {
        self.txs
            .get(&key.id())
            .map(|tx| &**tx)
            .filter(|tx| tx.key == key)
    }

    /// Copies the timer changes transaction `id` made in its last step into
    /// the deadline queue.
    fn sync(&mut self, id: u64) {
        if let Some(tx) = self.txs.get_mut(&id) {
            for (kind, at) in tx.timers.take_changes() {
                self.queue.set_or_cancel((id, kind), at);
            }
        }
    }

    fn remove(&mut self, key: TxKey) {
        let Some(mut tx) = self.txs.remove(&key.id()) else {
            return;
        };
        let _ = tx.timers.take_changes();
        for kind in tx.timers.armed() {
            self.queue.cancel((key.id(), kind));
        }
        let index = match key.role() {
            Role::Client => &mut self.client_index,
            Role::Server => &mut self.server_index,
        };
        if index.get(&tx.match_key) == Some(&key) {
            index.remove(&tx.match_key);
        }
        debug!(%key, state = ?tx.state, "transaction terminated");
        self.out.event(TxEvent::Terminated(key));
        // Lingering transactions mostly end in the order they began to
        // linger (same timer): the queue's front is trimmed as they go, so
        // it stays about as long as the transactions still lingering.
        while let Some(&front) = self.lingering.front() {
            if self.get(front).is_some() {
                break;
            }
            self.lingering.pop_front();
        }
    }

    /// Notes that server transaction `key` may have begun to linger in its
    /// last step (it was in state `before`).
    fn note_lingering(&mut self, key: TxKey, before: TxState) {
        let after = self.get(key).map(|tx| tx.state);
        if after.is_some_and(|a| lingers(key, a)) && !lingers(key, before) {
            self.lingering.push_back(key);
        }
    }

    /// Forgets the oldest lingering server transaction, if any: what a new
    /// request may take the place of at the limit.
    fn evict_lingering(&mut self) -> bool {
        while let Some(key) = self.lingering.pop_front() {
            if self.get(key).is_some_and(|tx| lingers(key, tx.state)) {
                debug!(%key, "lingering transaction forgotten to make room");
                self.remove(key);
                return true;
            }
        }
        false
    }

    /// Start a client transaction for `req` towards `dest` and queue its first
    /// transmission. The top Via must carry a fresh `z9hG4bK` branch and the
    /// CSeq method must match; ACK is refused (send it with
    /// [`TransactionLayer::send_stateless`]).
    pub fn send_request(
        &mut self,
        now: Instant,
        req: Request,
        dest: Destination,
    ) -> Result<TxKey, TxError> {
        if req.method == Method::Ack {
            return Err(TxError::AckIsNotATransaction);
        }
        let mk = key::client_key_for_request(&req)?;
        if self.client_index.contains_key(&mk) {
            return Err(TxError::DuplicateBranch {
                branch: mk.branch,
                method: mk.method,
            });
        }
        let method = req.method;
        let key = self.insert(method, Role::Client, mk, req, dest);
        let timers = self.timers;
        if let Some(tx) = self.txs.get_mut(&key.id()) {
            match kind_of(key) {
                Kind::InviteClient => client_invite::start(tx, now, &timers, &mut self.out),
                _ => client_non_invite::start(tx, now, &timers, &mut self.out),
            }
        }
        self.sync(key.id());
        Ok(key)
    }

    /// A response arrived from `src`. Matched on top Via branch and CSeq
    /// method (§17.1.3).
    pub fn on_response(
        &mut self,
        now: Instant,
        resp: Response,
        src: Destination,
    ) -> Result<ResponseDisposition, TxError> {
        status_of(&resp)?;
        let mk = key::client_key_for_response(&resp)?;
        let Some(&key) = self.client_index.get(&mk) else {
            trace!(%src, branch = %mk.branch, "response matches no transaction");
            return Ok(ResponseDisposition::Stray(resp));
        };
        let timers = self.timers;
        let Some(tx) = self.txs.get_mut(&key.id()) else {
            return Ok(ResponseDisposition::Stray(resp));
        };
        let disposition = match kind_of(key) {
            Kind::InviteClient => client_invite::on_response(tx, now, resp, &timers, &mut self.out),
            _ => client_non_invite::on_response(tx, now, resp, &timers),
        };
        self.sync(key.id());
        Ok(disposition)
    }

    /// A request arrived from `src` (responses go back there, on the same
    /// transport/connection). Matched per §17.2.3; a CANCEL is also matched
    /// to the INVITE it cancels (§9.2), whatever that INVITE's state: the TU
    /// checks [`TransactionLayer::state`] to decide between 200 + 487 and a
    /// plain 200.
    pub fn on_request(
        &mut self,
        now: Instant,
        req: Request,
        src: Destination,
    ) -> Result<RequestDisposition, TxError> {
        let mk = key::server_key(&req)?;
        if let Some(&key) = self.server_index.get(&mk) {
            let timers = self.timers;
            if let Some(tx) = self.txs.get_mut(&key.id()) {
                let before = tx.state;
                let disposition = match kind_of(key) {
                    Kind::InviteServer => {
                        server_invite::on_request(tx, now, req, &timers, &mut self.out)
                    }
                    _ => server_non_invite::on_request(tx, &mut self.out),
                };
                self.sync(key.id());
                self.note_lingering(key, before);
                return Ok(disposition);
            }
        }
        let method = req.method;
        match method {
            Method::Ack => Ok(RequestDisposition::Ack2xxOrStray(req)),
            Method::Cancel => {
                let invite_tx = self
                    .server_index
                    .get(&mk.with_method(Method::Invite))
                    .copied();
                let cancel_tx = self.insert(method, Role::Server, mk, req, src);
                if let Some(tx) = self.txs.get_mut(&cancel_tx.id()) {
                    server_non_invite::start(tx);
                }
                Ok(RequestDisposition::CancelFor {
                    cancel_tx,
                    invite_tx,
                })
            }
            _ if self.server_index.len() >= self.server_limit && !self.evict_lingering() => {
                Ok(RequestDisposition::Overloaded(req))
            }
            _ => {
                let key = self.insert(method, Role::Server, mk, req, src);
                if let Some(tx) = self.txs.get_mut(&key.id()) {
                    match kind_of(key) {
                        Kind::InviteServer => server_invite::start(tx, now),
                        _ => server_non_invite::start(tx),
                    }
                }
                self.sync(key.id());
                Ok(RequestDisposition::New(key))
            }
        }
    }

    /// Send `resp` on server transaction `key`, back to the request's source.
    /// The layer keeps it for retransmission as the state machine requires;
    /// a 2xx to INVITE is sent once per call (the TU retransmits it until the
    /// ACK, §13.3.1.4, and may do so through this method while the
    /// transaction is Accepted). Refused, with no state change, when `key` is
    /// a client or dead transaction, the status is outside 100..=699, the
    /// response's CSeq is not the request's, or the state allows no such
    /// response (e.g. a second final response).
    pub fn respond(&mut self, now: Instant, key: TxKey, resp: Response) -> Result<(), TxError> {
        if key.is_client() {
            return Err(TxError::NotAServerTransaction(key));
        }
        let code = status_of(&resp)?;
        let timers = self.timers;
        let out = &mut self.out;
        let tx = self
            .txs
            .get_mut(&key.id())
            .filter(|tx| tx.key == key)
            .ok_or(TxError::UnknownTransaction(key))?;
        let want = tx
            .cseq
            .clone()
            .ok_or(TxError::MissingHeader { header: "CSeq" })?;
        let got = key::cseq(&resp)?;
        if want != got {
            return Err(TxError::CSeqMismatch {
                key,
                want: want.to_string(),
                got: got.to_string(),
            });
        }
        let wire = Wire::response(&resp);
        let before = tx.state;
        let result = match kind_of(key) {
            Kind::InviteServer => server_invite::respond(tx, now, code, wire, &timers, out),
            _ => server_non_invite::respond(tx, now, code, wire, &timers, out),
        };
        self.sync(key.id());
        self.note_lingering(key, before);
        result
    }

    /// Fire every timer due at `now`, earliest first: retransmissions,
    /// timeouts, terminations. Only due timers are touched.
    pub fn handle_timeout(&mut self, now: Instant) {
        let timers = self.timers;
        while let Some(((id, kind), _)) = self.queue.pop_due(now) {
            let Some(tx) = self.txs.get_mut(&id) else {
                continue;
            };
            tx.timers.fired(kind);
            trace!(key = %tx.key, %kind, "timer fired");
            let step = match kind_of(tx.key) {
                Kind::InviteClient => client_invite::on_timer(tx, kind, now, &mut self.out),
                Kind::NonInviteClient => {
                    client_non_invite::on_timer(tx, kind, now, &timers, &mut self.out)
                }
                Kind::InviteServer => {
                    server_invite::on_timer(tx, kind, now, &timers, &mut self.out)
                }
                Kind::NonInviteServer => server_non_invite::on_timer(kind),
            };
            match step {
                Step::Terminate => {
                    let key = tx.key;
                    self.remove(key);
                }
                Step::Continue => self.sync(id),
            }
        }
    }

    /// The earliest instant at which [`TransactionLayer::handle_timeout`]
    /// has work, if any transaction has an armed timer. O(1).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queue.next_deadline()
    }

    /// Next message to put on the wire.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front().map(|t| t.transmit)
    }

    /// Next message to put on the wire, with the trace line of the message
    /// it carries (kept from when it was built).
    pub(crate) fn poll_transmit_traced(&mut self) -> Option<Traced> {
        self.out.transmits.pop_front()
    }

    /// Next event for the TU.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.out.events.pop_front()
    }

    /// Queue a message outside any transaction: the ACK for a 2xx
    /// (§13.2.2.4), or a 2xx retransmitted by the UAS core (§13.3.1.4).
    pub fn send_stateless(&mut self, msg: &SipMessage, dest: Destination) {
        let wire = match msg {
            SipMessage::Request(r) => Wire::request(r),
            SipMessage::Response(r) => Wire::response(r),
        };
        self.out.send_owned(dest, wire);
    }

    /// The I/O layer could not deliver to `dest` (ICMP error, TCP connection
    /// refused or reset): every transaction talking to `dest` ends with
    /// [`TxEvent::TransportError`] (§17.1.4, §17.2.4).
    pub fn on_transport_error(&mut self, dest: Destination) {
        let mut hit: Vec<TxKey> = self
            .txs
            .values()
            .filter(|tx| tx.peer == dest)
            .map(|tx| tx.key)
            .collect();
        hit.sort_by_key(|k| k.id());
        for key in hit {
            self.out.event(TxEvent::TransportError { key });
            self.remove(key);
        }
    }

    /// The request that created transaction `key`; `None` once a server
    /// transaction has sent its final response (it keeps only what matching
    /// and retransmission need).
    pub fn request(&self, key: TxKey) -> Option<&Request> {
        self.get(key).and_then(|tx| tx.request.as_ref())
    }

    /// Current state of transaction `key`; `None` once it has terminated.
    pub fn state(&self, key: TxKey) -> Option<TxState> {
        self.get(key).map(|tx| tx.state)
    }

    /// Where transaction `key` sends: the request's destination (client) or
    /// the request's source (server).
    pub fn destination(&self, key: TxKey) -> Option<Destination> {
        self.get(key).map(|tx| tx.peer)
    }

    /// CANCEL for INVITE client transaction `key` (§9.1), to be sent with
    /// [`TransactionLayer::send_request`] to [`TransactionLayer::destination`].
    /// `None` unless `key` is an INVITE client transaction still waiting for a
    /// final response: after one, a CANCEL has no effect.
    pub fn build_cancel(&self, key: TxKey) -> Option<Request> {
        let tx = self.get(key)?;
        let waiting = matches!(tx.state, TxState::Calling | TxState::Proceeding);
        if kind_of(key) != Kind::InviteClient || !waiting {
            return None;
        }
        build::cancel(tx.request.as_ref()?)
    }
}
