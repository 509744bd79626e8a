//! Runs the RNNoise network for one frame: features in, band gains and voice
//! probability out. All buffers are sized from the model at construction.

use std::sync::Arc;

use super::activation::relu;
use super::kernels::Kernels;
use super::model::{Activation, Dense, Gru, Model, NB_FEATURES};

/// Recurrent state and scratch for one denoiser.
#[derive(Debug)]
pub(crate) struct Rnn {
    model: Arc<Model>,
    vad_state: Vec<f32>,
    noise_state: Vec<f32>,
    denoise_state: Vec<f32>,
    /// `[input dense out, VAD state, features]`: the noise GRU's input.
    noise_in: Vec<f32>,
    /// `[VAD state, noise state, features]`: the denoise GRU's input.
    denoise_in: Vec<f32>,
    /// Pre-activation update, reset and candidate gates of the GRU being run.
    gates: Vec<f32>,
    /// Reset gate times state.
    reset_state: Vec<f32>,
}

impl Rnn {
    pub fn new(model: Arc<Model>) -> Rnn {
        let max_n = model.max_gru_neurons();
        Rnn {
            vad_state: vec![0.0; model.vad_gru.nb_neurons],
            noise_state: vec![0.0; model.noise_gru.nb_neurons],
            denoise_state: vec![0.0; model.denoise_gru.nb_neurons],
            noise_in: vec![0.0; model.noise_gru.nb_inputs],
            denoise_in: vec![0.0; model.denoise_gru.nb_inputs],
            gates: vec![0.0; 3 * max_n],
            reset_state: vec![0.0; max_n],
            model,
        }
    }

    pub fn reset(&mut self) {
        for s in [
            &mut self.vad_state,
            &mut self.noise_state,
            &mut self.denoise_state,
        ] {
            s.fill(0.0);
        }
    }

    /// One network step; writes one gain per band and returns the VAD probability.
    #[inline(always)]
    pub fn compute(
        &mut self,
        k: &Kernels,
        features: &[f32; NB_FEATURES],
        gains: &mut [f32],
    ) -> f32 {
        let m = &*self.model;
        let dense_n = m.input_dense.nb_neurons;
        let vad_n = m.vad_gru.nb_neurons;
        let noise_n = m.noise_gru.nb_neurons;

        dense(k, &m.input_dense, features, &mut self.noise_in[..dense_n]);
        let (dense_out, rest) = self.noise_in.split_at_mut(dense_n);
        gru(
            k,
            &m.vad_gru,
            dense_out,
            &mut self.vad_state,
            &mut self.gates,
            &mut self.reset_state,
        );
        let mut vad = [0.0f32];
        dense(k, &m.vad_output, &self.vad_state, &mut vad);

        rest[..vad_n].copy_from_slice(&self.vad_state);
        rest[vad_n..].copy_from_slice(features);
        gru(
            k,
            &m.noise_gru,
            &self.noise_in,
            &mut self.noise_state,
            &mut self.gates,
            &mut self.reset_state,
        );

        self.denoise_in[..vad_n].copy_from_slice(&self.vad_state);
        self.denoise_in[vad_n..vad_n + noise_n].copy_from_slice(&self.noise_state);
        self.denoise_in[vad_n + noise_n..].copy_from_slice(features);
        gru(
            k,
            &m.denoise_gru,
            &self.denoise_in,
            &mut self.denoise_state,
            &mut self.gates,
            &mut self.reset_state,
        );
        dense(k, &m.denoise_output, &self.denoise_state, gains);
        vad[0]
    }
}

#[inline(always)]
fn activate(k: &Kernels, a: Activation, xs: &mut [f32]) {
    match a {
        Activation::Tanh => (k.tansig)(xs),
        Activation::Sigmoid => (k.sigmoid)(xs),
        Activation::Relu => xs.iter_mut().for_each(|x| *x = relu(*x)),
    }
}

#[inline(always)]
fn dense(k: &Kernels, layer: &Dense, input: &[f32], out: &mut [f32]) {
    out.copy_from_slice(&layer.bias);
    (k.mat_vec_add)(out, &layer.weights, input);
    activate(k, layer.activation, out);
}

/// One GRU step. The input part of all three gates is one product over rows of
/// `3n`; the recurrent part of the update and reset gates shares another; the
/// candidate's recurrent part needs the reset gate first.
#[inline(always)]
fn gru(
    k: &Kernels,
    layer: &Gru,
    input: &[f32],
    state: &mut [f32],
    gates: &mut [f32],
    rs: &mut [f32],
) {
    let n = layer.nb_neurons;
    let gates = &mut gates[..3 * n];
    gates.copy_from_slice(&layer.bias);
    (k.mat_vec_add)(gates, &layer.input_weights, input);
    (k.mat_vec_add)(&mut gates[..2 * n], &layer.recurrent_zr, state);
    (k.sigmoid)(&mut gates[..2 * n]);
    let (zr, h) = gates.split_at_mut(2 * n);
    let (z, r) = zr.split_at_mut(n);
    let rs = &mut rs[..n];
    for ((rs, r), s) in rs.iter_mut().zip(r.iter()).zip(state.iter()) {
        *rs = s * r;
    }
    (k.mat_vec_add)(h, &layer.recurrent_h, rs);
    activate(k, layer.activation, h);
    for ((s, z), h) in state.iter_mut().zip(z.iter()).zip(h.iter()) {
        *s = z * *s + (1.0 - z) * h;
    }
}
