//! Plain-Rust kernels. Written so LLVM vectorises them for whatever SIMD the
//! target has (SSE2 on any x86-64, NEON on aarch64) without assuming any.
//!
//! Summation orders follow nnnoiseless: each output of `mat_vec_add` and each lag
//! of `xcorr` is summed input by input in order, and `dot` keeps four partial sums,
//! so this path reproduces the reference bit for bit where the algorithm matches.

use crate::denoise::matrix::{Matrix, BLOCK};
use crate::denoise::model::WEIGHT_SCALE;

/// See [`super::MatVecAdd`].
pub(crate) fn mat_vec_add(out: &mut [f32], w: &Matrix, input: &[f32]) {
    assert!(out.len() == w.cols && input.len() == w.rows);
    for (first, width, block) in w.plain_blocks() {
        let o = &mut out[first..w.cols.min(first + width)];
        let mut acc = [0.0f32; BLOCK];
        acc[..o.len()].copy_from_slice(o);
        let acc_w = &mut acc[..width];
        for (row, &x) in block.chunks_exact(width).zip(input) {
            // Exact: scaling by a power of two moves the 1/256 from weight to input.
            let x = x * WEIGHT_SCALE;
            for (a, &wv) in acc_w.iter_mut().zip(row) {
                *a += f32::from(wv) * x;
            }
        }
        o.copy_from_slice(&acc[..o.len()]);
    }
}

/// See [`super::Xcorr`].
pub(crate) fn xcorr(x: &[f32], y: &[f32], out: &mut [f32]) {
    const LANES: usize = 8;
    let n = x.len();
    let full = out.len() - out.len() % LANES;
    for (block, acc_out) in out[..full].chunks_exact_mut(LANES).enumerate() {
        let base = block * LANES;
        let ys = &y[base..base + n + LANES - 1];
        let mut acc = [0.0f32; LANES];
        for (k, &xk) in x.iter().enumerate() {
            let yk = &ys[k..k + LANES];
            for l in 0..LANES {
                acc[l] += xk * yk[l];
            }
        }
        acc_out.copy_from_slice(&acc);
    }
    for (lag, o) in out.iter_mut().enumerate().skip(full) {
        *o = x.iter().zip(&y[lag..lag + n]).map(|(a, b)| a * b).sum();
    }
}

/// See [`super::Dot`].
pub(crate) fn dot(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0.0f32; 4];
    let mut xc = x.chunks_exact(4);
    let mut yc = y.chunks_exact(4);
    for (a, b) in (&mut xc).zip(&mut yc) {
        for l in 0..4 {
            acc[l] += a[l] * b[l];
        }
    }
    let mut sum = acc[0] + acc[1] + acc[2] + acc[3];
    for (a, b) in xc.remainder().iter().zip(yc.remainder()) {
        sum += a * b;
    }
    sum
}

/// See [`super::Dot2`]. Two calls of [`dot`]: the portable path has no
/// registers to share.
pub(crate) fn dot2(x: &[f32], y0: &[f32], y1: &[f32]) -> [f32; 2] {
    [dot(x, y0), dot(x, y1)]
}
