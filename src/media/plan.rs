//! What a call's local end says and where what it hears goes, prepared before
//! the call so a bad file fails before dialling. The sound card itself belongs
//! to the media engine (opened when the engine starts).

use agentphone_audio::source::{AudioSource, Silence, Tone, WavFileSource};
use agentphone_audio::wav::WavRecorder;
use anyhow::{Context, Result};
use std::path::Path;

/// What the local end of a call says.
pub enum Voice {
    /// The engine's sound card microphone (and its speaker hears the call).
    Device,
    /// A file, a tone or silence.
    Source(Box<dyn AudioSource + Send>),
}

/// A call's local end: its voice and an optional recording of what it hears
/// (stereo: heard left, said right).
pub struct MediaPlan {
    /// What is sent to the peer.
    pub voice: Voice,
    /// Where what the peer sends is recorded (48 kHz).
    pub recorder: Option<WavRecorder>,
}

impl MediaPlan {
    /// Plays `play` (silence when absent) and records to `record`.
    pub fn open(play: Option<&Path>, record: Option<&Path>) -> Result<Self> {
        Self::open_recording(play, record, false)
    }

    /// Like [`open`](Self::open); with `stereo` the recording holds both
    /// directions: what was heard on the left, what was sent on the right.
    pub fn open_recording(
        play: Option<&Path>,
        record: Option<&Path>,
        stereo: bool,
    ) -> Result<Self> {
        Ok(MediaPlan {
            voice: Voice::Source(open_source(play, false)?),
            recorder: open_recorder(record, stereo)?,
        })
    }

    /// The sound card of the engine as microphone and speaker; `record` also
    /// records what is heard.
    pub fn device(record: Option<&Path>, stereo: bool) -> Result<Self> {
        Ok(MediaPlan {
            voice: Voice::Device,
            recorder: open_recorder(record, stereo)?,
        })
    }
}

/// `play` as a source: a WAV file (any format and rate), `tone:FREQ` for a sine
/// at -12 dBFS, silence when absent; `looping` restarts a file at its end.
pub fn open_source(play: Option<&Path>, looping: bool) -> Result<Box<dyn AudioSource + Send>> {
    Ok(match play {
        Some(p) => match tone_of(p)? {
            Some(tone) => Box::new(tone),
            None => Box::new(
                WavFileSource::open(p, looping)
                    .with_context(|| format!("cannot play {}", p.display()))?,
            ),
        },
        None => Box::new(Silence),
    })
}

/// `tone:FREQ` (Hz) plays a sine at -12 dBFS instead of a file: a test signal
/// that needs no file.
fn tone_of(play: &Path) -> Result<Option<Tone>> {
    let Some(freq) = play.to_str().and_then(|s| s.strip_prefix("tone:")) else {
        return Ok(None);
    };
    let hz: f32 = freq.parse().map_err(|_| {
        anyhow::anyhow!(
            "--play {}: '{freq}' is not a frequency in Hz",
            play.display()
        )
    })?;
    Tone::new(hz, -12.0)
        .map(Some)
        .with_context(|| format!("--play {}", play.display()))
}

fn open_recorder(record: Option<&Path>, stereo: bool) -> Result<Option<WavRecorder>> {
    let channels = if stereo { 2 } else { 1 };
    record
        .map(|p| {
            WavRecorder::create(p, channels)
                .with_context(|| format!("cannot record to {}", p.display()))
        })
        .transpose()
}
