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

use std::arch::x86_64::*;

use super::{x86, Kernel, Kernels};
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
            m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_maskz_loadu_ps(mask(s), xp.add(16 * s))));
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
    let byte4 = |b: &[u8], q: usize| i32::from_le_bytes([b[4 * q], b[4 * q + 1], b[4 * q + 2], b[4 * q + 3]]);
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
