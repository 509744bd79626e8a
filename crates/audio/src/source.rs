//! Sources of 10 ms frames: silence, a test tone, and a WAV file played as the
//! microphone. All are allocation-free per frame.

use std::f64::consts::TAU;
use std::path::Path;

use crate::frame::{Frame, SAMPLE_RATE};
use crate::meter::dbfs_to_amplitude;
use crate::wav::{read_wav_48k_mono, WavError};

/// What a source did when asked for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// `out` holds a new frame (possibly padded with silence at the very end).
    Frame,
    /// Nothing more will come; `out` was filled with silence.
    Ended,
}

/// Something that produces 48 kHz mono frames on demand.
pub trait AudioSource {
    /// Fills `out` with the next frame.
    fn read_frame(&mut self, out: &mut Frame) -> SourceStatus;
}

/// Endless digital silence.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silence;

impl AudioSource for Silence {
    fn read_frame(&mut self, out: &mut Frame) -> SourceStatus {
        out.fill(0.0);
        SourceStatus::Frame
    }
}

/// Invalid source parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The tone's frequency is not between 0 and the Nyquist frequency.
    #[error("tone frequency {0} Hz is outside 0 < f < 24000 Hz")]
    Frequency(f32),
    /// The tone's level is above full scale or not a number.
    #[error("tone level {0} dBFS is above 0 dBFS or not a number")]
    Level(f32),
}

/// An endless sine tone.
#[derive(Debug, Clone)]
pub struct Tone {
    step: f64,
    /// `step`'s sine and cosine: each sample rotates the phasor by `step`.
    rotate: (f64, f64),
    phase: f64,
    amplitude: f32,
}

impl Tone {
    /// A sine at `freq` Hz whose peak is at `level_dbfs` (0 dBFS = ±32768).
    pub fn new(freq: f32, level_dbfs: f32) -> Result<Self, SourceError> {
        let nyquist = SAMPLE_RATE as f32 / 2.0;
        if !(freq > 0.0 && freq < nyquist) {
            return Err(SourceError::Frequency(freq));
        }
        if level_dbfs.is_nan() || level_dbfs > 0.0 {
            return Err(SourceError::Level(level_dbfs));
        }
        let step = TAU * f64::from(freq) / f64::from(SAMPLE_RATE);
        Ok(Tone {
            step,
            rotate: step.sin_cos(),
            phase: 0.0,
            // Just under full scale so that 0 dBFS survives conversion to i16.
            amplitude: dbfs_to_amplitude(level_dbfs).min(32_767.0),
        })
    }
}

impl AudioSource for Tone {
    fn read_frame(&mut self, out: &mut Frame) -> SourceStatus {
        // A phasor rotated sample by sample (two multiply-adds) instead of a
        // sine and a modulo per sample; restarted from the exact phase each
        // frame, so its rounding (~1e-13 over 480 steps) never accumulates.
        let (sin_step, cos_step) = self.rotate;
        let (mut sin, mut cos) = self.phase.sin_cos();
        for s in out.iter_mut() {
            *s = self.amplitude * sin as f32;
            (sin, cos) = (
                sin * cos_step + cos * sin_step,
                cos * cos_step - sin * sin_step,
            );
        }
        // Kept within one turn so precision does not decay over a long call.
        self.phase = (self.phase + self.step * out.len() as f64) % TAU;
        SourceStatus::Frame
    }
}

/// A WAV file played as the microphone: decoded and resampled to 48 kHz mono when
/// opened, then read frame by frame without allocation.
#[derive(Debug, Clone)]
pub struct WavFileSource {
    samples: Vec<f32>,
    pos: usize,
    looping: bool,
}

impl WavFileSource {
    /// Opens and decodes `path`; with `looping`, playback restarts at the end.
    pub fn open(path: impl AsRef<Path>, looping: bool) -> Result<Self, WavError> {
        let audio = read_wav_48k_mono(path)?;
        Ok(Self::from_samples(audio.samples, looping))
    }

    /// A source over already decoded 48 kHz mono samples.
    pub fn from_samples(samples: Vec<f32>, looping: bool) -> Self {
        WavFileSource {
            samples,
            pos: 0,
            looping,
        }
    }

    /// Total length in 48 kHz samples.
    pub fn len_samples(&self) -> usize {
        self.samples.len()
    }
}

impl AudioSource for WavFileSource {
    fn read_frame(&mut self, out: &mut Frame) -> SourceStatus {
        if self.samples.is_empty() || (!self.looping && self.pos >= self.samples.len()) {
            out.fill(0.0);
            return SourceStatus::Ended;
        }
        let mut filled = 0;
        while filled < out.len() {
            if self.pos >= self.samples.len() {
                if !self.looping {
                    out[filled..].fill(0.0);
                    break;
                }
                self.pos = 0;
            }
            let n = (out.len() - filled).min(self.samples.len() - self.pos);
            out[filled..filled + n].copy_from_slice(&self.samples[self.pos..self.pos + n]);
            filled += n;
            self.pos += n;
        }
        SourceStatus::Frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FRAME_SAMPLES;
    use crate::meter::block_level;

    #[test]
    fn tone_follows_the_exact_sine_over_a_long_call() {
        let mut t = Tone::new(300.0, 0.0).expect("valid tone");
        let mut frame = [0.0; FRAME_SAMPLES];
        let step = TAU * 300.0 / f64::from(SAMPLE_RATE);
        // 10 minutes of frames; the last one is compared sample by sample.
        for _ in 0..60_000 {
            t.read_frame(&mut frame);
        }
        let start = 59_999 * FRAME_SAMPLES;
        for (i, &s) in frame.iter().enumerate() {
            let exact = 32_767.0 * (((start + i) as f64 * step) % TAU).sin();
            assert!((f64::from(s) - exact).abs() < 0.05, "{i}: {s} vs {exact}");
        }
    }

    #[test]
    fn tone_has_requested_peak_and_is_continuous_across_frames() {
        let mut t = Tone::new(1000.0, -6.0).expect("valid tone");
        let mut a = [0.0; FRAME_SAMPLES];
        let mut b = [0.0; FRAME_SAMPLES];
        t.read_frame(&mut a);
        t.read_frame(&mut b);
        assert!((block_level(&a).peak_dbfs + 6.0).abs() < 0.05);
        // 1 kHz fits 10 whole cycles in a frame: frame 2 repeats frame 1.
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 0.5);
        }
        assert_eq!(
            Tone::new(30_000.0, -6.0).unwrap_err(),
            SourceError::Frequency(30_000.0)
        );
        assert!(Tone::new(440.0, 3.0).is_err());
        assert!(Tone::new(f32::NAN, -3.0).is_err());
    }

    #[test]
    fn file_source_pads_the_last_frame_then_ends_or_loops() {
        let samples: Vec<f32> = (0..700).map(|i| i as f32).collect();
        let mut once = WavFileSource::from_samples(samples.clone(), false);
        let mut out = [0.0; FRAME_SAMPLES];
        assert_eq!(once.read_frame(&mut out), SourceStatus::Frame);
        assert_eq!(out[479], 479.0);
        assert_eq!(once.read_frame(&mut out), SourceStatus::Frame);
        assert_eq!((out[0], out[219], out[220]), (480.0, 699.0, 0.0));
        assert_eq!(once.read_frame(&mut out), SourceStatus::Ended);

        let mut looped = WavFileSource::from_samples(samples, true);
        looped.read_frame(&mut out);
        looped.read_frame(&mut out);
        assert_eq!((out[219], out[220], out[221]), (699.0, 0.0, 1.0));
        assert_eq!(looped.read_frame(&mut out), SourceStatus::Frame);
        let mut empty = WavFileSource::from_samples(Vec::new(), true);
        assert_eq!(empty.read_frame(&mut out), SourceStatus::Ended);
    }
}
