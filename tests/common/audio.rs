//! Measuring what a recording heard: cross-correlation of a recording with the
//! source it should contain, giving the lag and the normalised correlation.
//! Shared by every test that checks audio end to end.

use agentphone_audio::wav::read_wav_48k_mono;
use std::path::Path;

/// Sample rate of every recording read here (48 kHz mono).
pub const RATE: usize = 48_000;
/// Longest lag searched: 500 ms.
const MAX_LAG: usize = RATE / 2;
/// Coarse search runs on 4:1 averaged samples, then refines at full rate.
const DECIMATE: usize = 4;

/// What the cross-correlation found.
#[derive(Debug, Clone, Copy)]
pub struct Match {
    /// How late the reference starts in the recording.
    pub lag_ms: f64,
    /// Normalised correlation at that lag (1.0 = identical waveform).
    pub correlation: f64,
}

/// Normalised correlation of `reference` with `heard` shifted left by `lag`.
pub fn correlation_at(reference: &[f32], heard: &[f32], lag: usize) -> f64 {
    if lag >= heard.len() {
        return 0.0;
    }
    let n = reference.len().min(heard.len() - lag);
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in reference[..n].iter().zip(&heard[lag..lag + n]) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        xy += x * y;
        xx += x * x;
        yy += y * y;
    }
    if xx == 0.0 || yy == 0.0 {
        0.0
    } else {
        xy / (xx * yy).sqrt()
    }
}

fn decimate(samples: &[f32]) -> Vec<f32> {
    samples
        .chunks_exact(DECIMATE)
        .map(|c| c.iter().sum::<f32>() / DECIMATE as f32)
        .collect()
}

/// Finds where `reference` best lines up in `heard` within 0..500 ms.
pub fn best_match(reference: &[f32], heard: &[f32]) -> Match {
    let (r, h) = (decimate(reference), decimate(heard));
    let coarse = (0..MAX_LAG / DECIMATE)
        .max_by(|&a, &b| correlation_at(&r, &h, a).total_cmp(&correlation_at(&r, &h, b)))
        .unwrap_or(0)
        * DECIMATE;
    let lo = coarse.saturating_sub(2 * DECIMATE);
    let best = (lo..coarse + 2 * DECIMATE)
        .max_by(|&a, &b| {
            correlation_at(reference, heard, a).total_cmp(&correlation_at(reference, heard, b))
        })
        .unwrap_or(coarse);
    Match {
        lag_ms: best as f64 * 1000.0 / RATE as f64,
        correlation: correlation_at(reference, heard, best),
    }
}

/// Reads a WAV as 48 kHz mono (panics naming the file when it cannot).
pub fn read(path: &Path) -> Vec<f32> {
    read_wav_48k_mono(path)
        .unwrap_or_else(|e| panic!("cannot read recording {}: {e}", path.display()))
        .samples
}
