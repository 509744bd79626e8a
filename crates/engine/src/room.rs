//! A room: participants who hear each other, mixed N-1 (each hears everyone
//! but itself), with an optional recording of the whole mix.

use crate::record::RecordTap;
use agentphone_audio::mixer::{MixError, Mixer, MAX_PARTICIPANTS};
use agentphone_audio::{Frame, FRAME_SAMPLES};

/// A room's mixer and recording.
pub struct Room {
    pub(crate) mixer: Mixer,
    pub(crate) recorder: Option<RecordTap>,
    mix: Box<Frame>,
}

impl Room {
    /// A room for up to eight participants (R-CONF-2).
    pub fn new() -> Self {
        Self::with_capacity(MAX_PARTICIPANTS).expect("eight is within the mixer's range")
    }

    /// A room for up to `capacity` participants (1 to 8).
    pub fn with_capacity(capacity: usize) -> Result<Self, MixError> {
        Ok(Room {
            mixer: Mixer::new(capacity)?,
            recorder: None,
            mix: Box::new([0.0; FRAME_SAMPLES]),
        })
    }

    /// Participants now in the room.
    pub fn len(&self) -> usize {
        self.mixer.len()
    }

    /// True when nobody is in the room.
    pub fn is_empty(&self) -> bool {
        self.mixer.is_empty()
    }

    /// Mixes the frame and feeds the room's recording.
    pub(crate) fn mix(&mut self) {
        self.mixer.mix();
        if let Some(tap) = &mut self.recorder {
            self.mixer.mixed(&mut self.mix);
            tap.write(&self.mix, &self.mix);
        }
    }
}

impl Default for Room {
    fn default() -> Self {
        Self::new()
    }
}
