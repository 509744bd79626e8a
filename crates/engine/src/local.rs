//! A local endpoint: the agent at the sound card, or a file played and a
//! recording made on this machine. It joins rooms like a leg does.

use crate::clean::Cleaner;
use crate::record::RecordTap;
use agentphone_audio::source::AudioSource;
use agentphone_audio::{Frame, FRAME_SAMPLES};

/// Where a local endpoint's voice comes from.
pub enum LocalInput {
    /// The engine's sound card (or its null clock): the microphone frame of the
    /// tick.
    Device,
    /// A source read once per tick (a WAV file, a tone, silence).
    Source(Box<dyn AudioSource + Send>),
}

/// A local endpoint's audio.
pub struct LocalAudio {
    input: LocalInput,
    to_device: bool,
    cleaner: Option<Cleaner>,
    recorder: Option<RecordTap>,
    /// The frame the engine speaks it into while it takes part, made here,
    /// off the audio thread, and given back when it leaves, so joining and
    /// leaving allocate and free nothing there.
    voice: Option<Box<Frame>>,
}

impl LocalAudio {
    /// Speaks `input`; with `to_device` what it hears goes to the sound card.
    pub fn new(input: LocalInput, to_device: bool) -> Self {
        LocalAudio {
            input,
            to_device,
            cleaner: None,
            recorder: None,
            voice: Some(Box::new([0.0; FRAME_SAMPLES])),
        }
    }

    /// Cleans the voice before anyone hears it (the agent's microphone, R-NR-3).
    pub fn with_cleaner(mut self, cleaner: Cleaner) -> Self {
        self.cleaner = Some(cleaner);
        self
    }

    /// Records what it hears (and, in stereo, what it says on the right).
    pub fn with_recorder(mut self, tap: RecordTap) -> Self {
        self.recorder = Some(tap);
        self
    }

    /// Fills `frame` with this tick's voice.
    pub(crate) fn speak(&mut self, mic: &Frame, frame: &mut Frame) {
        match &mut self.input {
            LocalInput::Device => frame.copy_from_slice(mic),
            LocalInput::Source(s) => {
                s.read_frame(frame);
            }
        }
        if let Some(c) = &mut self.cleaner {
            c.process(frame);
        }
    }

    /// Takes what it hears this tick (`said`: what it spoke, for stereo).
    pub(crate) fn listen(&mut self, heard: &Frame, said: &Frame, speaker: &mut Frame) {
        if self.to_device {
            for (o, &h) in speaker.iter_mut().zip(heard.iter()) {
                *o += h;
            }
        }
        if let Some(r) = &mut self.recorder {
            r.write(heard, said);
        }
    }

    /// Lends its voice frame to the engine for as long as it takes part.
    pub(crate) fn take_voice(&mut self) -> Option<Box<Frame>> {
        self.voice.take()
    }

    /// Takes the voice frame back as it leaves the engine.
    pub(crate) fn return_voice(&mut self, voice: Option<Box<Frame>>) {
        self.voice = voice;
    }

    pub(crate) fn recorder_mut(&mut self) -> &mut Option<RecordTap> {
        &mut self.recorder
    }

    pub(crate) fn cleaner_mut(&mut self) -> Option<&mut Cleaner> {
        self.cleaner.as_mut()
    }

    /// Noise removal figures on the voice, when a cleaner is attached.
    pub fn cleaned(&self) -> Option<(u64, u64)> {
        self.cleaner.as_ref().and_then(Cleaner::figures)
    }
}
