//! The calls of an endpoint, with their timers in a deadline queue.
//!
//! Reads go through `Deref` to the map; every mutable access goes through
//! [`CallTable::get_mut`], [`CallTable::insert`] or [`CallTable::remove`],
//! which note the call as changed. Changed calls are re-queued at their
//! [`Call::next_deadline`] on the next mutable access, so at most a few are
//! pending at any time and [`CallTable::next_deadline`] never scans the table.
//!
//! Calls are also indexed by their INVITE's Call-ID, so matching a message to
//! its dialog ([`CallTable::with_call_id`]) looks at the calls sharing that
//! Call-ID (one, or a few forks) rather than at every call.

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::time::Instant;

use crate::session::{Call, CallId};
use crate::timer_queue::TimerQueue;

#[derive(Debug, Default)]
pub(super) struct CallTable {
    /// Boxed: a B-tree node has room for eleven entries, many of them
    /// empty, and a call inline (its INVITE, dialog and re-INVITE state) is
    /// large.
    map: BTreeMap<CallId, Box<Call>>,
    queue: TimerQueue<CallId>,
    /// Calls changed since their deadline was last queued.
    dirty: Vec<CallId>,
    /// Calls by the Call-ID of their INVITE, oldest first (ids ascend). A
    /// call's Call-ID never changes: a retried INVITE (challenge, 422)
    /// keeps it (RFC 3261 §8.1.3.5).
    by_call_id: HashMap<String, Vec<CallId>>,
}

impl Deref for CallTable {
    type Target = BTreeMap<CallId, Box<Call>>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl CallTable {
    /// Re-queues the changed calls at their current deadlines.
    fn flush(&mut self) {
        for id in self.dirty.drain(..) {
            let at = self.map.get(&id).and_then(|c| c.next_deadline());
            self.queue.set_or_cancel(id, at);
        }
    }

    fn touch(&mut self, id: CallId) {
        if !self.dirty.contains(&id) {
            self.dirty.push(id);
        }
    }

    pub(super) fn get_mut(&mut self, id: &CallId) -> Option<&mut Call> {
        self.flush();
        self.touch(*id);
        self.map.get_mut(id).map(|c| &mut **c)
    }

    pub(super) fn insert(&mut self, id: CallId, call: Call) {
        self.flush();
        self.touch(id);
        let key = call_id_of(&call).to_owned();
        if let Some(old) = self.map.insert(id, Box::new(call)) {
            self.unindex(id, call_id_of(&old));
        }
        self.by_call_id.entry(key).or_default().push(id);
    }

    pub(super) fn remove(&mut self, id: &CallId) -> Option<Call> {
        self.flush();
        self.queue.cancel(*id);
        let call = self.map.remove(id)?;
        self.unindex(*id, call_id_of(&call));
        Some(*call)
    }

    fn unindex(&mut self, id: CallId, call_id: &str) {
        if let Some(ids) = self.by_call_id.get_mut(call_id) {
            ids.retain(|c| *c != id);
            if ids.is_empty() {
                self.by_call_id.remove(call_id);
            }
        }
    }

    /// The calls whose INVITE carries this Call-ID, in id order (what a
    /// scan of the whole table would meet first comes first).
    pub(super) fn with_call_id<'a>(
        &'a self,
        call_id: &str,
    ) -> impl Iterator<Item = (CallId, &'a Call)> + 'a {
        self.by_call_id
            .get(call_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.map.get(id).map(|c| (*id, &**c)))
    }

    /// The earliest deadline of any call: the queue's head, or a call
    /// changed since (whose queued deadline may be stale).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let pending = self
            .dirty
            .iter()
            .filter_map(|id| self.map.get(id).and_then(|c| c.next_deadline()));
        pending.chain(self.queue.next_deadline()).min()
    }

    /// The calls with a deadline at or before `now`, in id order. Each is
    /// noted as changed, so it is re-queued once its timers have run.
    pub(super) fn due(&mut self, now: Instant) -> Vec<CallId> {
        self.flush();
        let mut due: Vec<CallId> = std::iter::from_fn(|| self.queue.pop_due(now))
            .map(|(id, _)| id)
            .collect();
        due.sort_unstable();
        for &id in &due {
            self.touch(id);
        }
        due
    }
}

/// The Call-ID a call is indexed by: its INVITE's header value as received
/// or sent, which is what the dialog and the lookups compare (empty when
/// missing: such an INVITE never gets this far).
fn call_id_of(call: &Call) -> &str {
    crate::message::header(&call.invite, "Call-ID").unwrap_or_default()
}
