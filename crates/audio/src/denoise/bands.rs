//! The 22 RNNoise bands (Opus/CELT 5 ms band layout scaled to a 960-point FFT),
//! the analysis/synthesis window and the band DCT, as tables computed once.

use std::sync::OnceLock;

use rustfft::num_complex::Complex32;

use super::model::NB_BANDS;

/// Samples per frame.
pub(crate) const FRAME: usize = 480;
/// FFT window: two frames.
pub(crate) const WINDOW: usize = 2 * FRAME;
/// Non-redundant bins of the real FFT of a window.
pub(crate) const FREQ: usize = FRAME + 1;

/// Band edges in units of 4 FFT bins (200 Hz at 48 kHz).
const EBAND_5MS: [usize; NB_BANDS] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 34, 40, 48, 60, 78, 100,
];
/// Bins covered by the band layout; bins above (20 kHz and up) belong to no band.
pub(crate) const BAND_BINS: usize = EBAND_5MS[NB_BANDS - 1] * 4;

/// Tables shared by every denoiser.
pub(crate) struct Tables {
    /// Power-complementary (Vorbis) window over two frames.
    pub window: [f32; WINDOW],
    /// `1 / sum(window^2)`: normalises the forward FFT as RNNoise's does.
    pub wnorm: f32,
    /// For bin `b < BAND_BINS`: the weight of the upper of its two bands (linear
    /// interpolation between band starts).
    pub bin_frac: [f32; BAND_BINS],
    /// DCT-II basis, `dct[j * NB_BANDS + i]`, with the first column scaled by sqrt(1/2).
    pub dct: [f32; NB_BANDS * NB_BANDS],
}

pub(crate) fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(build)
}

fn build() -> Tables {
    let pi = std::f64::consts::PI;
    let mut window = [0.0f32; WINDOW];
    for i in 0..FRAME {
        let s = (0.5 * pi * (i as f64 + 0.5) / FRAME as f64).sin();
        let w = (0.5 * pi * s * s).sin() as f32;
        window[i] = w;
        window[WINDOW - 1 - i] = w;
    }
    let wnorm = 1.0 / window.iter().map(|x| x * x).sum::<f32>();
    let mut bin_frac = [0.0f32; BAND_BINS];
    for i in 0..NB_BANDS - 1 {
        let size = (EBAND_5MS[i + 1] - EBAND_5MS[i]) * 4;
        for j in 0..size {
            bin_frac[EBAND_5MS[i] * 4 + j] = j as f32 / size as f32;
        }
    }
    let mut dct = [0.0f32; NB_BANDS * NB_BANDS];
    for i in 0..NB_BANDS {
        for j in 0..NB_BANDS {
            let mut v = ((i as f64 + 0.5) * j as f64 * pi / NB_BANDS as f64).cos() as f32;
            if j == 0 {
                v *= 0.5f32.sqrt();
            }
            dct[i * NB_BANDS + j] = v;
        }
    }
    Tables {
        window,
        wnorm,
        bin_frac,
        dct,
    }
}

/// First bin of each band, then [`BAND_BINS`].
#[inline(always)]
fn band_start(band: usize) -> usize {
    EBAND_5MS[band] * 4
}

/// `(sum (1 - frac) e, sum frac e)` over one band's bins, in four lanes (every
/// band is a multiple of 4 bins wide) so the sums do not wait on each other.
/// SSE2 is part of every x86-64 CPU; elsewhere the same four lanes are scalar.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn weighted_sums(e: &[f32], frac: &[f32]) -> (f32, f32) {
    use std::arch::x86_64::*;
    let n = e.len().min(frac.len()) / 4 * 4;
    let (ep, fp) = (e.as_ptr(), frac.as_ptr());
    let (mut l, mut h) = ([0.0f32; 4], [0.0f32; 4]);
    // SAFETY: SSE and SSE2 are part of the x86-64 baseline (this is compiled
    // only for x86-64); every load reads i..i + 4 <= n <= both lengths, and the
    // stores write four f32 into four-element arrays.
    unsafe {
        let one = _mm_set1_ps(1.0);
        let (mut lo, mut hi) = (_mm_setzero_ps(), _mm_setzero_ps());
        for i in (0..n).step_by(4) {
            let (ev, fv) = (_mm_loadu_ps(ep.add(i)), _mm_loadu_ps(fp.add(i)));
            lo = _mm_add_ps(lo, _mm_mul_ps(_mm_sub_ps(one, fv), ev));
            hi = _mm_add_ps(hi, _mm_mul_ps(fv, ev));
        }
        _mm_storeu_ps(l.as_mut_ptr(), lo);
        _mm_storeu_ps(h.as_mut_ptr(), hi);
    }
    ((l[0] + l[1]) + (l[2] + l[3]), (h[0] + h[1]) + (h[2] + h[3]))
}

/// See the x86-64 version.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn weighted_sums(e: &[f32], frac: &[f32]) -> (f32, f32) {
    let (mut lo, mut hi) = ([0.0f32; 4], [0.0f32; 4]);
    for (e, f) in e.chunks_exact(4).zip(frac.chunks_exact(4)) {
        for l in 0..4 {
            lo[l] += (1.0 - f[l]) * e[l];
            hi[l] += f[l] * e[l];
        }
    }
    (
        (lo[0] + lo[1]) + (lo[2] + lo[3]),
        (hi[0] + hi[1]) + (hi[2] + hi[3]),
    )
}

/// Sums per-bin values into bands with triangular weights: bin `b` of band `i`
/// contributes `(1 - frac)` to band `i` and `frac` to band `i + 1`. Edge bands
/// get double weight (they have a neighbour on one side only).
#[inline(always)]
fn band_reduce(t: &Tables, e: &[f32; BAND_BINS]) -> [f32; NB_BANDS] {
    let mut out = [0.0f32; NB_BANDS];
    for band in 0..NB_BANDS - 1 {
        let bins = band_start(band)..band_start(band + 1);
        let (lo, hi) = weighted_sums(&e[bins.clone()], &t.bin_frac[bins]);
        out[band] += lo;
        out[band + 1] += hi;
    }
    out[0] *= 2.0;
    out[NB_BANDS - 1] *= 2.0;
    out
}

/// Band energies of `x` and `p` and their band correlation `sum Re(x conj(p))`.
#[inline(always)]
pub(crate) fn band_stats(
    t: &Tables,
    x: &[Complex32; FREQ],
    p: &[Complex32; FREQ],
) -> [[f32; NB_BANDS]; 3] {
    let mut ex = [0.0f32; BAND_BINS];
    let mut ep = [0.0f32; BAND_BINS];
    let mut exp = [0.0f32; BAND_BINS];
    for (((ex, ep), exp), (x, p)) in ex
        .iter_mut()
        .zip(ep.iter_mut())
        .zip(exp.iter_mut())
        .zip(x.iter().zip(p.iter()))
    {
        *ex = x.re * x.re + x.im * x.im;
        *ep = p.re * p.re + p.im * p.im;
        *exp = x.re * p.re + x.im * p.im;
    }
    [
        band_reduce(t, &ex),
        band_reduce(t, &ep),
        band_reduce(t, &exp),
    ]
}

/// Band energy of one spectrum.
#[inline(always)]
pub(crate) fn band_energy(t: &Tables, x: &[Complex32; FREQ]) -> [f32; NB_BANDS] {
    let mut e = [0.0f32; BAND_BINS];
    for (e, x) in e.iter_mut().zip(x.iter()) {
        *e = x.re * x.re + x.im * x.im;
    }
    band_reduce(t, &e)
}

/// Spreads per-band values over the bins below [`BAND_BINS`] by linear
/// interpolation between band starts.
#[inline(always)]
pub(crate) fn interp_band_gain(t: &Tables, bands: &[f32; NB_BANDS], out: &mut [f32; BAND_BINS]) {
    for band in 0..NB_BANDS - 1 {
        let bins = band_start(band)..band_start(band + 1);
        let (lo, hi) = (bands[band], bands[band + 1]);
        for (o, &f) in out[bins.clone()].iter_mut().zip(&t.bin_frac[bins]) {
            *o = (1.0 - f) * lo + f * hi;
        }
    }
}

/// Orthonormal DCT-II of the 22 band values.
#[inline(always)]
pub(crate) fn dct(t: &Tables, x: &[f32; NB_BANDS], out: &mut [f32]) {
    let scale = (2.0 / NB_BANDS as f64).sqrt();
    for (i, o) in out.iter_mut().take(NB_BANDS).enumerate() {
        let mut sum = 0.0f32;
        for (j, &xj) in x.iter().enumerate() {
            sum += xj * t.dct[j * NB_BANDS + i];
        }
        *o = (sum as f64 * scale) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_power_complementary() {
        let t = tables();
        for i in 0..FRAME {
            let s = t.window[i].powi(2) + t.window[i + FRAME].powi(2);
            assert!((s - 1.0).abs() < 1e-5, "bin {i}: {s}");
        }
    }

    #[test]
    fn flat_spectrum_gives_energy_proportional_to_band_width() {
        let t = tables();
        let x = [Complex32::new(1.0, 0.0); FREQ];
        let e = band_energy(t, &x);
        let [ex, ep, exp] = band_stats(t, &x, &x);
        assert_eq!((ex, ep, exp), (e, e, e));
        // Interior band i collects half of each neighbouring band span.
        assert!((e[1] - 4.0).abs() < 1e-5);
        assert!((e[10] - 0.5 * (8.0 + 8.0)).abs() < 1e-5);
        let mut g = [0.0; BAND_BINS];
        interp_band_gain(t, &[0.5; NB_BANDS], &mut g);
        assert!(g.iter().all(|&v| (v - 0.5).abs() < 1e-6));
    }
}
