//! The RNNoise network weights, read from nnnoiseless's binary model format.
//!
//! The format is a concatenation of six layers, every value a signed byte:
//! a dense layer is `nb_inputs nb_neurons activation`, then `nb_inputs * nb_neurons`
//! weights (input-major: all neurons of input 0, then input 1, ...), then
//! `nb_neurons` biases; a GRU layer is the same header, then `3 * nb_inputs *
//! nb_neurons` input weights, `3 * nb_neurons^2` recurrent weights and `3 *
//! nb_neurons` biases, each input row holding the update, reset and output gates
//! side by side. The layers are: input dense, VAD GRU, noise GRU, denoise GRU,
//! denoise output dense, VAD output dense.
//!
//! Weights stay signed bytes in memory (87 k of them: 85 KB instead of 340 KB as
//! `f32`, so the whole network sits in L2 and the mat-vec kernels stream 4x less
//! data), repacked at load into the kernels' block layouts (`matrix.rs`). The
//! portable kernel widens them to `f32` and applies the format's scale of 1/256
//! to the input value instead of to each weight (a power of two, so the sums are
//! bit for bit those of `f32` weights `w / 256`); the AVX2 kernel multiplies them
//! in 16-bit integers against the quantised input (`kernels/x86.rs`).
//! Biases are few and are stored as scaled `f32`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use super::matrix::Matrix;
use super::DenoiseError;

/// Number of input features the network takes (22 band cepstra, 18 deltas and
/// pitch correlations, pitch period, spectral variability).
pub const NB_FEATURES: usize = 42;
/// Number of band gains the network produces.
pub const NB_BANDS: usize = 22;

/// Value of one unit of a stored weight or bias.
pub(crate) const WEIGHT_SCALE: f32 = 1.0 / 256.0;

/// nnnoiseless 0.5.2's default weights (`src/weights.rnn`, BSD-3-Clause, trained by
/// Xiph's RNNoise project).
static DEFAULT_WEIGHTS: &[u8] = include_bytes!("weights.rnn");

/// Activation function of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Activation {
    Tanh,
    Sigmoid,
    Relu,
}

/// A fully connected layer: `nb_inputs x nb_neurons` weights, units of
/// [`WEIGHT_SCALE`].
#[derive(Clone, Debug)]
pub(crate) struct Dense {
    pub nb_inputs: usize,
    pub nb_neurons: usize,
    pub activation: Activation,
    pub weights: Matrix,
    pub bias: Vec<f32>,
}

/// A GRU layer. The input matrix has `3 * nb_neurons` outputs: update gate,
/// reset gate, candidate. The recurrent matrix is split in the update and reset
/// part and the candidate part, which must wait for the reset gate.
#[derive(Clone, Debug)]
pub(crate) struct Gru {
    pub nb_inputs: usize,
    pub nb_neurons: usize,
    pub activation: Activation,
    pub input_weights: Matrix,
    pub recurrent_zr: Matrix,
    pub recurrent_h: Matrix,
    pub bias: Vec<f32>,
}

/// An RNNoise network: shared read-only by every [`Denoiser`](super::Denoiser)
/// built from it (wrap it in an `Arc`).
#[derive(Clone, Debug)]
pub struct Model {
    pub(crate) input_dense: Dense,
    pub(crate) vad_gru: Gru,
    pub(crate) noise_gru: Gru,
    pub(crate) denoise_gru: Gru,
    pub(crate) denoise_output: Dense,
    pub(crate) vad_output: Dense,
}

impl Model {
    /// The model shipped with nnnoiseless (and with Xiph's RNNoise), parsed once per
    /// process and shared.
    pub fn default_model() -> Arc<Model> {
        static DEFAULT: OnceLock<Arc<Model>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| match Model::from_bytes(DEFAULT_WEIGHTS) {
                Ok(m) => Arc::new(m),
                // The file is compiled in and covered by tests; failing here means
                // the build itself is broken.
                Err(e) => panic!("built-in RNNoise weights do not parse: {e}"),
            })
            .clone()
    }

    /// Reads a model file in nnnoiseless's binary format.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Model, DenoiseError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| DenoiseError::ModelIo {
            path: path.to_path_buf(),
            source,
        })?;
        Model::from_bytes(&bytes)
    }

    /// Parses a model in nnnoiseless's binary format and checks that the layer
    /// sizes chain together.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, DenoiseError> {
        let mut r = Reader { bytes, pos: 0 };
        let input_dense = r.dense("input dense")?;
        let vad_gru = r.gru("VAD GRU")?;
        let noise_gru = r.gru("noise GRU")?;
        let denoise_gru = r.gru("denoise GRU")?;
        let denoise_output = r.dense("denoise output")?;
        let vad_output = r.dense("VAD output")?;
        if r.pos != bytes.len() {
            return Err(DenoiseError::TrailingBytes(bytes.len() - r.pos));
        }
        let model = Model {
            input_dense,
            vad_gru,
            noise_gru,
            denoise_gru,
            denoise_output,
            vad_output,
        };
        model.check_shapes()?;
        Ok(model)
    }

    fn check_shapes(&self) -> Result<(), DenoiseError> {
        let shape = |what: &str, expected: usize, got: usize| {
            if expected == got {
                Ok(())
            } else {
                Err(DenoiseError::ModelShape(format!(
                    "{what} is {got}, expected {expected}"
                )))
            }
        };
        let (dense_n, vad_n, noise_n) = (
            self.input_dense.nb_neurons,
            self.vad_gru.nb_neurons,
            self.noise_gru.nb_neurons,
        );
        shape(
            "input dense inputs",
            NB_FEATURES,
            self.input_dense.nb_inputs,
        )?;
        shape("VAD GRU inputs", dense_n, self.vad_gru.nb_inputs)?;
        shape(
            "noise GRU inputs",
            dense_n + vad_n + NB_FEATURES,
            self.noise_gru.nb_inputs,
        )?;
        shape(
            "denoise GRU inputs",
            vad_n + noise_n + NB_FEATURES,
            self.denoise_gru.nb_inputs,
        )?;
        shape(
            "denoise output inputs",
            self.denoise_gru.nb_neurons,
            self.denoise_output.nb_inputs,
        )?;
        shape(
            "denoise output neurons",
            NB_BANDS,
            self.denoise_output.nb_neurons,
        )?;
        shape("VAD output inputs", vad_n, self.vad_output.nb_inputs)?;
        shape("VAD output neurons", 1, self.vad_output.nb_neurons)
    }

    /// Largest GRU width, for sizing scratch buffers.
    pub(crate) fn max_gru_neurons(&self) -> usize {
        self.vad_gru
            .nb_neurons
            .max(self.noise_gru.nb_neurons)
            .max(self.denoise_gru.nb_neurons)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn header(&mut self, layer: &'static str) -> Result<(usize, usize, Activation), DenoiseError> {
        let h = self.take(layer, 3)?;
        let count = |what: &'static str, b: u8| {
            let v = b as i8;
            if v > 0 {
                Ok(v as usize)
            } else {
                Err(DenoiseError::ModelHeader {
                    layer,
                    what,
                    value: v,
                })
            }
        };
        let nb_inputs = count("input count", h[0])?;
        let nb_neurons = count("neuron count", h[1])?;
        let activation = match h[2] as i8 {
            0 => Activation::Tanh,
            1 => Activation::Sigmoid,
            2 => Activation::Relu,
            v => {
                return Err(DenoiseError::ModelHeader {
                    layer,
                    what: "activation",
                    value: v,
                })
            }
        };
        Ok((nb_inputs, nb_neurons, activation))
    }

    fn take(&mut self, layer: &'static str, len: usize) -> Result<&[u8], DenoiseError> {
        let available = self.bytes.len() - self.pos;
        if available < len {
            return Err(DenoiseError::ModelTruncated {
                layer,
                needed: len,
                available,
            });
        }
        let s = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(s)
    }

    fn weights(&mut self, layer: &'static str, len: usize) -> Result<Vec<i8>, DenoiseError> {
        Ok(self.take(layer, len)?.iter().map(|&b| b as i8).collect())
    }

    fn biases(&mut self, layer: &'static str, len: usize) -> Result<Vec<f32>, DenoiseError> {
        Ok(self
            .take(layer, len)?
            .iter()
            .map(|&b| f32::from(b as i8) * WEIGHT_SCALE)
            .collect())
    }

    fn dense(&mut self, layer: &'static str) -> Result<Dense, DenoiseError> {
        let (nb_inputs, nb_neurons, activation) = self.header(layer)?;
        let w = self.weights(layer, nb_inputs * nb_neurons)?;
        let weights = Matrix::pack(&w, nb_inputs, nb_neurons, 0, nb_neurons);
        let bias = self.biases(layer, nb_neurons)?;
        Ok(Dense {
            nb_inputs,
            nb_neurons,
            activation,
            weights,
            bias,
        })
    }

    fn gru(&mut self, layer: &'static str) -> Result<Gru, DenoiseError> {
        let (nb_inputs, nb_neurons, activation) = self.header(layer)?;
        let n = nb_neurons;
        let w = self.weights(layer, 3 * nb_inputs * n)?;
        let input_weights = Matrix::pack(&w, nb_inputs, 3 * n, 0, 3 * n);
        let w = self.weights(layer, 3 * n * n)?;
        let recurrent_zr = Matrix::pack(&w, n, 3 * n, 0, 2 * n);
        let recurrent_h = Matrix::pack(&w, n, 3 * n, 2 * n, n);
        let bias = self.biases(layer, 3 * nb_neurons)?;
        Ok(Gru {
            nb_inputs,
            nb_neurons,
            activation,
            input_weights,
            recurrent_zr,
            recurrent_h,
            bias,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_model_has_rnnoise_layer_sizes() {
        let m = Model::default_model();
        assert_eq!(m.input_dense.nb_neurons, 24);
        assert_eq!(m.vad_gru.nb_neurons, 24);
        assert_eq!(m.noise_gru.nb_neurons, 48);
        assert_eq!(m.denoise_gru.nb_neurons, 96);
        assert_eq!(m.denoise_output.nb_neurons, 22);
        assert_eq!(m.input_dense.activation, Activation::Tanh);
        assert_eq!(m.denoise_gru.activation, Activation::Relu);
    }

    #[test]
    fn truncated_model_names_the_layer() {
        let cut = &DEFAULT_WEIGHTS[..DEFAULT_WEIGHTS.len() - 10];
        match Model::from_bytes(cut) {
            Err(DenoiseError::ModelTruncated { layer, .. }) => assert_eq!(layer, "VAD output"),
            other => panic!("expected truncation error, got {other:?}"),
        }
        assert!(matches!(
            Model::from_bytes(&[]),
            Err(DenoiseError::ModelTruncated {
                layer: "input dense",
                ..
            })
        ));
    }

    #[test]
    fn trailing_bytes_and_bad_headers_are_refused() {
        let mut long = DEFAULT_WEIGHTS.to_vec();
        long.push(0);
        assert!(matches!(
            Model::from_bytes(&long),
            Err(DenoiseError::TrailingBytes(1))
        ));
        let mut bad = DEFAULT_WEIGHTS.to_vec();
        bad[2] = 7;
        assert!(matches!(
            Model::from_bytes(&bad),
            Err(DenoiseError::ModelHeader {
                what: "activation",
                value: 7,
                ..
            })
        ));
        // 41 inputs instead of 42: the layers parse but do not chain together.
        let mut shape = DEFAULT_WEIGHTS[..3].to_vec();
        shape[0] = 41;
        shape.extend(std::iter::repeat_n(0u8, 41 * 24 + 24));
        shape.extend_from_slice(&DEFAULT_WEIGHTS[3 + 42 * 24 + 24..]);
        assert!(matches!(
            Model::from_bytes(&shape),
            Err(DenoiseError::ModelShape(_))
        ));
    }

    #[test]
    fn missing_file_error_names_the_path() {
        let err = Model::from_file("/nonexistent/model.rnn").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/model.rnn"), "{err}");
    }
}
