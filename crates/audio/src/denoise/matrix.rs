//! Weight matrices in the layout the mat-vec kernels stream.
//!
//! The model file stores each layer input-major (all outputs of input 0, then of
//! input 1, ...). The kernels keep a block of up to [`BLOCK`] outputs in registers
//! and walk the inputs two at a time, so here the outputs are cut into blocks of
//! `BLOCK` columns (the last one narrower, rounded up to [`LANES`]) and each block
//! is stored pair of rows after pair of rows, the two rows' weights for one output
//! side by side (`w[j][c], w[j + 1][c]`): the layout `vpmaddwd` consumes, and one
//! contiguous run of bytes per block read front to back. Padding columns and the
//! padding row of an odd row count hold zero weights, so no kernel needs a tail.
//! The portable kernel gets a copy with plain rows per block (`plain`): without
//! byte shuffles (baseline SSE2) splitting row pairs costs more than the maths.
//!
//! The AVX-512 VNNI kernel gets a third copy (`quad`): blocks of up to
//! [`BLOCK`] columns padded to [`QLANES`], rows taken four at a time with the four
//! rows' weights for one output side by side (`w[j..j + 4][c]`), the layout
//! `vpdpbusd` consumes (four byte products summed into each 32-bit lane), plus
//! each column's weight sum for the offset correction that kernel needs.

/// Columns handled together by the kernels (8 AVX2 registers of 32-bit lanes).
pub(crate) const BLOCK: usize = 64;
/// Block widths are multiples of this (one AVX2 register of 32-bit lanes).
pub(crate) const LANES: usize = 8;
/// Quad-layout block widths are multiples of this (one AVX-512 register of
/// 32-bit lanes).
pub(crate) const QLANES: usize = 16;

/// A `rows x cols` matrix of byte weights (units of `model::WEIGHT_SCALE`) in
/// block layout (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Matrix {
    pub rows: usize,
    pub cols: usize,
    /// Row-pair layout (the AVX2 kernel's).
    pub data: Vec<i8>,
    /// Same blocks, one row after another (the portable kernel's).
    pub plain: Vec<i8>,
    /// Row-quad layout, columns padded to [`QLANES`] (the AVX-512 VNNI kernel's).
    pub quad: Vec<i8>,
    /// Sum of each column's weights, padded with zeros like `quad`'s columns.
    pub col_sums: Vec<i32>,
}

impl Matrix {
    /// Packs columns `col0..col0 + cols` of an input-major matrix whose rows are
    /// `stride` bytes apart.
    pub fn pack(src: &[i8], rows: usize, stride: usize, col0: usize, cols: usize) -> Matrix {
        let padded = cols.div_ceil(LANES) * LANES;
        let pairs = rows.div_ceil(2);
        let mut data = vec![0i8; padded * pairs * 2];
        let mut plain = vec![0i8; padded * rows];
        let (mut at, mut plain_at) = (0, 0);
        for first in (0..padded).step_by(BLOCK) {
            let width = BLOCK.min(padded - first);
            let n = width.min(cols - first);
            for j in 0..rows {
                let row = &src[j * stride + col0 + first..][..n];
                plain[plain_at..plain_at + n].copy_from_slice(row);
                plain_at += width;
            }
            for p in 0..pairs {
                for j in (2 * p..2 * p + 2).filter(|&j| j < rows) {
                    let row = &src[j * stride + col0 + first..][..n];
                    for (c, &v) in row.iter().enumerate() {
                        data[at + 2 * c + j % 2] = v;
                    }
                }
                at += 2 * width;
            }
        }
        let qpadded = cols.div_ceil(QLANES) * QLANES;
        let quads = rows.div_ceil(4);
        let mut quad = vec![0i8; qpadded * quads * 4];
        let mut col_sums = vec![0i32; qpadded];
        let mut at = 0;
        for first in (0..qpadded).step_by(BLOCK) {
            let width = BLOCK.min(qpadded - first);
            let n = width.min(cols - first);
            for q in 0..quads {
                for j in (4 * q..4 * q + 4).filter(|&j| j < rows) {
                    let row = &src[j * stride + col0 + first..][..n];
                    for (c, &v) in row.iter().enumerate() {
                        quad[at + 4 * c + j % 4] = v;
                        col_sums[first + c] += i32::from(v);
                    }
                }
                at += 4 * width;
            }
        }
        Matrix {
            rows,
            cols,
            data,
            plain,
            quad,
            col_sums,
        }
    }

    /// The blocks of `quad`: `(first column, width, weights)`, `weights`
    /// holding `rows.div_ceil(4)` row quads of `4 * width` bytes.
    pub fn quad_blocks(&self) -> impl Iterator<Item = (usize, usize, &[i8])> {
        let padded = self.cols.div_ceil(QLANES) * QLANES;
        let quad_rows = self.rows.div_ceil(4) * 4;
        (0..padded).step_by(BLOCK).map(move |first| {
            let width = BLOCK.min(padded - first);
            (
                first,
                width,
                &self.quad[first * quad_rows..(first + width) * quad_rows],
            )
        })
    }

    /// The blocks in order: `(first column, width, weights)`, `weights` holding
    /// `rows.div_ceil(2)` row pairs of `2 * width` bytes.
    pub fn blocks(&self) -> impl Iterator<Item = (usize, usize, &[i8])> {
        let padded = self.cols.div_ceil(LANES) * LANES;
        let pair_rows = self.rows.div_ceil(2) * 2;
        (0..padded).step_by(BLOCK).map(move |first| {
            let width = BLOCK.min(padded - first);
            (
                first,
                width,
                &self.data[first * pair_rows..(first + width) * pair_rows],
            )
        })
    }

    /// The blocks of `plain`: `(first column, width, weights)`, `weights`
    /// holding `rows` rows of `width` bytes.
    pub fn plain_blocks(&self) -> impl Iterator<Item = (usize, usize, &[i8])> {
        let padded = self.cols.div_ceil(LANES) * LANES;
        let rows = self.rows;
        (0..padded).step_by(BLOCK).map(move |first| {
            let width = BLOCK.min(padded - first);
            (
                first,
                width,
                &self.plain[first * rows..(first + width) * rows],
            )
        })
    }

    /// The weight from input `j` to output `i`.
    #[cfg(test)]
    pub fn get(&self, j: usize, i: usize) -> i8 {
        let (first, width, w) = self.blocks().find(|&(f, w, _)| i < f + w).unwrap();
        let pair = w[(j / 2) * 2 * width + 2 * (i - first) + j % 2];
        if j < self.rows {
            let (first, width, p) = self.plain_blocks().find(|&(f, w, _)| i < f + w).unwrap();
            assert_eq!(p[j * width + i - first], pair, "layouts disagree");
        }
        let (first, width, q) = self.quad_blocks().find(|&(f, w, _)| i < f + w).unwrap();
        if j < self.rows.div_ceil(4) * 4 {
            let v = q[(j / 4) * 4 * width + 4 * (i - first) + j % 4];
            assert_eq!(v, pair, "quad layout disagrees");
        }
        pair
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_every_weight_and_pads_with_zeros() {
        for rows in [5, 6, 7, 8] {
            for cols in [19, 64, 70, 130] {
                let stride = cols + 11;
                let src: Vec<i8> = (0..rows * stride).map(|v| (v % 251) as i8).collect();
                let m = Matrix::pack(&src, rows, stride, 7, cols);
                let padded = cols.div_ceil(LANES) * LANES;
                assert_eq!(m.data.len(), padded * rows.div_ceil(2) * 2);
                for j in 0..rows {
                    for i in 0..cols {
                        assert_eq!(m.get(j, i), src[j * stride + 7 + i]);
                    }
                    for i in cols..padded {
                        assert_eq!(m.get(j, i), 0);
                    }
                }
                if rows % 2 == 1 {
                    assert!((0..padded).all(|i| m.get(rows, i) == 0));
                }
                let qpadded = cols.div_ceil(QLANES) * QLANES;
                assert_eq!(m.quad.len(), qpadded * rows.div_ceil(4) * 4);
                for (i, &sum) in m.col_sums.iter().enumerate() {
                    let want: i32 = if i < cols {
                        (0..rows).map(|j| i32::from(src[j * stride + 7 + i])).sum()
                    } else {
                        0
                    };
                    assert_eq!(sum, want, "column {i}");
                }
                // Padding rows of the last quad and padding columns are zero.
                let (_, width, q) = m.quad_blocks().last().unwrap();
                let last = &q[(rows.div_ceil(4) - 1) * 4 * width..];
                for c in 0..width {
                    for j in rows % 4..4 {
                        if rows % 4 != 0 {
                            assert_eq!(last[4 * c + j], 0);
                        }
                    }
                }
            }
        }
    }
}
