//! Comfort noise: the RFC 3389 payload (`CN/8000`, static payload type 13),
//! an all-pole noise generator driven by it, and an estimate of a stream's
//! own background noise for when nothing says what it is (a long loss).
//!
//! A CN payload is one level byte (−dBov, 0 to 127, the top bit unused) and
//! optionally M quantised reflection coefficients of an all-pole model of
//! the noise's spectrum. Each coefficient byte `n` stands for
//! `k = (n − 127) / 128`. The sign convention is the one WebRTC's CNG
//! (the most widespread RFC 3389 implementation) uses: the model is
//! `1 / A(z)` with `A(z) = 1 + Σ aᵢ z⁻ⁱ` and `a_m = k_m` at each order of the
//! step-up recursion, so a low-pass noise has k₁ < 0.
//!
//! Levels are relative to the overload point of the system: RFC 3389 §3.1
//! takes a µ-law square wave of ±8031 (14-bit) as 0 dBov, which is
//! [`OVERLOAD_RMS`] on our ±32768 scale.

use thiserror::Error;

/// Highest model order used; higher-order coefficients in a payload are
/// dropped (RFC 3389 §3 lets a decoder lower the order). WebRTC sends up
/// to 12.
pub const MAX_ORDER: usize = 12;
/// RMS of 0 dBov on the ±32768 scale: the µ-law square wave of ±8031 in
/// 14 bits (RFC 3389 §3.1), shifted to 16 bits.
pub const OVERLOAD_RMS: f32 = 32_124.0;
/// The quietest level a payload can carry (−127 dBov).
pub const MIN_LEVEL_DBOV: u8 = 127;

/// Why a CN payload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CnError {
    /// RFC 3389 §3: the level byte is mandatory.
    #[error("comfort noise payload is empty (RFC 3389 needs the level byte)")]
    Empty,
}

/// One comfort noise description (a SID frame).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CnParams {
    /// Noise level in −dBov (0 = overload, 127 = quietest).
    pub level_dbov: u8,
    /// Reflection coefficients, the first `order` meaningful, each in
    /// (−1, 1).
    pub reflection: [f32; MAX_ORDER],
    /// Model order (0: white noise, no spectral information).
    pub order: usize,
}

impl CnParams {
    /// Reads a CN payload. The level's unused top bit is ignored, as are
    /// coefficients beyond [`MAX_ORDER`]; only an empty payload is refused.
    pub fn parse(payload: &[u8]) -> Result<Self, CnError> {
        let (&level, coefs) = payload.split_first().ok_or(CnError::Empty)?;
        let mut reflection = [0.0; MAX_ORDER];
        let order = coefs.len().min(MAX_ORDER);
        for (k, &n) in reflection.iter_mut().zip(coefs) {
            // 255 would be k = 1, an unstable filter: the largest stable
            // step below it is used instead.
            *k = (f32::from(n.min(254)) - 127.0) / 128.0;
        }
        Ok(Self {
            level_dbov: level & 0x7F,
            reflection,
            order,
        })
    }

    /// A description of noise with `rms` (±32768 scale) and the given
    /// reflection coefficients (at most [`MAX_ORDER`] used, each clamped
    /// into the quantiser's range).
    pub fn new(rms: f32, reflection: &[f32]) -> Self {
        let mut k = [0.0; MAX_ORDER];
        let order = reflection.len().min(MAX_ORDER);
        for (q, &r) in k.iter_mut().zip(reflection) {
            *q = quantise_k(r);
        }
        Self {
            level_dbov: level_of_rms(rms),
            reflection: k,
            order,
        }
    }

    /// Writes the payload (1 + order bytes) into `out`; returns its length,
    /// or None when `out` is too short.
    pub fn write(&self, out: &mut [u8]) -> Option<usize> {
        let len = 1 + self.order;
        let out = out.get_mut(..len)?;
        out[0] = self.level_dbov & 0x7F;
        for (b, &k) in out[1..].iter_mut().zip(&self.reflection) {
            *b = (127.0 + (k * 128.0).round()).clamp(0.0, 254.0) as u8;
        }
        Some(len)
    }

    /// The noise's RMS on the ±32768 scale.
    pub fn rms(&self) -> f32 {
        rms_of_level(self.level_dbov)
    }

    /// The meaningful reflection coefficients.
    pub fn coefficients(&self) -> &[f32] {
        &self.reflection[..self.order]
    }
}

/// RMS (±32768 scale) of a level in −dBov.
pub fn rms_of_level(level_dbov: u8) -> f32 {
    OVERLOAD_RMS * 10f32.powf(-f32::from(level_dbov.min(MIN_LEVEL_DBOV)) / 20.0)
}

/// The level byte (−dBov, rounded) of noise with `rms`.
pub fn level_of_rms(rms: f32) -> u8 {
    if rms.is_nan() || rms <= 0.0 {
        return MIN_LEVEL_DBOV;
    }
    let db = -20.0 * (rms / OVERLOAD_RMS).log10();
    db.round().clamp(0.0, f32::from(MIN_LEVEL_DBOV)) as u8
}

/// A reflection coefficient as the payload can carry it: on the 1/128 grid,
/// within [−127/128, 127/128]; NaN becomes 0.
fn quantise_k(k: f32) -> f32 {
    if k.is_nan() {
        return 0.0;
    }
    ((k * 128.0).round().clamp(-127.0, 127.0)) / 128.0
}

/// Reflection coefficients of the autocorrelation `r[0..=order]` by
/// Levinson–Durbin (same sign convention as [`CnParams`]); None when the
/// recursion is not stable (a silent or degenerate input).
pub fn reflection_from_autocorrelation(r: &[f32], k: &mut [f32]) -> Option<usize> {
    let order = (r.len().saturating_sub(1)).min(k.len()).min(MAX_ORDER);
    match r.first() {
        Some(&r0) if r0 > 0.0 && r0.is_finite() => {}
        _ => return None,
    }
    let mut a = [0.0f32; MAX_ORDER];
    let mut prev = [0.0f32; MAX_ORDER];
    let mut err = r[0];
    for m in 0..order {
        let mut acc = r[m + 1];
        for i in 0..m {
            acc += a[i] * r[m - i];
        }
        let km = -acc / err;
        if !km.is_finite() || km.abs() >= 1.0 {
            return None;
        }
        prev[..m].copy_from_slice(&a[..m]);
        for i in 0..m {
            a[i] = prev[i] + km * prev[m - 1 - i];
        }
        a[m] = km;
        k[m] = km;
        err *= 1.0 - km * km;
    }
    Some(order)
}

/// Generates comfort noise: Gaussian-like white noise through the all-pole
/// model of a [`CnParams`], at its level. Parameter changes glide (the
/// coefficients halfway per 10 ms, the level linearly over the next call's
/// samples) so an update is not heard as a step.
///
/// The filter runs as a lattice on the reflection coefficients themselves:
/// with poles near the unit circle (coefficients near ±1, which any payload
/// may carry) the direct form's large polynomial coefficients lose
/// precision in `f32` and blow up, the lattice stays stable for |k| < 1.
#[derive(Clone)]
pub struct NoiseGenerator {
    /// Reflection coefficients now in use and the ones being moved to.
    k: [f32; MAX_ORDER],
    k_target: [f32; MAX_ORDER],
    /// Excitation standard deviation giving unit output power.
    unit: f32,
    /// Output RMS now and the target.
    rms: f32,
    rms_target: f32,
    /// The lattice's backward signals of the previous sample, `b₀..b_{p−1}`.
    mem: [f32; MAX_ORDER],
    seed: u32,
}

impl Default for NoiseGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl NoiseGenerator {
    /// A silent generator (level and shape unset).
    pub fn new() -> Self {
        Self {
            k: [0.0; MAX_ORDER],
            k_target: [0.0; MAX_ORDER],
            unit: 1.0,
            rms: 0.0,
            rms_target: 0.0,
            mem: [0.0; MAX_ORDER],
            seed: 0x1234_5678,
        }
    }

    /// Moves towards `rms` and spectral shape `k` (at most [`MAX_ORDER`]
    /// reflection coefficients, each in (−1, 1)); `jump` takes them at once
    /// (the start of a noise period).
    pub fn set(&mut self, rms: f32, k: &[f32], jump: bool) {
        self.k_target = [0.0; MAX_ORDER];
        for (t, &v) in self.k_target.iter_mut().zip(k) {
            *t = if v.is_finite() {
                v.clamp(-0.999, 0.999)
            } else {
                0.0
            };
        }
        self.rms_target = if rms.is_finite() {
            rms.clamp(0.0, 32_767.0)
        } else {
            0.0
        };
        if jump {
            self.k = self.k_target;
            self.rms = self.rms_target;
            self.mem = [0.0; MAX_ORDER];
        }
        self.update_filter();
    }

    /// [`set`](Self::set) from a CN payload's description.
    pub fn set_params(&mut self, params: &CnParams, jump: bool) {
        self.set(params.rms(), params.coefficients(), jump);
    }

    /// The RMS the generator is heading for.
    pub fn target_rms(&self) -> f32 {
        self.rms_target
    }

    fn update_filter(&mut self) {
        let gain: f32 = self.k.iter().map(|k| 1.0 - k * k).product();
        self.unit = gain.max(0.0).sqrt();
    }

    /// Writes `out.len()` samples of noise.
    pub fn fill(&mut self, out: &mut [f32]) {
        if self.k != self.k_target {
            for (k, t) in self.k.iter_mut().zip(&self.k_target) {
                *k += 0.5 * (t - *k);
                if (*k - t).abs() < 1e-4 {
                    *k = *t;
                }
            }
            self.update_filter();
        }
        let n = out.len().max(1) as f32;
        let step = (self.rms_target - self.rms) / n;
        for s in out.iter_mut() {
            // From f_p = e down to f₀ = y: f_{m−1} = f_m − k_m b_{m−1}[n−1],
            // b_m[n] = k_m f_{m−1} + b_{m−1}[n−1].
            let mut f = self.gaussian() * self.unit;
            for m in (0..MAX_ORDER).rev() {
                f -= self.k[m] * self.mem[m];
                if m + 1 < MAX_ORDER {
                    self.mem[m + 1] = self.k[m] * f + self.mem[m];
                }
            }
            self.mem[0] = f;
            if !f.is_finite() {
                self.mem = [0.0; MAX_ORDER];
                f = 0.0;
            }
            self.rms += step;
            *s = (f * self.rms).clamp(-32_768.0, 32_767.0);
        }
        self.rms = self.rms_target;
    }

    /// Roughly N(0, 1): the sum of four uniform variables, scaled (cheap,
    /// and bounded, which a noise floor wants).
    fn gaussian(&mut self) -> f32 {
        let mut sum = 0.0;
        for _ in 0..4 {
            // xorshift32
            let mut x = self.seed;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.seed = x;
            sum += (x as f32 / u32::MAX as f32) * 2.0 - 1.0;
        }
        // Four uniforms on [−1, 1] have variance 4/3.
        sum * 0.866_025_4
    }
}

/// Candidate frames must be this far below the recent peak (15 dB) ...
const BELOW_PEAK: f32 = 0.031_622_8;
/// ... or below −50 dBov, as mean square on the ±32768 scale.
const QUIET_MEAN_SQUARE: f32 = (OVERLOAD_RMS * 0.003_162_28) * (OVERLOAD_RMS * 0.003_162_28);
/// The peak falls 0.03 dB per 10 ms frame (3 dB a second).
const PEAK_DECAY: f32 = 0.993_116;
/// The minimum is taken over the last `MIN_WINDOWS` windows of
/// `MIN_WINDOW` candidate frames each (about 1.3 s of pauses), so it falls at
/// once and rises within that when the background gets louder.
const MIN_WINDOW: u32 = 32;
const MIN_WINDOWS: usize = 4;
/// Frames within 6 dB of the minimum count towards the level and shape.
const NEAR_FLOOR: f32 = 4.0;
/// Smoothing of the level and shape over those frames.
const SMOOTH: f32 = 0.1;
/// Background frames needed before the estimate is used.
const MIN_FRAMES: u32 = 5;
/// Model order of the estimated background's shape.
pub const BACKGROUND_ORDER: usize = 8;

/// Estimates the background noise of a stream from its received frames:
/// frames well below the recent peak (pauses in speech) or quiet in
/// absolute terms are candidates; the level is the smoothed mean square of
/// candidates near their windowed minimum, and the spectral shape the
/// smoothed normalised autocorrelation of the same frames.
///
/// A stream without pauses (a steady tone, continuous speech) gives no
/// estimate, so nothing is invented for it.
#[derive(Clone)]
pub struct BackgroundEstimator {
    peak: f32,
    /// Minimum of each finished window, and of the one being filled.
    window_min: [f32; MIN_WINDOWS],
    current_min: f32,
    current_count: u32,
    next_window: usize,
    level: f32,
    r: [f32; BACKGROUND_ORDER + 1],
    frames: u32,
}

impl Default for BackgroundEstimator {
    fn default() -> Self {
        Self::new()
    }
}

impl BackgroundEstimator {
    /// No estimate yet.
    pub fn new() -> Self {
        Self {
            peak: 0.0,
            window_min: [f32::INFINITY; MIN_WINDOWS],
            current_min: f32::INFINITY,
            current_count: 0,
            next_window: 0,
            level: 0.0,
            r: [0.0; BACKGROUND_ORDER + 1],
            frames: 0,
        }
    }

    /// Takes one received frame into account.
    pub fn update(&mut self, frame: &[f32]) {
        if frame.is_empty() {
            return;
        }
        let lag_product = |lag: usize| -> f32 {
            frame[lag.min(frame.len())..]
                .iter()
                .zip(frame)
                .map(|(a, b)| a * b)
                .sum()
        };
        let mut r = [0.0f32; BACKGROUND_ORDER + 1];
        r[0] = lag_product(0);
        let e = r[0] / frame.len() as f32;
        if !e.is_finite() {
            return;
        }
        self.peak = (self.peak * PEAK_DECAY).max(e);
        if e > self.peak * BELOW_PEAK && e > QUIET_MEAN_SQUARE {
            return;
        }
        self.current_min = self.current_min.min(e);
        self.current_count += 1;
        if self.current_count == MIN_WINDOW {
            self.window_min[self.next_window] = self.current_min;
            self.next_window = (self.next_window + 1) % MIN_WINDOWS;
            self.current_min = f32::INFINITY;
            self.current_count = 0;
        }
        let floor = self
            .window_min
            .iter()
            .fold(self.current_min, |m, &v| m.min(v));
        if e > floor * NEAR_FLOOR {
            return;
        }
        // The other lags only for frames near the floor: most frames are
        // speech, and this runs on every G.711 leg every 10 ms.
        for (lag, v) in r.iter_mut().enumerate().skip(1) {
            *v = lag_product(lag);
        }
        if self.frames == 0 {
            self.level = e;
        } else {
            self.level += SMOOTH * (e - self.level);
        }
        if r[0] > 1.0 {
            for (avg, v) in self.r.iter_mut().zip(&r) {
                let norm = v / r[0];
                if self.frames == 0 {
                    *avg = norm;
                } else {
                    *avg += SMOOTH * (norm - *avg);
                }
            }
        }
        self.frames = self.frames.saturating_add(1);
    }

    /// The estimated background RMS (±32768 scale), once enough pauses were
    /// seen.
    pub fn rms(&self) -> Option<f32> {
        (self.frames >= MIN_FRAMES).then(|| self.level.max(0.0).sqrt())
    }

    /// The estimate as a CN description (level and shape), once there is
    /// one.
    pub fn params(&self) -> Option<CnParams> {
        let rms = self.rms()?;
        let mut r = self.r;
        // A slight lag window and white-noise floor keep the model smooth
        // and the recursion stable on short, few frames.
        r[0] *= 1.0001;
        for (lag, v) in r.iter_mut().enumerate().skip(1) {
            let w = 0.0125 * lag as f32;
            *v *= (-0.5 * w * w).exp();
        }
        let mut k = [0.0f32; BACKGROUND_ORDER];
        let order = reflection_from_autocorrelation(&r, &mut k).unwrap_or(0);
        Some(CnParams::new(rms, &k[..order]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    fn db(a: f32, b: f32) -> f32 {
        20.0 * (a / b).log10()
    }

    #[test]
    fn payloads_built_by_hand_per_rfc_3389_parse() {
        // Level only (the RFC 1890 draft form): −40 dBov.
        let p = CnParams::parse(&[40]).unwrap();
        assert_eq!((p.level_dbov, p.order), (40, 0));
        assert!((db(p.rms(), OVERLOAD_RMS) + 40.0).abs() < 1e-3);
        // Level with the unused top bit set, and three coefficients:
        // 127 → 0, 63 → −0.5, 191 → +0.5.
        let p = CnParams::parse(&[0x80 | 60, 127, 63, 191]).unwrap();
        assert_eq!(p.level_dbov, 60);
        assert_eq!(p.coefficients(), &[0.0, -0.5, 0.5]);
        // 255 is clamped to the largest stable value.
        let p = CnParams::parse(&[30, 255, 0]).unwrap();
        assert_eq!(p.coefficients(), &[127.0 / 128.0, -127.0 / 128.0]);
        // Beyond MAX_ORDER the coefficients are dropped.
        let long = [50u8; 20];
        assert_eq!(CnParams::parse(&long).unwrap().order, MAX_ORDER);
        assert_eq!(CnParams::parse(&[]), Err(CnError::Empty));
    }

    #[test]
    fn write_and_parse_round_trip() {
        let p = CnParams::new(rms_of_level(47), &[-0.75, 0.3, -0.1]);
        let mut buf = [0u8; 16];
        let n = p.write(&mut buf).unwrap();
        assert_eq!(n, 4);
        assert_eq!(buf[0], 47);
        assert_eq!(CnParams::parse(&buf[..n]).unwrap(), p);
        assert_eq!(p.write(&mut buf[..3]), None);
    }

    #[test]
    fn generated_noise_has_the_payloads_level() {
        for (payload, name) in [
            (vec![40u8], "white"),
            (vec![55, 127 - 96, 127 + 40, 127 - 10], "coloured"),
            (vec![30, 127 - 120], "strongly low-pass"),
        ] {
            let p = CnParams::parse(&payload).unwrap();
            let mut g = NoiseGenerator::new();
            g.set_params(&p, true);
            let mut out = vec![0.0f32; 8_000];
            g.fill(&mut out);
            let got = rms(&out[800..]);
            let err = db(got, p.rms());
            assert!(
                err.abs() < 1.0,
                "{name}: {got} vs {} ({err:.2} dB)",
                p.rms()
            );
        }
    }

    #[test]
    fn the_spectral_shape_is_the_payloads() {
        // k₁ = −0.75: a one-pole low-pass, y[n] = e[n] + 0.75 y[n−1], whose
        // normalised lag-1 autocorrelation is 0.75.
        let p = CnParams::parse(&[40, 127 - 96]).unwrap();
        let mut g = NoiseGenerator::new();
        g.set_params(&p, true);
        let mut out = vec![0.0f32; 16_000];
        g.fill(&mut out);
        let r0: f32 = out.iter().map(|v| v * v).sum();
        let r1: f32 = out.windows(2).map(|w| w[0] * w[1]).sum();
        assert!(
            (r1 / r0 - 0.75).abs() < 0.05,
            "lag-1 correlation {}",
            r1 / r0
        );
        // And the analysis gives the coefficient back.
        let mut k = [0.0f32; 2];
        let r2: f32 = out.windows(3).map(|w| w[0] * w[2]).sum();
        reflection_from_autocorrelation(&[r0, r1, r2], &mut k).unwrap();
        assert!((k[0] + 0.75).abs() < 0.05, "k1 {}", k[0]);
        assert!(k[1].abs() < 0.05, "k2 {}", k[1]);
    }

    /// Direct-form coefficients `a₁..a_p` of `A(z)` from reflection
    /// coefficients (the step-up recursion).
    fn step_up(k: &[f32]) -> Vec<f32> {
        let mut a: Vec<f32> = Vec::new();
        for &km in k {
            let prev = a.clone();
            for i in 0..prev.len() {
                a[i] = prev[i] + km * prev[prev.len() - 1 - i];
            }
            a.push(km);
        }
        a
    }

    #[test]
    fn the_lattice_is_the_direct_form_filter() {
        // Same excitation through the generator's lattice and through
        // 1/A(z) in direct form (in f64): the same output.
        let k = [-0.8f32, 0.5, -0.3, 0.2, 0.1, -0.05];
        let mut g = NoiseGenerator::new();
        g.set(1.0, &k, true);
        let unit = f64::from(g.unit);
        let mut probe = g.clone();
        let mut lattice = [0.0f32; 400];
        g.fill(&mut lattice);
        let a = step_up(&k);
        let mut y = vec![0.0f64; 400];
        for n in 0..400 {
            let mut v = f64::from(probe.gaussian()) * unit;
            for (i, ai) in a.iter().enumerate() {
                if n > i {
                    v -= f64::from(*ai) * y[n - 1 - i];
                }
            }
            y[n] = v;
        }
        for (n, (l, d)) in lattice.iter().zip(&y).enumerate() {
            assert!((f64::from(*l) - d).abs() < 1e-3, "sample {n}: {l} vs {d}");
        }
    }

    #[test]
    fn coefficients_at_the_edge_stay_finite() {
        // Poles on the unit circle but for the quantiser's last step: the
        // direct form blew up here in f32 (a fuzz finding).
        let p = CnParams::parse(&[10, 255, 255, 255, 255, 255, 255, 255, 255, 10]).unwrap();
        let mut g = NoiseGenerator::new();
        g.set_params(&p, true);
        let mut out = vec![0.0f32; 48_000];
        g.fill(&mut out);
        assert!(out.iter().all(|v| v.is_finite() && v.abs() <= 32_768.0));
        assert!(rms(&out) > 100.0, "still noise: {}", rms(&out));
    }

    #[test]
    fn a_level_update_glides_without_a_step() {
        let mut g = NoiseGenerator::new();
        g.set(100.0, &[], true);
        let mut a = [0.0f32; 80];
        g.fill(&mut a);
        g.set(1_000.0, &[], false);
        let mut b = [0.0f32; 80];
        g.fill(&mut b);
        // The first samples after the update are still at the old level.
        assert!(b[..8].iter().all(|v| v.abs() < 500.0), "{:?}", &b[..8]);
        let mut c = [0.0f32; 800];
        g.fill(&mut c);
        assert!(db(rms(&c), 1_000.0).abs() < 1.5);
    }

    #[test]
    fn levels_convert_both_ways() {
        for level in [0u8, 1, 30, 64, 100, 127] {
            assert_eq!(level_of_rms(rms_of_level(level)), level);
        }
        assert_eq!(level_of_rms(0.0), MIN_LEVEL_DBOV);
        assert_eq!(level_of_rms(f32::NAN), MIN_LEVEL_DBOV);
        assert_eq!(level_of_rms(1e9), 0);
    }

    /// Frames of a tone burst (speech stand-in) at −20 dBov alternating
    /// with pauses of shaped noise at `noise_rms`.
    fn speech_with_pauses(frames: usize, noise_rms: f32) -> Vec<[f32; 80]> {
        let mut g = NoiseGenerator::new();
        g.set(noise_rms, &[-0.6, 0.2], true);
        let amp = rms_of_level(20) * std::f32::consts::SQRT_2;
        (0..frames)
            .map(|f| {
                let mut frame = [0.0f32; 80];
                g.fill(&mut frame);
                if (f / 20).is_multiple_of(2) {
                    for (i, s) in frame.iter_mut().enumerate() {
                        let n = (f * 80 + i) as f32;
                        *s += amp * (2.0 * std::f32::consts::PI * 180.0 * n / 8_000.0).sin();
                    }
                }
                frame
            })
            .collect()
    }

    #[test]
    fn the_background_is_found_in_the_pauses() {
        let noise = rms_of_level(50);
        let mut est = BackgroundEstimator::new();
        for frame in speech_with_pauses(200, noise) {
            est.update(&frame);
        }
        let got = est.rms().expect("an estimate");
        assert!(db(got, noise).abs() < 2.0, "{got} vs {noise}");
        // The shape is low-pass like the noise's (k₁ < 0).
        let p = est.params().unwrap();
        assert!(p.order > 0 && p.reflection[0] < -0.3, "{p:?}");
    }

    #[test]
    fn a_steady_tone_has_no_background() {
        let mut est = BackgroundEstimator::new();
        for f in 0..200 {
            let frame: Vec<f32> = (0..80)
                .map(|i| 10_000.0 * ((f * 80 + i) as f32 * 0.2).sin())
                .collect();
            est.update(&frame);
        }
        assert_eq!(est.rms(), None);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any payload parses (or is refused when empty) and drives the
        /// generator to finite samples within the 16-bit range.
        #[test]
        fn any_payload_gives_bounded_noise(payload in proptest::collection::vec(any::<u8>(), 0..40)) {
            match CnParams::parse(&payload) {
                Err(CnError::Empty) => prop_assert!(payload.is_empty()),
                Ok(p) => {
                    prop_assert!(p.order <= MAX_ORDER);
                    prop_assert!(p.coefficients().iter().all(|k| k.abs() < 1.0));
                    let mut g = NoiseGenerator::new();
                    g.set_params(&p, true);
                    let mut out = [0.0f32; 480];
                    g.fill(&mut out);
                    prop_assert!(out.iter().all(|s| s.is_finite() && s.abs() <= 32_768.0));
                }
            }
        }

        /// Writing then parsing gives the same description.
        #[test]
        fn write_parse_round_trip(level in 0u8..=127, ks in proptest::collection::vec(-1.0f32..1.0, 0..MAX_ORDER)) {
            let p = CnParams::new(rms_of_level(level), &ks);
            prop_assert_eq!(p.level_dbov, level);
            let mut buf = [0u8; MAX_ORDER + 1];
            let n = p.write(&mut buf).unwrap();
            prop_assert_eq!(CnParams::parse(&buf[..n]).unwrap(), p);
        }
    }
}
