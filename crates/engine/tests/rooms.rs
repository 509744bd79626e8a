//! The engine on a fake clock with real codecs: N-1 rooms, hold with music,
//! click-free moves, the agent leaving a bridge, a drifting sender.

mod sim;

use agentphone_audio::source::Tone;
use agentphone_audio::FRAME_SAMPLES;
use agentphone_engine::local::{LocalAudio, LocalInput};
use agentphone_engine::room::Room;
use agentphone_engine::{Command, EngineError, Event, PartId, RoomId};
use agentphone_media::codec::CodecKind;
use sim::{tail, tone, tone_db, window, Sim};

const AGENT: u64 = 100;

fn add_room(sim: &mut Sim, room: u64) {
    sim.engine.handle(Command::AddRoom {
        room: RoomId(room),
        audio: Box::new(Room::new()),
    });
}

fn join(sim: &mut Sim, part: u64, room: u64) {
    sim.engine.handle(Command::Join {
        part: PartId(part),
        room: RoomId(room),
    });
}

/// The agent at the "sound card": speaks the sim's mic, hears into `speaker`.
fn add_agent(sim: &mut Sim) {
    sim.engine.handle(Command::AddLocal {
        part: PartId(AGENT),
        audio: Box::new(LocalAudio::new(LocalInput::Device, true)),
    });
}

/// Room 1 with two remote legs in it: leg 1 plays 613 Hz, leg 2 907 Hz.
fn two_legs_in_a_room() -> Sim {
    let mut sim = Sim::new();
    add_room(&mut sim, 1);
    sim.add_remote(1, tone(613.0, 6_000.0));
    sim.add_remote(2, tone(907.0, 6_000.0));
    join(&mut sim, 1, 1);
    join(&mut sim, 2, 1);
    sim
}

fn refusals(sim: &Sim) -> Vec<String> {
    sim.events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { error, .. } => Some(error.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn each_participant_hears_every_other_and_not_itself() {
    let mut sim = Sim::new();
    add_room(&mut sim, 1);
    let freqs = [400.0, 700.0, 1100.0, 1500.0];
    for (i, &f) in freqs.iter().enumerate() {
        sim.add_remote(i as u64 + 1, tone(f, 6_000.0));
        join(&mut sim, i as u64 + 1, 1);
    }
    sim.mic = Box::new(tone(2_300.0, 6_000.0));
    add_agent(&mut sim);
    join(&mut sim, AGENT, 1);
    sim.run(300);
    assert!(refusals(&sim).is_empty(), "{:?}", refusals(&sim));
    assert_eq!(sim.engine.room_len(RoomId(1)), Some(5));

    let all = [400.0, 700.0, 1100.0, 1500.0, 2_300.0];
    for (i, &own) in freqs.iter().enumerate() {
        let heard = tail(&sim.remotes[i].heard, 1.5);
        let own_db = tone_db(heard, own);
        for &other in all.iter().filter(|&&f| f != own) {
            let other_db = tone_db(heard, other);
            assert!(
                other_db > -25.0,
                "leg {own} Hz hears {other} Hz at {other_db:.1} dB"
            );
            assert!(
                other_db - own_db >= 40.0,
                "leg {own} Hz hears itself at {own_db:.1} dB against {other} Hz at {other_db:.1} dB"
            );
        }
    }
    let agent = tail(&sim.speaker, 1.5);
    for &f in &freqs {
        assert!(tone_db(agent, f) > -25.0, "agent hears {f} Hz");
    }
    assert!(tone_db(agent, 400.0) - tone_db(agent, 2_300.0) >= 40.0);
}

#[test]
fn a_held_leg_hears_music_and_never_the_agent_then_comes_back() {
    let mut sim = Sim::new();
    add_room(&mut sim, 1);
    sim.add_remote(1, tone(500.0, 6_000.0));
    join(&mut sim, 1, 1);
    sim.mic = Box::new(tone(1_000.0, 6_000.0));
    add_agent(&mut sim);
    join(&mut sim, AGENT, 1);
    sim.engine.handle(Command::MusicOnHold {
        source: Some(Box::new(Tone::new(300.0, -20.0).unwrap())),
    });
    sim.run(200); // 0-2 s talking
    sim.engine.handle(Command::Hold {
        part: PartId(1),
        held: true,
    });
    sim.run(200); // 2-4 s held
    sim.engine.handle(Command::Hold {
        part: PartId(1),
        held: false,
    });
    sim.run(200); // 4-6 s talking again

    // The far end hears with the jitter buffer's and packet's delay: judge
    // each phase away from its edges.
    let heard = &sim.remotes[0].heard;
    let talking = window(heard, 1.0, 1.9);
    assert!(tone_db(talking, 1_000.0) > -20.0);
    assert!(tone_db(talking, 300.0) < -70.0, "no music before hold");
    let held = window(heard, 2.3, 3.9);
    assert!(tone_db(held, 300.0) > -35.0, "music on hold heard");
    assert!(
        tone_db(held, 1_000.0) < -70.0,
        "the agent's microphone must not reach a held leg: {:.1} dB",
        tone_db(held, 1_000.0)
    );
    let back = window(heard, 4.3, 5.9);
    assert!(
        tone_db(back, 1_000.0) > -20.0,
        "agent heard again after resume"
    );
    assert!(tone_db(back, 300.0) < -70.0, "music stops after resume");

    // And the agent does not hear the held customer.
    let agent_held = window(&sim.speaker, 2.3, 3.9);
    assert!(tone_db(agent_held, 500.0) < -70.0);
    assert!(tone_db(window(&sim.speaker, 4.3, 5.9), 500.0) > -20.0);
}

#[test]
fn joins_leaves_moves_and_holds_do_not_click() {
    let mut sim = Sim::new();
    add_room(&mut sim, 1);
    add_room(&mut sim, 2);
    // The listener is the agent (speaker output, no codec in between); the
    // talker is a local tone so every transition shows sample by sample.
    add_agent(&mut sim);
    join(&mut sim, AGENT, 1);
    let amp = 10_000.0;
    sim.engine.handle(Command::AddLocal {
        part: PartId(7),
        audio: Box::new(LocalAudio::new(
            LocalInput::Source(Box::new(Tone::new(440.0, -10.3).unwrap())),
            false,
        )),
    });
    let steps: Vec<Command> = vec![
        Command::Join {
            part: PartId(7),
            room: RoomId(1),
        },
        Command::Join {
            part: PartId(7),
            room: RoomId(2),
        },
        Command::Join {
            part: PartId(7),
            room: RoomId(1),
        },
        Command::Hold {
            part: PartId(7),
            held: true,
        },
        Command::Hold {
            part: PartId(7),
            held: false,
        },
        Command::Mute {
            part: PartId(7),
            muted: true,
        },
        Command::Mute {
            part: PartId(7),
            muted: false,
        },
        Command::Leave { part: PartId(7) },
        Command::Join {
            part: PartId(7),
            room: RoomId(1),
        },
        Command::Remove { part: PartId(7) },
    ];
    sim.run(10);
    for cmd in steps {
        sim.engine.handle(cmd);
        sim.run(7);
    }
    assert!(refusals(&sim).is_empty(), "{:?}", refusals(&sim));
    let s = &sim.speaker;
    assert!(s.iter().any(|&x| x.abs() > 0.8 * amp), "the tone was heard");
    // A 440 Hz sine moves at most 2π·440/48000 of its amplitude per sample
    // (0.058); a cut would jump by up to the whole amplitude.
    let worst = s
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 0.075 * amp,
        "a step of {worst:.0} (amplitude {amp})"
    );
    assert!(
        sim.events
            .iter()
            .any(|e| matches!(e, Event::Removed { part, .. } if *part == PartId(7))),
        "removal reported"
    );
}

#[test]
fn the_bridge_goes_on_after_the_agent_leaves() {
    let mut sim = two_legs_in_a_room();
    sim.mic = Box::new(tone(1_327.0, 6_000.0));
    add_agent(&mut sim);
    join(&mut sim, AGENT, 1);
    // Tones off the 100 Hz grid: G.711's distortion products of a 900 Hz
    // tone land on multiples of gcd(900, 8000) Hz, and would be found there.
    sim.run(150);
    sim.engine.handle(Command::Leave {
        part: PartId(AGENT),
    });
    sim.run(200);
    assert_eq!(sim.engine.room_len(RoomId(1)), Some(2));
    let one = tail(&sim.remote(1).heard, 1.2).to_vec();
    let two = tail(&sim.remote(2).heard, 1.2).to_vec();
    assert!(tone_db(&one, 907.0) > -20.0, "leg 1 still hears leg 2");
    assert!(tone_db(&two, 613.0) > -20.0, "leg 2 still hears leg 1");
    assert!(
        tone_db(&one, 1_327.0) < -70.0,
        "the agent is gone: {:.1} dB",
        tone_db(&one, 1_327.0)
    );
    assert!(tone_db(tail(&sim.speaker, 1.0), 613.0) < -70.0);
}

#[test]
fn a_stalled_clock_tells_every_leg_how_much_time_it_skipped() {
    let mut sim = two_legs_in_a_room();
    // 50 ticks: every leg's 20 ms packets end on odd ticks (see
    // `Packer::push_at`), so the one after them is half full when the clock
    // stalls.
    sim.run(50);
    let before: Vec<usize> = sim.remotes.iter().map(|r| r.heard.len()).collect();
    sim.stall(30);
    sim.run(100);
    for (r, heard_before) in sim.remotes.iter().zip(before) {
        // 30 ticks and the dropped half packet, in 8 kHz RTP units, once,
        // on the first packet after the stall; the packets go on after it.
        assert_eq!(r.gaps, vec![(heard_before, 31 * 80)], "leg {:?}", r.part);
        assert_eq!(r.heard.len(), heard_before + 50 * 960, "leg {:?}", r.part);
    }
    let one = tail(&sim.remote(1).heard, 0.5).to_vec();
    assert!(
        tone_db(&one, 907.0) > -20.0,
        "leg 1 hears leg 2 after the stall"
    );
}

#[test]
fn a_ninth_participant_is_refused_with_the_rule() {
    let mut sim = Sim::new();
    add_room(&mut sim, 1);
    for i in 1..=9 {
        sim.add_remote(i, tone(300.0 + 100.0 * i as f64, 3_000.0));
        join(&mut sim, i, 1);
    }
    sim.run(5);
    assert_eq!(sim.engine.room_len(RoomId(1)), Some(8));
    let refused: Vec<_> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Refused {
                part: Some(p),
                error: e @ EngineError::RoomFull { .. },
            } => Some((*p, e.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, PartId(9));
    assert!(refused[0].1.contains("R-CONF-2"), "{}", refused[0].1);
    assert_eq!(sim.engine.room_of(PartId(9)), None);
}

#[test]
fn a_sender_running_fast_for_ten_minutes_keeps_its_delay_and_plays_without_gaps() {
    let mut sim = Sim::new();
    add_room(&mut sim, 1);
    // Speech-like: 1.2 s of tone, 0.6 s of silence, from a clock 0.1 % fast.
    let mut talk = tone(700.0, 6_000.0);
    let voice = move |n: usize| {
        let v = talk(n);
        if n % 86_400 < 57_600 {
            v
        } else {
            0.0
        }
    };
    let (remote, audio) = sim::Remote::new(1, voice);
    sim.engine.handle(Command::AddLeg {
        part: PartId(1),
        audio,
    });
    sim.remotes.push(remote.with_rate(1.001));
    add_agent(&mut sim);
    join(&mut sim, 1, 1);
    join(&mut sim, AGENT, 1);
    let mut delays = Vec::new();
    for _minute in 0..10 {
        sim.run(6_000);
        // Only the last minute is kept, the test looks at each minute's end.
        let keep = sim.speaker.len().saturating_sub(48_000 * 60);
        sim.speaker.drain(..keep);
        sim.events.clear();
        delays.push(delay_ms(&sim));
    }
    let report = removed_report(&mut sim, 1);
    let jitter = report.jitter.expect("audio arrived");
    // 0.1 % of 10 min is 600 ms of surplus audio: it must have been shed,
    // through the silences, not piled up in the buffer.
    assert!(
        delays.iter().all(|&d| d <= 80),
        "delay per minute {delays:?} ms"
    );
    // Shed by dropping silent packets or by shortening speech a pitch period
    // at a time, which the buffer prefers as soon as the delay drifts up.
    let shed_ms = jitter.dropped * 20 + report.recovery.shortened_ms();
    assert!(
        shed_ms >= 400,
        "{shed_ms} ms shed: {jitter:?} {:?}",
        report.recovery
    );
    // A fast sender never leaves the buffer empty: no concealment pattern.
    assert!(jitter.concealed <= 2, "{jitter:?}");
    assert_eq!(jitter.lost, 0, "{jitter:?}");
}

/// The buffer's current delay, read from a level-free probe: remove and
/// re-add is too intrusive, so the figure comes from the leg's report at the
/// end; in between the delay is inferred from the speaker's tone onsets.
fn delay_ms(sim: &Sim) -> u32 {
    // Onset of the last tone burst in the speaker against the sender's clock:
    // bursts start every 1.8 s of sender time (1.8 / 1.001 s of engine time).
    let s = &sim.speaker;
    let frames = s.len() / FRAME_SAMPLES;
    let loud = |f: usize| {
        s[f * FRAME_SAMPLES..(f + 1) * FRAME_SAMPLES]
            .iter()
            .any(|x| x.abs() > 1_000.0)
    };
    let mut onset = None;
    for f in (1..frames).rev() {
        if loud(f) && !loud(f - 1) {
            onset = Some(f);
            break;
        }
    }
    let onset = onset.expect("a burst onset in the last minute");
    let at = sim.elapsed.as_secs_f64() - (frames - onset) as f64 * 0.010;
    let period = 1.8 / 1.001;
    let sent = (at / period).floor() * period;
    ((at - sent) * 1_000.0).round() as u32
}

fn removed_report(sim: &mut Sim, part: u64) -> agentphone_engine::leg::LegFigures {
    sim.engine.handle(Command::Remove { part: PartId(part) });
    sim.run(2);
    sim.events
        .iter()
        .find_map(|e| match e {
            Event::Removed {
                part: p, report, ..
            } if *p == PartId(part) => Some(report.leg),
            _ => None,
        })
        .expect("removal reported")
}

#[test]
fn a_name_removed_and_added_again_in_one_tick_is_a_new_participant() {
    let mut sim = Sim::new();
    add_room(&mut sim, 3);
    add_agent(&mut sim);
    join(&mut sim, AGENT, 3);
    sim.engine.handle(Command::Remove {
        part: PartId(AGENT),
    });
    add_agent(&mut sim);
    assert_eq!(sim.engine.len(), 1);
    sim.run(2);
    assert!(refusals(&sim).is_empty(), "{:?}", refusals(&sim));
    let removed = sim
        .events
        .iter()
        .filter(|e| matches!(e, Event::Removed { part, .. } if *part == PartId(AGENT)))
        .count();
    assert_eq!(removed, 1, "the first one left, once");
    assert_eq!(sim.engine.len(), 1, "the second one stays");
}

/// A voice-like sound: a 140 Hz harmonic stack (`pitch` apart per leg),
/// syllables at 4 Hz.
fn voiced(pitch: f64) -> impl FnMut(usize) -> f32 {
    move |n| {
        let t = n as f64 / 48_000.0;
        let syllable = (0.5 - 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).cos()).powi(2);
        let stack: f64 = (1..=12)
            .map(|h| (2.0 * std::f64::consts::PI * pitch * f64::from(h) * t).sin() / f64::from(h))
            .sum();
        (4_000.0 * syllable * stack) as f32
    }
}

/// Share of the last `n` packets the engine sent `part` that were CELT-only
/// (Opus TOC configurations 16-31).
fn celt_share(sim: &mut Sim, part: u64, n: usize) -> f64 {
    let sent = &sim.remote(part).first_bytes;
    let last = &sent[sent.len().saturating_sub(n)..];
    last.iter().filter(|&&toc| toc >> 3 >= 16).count() as f64 / last.len().max(1) as f64
}

#[test]
fn a_growing_opus_conference_moves_its_encoders_to_celt_and_back() {
    let mut sim = Sim::new();
    add_room(&mut sim, 1);
    for leg in 1..=2 {
        sim.add_remote_with(leg, CodecKind::Opus, voiced(120.0 + 20.0 * leg as f64));
        join(&mut sim, leg, 1);
    }
    sim.run(150);
    // A call's encoder: SILK (hybrid), with its in-band FEC.
    assert!(celt_share(&mut sim, 1, 25) < 0.2, "two legs");
    for leg in 3..=5 {
        sim.add_remote_with(leg, CodecKind::Opus, voiced(120.0 + 20.0 * leg as f64));
        join(&mut sim, leg, 1);
    }
    sim.run(150);
    // Five Opus legs: each encoder in CELT, and still carrying the others.
    for leg in 1..=5 {
        assert_eq!(celt_share(&mut sim, leg, 25), 1.0, "five legs: leg {leg}");
        let heard = tail(&sim.remote(leg).heard, 0.5);
        let rms = (heard.iter().map(|x| x * x).sum::<f32>() / heard.len() as f32).sqrt();
        assert!(
            rms > 500.0,
            "five legs: leg {leg} hears the others ({rms:.0} RMS)"
        );
    }
    for leg in 3..=5 {
        sim.engine.handle(Command::Remove { part: PartId(leg) });
    }
    sim.run(150);
    assert!(celt_share(&mut sim, 1, 25) < 0.2, "back to two legs");
}

#[test]
fn legs_that_joined_on_different_ticks_send_on_the_same_ticks() {
    // The network thread is woken for sends after each tick that gave any
    // leg a packet: aligned, seven 20 ms legs wake it 50 times a second,
    // not 100.
    let mut sim = Sim::new();
    add_room(&mut sim, 1);
    sim.add_remote(1, tone(613.0, 6_000.0));
    join(&mut sim, 1, 1);
    sim.run(3);
    sim.add_remote(2, tone(907.0, 6_000.0));
    join(&mut sim, 2, 1);
    sim.run(4);
    sim.add_remote(3, tone(1_201.0, 6_000.0));
    join(&mut sim, 3, 1);
    let mut sent_on = vec![Vec::new(); 3];
    for tick in 0..40 {
        let before: Vec<usize> = (1..=3).map(|r| sim.remote(r).first_bytes.len()).collect();
        sim.run(1);
        for (r, ticks) in sent_on.iter_mut().enumerate() {
            if sim.remote(r as u64 + 1).first_bytes.len() > before[r] {
                ticks.push(tick);
            }
        }
    }
    let every_other: Vec<usize> = (sent_on[0][0]..40).step_by(2).collect();
    assert_eq!(sent_on[0], every_other, "one packet every 20 ms");
    assert_eq!(sent_on[1], sent_on[0], "leg 2 sends with leg 1");
    assert_eq!(sent_on[2], sent_on[0], "leg 3 sends with leg 1");
    // The packets still carry the room: leg 3 hears legs 1 and 2.
    sim.run(100);
    let heard = tail(&sim.remote(3).heard, 0.5);
    assert!(tone_db(heard, 613.0) > -20.0 && tone_db(heard, 907.0) > -20.0);
}
