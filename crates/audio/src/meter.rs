//! Level meters: RMS and peak in dBFS, per frame and smoothed.
//!
//! Full scale is 32768 (the ±32768 sample scale of [`crate::Frame`]), so a square
//! wave at full scale reads 0 dBFS RMS and a full-scale sine reads about -3 dBFS RMS.
//! Everything here works on borrowed slices and plain numbers: no allocation.

use crate::frame::{FRAME_SAMPLES, SAMPLE_RATE};

/// The level reported for digital silence (and the lowest level ever reported).
pub const FLOOR_DBFS: f32 = -120.0;

/// Full-scale amplitude in the internal sample scale.
const FULL_SCALE: f32 = 32768.0;

/// A level reading in dBFS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// Root-mean-square level in dBFS.
    pub rms_dbfs: f32,
    /// Absolute peak sample in dBFS.
    pub peak_dbfs: f32,
}

impl Level {
    /// The reading for silence.
    pub const SILENT: Level = Level {
        rms_dbfs: FLOOR_DBFS,
        peak_dbfs: FLOOR_DBFS,
    };
}

/// Converts a linear amplitude (±32768 scale) to dBFS, floored at [`FLOOR_DBFS`].
pub fn amplitude_to_dbfs(amplitude: f32) -> f32 {
    // NaN compares false everywhere, so it lands on the floor too.
    if amplitude.is_nan() || amplitude <= 0.0 {
        return FLOOR_DBFS;
    }
    (20.0 * (amplitude / FULL_SCALE).log10()).max(FLOOR_DBFS)
}

/// Converts dBFS to a linear amplitude in the ±32768 scale.
pub fn dbfs_to_amplitude(dbfs: f32) -> f32 {
    FULL_SCALE * 10f32.powf(dbfs / 20.0)
}

/// Linear RMS and peak of a block; non-finite samples count as silence so that
/// one bad sample cannot poison a meter.
fn linear_levels(samples: &[f32]) -> (f32, f32) {
    if samples.is_empty() {
        return (0.0, 0.0);
    }
    // Eight independent lanes let the compiler vectorise; f32 squares of ±32768
    // samples summed over a frame stay far inside f32 range and precision needs.
    let mut sum = [0.0f32; 8];
    let mut peak = [0.0f32; 8];
    let chunks = samples.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            let s = if c[k].is_finite() { c[k] } else { 0.0 };
            sum[k] += s * s;
            peak[k] = peak[k].max(s.abs());
        }
    }
    for (k, &s) in tail.iter().enumerate() {
        let s = if s.is_finite() { s } else { 0.0 };
        sum[k] += s * s;
        peak[k] = peak[k].max(s.abs());
    }
    let total: f32 = sum.iter().sum();
    let peak = peak.iter().fold(0.0f32, |a, &b| a.max(b));
    ((total / samples.len() as f32).sqrt(), peak)
}

/// RMS and peak of one block of samples, in dBFS.
pub fn block_level(samples: &[f32]) -> Level {
    let (rms, peak) = linear_levels(samples);
    Level {
        rms_dbfs: amplitude_to_dbfs(rms),
        peak_dbfs: amplitude_to_dbfs(peak),
    }
}

/// A meter fed one frame at a time, keeping the last frame's level and a smoothed
/// level (fast attack, slow release, like a VU/PPM bar in an agent's UI).
#[derive(Debug, Clone)]
pub struct LevelMeter {
    attack: f32,
    release: f32,
    rms: f32,
    peak: f32,
    last: Level,
}

/// One-pole coefficient reaching ~63 % of a step after `time_ms`, for updates once
/// per 10 ms frame.
fn frame_coefficient(time_ms: f32) -> f32 {
    let frame_ms = FRAME_SAMPLES as f32 * 1000.0 / SAMPLE_RATE as f32;
    if time_ms.is_nan() || time_ms <= 0.0 {
        return 1.0;
    }
    1.0 - (-frame_ms / time_ms).exp()
}

impl LevelMeter {
    /// A meter with the given attack and release times in milliseconds (a time of
    /// zero or less means "follow instantly").
    pub fn new(attack_ms: f32, release_ms: f32) -> Self {
        LevelMeter {
            attack: frame_coefficient(attack_ms),
            release: frame_coefficient(release_ms),
            rms: 0.0,
            peak: 0.0,
            last: Level::SILENT,
        }
    }

    /// Feeds one frame (or any block) and returns its own, unsmoothed level.
    pub fn process(&mut self, samples: &[f32]) -> Level {
        let (rms, peak) = linear_levels(samples);
        self.rms = smooth(self.rms, rms, self.attack, self.release);
        self.peak = smooth(self.peak, peak, self.attack, self.release);
        self.last = Level {
            rms_dbfs: amplitude_to_dbfs(rms),
            peak_dbfs: amplitude_to_dbfs(peak),
        };
        self.last
    }

    /// The level of the last frame fed.
    pub fn last(&self) -> Level {
        self.last
    }

    /// The smoothed level.
    pub fn smoothed(&self) -> Level {
        Level {
            rms_dbfs: amplitude_to_dbfs(self.rms),
            peak_dbfs: amplitude_to_dbfs(self.peak),
        }
    }

    /// Forgets everything (e.g. when a slot is reused for another leg).
    pub fn reset(&mut self) {
        self.rms = 0.0;
        self.peak = 0.0;
        self.last = Level::SILENT;
    }
}

impl Default for LevelMeter {
    /// 10 ms attack, 300 ms release.
    fn default() -> Self {
        LevelMeter::new(10.0, 300.0)
    }
}

fn smooth(state: f32, input: f32, attack: f32, release: f32) -> f32 {
    let k = if input > state { attack } else { release };
    state + k * (input - state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(amplitude: f32) -> [f32; FRAME_SAMPLES] {
        let mut f = [0.0; FRAME_SAMPLES];
        for (i, s) in f.iter_mut().enumerate() {
            *s = amplitude * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 48_000.0).sin();
        }
        f
    }

    #[test]
    fn full_scale_sine_reads_minus_three_dbfs_rms_and_zero_peak() {
        let l = block_level(&sine(32768.0));
        assert!((l.rms_dbfs + 3.01).abs() < 0.05, "{l:?}");
        assert!(l.peak_dbfs.abs() < 0.01, "{l:?}");
    }

    #[test]
    fn silence_and_garbage_read_the_floor() {
        assert_eq!(block_level(&[0.0; 480]), Level::SILENT);
        assert_eq!(block_level(&[f32::NAN; 480]), Level::SILENT);
        assert_eq!(block_level(&[]), Level::SILENT);
    }

    #[test]
    fn minus_twenty_db_sine_reads_minus_twenty_peak() {
        let l = block_level(&sine(dbfs_to_amplitude(-20.0)));
        assert!((l.peak_dbfs + 20.0).abs() < 0.01, "{l:?}");
        assert!((l.rms_dbfs + 23.01).abs() < 0.05, "{l:?}");
    }

    #[test]
    fn smoothed_level_attacks_fast_and_releases_slowly() {
        let mut m = LevelMeter::new(10.0, 300.0);
        let loud = sine(dbfs_to_amplitude(-6.0));
        for _ in 0..5 {
            m.process(&loud);
        }
        assert!(
            (m.smoothed().peak_dbfs + 6.0).abs() < 0.2,
            "{:?}",
            m.smoothed()
        );
        let quiet = [0.0; FRAME_SAMPLES];
        m.process(&quiet);
        assert_eq!(m.last(), Level::SILENT);
        // After 10 ms of silence a 300 ms release has only dropped a little.
        assert!(m.smoothed().peak_dbfs > -7.0, "{:?}", m.smoothed());
        for _ in 0..300 {
            m.process(&quiet);
        }
        assert!(m.smoothed().peak_dbfs < -60.0, "{:?}", m.smoothed());
    }
}
