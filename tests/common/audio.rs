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

/// Root mean square of `samples`.
pub fn rms(samples: &[f32]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// A reference found in a recording one piece at a time.
#[derive(Debug)]
pub struct Pieces {
    /// Correlation over all pieces, each at its own best lag: an adaptive jitter
    /// buffer that grows its delay mid-call (a late packet on a loaded machine)
    /// shifts the rest of the audio by a packet, which whole-signal correlation
    /// would count as a mismatch although every word was heard.
    pub correlation: f64,
    /// The longest lag of a piece that carries speech, ms.
    pub max_lag_ms: f64,
    /// Where the last piece that carries speech ends in the recording, seconds.
    pub end_s: f64,
    /// Each piece's lag (samples) when it carries speech; quiet pieces match
    /// anywhere and have none.
    pub lags: Vec<Option<usize>>,
}

impl Pieces {
    /// Where sample `at` of the reference is in the recording, when the
    /// pieces of speech either side of it were found at the same lag (within
    /// a millisecond). Between two different lags the jitter buffer changed
    /// its delay (and may have concealed or stretched there), so where `at`
    /// went is not known.
    pub fn position(&self, at: usize) -> Option<usize> {
        let piece = at / PIECE;
        let before = self.lags.get(..=piece)?.iter().rev().flatten().next();
        let after = self.lags.get(piece..)?.iter().flatten().next();
        match (before, after) {
            (Some(b), Some(a)) if a.abs_diff(*b) > RATE / 1000 => None,
            (Some(lag), _) | (None, Some(lag)) => Some(at + lag),
            (None, None) => None,
        }
    }
}

/// Length of the pieces the reference is aligned in: long enough for a clear
/// correlation peak (an unrelated recording scores under 0.2), short enough that
/// the one piece a jitter-buffer step falls in weighs little.
pub const PIECE: usize = RATE / 5;

pub fn find_pieces(reference: &[f32], heard: &[f32]) -> Pieces {
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    let (mut max_lag_ms, mut end_s) = (0.0f64, 0.0f64);
    let loud = rms(reference);
    let mut lags: Vec<Option<usize>> = Vec::new();
    for (i, piece) in reference.chunks(PIECE).enumerate() {
        let rest = heard.get(i * PIECE..).unwrap_or_default();
        let m = best_match(piece, rest);
        let lag = (m.lag_ms * RATE as f64 / 1000.0).round() as usize;
        let got = rest.get(lag..).unwrap_or_default();
        for (x, y) in piece.iter().zip(got) {
            let (x, y) = (f64::from(*x), f64::from(*y));
            xy += x * y;
            xx += x * x;
            yy += y * y;
        }
        // A quiet piece (the pcap starts with a constant A-law idle code) matches
        // anywhere; only speech says where the audio is.
        let speech = rms(piece) >= 0.1 * loud && m.correlation >= 0.5;
        if speech {
            max_lag_ms = max_lag_ms.max(m.lag_ms);
            end_s = end_s.max((i * PIECE + lag + piece.len()) as f64 / RATE as f64);
        }
        lags.push(speech.then_some(lag));
    }
    let correlation = if xx == 0.0 || yy == 0.0 {
        0.0
    } else {
        xy / (xx * yy).sqrt()
    };
    Pieces {
        correlation,
        max_lag_ms,
        end_s,
        lags,
    }
}

/// Level of the `hz` component of `samples` (taken at `rate` Hz), in dB relative
/// to a full-scale sine (amplitude 32768, the ±32768 scale of [`read`]): a
/// Goertzel filter over a Hann window, so a tone even a few hertz away leaks in
/// far below the thresholds the tests use, and the level does not depend on
/// where the window cuts the tone. A -12 dBFS sine measures -12 dB.
pub fn tone_level_db(samples: &[f32], rate: usize, hz: f64) -> f64 {
    let n = samples.len();
    if n < 2 {
        return f64::NEG_INFINITY;
    }
    let omega = 2.0 * std::f64::consts::PI * hz / rate as f64;
    let coeff = 2.0 * omega.cos();
    let step = 2.0 * std::f64::consts::PI / (n - 1) as f64;
    let (mut s1, mut s2, mut window_sum) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &x) in samples.iter().enumerate() {
        let w = 0.5 - 0.5 * (step * i as f64).cos();
        window_sum += w;
        let s0 = f64::from(x) * w + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    // |X(omega)|, for any omega (not only bin centres).
    let magnitude = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0).sqrt();
    let amplitude = 2.0 * magnitude / window_sum;
    20.0 * (amplitude / 32_768.0).max(1e-12).log10()
}

/// Writes `seconds` of the sum of `tones` (hertz, peak level in dBFS) as a
/// 16-bit mono WAV at `rate`: a test source for peers that play files (baresip's
/// `aufile` wants 48 kHz mono) and for music on hold. Whole seconds of whole-hertz
/// tones loop without a click.
pub fn write_tone_wav(path: &Path, rate: u32, tones: &[(f64, f64)], seconds: f64) {
    let count = (seconds * f64::from(rate)).round() as usize;
    let samples: Vec<f32> = (0..count)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            tones
                .iter()
                .map(|&(hz, db)| {
                    32_768.0 * 10f64.powf(db / 20.0) * (2.0 * std::f64::consts::PI * hz * t).sin()
                })
                .sum::<f64>() as f32
        })
        .collect();
    agentphone_audio::wav::write_wav(path, rate, 1, &samples)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
