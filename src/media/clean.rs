//! Noise removal on one direction of one call (R-NR-1, R-NR-3): the denoiser with
//! its frame buffers and the figures the call report shows.

use agentphone_audio::denoise::{Denoiser, Model};
use agentphone_audio::frame::{Frame, FRAME_SAMPLES};
use std::sync::Arc;

/// Voice probability above which a frame counts as speech in the report.
const SPEECH_VAD: f32 = 0.5;

/// A denoiser fed 10 ms frames in place. The cleaned audio lags by one frame
/// (10 ms), the model's own look-ahead.
pub(super) struct Cleaner {
    denoiser: Denoiser,
    input: Box<Frame>,
    output: Box<Frame>,
    frames: u64,
    speech_frames: u64,
}

impl Cleaner {
    /// With `model`, or the built-in one.
    pub(super) fn new(model: Option<Arc<Model>>) -> Self {
        Cleaner {
            denoiser: model.map_or_else(Denoiser::new, Denoiser::from_model),
            input: Box::new([0.0; FRAME_SAMPLES]),
            output: Box::new([0.0; FRAME_SAMPLES]),
            frames: 0,
            speech_frames: 0,
        }
    }

    /// Replaces `frame` (exactly 480 samples) with its cleaned version.
    pub(super) fn process(&mut self, frame: &mut [f32]) {
        self.input.copy_from_slice(frame);
        let vad = self.denoiser.process(&self.input, &mut self.output);
        frame.copy_from_slice(&self.output[..]);
        self.frames += 1;
        if vad >= SPEECH_VAD {
            self.speech_frames += 1;
        }
    }

    /// Frames cleaned so far.
    pub(super) fn frames(&self) -> u64 {
        self.frames
    }

    /// Of those, frames the model judged to hold speech.
    pub(super) fn speech_frames(&self) -> u64 {
        self.speech_frames
    }
}
