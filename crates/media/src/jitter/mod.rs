//! Adaptive jitter buffer for one RTP stream.
//!
//! Packets go in with their arrival time ([`JitterBuffer::push`]); the audio
//! side takes one packet's worth every ptime ([`JitterBuffer::pop`]). Packets
//! are keyed by sequence number (16-bit, unwrapped) for duplicate, reorder
//! and loss accounting and played in timestamp order.
//!
//! The play-out point is held at `target` after the moment the fastest
//! recent packet would have made it (see `estimator`). Each pop measures
//! the error `e` between where play-out is and where it should be:
//! - `e < 0` (target rose: jitter spike): a concealment frame is inserted
//!   without advancing, at once, so the delay grows within a few pops;
//! - small drift either way is absorbed by repeating or dropping a *silent*
//!   packet (so sender/receiver clock drift costs nothing audible);
//! - `e ≥ 3 ptime` (far too much delay) packets are skipped whatever they
//!   hold, which bounds the delay; so is one packet every 2 s while the delay
//!   stays above the band with no silence to drop.
//!
//! A caller that can time-stretch speech (`JitterConfig::stretch`, see
//! [`crate::stretch`]) gets gentler moves inside speech: below target a speech
//! packet is handed out with [`Stretch::Lengthen`] instead of a concealment
//! frame being inserted, and more than three quarters of a packet above target
//! with [`Stretch::Shorten`], so the delay follows the jitter down within seconds
//! instead of waiting for a silence.
//!
//! With a codec that carries forward error correction (`JitterConfig::fec`),
//! the packet after a lost one must be here when the lost one is due, so its
//! FEC can rebuild it. A steady link's 20 ms already holds it: there a single
//! loss adds no delay. The look-ahead (one more packet of delay, kept for
//! [`LOOKAHEAD_HOLD`] after the last loss) starts when that was not enough:
//! when the next packet, or its copy, came after the lost one was due; when
//! a slot is played from an RFC 2198 copy (the copies hide the loss from
//! play-out, but two losses in a row need the copy of the second, two
//! packets on, whose FEC rebuilds the first); and at once at a gap on a link
//! whose jitter already sets the target. On a steady link it then grows
//! where nobody hears it: a silent packet played twice in a pause between
//! phrases, or one more concealed frame at the next gap (concealed anyway);
//! speech is never stretched for it. It goes in a pause too: once its hold
//! expires it waits up to 5 s for one, and a whole packet of excess
//! in a pause is dropped as silence.
//!
//! Runs of packets that cannot be played (late, out of range) mean the
//! sender's timeline moved: the buffer resynchronises on the new one.

mod estimator;
mod store;

use std::time::{Duration, Instant};

use self::estimator::Estimator;
use self::store::{Store, StoreError};
pub use crate::stretch::Stretch;

/// Consecutive unplayable packets that trigger a resync.
const RESYNC_RUN: u32 = 4;
/// How long delay may stay above the band without any silence to drop
/// before a speech packet is dropped instead (one per period).
const STALE_EXCESS_US: i64 = 2_000_000;
/// How long one gap in play-out keeps the FEC look-ahead: long enough that
/// random loss of a few percent (a gap every second or so) keeps it steadily,
/// short enough that a one-off loss costs the delay only briefly.
pub const LOOKAHEAD_HOLD: Duration = Duration::from_secs(10);

/// Silent packets in a row that make a pause between phrases, where the
/// look-ahead may grow (a silent packet played twice): 120 ms at 20 ms. In
/// the short silences between words, a jump in delay is heard as a stumble
/// (PESQ scores it so too).
const PAUSE_PACKETS: u32 = 6;

/// How long an expired look-ahead waits for a pause to go in (see
/// `keep_lookahead_for_a_pause`).
const PAUSE_WAIT: Duration = Duration::from_secs(5);

/// Jitter buffer settings.
#[derive(Debug, Clone, Copy)]
pub struct JitterConfig {
    /// RTP clock rate of the stream (Hz).
    pub clock_rate: u32,
    /// Packet time, also the `pop` cadence.
    pub ptime: Duration,
    /// Smallest target delay (default 20 ms).
    pub min_delay: Duration,
    /// Largest target delay (default 200 ms).
    pub max_delay: Duration,
    /// Packets held at most (default 64).
    pub capacity: usize,
    /// Largest payload accepted (default 1500 bytes).
    pub max_payload: usize,
    /// Payload bytes held at most, all packets together (default: `capacity`
    /// largest payloads). A stream's own packet size times `capacity` keeps a
    /// G.711 buffer at a few KiB instead of the largest packet's worth per slot.
    pub payload_bytes: Option<usize>,
    /// Tells whether a payload is silence, so delay can be adjusted by
    /// dropping or repeating it (see `CodecKind::silence_detector`). Without
    /// it only the hard limits act.
    pub silence: Option<fn(&[u8]) -> bool>,
    /// The decoder can rebuild a lost packet from the next one's FEC: keep
    /// one packet of look-ahead while loss is present (default off).
    pub fec: bool,
    /// The caller honours [`Stretch`] hints on speech packets (default off:
    /// delay then moves only through silence and the hard limits).
    pub stretch: bool,
}

impl JitterConfig {
    /// Defaults for a stream of `clock_rate` Hz with `ptime_ms` packets.
    pub fn new(clock_rate: u32, ptime_ms: u32) -> Self {
        Self {
            clock_rate,
            ptime: Duration::from_millis(u64::from(ptime_ms)),
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            capacity: 64,
            max_payload: 1_500,
            payload_bytes: None,
            silence: None,
            fec: false,
            stretch: false,
        }
    }
}

/// What to play for one ptime.
#[derive(Debug, PartialEq, Eq)]
pub enum Playout<'a> {
    /// Decode this packet. A silent packet may be handed out twice in a row
    /// (same `seq`): that is the buffer stretching its delay through silence.
    Packet {
        /// RTP payload.
        payload: &'a [u8],
        /// Its RTP timestamp.
        ts: u32,
        /// Its RTP sequence number.
        seq: u16,
        /// How to play it to move the delay (always `None` unless
        /// `JitterConfig::stretch`).
        stretch: Stretch,
    },
    /// Nothing for this slot while playing (lost, late, DTX pause, or an
    /// inserted frame to grow the delay): conceal. `next`, when present, is
    /// the following packet, whose FEC can rebuild this one (Opus).
    Missing {
        /// RTP timestamp of the slot.
        ts: u32,
        /// The packet after the gap, if already here.
        next: Option<&'a [u8]>,
    },
    /// Not playing yet (no packet, or still filling to the target delay
    /// after start, reset or resync): play silence.
    Empty,
}

/// Counters and delays, for RTCP and the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Current delay of the play-out point above the fastest packet (ms).
    pub delay_ms: u32,
    /// Target delay (ms).
    pub target_ms: u32,
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Packets handed out for decoding.
    pub played: u64,
    /// Packets that arrived after their play-out time (dropped).
    pub late: u64,
    /// Sequence numbers that were due but never arrived.
    pub lost: u64,
    /// Duplicate packets (dropped).
    pub duplicates: u64,
    /// Packets that arrived after a higher sequence number.
    pub reordered: u64,
    /// `Missing` results returned.
    pub concealed: u64,
    /// Packets discarded to reduce delay or because the buffer was full.
    pub dropped: u64,
    /// Times the buffer resynchronised to a new sender timeline.
    pub resyncs: u64,
    /// Packets played from a later packet's RFC 2198 redundant copy
    /// ([`JitterBuffer::push_redundant`]): lost, or later than their copy
    /// and their play-out time.
    pub redundant: u64,
}

/// The adaptive jitter buffer. All memory is allocated in [`new`](Self::new).
pub struct JitterBuffer {
    cfg: JitterConfig,
    step: i64,
    step_us: i64,
    store: Store,
    est: Estimator,
    base: Option<Instant>,
    /// Last raw and extended timestamp / sequence seen (unwrapping).
    ts_ref: Option<(u32, i64)>,
    seq_ref: Option<(u16, i64)>,
    /// Bit i: sequence `highest - i` was received.
    recv_bits: u128,
    /// Bit i: sequence `highest - i` is held as a redundant copy only (its
    /// own packet may still come, and then replaces it in the figures).
    copy_bits: u128,
    /// Extended timestamp of the next slot to play; `None` until playing.
    play_ts: Option<i64>,
    last_played_seq: Option<i64>,
    unplayable_run: u32,
    /// Since when the delay has been above the band (µs).
    excess_since: Option<i64>,
    /// When play-out last met a gap (µs), for the FEC look-ahead.
    last_gap_us: Option<i64>,
    /// Silent packets played in a row, to tell a pause from a short gap
    /// between words.
    silent_run: u32,
    /// The look-ahead's hold expired in speech: it is kept until a pause.
    lookahead_kept: bool,
    /// Timestamp of a packet whose FEC was wanted before it arrived.
    fec_awaited: Option<i64>,
    /// The latest push or pop (µs).
    now_us: i64,
    max_delay_us: i64,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer with `cfg` (zero rates, ptime or capacity are raised to 1).
    pub fn new(cfg: JitterConfig) -> Self {
        let clock_rate = cfg.clock_rate.max(1);
        let ptime_us = (cfg.ptime.as_micros() as i64).max(1);
        let min_us = cfg.min_delay.as_micros() as i64;
        let max_us = (cfg.max_delay.as_micros() as i64).max(min_us);
        let mut jb = Self {
            cfg: JitterConfig { clock_rate, ..cfg },
            step: (i64::from(clock_rate) * ptime_us / 1_000_000).max(1),
            step_us: ptime_us,
            store: Store::new(
                cfg.capacity.max(1),
                cfg.max_payload,
                cfg.payload_bytes
                    .unwrap_or(cfg.capacity.max(1) * cfg.max_payload),
            ),
            est: Estimator::new(min_us, max_us),
            base: None,
            ts_ref: None,
            seq_ref: None,
            recv_bits: 0,
            copy_bits: 0,
            play_ts: None,
            last_played_seq: None,
            unplayable_run: 0,
            excess_since: None,
            last_gap_us: None,
            fec_awaited: None,
            silent_run: 0,
            lookahead_kept: false,
            now_us: 0,
            max_delay_us: max_us,
            stats: JitterStats::default(),
        };
        jb.stats.target_ms = (jb.est.target_us() / 1_000) as u32;
        jb
    }

    /// The target delay: the estimator's, plus one packet of look-ahead
    /// while a recent gap says loss is present and FEC can use it.
    fn target_us(&self) -> i64 {
        let t = self.est.target_us();
        if self.lookahead() {
            (t + self.step_us).min(self.max_delay_us.max(t))
        } else {
            t
        }
    }

    /// Whether the FEC look-ahead is on.
    pub fn lookahead(&self) -> bool {
        self.cfg.fec
            && (self.lookahead_kept
                || self
                    .last_gap_us
                    .is_some_and(|g| self.now_us - g < LOOKAHEAD_HOLD.as_micros() as i64))
    }

    /// Lets an expired look-ahead go only in a pause, where its packet of
    /// delay leaves as a dropped silent packet; in speech it would leave as
    /// shortened speech. A stream that finds no pause within
    /// [`PAUSE_WAIT`] lets it go anyway.
    fn keep_lookahead_for_a_pause(&mut self, now_us: i64) {
        let was_on = self.lookahead();
        let hold = LOOKAHEAD_HOLD.as_micros() as i64;
        let wait = PAUSE_WAIT.as_micros() as i64;
        self.lookahead_kept = was_on
            && self.cfg.stretch
            && !self.in_pause()
            && self
                .last_gap_us
                .is_some_and(|g| (hold..hold + wait).contains(&(now_us - g)));
    }

    /// Forgets all packets and timing (new SSRC, sequence restart). The
    /// counters and the learned target delay are kept.
    pub fn reset(&mut self) {
        self.store.clear();
        self.est.clear();
        self.ts_ref = None;
        self.seq_ref = None;
        self.recv_bits = 0;
        self.copy_bits = 0;
        self.play_ts = None;
        self.last_played_seq = None;
        self.unplayable_run = 0;
        self.excess_since = None;
        // Both belong to the old timeline; the look-ahead, like the learned
        // target, belongs to the network and is kept.
        self.fec_awaited = None;
        self.silent_run = 0;
    }

    /// Counters and delays so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Packets currently held.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Accepts a packet that arrived at `now`.
    pub fn push(&mut self, now: Instant, seq: u16, ts: u32, payload: &[u8]) {
        let now_us = self.micros(now);
        self.now_us = now_us;
        let (ext_seq, ext_ts) = (self.unwrap_seq(seq), self.unwrap_ts(ts));
        self.note_fec_arrival(ext_ts);
        match self.classify(ext_seq, ext_ts) {
            Arrival::Duplicate if self.take_copy_bit(ext_seq) => {
                // Its redundant copy came first (reordering) and holds, or
                // held, its place. Still to play, the packet was not lost
                // after all; either way its arrival is what the delay
                // estimate must learn.
                let played = self.play_ts.is_some_and(|p| ext_ts < p);
                if !played {
                    self.stats.redundant -= 1;
                }
                self.stats.received += 1;
                self.est.push(now_us - self.media_us(ext_ts));
                self.stats.target_ms = (self.target_us() / 1_000) as u32;
                return;
            }
            Arrival::Duplicate => {
                self.stats.duplicates += 1;
                return;
            }
            Arrival::Unplayable { late } => {
                self.unplayable_run += 1;
                if self.unplayable_run < RESYNC_RUN {
                    self.note_unplayable(late, ext_seq, ext_ts, now_us);
                    return;
                }
                tracing::debug!(seq, ts, "jitter buffer: sender timeline moved, resync");
                self.stats.resyncs += 1;
                self.reset();
                return self.push(now, seq, ts, payload);
            }
            Arrival::Playable => self.unplayable_run = 0,
        }
        match self.store.insert(ext_seq, ext_ts, payload, self.play_ts) {
            Ok(()) => {
                self.mark_received(ext_seq);
                self.stats.received += 1;
                self.est.push(now_us - self.media_us(ext_ts));
                self.stats.target_ms = (self.target_us() / 1_000) as u32;
            }
            Err(StoreError::Duplicate) => self.stats.duplicates += 1,
            Err(StoreError::TooLarge | StoreError::Full) => self.stats.dropped += 1,
        }
    }

    /// Accepts an RFC 2198 redundant copy of packet `seq`, which came at
    /// `now` inside a later packet (already pushed). It fills the packet's
    /// slot only if the packet itself has not arrived and is still due; it
    /// is not counted as received, and its arrival, a packet time or more
    /// after the packet's own would have been, teaches the delay estimate
    /// nothing. Returns whether it filled a gap.
    pub fn push_redundant(&mut self, now: Instant, seq: u16, ts: u32, payload: &[u8]) -> bool {
        self.now_us = self.micros(now);
        if self.seq_ref.is_none() || self.ts_ref.is_none() {
            return false;
        }
        // Unwrapped against the newest packet, without moving it.
        let (ext_seq, ext_ts) = (self.extend_seq(seq), self.extend_ts(ts));
        // A copy carries its packet's FEC as well: after a double loss the
        // copy of the second packet is what could have rebuilt the first.
        self.note_fec_arrival(ext_ts);
        let age = match self.age_of(ext_seq) {
            Some(age) if age > 0 => age,
            // The newest packet itself, or beyond the bits kept.
            _ => return false,
        };
        let arrived = self.recv_bits & (1u128 << age) != 0;
        let played = self.play_ts.is_some_and(|p| ext_ts < p)
            || self.last_played_seq.is_some_and(|l| ext_seq <= l);
        if arrived
            || played
            || self
                .store
                .insert(ext_seq, ext_ts, payload, self.play_ts)
                .is_err()
        {
            return false;
        }
        self.mark_received(ext_seq);
        self.copy_bits |= 1u128 << age;
        self.stats.redundant += 1;
        true
    }

    /// The packet at `ext_ts` (or its copy) arrived: if a gap before it
    /// wanted its FEC, the delay was too short for FEC.
    fn note_fec_arrival(&mut self, ext_ts: i64) {
        if self.fec_awaited == Some(ext_ts) {
            // Start the look-ahead now: it grows at the next silence or
            // gap (see `pop`), ready for the next loss.
            self.fec_awaited = None;
            self.last_gap_us = Some(self.now_us);
        }
    }

    /// Whether `seq` is held as a copy only; clears that.
    fn take_copy_bit(&mut self, seq: i64) -> bool {
        let Some(age) = self.age_of(seq) else {
            return false;
        };
        let held = self.copy_bits & (1u128 << age) != 0;
        self.copy_bits &= !(1u128 << age);
        held
    }

    /// Whether `seq` is held as a redundant copy only.
    fn is_copy(&self, seq: i64) -> bool {
        self.age_of(seq)
            .is_some_and(|age| self.copy_bits & (1u128 << age) != 0)
    }

    /// How far `seq` is behind the newest sequence number, when within the
    /// 128 the receive and copy bits keep.
    fn age_of(&self, seq: i64) -> Option<u32> {
        let (_, highest) = self.seq_ref?;
        u32::try_from(highest - seq).ok().filter(|&age| age < 128)
    }

    /// What to play for the next ptime, at `now`: the moment the first sample
    /// of what it returns will be heard (a caller that plays packets of other
    /// lengths than its tick passes the tick time plus what it already
    /// played, which keeps stretch decisions exact).
    pub fn pop(&mut self, now: Instant) -> Playout<'_> {
        let now_us = self.micros(now);
        self.keep_lookahead_for_a_pause(now_us);
        self.now_us = now_us;
        let Some(play_ts) = self.play_ts.or_else(|| self.try_start(now_us)) else {
            return Playout::Empty;
        };
        let target = self.target_us();
        self.stats.target_ms = (target / 1_000) as u32;
        let e = now_us - self.media_us(play_ts) - self.est.min_offset() - target;
        self.stats.delay_ms = ((e + target).max(0) / 1_000) as u32;
        let due = self.due(play_ts);
        let due_silent = due.filter(|&i| self.within_silence(i));
        if e < 0 {
            // Behind target: stretch by one frame, repeating silence if we can,
            // lengthening speech by a pitch period if the caller can, else
            // inserting a concealment frame. Behind only by the look-ahead,
            // speech plays on: the look-ahead is for the next loss, and
            // grows at the next silence or gap (a gap is concealed anyway)
            // rather than by stretching speech now.
            let lookahead_only = e + target - self.est.target_us() >= 0 && !self.est.jittery();
            match (due, due_silent) {
                (_, Some(i)) if !lookahead_only || self.in_pause() => {
                    return self.hand_out(i, false, Stretch::None)
                }
                (Some(_), _) if lookahead_only => {}
                (Some(i), None) if self.cfg.stretch && e > -2 * self.step_us => {
                    return self.hand_out(i, true, Stretch::Lengthen)
                }
                _ => return self.missing(play_ts, None),
            }
        }
        if let Some(i) = due_silent.filter(|_| !self.cfg.stretch && e < self.step_us / 4) {
            // Close below target with silence due: take the drift here, as
            // the next speech packet could not be lengthened. (A caller that
            // stretches lengthens speech gently instead; repeating here would
            // leave the delay most of a packet above target, and the speech
            // after the silence would be shortened for it.)
            return self.hand_out(i, false, Stretch::None);
        }
        let (play_ts, e, due) = self.shrink(now_us, play_ts, e, due);
        self.stats.delay_ms = ((e + target).max(0) / 1_000) as u32;
        match due {
            Some(i) => {
                // Only three quarters of a packet above target: a clean link
                // sits up to a tick (10 ms) above it, and that wobble must not
                // shift the speech. A pitch period is at most half a packet, so
                // shortening never undershoots the target and shortening and
                // lengthening cannot chase each other.
                let how = if self.cfg.stretch && e > self.step_us * 3 / 4 && !self.is_silent(i) {
                    Stretch::Shorten
                } else {
                    Stretch::None
                };
                self.hand_out(i, true, how)
            }
            None => {
                let next = self.due(play_ts + self.step);
                if self.lookahead() || (self.cfg.fec && self.est.jittery()) {
                    // Loss goes on (keep the look-ahead), or the jitter
                    // already moves the delay (start it: the delay grows
                    // anyway).
                    self.last_gap_us = Some(now_us);
                } else if self.cfg.fec && next.is_none() {
                    // Whether the look-ahead would have helped shows when
                    // (if) the next packet, or its copy, arrives.
                    self.fec_awaited = Some(play_ts + self.step);
                }
                self.play_ts = Some(play_ts + self.step);
                self.missing(play_ts, next)
            }
        }
    }

    /// Too much delay: drops silence a little above the band, anything far
    /// above it or after seconds without silence, but never past the newest
    /// packet. Returns the new play-out timestamp, error and due packet.
    fn shrink(
        &mut self,
        now_us: i64,
        mut play_ts: i64,
        mut e: i64,
        mut due: Option<usize>,
    ) -> (i64, i64, Option<usize>) {
        // In a pause a whole packet of excess goes at once (what a lapsed
        // look-ahead leaves): silence is dropped rather than speech
        // shortened after it. Elsewhere a little more, so the wobble of a
        // clean link (up to a tick) never drops anything.
        let band = if self.cfg.stretch && self.in_pause() {
            self.step_us
        } else {
            self.step_us * 5 / 4
        };
        if e < band {
            self.excess_since = None;
            return (play_ts, e, due);
        }
        let since = *self.excess_since.get_or_insert(now_us);
        // A caller that stretches speech brings the delay down itself; dropping
        // a speech packet on top would be the skip stretching avoids.
        let stale = !self.cfg.stretch && now_us - since >= STALE_EXCESS_US;
        while e >= band
            && (stale || e >= 3 * self.step_us || due.is_none_or(|i| self.within_silence(i)))
            && self.store.has_from(play_ts + self.step)
        {
            let next_ts = match due {
                Some(i) => {
                    self.store.release(i);
                    self.stats.dropped += 1;
                    self.excess_since = None;
                    play_ts + self.step
                }
                // A hole: jump to the next packet in one go (the timeline may
                // have moved far), but not so far that delay goes negative.
                None => {
                    let limit = play_ts + (e / self.step_us).max(1) * self.step;
                    self.store
                        .earliest_from(Some(play_ts + self.step))
                        .map_or(limit, |i| self.store.slot(i).ts.min(limit))
                }
            };
            e -= self.media_us(next_ts) - self.media_us(play_ts);
            play_ts = next_ts;
            due = self.due(play_ts);
            if stale {
                break;
            }
        }
        self.play_ts = Some(play_ts);
        (play_ts, e, due)
    }

    fn is_silent(&self, i: usize) -> bool {
        self.cfg.silence.is_some_and(|f| f(self.store.payload(i)))
    }

    /// A silent packet after another one: silence to repeat or drop. The
    /// first after speech may still hold a word's tail (a voice-activity
    /// flag turns off before the sound has quite faded).
    fn within_silence(&self, i: usize) -> bool {
        self.silent_run > 0 && self.is_silent(i)
    }

    /// Play-out is in a pause between phrases (see [`PAUSE_PACKETS`]).
    fn in_pause(&self) -> bool {
        self.silent_run >= PAUSE_PACKETS
    }

    /// Starts play-out once the earliest packet has waited the target delay.
    fn try_start(&mut self, now_us: i64) -> Option<i64> {
        let first = self.store.earliest_from(None)?;
        let ts = self.store.slot(first).ts;
        if self.est.is_empty()
            || now_us - self.media_us(ts) - self.est.min_offset() < self.target_us()
        {
            return None;
        }
        self.play_ts = Some(ts);
        Some(ts)
    }

    /// The stored packet due at `play_ts` (timestamp within one step).
    fn due(&self, play_ts: i64) -> Option<usize> {
        self.store
            .earliest_from(Some(play_ts))
            .filter(|&i| self.store.slot(i).ts < play_ts + self.step)
    }

    fn hand_out(&mut self, i: usize, advance: bool, stretch: Stretch) -> Playout<'_> {
        let (seq, ts) = (self.store.slot(i).seq, self.store.slot(i).ts);
        if advance && self.is_copy(seq) && self.cfg.fec {
            // Its own packet was lost: loss is present. The next single loss
            // is covered by its copy without look-ahead, but two in a row
            // need the copy of the second (two packets on) in time, whose
            // FEC rebuilds the first: keep the look-ahead, or start it (it
            // grows in the next pause, see `pop`).
            self.last_gap_us = Some(self.now_us);
        }
        if advance {
            self.silent_run = if self.is_silent(i) {
                self.silent_run.saturating_add(1)
            } else {
                0
            };
            self.count_lost_before(seq);
            self.last_played_seq = Some(seq);
            self.play_ts = Some(ts + self.step);
            self.store.release(i);
        }
        self.stats.played += 1;
        Playout::Packet {
            payload: self.store.payload(i),
            ts: ts as u32,
            seq: seq as u16,
            stretch,
        }
    }

    fn missing(&mut self, ts: i64, next: Option<usize>) -> Playout<'_> {
        self.stats.concealed += 1;
        Playout::Missing {
            ts: ts as u32,
            next: next.map(|i| self.store.payload(i)),
        }
    }

    /// Counts sequence numbers skipped between the last played packet and
    /// `seq` that never arrived.
    fn count_lost_before(&mut self, seq: i64) {
        let Some(last) = self.last_played_seq else {
            return;
        };
        let highest = self.seq_ref.map_or(seq, |(_, h)| h);
        for q in (last + 1)..seq.min(last + 1 + 1_000) {
            let age = highest - q;
            if !(0..128).contains(&age) || self.recv_bits & (1u128 << age) == 0 {
                self.stats.lost += 1;
            }
        }
    }

    fn classify(&mut self, seq: i64, ts: i64) -> Arrival {
        let highest = self.seq_ref.map_or(seq, |(_, h)| h);
        let age = highest - seq;
        if age >= 128 {
            return Arrival::Unplayable { late: true };
        }
        if age >= 0 && self.recv_bits & (1u128 << age) != 0 {
            return Arrival::Duplicate;
        }
        if age > 0 {
            self.stats.reordered += 1;
        }
        let Some(play_ts) = self.play_ts else {
            return Arrival::Playable;
        };
        // Further ahead than the buffer could ever hold: a timestamp jump.
        let horizon = self.step * self.cfg.capacity.max(1) as i64;
        if ts < play_ts {
            Arrival::Unplayable { late: true }
        } else if ts >= play_ts + 2 * horizon {
            Arrival::Unplayable { late: false }
        } else {
            Arrival::Playable
        }
    }

    fn note_unplayable(&mut self, late: bool, seq: i64, ts: i64, now_us: i64) {
        if late {
            self.stats.late += 1;
            // It was counted lost when its slot was played without it.
            if self.last_played_seq.is_some_and(|l| seq < l) {
                self.stats.lost = self.stats.lost.saturating_sub(1);
            }
            // Its lateness is exactly what the delay estimate must learn.
            self.est.push(now_us - self.media_us(ts));
            self.stats.target_ms = (self.target_us() / 1_000) as u32;
        } else {
            self.stats.dropped += 1;
        }
        self.mark_received(seq);
    }

    fn mark_received(&mut self, seq: i64) {
        if let Some(age) = self.age_of(seq) {
            self.recv_bits |= 1u128 << age;
        }
    }

    /// `seq` extended against the newest sequence number (itself at first).
    fn extend_seq(&self, seq: u16) -> i64 {
        self.seq_ref.map_or(i64::from(seq), |(raw, h)| {
            h + i64::from(seq.wrapping_sub(raw) as i16)
        })
    }

    /// `ts` extended against the newest timestamp (itself at first).
    fn extend_ts(&self, ts: u32) -> i64 {
        self.ts_ref.map_or(i64::from(ts), |(raw, e)| {
            e + i64::from(ts.wrapping_sub(raw) as i32)
        })
    }

    fn unwrap_seq(&mut self, seq: u16) -> i64 {
        let ext = self.extend_seq(seq);
        let highest = self.seq_ref.map_or(ext, |(_, h)| h);
        if self.seq_ref.is_none() || ext > highest {
            let shift = (ext - highest) as u32;
            (self.recv_bits, self.copy_bits) = if shift >= 128 {
                (0, 0)
            } else {
                (self.recv_bits << shift, self.copy_bits << shift)
            };
            self.seq_ref = Some((seq, ext));
        }
        ext
    }

    fn unwrap_ts(&mut self, ts: u32) -> i64 {
        let ext = self.extend_ts(ts);
        if self.ts_ref.is_none_or(|(_, e)| ext > e) {
            self.ts_ref = Some((ts, ext));
        }
        ext
    }

    fn micros(&mut self, now: Instant) -> i64 {
        let base = *self.base.get_or_insert(now);
        now.saturating_duration_since(base).as_micros() as i64
    }

    fn media_us(&self, ext_ts: i64) -> i64 {
        ext_ts * 1_000_000 / i64::from(self.cfg.clock_rate)
    }
}

enum Arrival {
    Playable,
    Duplicate,
    Unplayable { late: bool },
}
