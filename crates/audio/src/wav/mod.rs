//! WAV files: reading any common PCM/float WAV as 48 kHz mono, writing WAVs, and a
//! crash-safe streaming call recorder.
//!
//! Reading accepts 8/16/24/32-bit integer and 32/64-bit float samples, any rate
//! and channel count; [`read_wav_48k_mono`] downmixes and resamples (windowed-sinc,
//! Kaiser, ≥ 80 dB design stopband). [`WavStreamReader`], [`WavStreamWriter`] and
//! [`StreamResampler`] do the same block by block, in constant memory and without
//! seeking (pipes). Every error names the file and the problem.

mod name;
mod read;
mod recorder;
mod resample;
mod stream;
mod write;

use std::path::{Path, PathBuf};

pub use name::recording_file_name;
pub use read::{read_wav, WavData};
pub use recorder::{WavRecorder, HEADER_UPDATE_FRAMES};
pub use resample::{resample, StreamResampler};
pub use stream::{WavStreamReader, WavStreamWriter, UNKNOWN_DATA_SIZES};
pub use write::{write_wav, write_wav_spec, SampleFormat, WavSpec};

use crate::frame::SAMPLE_RATE;

/// A WAV operation failed on a given file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct WavError {
    /// The file concerned.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: WavProblem,
}

/// What went wrong with a WAV file.
#[derive(Debug, thiserror::Error)]
pub enum WavProblem {
    /// The file could not be opened, read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a RIFF/WAVE file at all.
    #[error("not a WAV file ({0})")]
    NotWav(&'static str),
    /// A sample width this reader does not decode.
    #[error("{0}-bit samples are not supported")]
    UnsupportedBits(u16),
    /// A sample encoding other than integer PCM or IEEE float.
    #[error("sample format {0:#06x} is not supported (integer PCM or IEEE float only)")]
    UnsupportedFormat(u16),
    /// The file is a WAV but its structure is broken.
    #[error("{0}")]
    Malformed(String),
    /// A request that cannot be written, e.g. a frame of the wrong channel count.
    #[error("{0}")]
    Invalid(String),
}

impl WavError {
    pub(crate) fn new(path: &Path, problem: impl Into<WavProblem>) -> Self {
        WavError {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}

/// A WAV file decoded to the internal format.
#[derive(Debug, Clone)]
pub struct WavAudio {
    /// 48 kHz mono samples, ±32768 scale.
    pub samples: Vec<f32>,
    /// The file's own sample rate.
    pub source_rate: u32,
    /// The file's own channel count.
    pub source_channels: u16,
}

/// Reads a WAV file and converts it to 48 kHz mono (channels averaged).
pub fn read_wav_48k_mono(path: impl AsRef<Path>) -> Result<WavAudio, WavError> {
    let data = read_wav(path)?;
    let mono = data.downmix();
    let samples = if data.rate == SAMPLE_RATE {
        mono
    } else {
        resample(&mono, data.rate, SAMPLE_RATE)
    };
    Ok(WavAudio {
        samples,
        source_rate: data.rate,
        source_channels: data.channels,
    })
}
