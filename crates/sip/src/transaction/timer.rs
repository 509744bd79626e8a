//! Timer values (RFC 3261 §17, table 4) and the per-transaction timer table.
//!
//! Each transaction keeps one deadline slot per timer kind; the layer mirrors
//! the armed slots into one [`crate::timer_queue::TimerQueue`], so "which timer
//! fires next" is one query over all transactions.

use std::fmt;
use std::time::{Duration, Instant};

/// The base timer values T1, T2 and T4 (RFC 3261 §17.1.1.1, table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate; retransmission intervals start here (default 500 ms).
    pub t1: Duration,
    /// Cap on non-INVITE and response retransmission intervals (default 4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (default 5 s).
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// The smallest value a base timer may take. A zero T1 would make the
    /// retransmission timers fire forever at the same instant.
    pub const MIN: Duration = Duration::from_millis(1);

    /// Copy with every base value raised to at least [`Timers::MIN`] and T2
    /// raised to at least T1, so the doubling schedules stay well formed.
    pub(crate) fn sanitized(self) -> Self {
        let t1 = self.t1.max(Self::MIN);
        Timers {
            t1,
            t2: self.t2.max(t1),
            t4: self.t4.max(Self::MIN),
        }
    }

    /// 64*T1: timers B, F, H, J (UDP), L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}

/// How long the Trying timer of an INVITE server transaction waits for the TU
/// before the layer answers 100 Trying itself (RFC 3261 §17.2.1).
pub const TRYING_DELAY: Duration = Duration::from_millis(200);

/// The transaction timers of RFC 3261 §17 and RFC 6026.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// INVITE client: request retransmission (UDP).
    A,
    /// INVITE client: transaction timeout.
    B,
    /// INVITE client: wait for response retransmissions in Completed.
    D,
    /// Non-INVITE client: request retransmission (UDP).
    E,
    /// Non-INVITE client: transaction timeout.
    F,
    /// Non-INVITE client: wait for response retransmissions in Completed.
    K,
    /// INVITE server: final response retransmission (UDP).
    G,
    /// INVITE server: wait for ACK.
    H,
    /// INVITE server: wait for ACK retransmissions in Confirmed.
    I,
    /// Non-INVITE server: wait for request retransmissions in Completed.
    J,
    /// INVITE server (RFC 6026): wait for INVITE retransmissions in Accepted.
    L,
    /// INVITE client (RFC 6026): wait for 2xx retransmissions in Accepted.
    M,
    /// INVITE server: send 100 Trying if the TU has not answered (§17.2.1).
    Trying,
}

impl TimerKind {
    const ALL: [TimerKind; 13] = [
        TimerKind::A,
        TimerKind::B,
        TimerKind::D,
        TimerKind::E,
        TimerKind::F,
        TimerKind::K,
        TimerKind::G,
        TimerKind::H,
        TimerKind::I,
        TimerKind::J,
        TimerKind::L,
        TimerKind::M,
        TimerKind::Trying,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for TimerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimerKind::Trying => f.write_str("Timer Trying"),
            other => write!(f, "Timer {other:?}"),
        }
    }
}

/// One optional deadline per timer kind, plus which slots changed since the
/// layer last looked. The state machines arm and stop timers here; the layer
/// copies the changes into its deadline queue after each step, so finding the
/// next deadline never scans the transactions.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    slots: [Option<Instant>; TimerKind::ALL.len()],
    /// Bit `i` set: slot `i` changed since the last [`TimerTable::take_changes`].
    dirty: u16,
}

impl TimerTable {
    /// Arm `kind` to fire at `at`, replacing any earlier deadline.
    pub(crate) fn set(&mut self, kind: TimerKind, at: Instant) {
        self.slots[kind.index()] = Some(at);
        self.dirty |= 1 << kind.index();
    }

    /// Disarm `kind`.
    pub(crate) fn stop(&mut self, kind: TimerKind) {
        if self.slots[kind.index()].take().is_some() {
            self.dirty |= 1 << kind.index();
        }
    }

    /// `kind` fired: disarmed without being reported as a change (the queue
    /// it fired from already forgot it).
    pub(crate) fn fired(&mut self, kind: TimerKind) {
        self.slots[kind.index()] = None;
        self.dirty &= !(1 << kind.index());
    }

    /// The slots changed since the last call, with their deadlines now
    /// (`None`: stopped).
    pub(crate) fn take_changes(&mut self) -> impl Iterator<Item = (TimerKind, Option<Instant>)> {
        let (dirty, slots) = (std::mem::take(&mut self.dirty), self.slots);
        TimerKind::ALL
            .into_iter()
            .filter(move |k| dirty & (1 << k.index()) != 0)
            .map(move |k| (k, slots[k.index()]))
    }

    /// The armed timers.
    pub(crate) fn armed(&self) -> impl Iterator<Item = TimerKind> + '_ {
        TimerKind::ALL
            .into_iter()
            .filter(|k| self.slots[k.index()].is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_reports_each_change_once() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set(TimerKind::B, t0 + Duration::from_secs(32));
        table.set(TimerKind::A, t0 + Duration::from_millis(500));
        let changes: Vec<_> = table.take_changes().collect();
        assert_eq!(
            changes,
            [
                (TimerKind::A, Some(t0 + Duration::from_millis(500))),
                (TimerKind::B, Some(t0 + Duration::from_secs(32))),
            ]
        );
        assert_eq!(table.take_changes().count(), 0);
        table.fired(TimerKind::A);
        table.stop(TimerKind::A); // already disarmed: no change
        table.stop(TimerKind::B);
        let changes: Vec<_> = table.take_changes().collect();
        assert_eq!(changes, [(TimerKind::B, None)]);
        assert_eq!(table.armed().count(), 0);
    }

    #[test]
    fn sanitized_timers_never_zero() {
        let t = Timers {
            t1: Duration::ZERO,
            t2: Duration::ZERO,
            t4: Duration::ZERO,
        }
        .sanitized();
        assert_eq!(t.t1, Timers::MIN);
        assert!(t.t2 >= t.t1);
        assert_eq!(t.t4, Timers::MIN);
    }
}
