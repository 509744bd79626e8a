//! Noise removal on one direction of one participant (R-NR-1, R-NR-3): the
//! denoiser with its frame buffers and the figures the call report shows.

use agentphone_audio::denoise::{Denoiser, Model};
use agentphone_audio::{Frame, FRAME_SAMPLES};
use std::sync::Arc;

/// Voice probability above which a frame counts as speech in the report.
const SPEECH_VAD: f32 = 0.5;

/// A denoiser fed 10 ms frames in place, switchable on and off without
/// allocating. The cleaned audio lags by one frame (10 ms), the model's own
/// look-ahead.
pub struct Cleaner {
    /// None for a cleaner that is off and stays off ([`Cleaner::never`]).
    denoiser: Option<Denoiser>,
    on: bool,
    input: Box<Frame>,
    frames: u64,
    speech_frames: u64,
}

impl Cleaner {
    /// With `model` (the built-in one when None), on or off to start with.
    pub fn new(model: Option<Arc<Model>>, on: bool) -> Self {
        Cleaner {
            denoiser: Some(model.map_or_else(Denoiser::new, Denoiser::from_model)),
            on,
            input: Box::new([0.0; FRAME_SAMPLES]),
            frames: 0,
            speech_frames: 0,
        }
    }

    /// A cleaner that is off and cannot be switched on: no model state, whose
    /// buffers (about 40 KiB) would otherwise sit in every leg of a run that
    /// never cleans (`answer` without `--denoise`).
    pub fn never() -> Self {
        Cleaner {
            denoiser: None,
            on: false,
            input: Box::new([0.0; FRAME_SAMPLES]),
            frames: 0,
            speech_frames: 0,
        }
    }

    /// Switches cleaning on or off (from the next frame; the model's state
    /// restarts when it comes back on, so no stale frame leaks out). A
    /// [`Cleaner::never`] stays off; returns whether cleaning is now as asked.
    pub fn set_on(&mut self, on: bool) -> bool {
        let Some(denoiser) = &mut self.denoiser else {
            return !on;
        };
        if on && !self.on {
            denoiser.reset();
        }
        self.on = on;
        true
    }

    /// Whether frames are cleaned.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Replaces `frame` with its cleaned version when on.
    pub fn process(&mut self, frame: &mut Frame) {
        let Some(denoiser) = self.denoiser.as_mut().filter(|_| self.on) else {
            return;
        };
        self.input.copy_from_slice(frame);
        let vad = denoiser.process(&self.input, frame);
        self.frames += 1;
        if vad >= SPEECH_VAD {
            self.speech_frames += 1;
        }
    }

    /// (frames cleaned, of those judged speech), None when it never ran.
    pub fn figures(&self) -> Option<(u64, u64)> {
        (self.on || self.frames > 0).then_some((self.frames, self.speech_frames))
    }
}
