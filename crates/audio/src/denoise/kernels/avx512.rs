//! AVX-512 kernels for x86-64 (F, BW, VL and VNNI), on top of the AVX2+FMA ones.
//!
//! Soundness: every `#[target_feature]` function here is reached only through the
//! table built by [`table`], which checks at run time that the CPU has AVX2, FMA,
//! AVX-512 F/BW/VL and AVX-512 VNNI (see [`super::avx512_available`]). The safe
//! wrappers are private to this module, so nothing else can call them on a CPU
//! without those features. Pointer arithmetic stays inside the slices: each
//! function checks its slice lengths before the first load.
//!
//! The mat-vec is the one kernel rewritten for VNNI. The AVX2 kernel spends one
//! `vpmovsxbw` widening per 16 multiply-adds; `vpdpbusd` multiplies unsigned by
//! signed bytes directly, four rows at once, summing into 32-bit lanes. The input
//! is quantised to 16 bits exactly as the AVX2 kernel does it, then offset to
//! unsigned (`u = q + 32768`) and split into its high and low bytes, so each row
//! quad costs two `vpdpbusd` per 16 outputs and the weights are never widened:
//! `sum w*q = 256 * sum w*hi + sum w*lo - 32768 * sum w`, the last term from
//! column sums kept with the weights. The 32-bit sums are those of the AVX2
//! kernel, exactly, and are scaled the same way, so both give the same floats.
//! The many-leg version (for `DenoiseBatch`) loads each strip of weights once
//! for all legs and gives each leg the single-leg result bit for bit.

use std::arch::x86_64::*;

use super::{x86, Kernel, Kernels, MAX_LEGS};
use crate::denoise::matrix::{Matrix, BLOCK, QLANES};
use crate::denoise::model::WEIGHT_SCALE;

/// The AVX-512 table, or `None` if this CPU lacks any feature it needs.
pub(super) fn table() -> Option<Kernels> {
    if !super::avx512_available() {
        return None;
    }
    // The AVX2 table exists too: `avx512_available` includes AVX2 and FMA.
    let base = x86::table()?;
    Some(Kernels {
        kind: Kernel::Avx512Vnni,
        mat_vec_add,
        mat_vec_add_many: Some(mat_vec_add_many),
        xcorr,
        tansig,
        sigmoid,
        ..base
    })
}

fn mat_vec_add(out: &mut [f32], w: &Matrix, input: &[f32]) {
    // SAFETY: only reachable through `table()`, which verified every feature
    // `mat_vec_add_vnni` enables.
    unsafe { mat_vec_add_vnni(out, w, input) }
}

fn mat_vec_add_many(
    out: &mut [f32],
    out_stride: usize,
    w: &Matrix,
    input: &[f32],
    in_stride: usize,
    legs: usize,
) {
    // SAFETY: only reachable through `table()`, which verified every feature
    // `mat_vec_add_many_vnni` enables.
    unsafe { mat_vec_add_many_vnni(out, out_stride, w, input, in_stride, legs) }
}

fn xcorr(x: &[f32], y: &[f32], out: &mut [f32]) {
    // SAFETY: only reachable through `table()`, which verified every feature
    // `xcorr_avx512` enables.
    unsafe { xcorr_avx512(x, y, out) }
}

/// The AVX2 kernel's strided cross-correlation with 80-lag blocks: ten
/// accumulators and a ten-vector window fit AVX-512VL's 32 registers, so each
/// step issues ten independent FMAs where the AVX2 kernel's 24-lag tail block
/// waited on FMA latency. Strided blocks sum every lag in the same order
/// whatever their size, so on the denoiser's 160 lags (AVX2: 64 + 64 + 32,
/// here 80 + 80) the results equal the AVX2 kernel's bit for bit.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn xcorr_avx512(x: &[f32], y: &[f32], out: &mut [f32]) {
    const BLOCK_LAGS: usize = 80;
    let (n, lags) = (x.len(), out.len());
    assert!(y.len() + 1 >= n + lags);
    let mut l = 0;
    // SAFETY: a block at lag l reads x[..n], y[l..l + n + 79] and writes
    // out[l..l + 80]; l + 80 <= lags, so l + n + 79 <= n + lags - 1 <= y.len().
    unsafe {
        while l + BLOCK_LAGS <= lags {
            x86::xcorr_block::<10>(x.as_ptr(), y.as_ptr().add(l), out.as_mut_ptr().add(l), n);
            l += BLOCK_LAGS;
        }
    }
    if l < lags {
        // SAFETY: the features are enabled here, AVX2 and FMA among them.
        unsafe { x86::xcorr_avx2(x, &y[l..], &mut out[l..]) };
    }
}

fn tansig(xs: &mut [f32]) {
    // SAFETY: only reachable through `table()`, which verified AVX-512 F/BW/VL.
    unsafe { tansig_avx512(xs) }
}

fn sigmoid(xs: &mut [f32]) {
    // SAFETY: only reachable through `table()`, which verified AVX-512 F/BW/VL.
    unsafe { sigmoid_avx512(xs) }
}

/// Largest layer input: the model format stores counts as positive `i8`.
const MAX_ROWS: usize = 127;
/// `MAX_ROWS` rounded up to whole 16-value quantisation steps.
const ROWS_PADDED: usize = MAX_ROWS.div_ceil(16) * 16;

/// `out += w^T input` in 8-bit VNNI arithmetic (see the module docs).
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn mat_vec_add_vnni(out: &mut [f32], w: &Matrix, input: &[f32]) {
    assert!(out.len() == w.cols && input.len() == w.rows && w.rows <= MAX_ROWS);
    let quads = input.len().div_ceil(4);
    let (mut hi, mut lo) = ([0u8; ROWS_PADDED], [0u8; ROWS_PADDED]);
    // SAFETY: the features are enabled in this function.
    let Some(max) = (unsafe { quantise_split(input, &mut hi, &mut lo) }) else {
        // As in the AVX2 kernel: an all-zero input adds nothing.
        return;
    };
    let unscale = max / x86::Q_SCALE * WEIGHT_SCALE;
    let (hi, lo) = (&hi[..4 * quads], &lo[..4 * quads]);
    // Scratch for a padded last block, zeroed once: stale lanes from an earlier
    // block are computed on and dropped.
    let mut pad = [0.0f32; BLOCK];
    for (first, width, block) in w.quad_blocks() {
        let n = w.cols.min(first + width) - first;
        let sums = &w.col_sums[first..first + width];
        let o: &mut [f32] = if n == width {
            &mut out[first..first + n]
        } else {
            pad[..n].copy_from_slice(&out[first..first + n]);
            &mut pad[..width]
        };
        // SAFETY: the features are enabled here; `block` holds `quads` row quads
        // of `4 * width` = 64 * N bytes, `o` and `sums` have `width` = 16 * N
        // values (the block function asserts all of it).
        unsafe {
            match width / QLANES {
                4 => block_vnni::<4>(o, block, sums, hi, lo, unscale),
                3 => block_vnni::<3>(o, block, sums, hi, lo, unscale),
                2 => block_vnni::<2>(o, block, sums, hi, lo, unscale),
                _ => block_vnni::<1>(o, block, sums, hi, lo, unscale),
            }
        }
        if n < width {
            out[first..first + n].copy_from_slice(&pad[..n]);
        }
    }
}

/// [`super::MatVecAddMany`]: every leg's input quantised as in
/// [`mat_vec_add_vnni`], then each 16-column strip of weights loaded once per
/// row quad for all legs (two accumulators per leg). Same integer sums, same
/// scaling, so each leg's result equals the single-leg kernel's bit for bit.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn mat_vec_add_many_vnni(
    out: &mut [f32],
    out_stride: usize,
    w: &Matrix,
    input: &[f32],
    in_stride: usize,
    legs: usize,
) {
    assert!(legs <= MAX_LEGS && w.rows <= MAX_ROWS);
    if legs == 0 {
        return;
    }
    assert!(out.len() >= (legs - 1) * out_stride + w.cols);
    assert!(input.len() >= (legs - 1) * in_stride + w.rows);
    let mut q = Quantised {
        hi: [[0u8; ROWS_PADDED]; MAX_LEGS],
        lo: [[0u8; ROWS_PADDED]; MAX_LEGS],
        offset: [0; MAX_LEGS],
        unscale: [0.0; MAX_LEGS],
    };
    let mut n = 0;
    for l in 0..legs {
        let x = &input[l * in_stride..][..w.rows];
        let (hi, lo) = (&mut q.hi[n], &mut q.lo[n]);
        // SAFETY: the features are enabled in this function.
        // A leg whose input is all zero adds nothing and is left out.
        if let Some(max) = unsafe { quantise_split(x, hi, lo) } {
            q.offset[n] = l * out_stride;
            q.unscale[n] = max / x86::Q_SCALE * WEIGHT_SCALE;
            n += 1;
        }
    }
    // SAFETY: the features are enabled here; `q` holds `n` quantised legs whose
    // output rows `offset + ..w.cols` lie inside `out` (asserted above).
    unsafe {
        match n {
            0 => {}
            1 => strips::<1>(out, w, &q),
            2 => strips::<2>(out, w, &q),
            3 => strips::<3>(out, w, &q),
            4 => strips::<4>(out, w, &q),
            5 => strips::<5>(out, w, &q),
            6 => strips::<6>(out, w, &q),
            7 => strips::<7>(out, w, &q),
            _ => strips::<8>(out, w, &q),
        }
    }
}

/// Several legs' inputs, quantised and split, for [`strips`].
struct Quantised {
    hi: [[u8; ROWS_PADDED]; MAX_LEGS],
    lo: [[u8; ROWS_PADDED]; MAX_LEGS],
    /// Where each leg's output row starts in `out`.
    offset: [usize; MAX_LEGS],
    unscale: [f32; MAX_LEGS],
}

/// The first `L` legs of `q` through `w`, 16 columns at a time: per row quad one
/// weight load and two `vpdpbusd` per leg. Columns past `w.cols` are masked off
/// on load and store.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn strips<const L: usize>(out: &mut [f32], w: &Matrix, q: &Quantised) {
    let quads = w.rows.div_ceil(4);
    assert!(q.offset[..L].iter().all(|&o| o + w.cols <= out.len()));
    assert!(w.col_sums.len() >= w.cols.div_ceil(QLANES) * QLANES);
    let op = out.as_mut_ptr();
    let byte4 = |b: &[u8; ROWS_PADDED], i: usize| {
        i32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
    };
    for (first, width, block) in w.quad_blocks() {
        assert!(block.len() >= quads * 4 * width);
        for s in 0..width / QLANES {
            let c0 = first + QLANES * s;
            // c0 < w.cols: the last strip starts below cols rounded up to 16.
            let valid = (w.cols - c0).min(QLANES);
            let mask = ((1u32 << valid) - 1) as __mmask16;
            // SAFETY: quad i's strip s is block[i * 4 * width + 64 * s..][..64],
            // inside `block` (asserted); col_sums[c0..c0 + 16] exists (asserted);
            // each leg's stores and loads touch only the `valid` masked lanes of
            // out[offset + c0..], below offset + w.cols <= out.len() (asserted).
            unsafe {
                let mut ah = [_mm512_setzero_si512(); L];
                let mut al = [_mm512_setzero_si512(); L];
                let mut r = block.as_ptr().add(4 * QLANES * s);
                for i in 0..quads {
                    let wv = _mm512_loadu_si512(r.cast());
                    for j in 0..L {
                        ah[j] =
                            _mm512_dpbusd_epi32(ah[j], _mm512_set1_epi32(byte4(&q.hi[j], i)), wv);
                        al[j] =
                            _mm512_dpbusd_epi32(al[j], _mm512_set1_epi32(byte4(&q.lo[j], i)), wv);
                    }
                    r = r.add(4 * width);
                }
                let sums =
                    _mm512_slli_epi32::<15>(_mm512_loadu_si512(w.col_sums.as_ptr().add(c0).cast()));
                for j in 0..L {
                    let t = _mm512_sub_epi32(
                        _mm512_add_epi32(_mm512_slli_epi32::<8>(ah[j]), al[j]),
                        sums,
                    );
                    let p = op.add(q.offset[j] + c0);
                    let prev = _mm512_maskz_loadu_ps(mask, p);
                    let v =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_set1_ps(q.unscale[j]), prev);
                    _mm512_mask_storeu_ps(p, mask, v);
                }
            }
        }
    }
}

/// Quantises `input` to `i16` against its largest magnitude, rounding and
/// saturating as the AVX2 kernel's `quantise_pairs` does (same scale, same
/// `cvtps` rounding, same signed saturation), then stores the high and low
/// bytes of `q + 32768` row by row; rows past the input quantise to 0 (high byte
/// 0x80, low byte 0), which the zero weights of padding rows ignore. Returns
/// the magnitude, or `None` if it is 0 or not finite.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn quantise_split(
    input: &[f32],
    hi: &mut [u8; ROWS_PADDED],
    lo: &mut [u8; ROWS_PADDED],
) -> Option<f32> {
    let n = input.len();
    assert!(n <= ROWS_PADDED);
    let steps = n.div_ceil(16);
    // Lanes past the input read as 0 through the mask, never from memory (a
    // copy into a zeroed buffer instead cost a store-forwarding stall per load).
    let mask = |s: usize| -> __mmask16 { (((1u32 << (n - 16 * s).min(16)) - 1) & 0xffff) as u16 };
    let xp = input.as_ptr();
    // SAFETY: step s loads lanes 16s + i for the i where 16s + i < n (the mask):
    // only elements of `input`; masked-out lanes are not accessed.
    let max = unsafe {
        let mut m = _mm512_setzero_ps();
        for s in 0..steps {
            m = _mm512_max_ps(
                m,
                _mm512_abs_ps(_mm512_maskz_loadu_ps(mask(s), xp.add(16 * s))),
            );
        }
        _mm512_reduce_max_ps(m)
    };
    if !(max > 0.0 && max.is_finite()) {
        return None;
    }
    let sv = _mm512_set1_ps(x86::Q_SCALE / max);
    let offset = _mm256_set1_epi16(i16::MIN);
    let low_byte = _mm256_set1_epi16(0xff);
    let (hp, lp) = (hi.as_mut_ptr(), lo.as_mut_ptr());
    // SAFETY: step s reads the masked lanes of input[16s..] as above and writes
    // hi/lo[16s..16s + 16], below ROWS_PADDED (steps <= ROWS_PADDED / 16). `cvtps_epi32` rounds to nearest (the MXCSR default) and
    // `cvtsepi32_epi16` saturates like `packs_epi32`.
    unsafe {
        for s in 0..steps {
            let v = _mm512_maskz_loadu_ps(mask(s), xp.add(16 * s));
            let q = _mm512_cvtps_epi32(_mm512_mul_ps(v, sv));
            let u = _mm256_xor_si256(_mm512_cvtsepi32_epi16(q), offset);
            let h = _mm256_cvtepi16_epi8(_mm256_srli_epi16::<8>(u));
            let l = _mm256_cvtepi16_epi8(_mm256_and_si256(u, low_byte));
            _mm_storeu_si128(hp.add(16 * s).cast(), h);
            _mm_storeu_si128(lp.add(16 * s).cast(), l);
        }
    }
    Some(max)
}

/// One block of `N` registers: `o[..16N] += unscale * (w^T q)` with `w` in row
/// quads `64N` bytes wide, `q` given as the high and low bytes of `q + 32768`.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn block_vnni<const N: usize>(
    o: &mut [f32],
    w: &[i8],
    sums: &[i32],
    hi: &[u8],
    lo: &[u8],
    unscale: f32,
) {
    let quad_len = 4 * N * QLANES;
    let quads = hi.len() / 4;
    assert!(lo.len() == hi.len() && w.len() >= quads * quad_len);
    assert!(o.len() >= N * QLANES && sums.len() >= N * QLANES);
    let (wp, op, sp) = (w.as_ptr(), o.as_mut_ptr(), sums.as_ptr());
    let byte4 = |b: &[u8], q: usize| {
        i32::from_le_bytes([b[4 * q], b[4 * q + 1], b[4 * q + 2], b[4 * q + 3]])
    };
    // SAFETY: quad q's weights are bytes q * quad_len .. (q + 1) * quad_len <=
    // w.len() (assert), read 64 at a time; o and sums have at least 16N values.
    unsafe {
        let mut ah = [_mm512_setzero_si512(); N];
        let mut al = [_mm512_setzero_si512(); N];
        let mut r = wp;
        for q in 0..quads {
            let bh = _mm512_set1_epi32(byte4(hi, q));
            let bl = _mm512_set1_epi32(byte4(lo, q));
            for k in 0..N {
                let wv = _mm512_loadu_si512(r.add(64 * k).cast());
                ah[k] = _mm512_dpbusd_epi32(ah[k], bh, wv);
                al[k] = _mm512_dpbusd_epi32(al[k], bl, wv);
            }
            r = r.add(quad_len);
        }
        let us = _mm512_set1_ps(unscale);
        for k in 0..N {
            // 256 * hi + lo - 32768 * sum(w): wrapping i32 arithmetic whose
            // result, the exact sum of w * q, fits (|sum| <= 127 * 128 * 32768).
            let s = _mm512_loadu_si512(sp.add(QLANES * k).cast());
            let t = _mm512_sub_epi32(
                _mm512_add_epi32(_mm512_slli_epi32::<8>(ah[k]), al[k]),
                _mm512_slli_epi32::<15>(s),
            );
            let prev = _mm512_loadu_ps(op.add(QLANES * k));
            let v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), us, prev);
            _mm512_storeu_ps(op.add(QLANES * k), v);
        }
    }
}

/// [`crate::denoise::activation::tansig_slice`] compiled for AVX-512: the same
/// operations (no FMA contraction happens), so the same results, 16 lanes wide.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tansig_avx512(xs: &mut [f32]) {
    crate::denoise::activation::tansig_slice(xs);
}

/// [`crate::denoise::activation::sigmoid_slice`] compiled for AVX-512.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn sigmoid_avx512(xs: &mut [f32]) {
    crate::denoise::activation::sigmoid_slice(xs);
}
