//! N-1 conference mixer (R-CONF-1..4, R-HOLD).
//!
//! Every participant (the agent and up to seven remote legs) hears the sum of all
//! the others. The mixer sums every contribution once and gives each participant
//! `total - own contribution`, so the cost grows linearly with the number of legs.
//! The subtraction happens before the soft clipper, so a participant never hears a
//! trace of their own voice even when the others are clipped.
//!
//! Joins, leaves, holds, mutes and gain changes are applied at the next frame as
//! 5 ms ramps, so nothing clicks. A held leg is neither heard nor hears the mix
//! (its output fades to silence; music on hold comes from elsewhere). A muted leg
//! is not heard but still hears. The agent is an ordinary participant: when the
//! agent leaves, the others go on hearing each other (R-CONF-3).
//!
//! Usage per 10 ms tick: write each leg's frame with [`Mixer::set_input`] (or
//! [`Mixer::input_mut`]), call [`Mixer::mix`], read each leg's frame with
//! [`Mixer::output`]. A leg whose input was not written this tick counts as silent.
//! All buffers are allocated in [`Mixer::new`]; `mix` does not allocate.

mod clip;
mod ramp;

pub use clip::{soft_clip, soft_clip_frame, CLIP_KNEE, CLIP_LIMIT};
pub use ramp::{Ramp, RAMP_SAMPLES};

use crate::frame::{Frame, FRAME_SAMPLES};
use crate::meter::LevelMeter;

/// Most participants a conference may have, agent and customer included (R-CONF-2).
pub const MAX_PARTICIPANTS: usize = 8;

/// Highest accepted per-leg gain (linear, about +18 dB).
pub const MAX_GAIN: f32 = 8.0;

/// Largest magnitude an input sample may have; beyond it (or infinite) it is
/// clamped, and NaN is treated as silence, so one broken decoder cannot poison the
/// sum every other participant hears.
const INPUT_LIMIT: f32 = 32_768.0;

/// Identifies a participant for as long as it is in the mixer. Ids are never reused
/// by the same mixer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(u32);

impl std::fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "participant #{}", self.0)
    }
}

/// Why the mixer refused a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MixError {
    /// The conference already has its maximum number of participants.
    #[error(
        "conference is full: at most eight participants, agent and customer included \
         (R-CONF-2); this mixer holds {max}"
    )]
    Full {
        /// The configured limit.
        max: usize,
    },
    /// The id does not name a participant of this mixer (never added, or removed).
    #[error("{0} is not in this conference")]
    UnknownParticipant(ParticipantId),
    /// A gain that is negative, not finite or above [`MAX_GAIN`].
    #[error("gain {0} is out of range (0 to {MAX_GAIN}, finite)")]
    InvalidGain(f32),
    /// A mixer size of zero or more than [`MAX_PARTICIPANTS`].
    #[error("a conference holds 1 to {MAX_PARTICIPANTS} participants (R-CONF-2), not {0}")]
    InvalidCapacity(usize),
}

/// Per-participant settings as given by the caller.
#[derive(Debug, Clone, Copy)]
struct Leg {
    id: ParticipantId,
    leaving: bool,
    held: bool,
    muted: bool,
    /// Whether `input` was written since the last mix.
    fresh: bool,
    /// Fades what this leg says into / out of the sum (join, leave, hold, mute).
    talk: Ramp,
    /// Fades what this leg hears (join, leave, hold).
    hear: Ramp,
    gain: Ramp,
}

impl Leg {
    fn retarget(&mut self) {
        let present = !self.leaving && !self.held;
        self.talk
            .set_target(if present && !self.muted { 1.0 } else { 0.0 });
        self.hear.set_target(if present { 1.0 } else { 0.0 });
    }
}

/// The conference mixer. See the module documentation.
pub struct Mixer {
    max: usize,
    next_id: u32,
    legs: Vec<Option<Leg>>,
    /// One buffer per slot, used in place through a tick: the leg's input,
    /// then what it adds to the sum (gain and ramps applied), then what it
    /// hears. Three buffers per slot were most of an idle call's memory.
    frames: Vec<Frame>,
    total: Box<Frame>,
    spoken: Vec<LevelMeter>,
    heard: Vec<LevelMeter>,
}

impl Mixer {
    /// A mixer for at most `max_participants` (1 to [`MAX_PARTICIPANTS`]).
    pub fn new(max_participants: usize) -> Result<Self, MixError> {
        if max_participants == 0 || max_participants > MAX_PARTICIPANTS {
            return Err(MixError::InvalidCapacity(max_participants));
        }
        // One slot more: a leg that is fading out still owns its slot for one
        // frame, and a newcomer must not have to wait for it. Twice the slots
        // would cover everyone leaving and joining in one frame, which only
        // cuts fades short (see `add`) but costs a frame per participant in
        // every room, mostly 1:1 calls.
        let slots = max_participants + 1;
        Ok(Mixer {
            max: max_participants,
            next_id: 0,
            legs: vec![None; slots],
            frames: vec![[0.0; FRAME_SAMPLES]; slots],
            total: Box::new([0.0; FRAME_SAMPLES]),
            spoken: vec![LevelMeter::default(); slots],
            heard: vec![LevelMeter::default(); slots],
        })
    }

    /// Adds a participant; it fades in over the next frame. Refuses a participant
    /// beyond the limit with [`MixError::Full`] (R-CONF-2).
    pub fn add(&mut self) -> Result<ParticipantId, MixError> {
        if self.len() >= self.max {
            return Err(MixError::Full { max: self.max });
        }
        let slot = match self.legs.iter().position(Option::is_none) {
            Some(slot) => slot,
            // Only reachable when more than one leg leaves and joins with no mix
            // in between: reclaim a fading slot; its 5 ms fade-out is cut short.
            None => self
                .legs
                .iter()
                .position(|l| l.is_some_and(|l| l.leaving))
                .ok_or(MixError::Full { max: self.max })?,
        };
        let id = ParticipantId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        let mut leg = Leg {
            id,
            leaving: false,
            held: false,
            muted: false,
            fresh: false,
            talk: Ramp::at(0.0),
            hear: Ramp::at(0.0),
            gain: Ramp::at(1.0),
        };
        leg.retarget();
        self.legs[slot] = Some(leg);
        self.spoken[slot].reset();
        self.heard[slot].reset();
        tracing::debug!(%id, slot, "participant joins the mix");
        Ok(id)
    }

    /// Removes a participant. Over the next frame it fades out of the others' mix
    /// (its input may still be written for that frame); after that the id is gone.
    pub fn remove(&mut self, id: ParticipantId) -> Result<(), MixError> {
        let leg = self.leg_mut(id)?;
        leg.leaving = true;
        leg.retarget();
        tracing::debug!(%id, "participant leaves the mix");
        Ok(())
    }

    /// Holds or resumes a participant: held, it is neither heard nor hears the mix.
    pub fn set_held(&mut self, id: ParticipantId, held: bool) -> Result<(), MixError> {
        let leg = self.leg_mut(id)?;
        leg.held = held;
        leg.retarget();
        Ok(())
    }

    /// Mutes or unmutes a participant: muted, it is not heard but still hears.
    pub fn set_muted(&mut self, id: ParticipantId, muted: bool) -> Result<(), MixError> {
        let leg = self.leg_mut(id)?;
        leg.muted = muted;
        leg.retarget();
        Ok(())
    }

    /// Sets the linear gain applied to what a participant says (0 to [`MAX_GAIN`]).
    pub fn set_gain(&mut self, id: ParticipantId, gain: f32) -> Result<(), MixError> {
        if !(0.0..=MAX_GAIN).contains(&gain) {
            return Err(MixError::InvalidGain(gain));
        }
        self.leg_mut(id)?.gain.set_target(gain);
        Ok(())
    }

    /// Number of participants (not counting ones fading out after `remove`).
    pub fn len(&self) -> usize {
        self.legs.iter().flatten().filter(|l| !l.leaving).count()
    }

    /// True when nobody is in the conference.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured limit.
    pub fn capacity(&self) -> usize {
        self.max
    }

    /// The participants, in slot order.
    pub fn participants(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.legs
            .iter()
            .flatten()
            .filter(|l| !l.leaving)
            .map(|l| l.id)
    }

    /// The input frame of a participant for the next mix, to be filled in
    /// place, whole: it shares its buffer with the participant's output, so
    /// it holds what the participant last heard until written (and
    /// [`Mixer::output`] gives the input from then until the next mix).
    pub fn input_mut(&mut self, id: ParticipantId) -> Result<&mut Frame, MixError> {
        let slot = self.slot_of(id, true)?;
        if let Some(leg) = self.legs[slot].as_mut() {
            leg.fresh = true;
        }
        Ok(&mut self.frames[slot])
    }

    /// Copies a participant's input frame for the next mix.
    pub fn set_input(&mut self, id: ParticipantId, frame: &Frame) -> Result<(), MixError> {
        self.input_mut(id)?.copy_from_slice(frame);
        Ok(())
    }

    /// What a participant hears, as produced by the last [`Mixer::mix`].
    pub fn output(&self, id: ParticipantId) -> Result<&Frame, MixError> {
        Ok(&self.frames[self.slot_of(id, false)?])
    }

    /// The whole mix of the last [`Mixer::mix`]: every participant's
    /// contribution, clipped as a listener who says nothing would hear it (a
    /// room recording).
    pub fn mixed(&self, out: &mut Frame) {
        out.copy_from_slice(&self.total[..]);
        soft_clip_frame(out);
    }

    /// Meter of what a participant says (after gain, before mute and hold).
    pub fn spoken_level(&self, id: ParticipantId) -> Result<&LevelMeter, MixError> {
        Ok(&self.spoken[self.slot_of(id, false)?])
    }

    /// Meter of what a participant hears.
    pub fn heard_level(&self, id: ParticipantId) -> Result<&LevelMeter, MixError> {
        Ok(&self.heard[self.slot_of(id, false)?])
    }

    /// Mixes one frame: consumes the inputs written since the last call and fills
    /// every participant's output. Allocation-free.
    pub fn mix(&mut self) {
        self.total.fill(0.0);
        for slot in 0..self.legs.len() {
            let Some(leg) = self.legs[slot].as_mut() else {
                continue;
            };
            // The input becomes the contribution in place.
            let c = &mut self.frames[slot];
            if leg.fresh {
                for x in c.iter_mut() {
                    *x = sanitize(*x);
                }
            } else {
                c.fill(0.0);
            }
            leg.fresh = false;
            leg.gain.apply(c);
            self.spoken[slot].process(c);
            leg.talk.apply(c);
            for (t, &c) in self.total.iter_mut().zip(c.iter()) {
                *t += c;
            }
        }
        for slot in 0..self.legs.len() {
            let Some(leg) = self.legs[slot].as_mut() else {
                continue;
            };
            // The contribution becomes what this leg hears: N-1.
            let out = &mut self.frames[slot];
            for (o, &t) in out.iter_mut().zip(self.total.iter()) {
                *o = t - *o;
            }
            soft_clip_frame(out);
            leg.hear.apply(out);
            self.heard[slot].process(out);
            if leg.leaving && leg.talk.is_closed() && leg.hear.is_closed() {
                self.legs[slot] = None;
            }
        }
    }

    fn slot_of(&self, id: ParticipantId, allow_leaving: bool) -> Result<usize, MixError> {
        self.legs
            .iter()
            .position(|l| l.is_some_and(|l| l.id == id && (allow_leaving || !l.leaving)))
            .ok_or(MixError::UnknownParticipant(id))
    }

    fn leg_mut(&mut self, id: ParticipantId) -> Result<&mut Leg, MixError> {
        let slot = self.slot_of(id, false)?;
        self.legs[slot]
            .as_mut()
            .ok_or(MixError::UnknownParticipant(id))
    }
}

#[inline]
fn sanitize(x: f32) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(-INPUT_LIMIT, INPUT_LIMIT)
    }
}
