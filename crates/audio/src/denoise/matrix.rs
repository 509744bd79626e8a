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

/// Columns handled together by the kernels (8 AVX2 registers of 32-bit lanes).
pub(crate) const BLOCK: usize = 64;
/// Block widths are multiples of this (one AVX2 register of 32-bit lanes).
pub(crate) const LANES: usize = 8;

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
        Matrix {
            rows,
            cols,
            data,
            plain,
        }
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
        pair
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_every_weight_and_pads_with_zeros() {
        for rows in [5, 6] {
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
            }
        }
    }
}
