//! The engine: every participant and room of the process, advanced one 10 ms
//! tick at a time. See the crate documentation for the data path.

use crate::command::{Command, EngineError, Event, PartReport, RecordTarget, Retired};
use crate::leg::LegAudio;
use crate::local::LocalAudio;
use crate::room::Room;
use crate::{PartId, RoomId};
use agentphone_audio::mixer::{ParticipantId, Ramp};
use agentphone_audio::source::AudioSource;
use agentphone_audio::{Frame, FRAME_SAMPLES};
use agentphone_media::codec::{OpusEffort, MAX_PACKET_SAMPLES};
use agentphone_media::stretch::room_to_lengthen;
use std::collections::VecDeque;
use std::time::Instant;

/// Ticks without received audio after which a leg counts as silent (2 s).
const SILENT_TICKS: u32 = 200;
/// Ticks between two level reports (0.5 s).
const LEVEL_TICKS: u64 = 50;

/// How much each Opus encoder may spend when the engine encodes `legs` Opus
/// legs: everything for a call or two, less as a conference grows, so eight
/// parties fit the CPU budget (figures at [`OpusEffort`]). Up to four legs
/// SILK keeps its in-band FEC at complexity 6 (PESQ-WB 4.31 against 4.38, 70 %
/// of the encode time); from five on the encoders go to CELT, which at
/// complexity 8 costs about a quarter of full SILK for 4.18 (SILK at
/// complexity 1, the previous choice, cost more for 3.48; CELT at 1 costs
/// half of CELT at 8 for 3.75). Without in-band FEC a leg that negotiated
/// RFC 2198 redundancy still has single losses carried whole; other peers'
/// losses are concealed.
pub fn opus_effort(legs: usize) -> OpusEffort {
    match legs {
        0..=2 => OpusEffort::FULL,
        3..=4 => OpusEffort {
            complexity: 6,
            silk: true,
        },
        _ => OpusEffort {
            complexity: 8,
            silk: false,
        },
    }
}

/// How much the engine holds; every container is sized from these at
/// construction so no tick allocates.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    /// Participants (legs and local endpoints).
    pub parts: usize,
    /// Rooms.
    pub rooms: usize,
    /// Events waiting to be polled; beyond it level reports are dropped first.
    pub events: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        // A busy `answer` carries hundreds of calls (a leg and a local end
        // each); a slot costs a few bytes until used.
        EngineLimits {
            parts: 2_048,
            rooms: 1_024,
            events: 4_096,
        }
    }
}

enum Kind {
    Leg(Box<LegAudio>),
    Local(Box<LocalAudio>),
}

/// Where a participant sits in a room's mixer.
#[derive(Clone, Copy)]
struct Seat {
    room: RoomId,
    /// The room's slot in `Engine::rooms` (stable while the room is open).
    slot: usize,
    id: ParticipantId,
}

struct Part {
    id: PartId,
    kind: Kind,
    seat: Option<Seat>,
    /// The seat it is fading out of this tick (moved or removed).
    leaving: Option<Seat>,
    /// Taken out of the engine once `leaving` has faded.
    removing: bool,
    held: bool,
    muted: bool,
    gain: f32,
    /// Music on hold fades in and out with hold, so nothing clicks.
    moh: Ramp,
    /// A local end's voice, which it hears back with the mix (echo
    /// reference, recording); a leg's voice goes straight to its room, through
    /// the engine's one buffer.
    voice: Option<Box<Frame>>,
    silent_ticks: u32,
    reported_silent: bool,
    played_once: bool,
}

/// The media engine's core. See the crate documentation.
pub struct Engine {
    parts: Vec<Part>,
    /// Open rooms; a closed room leaves its slot empty so seats keep pointing
    /// at the right one.
    rooms: Vec<Option<(RoomId, Box<Room>)>>,
    moh: Option<Box<dyn AudioSource + Send>>,
    moh_frame: Box<Frame>,
    /// `moh_frame` is all zeros (so a tick with nobody held need not write
    /// it again: 2 KB the tick would otherwise fetch only to clear).
    moh_silent: bool,
    scratch: Box<Frame>,
    /// A leg's voice on its way to the mixer, and what a participant hears
    /// on its way out: one frame each for the whole engine, not per
    /// participant.
    voice: Box<Frame>,
    heard: Box<Frame>,
    /// Where every leg's packet is decoded before its first 10 ms go out:
    /// one buffer for the whole engine, warm in the cache from leg to leg,
    /// where each chain's own buffer was cold at every packet (see
    /// `Listener::play`). Sized for the longest packet, lengthened.
    decoded: Box<[f32]>,
    events: VecDeque<Event>,
    limits: EngineLimits,
    ticks: u64,
    events_lost: u64,
    /// Opus legs the effort was last set for.
    opus_legs: usize,
}

impl Engine {
    /// An empty engine sized by `limits`.
    pub fn new(limits: EngineLimits) -> Self {
        Engine {
            parts: Vec::with_capacity(limits.parts),
            rooms: Vec::with_capacity(limits.rooms),
            moh: None,
            moh_frame: Box::new([0.0; FRAME_SAMPLES]),
            moh_silent: true,
            scratch: Box::new([0.0; FRAME_SAMPLES]),
            voice: Box::new([0.0; FRAME_SAMPLES]),
            heard: Box::new([0.0; FRAME_SAMPLES]),
            decoded: vec![0.0; room_to_lengthen(MAX_PACKET_SAMPLES)].into_boxed_slice(),
            events: VecDeque::with_capacity(limits.events),
            limits,
            ticks: 0,
            events_lost: 0,
            opus_legs: 0,
        }
    }

    /// Participants in the engine (legs and local endpoints).
    pub fn len(&self) -> usize {
        self.parts.iter().filter(|p| !p.removing).count()
    }

    /// True when no participant is in the engine.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Participants in `room` (None: no such room).
    pub fn room_len(&self, room: RoomId) -> Option<usize> {
        self.room(room).map(|r| r.len())
    }

    /// The room a participant sits in.
    pub fn room_of(&self, part: PartId) -> Option<RoomId> {
        self.parts
            .iter()
            .find(|p| p.id == part && !p.removing)
            .and_then(|p| p.seat.map(|s| s.room))
    }

    /// Ticks run so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Events dropped because nobody polled them (the queue was full).
    pub fn events_lost(&self) -> u64 {
        self.events_lost
    }

    /// After a tick: wakes the network half of every leg that was given a
    /// packet (its waker, [`crate::leg::LegAudio::with_waker`]). Kept apart
    /// from [`tick`](Self::tick) so the tick itself makes no system calls;
    /// the audio thread calls it once the tick's work is done.
    pub fn wake_legs(&mut self) {
        for p in &mut self.parts {
            if let Kind::Leg(leg) = &mut p.kind {
                leg.wake();
            }
        }
    }

    /// The audio clock fell `ticks` ticks behind and restarted instead of
    /// rushing them out (a suspended process, a stalled VM): every leg's next
    /// packet tells its network half to move the RTP clock on by that time
    /// ([`crate::packet::OutboundPacket::skipped`]). Without it the far end
    /// reads the stall as network delay and keeps playing that late.
    pub fn skip(&mut self, ticks: u32) {
        for p in &mut self.parts {
            if let Kind::Leg(leg) = &mut p.kind {
                leg.packer_mut().skip(ticks);
            }
        }
    }

    /// The next event for the control side.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Carries out a command (normally between two ticks).
    pub fn handle(&mut self, cmd: Command) {
        let part = command_part(&cmd);
        if let Err(error) = self.apply(cmd) {
            self.emit(Event::Refused { part, error });
        }
    }

    fn apply(&mut self, cmd: Command) -> Result<(), EngineError> {
        let result = self.apply_one(cmd);
        self.retune_opus();
        result
    }

    /// Sets every Opus encoder's effort for the number of Opus legs, when
    /// that number changed.
    fn retune_opus(&mut self) {
        let is_opus = |p: &Part| matches!(&p.kind, Kind::Leg(l) if !p.removing && l.packer_kind() == agentphone_media::codec::CodecKind::Opus);
        let legs = self.parts.iter().filter(|p| is_opus(p)).count();
        if legs == self.opus_legs {
            return;
        }
        self.opus_legs = legs;
        let effort = opus_effort(legs);
        for p in &mut self.parts {
            if let Kind::Leg(l) = &mut p.kind {
                l.packer_mut().set_effort(effort);
            }
        }
    }

    fn apply_one(&mut self, cmd: Command) -> Result<(), EngineError> {
        match cmd {
            Command::AddRoom { room, audio } => self.add_room(room, audio),
            Command::CloseRoom { room } => self.close_room(room),
            Command::AddLeg { part, audio } => self.add_part(part, Kind::Leg(audio)),
            Command::AddLocal { part, audio } => self.add_part(part, Kind::Local(audio)),
            Command::Remove { part } => self.remove(part),
            Command::Join { part, room } => self.join(part, room),
            Command::Leave { part } => {
                let i = self.index(part)?;
                self.unseat(i);
                Ok(())
            }
            Command::Hold { part, held } => self.set_held(part, held),
            Command::Mute { part, muted } => {
                let i = self.index(part)?;
                self.parts[i].muted = muted;
                if let Some(seat) = self.parts[i].seat {
                    let room = self.room_mut(seat.room)?;
                    let _ = room.mixer.set_muted(seat.id, muted);
                }
                Ok(())
            }
            Command::Gain { part, gain } => self.set_gain(part, gain),
            Command::Denoise { part, on } => self.set_denoise(part, on),
            Command::SetPacker { part, packer } => {
                let i = self.index(part)?;
                match &mut self.parts[i].kind {
                    Kind::Leg(leg) => {
                        let old = leg.swap_packer(packer);
                        // The new encoder starts at full effort: retune.
                        self.opus_legs = usize::MAX;
                        self.emit(Event::Retired(Retired::Packer(old)));
                        Ok(())
                    }
                    Kind::Local(_) => Err(EngineError::NotApplicable {
                        part,
                        what: "a local endpoint has no encoder",
                    }),
                }
            }
            Command::MusicOnHold { source } => {
                if let Some(old) = std::mem::replace(&mut self.moh, source) {
                    self.emit(Event::Retired(Retired::Source(old)));
                }
                Ok(())
            }
            Command::Record { target, tap } => self.record(target, tap),
            Command::PauseRecording { target, paused } => {
                let tap = match target {
                    RecordTarget::Room(room) => &mut self.room_mut(room)?.recorder,
                    RecordTarget::Local(part) => self.local_mut(part)?.recorder_mut(),
                };
                match tap {
                    Some(t) => {
                        t.set_paused(paused);
                        Ok(())
                    }
                    None => Err(EngineError::NotRecording(target)),
                }
            }
        }
    }

    fn add_room(&mut self, room: RoomId, audio: Box<Room>) -> Result<(), EngineError> {
        if self.room(room).is_some() {
            self.emit(Event::Retired(Retired::Room(audio)));
            return Err(EngineError::DuplicateRoom(room));
        }
        match self.rooms.iter().position(Option::is_none) {
            Some(free) => self.rooms[free] = Some((room, audio)),
            None if self.rooms.len() < self.limits.rooms => self.rooms.push(Some((room, audio))),
            None => {
                self.emit(Event::Retired(Retired::Room(audio)));
                return Err(EngineError::Capacity("rooms"));
            }
        }
        Ok(())
    }

    fn close_room(&mut self, room: RoomId) -> Result<(), EngineError> {
        let at = self.slot_of(room)?;
        for p in &mut self.parts {
            if p.seat.is_some_and(|s| s.room == room) {
                p.seat = None;
            }
            if p.leaving.is_some_and(|s| s.room == room) {
                p.leaving = None;
            }
        }
        if let Some((_, audio)) = self.rooms[at].take() {
            self.emit(Event::Retired(Retired::Room(audio)));
        }
        Ok(())
    }

    fn add_part(&mut self, id: PartId, kind: Kind) -> Result<(), EngineError> {
        // A participant still fading out under the same name does not count:
        // it leaves at the end of this tick.
        let refuse = if self.parts.iter().any(|p| p.id == id && !p.removing) {
            Some(EngineError::DuplicatePart(id))
        } else if self.parts.len() >= self.limits.parts {
            Some(EngineError::Capacity("participants"))
        } else {
            None
        };
        if let Some(error) = refuse {
            let retired = match kind {
                Kind::Leg(l) => Retired::Leg(l),
                Kind::Local(l) => Retired::Local(l),
            };
            self.emit(Event::Retired(retired));
            return Err(error);
        }
        let mut kind = kind;
        let voice = match &mut kind {
            Kind::Local(local) => local.take_voice(),
            Kind::Leg(_) => None,
        };
        self.parts.push(Part {
            id,
            kind,
            seat: None,
            leaving: None,
            removing: false,
            held: false,
            muted: false,
            gain: 1.0,
            moh: Ramp::at(0.0),
            voice,
            silent_ticks: 0,
            reported_silent: false,
            played_once: false,
        });
        Ok(())
    }

    fn remove(&mut self, part: PartId) -> Result<(), EngineError> {
        let i = self.index(part)?;
        self.unseat(i);
        self.parts[i].removing = true;
        if self.parts[i].leaving.is_none() {
            self.retire_part(i);
        }
        Ok(())
    }

    /// Moves a participant out of its seat; it fades out of the room over the
    /// next tick.
    fn unseat(&mut self, i: usize) {
        let Some(seat) = self.parts[i].seat.take() else {
            return;
        };
        if let Some((_, room)) = self.rooms.get_mut(seat.slot).and_then(Option::as_mut) {
            if room.mixer.remove(seat.id).is_ok() {
                self.parts[i].leaving = Some(seat);
            }
        }
    }

    fn join(&mut self, part: PartId, room: RoomId) -> Result<(), EngineError> {
        let i = self.index(part)?;
        if self.parts[i].seat.is_some_and(|s| s.room == room) {
            return Ok(());
        }
        let (held, muted, gain) = {
            let p = &self.parts[i];
            (p.held, p.muted, p.gain)
        };
        let slot = self.slot_of(room)?;
        let r = self.room_mut(room)?;
        let id = r.mixer.add().map_err(|_| EngineError::RoomFull {
            room,
            max: r.mixer.capacity(),
        })?;
        let _ = r.mixer.set_held(id, held);
        let _ = r.mixer.set_muted(id, muted);
        let _ = r.mixer.set_gain(id, gain);
        self.unseat(i);
        self.parts[i].seat = Some(Seat { room, slot, id });
        Ok(())
    }

    fn set_held(&mut self, part: PartId, held: bool) -> Result<(), EngineError> {
        let i = self.index(part)?;
        let p = &mut self.parts[i];
        p.held = held;
        p.moh.set_target(if held { 1.0 } else { 0.0 });
        if let Some(seat) = p.seat {
            let room = self.room_mut(seat.room)?;
            let _ = room.mixer.set_held(seat.id, held);
        }
        Ok(())
    }

    fn set_gain(&mut self, part: PartId, gain: f32) -> Result<(), EngineError> {
        if !(0.0..=agentphone_audio::mixer::MAX_GAIN).contains(&gain) {
            return Err(EngineError::InvalidGain(gain));
        }
        let i = self.index(part)?;
        self.parts[i].gain = gain;
        if let Some(seat) = self.parts[i].seat {
            let room = self.room_mut(seat.room)?;
            let _ = room.mixer.set_gain(seat.id, gain);
        }
        Ok(())
    }

    fn set_denoise(&mut self, part: PartId, on: bool) -> Result<(), EngineError> {
        let i = self.index(part)?;
        let done = match &mut self.parts[i].kind {
            Kind::Leg(leg) => leg.cleaner_mut().set_on(on),
            Kind::Local(local) => local.cleaner_mut().is_some_and(|c| c.set_on(on)),
        };
        if done {
            Ok(())
        } else {
            Err(EngineError::NotApplicable {
                part,
                what: "this endpoint was created without noise removal",
            })
        }
    }

    fn record(
        &mut self,
        target: RecordTarget,
        tap: Option<crate::record::RecordTap>,
    ) -> Result<(), EngineError> {
        let slot = match target {
            RecordTarget::Room(room) => &mut self.room_mut(room)?.recorder,
            RecordTarget::Local(part) => self.local_mut(part)?.recorder_mut(),
        };
        if let Some(old) = std::mem::replace(slot, tap) {
            self.emit(Event::Retired(Retired::Tap(old)));
        }
        Ok(())
    }

    /// One 10 ms tick at `now`: `mic` is the sound card's (or null clock's)
    /// microphone frame, `speaker` receives what local endpoints on the device
    /// hear. Allocation-free.
    pub fn tick(&mut self, now: Instant, mic: &Frame, speaker: &mut Frame) {
        self.ticks += 1;
        speaker.fill(0.0);
        self.read_music();
        self.gather(now, mic);
        for (_, room) in self.rooms.iter_mut().flatten() {
            room.mix();
        }
        self.deliver(now, speaker);
        if self.ticks.is_multiple_of(LEVEL_TICKS) {
            self.report_levels();
        }
        self.finish_leaving();
    }

    fn read_music(&mut self) {
        let anyone_held = self.parts.iter().any(|p| p.held);
        match (&mut self.moh, anyone_held) {
            (Some(src), true) => {
                src.read_frame(&mut self.moh_frame);
                self.moh_silent = false;
            }
            _ if self.moh_silent => {}
            _ => {
                self.moh_frame.fill(0.0);
                self.moh_silent = true;
            }
        }
    }

    /// Every participant's voice for this tick into its room's mixer.
    fn gather(&mut self, now: Instant, mic: &Frame) {
        for i in 0..self.parts.len() {
            let p = &mut self.parts[i];
            let voice = match p.voice.as_deref_mut() {
                Some(own) => own,
                None => &mut *self.voice,
            };
            let mut retired = None;
            let audible = match &mut p.kind {
                Kind::Leg(leg) => {
                    let (audible, old) = leg.hear(now, voice, &mut self.decoded);
                    retired = old;
                    Some(audible)
                }
                Kind::Local(local) => {
                    local.speak(mic, voice);
                    None
                }
            };
            for seat in [p.seat, p.leaving].into_iter().flatten() {
                if let Some((_, room)) = self.rooms.get_mut(seat.slot).and_then(Option::as_mut) {
                    let _ = room.mixer.set_input(seat.id, voice);
                }
            }
            if let Some(old) = retired {
                self.emit(Event::Retired(Retired::Chain(old)));
            }
            if let Some(audible) = audible {
                self.track_silence(i, audible);
            }
        }
    }

    fn track_silence(&mut self, i: usize, audible: bool) {
        let p = &mut self.parts[i];
        let event = if audible {
            p.played_once = true;
            p.silent_ticks = 0;
            let back = p.reported_silent;
            p.reported_silent = false;
            back.then_some(Event::LegAudible { part: p.id })
        } else if p.played_once && !p.reported_silent {
            p.silent_ticks += 1;
            (p.silent_ticks >= SILENT_TICKS).then(|| {
                p.reported_silent = true;
                Event::LegSilent { part: p.id }
            })
        } else {
            None
        };
        if let Some(e) = event {
            self.emit(e);
        }
    }

    /// What every participant hears this tick: its room's N-1 mix (and the
    /// fading tail of a room it just left), plus music on hold.
    fn deliver(&mut self, now: Instant, speaker: &mut Frame) {
        let heard = &mut *self.heard;
        let tick = self.ticks;
        for p in &mut self.parts {
            heard.fill(0.0);
            for seat in [p.seat, p.leaving].into_iter().flatten() {
                if let Some((_, room)) = self.rooms.get(seat.slot).and_then(Option::as_ref) {
                    if let Ok(out) = room.mixer.output(seat.id) {
                        for (h, &o) in heard.iter_mut().zip(out.iter()) {
                            *h += o;
                        }
                    }
                }
            }
            if !p.moh.is_closed() {
                self.scratch.copy_from_slice(&self.moh_frame[..]);
                p.moh.apply(&mut self.scratch[..]);
                for (h, &m) in heard.iter_mut().zip(self.scratch.iter()) {
                    *h += m;
                }
            }
            match (&mut p.kind, p.voice.as_deref()) {
                (Kind::Leg(leg), _) => leg.say(now, tick, heard),
                (Kind::Local(local), Some(voice)) => local.listen(heard, voice, speaker),
                (Kind::Local(local), None) => local.listen(heard, &self.voice, speaker),
            }
        }
    }

    fn report_levels(&mut self) {
        for i in 0..self.parts.len() {
            let p = &self.parts[i];
            let Some(seat) = p.seat else { continue };
            let Some((_, room)) = self.rooms.get(seat.slot).and_then(Option::as_ref) else {
                continue;
            };
            let (Ok(spoken), Ok(heard)) = (
                room.mixer.spoken_level(seat.id),
                room.mixer.heard_level(seat.id),
            ) else {
                continue;
            };
            let event = Event::Levels {
                part: p.id,
                spoken: spoken.smoothed(),
                heard: heard.smoothed(),
            };
            // Levels are the first thing to give up when nobody reads events.
            if self.events.len() < self.limits.events / 2 {
                self.emit(event);
            }
        }
    }

    /// Seats that faded out this tick are free; removed participants leave.
    fn finish_leaving(&mut self) {
        let mut i = 0;
        while i < self.parts.len() {
            self.parts[i].leaving = None;
            if self.parts[i].removing {
                self.retire_part(i);
            } else {
                i += 1;
            }
        }
    }

    fn retire_part(&mut self, i: usize) {
        let p = self.parts.swap_remove(i);
        let (report, retired) = match p.kind {
            Kind::Leg(leg) => (
                PartReport {
                    leg: leg.figures(),
                    voice_cleaned: None,
                },
                Retired::Leg(leg),
            ),
            Kind::Local(mut local) => {
                local.return_voice(p.voice);
                (
                    PartReport {
                        voice_cleaned: local.cleaned(),
                        ..PartReport::default()
                    },
                    Retired::Local(local),
                )
            }
        };
        self.emit(Event::Removed {
            part: p.id,
            report,
            retired,
        });
    }

    /// Queues an event. The queue was sized at construction; when it is full
    /// the event is lost (counted), except that anything holding memory is
    /// still queued: dropping it here would free memory on the audio thread.
    fn emit(&mut self, event: Event) {
        let holds_memory = matches!(event, Event::Removed { .. } | Event::Retired(_));
        if self.events.len() < self.events.capacity() || holds_memory {
            self.events.push_back(event);
        } else {
            self.events_lost += 1;
        }
    }

    fn index(&self, part: PartId) -> Result<usize, EngineError> {
        self.parts
            .iter()
            .position(|p| p.id == part && !p.removing)
            .ok_or(EngineError::UnknownPart(part))
    }

    fn slot_of(&self, room: RoomId) -> Result<usize, EngineError> {
        self.rooms
            .iter()
            .position(|r| r.as_ref().is_some_and(|(id, _)| *id == room))
            .ok_or(EngineError::UnknownRoom(room))
    }

    fn room(&self, room: RoomId) -> Option<&Room> {
        let slot = self.slot_of(room).ok()?;
        self.rooms[slot].as_ref().map(|(_, r)| &**r)
    }

    fn room_mut(&mut self, room: RoomId) -> Result<&mut Room, EngineError> {
        let slot = self.slot_of(room)?;
        self.rooms[slot]
            .as_mut()
            .map(|(_, r)| &mut **r)
            .ok_or(EngineError::UnknownRoom(room))
    }

    fn local_mut(&mut self, part: PartId) -> Result<&mut LocalAudio, EngineError> {
        let i = self.index(part)?;
        match &mut self.parts[i].kind {
            Kind::Local(l) => Ok(l),
            Kind::Leg(_) => Err(EngineError::NotApplicable {
                part,
                what: "only local endpoints record what they hear",
            }),
        }
    }
}

fn command_part(cmd: &Command) -> Option<PartId> {
    match cmd {
        Command::AddLeg { part, .. }
        | Command::AddLocal { part, .. }
        | Command::Remove { part }
        | Command::Join { part, .. }
        | Command::Leave { part }
        | Command::Hold { part, .. }
        | Command::Mute { part, .. }
        | Command::Gain { part, .. }
        | Command::Denoise { part, .. }
        | Command::SetPacker { part, .. } => Some(*part),
        Command::Record {
            target: RecordTarget::Local(part),
            ..
        }
        | Command::PauseRecording {
            target: RecordTarget::Local(part),
            ..
        } => Some(*part),
        _ => None,
    }
}
