//! The media engine's core: what the one audio thread of the process does every
//! 10 ms, as a plain value ([`Engine`]) that tests drive with a fake clock.
//!
//! Each call leg is split in two halves joined by lock-free SPSC rings
//! ([`leg::LegAudio::new`] makes both ends). The network half (in the binary, on
//! tokio) owns the sockets and RTP state and moves packets: received payloads
//! with their arrival time go in, encoded payloads come out. The audio half, here,
//! does per tick: jitter-buffer pop → decode or conceal (48 kHz) → noise removal
//! when the leg's policy says so (R-NR-3: each inbound leg is cleaned on its own,
//! before mixing) → its room's N-1 mix → music on hold when held → encode.
//!
//! Rooms ([`room::Room`]) hold up to eight participants (R-CONF-2): legs and
//! local endpoints (the agent's sound card, or a file played and recorded). A 1:1
//! call is a room of the agent and one leg, a consult another room, a conference
//! one room; when the agent leaves a room the others go on hearing each other
//! (R-CONF-3).
//!
//! Boundaries: no sockets, no threads, no clock reads, no files opened. Commands
//! ([`Command`]) carry everything that must be allocated, built off the audio
//! thread; whatever leaves the engine ([`Retired`]) is handed back in an
//! [`Event`] so it is dropped off the audio thread too. [`Engine::tick`] does not
//! allocate, lock, log or make system calls.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chain;
pub mod clean;
mod command;
mod engine;
mod ids;
pub mod leg;
mod listen;
pub mod local;
pub mod packer;
pub mod packet;
pub mod record;
pub mod rings;
pub mod room;
pub mod stats;

pub use command::{Command, EngineError, Event, PartReport, RecordTarget, Retired};
pub use engine::{opus_effort, Engine, EngineLimits};
pub use ids::{PartId, RoomId};
pub use record::{record, RecordTap, RecordWriter};

/// Samples of one tick: 10 ms at 48 kHz.
pub use agentphone_audio::FRAME_SAMPLES;
