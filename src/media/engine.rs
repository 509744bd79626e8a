//! The process's media engine: one audio thread that ticks every 10 ms (paced
//! by the sound card, or by its own clock for the null backend) and runs the
//! [`agentphone_engine::Engine`] over every leg and room of the process.
//!
//! Commands reach the thread on a lock-free ring and apply at the next tick;
//! events come back on another, drained by a tokio task that also drops
//! whatever left the engine, so nothing is freed on the audio thread. After each
//! tick the thread wakes the network halves that were given packets to send,
//! and the event task when it pushed events; it marks each tick's start for
//! the pacer thread that reads and sends every leg's RTP ([`super::pacer`]).
//! Recordings are written by a disk thread ([`super::disk`]).

use super::disk::Disk;
use super::net_leg::NetHalf;
use super::pacer::{self, Pacer, TickClock};
use super::{affinity, priority};
use crate::audio_io::{AudioBackend, AudioIo};
use agentphone_audio::meter::Level;
use agentphone_audio::FRAME_SAMPLES;
use agentphone_engine::stats::{TickStats, TickSummary};
use agentphone_engine::{Command, Engine, EngineLimits, Event, PartId, PartReport, RecordWriter};
use anyhow::{anyhow, Context, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// Commands waiting for the next tick at most.
const COMMAND_SLOTS: usize = 1_024;
/// Events waiting for the event task at most (the engine keeps the rest).
const EVENT_SLOTS: usize = 1_024;
/// Ticks between two publications of the tick timing.
const TIMING_EVERY: u64 = 100;

/// A handle on the process's media engine; clones share it. The audio thread
/// stops when the last handle is dropped.
#[derive(Clone)]
pub struct MediaEngine {
    inner: Arc<Inner>,
}

struct Inner {
    commands: Mutex<rtrb::Producer<Command>>,
    next_id: AtomicU64,
    waiters: Waiters,
    levels: Levels,
    timing: Arc<Timing>,
    disk: Disk,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Reads and sends every leg's packets on a thread of its own; released
    /// when the engine goes.
    pacer: Pacer<NetHalf>,
    pacer_thread: Mutex<Option<JoinHandle<()>>>,
}

/// What a leg's audio half calls after a tick that gave it packets.
pub(super) type LegWaker = Box<dyn Fn() + Send>;

type Waiters = Arc<Mutex<HashMap<PartId, oneshot::Sender<PartReport>>>>;

/// The latest levels of each participant in a room: what it says into the
/// room and what it hears there (the engine reports them twice a second).
type Levels = Arc<Mutex<HashMap<PartId, (Level, Level)>>>;

impl MediaEngine {
    /// Starts the audio thread on `backend` (a sound card, or the null clock).
    /// A sound card that cannot open is an error here, naming the device.
    /// Must run inside the tokio runtime (the event task is spawned on it).
    pub fn start(backend: AudioBackend) -> Result<MediaEngine> {
        // Before the audio thread, so no failure after it leaves it running.
        let disk = Disk::start().context("cannot start the recording thread")?;
        super::net_runtime::ensure_started()?;
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(COMMAND_SLOTS);
        let (ev_tx, ev_rx) = rtrb::RingBuffer::new(EVENT_SLOTS);
        let (tick_tx, tick_rx) = watch::channel(0u64);
        let stop = Arc::new(AtomicBool::new(false));
        let timing = Arc::new(Timing::default());
        let clock = Arc::new(TickClock::new());
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let thread = {
            let (stop, timing, clock) = (stop.clone(), timing.clone(), clock.clone());
            std::thread::Builder::new()
                .name("agentphone-audio".into())
                .spawn(move || {
                    // cpal streams may not move between threads: open here.
                    let (io, clocked) = match AudioIo::open(&backend) {
                        Ok(mut io) => {
                            // A clocked backend ticks when the pacer has read
                            // (see `TickClock`); a sound card keeps its pace.
                            let clocked = io.follow(clock.clone());
                            let _ = opened_tx.send(Ok(()));
                            (io, clocked)
                        }
                        Err(e) => {
                            let _ = opened_tx.send(Err(e));
                            return;
                        }
                    };
                    match priority::raise(priority::AUDIO) {
                        Ok(()) => {
                            timing.realtime.store(true, Ordering::Relaxed);
                            if clocked {
                                share_cpu_with_pacer(&clock);
                            }
                        }
                        // Without the privilege the thread runs at normal
                        // priority: ticks may start late on a busy machine,
                        // which the media report says next to the lateness.
                        Err(e) => tracing::debug!("audio thread keeps normal priority: {e}"),
                    }
                    let engine = Engine::new(EngineLimits::default());
                    let rings = (cmd_rx, ev_tx);
                    audio_thread(io, engine, rings, tick_tx, (&stop, &timing, &clock));
                })
                .context("cannot start the audio thread")?
        };
        match opened_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                return Err(anyhow!("the audio backend did not open within 10 s"));
            }
        }
        let (pacer, pacer_thread) = match pacer::pacer(clock) {
            Ok(p) => p,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                let _ = thread.join();
                return Err(anyhow!("cannot start the RTP pacer thread: {e}"));
            }
        };
        let waiters: Waiters = Arc::default();
        let levels: Levels = Arc::default();
        tokio::spawn(event_task(
            ev_rx,
            tick_rx,
            (waiters.clone(), levels.clone()),
        ));
        Ok(MediaEngine {
            inner: Arc::new(Inner {
                commands: Mutex::new(cmd_tx),
                next_id: AtomicU64::new(1),
                waiters,
                levels,
                timing,
                disk,
                stop,
                thread: Mutex::new(Some(thread)),
                pacer,
                pacer_thread: Mutex::new(Some(pacer_thread)),
            }),
        })
    }

    /// The pacer a leg's network half joins (see [`super::pacer`]).
    pub(super) fn pacer(&self) -> &Pacer<NetHalf> {
        &self.inner.pacer
    }

    /// What a leg's audio half calls after a tick that gave it packets.
    pub(super) fn send_waker(&self) -> LegWaker {
        Box::new(self.inner.pacer.send_waker())
    }

    /// A fresh name for a participant or a room.
    pub fn new_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a command for the next tick.
    pub fn send(&self, cmd: Command) -> Result<()> {
        let mut ring = self
            .inner
            .commands
            .lock()
            .map_err(|_| anyhow!("the media engine's command ring is poisoned"))?;
        ring.push(cmd)
            .map_err(|_| anyhow!("the media engine is not keeping up (command ring full)"))
    }

    /// Takes a participant out of the engine and returns what its audio half
    /// counted (None when the engine did not know it or stopped).
    pub async fn remove(&self, part: PartId) -> Option<PartReport> {
        self.remove_all(&[part]).await.pop().flatten()
    }

    /// Takes several participants out in the same tick; their reports in order.
    pub async fn remove_all(&self, parts: &[PartId]) -> Vec<Option<PartReport>> {
        let mut waiting = Vec::with_capacity(parts.len());
        for &part in parts {
            let (tx, rx) = oneshot::channel();
            if let Ok(mut w) = self.inner.waiters.lock() {
                w.insert(part, tx);
            }
            let sent = self.send(Command::Remove { part });
            waiting.push(sent.ok().map(|()| rx));
        }
        let mut reports = Vec::with_capacity(parts.len());
        for rx in waiting {
            let report = match rx {
                Some(rx) => tokio::time::timeout(Duration::from_secs(2), rx)
                    .await
                    .ok()
                    .and_then(Result::ok),
                None => None,
            };
            reports.push(report);
        }
        reports
    }

    /// Hands a recording's disk end to the disk thread; the receiver fires once
    /// the file is complete.
    pub fn write_recording(&self, writer: RecordWriter) -> oneshot::Receiver<()> {
        self.inner.disk.add(writer)
    }

    /// The latest levels of `part` in its room, `(spoken, heard)`: what it
    /// says into the room and what it hears there (updated twice a second).
    pub fn levels(&self, part: PartId) -> Option<(Level, Level)> {
        self.inner.levels.lock().ok()?.get(&part).copied()
    }

    /// How the audio thread's ticks kept time so far.
    pub fn timing(&self) -> TickSummary {
        self.inner.timing.load()
    }

    /// Whether the audio thread got real-time scheduling (it needs root or
    /// an RLIMIT_RTPRIO; without it, a busy machine delays its ticks).
    pub fn realtime(&self) -> bool {
        self.inner.timing.realtime.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_sound_card_is_an_error_not_a_panic() {
        let backend = AudioBackend::Device {
            name: Some("no-such-device-xyz".into()),
        };
        let err = MediaEngine::start(backend)
            .err()
            .expect("no such device here");
        let text = format!("{err:#}");
        assert!(
            text.contains("no-such-device-xyz") || text.contains("no sound card"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_null_clock_ticks_every_10_ms() {
        let engine = MediaEngine::start(AudioBackend::Null).expect("null clock");
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let timing = engine.timing();
        // Published every 100 ticks: 2.5 s of 10 ms ticks (less a slow start)
        // shows as 200; a clock twice as fast or slow would show 500 or 100.
        assert_eq!(timing.ticks, 200, "{timing:?}");
        assert!(timing.busy_mean_ms < 1.0, "{timing:?}");
        // It says whether it got real-time scheduling: exactly when a
        // thread of this process may.
        let allowed = std::thread::spawn(|| priority::raise(priority::AUDIO).is_ok())
            .join()
            .expect("probe thread");
        assert_eq!(engine.realtime(), allowed);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.pacer.release();
        if let Some(t) = self.pacer_thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// Pins the (real-time) audio thread of a clocked backend to the CPU it is
/// on, for the pacer that wakes it to join (see `super::affinity`).
fn share_cpu_with_pacer(clock: &TickClock) {
    let Some(cpu) = affinity::current_cpu() else {
        return;
    };
    match affinity::pin_to(cpu) {
        Ok(()) => clock.share_cpu(cpu),
        Err(e) => tracing::debug!(cpu, "audio thread stays unpinned: {e}"),
    }
}

/// The audio thread: wait for the tick, apply commands, tick, hand out events,
/// wake the network halves. Nothing here allocates, locks or logs per tick.
fn audio_thread(
    mut io: AudioIo,
    mut engine: Engine,
    (mut commands, mut events): (rtrb::Consumer<Command>, rtrb::Producer<Event>),
    ticks: watch::Sender<u64>,
    (stop, timing, clock): (&AtomicBool, &Timing, &TickClock),
) {
    let mut mic = [0.0f32; FRAME_SAMPLES];
    let mut speaker = [0.0f32; FRAME_SAMPLES];
    let mut stats = TickStats::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = io.next_frame(&mut mic) {
            tracing::error!("audio device failed, media stops: {e:#}");
            break;
        }
        let start = Instant::now();
        clock.mark(start);
        let late = io.lateness();
        while let Ok(cmd) = commands.pop() {
            engine.handle(cmd);
        }
        let skipped = io.take_skipped();
        if skipped > 0 {
            engine.skip(skipped);
        }
        engine.tick(start, &mic, &mut speaker);
        if let Err(e) = io.play(&speaker) {
            tracing::error!("audio device failed, media stops: {e:#}");
            break;
        }
        let mut pushed = false;
        while events.slots() > 0 {
            match engine.poll_event() {
                Some(ev) => {
                    pushed |= events.push(ev).is_ok();
                }
                None => break,
            }
        }
        stats.record(late, start.elapsed());
        n += 1;
        if n.is_multiple_of(TIMING_EVERY) {
            timing.store(&stats.summary());
        }
        // After the tick's work: the network halves that have packets to send,
        // and the event task when there is something for it (not every tick:
        // each wake-up of its runtime costs more than the tick's mixing).
        engine.wake_legs();
        if pushed {
            ticks.send_replace(n);
        }
    }
    timing.store(&stats.summary());
    let dropped = io.dropped_frames();
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "the sound card lost frames (capture or playback overruns)"
        );
    }
}

/// Drains the engine's events after every tick: reports go to whoever removed
/// the participant, and everything the engine let go is dropped here.
async fn event_task(
    mut events: rtrb::Consumer<Event>,
    mut ticks: watch::Receiver<u64>,
    (waiters, levels): (Waiters, Levels),
) {
    loop {
        let alive = ticks.changed().await.is_ok();
        while let Ok(ev) = events.pop() {
            match ev {
                Event::Removed { part, report, .. } => {
                    if let Ok(mut l) = levels.lock() {
                        l.remove(&part);
                    }
                    let waiter = waiters.lock().ok().and_then(|mut w| w.remove(&part));
                    if let Some(tx) = waiter {
                        let _ = tx.send(report);
                    }
                }
                Event::Refused { part, error } => match part {
                    Some(p) => {
                        tracing::warn!("media engine refused a request for {p}: {error}");
                        // Whoever waits for its removal waits no longer.
                        if let Ok(mut w) = waiters.lock() {
                            w.remove(&p);
                        }
                    }
                    None => tracing::warn!("media engine refused a request: {error}"),
                },
                Event::LegSilent { part } => {
                    tracing::info!("{part}: no audio from the peer for 2 s")
                }
                Event::LegAudible { part } => tracing::info!("{part}: audio from the peer again"),
                Event::Levels {
                    part,
                    spoken,
                    heard,
                } => {
                    if let Ok(mut l) = levels.lock() {
                        l.insert(part, (spoken, heard));
                    }
                }
                Event::Retired(_) => {}
            }
        }
        if !alive {
            break;
        }
    }
}

/// The latest [`TickSummary`], published by the audio thread without locks.
#[derive(Default)]
struct Timing {
    ticks: AtomicU64,
    late_p99_us: AtomicU64,
    late_max_us: AtomicU64,
    late_over_5ms: AtomicU64,
    busy_mean_us: AtomicU64,
    busy_p99_us: AtomicU64,
    busy_max_us: AtomicU64,
    /// The audio thread runs under real-time scheduling.
    realtime: AtomicBool,
}

impl Timing {
    fn store(&self, s: &TickSummary) {
        let us = |ms: f64| (ms * 1e3).round() as u64;
        self.ticks.store(s.ticks, Ordering::Relaxed);
        self.late_p99_us.store(us(s.late_p99_ms), Ordering::Relaxed);
        self.late_max_us.store(us(s.late_max_ms), Ordering::Relaxed);
        self.late_over_5ms.store(s.late_over_5ms, Ordering::Relaxed);
        self.busy_mean_us
            .store(us(s.busy_mean_ms), Ordering::Relaxed);
        self.busy_p99_us.store(us(s.busy_p99_ms), Ordering::Relaxed);
        self.busy_max_us.store(us(s.busy_max_ms), Ordering::Relaxed);
    }

    fn load(&self) -> TickSummary {
        let ms = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1e3;
        TickSummary {
            ticks: self.ticks.load(Ordering::Relaxed),
            late_p99_ms: ms(&self.late_p99_us),
            late_max_ms: ms(&self.late_max_us),
            late_over_5ms: self.late_over_5ms.load(Ordering::Relaxed),
            busy_mean_ms: ms(&self.busy_mean_us),
            busy_p99_ms: ms(&self.busy_p99_us),
            busy_max_ms: ms(&self.busy_max_us),
        }
    }
}
