//! Pitch period estimation (RNNoise's port of CELT's `pitch_downsample`,
//! `pitch_search` and `remove_doubling`).
//!
//! The signal is low-passed and decimated by 2, whitened with a 4th-order LPC
//! filter, searched coarsely at 4x decimation over all lags, refined at 2x around
//! the two best candidates, and finally checked for period doubling (a strong
//! correlation at T/k means T was a multiple of the real period).

use super::kernels::Kernels;

pub(crate) const MIN_PERIOD: usize = 60;
pub(crate) const MAX_PERIOD: usize = 768;
const FRAME: usize = 960;
/// Input history the pitch search looks at.
pub(crate) const BUF: usize = MAX_PERIOD + FRAME;
/// Highest lag searched, at full rate.
const MAX_PITCH: usize = MAX_PERIOD - 3 * MIN_PERIOD;
/// Lags computed in the coarse search: `MAX_PITCH / 4` (147) rounded up to
/// whole kernel blocks: 64 + 64 + 32 for AVX2, 80 + 80 for AVX-512, whose
/// 32 registers hold a 10-vector block at full multiply-add rate.
const COARSE_LAGS: usize = 160;
const SECOND_CHECK: [usize; 16] = [0, 0, 3, 2, 3, 2, 5, 2, 3, 2, 3, 2, 5, 2, 3, 2];

/// Pitch tracker state and scratch (no allocation after construction).
#[derive(Debug)]
pub(crate) struct PitchFinder {
    last_period: usize,
    last_gain: f32,
    /// Whitened input decimated by 2.
    lp: [f32; BUF / 2],
    x_lp4: [f32; FRAME / 4],
    y_lp4: [f32; FRAME / 4 + COARSE_LAGS],
    xcorr: [f32; MAX_PITCH / 2],
    yy: [f32; MAX_PERIOD / 2 + 1],
}

impl PitchFinder {
    pub fn new() -> PitchFinder {
        PitchFinder {
            last_period: 0,
            last_gain: 0.0,
            lp: [0.0; BUF / 2],
            x_lp4: [0.0; FRAME / 4],
            y_lp4: [0.0; FRAME / 4 + COARSE_LAGS],
            xcorr: [0.0; MAX_PITCH / 2],
            yy: [0.0; MAX_PERIOD / 2 + 1],
        }
    }

    pub fn reset(&mut self) {
        self.last_period = 0;
        self.last_gain = 0.0;
    }

    /// Pitch period in samples (in `MIN_PERIOD..MAX_PERIOD`) of `input`, the last
    /// [`BUF`] samples.
    #[inline(always)]
    pub fn process(&mut self, k: &Kernels, input: &[f32; BUF]) -> usize {
        downsample(k, input, &mut self.lp);
        let idx = MAX_PERIOD - self.search(k);
        let (period, gain) = self.remove_doubling(k, idx);
        self.last_period = period;
        self.last_gain = gain;
        period
    }

    /// Returns the lag (at full rate, counted back from the buffer end) of the
    /// best correlation between the last frame and the history.
    #[inline(always)]
    fn search(&mut self, k: &Kernels) -> usize {
        let x_lp = &self.lp[MAX_PERIOD / 2..];
        let y = &self.lp[..];
        for (d, s) in self.x_lp4.iter_mut().zip(x_lp.iter().step_by(2)) {
            *d = *s;
        }
        for (d, s) in self.y_lp4.iter_mut().zip(y.iter().step_by(2)) {
            *d = *s;
        }
        // The kernel runs whole blocks of 8 lags or more, so compute
        // COARSE_LAGS and search the first MAX_PITCH / 4.
        let coarse = &mut self.xcorr[..COARSE_LAGS];
        (k.xcorr)(&self.x_lp4, &self.y_lp4, coarse);
        let (best, second) = find_best_pitch(k, &coarse[..MAX_PITCH / 4], &self.y_lp4, FRAME / 4);

        // Refine at 2x decimation, only within 2 lags of the two coarse candidates
        // (elsewhere the correlation counts as 0, as in RNNoise).
        let mut lags = [0usize; 10];
        let mut n_lags = 0;
        for p in [best.min(second), best.max(second)] {
            for i in (2 * p).saturating_sub(2)..(2 * p + 3).min(MAX_PITCH / 2) {
                if n_lags == 0 || lags[n_lags - 1] < i {
                    lags[n_lags] = i;
                    n_lags += 1;
                }
            }
        }
        let lags = &lags[..n_lags];
        self.xcorr.fill(0.0);
        for &i in lags {
            self.xcorr[i] = (k.dot)(&x_lp[..FRAME / 2], &y[i..i + FRAME / 2]).max(-1.0);
        }
        let best = find_best_pitch_at(k, &self.xcorr, y, FRAME / 2, lags);

        // Pseudo-interpolation between neighbouring lags.
        let offset: isize = if best > 0 && best < MAX_PITCH / 2 - 1 {
            let (a, b, c) = (self.xcorr[best - 1], self.xcorr[best], self.xcorr[best + 1]);
            if c - a > 0.7 * (b - a) {
                1
            } else if a - c > 0.7 * (b - c) {
                -1
            } else {
                0
            }
        } else {
            0
        };
        (2 * best as isize - offset) as usize
    }

    /// Checks submultiples of the period found by [`Self::search`]; returns the
    /// period and its pitch gain.
    #[inline(always)]
    fn remove_doubling(&mut self, k: &Kernels, pitch_idx: usize) -> (usize, f32) {
        const MIN: usize = MIN_PERIOD / 2;
        const MAXP: usize = MAX_PERIOD / 2;
        const N: usize = FRAME / 2;
        let x = &self.lp;
        let cur = &x[MAXP..MAXP + N];
        let t0 = (pitch_idx / 2).min(MAXP - 1);
        let prev_period = self.last_period / 2;
        // Correlation of the current frame with the frames `a` and `b` samples
        // earlier, in one pass over the current frame.
        let window = |lag: usize| &x[MAXP - lag..MAXP - lag + N];
        let xcorr_pair = |a: usize, b: usize| (k.dot2)(cur, window(a), window(b));

        let [xx, xy_t0] = (k.dot2)(cur, cur, window(t0));
        self.yy[0] = xx;
        // yy[i]: energy of the window i samples back, slid one sample at a time.
        // The differences are independent; the running sum goes four at a time
        // so the dependency chain is a quarter as long.
        let mut d = [0.0f32; MAXP];
        for (m, d) in d.iter_mut().enumerate() {
            let (a, b) = (x[MAXP - 1 - m], x[MAXP + N - 1 - m]);
            *d = a * a - b * b;
        }
        let mut carry = xx;
        for (d, yy) in d.chunks_exact(4).zip(self.yy[1..].chunks_exact_mut(4)) {
            let p1 = d[0] + d[1];
            let p2 = p1 + d[2];
            let p3 = p2 + d[3];
            yy[0] = (carry + d[0]).max(0.0);
            yy[1] = (carry + p1).max(0.0);
            yy[2] = (carry + p2).max(0.0);
            yy[3] = (carry + p3).max(0.0);
            carry += p3;
        }
        let yy_t0 = self.yy[t0];
        let (mut best_xy, mut best_yy) = (xy_t0, yy_t0);
        let g0 = pitch_gain(xy_t0, xx, yy_t0);
        let (mut t, mut g) = (t0, g0);

        // kk is the sub-multiple being tested, used in the arithmetic too, not
        // only as an index: keep the reference's loop shape.
        #[allow(clippy::needless_range_loop)]
        for kk in 2..=15usize {
            let t1 = (2 * t0 + kk) / (2 * kk);
            if t1 < MIN {
                break;
            }
            let t1b = if kk == 2 {
                if t1 + t0 > MAXP {
                    t0
                } else {
                    t0 + t1
                }
            } else {
                (2 * SECOND_CHECK[kk] * t0 + kk) / (2 * kk)
            };
            let [xy1, xy1b] = xcorr_pair(t1, t1b);
            let xy = (xy1 + xy1b) / 2.0;
            let yy = (self.yy[t1] + self.yy[t1b]) / 2.0;
            let g1 = pitch_gain(xy, xx, yy);
            let dist = (t1 as isize - prev_period as isize).abs();
            let cont = if dist <= 1 {
                self.last_gain
            } else if dist <= 2 && 5 * kk * kk < t0 {
                self.last_gain / 2.0
            } else {
                0.0
            };
            // Bias against very short periods, prone to false positives from
            // short-term correlation. (The middle branch can never fire; kept to
            // match RNNoise.)
            let thresh = if t1 < 3 * MIN {
                (0.85 * g0 - cont).max(0.4)
            } else if t1 < 2 * MIN {
                (0.9 * g0 - cont).max(0.5)
            } else {
                (0.7 * g0 - cont).max(0.3)
            };
            if g1 > thresh {
                best_xy = xy;
                best_yy = yy;
                t = t1;
                g = g1;
            }
        }

        let best_xy = best_xy.max(0.0);
        let pg = if best_yy <= best_xy {
            1.0
        } else {
            best_xy / (best_yy + 1.0)
        };
        // t >= MIN >= 1 and t + 1 <= MAXP, so every lag below is in range.
        let [c0, c1] = xcorr_pair(t - 1, t);
        let c = [c0, c1, (k.dot)(cur, window(t + 1))];
        let period = if c[2] - c[0] > 0.7 * (c[1] - c[0]) {
            2 * t + 1
        } else if c[0] - c[2] > 0.7 * (c[1] - c[2]) {
            2 * t - 1
        } else {
            2 * t
        };
        (period.max(MIN_PERIOD), pg.min(g))
    }
}

#[inline(always)]
fn pitch_gain(xy: f32, xx: f32, yy: f32) -> f32 {
    xy / (1.0 + xx * yy).sqrt()
}

/// The two lags with the largest normalised correlation `xcorr^2 / |y window|^2`.
#[inline(always)]
fn find_best_pitch(k: &Kernels, xcorr: &[f32], y: &[f32], len: usize) -> (usize, usize) {
    const MAX_LAGS: usize = 192;
    assert!(xcorr.len() <= MAX_LAGS);
    // Window energies first, in a loop without branches (the sliding sum is the
    // only chain), and a bit set of the lags with positive correlation: the
    // search then visits only those, so a random sign costs no misprediction.
    let mut syy_at = [0.0f32; MAX_LAGS];
    let mut positive = [0u64; MAX_LAGS / 64];
    let mut syy = 1.0 + (k.dot)(&y[..len], &y[..len]);
    for (i, (s, &corr)) in syy_at.iter_mut().zip(xcorr).enumerate() {
        *s = syy;
        positive[i / 64] |= u64::from(corr > 0.0) << (i % 64);
        syy += y[i + len] * y[i + len] - y[i] * y[i];
        syy = syy.max(1.0);
    }
    let (mut best_num, mut second_num) = (-1.0f32, -1.0f32);
    let (mut best_den, mut second_den) = (0.0f32, 0.0f32);
    let (mut best, mut second) = (0usize, 1usize);
    for (word, mut bits) in positive.into_iter().enumerate() {
        while bits != 0 {
            let i = word * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let (num, syy) = (xcorr[i] * xcorr[i], syy_at[i]);
            if num * second_den > second_num * syy {
                if num * best_den > best_num * syy {
                    (second_num, second_den, second) = (best_num, best_den, best);
                    (best_num, best_den, best) = (num, syy, i);
                } else {
                    (second_num, second_den, second) = (num, syy, i);
                }
            }
        }
    }
    (best, second)
}

/// [`find_best_pitch`]'s best lag when only `lags` (ascending) can have a positive
/// correlation: the window energies are computed at those lags alone (directly,
/// then sliding along a run of neighbours) instead of sliding over every lag.
#[inline(always)]
fn find_best_pitch_at(k: &Kernels, xcorr: &[f32], y: &[f32], len: usize, lags: &[usize]) -> usize {
    let (mut best_num, mut second_num) = (-1.0f32, -1.0f32);
    let (mut best_den, mut second_den) = (0.0f32, 0.0f32);
    let mut best = 0usize;
    let mut syy = 1.0f32;
    let mut prev: Option<usize> = None;
    for &i in lags {
        syy = match prev {
            Some(p) if p + 1 == i => (syy + y[p + len] * y[p + len] - y[p] * y[p]).max(1.0),
            _ => 1.0 + (k.dot)(&y[i..i + len], &y[i..i + len]),
        };
        prev = Some(i);
        let corr = xcorr[i];
        if corr > 0.0 {
            let num = corr * corr;
            if num * second_den > second_num * syy {
                if num * best_den > best_num * syy {
                    (second_num, second_den) = (best_num, best_den);
                    (best_num, best_den, best) = (num, syy, i);
                } else {
                    (second_num, second_den) = (num, syy);
                }
            }
        }
    }
    best
}

/// Low-pass, decimate by 2, and whiten with a 4th-order LPC (plus a zero) fitted
/// to this buffer.
#[inline(always)]
fn downsample(k: &Kernels, x: &[f32; BUF], lp: &mut [f32; BUF / 2]) {
    lp[0] = (x[1] / 2.0 + x[0]) / 2.0;
    for i in 1..BUF / 2 {
        lp[i] = ((x[2 * i - 1] + x[2 * i + 1]) / 2.0 + x[2 * i]) / 2.0;
    }
    let mut ac = [0.0f32; 5];
    autocorr(k, lp, &mut ac);
    ac[0] *= 1.0001; // noise floor at -40 dB
    for (i, a) in ac.iter_mut().enumerate().skip(1) {
        let w = 0.008 * i as f32;
        *a -= *a * w * w; // lag window
    }
    let mut c = lpc4(&ac);
    let mut tmp = 1.0f32;
    for v in c.iter_mut() {
        tmp *= 0.9;
        *v *= tmp;
    }
    let num = [
        c[0] + 0.8,
        c[1] + 0.8 * c[0],
        c[2] + 0.8 * c[1],
        c[3] + 0.8 * c[2],
        0.8 * c[3],
    ];
    fir5_in_place(lp, &num);
}

#[inline(always)]
fn autocorr(k: &Kernels, x: &[f32], ac: &mut [f32; 5]) {
    let n = x.len();
    let fast_n = n - (ac.len() - 1);
    (k.xcorr)(&x[..fast_n], x, ac);
    for (lag, a) in ac.iter_mut().enumerate() {
        let mut d = 0.0f32;
        for i in lag + fast_n..n {
            d += x[i] * x[i - lag];
        }
        *a += d;
    }
}

/// Levinson-Durbin recursion for 4 coefficients; stops early at 30 dB prediction gain.
#[inline(always)]
fn lpc4(ac: &[f32; 5]) -> [f32; 4] {
    let mut lpc = [0.0f32; 4];
    let mut error = ac[0];
    if ac[0] == 0.0 {
        return lpc;
    }
    for i in 0..4 {
        let mut rr = 0.0f32;
        for j in 0..i {
            rr += lpc[j] * ac[i - j];
        }
        rr += ac[i + 1];
        let r = -rr / error;
        lpc[i] = r;
        for j in 0..i.div_ceil(2) {
            let (a, b) = (lpc[j], lpc[i - 1 - j]);
            lpc[j] = a + r * b;
            lpc[i - 1 - j] = b + r * a;
        }
        error -= r * r * error;
        if error < 0.001 * ac[0] {
            break;
        }
    }
    lpc
}

#[inline(always)]
fn fir5_in_place(xs: &mut [f32; BUF / 2], num: &[f32; 5]) {
    // Out of place from a copy with the filter memory (zeros) in front, so every
    // output is independent and the loop vectorises.
    let mut src = [0.0f32; BUF / 2 + 5];
    src[5..].copy_from_slice(xs);
    for (x, w) in xs.iter_mut().zip(src.windows(6)) {
        *x = w[5] + num[0] * w[4] + num[1] * w[3] + num[2] * w[2] + num[3] * w[1] + num[4] * w[0];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::denoise::kernels::{Kernel, Kernels};

    /// A pulse train with a known period is found within a sample or two.
    #[test]
    fn finds_the_period_of_a_pulse_train() {
        for kind in [Kernel::Portable, Kernel::Auto] {
            let k = Kernels::new(kind).unwrap();
            for period in [100usize, 160, 250, 400] {
                let mut x = [0.0f32; BUF];
                for (i, v) in x.iter_mut().enumerate() {
                    let ph = (i % period) as f32 / period as f32;
                    *v =
                        8000.0 * (-30.0 * ph).exp() * (2.0 * std::f32::consts::PI * 3.0 * ph).cos();
                }
                let mut p = PitchFinder::new();
                let found = p.process(&k, &x);
                assert!(
                    found.abs_diff(period) <= 2,
                    "{kind:?}: period {period} found {found}"
                );
            }
        }
    }

    #[test]
    fn lpc_of_white_noise_is_near_zero_and_of_silence_is_zero() {
        assert_eq!(lpc4(&[0.0; 5]), [0.0; 4]);
        let c = lpc4(&[1.0, 0.0, 0.0, 0.0, 0.0]);
        assert!(c.iter().all(|v| v.abs() < 1e-6));
    }
}
