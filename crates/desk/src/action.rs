//! What the desk asks the binary to do: SIP requests and responses on the
//! agent's calls, and media-engine changes (rooms, where the agent's audio
//! goes, hold, mute, recording). The binary executes them in order and reports
//! back what happened as [`CallInput`](crate::CallInput)s.
//!
//! The media model: every call has a room ([`RoomRef`]); a call's leg joins
//! its room when its media starts. The agent's own audio end (microphone and
//! speaker) is in at most one room at a time. A held leg is in no talking
//! room: it hears music on hold and never the agent (`Hold`).

use crate::ids::{CallRef, ReferRef, RoomRef};
use crate::noise::NoiseTarget;

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTarget {
    /// A SIP URI as given (`sip:` / `sips:`).
    Uri(String),
    /// A dial number or extension, cleaned by R-CONS-3: the binary makes it a
    /// URI at the account's domain.
    Number(String),
}

/// One thing for the binary to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send 180 Ringing for an offer.
    Ring {
        /// Which call.
        call: CallRef,
    },
    /// Answer an offer (200 with our SDP); its media goes to `room` once
    /// established.
    Answer {
        /// Which call.
        call: CallRef,
        /// Its room.
        room: RoomRef,
    },
    /// Send a final response to an offer (decline, ring timeout, not
    /// available, shutdown).
    Reject {
        /// Which call.
        call: CallRef,
        /// The status code (e.g. 480, 486, 603).
        code: u16,
    },
    /// Place a call; its media goes to `room` once it starts.
    Dial {
        /// The new call's handle.
        call: CallRef,
        /// Where to.
        target: DialTarget,
        /// Its room.
        room: RoomRef,
    },
    /// End a call: BYE when established, CANCEL while ringing out.
    Hangup {
        /// Which call.
        call: CallRef,
    },
    /// Hold the far end: re-INVITE with `a=sendonly` (`inactive` when it
    /// holds us, R-HOLD-1) and music on hold from the engine.
    Hold {
        /// Which call.
        call: CallRef,
    },
    /// Take the far end back: re-INVITE with `a=sendrecv`, its leg back in
    /// its room.
    Resume {
        /// Which call.
        call: CallRef,
    },
    /// Blind transfer: REFER to `target` with Referred-By.
    TransferBlind {
        /// The transferred call.
        call: CallRef,
        /// Where to.
        target: DialTarget,
    },
    /// Attended transfer: REFER `call`'s far end to `consult`'s with
    /// Replaces built from the consult dialog.
    TransferAttended {
        /// The transferred call (the customer).
        call: CallRef,
        /// The consult call it replaces.
        consult: CallRef,
    },
    /// Answer an incoming REFER with 202 Accepted.
    AcceptRefer {
        /// Which REFER.
        refer: ReferRef,
    },
    /// Refuse an incoming REFER: a final response when it is not answered
    /// yet, else a NOTIFY sipfrag with `code` ending the subscription.
    RejectRefer {
        /// Which REFER.
        refer: ReferRef,
        /// The status (603 Declined, also when the agent did not answer in time).
        code: u16,
    },
    /// Follow an accepted REFER: place `call` to its target (with Replaces
    /// and Referred-By when it had them) and report its progress by NOTIFY.
    FollowRefer {
        /// Which REFER.
        refer: ReferRef,
        /// The new call's handle.
        call: CallRef,
        /// Its room.
        room: RoomRef,
    },
    /// Send DTMF on a call (RFC 4733).
    Dtmf {
        /// Which call.
        call: CallRef,
        /// The digits.
        digits: String,
    },
    /// Create an engine room.
    OpenRoom {
        /// The new room.
        room: RoomRef,
    },
    /// Close an engine room (legs still in it leave it).
    CloseRoom {
        /// Which room.
        room: RoomRef,
    },
    /// Move a call's leg into another room (merging into a conference, or
    /// back to its own room).
    MoveLeg {
        /// Which call.
        call: CallRef,
        /// Where to.
        room: RoomRef,
    },
    /// Put the agent's audio end in a room (it leaves the one it was in).
    AgentJoin {
        /// Which room.
        room: RoomRef,
    },
    /// Take the agent's audio end out of every room.
    AgentLeave,
    /// Mute or unmute the agent's microphone.
    AgentMute {
        /// Muted.
        muted: bool,
    },
    /// Switch noise removal for the agent's session.
    Denoise {
        /// What.
        target: NoiseTarget,
        /// On or off.
        on: bool,
    },
    /// Start recording a room's mix to a WAV named after `name` (already
    /// safe as a file name).
    RecordStart {
        /// Which room.
        room: RoomRef,
        /// File name stem.
        name: String,
    },
    /// Pause or resume a room's recording (R-REC-2).
    RecordPause {
        /// Which room.
        room: RoomRef,
        /// Paused or not.
        paused: bool,
    },
    /// Stop a room's recording and finish its file.
    RecordStop {
        /// Which room.
        room: RoomRef,
    },
    /// Remove the registrations (logout or shutdown); the run ends when
    /// that is done and no call is left.
    Unregister,
    /// Nothing is left to do: the run may end.
    Exit,
}
