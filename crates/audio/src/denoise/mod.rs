//! Per-leg noise removal with the RNNoise network (R-NR-1): nnnoiseless's
//! algorithm and weights, reimplemented for speed.
//!
//! A [`Denoiser`] holds one leg's state and allocates only when built. Each call to
//! [`Denoiser::process`] takes one 10 ms frame (480 samples, 48 kHz, ±32768 scale)
//! and returns the frame one call earlier, cleaned: the output lags the input by
//! [`Denoiser::DELAY_SAMPLES`] and the very first output frame fades in from
//! silence. The return value is the network's voice-activity probability.
//!
//! Inputs are sanitised first (NaN and infinities become 0, samples are clamped to
//! ±32768) because a single NaN would otherwise poison the recurrent state for the
//! rest of the call; outputs are never NaN.
//!
//! The inner loops run through [`Kernel`]: AVX-512 with VNNI or AVX2+FMA when the
//! CPU has them, otherwise a portable version; tests hold each to the reference
//! output.

mod activation;
mod bands;
mod features;
mod fft;
mod kernels;
mod matrix;
mod model;
mod pitch;
mod rnn;

use std::path::PathBuf;
use std::sync::Arc;

pub use kernels::Kernel;
pub use model::{Model, NB_BANDS, NB_FEATURES};

use crate::frame::{Frame, FRAME_SAMPLES};
use features::Analysis;
use kernels::Kernels;
use rnn::Rnn;

/// Why a model could not be loaded or a denoiser could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DenoiseError {
    /// The model file could not be read.
    #[error("cannot read model file {path}: {source}")]
    ModelIo {
        /// The file that was asked for.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The model ends in the middle of a layer.
    #[error("model truncated in the {layer} layer: needs {needed} more bytes, {available} left")]
    ModelTruncated {
        /// Layer being read.
        layer: &'static str,
        /// Bytes the layer still needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A layer header holds an impossible value.
    #[error("model {layer} layer: invalid {what} {value}")]
    ModelHeader {
        /// Layer being read.
        layer: &'static str,
        /// Which header field.
        what: &'static str,
        /// The byte found, as a signed value.
        value: i8,
    },
    /// Bytes follow the last layer: not a model in this format.
    #[error("model has {0} unexpected bytes after the last layer")]
    TrailingBytes(usize),
    /// Layers parse but their sizes do not chain together.
    #[error("model layer sizes do not fit together: {0}")]
    ModelShape(String),
    /// The requested kernel cannot run on this CPU.
    #[error("kernel {0:?} is not supported by this CPU")]
    KernelUnavailable(Kernel),
}

/// One leg's noise remover. See the [module docs](self).
pub struct Denoiser {
    kernels: Kernels,
    analysis: Box<Analysis>,
    rnn: Rnn,
    last_gain: [f32; NB_BANDS],
}

impl std::fmt::Debug for Denoiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Denoiser")
            .field("kernel", &self.kernels.kind)
            .finish()
    }
}

impl Default for Denoiser {
    fn default() -> Self {
        Denoiser::new()
    }
}

impl Denoiser {
    /// How far the output lags the input, in samples (one frame).
    pub const DELAY_SAMPLES: usize = FRAME_SAMPLES;

    /// A denoiser with the default model and the fastest kernel for this CPU.
    pub fn new() -> Denoiser {
        Denoiser::build(Model::default_model(), Kernels::new(Kernel::Auto))
    }

    /// A denoiser with a model in nnnoiseless's binary format.
    pub fn with_model(bytes: &[u8]) -> Result<Denoiser, DenoiseError> {
        Ok(Denoiser::from_model(Arc::new(Model::from_bytes(bytes)?)))
    }

    /// A denoiser sharing an already loaded model (one copy of the weights for
    /// every leg).
    pub fn from_model(model: Arc<Model>) -> Denoiser {
        Denoiser::build(model, Kernels::new(Kernel::Auto))
    }

    /// The default model with a chosen kernel (tests and benchmarks force
    /// [`Kernel::Portable`] with this).
    pub fn with_kernel(kernel: Kernel) -> Result<Denoiser, DenoiseError> {
        Denoiser::from_model_with_kernel(Model::default_model(), kernel)
    }

    /// A shared model with a chosen kernel.
    pub fn from_model_with_kernel(
        model: Arc<Model>,
        kernel: Kernel,
    ) -> Result<Denoiser, DenoiseError> {
        let kernels = Kernels::new(kernel).ok_or(DenoiseError::KernelUnavailable(kernel))?;
        Ok(Denoiser::build(model, Some(kernels)))
    }

    fn build(model: Arc<Model>, kernels: Option<Kernels>) -> Denoiser {
        let kernels = match kernels.or_else(|| Kernels::new(Kernel::Portable)) {
            Some(k) => k,
            None => unreachable!("the portable kernel exists on every target"),
        };
        Denoiser {
            kernels,
            analysis: Box::new(Analysis::new()),
            rnn: Rnn::new(model),
            last_gain: [0.0; NB_BANDS],
        }
    }

    /// The concrete kernel in use.
    pub fn kernel(&self) -> Kernel {
        self.kernels.kind
    }

    /// Forgets all signal history, as if freshly built (for reuse on a new call).
    pub fn reset(&mut self) {
        self.analysis.reset();
        self.rnn.reset();
        self.last_gain = [0.0; NB_BANDS];
    }

    /// Denoises one frame. `output` receives the cleaned frame given one call
    /// earlier; returns the probability (0..=1) that the input frame holds voice.
    pub fn process(&mut self, input: &Frame, output: &mut Frame) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if self.kernels.kind == Kernel::Avx2Fma {
            // SAFETY: a denoiser holds the AVX2 kernel table only after
            // `Kernels::new` verified at run time that the CPU has AVX2 and FMA.
            return unsafe { self.process_avx2(input, output) };
        }
        #[cfg(target_arch = "x86_64")]
        if self.kernels.kind == Kernel::Avx512Vnni {
            // SAFETY: a denoiser holds the AVX-512 kernel table only after
            // `Kernels::new` verified at run time that the CPU has every feature
            // `process_avx512` enables.
            return unsafe { self.process_avx512(input, output) };
        }
        self.process_frame(input, output)
    }

    /// The whole frame path compiled with AVX2 and FMA, so every loop the
    /// compiler vectorises (band sums, spectra, filters) uses 8 lanes instead of
    /// SSE2's 4. No FMA contraction happens (Rust never fuses `a * b + c`), so the
    /// results equal the portable build's.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn process_avx2(&mut self, input: &Frame, output: &mut Frame) -> f32 {
        self.process_frame(input, output)
    }

    /// The whole frame path compiled for AVX-512 (16-lane loops where the
    /// compiler vectorises), still without FMA contraction.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, AVX-512 F/BW/VL and AVX-512 VNNI.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn process_avx512(&mut self, input: &Frame, output: &mut Frame) -> f32 {
        self.process_frame(input, output)
    }

    /// The frame path; inlined (with everything it calls) into each entry point
    /// so each gets its own instruction set.
    #[inline(always)]
    fn process_frame(&mut self, input: &Frame, output: &mut Frame) -> f32 {
        let mut clean = [0.0f32; FRAME_SAMPLES];
        for (c, &s) in clean.iter_mut().zip(input) {
            *c = if s.is_finite() {
                s.clamp(-32768.0, 32768.0)
            } else {
                0.0
            };
        }
        self.analysis.push_frame(&self.kernels, &clean);
        let silent = self.analysis.compute_features(&self.kernels);
        let mut vad = 0.0;
        if !silent {
            let mut g = [0.0f32; NB_BANDS];
            vad = self
                .rnn
                .compute(&self.kernels, &self.analysis.features, &mut g);
            let mut smoothed = g;
            for (s, last) in smoothed.iter_mut().zip(self.last_gain.iter_mut()) {
                *s = s.max(0.6 * *last);
                *last = *s;
            }
            self.analysis.filter_and_gain(&g, &smoothed);
        }
        self.analysis.synthesise(output);
        if !output.iter().all(|s| s.is_finite()) {
            // Cannot happen with clamped input; if it ever does, recover rather
            // than hand NaN to the mixer for the rest of the call.
            output.fill(0.0);
            self.reset();
            return 0.0;
        }
        vad
    }
}
