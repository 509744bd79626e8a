//! Delay estimation: where the play-out point should sit.
//!
//! For each packet we note its *offset*, arrival time minus media time
//! (timestamp / clock rate). Over a window of recent packets the smallest
//! offset is the fastest path through the network and the largest one the
//! slowest; their difference is the jitter a buffer must absorb. The target
//! follows that spread upwards at once (a late packet is audible) and back
//! down slowly, so one burst does not make the delay pump.

/// Packets in the estimation window (2.56 s at 20 ms).
pub(super) const WINDOW: usize = 128;
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
        let window = &self.offsets[..self.len];
        self.min = window.iter().copied().min().unwrap_or(offset_us);
        self.max = window.iter().copied().max().unwrap_or(offset_us);
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
    fn target_jumps_up_and_decays_slowly() {
        let mut e = Estimator::new(20_000, 200_000);
        for _ in 0..10 {
            e.push(1_000);
        }
        assert_eq!(e.target_us(), 20_000);
        e.push(91_000);
        assert_eq!(e.target_us(), 90_000);
        // The spike leaves the window after WINDOW packets; then decay.
        for _ in 0..WINDOW {
            e.push(1_000);
        }
        let after_window = e.target_us();
        assert!(
            after_window > 80_000 && after_window < 90_000,
            "{after_window}"
        );
        for _ in 0..2_000 {
            e.push(1_000);
        }
        assert!(e.target_us() < 21_000);
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
