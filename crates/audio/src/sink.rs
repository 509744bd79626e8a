//! Consumers of 10 ms frames: the null sink and the WAV recorder.

use crate::frame::Frame;
use crate::wav::{WavError, WavRecorder};

/// Why a sink could not take a frame.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing a recording failed.
    #[error(transparent)]
    Wav(#[from] WavError),
    /// The consumer behind the sink is gone (e.g. a device stream stopped).
    #[error("audio sink closed: {0}")]
    Closed(String),
}

/// Something that consumes 48 kHz mono frames.
pub trait AudioSink {
    /// Takes one frame.
    fn write_frame(&mut self, frame: &Frame) -> Result<(), SinkError>;
}

/// Discards everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl AudioSink for NullSink {
    fn write_frame(&mut self, _frame: &Frame) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A mono recorder records what it is given.
impl AudioSink for WavRecorder {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), SinkError> {
        Ok(self.write_mono(frame)?)
    }
}
