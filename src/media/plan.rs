//! What a call's media plays and where what it hears goes, prepared before the
//! call so a bad file or a missing sound card fails before dialling.

use crate::audio_io::bridge::AudioThread;
use crate::audio_io::AudioBackend;
use agentphone_audio::sink::AudioSink;
use agentphone_audio::source::{AudioSource, Silence, Tone, WavFileSource};
use agentphone_audio::wav::WavRecorder;
use anyhow::{Context, Result};
use std::path::Path;

/// A call's audio ends: the source sent to the peer, and what hears the peer
/// (a recording, a sound card, or both).
pub struct MediaPlan {
    /// Audio sent to the peer.
    pub source: Box<dyn AudioSource + Send>,
    /// Where what the peer sends is recorded (48 kHz mono).
    pub recorder: Option<WavRecorder>,
    /// Where what the peer sends is played (the sound card's ring).
    pub sink: Option<Box<dyn AudioSink + Send>>,
    /// The audio thread behind `source`/`sink`, kept alive for the call.
    pub audio_thread: Option<AudioThread>,
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
        let source: Box<dyn AudioSource + Send> = match play {
            Some(p) => match tone_of(p)? {
                Some(tone) => Box::new(tone),
                None => Box::new(
                    WavFileSource::open(p, false)
                        .with_context(|| format!("cannot play {}", p.display()))?,
                ),
            },
            None => Box::new(Silence),
        };
        Ok(MediaPlan {
            source,
            recorder: open_recorder(record, stereo)?,
            sink: None,
            audio_thread: None,
        })
    }

    /// The sound card named `device` (`default`: the system default) as
    /// microphone and speaker, on its own audio thread; `record` also records
    /// what is heard.
    pub fn with_device(device: &str, record: Option<&Path>, stereo: bool) -> Result<Self> {
        let recorder = open_recorder(record, stereo)?;
        let backend = AudioBackend::Device {
            name: (device != "default").then(|| device.to_owned()),
        };
        let (thread, mic, heard) = AudioThread::start(backend)
            .with_context(|| format!("cannot open audio device '{device}'"))?;
        Ok(MediaPlan {
            source: Box::new(mic),
            recorder,
            sink: Some(Box::new(heard)),
            audio_thread: Some(thread),
        })
    }
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
