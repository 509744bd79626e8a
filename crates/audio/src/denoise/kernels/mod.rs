//! The numeric inner loops of the denoiser, in a portable version and (on x86-64)
//! AVX2+FMA and AVX-512 (F/BW/VL + VNNI) versions, the best one chosen at run time.
//!
//! A [`Kernels`] value is a table of plain function pointers picked once when a
//! denoiser is built, so the per-frame path pays one indirect call per kernel call
//! and never re-detects CPU features.

use super::matrix::Matrix;

#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

/// Which implementation of the inner loops a denoiser uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kernel {
    /// The fastest one this CPU supports (detected at run time).
    #[default]
    Auto,
    /// Plain Rust that compiles and runs on every architecture.
    Portable,
    /// x86-64 AVX2 with FMA.
    Avx2Fma,
    /// x86-64 AVX-512 F, BW and VL with VNNI (and AVX2+FMA): 8-bit dot products
    /// for the network's mat-vecs, the whole frame path compiled for AVX-512.
    Avx512Vnni,
}

impl Kernel {
    /// Whether this kernel can run on the current CPU.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Auto | Kernel::Portable => true,
            Kernel::Avx2Fma => avx2_available(),
            Kernel::Avx512Vnni => avx512_available(),
        }
    }

    /// Every concrete kernel, slowest first.
    pub const ALL: [Kernel; 3] = [Kernel::Portable, Kernel::Avx2Fma, Kernel::Avx512Vnni];

    /// The concrete kernel `Auto` stands for on this CPU (others map to themselves).
    pub fn resolve(self) -> Kernel {
        match self {
            Kernel::Auto if avx512_available() => Kernel::Avx512Vnni,
            Kernel::Auto if avx2_available() => Kernel::Avx2Fma,
            Kernel::Auto => Kernel::Portable,
            k => k,
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_available() -> bool {
    false
}

/// Everything the AVX-512 kernel and its frame path enable.
#[cfg(target_arch = "x86_64")]
fn avx512_available() -> bool {
    avx2_available()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_available() -> bool {
    false
}

/// `out[i] += sum_j (w[j, i] / 256) * input[j]` for every output `i`, `j` in
/// order: weights in the model's byte units (see `model::WEIGHT_SCALE`).
/// Panics unless `out.len() == w.cols` and `input.len() == w.rows`.
pub(crate) type MatVecAdd = fn(out: &mut [f32], w: &Matrix, input: &[f32]);
/// [`MatVecAdd`] for `legs` legs at once: `out[l * out_stride..][..w.cols] +=`
/// the product with `input[l * in_stride..][..w.rows]` for each `l < legs`,
/// each leg's result equal bit for bit to the kernel's single-leg
/// [`MatVecAdd`]. Panics if the slices are too short or `legs > MAX_LEGS`.
pub(crate) type MatVecAddMany = fn(
    out: &mut [f32],
    out_stride: usize,
    w: &Matrix,
    input: &[f32],
    in_stride: usize,
    legs: usize,
);
/// Most legs a [`MatVecAddMany`] call takes.
pub(crate) const MAX_LEGS: usize = 8;
/// `out[l] = sum_k x[k] * y[l + k]` for every lag `l < out.len()`.
pub(crate) type Xcorr = fn(x: &[f32], y: &[f32], out: &mut [f32]);
/// `sum_k x[k] * y[k]` over the shorter of the two.
pub(crate) type Dot = fn(x: &[f32], y: &[f32]) -> f32;
/// `[dot(x, y0), dot(x, y1)]`, bit for bit, in one pass over `x`.
pub(crate) type Dot2 = fn(x: &[f32], y0: &[f32], y1: &[f32]) -> [f32; 2];

/// RNNoise's DC-blocking biquad over one frame in f64, state
/// `[x[n-1], x[n-2], y[n-1], y[n-2]]`; writes `out[..FRAME]`.
pub(crate) type HighPass =
    fn(mem: &mut [f64; 4], input: &[f32; super::bands::FRAME], out: &mut [f32]);

/// An activation applied in place to a slice.
pub(crate) type Activate = fn(xs: &mut [f32]);

/// The kernel table a denoiser calls through.
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    pub kind: Kernel,
    pub mat_vec_add: MatVecAdd,
    /// A kernel that streams the weights once for several legs; `None` where
    /// the legs simply take turns.
    pub mat_vec_add_many: Option<MatVecAddMany>,
    pub xcorr: Xcorr,
    pub dot: Dot,
    pub dot2: Dot2,
    pub tansig: Activate,
    pub sigmoid: Activate,
    pub high_pass: HighPass,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kernels({:?})", self.kind)
    }
}

impl Kernels {
    /// The table for `kind`, or `None` when this CPU cannot run it.
    pub fn new(kind: Kernel) -> Option<Kernels> {
        match kind.resolve() {
            Kernel::Portable => Some(Kernels {
                kind: Kernel::Portable,
                mat_vec_add: portable::mat_vec_add,
                mat_vec_add_many: None,
                xcorr: portable::xcorr,
                dot: portable::dot,
                dot2: portable::dot2,
                tansig: super::activation::tansig_slice,
                sigmoid: super::activation::sigmoid_slice,
                high_pass: super::features::high_pass,
            }),
            Kernel::Avx2Fma => avx2_table(),
            Kernel::Avx512Vnni => avx512_table(),
            Kernel::Auto => None,
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_table() -> Option<Kernels> {
    x86::table()
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_table() -> Option<Kernels> {
    None
}

#[cfg(target_arch = "x86_64")]
fn avx512_table() -> Option<Kernels> {
    avx512::table()
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_table() -> Option<Kernels> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    fn close(a: f32, b: f32, scale: f32) -> bool {
        (a - b).abs() <= 1e-5 * scale.max(1.0)
    }

    /// Every kernel this CPU can run agrees with the portable one on odd sizes
    /// (exercising SIMD tails) and on the sizes the denoiser uses; the kernels
    /// it cannot run are named on stderr.
    #[test]
    fn available_kernels_match_portable() {
        let mut skipped = vec![];
        for kind in Kernel::ALL {
            match Kernels::new(kind) {
                Some(k) => {
                    assert_eq!(k.kind, kind);
                    kernel_matches_portable(&k);
                    eprintln!("kernel {kind:?}: tested against the portable kernel");
                }
                None => skipped.push(kind),
            }
        }
        for kind in &skipped {
            eprintln!("kernel {kind:?}: NOT tested, this CPU cannot run it");
        }
        assert!(!skipped.contains(&Kernel::Portable));
    }

    /// The mat-vec sizes the tests use: (rows, width, stride).
    const MAT_SIZES: [(usize, usize, usize); 10] = [
        (42, 24, 24),
        (90, 144, 144),
        (96, 22, 22),
        (24, 1, 1),
        (7, 13, 29),
        (114, 96, 288),
        (3, 136, 136),
        (127, 70, 70),
        (114, 288, 288),
        (1, 17, 17),
    ];

    fn test_matrix(rows: usize, width: usize, stride: usize) -> Matrix {
        let raw: Vec<i8> = pseudo_random(rows * stride, 1)
            .iter()
            .map(|v| (v * 127.0) as i8)
            .collect();
        Matrix::pack(&raw, rows, stride, stride - width, width)
    }

    /// The AVX-512 VNNI mat-vec computes the AVX2 kernel's exact integer sums
    /// and scales them alike, so the two agree bit for bit, including on
    /// extreme weights (-128, 127) and inputs whose quantisation saturates;
    /// the AVX-512 xcorr (wider blocks) agrees bit for bit on the denoiser's
    /// lag count.
    #[test]
    fn vnni_kernels_equal_avx2_bit_for_bit() {
        let (Some(a), Some(v)) = (
            Kernels::new(Kernel::Avx2Fma),
            Kernels::new(Kernel::Avx512Vnni),
        ) else {
            eprintln!("AVX2 or AVX-512 VNNI kernel not runnable here: comparison NOT done");
            return;
        };
        for &(rows, width, stride) in &MAT_SIZES {
            for extreme in [false, true] {
                let w = if extreme {
                    let raw: Vec<i8> = (0..rows * stride)
                        .map(|i| if i % 3 == 0 { -128 } else { 127 })
                        .collect();
                    Matrix::pack(&raw, rows, stride, stride - width, width)
                } else {
                    test_matrix(rows, width, stride)
                };
                let mut x = pseudo_random(rows, 2);
                if extreme {
                    x.iter_mut()
                        .enumerate()
                        .for_each(|(i, v)| *v = if i % 2 == 0 { 3.0 } else { -3.0 });
                }
                let mut o1 = pseudo_random(width, 3);
                let mut o2 = o1.clone();
                (a.mat_vec_add)(&mut o1, &w, &x);
                (v.mat_vec_add)(&mut o2, &w, &x);
                assert_eq!(o1, o2, "rows {rows} width {width} extreme {extreme}");
            }
        }
        // On the denoiser's 160 coarse lags both xcorrs run only strided
        // blocks (AVX2 64 + 64 + 32, AVX-512 80 + 80), which sum every lag in
        // the same order whatever the block size. (Elsewhere their tails take
        // different paths; the portable comparison covers those sizes.)
        for n in [240, 100, 5, 861] {
            let lags = 160;
            let x = pseudo_random(n, 4);
            let y = pseudo_random(n + lags, 5);
            let (mut o1, mut o2) = (vec![0.0; lags], vec![0.0; lags]);
            (a.xcorr)(&x, &y, &mut o1);
            (v.xcorr)(&x, &y, &mut o2);
            assert_eq!(o1, o2, "xcorr n {n} lags {lags}");
        }
    }

    /// Every kernel's many-leg mat-vec (where it has one) equals its
    /// single-leg one per leg, bit for bit, with strides wider than the
    /// matrix, an all-zero leg and 1 to `MAX_LEGS` legs.
    #[test]
    fn many_leg_mat_vec_equals_single_leg() {
        for kind in Kernel::ALL {
            let Some(k) = Kernels::new(kind) else {
                eprintln!("kernel {kind:?}: NOT tested, this CPU cannot run it");
                continue;
            };
            let Some(many) = k.mat_vec_add_many else {
                continue;
            };
            for &(rows, width, stride) in &MAT_SIZES {
                let w = test_matrix(rows, width, stride);
                for legs in 1..=MAX_LEGS {
                    let (is, os) = (rows + 3, width + 5);
                    let mut input = pseudo_random(legs * is, 7);
                    if legs > 2 {
                        input[is..is + rows].fill(0.0);
                    }
                    let mut a = pseudo_random(legs * os, 8);
                    let mut b = a.clone();
                    many(&mut a, os, &w, &input, is, legs);
                    for l in 0..legs {
                        (k.mat_vec_add)(&mut b[l * os..][..width], &w, &input[l * is..][..rows]);
                    }
                    assert_eq!(a, b, "{kind:?} rows {rows} width {width} legs {legs}");
                }
            }
            eprintln!("kernel {kind:?}: many-leg mat-vec tested");
        }
    }

    fn kernel_matches_portable(k: &Kernels) {
        let p = Kernels::new(Kernel::Portable).unwrap();
        for &(rows, width, stride) in &MAT_SIZES {
            let w = test_matrix(rows, width, stride);
            let x = pseudo_random(rows, 2);
            let mut a = pseudo_random(width, 3);
            let mut b = a.clone();
            (p.mat_vec_add)(&mut a, &w, &x);
            (k.mat_vec_add)(&mut b, &w, &x);
            // The SIMD kernels quantise the input to 16 bits: each of the `rows`
            // terms may be off by |w| (<= 0.5) times half a step of max|x| / 32767.
            let max_x = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let bound = rows as f32 * 0.5 * 0.5 * max_x / 32767.0;
            for (a, b) in a.iter().zip(&b) {
                assert!((a - b).abs() <= bound + 1e-5 * rows as f32, "{a} vs {b}");
            }
        }
        for &(n, lags) in &[
            (240, 147),
            (240, 152),
            (240, 160),
            (240, 167),
            (100, 40),
            (5, 64),
            (860, 5),
            (33, 41),
            (8, 1),
        ] {
            let x = pseudo_random(n, 4);
            let y = pseudo_random(n + lags, 5);
            let mut a = vec![0.0; lags];
            let mut b = vec![0.0; lags];
            (p.xcorr)(&x, &y, &mut a);
            (k.xcorr)(&x, &y, &mut b);
            for (a, b) in a.iter().zip(&b) {
                assert!(close(*a, *b, n as f32), "{a} vs {b}");
            }
            let d = (p.dot)(&x, &y);
            let e = (k.dot)(&x, &y);
            assert!(close(d, e, n as f32), "{d} vs {e}");
            // The paired dot product is each kernel's own dot, bit for bit.
            for kk in [&p, k] {
                let y1 = &y[lags..];
                let pair = (kk.dot2)(&x, &y, y1);
                assert_eq!(pair, [(kk.dot)(&x, &y), (kk.dot)(&x, y1)]);
            }
        }
        // The high-pass: same products and sums in the same order, so equal
        // bit for bit (up to the sign of a zero), frame after frame with the
        // state carried; loud DC-offset input keeps the poles busy.
        let (mut mp, mut mk) = ([0.0f64; 4], [0.0f64; 4]);
        for seed in 0..4 {
            let noise = pseudo_random(crate::denoise::bands::FRAME, 20 + seed);
            let mut frame = [0.0f32; crate::denoise::bands::FRAME];
            for (f, v) in frame.iter_mut().zip(&noise) {
                *f = v * 20000.0 + 3000.0;
            }
            let (mut a, mut b) = (frame, frame);
            (p.high_pass)(&mut mp, &frame, &mut a);
            (k.high_pass)(&mut mk, &frame, &mut b);
            assert!(a.iter().zip(&b).all(|(a, b)| a == b), "high-pass differs");
            assert_eq!(mp, mk);
        }
        // Activations are exact: same operations, no FMA contraction.
        let xs: Vec<f32> = (-1200..1200).map(|i| i as f32 / 97.0).collect();
        for f in [
            |k: &Kernels, v: &mut [f32]| (k.tansig)(v),
            |k: &Kernels, v: &mut [f32]| (k.sigmoid)(v),
        ] {
            let (mut a, mut b) = (xs.clone(), xs.clone());
            f(&p, &mut a);
            f(k, &mut b);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn portable_kernels_compute_the_definitions() {
        let p = Kernels::new(Kernel::Portable).unwrap();
        let mut out = [1.0, 2.0];
        // w rows: [1, 2, _], [3, 4, _] (units of 1/256); input [2560, 25600].
        let w = Matrix::pack(&[1, 2, 9, 3, 4, 9], 2, 3, 0, 2);
        (p.mat_vec_add)(&mut out, &w, &[2560.0, 25600.0]);
        assert_eq!(out, [1.0 + 10.0 + 300.0, 2.0 + 20.0 + 400.0]);
        let mut xc = [0.0; 2];
        (p.xcorr)(&[1.0, 2.0], &[1.0, 10.0, 100.0], &mut xc);
        assert_eq!(xc, [21.0, 210.0]);
        assert_eq!((p.dot)(&[1.0, 2.0, 3.0], &[4.0, 5.0]), 14.0);
    }

    #[test]
    fn availability_is_reported_consistently() {
        for kind in Kernel::ALL {
            assert_eq!(
                Kernels::new(kind).is_some(),
                kind.is_available(),
                "{kind:?}"
            );
        }
        let best = Kernel::Auto.resolve();
        assert_ne!(best, Kernel::Auto);
        // Auto picks the last (fastest) kernel this CPU can run.
        let last = Kernel::ALL.iter().rev().find(|k| k.is_available());
        assert_eq!(Some(&best), last);
    }
}
