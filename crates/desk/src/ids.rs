//! Handles the desk gives out. They are the desk's own numbers, not SIP
//! Call-IDs or engine ids: the binary keeps the mapping.

use serde::{Deserialize, Serialize};

/// One call of the agent's: an offered or answered customer call, a consult
/// call, a conference party, a call the agent dialled. Shown to the controls as
/// the interaction id (`--call ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallRef(pub u64);

/// A room the desk asked the media engine for: a call's talk room, or a
/// conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomRef(pub u64);

/// An incoming REFER waiting for the agent's decision (REFER policy `ask`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReferRef(pub u64);

impl std::fmt::Display for CallRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::fmt::Display for ReferRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
