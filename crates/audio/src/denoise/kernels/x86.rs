//! AVX2+FMA kernels for x86-64.
//!
//! Soundness: every `#[target_feature]` function here is reached only through the
//! table built by [`table`], which checks at run time that the CPU has AVX2 and FMA.
//! The safe wrappers are private to this module, so nothing else can call them on a
//! CPU without those features. Pointer arithmetic stays inside the slices: each
//! function checks its slice lengths before the first load.

use std::arch::x86_64::*;

use super::{Kernel, Kernels};
use crate::denoise::bands::FRAME;
use crate::denoise::features::{HP_BLOCK, HP_COLS};
use crate::denoise::matrix::{Matrix, BLOCK, LANES};
use crate::denoise::model::WEIGHT_SCALE;

/// The AVX2 table, or `None` if this CPU lacks AVX2 or FMA.
pub(super) fn table() -> Option<Kernels> {
    if !super::avx2_available() {
        return None;
    }
    Some(Kernels {
        kind: Kernel::Avx2Fma,
        mat_vec_add,
        mat_vec_add_many: None,
        xcorr,
        dot,
        dot2,
        tansig,
        sigmoid,
        high_pass,
    })
}

fn tansig(xs: &mut [f32]) {
    // SAFETY: only reachable through `table()`, which verified AVX2 and FMA.
    unsafe { tansig_avx2(xs) }
}

fn sigmoid(xs: &mut [f32]) {
    // SAFETY: only reachable through `table()`, which verified AVX2 and FMA.
    unsafe { sigmoid_avx2(xs) }
}

fn mat_vec_add(out: &mut [f32], w: &Matrix, input: &[f32]) {
    // SAFETY: only reachable through `table()`, which verified AVX2 and FMA.
    unsafe { mat_vec_add_avx2(out, w, input) }
}

fn xcorr(x: &[f32], y: &[f32], out: &mut [f32]) {
    // SAFETY: only reachable through `table()`, which verified AVX2 and FMA.
    unsafe { xcorr_avx2(x, y, out) }
}

fn dot(x: &[f32], y: &[f32]) -> f32 {
    // SAFETY: only reachable through `table()`, which verified AVX2 and FMA.
    unsafe { dot_avx2(x, y) }
}

fn dot2(x: &[f32], y0: &[f32], y1: &[f32]) -> [f32; 2] {
    // SAFETY: only reachable through `table()`, which verified AVX2 and FMA.
    unsafe { dot2_avx2(x, y0, y1) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

/// Largest layer input: the model format stores counts as positive `i8`.
const MAX_ROWS: usize = 127;
/// Full scale of the 16-bit input quantisation.
pub(super) const Q_SCALE: f32 = 32767.0;

/// Matrix-vector product in 16-bit integers: the input vector is quantised to
/// `i16` against its own largest magnitude (relative error <= 1.5e-5 of that
/// value), weights are widened from bytes, and `vpmaddwd` does 16 multiply-adds
/// per instruction into exact 32-bit sums (at most 127 * 128 * 32767 < 2^31),
/// converted to `f32` once per output. Twice the rate of widening every weight
/// to `f32`; the portable kernel stays exact and both are held to nnnoiseless.
#[target_feature(enable = "avx2,fma")]
unsafe fn mat_vec_add_avx2(out: &mut [f32], w: &Matrix, input: &[f32]) {
    assert!(out.len() == w.cols && input.len() == w.rows && w.rows <= MAX_ROWS);
    let mut pairs = [0i32; MAX_ROWS.div_ceil(2)];
    let pairs = &mut pairs[..input.len().div_ceil(2)];
    // SAFETY: AVX2 and FMA are enabled in this function.
    let Some(max) = (unsafe { quantise_pairs(input, pairs) }) else {
        // All-zero input adds nothing; non-finite input cannot happen (inputs are
        // sanitised and activations bounded) and would have no meaningful scale.
        return;
    };
    let unscale = max / Q_SCALE * WEIGHT_SCALE;
    for (first, width, block) in w.blocks() {
        let n = w.cols.min(first + width) - first;
        let mut pad = [0.0f32; BLOCK];
        // Full blocks accumulate straight into `out`; only the padded last block
        // goes through a scratch copy.
        let o: &mut [f32] = if n == width {
            &mut out[first..first + n]
        } else {
            pad[..n].copy_from_slice(&out[first..first + n]);
            &mut pad[..width]
        };
        // SAFETY: AVX2 and FMA are enabled here; `block` holds `pairs.len()` row
        // pairs of `2 * width` = 16 * N bytes and `o` has `width` = 8 * N values.
        unsafe {
            match width / LANES {
                8 => block_avx2::<8>(o, block, pairs, unscale),
                7 => block_avx2::<7>(o, block, pairs, unscale),
                6 => block_avx2::<6>(o, block, pairs, unscale),
                5 => block_avx2::<5>(o, block, pairs, unscale),
                4 => block_avx2::<4>(o, block, pairs, unscale),
                3 => block_avx2::<3>(o, block, pairs, unscale),
                2 => block_avx2::<2>(o, block, pairs, unscale),
                _ => block_avx2::<1>(o, block, pairs, unscale),
            }
        }
        if n < width {
            out[first..first + n].copy_from_slice(&pad[..n]);
        }
    }
}

/// Quantises `input` to `i16` against its largest magnitude and packs each
/// pair of values as the two 16-bit halves `vpmaddwd` multiplies with a row
/// pair's weights. Returns that magnitude, or `None` if it is 0 or not finite.
#[target_feature(enable = "avx2,fma")]
unsafe fn quantise_pairs(input: &[f32], pairs: &mut [i32]) -> Option<f32> {
    assert!(pairs.len() == input.len().div_ceil(2));
    let full = input.len() / 8 * 8;
    let ip = input.as_ptr();
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
    let mut m = _mm256_setzero_ps();
    for i in (0..full).step_by(8) {
        // SAFETY: i + 8 <= full <= input.len().
        let v = unsafe { _mm256_loadu_ps(ip.add(i)) };
        m = _mm256_max_ps(m, _mm256_and_ps(v, abs_mask));
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds 8 f32.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), m) };
    let max = input[full..]
        .iter()
        .chain(&lanes)
        .fold(0.0f32, |a, &b| a.max(b.abs()));
    if !(max > 0.0 && max.is_finite()) {
        return None;
    }
    let s = Q_SCALE / max;
    let sv = _mm256_set1_ps(s);
    let pp = pairs.as_mut_ptr();
    for i in (0..full).step_by(8) {
        // SAFETY: input[i..i + 8] is in bounds and pairs[i / 2..i / 2 + 4] too
        // (pairs.len() >= full / 2). |x * s| <= 32767 up to rounding, which
        // packs_epi32 saturates; rounding is to nearest (the MXCSR default).
        unsafe {
            let q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(ip.add(i)), sv));
            // Per 128-bit lane: [q0 | q1 << 16, q2 | q3 << 16, (repeat)].
            let packed = _mm256_packs_epi32(q, q);
            let both = _mm256_permute4x64_epi64::<0b1000>(packed);
            _mm_storeu_si128(pp.add(i / 2).cast(), _mm256_castsi256_si128(both));
        }
    }
    let q = |x: f32| ((x * s).round_ties_even() as i16) as u16 as u32;
    for (p, xs) in pairs[full / 2..].iter_mut().zip(input[full..].chunks(2)) {
        let hi = xs.get(1).map_or(0, |&x| q(x));
        *p = (q(xs[0]) | hi << 16) as i32;
    }
    Some(max)
}

/// One block of `N` registers: `o[..8N] += unscale * (w^T q)` with `w` in row
/// pairs `16N` bytes wide and `q` the packed input pairs.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn block_avx2<const N: usize>(o: &mut [f32], w: &[i8], q: &[i32], unscale: f32) {
    let pair_len = 2 * N * LANES;
    assert!(w.len() >= q.len() * pair_len && o.len() >= N * LANES);
    let (wp, op) = (w.as_ptr(), o.as_mut_ptr());
    // SAFETY: pair p's bytes are p * pair_len .. (p + 1) * pair_len <= w.len()
    // (assert), read 16 at a time; o has at least 8N values (assert).
    unsafe {
        let mut a = [_mm256_setzero_si256(); N];
        let mut r = wp;
        for &qp in q {
            let xb = _mm256_set1_epi32(qp);
            for (k, acc) in a.iter_mut().enumerate() {
                let w16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(r.add(16 * k).cast()));
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(w16, xb));
            }
            r = r.add(pair_len);
        }
        let us = _mm256_set1_ps(unscale);
        for (k, acc) in a.iter().enumerate() {
            let prev = _mm256_loadu_ps(op.add(k * LANES));
            let v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(*acc), us, prev);
            _mm256_storeu_ps(op.add(k * LANES), v);
        }
    }
}

/// Cross-correlation vectorised across lags: 8 (or 32) neighbouring lags share
/// one broadcast of `x[k]` and read `y` with unaligned loads.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn xcorr_avx2(x: &[f32], y: &[f32], out: &mut [f32]) {
    let (n, lags) = (x.len(), out.len());
    if lags == 0 {
        return;
    }
    assert!(y.len() + 1 >= n + lags);
    let (xp, yp, op) = (x.as_ptr(), y.as_ptr(), out.as_mut_ptr());
    let mut l = 0;
    // SAFETY: a block at lag l reads y[l+k .. l+k+8] for k < n, whose last index
    // l+7+n-1 <= lags-1+n-1 < y.len() since l+8 <= lags; out[l..l+8] likewise.
    unsafe {
        while l + 64 <= lags {
            xcorr_block::<8>(xp, yp.add(l), op.add(l), n);
            l += 64;
        }
        while l + 32 <= lags {
            xcorr_block::<4>(xp, yp.add(l), op.add(l), n);
            l += 32;
        }
        while l + 24 <= lags {
            xcorr_block::<3>(xp, yp.add(l), op.add(l), n);
            l += 24;
        }
        while l + 8 <= lags {
            let mut a = _mm256_setzero_ps();
            for k in 0..n {
                a = _mm256_fmadd_ps(
                    _mm256_set1_ps(*xp.add(k)),
                    _mm256_loadu_ps(yp.add(l + k)),
                    a,
                );
            }
            _mm256_storeu_ps(op.add(l), a);
            l += 8;
        }
    }
    for (lag, o) in out.iter_mut().enumerate().skip(l) {
        // SAFETY: AVX2 and FMA are enabled in this function's caller chain.
        *o = unsafe { dot_avx2(x, &y[lag..lag + n]) };
    }
}

/// `8N` neighbouring lags in registers: `out[m] = sum_k x[k] * y[m + k]` for
/// `m < 8N`. Caller guarantees AVX2+FMA, `n` readable values at `x`,
/// `n + 8N - 1` at `y` and `8N` writable at `out`.
///
/// Lag block `m` at input `k` reads `y[k + 8m ..]`, the same vector lag block
/// `m - 1` reads at input `k + 8`. So the inputs are taken in eight passes,
/// `k = r, r + 8, r + 16, ...`, each step loading one new `y` vector and handing
/// the others down a window of `N` vectors: one load (and one broadcast) per `N`
/// FMAs instead of one unaligned load, often split across cache lines, per FMA.
/// Only the summation order differs from the lag-by-lag definition.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn xcorr_block<const N: usize>(
    x: *const f32,
    y: *const f32,
    out: *mut f32,
    n: usize,
) {
    // SAFETY: every access is within the ranges the caller guarantees (x[..n],
    // y[..n + 8N - 1], out[..8N]). The window's first loads read y[r + 8m ..
    // r + 8m + 8] for r < 8, m <= N - 2: last index 8N - 2. The step at k < n
    // reads x[k] and y[k + 8(N - 1) .. k + 8N]: last index n + 8N - 2.
    unsafe {
        let mut a = [_mm256_setzero_ps(); N];
        for r in 0..8 {
            let mut w = [_mm256_setzero_ps(); N];
            for (m, v) in w.iter_mut().enumerate().take(N - 1) {
                *v = _mm256_loadu_ps(y.add(r + 8 * m));
            }
            // Unrolled by N so that every window slot index is a constant and the
            // window lives in registers: at step j lag block m finds its vector in
            // slot (j + m) % N, and the new one goes where block 0's was.
            // Whole groups of N steps without a bound test, then the rest with one.
            let mut k = r;
            while k + 8 * (N - 1) < n {
                for j in 0..N {
                    w[(j + N - 1) % N] = _mm256_loadu_ps(y.add(k + 8 * (N - 1)));
                    let xb = _mm256_set1_ps(*x.add(k));
                    for (m, acc) in a.iter_mut().enumerate() {
                        *acc = _mm256_fmadd_ps(xb, w[(j + m) % N], *acc);
                    }
                    k += 8;
                }
            }
            for j in 0..N {
                if k >= n {
                    break;
                }
                w[(j + N - 1) % N] = _mm256_loadu_ps(y.add(k + 8 * (N - 1)));
                let xb = _mm256_set1_ps(*x.add(k));
                for (m, acc) in a.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(xb, w[(j + m) % N], *acc);
                }
                k += 8;
            }
        }
        for (m, v) in a.iter().enumerate() {
            _mm256_storeu_ps(out.add(8 * m), *v);
        }
    }
}

/// Dot product with four 8-lane accumulators to hide FMA latency.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(x: &[f32], y: &[f32]) -> f32 {
    // SAFETY: AVX2 and FMA are enabled in this function.
    (unsafe { dot_n::<1>(x, [y]) })[0]
}

/// Two dot products sharing the loads of `x`; each result is summed exactly as
/// [`dot_avx2`] sums it.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot2_avx2(x: &[f32], y0: &[f32], y1: &[f32]) -> [f32; 2] {
    // SAFETY: AVX2 and FMA are enabled in this function.
    unsafe { dot_n::<2>(x, [y0, y1]) }
}

/// `M` dot products of `x` with the `ys`, each over the shorter of `x` and
/// that `y`, with four 8-lane accumulators per product.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot_n<const M: usize>(x: &[f32], ys: [&[f32]; M]) -> [f32; M] {
    let mut out = [0.0f32; M];
    // Products over different lengths (never the case in the denoiser, whose
    // paired lags are equally long) take the one-at-a-time path.
    let n = x.len().min(ys[0].len());
    if ys.iter().any(|y| y.len().min(x.len()) != n) {
        for (o, y) in out.iter_mut().zip(ys) {
            // SAFETY: AVX2 and FMA are enabled in this function.
            *o = (unsafe { dot_n::<1>(x, [y]) })[0];
        }
        return out;
    }
    let xp = x.as_ptr();
    let yp = ys.map(|y| y.as_ptr());
    let mut i = 0;
    // SAFETY: every load covers indices below i+32 (or i+8) <= n <= every length.
    unsafe {
        let mut a = [[_mm256_setzero_ps(); 4]; M];
        while i + 32 <= n {
            for m in 0..4 {
                let o = i + 8 * m;
                let xv = _mm256_loadu_ps(xp.add(o));
                for (acc, y) in a.iter_mut().zip(&yp) {
                    acc[m] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y.add(o)), acc[m]);
                }
            }
            i += 32;
        }
        while i + 8 <= n {
            let xv = _mm256_loadu_ps(xp.add(i));
            for (acc, y) in a.iter_mut().zip(&yp) {
                acc[0] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y.add(i)), acc[0]);
            }
            i += 8;
        }
        for ((o, acc), y) in out.iter_mut().zip(&a).zip(&yp) {
            let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
            let mut sum = hsum(s);
            for j in i..n {
                sum = (*xp.add(j)).mul_add(*y.add(j), sum);
            }
            *o = sum;
        }
    }
    out
}

/// [`crate::denoise::activation::tansig_slice`] compiled for AVX2: the same
/// operations (no FMA contraction happens), so the same results, 8 lanes wide.
#[target_feature(enable = "avx2,fma")]
unsafe fn tansig_avx2(xs: &mut [f32]) {
    crate::denoise::activation::tansig_slice(xs);
}

/// [`crate::denoise::activation::sigmoid_slice`] compiled for AVX2.
#[target_feature(enable = "avx2,fma")]
unsafe fn sigmoid_avx2(xs: &mut [f32]) {
    crate::denoise::activation::sigmoid_slice(xs);
}

fn high_pass(mem: &mut [f64; 4], input: &[f32; FRAME], out: &mut [f32]) {
    // SAFETY: the table holding this function exists only when AVX2 and FMA are
    // available (see `table`).
    unsafe { high_pass_avx2(mem, input, out) }
}

/// The portable high-pass's block product (see `features::HP_COLS`) with the
/// layout spelled out: each block's eight outputs are two `f64x4` vectors,
/// every input a broadcast, and the carried outputs leave the vector only off
/// the serial chain. The compiler, left to itself, mixes 2- and 4-lane code
/// with shuffles and blends. Same products and sums in the same order as the
/// portable kernel (multiply then add, never fused; the first half skips the
/// columns that are exactly zero there).
#[target_feature(enable = "avx2,fma")]
unsafe fn high_pass_avx2(mem: &mut [f64; 4], input: &[f32; FRAME], out: &mut [f32]) {
    const HALF: usize = HP_BLOCK / 2;
    let out = &mut out[..FRAME];
    let [x1, x2, mut y1, mut y2] = *mem;
    // The frame in f64 behind the two previous inputs, converted 8 at a time.
    let mut xs = [0.0f64; FRAME + 2];
    xs[0] = x2;
    xs[1] = x1;
    for (d, &x) in xs[2..].iter_mut().zip(input) {
        *d = f64::from(x);
    }
    let (c1, c2) = (&HP_COLS[HP_BLOCK + 2], &HP_COLS[HP_BLOCK + 3]);
    // SAFETY: AVX2 is enabled in this function; `col` reads HP_COLS[j][4h..4h + 4]
    // for h < 2 (rows are HP_BLOCK = 8 long); the block at `base` reads
    // xs[base..base + 10] with base + 10 <= FRAME + 2 and writes
    // out[base..base + 8] with base + 8 <= FRAME = out.len().
    unsafe {
        let col = |j: usize, h: usize| _mm256_loadu_pd(HP_COLS[j].as_ptr().add(HALF * h));
        let (c1lo, c1hi, c2lo, c2hi) = (
            col(HP_BLOCK + 2, 0),
            col(HP_BLOCK + 2, 1),
            col(HP_BLOCK + 3, 0),
            col(HP_BLOCK + 3, 1),
        );
        for base in (0..FRAME).step_by(HP_BLOCK) {
            let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
            for j in 0..HP_BLOCK + 2 {
                let v = _mm256_broadcast_sd(&*xs.as_ptr().add(base + j));
                // Column j is zero above output j - 2 (the block is causal).
                if j < HALF + 2 {
                    lo = _mm256_add_pd(lo, _mm256_mul_pd(col(j, 0), v));
                }
                hi = _mm256_add_pd(hi, _mm256_mul_pd(col(j, 1), v));
            }
            let (v1, v2) = (_mm256_set1_pd(y1), _mm256_set1_pd(y2));
            let olo = _mm256_add_pd(
                _mm256_add_pd(lo, _mm256_mul_pd(c1lo, v1)),
                _mm256_mul_pd(c2lo, v2),
            );
            let ohi = _mm256_add_pd(
                _mm256_add_pd(hi, _mm256_mul_pd(c1hi, v1)),
                _mm256_mul_pd(c2hi, v2),
            );
            let op = out.as_mut_ptr().add(base);
            _mm_storeu_ps(op, _mm256_cvtpd_ps(olo));
            _mm_storeu_ps(op.add(HALF), _mm256_cvtpd_ps(ohi));
            // Outputs 6 and 7 without the carry: the next carries, as in the
            // portable kernel, in scalar.
            let top = _mm256_extractf128_pd(hi, 1);
            let (a6, a7) = (_mm_cvtsd_f64(top), _mm_cvtsd_f64(_mm_unpackhi_pd(top, top)));
            let (k1, k2) = (HP_BLOCK - 1, HP_BLOCK - 2);
            (y1, y2) = (
                (c1[k1] * y1 + c2[k1] * y2) + a7,
                (c1[k2] * y1 + c2[k2] * y2) + a6,
            );
        }
    }
    *mem = [xs[FRAME + 1], xs[FRAME], y1, y2];
}
