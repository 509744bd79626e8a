//! Analysis and synthesis around the network: high-pass input history, windowed
//! FFTs of the frame and of its pitch-lagged copy, the 42 features, the pitch
//! comb filter, gains and overlap-add synthesis.

use rustfft::num_complex::Complex32;

use super::bands::{self, Tables, BAND_BINS, FRAME, FREQ, WINDOW};
use super::fft::Transforms;
use super::kernels::Kernels;
use super::model::{NB_BANDS, NB_FEATURES};
use super::pitch::{self, PitchFinder};

const CEPS_MEM: usize = 8;
const NB_DELTA_CEPS: usize = 6;

/// Per-denoiser signal state; boxed by the owner (about 20 KB).
pub(crate) struct Analysis {
    t: &'static Tables,
    /// The last `pitch::BUF` high-passed input samples, oldest first.
    input: [f32; pitch::BUF],
    hp_mem: [f64; 4],
    ceps: [[f32; NB_BANDS]; CEPS_MEM],
    ceps_pos: usize,
    /// `ceps_dist[i][j]`: squared distance between cepstra `i` and `j`, kept up
    /// to date as each new cepstrum replaces an old one (7 new distances a frame
    /// instead of all 56).
    ceps_dist: [[f32; CEPS_MEM]; CEPS_MEM],
    synth_mem: [f32; FRAME],
    buf: [f32; WINDOW],
    /// Spectrum of the current window, then of the output being built.
    x: [Complex32; FREQ],
    /// Spectrum of the window one pitch period earlier.
    p: [Complex32; FREQ],
    ex: [f32; NB_BANDS],
    ep: [f32; NB_BANDS],
    exp: [f32; NB_BANDS],
    pub features: [f32; NB_FEATURES],
    fft: Transforms,
    pitch: PitchFinder,
}

impl Analysis {
    pub fn new() -> Analysis {
        Analysis {
            t: bands::tables(),
            input: [0.0; pitch::BUF],
            hp_mem: [0.0; 4],
            ceps: [[0.0; NB_BANDS]; CEPS_MEM],
            ceps_pos: 0,
            ceps_dist: [[0.0; CEPS_MEM]; CEPS_MEM],
            synth_mem: [0.0; FRAME],
            buf: [0.0; WINDOW],
            x: [Complex32::default(); FREQ],
            p: [Complex32::default(); FREQ],
            ex: [0.0; NB_BANDS],
            ep: [0.0; NB_BANDS],
            exp: [0.0; NB_BANDS],
            features: [0.0; NB_FEATURES],
            fft: Transforms::new(),
            pitch: PitchFinder::new(),
        }
    }

    pub fn reset(&mut self) {
        self.input.fill(0.0);
        self.hp_mem = [0.0; 4];
        self.ceps = [[0.0; NB_BANDS]; CEPS_MEM];
        self.ceps_pos = 0;
        self.ceps_dist = [[0.0; CEPS_MEM]; CEPS_MEM];
        self.synth_mem.fill(0.0);
        self.pitch.reset();
    }

    /// Appends a frame to the history through RNNoise's DC-blocking biquad
    /// (zeros at DC, poles at 0.998).
    #[inline(always)]
    pub fn push_frame(&mut self, k: &Kernels, frame: &[f32; FRAME]) {
        self.input.copy_within(FRAME.., 0);
        let dst = &mut self.input[pitch::BUF - FRAME..];
        (k.high_pass)(&mut self.hp_mem, frame, dst);
    }

    /// Spectra of the newest window (`x`) and of the window `lag` samples
    /// earlier (`p`), in one transform.
    #[inline(always)]
    fn transform(&mut self, lag: usize) {
        let end = pitch::BUF - lag;
        let x_src = &self.input[pitch::BUF - WINDOW..];
        let p_src = &self.input[end - WINDOW..end];
        let t = self.t;
        self.fft
            .forward_pair(x_src, p_src, &t.window, t.wnorm, &mut self.x, &mut self.p);
    }

    /// Computes the features of the newest frame. Returns `true` when the frame is
    /// near silent: then the features are zeroed, the cepstral history is left
    /// alone and the caller should skip the network.
    #[inline(always)]
    pub fn compute_features(&mut self, k: &Kernels) -> bool {
        let pitch_input: &[f32; pitch::BUF] = &self.input;
        let period = self.pitch.process(k, pitch_input);
        self.transform(period);
        [self.ex, self.ep, self.exp] = bands::band_stats(self.t, &self.x, &self.p);
        for ((c, &ex), &ep) in self.exp.iter_mut().zip(&self.ex).zip(&self.ep) {
            *c /= (0.001 + ex * ep).sqrt();
        }
        let f = &mut self.features;
        let mut tmp = [0.0f32; NB_BANDS];
        bands::dct(self.t, &self.exp, &mut tmp);
        let pc = NB_BANDS + 2 * NB_DELTA_CEPS;
        f[pc..pc + NB_DELTA_CEPS].copy_from_slice(&tmp[..NB_DELTA_CEPS]);
        f[pc] -= 1.3;
        f[pc + 1] -= 0.9;
        f[NB_BANDS + 3 * NB_DELTA_CEPS] = 0.01 * (period as f32 - 300.0);

        let mut ly = [0.0f32; NB_BANDS];
        let (mut log_max, mut follow, mut e) = (-2.0f32, -2.0f32, 0.0f32);
        for (l, &ex) in ly.iter_mut().zip(&self.ex) {
            *l = (1e-2 + ex).log10().max(log_max - 7.0).max(follow - 1.5);
            log_max = log_max.max(*l);
            follow = (follow - 1.5).max(*l);
            e += ex;
        }
        if e < 0.04 {
            f.fill(0.0);
            return true;
        }
        bands::dct(self.t, &ly, &mut f[..NB_BANDS]);
        f[0] -= 12.0;
        f[1] -= 4.0;
        self.cepstral_features();
        false
    }

    /// Cepstrum history: smoothed cepstrum, first and second differences, and the
    /// spectral variability over the last `CEPS_MEM` frames.
    #[inline(always)]
    fn cepstral_features(&mut self) {
        let pos = self.ceps_pos;
        let prev1 = (pos + CEPS_MEM - 1) % CEPS_MEM;
        let prev2 = (pos + CEPS_MEM - 2) % CEPS_MEM;
        let f = &mut self.features;
        self.ceps[pos].copy_from_slice(&f[..NB_BANDS]);
        self.ceps_pos = (pos + 1) % CEPS_MEM;
        let (c0, c1, c2) = (&self.ceps[pos], &self.ceps[prev1], &self.ceps[prev2]);
        for i in 0..NB_DELTA_CEPS {
            f[i] = c0[i] + c1[i] + c2[i];
            f[NB_BANDS + i] = c0[i] - c2[i];
            f[NB_BANDS + NB_DELTA_CEPS + i] = c0[i] - 2.0 * c1[i] + c2[i];
        }
        // (a - b)^2 == (b - a)^2 exactly, so the cached symmetric distances are
        // the ones a full recomputation would give.
        for j in (0..CEPS_MEM).filter(|&j| j != pos) {
            let mut dist = 0.0f32;
            for (a, b) in self.ceps[pos].iter().zip(&self.ceps[j]) {
                dist += (a - b) * (a - b);
            }
            self.ceps_dist[pos][j] = dist;
            self.ceps_dist[j][pos] = dist;
        }
        let mut variability = 0.0f32;
        for (i, row) in self.ceps_dist.iter().enumerate() {
            let mut min_dist = 1e15f32;
            for (_, &dist) in row.iter().enumerate().filter(|&(j, _)| j != i) {
                min_dist = min_dist.min(dist);
            }
            variability += min_dist;
        }
        f[NB_BANDS + 3 * NB_DELTA_CEPS + 1] = variability / CEPS_MEM as f32 - 2.1;
    }

    /// Pitch comb filter, then the band gains: mixes in the pitch-lagged spectrum
    /// where the network's gain `net` says the band is noisier than its pitch
    /// correlation explains, renormalises each band to its original energy and
    /// applies `gain`, the last two in one pass. Bins above [`BAND_BINS`] (20 kHz
    /// and up) belong to no band and are cleared, as in RNNoise.
    #[inline(always)]
    pub fn filter_and_gain(&mut self, net: &[f32; NB_BANDS], gain: &[f32; NB_BANDS]) {
        let mut r = [0.0f32; NB_BANDS];
        for i in 0..NB_BANDS {
            let (exp, g) = (self.exp[i], net[i]);
            let v = if exp > g {
                1.0
            } else {
                let (e2, g2) = (exp * exp, g * g);
                e2 * (1.0 - g2) / (0.001 + g2 * (1.0 - e2))
            };
            r[i] = v.clamp(0.0, 1.0).sqrt() * (self.ex[i] / (1e-8 + self.ep[i])).sqrt();
        }
        let mut rf = [0.0f32; BAND_BINS];
        bands::interp_band_gain(self.t, &r, &mut rf);
        // Only the real part of bin 0, as nnnoiseless does.
        self.x[0].re += self.p[0].re * rf[0];
        for ((x, p), &g) in self.x[1..BAND_BINS]
            .iter_mut()
            .zip(&self.p[1..])
            .zip(&rf[1..])
        {
            *x += *p * g;
        }
        let new_e = bands::band_energy(self.t, &self.x);
        for ((r, &ex), &ne) in r.iter_mut().zip(&self.ex).zip(&new_e) {
            *r = (ex / (1e-8 + ne)).sqrt();
        }
        let mut gf = [0.0f32; BAND_BINS];
        bands::interp_band_gain(self.t, &r, &mut rf);
        bands::interp_band_gain(self.t, gain, &mut gf);
        let (low, high) = self.x.split_at_mut(BAND_BINS);
        for ((x, &a), &b) in low.iter_mut().zip(&rf).zip(&gf) {
            *x *= a * b;
        }
        high.fill(Complex32::default());
    }

    /// Inverse FFT, synthesis window and overlap-add: one frame out, one frame late.
    #[inline(always)]
    pub fn synthesise(&mut self, out: &mut [f32; FRAME]) {
        self.fft.inverse(&self.x, &mut self.buf);
        // The unnormalised inverse gains WINDOW, the forward norm 1/sum(w^2) ~ 2/WINDOW.
        for (b, &w) in self.buf.iter_mut().zip(&self.t.window) {
            *b = *b / 2.0 * w;
        }
        for ((o, &b), &m) in out.iter_mut().zip(&self.buf[..FRAME]).zip(&self.synth_mem) {
            *o = b + m;
        }
        self.synth_mem.copy_from_slice(&self.buf[FRAME..]);
    }
}

/// Poles of RNNoise's high-pass: `y[n] = u[n] - A[0] y[n-1] - A[1] y[n-2]`, with
/// `u[n] = x[n] - 2 x[n-1] + x[n-2]`.
pub(crate) const HP_A: [f64; 2] = [-1.99599, 0.99600];

/// Samples per step of the high-pass.
pub(crate) const HP_BLOCK: usize = 8;

/// The high-pass over one block as a matrix: column `j` holds what input `j` of
/// `[x[n-2], x[n-1], x[n..n+8], y[n-1], y[n-2]]` adds to each of the block's
/// eight outputs `y[n..n+8]`. Built from `h`, the impulse response of the poles
/// (the block's zero-state output is `sum_m h[m] u[k - m]` with `u` the zeros'
/// output `x - 2 x[-1] + x[-2]`), and from the poles' free response to the two
/// outputs before the block.
pub(crate) const HP_COLS: [[f64; HP_BLOCK]; HP_BLOCK + 4] = {
    let [a0, a1] = HP_A;
    let mut h = [0.0; HP_BLOCK];
    let (mut c1, mut c2) = ([0.0; HP_BLOCK], [0.0; HP_BLOCK]);
    h[0] = 1.0;
    h[1] = -a0;
    c1[0] = -a0;
    c2[0] = -a1;
    c1[1] = -a0 * c1[0] - a1;
    c2[1] = -a0 * c2[0];
    let mut k = 2;
    while k < HP_BLOCK {
        h[k] = -a0 * h[k - 1] - a1 * h[k - 2];
        c1[k] = -a0 * c1[k - 1] - a1 * c1[k - 2];
        c2[k] = -a0 * c2[k - 1] - a1 * c2[k - 2];
        k += 1;
    }
    let mut cols = [[0.0; HP_BLOCK]; HP_BLOCK + 4];
    // u[k - m] = x[k - m] - 2 x[k - m - 1] + x[k - m - 2]; x[i] is input i + 2.
    let mut k = 0;
    while k < HP_BLOCK {
        let mut m = 0;
        while m <= k {
            cols[k - m + 2][k] += h[m];
            cols[k - m + 1][k] -= 2.0 * h[m];
            cols[k - m][k] += h[m];
            m += 1;
        }
        cols[HP_BLOCK + 2][k] = c1[k];
        cols[HP_BLOCK + 3][k] = c2[k];
        k += 1;
    }
    cols
};

/// The high-pass in f64, eight samples per step as one small matrix product
/// (see [`HP_COLS`]): the input columns do not depend on earlier blocks, so the
/// only serial chain is the two carried outputs, two scalar multiply-adds per
/// eight samples (a per-sample recursion waits on a multiply and an add every
/// sample). The product runs column by column over eight contiguous outputs,
/// which vectorises on any SIMD width. Differences are at f64 rounding level.
/// `mem` is `[x[n-1], x[n-2], y[n-1], y[n-2]]`.
/// This is the portable kernel; `kernels::x86` has the same sums in AVX2.
pub(crate) fn high_pass(mem: &mut [f64; 4], input: &[f32; FRAME], out: &mut [f32]) {
    let [mut x1, mut x2, mut y1, mut y2] = *mem;
    let (x_cols, y_cols) = HP_COLS.split_at(HP_BLOCK + 2);
    for (xb, ob) in input
        .chunks_exact(HP_BLOCK)
        .zip(out.chunks_exact_mut(HP_BLOCK))
    {
        let mut xs = [0.0f64; HP_BLOCK + 2];
        xs[0] = x2;
        xs[1] = x1;
        for (d, &x) in xs[2..].iter_mut().zip(xb) {
            *d = f64::from(x);
        }
        (x1, x2) = (xs[HP_BLOCK + 1], xs[HP_BLOCK]);
        let mut acc = [0.0f64; HP_BLOCK];
        for (col, &v) in x_cols.iter().zip(&xs) {
            for (a, &c) in acc.iter_mut().zip(col) {
                *a += c * v;
            }
        }
        let (c1, c2) = (&y_cols[0], &y_cols[1]);
        for (((o, &a), &c1), &c2) in ob.iter_mut().zip(&acc).zip(c1).zip(c2) {
            *o = (a + c1 * y1 + c2 * y2) as f32;
        }
        // The carried outputs again, in scalar and summed in another order: the
        // chain from one block's (y1, y2) to the next's is then two multiplies
        // and two adds, with no lane extraction or broadcast in it.
        let (k1, k2) = (HP_BLOCK - 1, HP_BLOCK - 2);
        (y1, y2) = (
            (c1[k1] * y1 + c2[k1] * y2) + acc[k1],
            (c1[k2] * y1 + c2[k2] * y2) + acc[k2],
        );
    }
    *mem = [x1, x2, y1, y2];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block high-pass is the plain per-sample recursion.
    #[test]
    fn block_high_pass_matches_the_direct_recursion() {
        let mut mem = [0.0f64; 4];
        let (mut x1, mut x2, mut y1, mut y2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let mut seed = 7u32;
        for _ in 0..5 {
            let mut frame = [0.0f32; FRAME];
            for v in frame.iter_mut() {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *v = (seed >> 8) as f32 / 512.0 - 16384.0 + 3000.0;
            }
            let mut out = [0.0f32; FRAME];
            high_pass(&mut mem, &frame, &mut out);
            for (&x, &got) in frame.iter().zip(&out) {
                let x = f64::from(x);
                let y = x - 2.0 * x1 + x2 - HP_A[0] * y1 - HP_A[1] * y2;
                (x2, x1, y2, y1) = (x1, x, y1, y);
                assert!(
                    (f64::from(got) - y).abs() <= 1e-3 + 1e-5 * y.abs(),
                    "{got} vs {y}"
                );
            }
        }
    }
}
