//! The 22 RNNoise bands (Opus/CELT 5 ms band layout scaled to a 960-point FFT),
//! the analysis/synthesis window and the band DCT, as tables computed once.

use std::sync::OnceLock;

use realfft::num_complex::Complex32;

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
    /// For bin `b < BAND_BINS`: the lower band index and the weight of the upper
    /// band (linear interpolation between band centres).
    pub bin_band: [u8; BAND_BINS],
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
    let mut bin_band = [0u8; BAND_BINS];
    let mut bin_frac = [0.0f32; BAND_BINS];
    for i in 0..NB_BANDS - 1 {
        let size = (EBAND_5MS[i + 1] - EBAND_5MS[i]) * 4;
        for j in 0..size {
            bin_band[EBAND_5MS[i] * 4 + j] = i as u8;
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
        bin_band,
        bin_frac,
        dct,
    }
}

/// Sums `term(bin)` into bands with triangular weights: bin `b` of band `i`
/// contributes `(1 - frac)` to band `i` and `frac` to band `i + 1`. Edge bands
/// get double weight (they have a neighbour on one side only). Each band's two
/// sums live in registers and are added in bin order, the same order as a
/// bin-by-bin scatter, so results are bit-identical to nnnoiseless's.
#[inline(always)]
fn band_sum<const K: usize>(
    t: &Tables,
    term: impl Fn(usize) -> [f32; K],
    out: &mut [[f32; NB_BANDS]; K],
) {
    let mut carry = [0.0f32; K];
    let mut b = 0;
    for band in 0..NB_BANDS - 1 {
        let mut lo = carry;
        let mut hi = [0.0f32; K];
        let end = EBAND_5MS[band + 1] * 4;
        while b < end {
            let frac = t.bin_frac[b];
            let v = term(b);
            for k in 0..K {
                lo[k] += (1.0 - frac) * v[k];
                hi[k] += frac * v[k];
            }
            b += 1;
        }
        for k in 0..K {
            out[k][band] = lo[k];
        }
        carry = hi;
    }
    for k in 0..K {
        out[k][NB_BANDS - 1] = carry[k];
        out[k][0] *= 2.0;
        out[k][NB_BANDS - 1] *= 2.0;
    }
}

/// Band energies of `x` and `p` and their band correlation `sum Re(x conj(p))`,
/// in one pass over the bins.
pub(crate) fn band_stats(
    t: &Tables,
    x: &[Complex32; FREQ],
    p: &[Complex32; FREQ],
) -> [[f32; NB_BANDS]; 3] {
    let mut out = [[0.0f32; NB_BANDS]; 3];
    band_sum(
        t,
        |b| {
            let (x, p) = (x[b], p[b]);
            [
                x.re * x.re + x.im * x.im,
                p.re * p.re + p.im * p.im,
                x.re * p.re + x.im * p.im,
            ]
        },
        &mut out,
    );
    out
}

/// Band energy of one spectrum.
pub(crate) fn band_energy(t: &Tables, x: &[Complex32; FREQ], out: &mut [f32; NB_BANDS]) {
    let mut o = [[0.0f32; NB_BANDS]; 1];
    band_sum(t, |b| [x[b].re * x[b].re + x[b].im * x[b].im], &mut o);
    *out = o[0];
}

/// Spreads per-band values over the bins below [`BAND_BINS`] by linear
/// interpolation; bins above are left as they are.
pub(crate) fn interp_band_gain(t: &Tables, bands: &[f32; NB_BANDS], out: &mut [f32; FREQ]) {
    for b in 0..BAND_BINS {
        let band = t.bin_band[b] as usize;
        let frac = t.bin_frac[b];
        out[b] = (1.0 - frac) * bands[band] + frac * bands[band + 1];
    }
}

/// Orthonormal DCT-II of the 22 band values.
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
        let mut e = [0.0; NB_BANDS];
        band_energy(t, &x, &mut e);
        let [ex, ep, exp] = band_stats(t, &x, &x);
        assert_eq!((ex, ep, exp), (e, e, e));
        // Interior band i collects half of each neighbouring band span.
        assert!((e[1] - 4.0).abs() < 1e-5);
        assert!((e[10] - 0.5 * (8.0 + 8.0)).abs() < 1e-5);
        let mut g = [0.0; FREQ];
        interp_band_gain(t, &[0.5; NB_BANDS], &mut g);
        assert!(g[..BAND_BINS].iter().all(|&v| (v - 0.5).abs() < 1e-6));
    }
}
