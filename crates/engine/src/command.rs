//! What the control side asks of the engine, and what the engine tells it.

use crate::chain::Chain;
use crate::leg::{LegAudio, LegFigures};
use crate::local::LocalAudio;
use crate::packer::Packer;
use crate::record::RecordTap;
use crate::room::Room;
use crate::{PartId, RoomId};
use agentphone_audio::meter::Level;
use agentphone_audio::source::AudioSource;

/// A request to the engine, applied at the start of the next tick. Everything
/// that allocates is built by the sender.
pub enum Command {
    /// Opens a room.
    AddRoom {
        /// Its name.
        room: RoomId,
        /// Its mixer, built off the audio thread.
        audio: Box<Room>,
    },
    /// Closes a room; its participants are left in no room.
    CloseRoom {
        /// Which.
        room: RoomId,
    },
    /// Adds a call leg, in no room yet.
    AddLeg {
        /// Its name.
        part: PartId,
        /// Its audio half.
        audio: Box<LegAudio>,
    },
    /// Adds a local endpoint (the agent, a file player/recorder), in no room yet.
    AddLocal {
        /// Its name.
        part: PartId,
        /// Its audio.
        audio: Box<LocalAudio>,
    },
    /// Takes a participant out of the engine; [`Event::Removed`] follows.
    Remove {
        /// Which.
        part: PartId,
    },
    /// Moves a participant into a room (out of the one it was in, if any).
    /// Refused with [`EngineError::RoomFull`] beyond eight (R-CONF-2).
    Join {
        /// Who.
        part: PartId,
        /// Where.
        room: RoomId,
    },
    /// Takes a participant out of its room (it then hears nothing, or music on
    /// hold when held); the others go on hearing each other (R-CONF-3).
    Leave {
        /// Who.
        part: PartId,
    },
    /// Holds or resumes: a held participant is neither heard nor hears its room
    /// and hears music on hold instead (or silence without any).
    Hold {
        /// Who.
        part: PartId,
        /// Held or not.
        held: bool,
    },
    /// Mutes or unmutes: a muted participant is not heard but still hears.
    Mute {
        /// Who.
        part: PartId,
        /// Muted or not.
        muted: bool,
    },
    /// Linear gain on what a participant says (0 to 8).
    Gain {
        /// Who.
        part: PartId,
        /// The gain.
        gain: f32,
    },
    /// Noise removal on what a leg says (inbound, R-NR-3) or a local endpoint's
    /// voice (its cleaner must have been given at creation).
    Denoise {
        /// Who.
        part: PartId,
        /// On or off.
        on: bool,
    },
    /// A leg's new encoder after a codec change.
    SetPacker {
        /// Which leg.
        part: PartId,
        /// The encoder, built off the audio thread.
        packer: Box<Packer>,
    },
    /// The music every held participant hears (None: silence).
    MusicOnHold {
        /// A looping source.
        source: Option<Box<dyn AudioSource + Send>>,
    },
    /// Starts (Some) or stops (None) a recording.
    Record {
        /// What is recorded.
        target: RecordTarget,
        /// The tap to write into.
        tap: Option<RecordTap>,
    },
    /// Pauses or resumes a recording (R-REC-2).
    PauseRecording {
        /// Which recording.
        target: RecordTarget,
        /// Paused or not.
        paused: bool,
    },
}

/// Whose recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTarget {
    /// A room's whole mix.
    Room(RoomId),
    /// What a local endpoint hears (and says, in stereo).
    Local(PartId),
}

/// Why a command was not carried out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The room already has eight participants.
    #[error("{room} is full: at most {max} participants, agent and customer included (R-CONF-2)")]
    RoomFull {
        /// The room.
        room: RoomId,
        /// Its limit.
        max: usize,
    },
    /// No such participant.
    #[error("{0} is not in the engine")]
    UnknownPart(PartId),
    /// No such room.
    #[error("{0} does not exist")]
    UnknownRoom(RoomId),
    /// The participant's name is taken.
    #[error("{0} already exists")]
    DuplicatePart(PartId),
    /// The room's name is taken.
    #[error("{0} already exists")]
    DuplicateRoom(RoomId),
    /// Pause asked of a recording that is not running.
    #[error("{0:?} is not being recorded")]
    NotRecording(RecordTarget),
    /// The engine carries its maximum of participants or rooms.
    #[error("the media engine is at its limit of {0}")]
    Capacity(&'static str),
    /// The command does not apply to this kind of participant.
    #[error("{part}: {what}")]
    NotApplicable {
        /// Who.
        part: PartId,
        /// What does not apply.
        what: &'static str,
    },
    /// A gain out of range.
    #[error("gain {0} is out of range (0 to 8)")]
    InvalidGain(f32),
}

/// Something that left the engine, handed back to be dropped off the audio
/// thread.
pub enum Retired {
    /// A leg's audio half.
    Leg(Box<LegAudio>),
    /// A local endpoint.
    Local(Box<LocalAudio>),
    /// A closed room.
    Room(Box<Room>),
    /// A receive chain replaced by a codec change.
    Chain(Box<Chain>),
    /// An encoder replaced by a codec change.
    Packer(Box<Packer>),
    /// A recording that was stopped (its writer then finishes the file).
    Tap(RecordTap),
    /// Music on hold that was replaced.
    Source(Box<dyn AudioSource + Send>),
}

/// What a participant's audio half counted, when it leaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartReport {
    /// A leg's figures (default for a local endpoint).
    pub leg: LegFigures,
    /// A local endpoint's voice cleaning: (frames, speech frames).
    pub voice_cleaned: Option<(u64, u64)>,
}

/// What the engine tells the control side.
// Events are built on the audio thread and travel in a ring of preallocated
// slots; boxing the large report would allocate there instead.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A participant left the engine ([`Command::Remove`]).
    Removed {
        /// Who.
        part: PartId,
        /// Its figures.
        report: PartReport,
        /// Its audio, to drop.
        retired: Retired,
    },
    /// A command was refused.
    Refused {
        /// Who it concerned, if anyone.
        part: Option<PartId>,
        /// Why.
        error: EngineError,
    },
    /// A leg that was playing audio has played none for two seconds.
    LegSilent {
        /// Which.
        part: PartId,
    },
    /// Audio came back on a leg reported silent.
    LegAudible {
        /// Which.
        part: PartId,
    },
    /// Levels of a participant in a room, twice a second.
    Levels {
        /// Who.
        part: PartId,
        /// What it says (after gain).
        spoken: Level,
        /// What it hears.
        heard: Level,
    },
    /// Something to drop off the audio thread.
    Retired(Retired),
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Removed { part, report, .. } => write!(f, "Removed({part}, {report:?})"),
            Event::Refused { part, error } => write!(f, "Refused({part:?}, {error})"),
            Event::LegSilent { part } => write!(f, "LegSilent({part})"),
            Event::LegAudible { part } => write!(f, "LegAudible({part})"),
            Event::Levels {
                part,
                spoken,
                heard,
            } => write!(f, "Levels({part}, {spoken:?}, {heard:?})"),
            Event::Retired(_) => write!(f, "Retired"),
        }
    }
}
