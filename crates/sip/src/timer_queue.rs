//! A deadline queue: which timer fires next is one query, not a scan.
//!
//! A binary min-heap of `(deadline, sequence, key)` entries with lazy
//! cancellation, in the spirit of quinn-proto's `TimerTable` and str0m's
//! timeouts, but for an open set of keys (one per transaction timer, call,
//! registration…). Each key has at most one live deadline; re-arming or
//! cancelling a key leaves its old heap entry behind, and that entry is
//! recognised as stale (its sequence number is no longer the key's) and
//! skipped. The heap head is kept live after every mutation, so
//! [`TimerQueue::next_deadline`] is O(1) on `&self`; arming, cancelling and
//! popping are O(log n) amortised. Stale entries are purged by a rebuild once
//! they outnumber the live ones, so memory stays O(live keys).
//!
//! Ties: entries with the same deadline fire in the order they were armed.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// One heap entry. Ordered by deadline, then by arming order; the key does
/// not take part (sequence numbers are unique).
#[derive(Debug, Clone, Copy)]
struct Entry<K> {
    at: Instant,
    seq: u64,
    key: K,
}

impl<K> PartialEq for Entry<K> {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl<K> Eq for Entry<K> {}

impl<K> PartialOrd for Entry<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Entry<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Deadlines keyed by `K`, at most one per key (see the module docs).
#[derive(Debug, Clone)]
pub struct TimerQueue<K> {
    heap: BinaryHeap<Reverse<Entry<K>>>,
    /// The live deadline of each armed key, with the sequence number of its
    /// heap entry.
    live: HashMap<K, (Instant, u64)>,
    next_seq: u64,
}

impl<K> Default for TimerQueue<K> {
    fn default() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
            live: HashMap::new(),
            next_seq: 0,
        }
    }
}

impl<K: Copy + Eq + Hash> TimerQueue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arm `key` to fire at `at`, replacing its previous deadline if any.
    pub fn set(&mut self, key: K, at: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.live.insert(key, (at, seq));
        self.heap.push(Reverse(Entry { at, seq, key }));
        self.settle();
    }

    /// Arm `key` at `at`, or disarm it when `at` is `None`.
    pub fn set_or_cancel(&mut self, key: K, at: Option<Instant>) {
        match at {
            Some(at) if self.deadline(key) != Some(at) => self.set(key, at),
            Some(_) => {}
            None => {
                self.cancel(key);
            }
        }
    }

    /// Disarm `key`; returns the deadline it had.
    pub fn cancel(&mut self, key: K) -> Option<Instant> {
        let (at, _) = self.live.remove(&key)?;
        self.settle();
        Some(at)
    }

    /// The live deadline of `key`.
    pub fn deadline(&self, key: K) -> Option<Instant> {
        self.live.get(&key).map(|&(at, _)| at)
    }

    /// The earliest live deadline, O(1).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// The earliest key due at `now` (deadline `<= now`), disarmed so it
    /// fires once, with the deadline it had.
    pub fn pop_due(&mut self, now: Instant) -> Option<(K, Instant)> {
        let Reverse(head) = *self.heap.peek()?;
        if head.at > now {
            return None;
        }
        self.heap.pop();
        self.live.remove(&head.key);
        self.settle();
        Some((head.key, head.at))
    }

    /// Number of armed keys.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// True when no key is armed.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    fn is_live(&self, e: &Entry<K>) -> bool {
        self.live.get(&e.key).is_some_and(|&(_, seq)| seq == e.seq)
    }

    /// Restores the invariant: the heap head is live (or the heap is empty),
    /// and stale entries are at most about as many as live ones.
    fn settle(&mut self) {
        if self.heap.len() > 2 * self.live.len() + 64 {
            let entries: Vec<_> = self
                .live
                .iter()
                .map(|(&key, &(at, seq))| Reverse(Entry { at, seq, key }))
                .collect();
            self.heap = BinaryHeap::from(entries);
        }
        while let Some(Reverse(head)) = self.heap.peek() {
            if self.is_live(head) {
                break;
            }
            self.heap.pop();
        }
    }

    #[cfg(test)]
    fn heap_len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    /// Pops everything due at `now`.
    fn drain(q: &mut TimerQueue<u32>, now: Instant) -> Vec<(u32, Instant)> {
        std::iter::from_fn(|| q.pop_due(now)).collect()
    }

    #[test]
    fn ten_thousand_random_deadlines_fire_in_order() {
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(7);
        let mut q = TimerQueue::new();
        let mut want: Vec<(Instant, u32)> = Vec::new();
        for key in 0..10_000u32 {
            let at = ms(t0, rng.random_range(0..64_000));
            q.set(key, at);
            want.push((at, key));
        }
        // Sorted by deadline; equal deadlines keep arming (key) order.
        want.sort();
        assert_eq!(q.next_deadline(), Some(want[0].0));
        // The fake clock advances in uneven steps; nothing fires early.
        let mut got = Vec::new();
        let mut now = t0;
        while !q.is_empty() {
            now += Duration::from_millis(rng.random_range(1..500));
            for (key, at) in drain(&mut q, now) {
                assert!(at <= now, "{key} fired before its deadline");
                got.push((at, key));
            }
            if let Some(next) = q.next_deadline() {
                assert!(next > now, "a due deadline was left behind");
            }
        }
        assert_eq!(got, want);
    }

    #[test]
    fn cancelled_and_rescheduled_keys_never_fire_at_the_old_deadline() {
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(11);
        let mut q = TimerQueue::new();
        let mut want = BTreeMap::new();
        for key in 0..10_000u32 {
            q.set(key, ms(t0, rng.random_range(0..10_000)));
        }
        for key in 0..10_000u32 {
            match key % 3 {
                0 => assert!(q.cancel(key).is_some()),
                1 => {
                    let at = ms(t0, rng.random_range(10_000..20_000));
                    q.set(key, at);
                    want.insert(key, at);
                }
                _ => {
                    want.insert(key, q.deadline(key).expect("armed"));
                }
            }
        }
        assert_eq!(q.len(), want.len());
        let fired = drain(&mut q, ms(t0, 20_000));
        assert_eq!(fired.len(), want.len());
        for (key, at) in fired {
            assert_eq!(
                want.remove(&key),
                Some(at),
                "{key} fired at a stale deadline"
            );
        }
        assert!(q.is_empty());
        assert_eq!(q.next_deadline(), None);
        assert_eq!(q.heap_len(), 0, "stale entries are gone too");
    }

    #[test]
    fn ties_fire_in_arming_order() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        for key in [5u32, 3, 9, 1] {
            q.set(key, ms(t0, 100));
        }
        q.set(3, ms(t0, 100)); // re-armed: now the last of the tie
        let keys: Vec<u32> = drain(&mut q, ms(t0, 100)).iter().map(|e| e.0).collect();
        assert_eq!(keys, [5, 9, 1, 3]);
    }

    #[test]
    fn nothing_fires_before_its_deadline_and_each_fires_once() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        q.set(1u32, ms(t0, 500));
        assert_eq!(q.pop_due(ms(t0, 499)), None);
        assert_eq!(q.pop_due(ms(t0, 500)), Some((1, ms(t0, 500))));
        assert_eq!(q.pop_due(ms(t0, 10_000)), None);
        assert_eq!(q.cancel(1), None);
    }

    #[test]
    fn stale_entries_do_not_pile_up() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        q.set(0u32, ms(t0, 1)); // a live head keeps stale entries behind it
        for i in 0..100_000u64 {
            q.set(1, ms(t0, 1_000 + i));
            q.set(2, ms(t0, 1_000 + i));
            q.cancel(2);
        }
        assert_eq!(q.len(), 2);
        assert!(
            q.heap_len() <= 2 * q.len() + 65,
            "heap kept {}",
            q.heap_len()
        );
    }

    /// One step of the model test.
    #[derive(Debug, Clone)]
    enum Op {
        Set(u8, u16),
        Cancel(u8),
        Advance(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..32, 0u16..2_000).prop_map(|(k, d)| Op::Set(k, d)),
            2 => (0u8..32).prop_map(Op::Cancel),
            2 => (0u16..300).prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// The queue against a brute-force table scanned in full: same next
        /// deadline after every step, same keys fired at each advance (in
        /// deadline, then arming, order).
        #[test]
        fn matches_a_brute_force_scan(ops in proptest::collection::vec(op(), 1..200)) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut q = TimerQueue::new();
            // key -> (deadline, arming order)
            let mut model: HashMap<u8, (Instant, u64)> = HashMap::new();
            let mut order = 0u64;
            for op in ops {
                match op {
                    Op::Set(k, d) => {
                        let at = now + Duration::from_millis(u64::from(d));
                        q.set(k, at);
                        model.insert(k, (at, order));
                        order += 1;
                    }
                    Op::Cancel(k) => {
                        prop_assert_eq!(q.cancel(k), model.remove(&k).map(|m| m.0));
                    }
                    Op::Advance(d) => {
                        now += Duration::from_millis(u64::from(d));
                        let mut due: Vec<(Instant, u64, u8)> = model
                            .iter()
                            .filter(|(_, &(at, _))| at <= now)
                            .map(|(&k, &(at, o))| (at, o, k))
                            .collect();
                        due.sort();
                        model.retain(|_, &mut (at, _)| at > now);
                        let want: Vec<(u8, Instant)> =
                            due.into_iter().map(|(at, _, k)| (k, at)).collect();
                        let got: Vec<(u8, Instant)> =
                            std::iter::from_fn(|| q.pop_due(now)).collect();
                        prop_assert_eq!(got, want);
                    }
                }
                let scan = model.values().map(|m| m.0).min();
                prop_assert_eq!(q.next_deadline(), scan);
                prop_assert_eq!(q.len(), model.len());
                for (&k, &(at, _)) in &model {
                    prop_assert_eq!(q.deadline(k), Some(at));
                }
            }
        }
    }
}
