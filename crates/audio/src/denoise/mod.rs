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
//! [`DenoiseBatch`] denoises up to eight legs per step with the network run for
//! all of them at once (each leg's result equal to a [`Denoiser`]'s).
//!
//! The inner loops run through [`Kernel`]: AVX-512 with VNNI or AVX2+FMA when the
//! CPU has them, otherwise a portable version; tests hold each to the reference
//! output.

pub(crate) mod activation;
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
    /// A batch was asked for a number of legs it cannot hold.
    #[error("a denoise batch holds 1 to {max} legs, not {0}", max = DenoiseBatch::MAX_LEGS)]
    BatchLegs(usize),
    /// A batch step got a different number of frames than the batch has legs.
    #[error("denoise batch of {legs} legs given {inputs} input frames, {outputs} output frames and {vads} VAD slots")]
    BatchShape {
        /// Legs in the batch.
        legs: usize,
        /// Input frames given.
        inputs: usize,
        /// Output frames given.
        outputs: usize,
        /// VAD slots given.
        vads: usize,
    },
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
            rnn: Rnn::new(model, 1),
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
        let silent = analyse(&mut self.analysis, &self.kernels, input);
        let mut vad = [0.0f32];
        if !silent {
            let mut g = [0.0f32; NB_BANDS];
            self.rnn
                .compute(&self.kernels, &self.analysis.features, &mut g, &mut vad);
            apply_gains(&mut self.analysis, &mut self.last_gain, &g);
        }
        if !synthesise(&mut self.analysis, output) {
            self.reset();
            return 0.0;
        }
        vad[0]
    }
}

/// Sanitises `input`, takes it into the analysis and computes its features;
/// returns `true` when the frame is near silent (the network is skipped).
#[inline(always)]
fn analyse(analysis: &mut Analysis, k: &Kernels, input: &Frame) -> bool {
    let mut clean = [0.0f32; FRAME_SAMPLES];
    for (c, &s) in clean.iter_mut().zip(input) {
        *c = if s.is_finite() {
            s.clamp(-32768.0, 32768.0)
        } else {
            0.0
        };
    }
    analysis.push_frame(k, &clean);
    analysis.compute_features(k)
}

/// Smooths the network's band gains against the last frame's and applies them.
#[inline(always)]
fn apply_gains(analysis: &mut Analysis, last_gain: &mut [f32; NB_BANDS], g: &[f32; NB_BANDS]) {
    let mut smoothed = *g;
    for (s, last) in smoothed.iter_mut().zip(last_gain.iter_mut()) {
        *s = s.max(0.6 * *last);
        *last = *s;
    }
    analysis.filter_and_gain(g, &smoothed);
}

/// Writes the output frame; `false` (and a silent frame) if it was not finite.
#[inline(always)]
fn synthesise(analysis: &mut Analysis, output: &mut Frame) -> bool {
    analysis.synthesise(output);
    if !output.iter().all(|s| s.is_finite()) {
        // Cannot happen with clamped input; if it ever does, recover rather
        // than hand NaN to the mixer for the rest of the call.
        output.fill(0.0);
        return false;
    }
    true
}

/// One leg of a [`DenoiseBatch`]: everything but the network state.
struct Leg {
    analysis: Box<Analysis>,
    last_gain: [f32; NB_BANDS],
}

/// Several legs denoised together, one frame each per step: each leg's signal
/// path runs as in [`Denoiser`], and the network runs layer by layer for all
/// legs at once, so a kernel that can (AVX-512 VNNI) streams each layer's
/// weights once per step for every leg. Each leg's output and VAD equal, bit
/// for bit, those of a [`Denoiser`] with the same kernel fed the same frames.
pub struct DenoiseBatch {
    kernels: Kernels,
    legs: Vec<Leg>,
    rnn: Rnn,
    features: Vec<f32>,
    gains: Vec<f32>,
    vads: Vec<f32>,
    silent: Vec<bool>,
    /// Network state of the legs whose frame skips the network this step.
    kept: Vec<f32>,
}

impl std::fmt::Debug for DenoiseBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenoiseBatch")
            .field("kernel", &self.kernels.kind)
            .field("legs", &self.legs.len())
            .finish()
    }
}

impl DenoiseBatch {
    /// Most legs one batch holds.
    pub const MAX_LEGS: usize = kernels::MAX_LEGS;

    /// A batch of `legs` legs (1 to [`Self::MAX_LEGS`]) sharing `model`.
    pub fn new(
        model: Arc<Model>,
        legs: usize,
        kernel: Kernel,
    ) -> Result<DenoiseBatch, DenoiseError> {
        if !(1..=Self::MAX_LEGS).contains(&legs) {
            return Err(DenoiseError::BatchLegs(legs));
        }
        let kernels = Kernels::new(kernel).ok_or(DenoiseError::KernelUnavailable(kernel))?;
        let rnn = Rnn::new(model, legs);
        let state = rnn.state_len();
        Ok(DenoiseBatch {
            kernels,
            legs: (0..legs)
                .map(|_| Leg {
                    analysis: Box::new(Analysis::new()),
                    last_gain: [0.0; NB_BANDS],
                })
                .collect(),
            rnn,
            features: vec![0.0; legs * NB_FEATURES],
            gains: vec![0.0; legs * NB_BANDS],
            vads: vec![0.0; legs],
            silent: vec![false; legs],
            kept: vec![0.0; legs * state],
        })
    }

    /// Number of legs.
    pub fn legs(&self) -> usize {
        self.legs.len()
    }

    /// The concrete kernel in use.
    pub fn kernel(&self) -> Kernel {
        self.kernels.kind
    }

    /// Forgets leg `leg`'s signal history (a new call on that leg). Out of range
    /// legs are ignored.
    pub fn reset_leg(&mut self, leg: usize) {
        if let Some(l) = self.legs.get_mut(leg) {
            l.analysis.reset();
            l.last_gain = [0.0; NB_BANDS];
            self.rnn.reset_leg(leg);
        }
    }

    /// Denoises one frame per leg: `outputs[l]` receives leg `l`'s cleaned
    /// frame of the previous step and `vads[l]` its voice probability for
    /// `inputs[l]`, as [`Denoiser::process`] would. All three slices must
    /// have one entry per leg.
    pub fn process(
        &mut self,
        inputs: &[Frame],
        outputs: &mut [Frame],
        vads: &mut [f32],
    ) -> Result<(), DenoiseError> {
        let legs = self.legs.len();
        if inputs.len() != legs || outputs.len() != legs || vads.len() != legs {
            return Err(DenoiseError::BatchShape {
                legs,
                inputs: inputs.len(),
                outputs: outputs.len(),
                vads: vads.len(),
            });
        }
        #[cfg(target_arch = "x86_64")]
        if self.kernels.kind == Kernel::Avx2Fma {
            // SAFETY: the batch holds the AVX2 table only after `Kernels::new`
            // verified at run time that the CPU has AVX2 and FMA.
            unsafe { self.step_avx2(inputs, outputs, vads) };
            return Ok(());
        }
        #[cfg(target_arch = "x86_64")]
        if self.kernels.kind == Kernel::Avx512Vnni {
            // SAFETY: the batch holds the AVX-512 table only after
            // `Kernels::new` verified every feature `step_avx512` enables.
            unsafe { self.step_avx512(inputs, outputs, vads) };
            return Ok(());
        }
        self.step(inputs, outputs, vads);
        Ok(())
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn step_avx2(&mut self, inputs: &[Frame], outputs: &mut [Frame], vads: &mut [f32]) {
        self.step(inputs, outputs, vads);
    }

    /// # Safety
    /// The CPU must support AVX2, FMA, AVX-512 F/BW/VL and AVX-512 VNNI.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn step_avx512(&mut self, inputs: &[Frame], outputs: &mut [Frame], vads: &mut [f32]) {
        self.step(inputs, outputs, vads);
    }

    /// One step for every leg (slice lengths checked by the caller).
    #[inline(always)]
    fn step(&mut self, inputs: &[Frame], outputs: &mut [Frame], vads: &mut [f32]) {
        let k = &self.kernels;
        for (l, (leg, input)) in self.legs.iter_mut().zip(inputs).enumerate() {
            self.silent[l] = analyse(&mut leg.analysis, k, input);
            self.features[l * NB_FEATURES..][..NB_FEATURES].copy_from_slice(&leg.analysis.features);
        }
        self.vads.fill(0.0);
        if self.silent.iter().any(|s| !s) {
            let state = self.rnn.state_len();
            for (l, _) in self.silent.iter().enumerate().filter(|(_, &s)| s) {
                self.rnn
                    .swap_state(l, &mut self.kept[l * state..][..state], true);
            }
            self.rnn
                .compute(k, &self.features, &mut self.gains, &mut self.vads);
            for (l, leg) in self.legs.iter_mut().enumerate() {
                if self.silent[l] {
                    self.rnn
                        .swap_state(l, &mut self.kept[l * state..][..state], false);
                    self.vads[l] = 0.0;
                } else {
                    let mut g = [0.0f32; NB_BANDS];
                    g.copy_from_slice(&self.gains[l * NB_BANDS..][..NB_BANDS]);
                    apply_gains(&mut leg.analysis, &mut leg.last_gain, &g);
                }
            }
        }
        for (l, (leg, output)) in self.legs.iter_mut().zip(outputs.iter_mut()).enumerate() {
            if !synthesise(&mut leg.analysis, output) {
                leg.analysis.reset();
                leg.last_gain = [0.0; NB_BANDS];
                self.rnn.reset_leg(l);
                self.vads[l] = 0.0;
            }
        }
        vads.copy_from_slice(&self.vads);
    }
}
