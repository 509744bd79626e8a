//! Any sequence of commands, valid or not, in any order: the engine never
//! panics, never seats more than eight in a room (R-CONF-2), reports every
//! participant that leaves exactly once, and hands back everything it drops.

use agentphone_audio::source::Tone;
use agentphone_audio::{Frame, FRAME_SAMPLES};
use agentphone_engine::clean::Cleaner;
use agentphone_engine::leg::LegAudio;
use agentphone_engine::local::{LocalAudio, LocalInput};
use agentphone_engine::packer::Packer;
use agentphone_engine::room::Room;
use agentphone_engine::{Command, Engine, EngineLimits, Event, PartId, RoomId};
use agentphone_media::codec::CodecKind;
use proptest::prelude::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
enum Op {
    AddRoom(u64),
    CloseRoom(u64),
    AddLeg(u64),
    AddLocal(u64),
    Remove(u64),
    Join(u64, u64),
    Leave(u64),
    Hold(u64, bool),
    Mute(u64, bool),
    Gain(u64, f32),
    Denoise(u64, bool),
    Music(bool),
    Tick(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let part = 1u64..14;
    let room = 1u64..4;
    prop_oneof![
        room.clone().prop_map(Op::AddRoom),
        room.clone().prop_map(Op::CloseRoom),
        part.clone().prop_map(Op::AddLeg),
        part.clone().prop_map(Op::AddLocal),
        part.clone().prop_map(Op::Remove),
        (part.clone(), room).prop_map(|(p, r)| Op::Join(p, r)),
        part.clone().prop_map(Op::Leave),
        (part.clone(), any::<bool>()).prop_map(|(p, h)| Op::Hold(p, h)),
        (part.clone(), any::<bool>()).prop_map(|(p, m)| Op::Mute(p, m)),
        (part.clone(), -1.0f32..10.0).prop_map(|(p, g)| Op::Gain(p, g)),
        (part, any::<bool>()).prop_map(|(p, d)| Op::Denoise(p, d)),
        any::<bool>().prop_map(Op::Music),
        (1u8..4).prop_map(Op::Tick),
    ]
}

fn command(op: &Op) -> Option<Command> {
    Some(match *op {
        Op::AddRoom(r) => Command::AddRoom {
            room: RoomId(r),
            audio: Box::new(Room::new()),
        },
        Op::CloseRoom(r) => Command::CloseRoom { room: RoomId(r) },
        Op::AddLeg(p) => {
            let packer = Packer::new(CodecKind::Pcmu, 0, 20).ok()?;
            let (audio, _rings) = LegAudio::new(packer, Cleaner::new(None, false));
            Command::AddLeg {
                part: PartId(p),
                audio: Box::new(audio),
            }
        }
        Op::AddLocal(p) => Command::AddLocal {
            part: PartId(p),
            audio: Box::new(LocalAudio::new(
                LocalInput::Source(Box::new(Tone::new(440.0, -20.0).ok()?)),
                p % 2 == 0,
            )),
        },
        Op::Remove(p) => Command::Remove { part: PartId(p) },
        Op::Join(p, r) => Command::Join {
            part: PartId(p),
            room: RoomId(r),
        },
        Op::Leave(p) => Command::Leave { part: PartId(p) },
        Op::Hold(p, held) => Command::Hold {
            part: PartId(p),
            held,
        },
        Op::Mute(p, muted) => Command::Mute {
            part: PartId(p),
            muted,
        },
        Op::Gain(p, gain) => Command::Gain {
            part: PartId(p),
            gain,
        },
        Op::Denoise(p, on) => Command::Denoise {
            part: PartId(p),
            on,
        },
        Op::Music(on) => Command::MusicOnHold {
            source: on.then(|| {
                Box::new(Tone::new(300.0, -20.0).expect("valid tone"))
                    as Box<dyn agentphone_audio::source::AudioSource + Send>
            }),
        },
        Op::Tick(_) => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn any_command_sequence_keeps_the_engine_sound(ops in prop::collection::vec(op(), 1..60)) {
        let mut engine = Engine::new(EngineLimits::default());
        let t0 = Instant::now();
        let mut now = t0;
        let mic: Frame = [100.0; FRAME_SAMPLES];
        let mut out: Frame = [0.0; FRAME_SAMPLES];
        // What the engine should hold, by our own account.
        let mut present: HashSet<u64> = HashSet::new();
        let mut removed_events = Vec::new();
        let mut expected_removals = Vec::new();
        for op in &ops {
            match op {
                Op::Tick(n) => {
                    for _ in 0..*n {
                        engine.tick(now, &mic, &mut out);
                        prop_assert!(out.iter().all(|s| s.is_finite()));
                        now += Duration::from_millis(10);
                    }
                }
                other => {
                    match other {
                        Op::AddLeg(p) | Op::AddLocal(p) => { present.insert(*p); }
                        Op::Remove(p) if present.remove(p) => expected_removals.push(*p),
                        _ => {}
                    }
                    if let Some(cmd) = command(other) {
                        engine.handle(cmd);
                    }
                }
            }
            for r in 1..4 {
                if let Some(n) = engine.room_len(RoomId(r)) {
                    prop_assert!(n <= 8, "room {r} seats {n}");
                }
            }
            while let Some(e) = engine.poll_event() {
                if let Event::Removed { part, .. } = e {
                    removed_events.push(part.0);
                }
            }
        }
        // A second AddLeg of a present id is refused, so `present` is exact.
        prop_assert_eq!(engine.len(), present.len());
        engine.tick(now, &mic, &mut out);
        while let Some(e) = engine.poll_event() {
            if let Event::Removed { part, .. } = e {
                removed_events.push(part.0);
            }
        }
        removed_events.sort_unstable();
        expected_removals.sort_unstable();
        prop_assert_eq!(removed_events, expected_removals);
    }
}
