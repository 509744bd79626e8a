//! Time stretching of decoded speech by whole pitch periods (as WebRTC NetEQ's
//! accelerate and preemptive expand do), so the jitter buffer can move its
//! play-out point by a few milliseconds at a time inside speech instead of
//! dropping or inserting whole packets, which a listener hears as a skip.
//!
//! One packet of 48 kHz audio at a time: the pitch period `P` (2.5 ms up to
//! half the packet) is found by normalised autocorrelation, coarse on a
//! 8 kHz-decimated copy, then refined at 48 kHz. Shortening cross-fades the
//! packet's first period into its second and drops one period; lengthening
//! cross-fades from the second period back into a copy of the first, which adds
//! one. Both ends of the packet are left untouched, so it still joins its
//! neighbours without a step. A packet that is neither periodic nor quiet is
//! left alone (cross-fading two unrelated stretches of noise leaves a dip).

use crate::codec::MAX_PACKET_SAMPLES;

/// Decimation from 48 kHz to the 8 kHz pitch search.
const DECIM: usize = 6;
/// Shortest period considered (2.5 ms, 400 Hz), in 8 kHz samples.
const MIN_LAG: usize = 20;
/// Longest period considered (15 ms, 67 Hz), in 8 kHz samples; a packet must
/// hold two of them.
const MAX_LAG: usize = 120;
/// Normalised correlation above which a packet counts as periodic.
const MIN_CORRELATION: f32 = 0.6;
/// Below this RMS (±32768 scale, about −50 dBFS) any cut is inaudible.
const QUIET_RMS: f32 = 100.0;

/// Which way to stretch a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stretch {
    /// Play it as decoded.
    #[default]
    None,
    /// Play it one pitch period shorter (the buffer holds too much delay).
    Shorten,
    /// Play it one pitch period longer (the buffer needs more delay).
    Lengthen,
}

/// Samples a buffer needs so that a packet of `n` samples can be lengthened:
/// the period added is at most half the packet.
pub const fn room_to_lengthen(n: usize) -> usize {
    n + n / 2
}

/// Pitch-synchronous time stretcher; its scratch is allocated at construction.
pub struct TimeStretcher {
    /// The 8 kHz copy of a packet; its length bounds the packets stretched.
    decimated: Box<[f32]>,
}

impl Default for TimeStretcher {
    fn default() -> Self {
        Self::new()
    }
}

impl TimeStretcher {
    /// A stretcher for packets up to [`MAX_PACKET_SAMPLES`].
    pub fn new() -> Self {
        Self::for_packets(MAX_PACKET_SAMPLES)
    }

    /// A stretcher for packets up to `samples` long (longer ones are played
    /// as they are): a stream's own packet length keeps its scratch small.
    pub fn for_packets(samples: usize) -> Self {
        Self {
            decimated: vec![0.0; samples.div_ceil(DECIM)].into_boxed_slice(),
        }
    }

    /// Applies `how` to the `n` samples at the start of `pcm` in place and
    /// returns the new length (`n` when the packet is not stretchable, or
    /// `pcm` has no room for a longer result).
    pub fn apply(&mut self, how: Stretch, pcm: &mut [f32], n: usize) -> usize {
        let n = n.min(pcm.len());
        if how == Stretch::None || n > self.decimated.len() * DECIM {
            return n;
        }
        let Some(p) = self.period(&pcm[..n]) else {
            return n;
        };
        match how {
            Stretch::Shorten => shorten(pcm, n, p),
            Stretch::Lengthen if n + p <= pcm.len() => lengthen(pcm, n, p),
            _ => n,
        }
    }

    /// The pitch period (48 kHz samples) of `x`, or of any length in range if
    /// it is quiet; None when it is neither periodic nor quiet or too short.
    fn period(&mut self, x: &[f32]) -> Option<usize> {
        let n8 = x.len() / DECIM;
        let max_lag = MAX_LAG.min(n8 / 2);
        if max_lag < MIN_LAG {
            return None;
        }
        let energy: f32 = x.iter().map(|v| v * v).sum();
        let quiet = (energy / x.len() as f32).sqrt() < QUIET_RMS;
        let d = &mut self.decimated[..n8];
        for (o, chunk) in d.iter_mut().zip(x.chunks_exact(DECIM)) {
            *o = chunk.iter().sum::<f32>() / DECIM as f32;
        }
        // A window as long as the longest lag, compared with itself `lag` on.
        let w = max_lag;
        let (coarse, c) = best_lag(d, w, MIN_LAG, max_lag)?;
        if c < MIN_CORRELATION && !quiet {
            return None;
        }
        let lo = (coarse * DECIM)
            .saturating_sub(DECIM - 1)
            .max(MIN_LAG * DECIM);
        let hi = (coarse * DECIM + DECIM - 1).min(x.len() / 2);
        let w48 = x.len() - hi;
        let (fine, _) = best_lag(x, w48.min(hi), lo, hi)?;
        Some(fine)
    }
}

/// The lag in `lo..=hi` whose `w`-sample window correlates best with the
/// signal's start, and that normalised correlation.
fn best_lag(x: &[f32], w: usize, lo: usize, hi: usize) -> Option<(usize, f32)> {
    if lo > hi || hi + w > x.len() || w == 0 {
        return None;
    }
    let head = &x[..w];
    let e0: f32 = head.iter().map(|v| v * v).sum();
    let mut best: Option<(usize, f32)> = None;
    for lag in lo..=hi {
        let tail = &x[lag..lag + w];
        let (mut xy, mut e1) = (0.0f32, 0.0f32);
        for (a, b) in head.iter().zip(tail) {
            xy += a * b;
            e1 += b * b;
        }
        let c = xy / (e0 * e1).sqrt().max(1e-3);
        if best.is_none_or(|(_, bc)| c > bc) {
            best = Some((lag, c));
        }
    }
    best
}

/// Cross-fades period 1 into period 2 and drops one period: `n - p` samples.
fn shorten(pcm: &mut [f32], n: usize, p: usize) -> usize {
    for i in 0..p {
        let w = (i as f32 + 0.5) / p as f32;
        pcm[i] = (1.0 - w) * pcm[i] + w * pcm[p + i];
    }
    pcm.copy_within(2 * p..n, p);
    n - p
}

/// Plays period 1, fades from period 2 back into period 1, then plays on
/// from period 2: `n + p` samples (`pcm` holds them).
fn lengthen(pcm: &mut [f32], n: usize, p: usize) -> usize {
    pcm.copy_within(p..n, 2 * p);
    for i in 0..p {
        let w = (i as f32 + 0.5) / p as f32;
        pcm[p + i] = (1.0 - w) * pcm[2 * p + i] + w * pcm[i];
    }
    n + p
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: usize = 960;

    /// A 125 Hz harmonic "voice" (period 384 samples at 48 kHz).
    fn voiced(start: usize, len: usize) -> Vec<f32> {
        (start..start + len)
            .map(|t| {
                let ph = 2.0 * std::f32::consts::PI * 125.0 * t as f32 / 48_000.0;
                8_000.0 * ph.sin() + 4_000.0 * (2.0 * ph).sin() + 2_000.0 * (3.0 * ph).sin()
            })
            .collect()
    }

    fn max_step(x: &[f32]) -> f32 {
        x.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max)
    }

    fn packet(start: usize) -> Vec<f32> {
        let mut v = voiced(start, N);
        v.resize(MAX_PACKET_SAMPLES, 0.0);
        v
    }

    #[test]
    fn shorten_removes_one_pitch_period_smoothly() {
        let mut s = TimeStretcher::new();
        let mut pcm = packet(N);
        let n = s.apply(Stretch::Shorten, &mut pcm, N);
        assert!((N - n).abs_diff(384) <= 2, "removed {}", N - n);
        // Played between its neighbours, the result joins without a step
        // larger than the signal's own.
        let mut joined = voiced(0, N);
        joined.extend_from_slice(&pcm[..n]);
        joined.extend(voiced(2 * N, N));
        let natural = max_step(&voiced(0, 3 * N));
        assert!(
            max_step(&joined) < 1.2 * natural,
            "{} vs {natural}",
            max_step(&joined)
        );
    }

    #[test]
    fn lengthen_adds_one_pitch_period_smoothly() {
        let mut s = TimeStretcher::new();
        let mut pcm = packet(N);
        let n = s.apply(Stretch::Lengthen, &mut pcm, N);
        assert!((n - N).abs_diff(384) <= 2, "added {}", n - N);
        let mut joined = voiced(0, N);
        joined.extend_from_slice(&pcm[..n]);
        joined.extend(voiced(2 * N, N));
        let natural = max_step(&voiced(0, 3 * N));
        assert!(
            max_step(&joined) < 1.2 * natural,
            "{} vs {natural}",
            max_step(&joined)
        );
        // Level kept: the inserted period is speech, not a fade.
        let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        assert!(rms(&pcm[..n]) > 0.9 * rms(&voiced(0, N)));
    }

    #[test]
    fn loud_noise_is_left_alone() {
        let mut s = TimeStretcher::new();
        let mut seed = 0x1234_5678u32;
        let mut pcm: Vec<f32> = (0..MAX_PACKET_SAMPLES)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                (seed as f32 / u32::MAX as f32 - 0.5) * 20_000.0
            })
            .collect();
        let before = pcm.clone();
        assert_eq!(s.apply(Stretch::Shorten, &mut pcm, N), N);
        assert_eq!(s.apply(Stretch::Lengthen, &mut pcm, N), N);
        assert_eq!(pcm, before);
    }

    #[test]
    fn quiet_packets_stretch_whatever_they_hold() {
        let mut s = TimeStretcher::new();
        let mut pcm = vec![0.0f32; MAX_PACKET_SAMPLES];
        let n = s.apply(Stretch::Shorten, &mut pcm, N);
        assert!((N / 2..N).contains(&n), "{n}");
        let n = s.apply(Stretch::Lengthen, &mut pcm, N);
        assert!(n > N && n <= N + N / 2, "{n}");
    }

    #[test]
    fn short_packets_and_no_room_are_refused() {
        let mut s = TimeStretcher::new();
        let mut pcm = voiced(0, 200);
        assert_eq!(s.apply(Stretch::Shorten, &mut pcm, 200), 200);
        let mut exact = voiced(0, N);
        assert_eq!(s.apply(Stretch::Lengthen, &mut exact, N), N);
        assert_eq!(exact, voiced(0, N));
    }
}
