//! Runs the RNNoise network for one frame of one leg or of several legs at once:
//! features in, band gains and voice probability out. All buffers are sized from
//! the model and the leg count at construction.
//!
//! Every per-leg vector is stored leg after leg (leg `l`'s copy at `l * width`),
//! so one kernel call runs a layer's product for all legs, and a kernel that can
//! (AVX-512 VNNI) streams the layer's weights once for all of them. With one leg
//! this is the plain single-leg network.

use std::sync::Arc;

use super::activation::relu;
use super::kernels::Kernels;
use super::model::{Activation, Dense, Gru, Model, NB_BANDS, NB_FEATURES};

/// Recurrent state and scratch for `legs` legs.
#[derive(Debug)]
pub(crate) struct Rnn {
    model: Arc<Model>,
    legs: usize,
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
    pub fn new(model: Arc<Model>, legs: usize) -> Rnn {
        let max_n = model.max_gru_neurons();
        Rnn {
            vad_state: vec![0.0; legs * model.vad_gru.nb_neurons],
            noise_state: vec![0.0; legs * model.noise_gru.nb_neurons],
            denoise_state: vec![0.0; legs * model.denoise_gru.nb_neurons],
            noise_in: vec![0.0; legs * model.noise_gru.nb_inputs],
            denoise_in: vec![0.0; legs * model.denoise_gru.nb_inputs],
            gates: vec![0.0; legs * 3 * max_n],
            reset_state: vec![0.0; legs * max_n],
            legs,
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

    /// Forgets leg `leg`'s recurrent state.
    pub fn reset_leg(&mut self, leg: usize) {
        for s in [
            &mut self.vad_state,
            &mut self.noise_state,
            &mut self.denoise_state,
        ] {
            let n = s.len() / self.legs;
            s[leg * n..(leg + 1) * n].fill(0.0);
        }
    }

    /// Copies leg `leg`'s recurrent state out (`save`) or back in (`!save`), so
    /// a leg whose frame skips the network keeps its state through a batch step.
    pub fn swap_state(&mut self, leg: usize, keep: &mut [f32], save: bool) {
        let mut at = 0;
        for s in [
            &mut self.vad_state,
            &mut self.noise_state,
            &mut self.denoise_state,
        ] {
            let n = s.len() / self.legs;
            let (mine, kept) = (&mut s[leg * n..(leg + 1) * n], &mut keep[at..at + n]);
            if save {
                kept.copy_from_slice(mine);
            } else {
                mine.copy_from_slice(kept);
            }
            at += n;
        }
    }

    /// Recurrent state floats per leg (the size `swap_state` needs).
    pub fn state_len(&self) -> usize {
        (self.vad_state.len() + self.noise_state.len() + self.denoise_state.len()) / self.legs
    }

    /// One network step for every leg: `features` holds `legs` feature vectors
    /// one after another; writes `NB_BANDS` gains per leg to `gains` and each
    /// leg's VAD probability to `vads`.
    #[inline(always)]
    pub fn compute(&mut self, k: &Kernels, features: &[f32], gains: &mut [f32], vads: &mut [f32]) {
        let legs = self.legs;
        assert!(
            features.len() == legs * NB_FEATURES
                && gains.len() == legs * NB_BANDS
                && vads.len() == legs
        );
        let m = &*self.model;
        let dense_n = m.input_dense.nb_neurons;
        let vad_n = m.vad_gru.nb_neurons;
        let noise_n = m.noise_gru.nb_neurons;
        let noise_w = m.noise_gru.nb_inputs;
        let denoise_w = m.denoise_gru.nb_inputs;

        let layers = Layers { k, legs };
        layers.dense(
            &m.input_dense,
            features,
            NB_FEATURES,
            &mut self.noise_in,
            noise_w,
        );
        layers.gru(
            &m.vad_gru,
            &self.noise_in,
            noise_w,
            &mut self.vad_state,
            &mut self.gates,
            &mut self.reset_state,
        );
        layers.dense(&m.vad_output, &self.vad_state, vad_n, vads, 1);

        for l in 0..legs {
            let row = &mut self.noise_in[l * noise_w..(l + 1) * noise_w];
            row[dense_n..dense_n + vad_n].copy_from_slice(&self.vad_state[l * vad_n..][..vad_n]);
            row[dense_n + vad_n..].copy_from_slice(&features[l * NB_FEATURES..][..NB_FEATURES]);
        }
        layers.gru(
            &m.noise_gru,
            &self.noise_in,
            noise_w,
            &mut self.noise_state,
            &mut self.gates,
            &mut self.reset_state,
        );

        for l in 0..legs {
            let row = &mut self.denoise_in[l * denoise_w..(l + 1) * denoise_w];
            row[..vad_n].copy_from_slice(&self.vad_state[l * vad_n..][..vad_n]);
            row[vad_n..vad_n + noise_n]
                .copy_from_slice(&self.noise_state[l * noise_n..][..noise_n]);
            row[vad_n + noise_n..].copy_from_slice(&features[l * NB_FEATURES..][..NB_FEATURES]);
        }
        layers.gru(
            &m.denoise_gru,
            &self.denoise_in,
            denoise_w,
            &mut self.denoise_state,
            &mut self.gates,
            &mut self.reset_state,
        );
        let denoise_n = m.denoise_gru.nb_neurons;
        layers.dense(
            &m.denoise_output,
            &self.denoise_state,
            denoise_n,
            gains,
            NB_BANDS,
        );
    }
}

/// The layer steps for `legs` legs through one kernel table.
struct Layers<'a> {
    k: &'a Kernels,
    legs: usize,
}

impl Layers<'_> {
    /// `out[l * os..][..w.cols] += w^T input[l * is..][..w.rows]` for every leg.
    #[inline(always)]
    fn mat_vec(
        &self,
        out: &mut [f32],
        os: usize,
        w: &super::matrix::Matrix,
        input: &[f32],
        is: usize,
    ) {
        match self.k.mat_vec_add_many {
            Some(many) if self.legs > 1 => many(out, os, w, input, is, self.legs),
            _ => {
                for l in 0..self.legs {
                    (self.k.mat_vec_add)(
                        &mut out[l * os..][..w.cols],
                        w,
                        &input[l * is..][..w.rows],
                    );
                }
            }
        }
    }

    #[inline(always)]
    fn activate(&self, a: Activation, xs: &mut [f32]) {
        match a {
            Activation::Tanh => (self.k.tansig)(xs),
            Activation::Sigmoid => (self.k.sigmoid)(xs),
            Activation::Relu => xs.iter_mut().for_each(|x| *x = relu(*x)),
        }
    }

    /// A dense layer writing the first `nb_neurons` of each leg's `os`-wide row.
    #[inline(always)]
    fn dense(&self, layer: &Dense, input: &[f32], is: usize, out: &mut [f32], os: usize) {
        let n = layer.nb_neurons;
        for l in 0..self.legs {
            out[l * os..][..n].copy_from_slice(&layer.bias);
        }
        self.mat_vec(out, os, &layer.weights, input, is);
        for l in 0..self.legs {
            self.activate(layer.activation, &mut out[l * os..][..n]);
        }
    }

    /// One GRU step per leg. The input part of all three gates is one product
    /// over rows of `3n`; the recurrent part of the update and reset gates
    /// shares another; the candidate's recurrent part needs the reset gate first.
    #[inline(always)]
    fn gru(
        &self,
        layer: &Gru,
        input: &[f32],
        is: usize,
        state: &mut [f32],
        gates: &mut [f32],
        rs: &mut [f32],
    ) {
        let n = layer.nb_neurons;
        let g = 3 * n;
        for l in 0..self.legs {
            gates[l * g..][..g].copy_from_slice(&layer.bias);
        }
        self.mat_vec(gates, g, &layer.input_weights, input, is);
        self.mat_vec(gates, g, &layer.recurrent_zr, state, n);
        for l in 0..self.legs {
            let gl = &mut gates[l * g..][..g];
            (self.k.sigmoid)(&mut gl[..2 * n]);
            let r = &gl[n..2 * n];
            let s = &state[l * n..][..n];
            for ((rs, r), s) in rs[l * n..][..n].iter_mut().zip(r).zip(s) {
                *rs = s * r;
            }
        }
        self.mat_vec(&mut gates[2 * n..], g, &layer.recurrent_h, rs, n);
        for l in 0..self.legs {
            let gl = &mut gates[l * g..][..g];
            let (zr, h) = gl.split_at_mut(2 * n);
            self.activate(layer.activation, h);
            let z = &zr[..n];
            for ((s, z), h) in state[l * n..][..n].iter_mut().zip(z).zip(h.iter()) {
                *s = z * *s + (1.0 - z) * h;
            }
        }
    }
}
