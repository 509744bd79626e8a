//! When the network halves read their RTP sockets: all together, once per
//! audio tick, just before it.
//!
//! Reading each socket when a datagram arrives wakes the network thread for
//! every packet of every leg (seven legs at 20 ms: 350 wake-ups a second on
//! top of the sends), and on a VM each wake-up costs tens of microseconds
//! whatever little work follows. The audio thread only looks at the inbound
//! rings at its tick, so a read just before the tick hands it the same
//! packets: the pacer signals every leg `MARGIN` before the next tick and
//! each drains its socket (not registered with the reactor, so a datagram
//! wakes nobody). A packet that lands inside the margin waits one tick, as
//! a little network jitter would; the arrival times the jitter buffer sees
//! are the read times, at most one tick after the real ones.
//!
//! Sends go the other way round: after a tick that gave any leg a packet the
//! audio thread wakes one task ([`sends`]), which signals every leg on the
//! network thread itself, so the audio thread makes one cross-thread wake-up
//! (one system call) a tick however many legs there are.
//!
//! The tick times come from the audio thread ([`TickClock::mark`], an atomic
//! store per tick), so the reads follow a sound card's clock as well as the
//! null backend's. With no leg listening the pacer sleeps until one does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// The audio thread's tick period.
pub(super) const PERIOD: Duration = Duration::from_millis(10);
/// How long before a tick the sockets are read. tokio's timer fires up to
/// 1 ms after its deadline, so reads land 2-3 ms before the tick, leaving
/// room for the network thread's own scheduling delay on a busy machine: at
/// 1.5 ms, reads that slipped past the tick made the packet after a loss miss
/// its FEC turn (Opus at 5 % loss fell 0.56 in one run of eight, jitter with
/// loss 0.46-0.74 against 0.47-0.51 before); at 3 ms, 0.23-0.27 and 0.48-0.51.
/// The price: a leg whose packets land inside the margin (the two ends'
/// clocks decide, about 3 calls in 10) plays them one tick later.
const MARGIN: Duration = Duration::from_micros(3_000);
/// A read closer than this to the last one is skipped (the next tick's is
/// taken), so a late timer does not read twice in a row.
const MIN_GAP: Duration = Duration::from_millis(2);

/// The start of the audio thread's latest tick, shared with the pacer.
pub(super) struct TickClock {
    epoch: Instant,
    /// Nanoseconds after `epoch`; 0 until the first tick.
    last_start_ns: AtomicU64,
}

impl TickClock {
    pub(super) fn new() -> Self {
        TickClock {
            epoch: Instant::now(),
            last_start_ns: AtomicU64::new(0),
        }
    }

    /// Called by the audio thread at each tick: one atomic store.
    pub(super) fn mark(&self, start: Instant) {
        let ns = start.saturating_duration_since(self.epoch).as_nanos();
        self.last_start_ns
            .store(u64::try_from(ns).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn last_start(&self) -> Option<Instant> {
        match self.last_start_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(self.epoch + Duration::from_nanos(ns)),
        }
    }
}

/// The next read after `now`: `MARGIN` before a tick of the grid through
/// `last_tick`, at least `MIN_GAP` ahead. Before the first tick, one period
/// ahead.
pub(super) fn next_read(last_tick: Option<Instant>, now: Instant) -> Instant {
    let Some(last) = last_tick else {
        return now + PERIOD;
    };
    let earliest = now + MIN_GAP;
    let mut at = last + PERIOD - MARGIN;
    // Bounded: a stalled audio thread leaves `last` far behind; jump whole
    // periods at once.
    if at < earliest {
        let behind = earliest.duration_since(at).as_nanos();
        let periods = behind.div_ceil(PERIOD.as_nanos());
        at += PERIOD * u32::try_from(periods).unwrap_or(u32::MAX);
    }
    at
}

/// What a leg needs to follow the pacer: a receiver of its read signals.
#[derive(Clone)]
pub(super) struct Reads {
    signal: watch::Receiver<u64>,
    legs: Arc<Notify>,
}

impl Reads {
    /// A leg's own receiver; wakes the pacer if it was idle.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        let mut rx = self.signal.clone();
        rx.mark_unchanged();
        self.legs.notify_one();
        rx
    }

    /// The engine is going: drops its receiver, then lets an idle pacer see
    /// that and end once the legs' receivers are gone too.
    pub(super) fn release(self) {
        let legs = self.legs;
        drop(self.signal);
        legs.notify_one();
    }
}

/// The pacer's task and the handle legs subscribe through. The task ends
/// once the handle and every leg's receiver are gone.
pub(super) fn pacer(clock: Arc<TickClock>) -> (Reads, impl std::future::Future<Output = ()>) {
    let (tx, rx) = watch::channel(0u64);
    let legs = Arc::new(Notify::new());
    let reads = Reads {
        signal: rx,
        legs: legs.clone(),
    };
    let task = async move {
        let mut n = 0u64;
        loop {
            match tx.receiver_count() {
                0 => return,
                // Only the engine's own handle: no leg to read for.
                1 => {
                    legs.notified().await;
                    continue;
                }
                _ => {}
            }
            // tokio's clock (the real one outside tests) so the sleep and
            // the schedule agree.
            let now = tokio::time::Instant::now().into_std();
            let at = next_read(clock.last_start(), now);
            tokio::time::sleep_until(at.into()).await;
            n += 1;
            tx.send_replace(n);
        }
    };
    (reads, task)
}

/// The send signal: the audio thread calls `tick.notify_one()` after a tick
/// that produced packets (cheap when already notified); the task turns that
/// into one signal for every leg's receiver. It ends when woken with no
/// receiver left (the engine wakes it as it goes).
pub(super) fn sends(
    tick: Arc<Notify>,
) -> (watch::Receiver<u64>, impl std::future::Future<Output = ()>) {
    let (tx, rx) = watch::channel(0u64);
    let task = async move {
        let mut n = 0u64;
        loop {
            tick.notified().await;
            if tx.receiver_count() == 0 {
                return;
            }
            n += 1;
            tx.send_replace(n);
        }
    };
    (rx, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn reads_land_just_before_the_next_tick() {
        let t0 = Instant::now();
        // Right after a tick: the read is MARGIN before the next one.
        assert_eq!(next_read(Some(t0), t0 + MS), t0 + PERIOD - MARGIN);
        // A read that fired 1 ms late (0.5 ms before the tick) does not read
        // again before that tick: the one after.
        let fired = t0 + PERIOD - MARGIN + MS;
        assert_eq!(next_read(Some(t0), fired), t0 + 2 * PERIOD - MARGIN);
        // The tick came meanwhile: same answer from its start.
        assert_eq!(
            next_read(Some(t0 + PERIOD), fired),
            t0 + 2 * PERIOD - MARGIN
        );
    }

    #[test]
    fn a_stalled_audio_thread_is_caught_up_in_one_step() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(3) + 3 * MS;
        let at = next_read(Some(t0), now);
        assert!(at >= now + MIN_GAP && at < now + MIN_GAP + PERIOD, "{at:?}");
        // Still on the tick grid.
        assert_eq!((at + MARGIN - t0).as_nanos() % PERIOD.as_nanos(), 0);
    }

    #[tokio::test]
    async fn one_tick_notification_signals_every_leg_and_the_task_ends_with_them() {
        let tick = Arc::new(Notify::new());
        let (rx, task) = sends(tick.clone());
        let task = tokio::spawn(task);
        let mut legs = [rx.clone(), rx.clone(), rx.clone()];
        drop(rx);
        // Several legs' wakers in one tick: one notification, one signal.
        tick.notify_one();
        tick.notify_one();
        for leg in &mut legs {
            tokio::time::timeout(Duration::from_secs(1), leg.changed())
                .await
                .expect("signalled")
                .expect("task alive");
        }
        drop(legs);
        tick.notify_one();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("the task ends once no leg listens")
            .expect("no panic");
    }

    #[test]
    fn before_any_tick_reads_a_period_ahead() {
        let now = Instant::now();
        assert_eq!(next_read(None, now), now + PERIOD);
    }

    #[tokio::test]
    async fn signals_every_period_only_while_a_leg_listens_and_ends_with_them() {
        let clock = Arc::new(TickClock::new());
        clock.mark(Instant::now());
        let (reads, task) = pacer(clock);
        let task = tokio::spawn(task);
        // No leg: no signal.
        tokio::time::sleep(5 * PERIOD).await;
        assert!(!reads.signal.has_changed().expect("pacer alive"));
        let mut leg = reads.subscribe();
        for _ in 0..3 {
            tokio::time::timeout(2 * PERIOD, leg.changed())
                .await
                .expect("a read signal within two periods")
                .expect("pacer alive");
        }
        drop(leg);
        reads.release();
        tokio::time::timeout(3 * PERIOD, task)
            .await
            .expect("the pacer ends with its last receiver")
            .expect("no panic");
    }
}
