//! agentphone's audio core on 48 kHz mono frames of 10 ms (480 samples):
//! per-leg noise removal (RNNoise model), the N-1 conference mixer, level meters,
//! WAV recorders and simple sources (tone, silence, WAV file).
//!
//! Boundaries: pure processing. No sockets, no devices, no threads; buffers are
//! allocated at construction and the per-frame path does not allocate.

pub mod denoise;
pub mod frame;
pub mod meter;
pub mod mixer;
pub mod sink;
pub mod source;
pub mod wav;

pub use frame::{Frame, FRAME_SAMPLES, SAMPLE_RATE};
