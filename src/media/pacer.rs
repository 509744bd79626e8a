//! The pacer: one thread that does every leg's RTP socket work of a tick,
//! reads just before the audio tick and sends just after it.
//!
//! Reading each socket when a datagram arrives wakes the network thread for
//! every packet of every leg (seven legs at 20 ms: 350 wake-ups a second on
//! top of the sends), and on a VM each wake-up costs tens of microseconds
//! whatever little work follows. The audio thread only looks at the inbound
//! rings at its tick, so a read just before the tick hands it the same
//! packets: the pacer reads every leg's RTP socket `MARGIN` before the next
//! tick (the sockets are not registered with the reactor, so a datagram
//! wakes nobody). A packet that lands inside the margin waits one tick, as a
//! little network jitter would; the arrival times the jitter buffer sees are
//! the read times, at most one tick after the real ones.
//!
//! Sends go the other way round: after a tick that gave any leg a packet the
//! audio thread wakes the pacer once (one system call a tick however many
//! legs there are), and the pacer sends every leg's packets.
//!
//! The pacer calls the legs itself ([`Paced`]) rather than signalling a task
//! per leg: a leg's own task (RTCP, renegotiation, its end) then sleeps
//! through the ticks. With a task per leg each wake-up polled every leg's
//! task and each of its timers, channels and sockets again: in an
//! eight-party bridge a third of the network thread's time was tokio's
//! bookkeeping.
//!
//! The tick times come from the audio thread ([`TickClock::mark`], an atomic
//! store per tick), so the reads follow a sound card's clock. A clocked
//! backend (file, tone, null) has no card to follow: there the pacer is the
//! clock. It sleeps to the audio thread's next deadline, reads, and wakes
//! the audio thread ([`TickClock`] as the backend's [`Metronome`]), so the
//! reads land right before the tick and the process wakes on one timer a
//! tick instead of two. With no leg joined the pacer sleeps until one
//! joins, and the audio thread keeps time by itself.
//! RTCP, renegotiation and each leg's end stay with the leg's task on the
//! network runtime (`net_runtime`); the two share the leg's state under a
//! lock that each holds for one step.

use crate::audio_io::Metronome;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The audio thread's tick period.
pub(super) const PERIOD: Duration = Duration::from_millis(10);
/// How long before a tick the sockets are read, leaving room for the
/// pacer's own scheduling delay on a busy machine (measured when the reads
/// ran on tokio's timer, which fired up to 1 ms late, so 2-3 ms early): at
/// 1.5 ms, reads that slipped past the tick made the packet after a loss miss
/// its FEC turn (Opus at 5 % loss fell 0.56 in one run of eight, jitter with
/// loss 0.46-0.74 against 0.47-0.51 before); at 3 ms, 0.23-0.27 and 0.48-0.51.
/// The price: a leg whose packets land inside the margin (the two ends'
/// clocks decide, about 3 calls in 10) plays them one tick later.
const MARGIN: Duration = Duration::from_micros(3_000);
/// A read closer than this to the last one is skipped (the next tick's is
/// taken), so a late timer does not read twice in a row.
const MIN_GAP: Duration = Duration::from_millis(2);
/// Reads between two calls of [`Paced::second`].
const READS_PER_SECOND: u64 = 100;

/// How long past its deadline the audio thread waits for the pacer's reads
/// before it ticks without them (a pacer held up, or one that just let its
/// last leg go): the packets read late then wait one tick, as with a margin.
const KICK_GRACE: Duration = Duration::from_micros(2_000);

/// The audio clock as the audio thread and the pacer share it.
///
/// With a sound card the card paces the audio thread, which marks each
/// tick's start ([`TickClock::mark`]) for the pacer to read `MARGIN` before
/// the next. A clocked backend (file, tone, null) instead waits on this clock
/// ([`Metronome`]): while the pacer has legs it sleeps until the tick's
/// deadline itself, reads every leg and then wakes the audio thread, so the
/// process has one timer a tick instead of two. On the VMs this runs on a
/// timer expiry costs about 45 µs of the woken thread's CPU and a futex wake
/// about 10 µs on each side (measured with a C loop of each), which made
/// the two timers about half of an eight-party G.711 bridge's CPU. The reads
/// also land right before the tick rather than a margin ahead.
pub(super) struct TickClock {
    epoch: Instant,
    /// Nanoseconds after `epoch`; 0 until the first tick.
    last_start_ns: AtomicU64,
    /// The deadline the audio thread waits for (ns after `epoch`; 0: none).
    next_ns: AtomicU64,
    /// The latest deadline the pacer read for and woke the audio thread at.
    kicked_ns: AtomicU64,
    /// The pacer has legs and wakes the audio thread every period.
    driving: AtomicBool,
    /// The audio thread, once it waits on this clock.
    audio: OnceLock<std::thread::Thread>,
    /// The CPU the audio thread is pinned to (`NO_CPU`: none), for the
    /// pacer to join it (see `super::affinity`).
    cpu: AtomicUsize,
}

const NO_CPU: usize = usize::MAX;

impl TickClock {
    pub(super) fn new() -> Self {
        TickClock {
            epoch: Instant::now(),
            last_start_ns: AtomicU64::new(0),
            next_ns: AtomicU64::new(0),
            kicked_ns: AtomicU64::new(0),
            driving: AtomicBool::new(false),
            audio: OnceLock::new(),
            cpu: AtomicUsize::new(NO_CPU),
        }
    }

    /// The audio thread is pinned to `cpu`: a real-time pacer driving it
    /// pins itself there too.
    pub(super) fn share_cpu(&self, cpu: usize) {
        self.cpu.store(cpu, Ordering::Release);
    }

    fn shared_cpu(&self) -> Option<usize> {
        match self.cpu.load(Ordering::Acquire) {
            NO_CPU => None,
            cpu => Some(cpu),
        }
    }

    fn ns(&self, at: Instant) -> u64 {
        let ns = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(ns).unwrap_or(u64::MAX).max(1)
    }

    /// Called by the audio thread at each tick: one atomic store.
    pub(super) fn mark(&self, start: Instant) {
        self.last_start_ns.store(self.ns(start), Ordering::Relaxed);
    }

    fn last_start(&self) -> Option<Instant> {
        match self.last_start_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(self.epoch + Duration::from_nanos(ns)),
        }
    }

    /// Whether the audio thread waits on this clock (a clocked backend).
    fn follows(&self) -> bool {
        self.audio.get().is_some()
    }

    /// The pacer starts or stops waking the audio thread; when it stops, the
    /// audio thread is woken to go back to its own sleep.
    fn drive(&self, on: bool) {
        if self.driving.swap(on, Ordering::AcqRel) && !on {
            self.wake_audio();
        }
    }

    fn wake_audio(&self) {
        if let Some(t) = self.audio.get() {
            t.unpark();
        }
    }

    /// The deadline the pacer reads for next: the one the audio thread waits
    /// for, or a period after the last one kicked while it is still ticking.
    fn next_kick(&self) -> Instant {
        let waiting = self.next_ns.load(Ordering::Acquire);
        let kicked = self.kicked_ns.load(Ordering::Relaxed);
        let ns = if waiting > kicked {
            waiting
        } else {
            kicked + PERIOD.as_nanos() as u64
        };
        self.epoch + Duration::from_nanos(ns)
    }

    /// The reads for the tick at `deadline` are done: the audio thread goes.
    fn kick(&self, deadline: Instant) {
        self.kicked_ns.store(self.ns(deadline), Ordering::Release);
        self.wake_audio();
    }
}

impl Metronome for TickClock {
    fn wait_until(&self, deadline: Instant) {
        self.audio.get_or_init(std::thread::current);
        let d = self.ns(deadline);
        self.next_ns.store(d, Ordering::Release);
        let limit = deadline + KICK_GRACE;
        loop {
            if self.kicked_ns.load(Ordering::Acquire) >= d {
                return;
            }
            let now = Instant::now();
            if !self.driving.load(Ordering::Acquire) {
                if deadline > now {
                    std::thread::sleep(deadline - now);
                }
                return;
            }
            if now >= limit {
                return;
            }
            // Woken by the kick, by the pacer stopping, or spuriously: the
            // loop looks again.
            std::thread::park_timeout(limit - now);
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

/// What the pacer does with a leg's network half.
pub(super) trait Paced: Send + 'static {
    /// Just before a tick: reads what the leg's RTP socket holds.
    fn read(&mut self);
    /// After a tick that gave some leg packets: sends this leg's. `false`
    /// when the leg's audio half is gone (the pacer then lets the leg go).
    fn send(&mut self) -> bool;
    /// About once a second: the slow checks (RTP timeout of a leg that
    /// sends nothing, the quality figures for the controls).
    fn second(&mut self);
}

/// A leg's network half as the pacer's thread and the leg's own task share
/// it: each holds the lock for one step (a read, a send pass, an RTCP
/// packet), so it is rarely contended.
pub(super) struct PacedLeg<L> {
    state: Mutex<L>,
    /// The pacer let go of the leg (its audio half or the engine is gone);
    /// `let_go` wakes the leg's task to end.
    released: AtomicBool,
    let_go: Notify,
}

impl<L> PacedLeg<L> {
    fn new(state: L) -> Self {
        PacedLeg {
            state: Mutex::new(state),
            released: AtomicBool::new(false),
            let_go: Notify::new(),
        }
    }

    /// The leg's state (a panic elsewhere while it was held leaves it usable:
    /// each step works on whole packets).
    pub(super) fn lock(&self) -> MutexGuard<'_, L> {
        lock(&self.state)
    }

    fn release(&self) {
        self.released.store(true, Ordering::Release);
        self.let_go.notify_one();
    }

    /// Resolves once the pacer has let go of the leg.
    pub(super) async fn released(&self) {
        loop {
            let woken = self.let_go.notified();
            if self.released.load(Ordering::Acquire) {
                return;
            }
            woken.await;
        }
    }
}

/// What the pacer and the engine share.
struct Shared<L> {
    /// Legs joined since the pacer last looked.
    joining: Mutex<Vec<Weak<PacedLeg<L>>>>,
    /// Set by the first of a tick's leg wakers, cleared by the pacer before
    /// it sends: one wake-up a tick however many legs produced packets.
    sent_pending: AtomicBool,
    engine_gone: AtomicBool,
    /// The CPU the pacer thread is pinned to (`NO_CPU`: none).
    pinned: AtomicUsize,
    /// The pacer's thread, woken by the wakers, by a joining leg and by the
    /// engine going.
    thread: std::thread::Thread,
}

impl<L> Shared<L> {
    fn wake(&self) {
        self.thread.unpark();
    }
}

/// The engine's handle on the pacer.
pub(super) struct Pacer<L> {
    shared: Arc<Shared<L>>,
}

impl<L> Clone for Pacer<L> {
    fn clone(&self) -> Self {
        Pacer {
            shared: self.shared.clone(),
        }
    }
}

impl<L: Paced> Pacer<L> {
    /// Hands a leg's network half to the pacer; the leg's task keeps the
    /// returned handle (the pacer drops the leg once that handle is gone).
    pub(super) fn join(&self, leg: L) -> Arc<PacedLeg<L>> {
        let leg = Arc::new(PacedLeg::new(leg));
        if self.shared.engine_gone.load(Ordering::Acquire) {
            leg.release();
        } else {
            lock(&self.shared.joining).push(Arc::downgrade(&leg));
            self.shared.wake();
        }
        leg
    }

    /// What a leg's audio half calls after a tick that gave it packets:
    /// an atomic swap when the pacer was already woken that tick.
    pub(super) fn send_waker(&self) -> impl Fn() + Send + 'static {
        let shared = self.shared.clone();
        move || {
            // A waker that finds the flag set comes before the pacer's pass,
            // which clears it before it looks at any ring: nothing is left
            // unsent.
            if !shared.sent_pending.swap(true, Ordering::SeqCst) {
                shared.wake();
            }
        }
    }

    /// The engine is going: the pacer lets every leg go and its thread ends.
    pub(super) fn release(&self) {
        self.shared.engine_gone.store(true, Ordering::Release);
        self.shared.wake();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the pacer's thread (`agentphone-rtp`), which ends once
/// [`Pacer::release`] was called.
///
/// A thread of its own, not a task on the network runtime: it sleeps on a
/// futex until the next read or a waker's call, where the runtime's reactor
/// added epoll, its timer wheel (millisecond deadlines, so about one read in
/// ten woke the thread twice) and its task bookkeeping to every wake-up.
pub(super) fn pacer<L: Paced>(
    clock: Arc<TickClock>,
) -> std::io::Result<(Pacer<L>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel::<Arc<Shared<L>>>();
    let thread = std::thread::Builder::new()
        .name("agentphone-rtp".into())
        .spawn(move || {
            let Ok(shared) = rx.recv() else { return };
            let realtime = match super::priority::raise(super::priority::NETWORK) {
                Ok(()) => true,
                Err(e) => {
                    // Packets are then read when the scheduler gets round to
                    // it: on a busy machine some miss the tick they arrived
                    // for.
                    tracing::debug!("RTP pacer thread keeps normal priority: {e}");
                    false
                }
            };
            run(&shared, &clock, realtime);
        })?;
    let shared = Arc::new(Shared {
        joining: Mutex::new(Vec::new()),
        sent_pending: AtomicBool::new(false),
        engine_gone: AtomicBool::new(false),
        pinned: AtomicUsize::new(NO_CPU),
        thread: thread.thread().clone(),
    });
    // The thread only waits for this; it cannot have gone.
    let _ = tx.send(shared.clone());
    Ok((Pacer { shared }, thread))
}

/// The pacer's loop: reads before each tick, sends when woken for it.
/// `realtime`: the thread got real-time priority, so it may be pinned.
fn run<L: Paced>(shared: &Shared<L>, clock: &TickClock, realtime: bool) {
    let mut legs: Vec<Arc<PacedLeg<L>>> = Vec::new();
    let mut reads = 0u64;
    // The audio thread's CPU the pacer last tried to join.
    let mut joined = None;
    loop {
        legs.extend(lock(&shared.joining).drain(..).filter_map(|w| w.upgrade()));
        // A leg whose task ended holds the last reference.
        legs.retain(|l| Arc::strong_count(l) > 1 && !l.released.load(Ordering::Relaxed));
        if shared.engine_gone.load(Ordering::Acquire) {
            clock.drive(false);
            legs.iter().for_each(|l| l.release());
            lock(&shared.joining)
                .drain(..)
                .filter_map(|w| w.upgrade())
                .for_each(|l| l.release());
            return;
        }
        if legs.is_empty() {
            clock.drive(false);
            std::thread::park();
            continue;
        }
        let drive = clock.follows();
        clock.drive(drive);
        let audio_cpu = clock.shared_cpu();
        if drive && realtime && audio_cpu != joined {
            joined = audio_cpu;
            join_audio_cpu(shared, joined);
        }
        let at = if drive {
            clock.next_kick()
        } else {
            next_read(clock.last_start(), Instant::now())
        };
        loop {
            // A full barrier (a store alone may pass the rings' loads in
            // `send`, and a waker then see the flag still set).
            if shared.sent_pending.swap(false, Ordering::SeqCst) {
                let mut gone = false;
                for leg in &legs {
                    if !leg.lock().send() {
                        leg.release();
                        gone = true;
                    }
                }
                if gone {
                    legs.retain(|l| !l.released.load(Ordering::Relaxed));
                }
            }
            let now = Instant::now();
            if now >= at || shared.engine_gone.load(Ordering::Acquire) {
                break;
            }
            std::thread::park_timeout(at - now);
        }
        reads += 1;
        let second = reads.is_multiple_of(READS_PER_SECOND);
        for leg in &legs {
            let mut state = leg.lock();
            state.read();
            if second {
                state.second();
            }
        }
        if drive {
            clock.kick(at);
        }
    }
}

/// Pins the pacer to the audio thread's CPU (see `super::affinity`); tried
/// once per CPU the audio thread shares, not every period.
fn join_audio_cpu<L>(shared: &Shared<L>, cpu: Option<usize>) {
    let Some(cpu) = cpu else { return };
    match super::affinity::pin_to(cpu) {
        Ok(()) => {
            shared.pinned.store(cpu, Ordering::Relaxed);
            tracing::debug!(cpu, "RTP pacer runs on the audio thread's CPU");
        }
        Err(e) => tracing::debug!(cpu, "RTP pacer cannot join the audio thread's CPU: {e}"),
    }
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

    #[test]
    fn before_any_tick_reads_a_period_ahead() {
        let now = Instant::now();
        assert_eq!(next_read(None, now), now + PERIOD);
    }

    /// Counts what the pacer asked of it.
    #[derive(Clone, Default)]
    struct Counts {
        reads: Arc<AtomicUsize>,
        sends: Arc<AtomicUsize>,
        seconds: Arc<AtomicUsize>,
        /// `send` reports the audio half gone.
        audio_gone: Arc<AtomicBool>,
    }

    impl Paced for Counts {
        fn read(&mut self) {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        fn send(&mut self) -> bool {
            self.sends.fetch_add(1, Ordering::Relaxed);
            !self.audio_gone.load(Ordering::Relaxed)
        }
        fn second(&mut self) {
            self.seconds.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn get(n: &AtomicUsize) -> usize {
        n.load(Ordering::Relaxed)
    }

    async fn until(what: &str, cond: impl Fn() -> bool) {
        for _ in 0..200 {
            if cond() {
                return;
            }
            tokio::time::sleep(5 * MS).await;
        }
        panic!("timed out waiting until {what}");
    }

    /// A pacer with the audio thread's clock ticking now.
    fn started() -> (Pacer<Counts>, std::thread::JoinHandle<()>) {
        let clock = Arc::new(TickClock::new());
        clock.mark(Instant::now());
        pacer::<Counts>(clock).expect("pacer thread")
    }

    #[tokio::test]
    async fn a_tick_of_wakers_sends_every_leg_and_nothing_more() {
        let (pacer, _task) = started();
        let legs: Vec<Counts> = (0..3).map(|_| Counts::default()).collect();
        let _held: Vec<_> = legs.iter().map(|c| pacer.join(c.clone())).collect();
        // Let the pacer take the legs in (at its first read).
        until("every leg was read", || {
            legs.iter().all(|c| get(&c.reads) > 0)
        })
        .await;
        // The wakers of one tick, back to back.
        let wake = pacer.send_waker();
        for _ in 0..8 {
            wake();
        }
        until("every leg sent", || legs.iter().all(|c| get(&c.sends) >= 1)).await;
        tokio::time::sleep(3 * PERIOD).await;
        let sends: Vec<usize> = legs.iter().map(|c| get(&c.sends)).collect();
        // No send without a waker.
        tokio::time::sleep(5 * PERIOD).await;
        let later: Vec<usize> = legs.iter().map(|c| get(&c.sends)).collect();
        assert_eq!(later, sends, "sent again unasked");
    }

    #[test]
    fn wakers_called_while_the_pacer_sends_cost_one_more_pass() {
        let (pacer, _thread) = started();
        let leg = Counts::default();
        let held = pacer.join(leg.clone());
        let deadline = Instant::now() + Duration::from_secs(2);
        while get(&leg.reads) == 0 {
            assert!(Instant::now() < deadline, "never read");
            std::thread::sleep(MS);
        }
        let wake = pacer.send_waker();
        {
            // The pacer blocks in its pass on this leg while the rest of the
            // tick's wakers (and many more) are called.
            let _busy = held.lock();
            wake();
            std::thread::sleep(20 * MS);
            for _ in 0..100 {
                wake();
            }
        }
        std::thread::sleep(5 * PERIOD);
        let passes = get(&leg.sends);
        assert!(
            (1..=2).contains(&passes),
            "{passes} send passes for 101 wakers"
        );
    }

    #[tokio::test]
    async fn reads_come_every_period_only_while_a_leg_is_joined() {
        let (pacer, task) = started();
        let leg = Counts::default();
        let held = pacer.join(leg.clone());
        tokio::time::sleep(30 * PERIOD).await;
        // Timers on a shared test machine run late, never early.
        let n = get(&leg.reads);
        assert!((10..=31).contains(&n), "{n} reads in 30 periods");
        // The leg's task ended (dropped its handle): no more reads.
        drop(held);
        tokio::time::sleep(3 * PERIOD).await;
        let after = get(&leg.reads);
        tokio::time::sleep(10 * PERIOD).await;
        assert_eq!(get(&leg.reads), after, "read after the leg ended");
        pacer.release();
        until("the pacer ends when released", || task.is_finished()).await;
        task.join().expect("no panic");
    }

    #[tokio::test]
    async fn the_slow_checks_run_about_once_a_second() {
        let (pacer, _task) = started();
        let leg = Counts::default();
        let _held = pacer.join(leg.clone());
        until("a hundred reads", || get(&leg.reads) >= 100).await;
        tokio::time::sleep(2 * PERIOD).await;
        assert_eq!(get(&leg.seconds), get(&leg.reads) / 100);
    }

    #[tokio::test]
    async fn a_leg_whose_audio_half_is_gone_is_let_go_alone() {
        let (pacer, _task) = started();
        let (gone, stays) = (Counts::default(), Counts::default());
        gone.audio_gone.store(true, Ordering::Relaxed);
        let gone_leg = pacer.join(gone.clone());
        let stays_leg = pacer.join(stays.clone());
        until("both read", || {
            get(&gone.reads) > 0 && get(&stays.reads) > 0
        })
        .await;
        pacer.send_waker()();
        tokio::time::timeout(Duration::from_secs(1), gone_leg.released())
            .await
            .expect("the leg is let go");
        let reads = get(&gone.reads);
        tokio::time::sleep(5 * PERIOD).await;
        assert_eq!(get(&gone.reads), reads, "read after being let go");
        assert!(!stays_leg.released.load(Ordering::Relaxed));
        let n = get(&stays.reads);
        until("the other leg is still read", || get(&stays.reads) > n + 2).await;
    }

    /// A clocked audio thread's ticks: waits on `clock` for `ticks`
    /// deadlines a period apart and notes, at each return, how late it was
    /// and how many reads `leg` had by then.
    fn clocked_ticks(clock: &TickClock, leg: &Counts, ticks: u32) -> Vec<(Duration, usize)> {
        let start = Instant::now() + PERIOD;
        (0..ticks)
            .map(|k| {
                let deadline = start + PERIOD * k;
                clock.wait_until(deadline);
                let now = Instant::now();
                assert!(now >= deadline, "tick {k} returned before its deadline");
                (now - deadline, get(&leg.reads))
            })
            .collect()
    }

    #[test]
    fn a_clocked_audio_thread_ticks_right_after_the_pacers_reads() {
        let clock = Arc::new(TickClock::new());
        let (pacer, _thread) = pacer::<Counts>(clock.clone()).expect("pacer thread");
        let leg = Counts::default();
        let _held = pacer.join(leg.clone());
        let ticks = clocked_ticks(&clock, &leg, 60);
        // Once the pacer has the leg, each tick comes after one more read
        // (the one for it), not a margin after a read of its own timer.
        let steady = &ticks[10..];
        let one_read_each = steady.windows(2).filter(|w| w[1].1 == w[0].1 + 1).count();
        assert!(
            one_read_each >= steady.len() * 8 / 10,
            "{one_read_each} of {} ticks had exactly one read before them: {ticks:?}",
            steady.len() - 1
        );
        // Woken by the reads, not by the fallback after the grace period:
        // on a loaded test machine a wake-up may come late, but most
        // come well inside the grace.
        let prompt = steady.iter().filter(|(late, _)| *late < KICK_GRACE).count();
        assert!(
            prompt >= steady.len() * 8 / 10,
            "{prompt} of {} ticks woken within the grace: {ticks:?}",
            steady.len()
        );
    }

    #[test]
    fn with_no_leg_the_clocked_audio_thread_keeps_its_own_time() {
        let clock = Arc::new(TickClock::new());
        let (pacer, thread) = pacer::<Counts>(clock.clone()).expect("pacer thread");
        let idle = Counts::default();
        let started = Instant::now();
        let ticks = clocked_ticks(&clock, &idle, 20);
        // Twenty periods, not twenty grace periods or a stall.
        assert!(started.elapsed() < 40 * PERIOD, "{ticks:?}");
        // A leg comes and goes: the pacer drives the ticks, then stops
        // and the thread sleeps to its deadlines again.
        let leg = Counts::default();
        let held = pacer.join(leg.clone());
        let driven = clocked_ticks(&clock, &leg, 20);
        assert!(get(&leg.reads) >= 10, "{driven:?}");
        drop(held);
        let after = clocked_ticks(&clock, &leg, 20);
        // (The pass under way when it went may still read it once.)
        let reads = get(&leg.reads);
        assert!(
            after[5..].iter().all(|(_, r)| *r == reads),
            "read after the leg ended: {after:?}"
        );
        pacer.release();
        let started = Instant::now();
        clocked_ticks(&clock, &idle, 5);
        assert!(started.elapsed() < 20 * PERIOD);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !thread.is_finished() {
            assert!(Instant::now() < deadline, "the pacer did not end");
            std::thread::sleep(MS);
        }
    }

    #[test]
    fn a_realtime_pacer_joins_the_audio_threads_cpu_while_it_drives() {
        let clock = Arc::new(TickClock::new());
        let cpu = crate::media::affinity::current_cpu().expect("a CPU");
        clock.share_cpu(cpu);
        let (pacer, _thread) = pacer::<Counts>(clock.clone()).expect("pacer thread");
        let pinned = || pacer.shared.pinned.load(Ordering::Relaxed);
        // No leg: nothing to drive, nothing pinned.
        clocked_ticks(&clock, &Counts::default(), 5);
        assert_eq!(pinned(), NO_CPU);
        let leg = Counts::default();
        let _held = pacer.join(leg.clone());
        clocked_ticks(&clock, &leg, 10);
        let allowed = std::thread::spawn(|| {
            crate::media::priority::raise(crate::media::priority::NETWORK).is_ok()
        })
        .join()
        .expect("thread");
        if allowed {
            assert_eq!(pinned(), cpu, "a real-time pacer joins the audio CPU");
        } else {
            // Without real-time priority it could be held up by whatever
            // else runs on that CPU: it stays free.
            assert_eq!(pinned(), NO_CPU);
        }
    }

    #[tokio::test]
    async fn release_lets_every_leg_go_and_ends_the_task() {
        let (pacer, task) = started();
        let legs: Vec<_> = (0..2).map(|_| pacer.join(Counts::default())).collect();
        pacer.release();
        for leg in &legs {
            tokio::time::timeout(Duration::from_secs(1), leg.released())
                .await
                .expect("let go when the engine goes");
        }
        until("the pacer ends", || task.is_finished()).await;
        task.join().expect("no panic");
        // A leg joining afterwards is let go at once.
        let late = pacer.join(Counts::default());
        tokio::time::timeout(Duration::from_secs(1), late.released())
            .await
            .expect("let go at once");
    }
}
