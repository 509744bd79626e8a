//! The three FFTs of a frame, on `rustfft` directly.
//!
//! Forward: the windowed frame `x` and its pitch-lagged copy `p` are both real,
//! so one complex FFT of `x + i p` carries both spectra; conjugate symmetry
//! separates them (`X[k] = (Z[k] + conj Z[N-k]) / 2`, `P[k] = (Z[k] - conj
//! Z[N-k]) / 2i`) with adds only. Two real FFTs through `realfft` cost two
//! half-length complex FFTs plus two twiddle passes; this costs one full-length
//! FFT (about the same as the two half-length ones) and one twiddle-free pass.
//!
//! Inverse: the real output's even and odd samples are the real and imaginary
//! parts of one half-length complex inverse FFT of a pre-twiddled spectrum, done
//! out of place (rustfft's in-place path adds a copy).
//!
//! The passes here are `#[inline(always)]` so they are compiled into each frame
//! entry point with its instruction set (8 lanes under AVX2).

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use super::bands::{FRAME, FREQ, WINDOW};

/// The planned transforms and the inverse's pre-twiddle, read-only and
/// shared by every denoiser of the process: planned once, and one copy of
/// their tables (about 15 KB) in cache however many legs are denoised.
struct Plans {
    fwd: Arc<dyn Fft<f32>>,
    inv: Arc<dyn Fft<f32>>,
    /// `e^(2 pi i k / WINDOW)` for `k < FRAME`: the inverse's pre-twiddle.
    twiddle: Vec<Complex32>,
}

fn plans() -> &'static Plans {
    static PLANS: std::sync::OnceLock<Plans> = std::sync::OnceLock::new();
    PLANS.get_or_init(|| {
        let mut planner = FftPlanner::<f32>::new();
        Plans {
            fwd: planner.plan_fft_forward(WINDOW),
            inv: planner.plan_fft_inverse(FRAME),
            twiddle: (0..FRAME)
                .map(|k| {
                    let a = 2.0 * std::f64::consts::PI * k as f64 / WINDOW as f64;
                    Complex32::new(a.cos() as f32, a.sin() as f32)
                })
                .collect(),
        }
    })
}

/// A denoiser's FFT scratch, with the shared plans (no allocation after
/// construction).
pub(crate) struct Transforms {
    fwd: &'static dyn Fft<f32>,
    inv: &'static dyn Fft<f32>,
    /// `x + i p` before, its spectrum after the forward FFT.
    z_in: Vec<Complex32>,
    z: Vec<Complex32>,
    twiddle: &'static [Complex32],
    half_in: Vec<Complex32>,
    half_out: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl Transforms {
    pub fn new() -> Transforms {
        let plans = plans();
        let (fwd, inv) = (&*plans.fwd, &*plans.inv);
        let scratch_len = fwd
            .get_outofplace_scratch_len()
            .max(inv.get_outofplace_scratch_len());
        Transforms {
            fwd,
            inv,
            twiddle: &plans.twiddle,
            z_in: vec![Complex32::default(); WINDOW],
            z: vec![Complex32::default(); WINDOW],
            half_in: vec![Complex32::default(); FRAME],
            half_out: vec![Complex32::default(); FRAME],
            scratch: vec![Complex32::default(); scratch_len],
        }
    }

    /// Spectra (bins `0..=WINDOW / 2`, scaled by `norm`) of `x * window` and
    /// `p * window`.
    #[inline(always)]
    pub fn forward_pair(
        &mut self,
        x: &[f32],
        p: &[f32],
        window: &[f32; WINDOW],
        norm: f32,
        x_out: &mut [Complex32; FREQ],
        p_out: &mut [Complex32; FREQ],
    ) {
        for (((z, &a), &b), &w) in self.z_in.iter_mut().zip(x).zip(p).zip(window) {
            *z = Complex32::new(a * w, b * w);
        }
        self.fwd
            .process_outofplace_with_scratch(&mut self.z_in, &mut self.z, &mut self.scratch);
        let h = 0.5 * norm;
        let z0 = self.z[0];
        x_out[0] = Complex32::new(z0.re * norm, 0.0);
        p_out[0] = Complex32::new(z0.im * norm, 0.0);
        // For k in 1..=FRAME, mirror index WINDOW - k runs down from WINDOW - 1.
        let mirror = self.z[FRAME..].iter().rev();
        for (((xo, po), &a), &b) in x_out[1..]
            .iter_mut()
            .zip(p_out[1..].iter_mut())
            .zip(&self.z[1..=FRAME])
            .zip(mirror)
        {
            // a = Z[k], b = Z[N-k]: X = (a + conj b) / 2, P = (a - conj b) / 2i.
            *xo = Complex32::new((a.re + b.re) * h, (a.im - b.im) * h);
            *po = Complex32::new((a.im + b.im) * h, (b.re - a.re) * h);
        }
    }

    /// Unnormalised inverse real FFT of `spec` (bins `0..=WINDOW / 2`; the
    /// imaginary parts of bins 0 and `WINDOW / 2` are ignored) into `out`.
    #[inline(always)]
    pub fn inverse(&mut self, spec: &[Complex32; FREQ], out: &mut [f32; WINDOW]) {
        // Z[k] = E[k] + i w^k O[k] with E = X[k] + conj X[M-k] and
        // O = X[k] - conj X[M-k], M = FRAME: its inverse FFT holds the even
        // output samples in the real parts and the odd ones in the imaginary.
        let mirror = spec[1..].iter().rev();
        for (((z, &a), &b), &t) in self
            .half_in
            .iter_mut()
            .zip(&spec[..FRAME])
            .zip(mirror)
            .zip(self.twiddle)
        {
            let (er, ei) = (a.re + b.re, a.im - b.im);
            let (or, oi) = (a.re - b.re, a.im + b.im);
            // i * t * o
            let (tr, ti) = (t.re * or - t.im * oi, t.re * oi + t.im * or);
            *z = Complex32::new(er - ti, ei + tr);
        }
        // Bins 0 and M are real in a real signal's spectrum: use only their
        // real parts, as a real inverse transform does.
        let (x0, xm) = (spec[0].re, spec[FRAME].re);
        self.half_in[0] = Complex32::new(x0 + xm, x0 - xm);
        self.inv.process_outofplace_with_scratch(
            &mut self.half_in,
            &mut self.half_out,
            &mut self.scratch,
        );
        for (o, z) in out.chunks_exact_mut(2).zip(&self.half_out) {
            o[0] = z.re;
            o[1] = z.im;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct DFT in f64 of a real signal: bins 0..=len/2.
    fn dft(x: &[f64]) -> Vec<(f64, f64)> {
        let n = x.len();
        (0..=n / 2)
            .map(|k| {
                x.iter().enumerate().fold((0.0, 0.0), |(re, im), (t, &v)| {
                    let a = -2.0 * std::f64::consts::PI * (k * t % n) as f64 / n as f64;
                    (re + v * a.cos(), im + v * a.sin())
                })
            })
            .collect()
    }

    fn signal(seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..WINDOW)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / 512.0 - 16384.0
            })
            .collect()
    }

    /// Both separated spectra equal a direct DFT, and the inverse brings the
    /// signal back (times WINDOW).
    #[test]
    fn pair_transform_and_inverse_match_the_direct_dft() {
        let mut t = Transforms::new();
        let (x, p) = (signal(1), signal(2));
        let ones = [1.0f32; WINDOW];
        let mut xs = [Complex32::default(); FREQ];
        let mut ps = [Complex32::default(); FREQ];
        t.forward_pair(&x, &p, &ones, 0.5, &mut xs, &mut ps);
        for (sig, spec) in [(&x, &xs), (&p, &ps)] {
            let want = dft(&sig.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
            let scale = want
                .iter()
                .fold(0.0f64, |m, c| m.max(c.0.abs().max(c.1.abs())));
            for (k, (got, want)) in spec.iter().zip(&want).enumerate() {
                let (er, ei) = (
                    f64::from(got.re) - 0.5 * want.0,
                    f64::from(got.im) - 0.5 * want.1,
                );
                assert!(
                    er.abs().max(ei.abs()) < 1e-5 * scale,
                    "bin {k}: {got} vs {want:?}"
                );
            }
        }
        let mut back = [0.0f32; WINDOW];
        t.inverse(&xs, &mut back);
        let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (i, (&b, &v)) in back.iter().zip(&x).enumerate() {
            // forward scaled by 0.5, inverse gains WINDOW
            let want = v * 0.5 * WINDOW as f32;
            assert!(
                (b - want).abs() < 1e-5 * peak * WINDOW as f32,
                "sample {i}: {b} vs {want}"
            );
        }
    }
}
