//! Delay estimation: where the play-out point should sit.
//!
//! For each packet we note its *offset*, arrival time minus media time
//! (timestamp / clock rate). Over a window of recent packets the smallest
//! offset is the fastest path through the network and the largest one the
//! slowest; their difference is the jitter a buffer must absorb. The target
//! follows that spread upwards at once (a late packet is audible) and back
//! down slowly, so one burst does not make the delay pump. Once the window
//! holds a few packets, the slowest one alone does not count: the spread is
//! taken to the second slowest. A single late packet (a Wi-Fi retry, a
//! scheduling hiccup) then costs one concealed or FEC-rebuilt frame instead
//! of raising the delay to its lateness for the next ten seconds and
//! stretching speech twice; a second one within the window is a slow path,
//! and the target follows it.

/// Packets in the estimation window (2.56 s at 20 ms).
pub(super) const WINDOW: usize = 128;
/// From this many packets on, the slowest packet of the window alone does not
/// set the target: a second one at least as slow must confirm it.
const CONFIRM_AFTER: usize = 16;
/// Per-packet fraction by which an over-large target decays towards the
/// measured spread (a time constant of ~5 s at 20 ms packets).
const DECAY: f64 = 1.0 / 256.0;

pub(super) struct Estimator {
    offsets: [i64; WINDOW],
    len: usize,
    next: usize,
    min: i64,
    max: i64,
    target_us: f64,
    min_delay_us: f64,
    max_delay_us: f64,
}

impl Estimator {
    pub(super) fn new(min_delay_us: i64, max_delay_us: i64) -> Self {
        Self {
            offsets: [0; WINDOW],
            len: 0,
            next: 0,
            min: 0,
            max: 0,
            target_us: min_delay_us as f64,
            min_delay_us: min_delay_us as f64,
            max_delay_us: max_delay_us as f64,
        }
    }

    /// Forgets the offsets (the media timeline changed) but keeps the
    /// learned target: the network is still as jittery as it was.
    pub(super) fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records the offset (µs) of one arrived packet and updates the target.
    pub(super) fn push(&mut self, offset_us: i64) {
        self.offsets[self.next] = offset_us;
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
        // One pass: the fastest, the slowest and the second slowest.
        let (mut first, mut second) = (i64::MIN, i64::MIN);
        self.min = offset_us;
        for &o in &self.offsets[..self.len] {
            self.min = self.min.min(o);
            if o > first {
                second = first;
                first = o;
            } else if o > second {
                second = o;
            }
        }
        self.max = if self.len >= CONFIRM_AFTER {
            second
        } else {
            first
        };
        let raw = ((self.max - self.min) as f64).clamp(self.min_delay_us, self.max_delay_us);
        if raw > self.target_us {
            self.target_us = raw;
        } else {
            self.target_us -= (self.target_us - raw) * DECAY;
        }
    }

    /// Offset of the fastest recent packet (µs).
    pub(super) fn min_offset(&self) -> i64 {
        self.min
    }

    /// Whether the network's jitter, not the smallest delay, sets the target.
    pub(super) fn jittery(&self) -> bool {
        self.target_us > self.min_delay_us
    }

    /// Target buffering delay above the fastest packet (µs).
    pub(super) fn target_us(&self) -> i64 {
        self.target_us as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirmed_slow_path_raises_the_target_at_once_and_it_decays_slowly() {
        let mut e = Estimator::new(20_000, 200_000);
        for _ in 0..CONFIRM_AFTER {
            e.push(1_000);
        }
        assert_eq!(e.target_us(), 20_000);
        // One slow packet alone is a spike: it is concealed rather than
        // holding 90 ms of delay for seconds.
        e.push(91_000);
        assert_eq!(e.target_us(), 20_000);
        // A second one within the window confirms a slow path: the target
        // rises at once, to the lesser of the two.
        for _ in 0..10 {
            e.push(1_000);
        }
        e.push(71_000);
        assert_eq!(e.target_us(), 70_000);
        // Held while both are in the window (the first leaves it WINDOW
        // packets after it came), then decaying.
        for _ in 0..WINDOW - 12 {
            e.push(1_000);
        }
        assert_eq!(e.target_us(), 70_000);
        for _ in 0..200 {
            e.push(1_000);
        }
        let decaying = e.target_us();
        assert!(decaying > 35_000 && decaying < 50_000, "{decaying}");
        for _ in 0..2_000 {
            e.push(1_000);
        }
        assert!(e.target_us() < 21_000);
    }

    #[test]
    fn while_warming_up_one_slow_packet_sets_the_target() {
        let mut e = Estimator::new(20_000, 200_000);
        for _ in 0..5 {
            e.push(1_000);
        }
        e.push(61_000);
        assert_eq!(e.target_us(), 60_000);
    }

    #[test]
    fn target_is_clamped() {
        let mut e = Estimator::new(20_000, 200_000);
        e.push(0);
        e.push(900_000);
        assert_eq!(e.target_us(), 200_000);
        assert_eq!(e.min_offset(), 0);
    }
}
