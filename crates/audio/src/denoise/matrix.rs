//! Weight matrices in the layout the mat-vec kernels stream.
//!
//! The model file stores each layer input-major (all outputs of input 0, then of
//! input 1, ...). The kernels keep a block of outputs in registers and walk the
//! inputs, so here the outputs are cut into panels of [`PANEL`] columns and each
//! panel is stored row after row: one panel is one contiguous run of bytes read
//! front to back, every cache line used whole, and the last panel is padded with
//! zero weights so no kernel needs a column tail.

/// Output columns per panel (one AVX2 register of `f32`).
pub(crate) const PANEL: usize = 8;

/// A `rows x cols` matrix of byte weights (units of `model::WEIGHT_SCALE`) in
/// panel layout: `panels[(p * rows + j) * PANEL + c]` is the weight from input `j`
/// to output `p * PANEL + c`.
#[derive(Clone, Debug)]
pub(crate) struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub panels: Vec<i8>,
}

impl Matrix {
    /// Packs columns `col0..col0 + cols` of an input-major matrix whose rows are
    /// `stride` bytes apart.
    pub fn pack(src: &[i8], rows: usize, stride: usize, col0: usize, cols: usize) -> Matrix {
        let n_panels = cols.div_ceil(PANEL);
        let mut panels = vec![0i8; n_panels * rows * PANEL];
        for (p, panel) in panels.chunks_exact_mut(rows * PANEL).enumerate() {
            for (j, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
                let first = p * PANEL;
                let n = PANEL.min(cols - first);
                let at = j * stride + col0 + first;
                dst[..n].copy_from_slice(&src[at..at + n]);
            }
        }
        Matrix { rows, cols, panels }
    }

    /// The weight from input `j` to output `i`.
    #[cfg(test)]
    pub fn get(&self, j: usize, i: usize) -> i8 {
        self.panels[((i / PANEL) * self.rows + j) * PANEL + i % PANEL]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_every_weight_and_pads_with_zeros() {
        let (rows, stride) = (5, 30);
        let src: Vec<i8> = (0..rows * stride).map(|v| (v % 251) as i8).collect();
        let m = Matrix::pack(&src, rows, stride, 7, 19);
        assert_eq!(m.panels.len(), 3 * rows * PANEL);
        for j in 0..rows {
            for i in 0..19 {
                assert_eq!(m.get(j, i), src[j * stride + 7 + i]);
            }
            for i in 19..24 {
                assert_eq!(m.get(j, i), 0);
            }
        }
    }
}
