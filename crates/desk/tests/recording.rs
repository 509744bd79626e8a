//! R-REC-1..3, R-NR-2 and DTMF.
mod common;
use agentphone_desk::noise::{NoisePolicy, NoiseTarget};
use agentphone_desk::*;
use common::*;
use std::time::Duration;

fn recorded() -> H {
    H::new(DeskConfig {
        record: true,
        record_pause_max: Duration::from_secs(30),
        ..DeskConfig::default()
    })
}

fn pause(p: bool) -> AgentCommand {
    AgentCommand::Record {
        call: None,
        pause: p,
    }
}

#[test]
fn r_rec_1_answered_calls_are_recorded_and_stopped_at_the_end() {
    let mut h = recorded();
    let c = h.offer("sip:+12015532447@carrier.example");
    h.ok(AgentCommand::Answer { call: Some(c) });
    h.drain();
    h.input(CallInput::Answered { call: c });
    assert_eq!(
        h.actions(),
        vec![Action::RecordStart {
            room: RoomRef(1),
            name: format!("call-{c}-12015532447")
        }]
    );
    assert_eq!(h.view(c).recording, "on");
    h.hangup(c).unwrap();
    assert_eq!(
        h.actions(),
        vec![
            Action::Hangup { call: c },
            Action::RecordStop { room: RoomRef(1) },
            Action::CloseRoom { room: RoomRef(1) }
        ]
    );
}

#[test]
fn r_rec_1_the_file_name_is_safe_and_masked_under_sensitive_data() {
    let mut h = H::new(DeskConfig {
        record: true,
        sensitive_data: true,
        ..DeskConfig::default()
    });
    let c = h.offer("sip:+12015532447@carrier.example");
    h.ok(AgentCommand::Answer { call: Some(c) });
    h.drain();
    h.input(CallInput::Answered { call: c });
    assert_eq!(
        h.actions(),
        vec![Action::RecordStart {
            room: RoomRef(1),
            name: format!("call-{c}-2447")
        }]
    );
    let mut h = recorded();
    let c = h.offer("sip:../../etc/pa%2fss wd@x");
    h.ok(AgentCommand::Answer { call: Some(c) });
    h.drain();
    h.input(CallInput::Answered { call: c });
    let acts = h.actions();
    let Action::RecordStart { name, .. } = &acts[0] else {
        panic!()
    };
    assert!(name
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch)));
    assert!(!name.contains('/'));
}

#[test]
fn r_rec_1_nothing_to_pause_when_recording_is_off() {
    let mut h = H::default();
    h.customer();
    h.refused(pause(true), "R-REC-1");
}

#[test]
fn r_rec_2_a_paused_recording_resumes_by_itself() {
    let mut h = recorded();
    let c = h.customer();
    h.ok(pause(true));
    assert_eq!(
        h.actions(),
        vec![Action::RecordPause {
            room: RoomRef(1),
            paused: true
        }]
    );
    assert!(h.events().contains(&DeskEvent::Recording {
        call: c,
        paused: true,
        resumes_in_ms: Some(30_000)
    }));
    assert_eq!(h.view(c).recording, "paused");
    h.advance(Duration::from_secs(29));
    assert_eq!(h.actions(), vec![]);
    h.advance(Duration::from_secs(1));
    assert_eq!(
        h.actions(),
        vec![Action::RecordPause {
            room: RoomRef(1),
            paused: false
        }]
    );
    assert!(h.events().contains(&DeskEvent::Recording {
        call: c,
        paused: false,
        resumes_in_ms: None
    }));
    assert_eq!(h.view(c).recording, "on");
}

#[test]
fn r_rec_2_the_agent_resumes_a_paused_recording() {
    let mut h = recorded();
    h.customer();
    h.ok(pause(true));
    h.drain();
    h.ok(pause(false));
    assert_eq!(
        h.actions(),
        vec![Action::RecordPause {
            room: RoomRef(1),
            paused: false
        }]
    );
    assert_eq!(h.desk.poll_timeout(), None);
}

#[test]
fn r_rec_3_pause_is_refused_during_consult_and_conference() {
    let mut h = recorded();
    let c = h.customer();
    let k = h.answered_consult(c, "2001");
    assert_eq!(h.view(k).recording, "on");
    h.refused(
        AgentCommand::Record {
            call: Some(c),
            pause: true,
        },
        "R-REC-3",
    );
    h.refused(
        AgentCommand::Record {
            call: Some(k),
            pause: true,
        },
        "R-REC-3",
    );
    assert!(!has_verb(&h.view(c), "record"));
    h.ok(AgentCommand::Conference { call: None });
    assert!(h
        .actions()
        .contains(&Action::RecordStop { room: RoomRef(2) }));
    h.refused(
        AgentCommand::Record {
            call: Some(c),
            pause: true,
        },
        "R-REC-3",
    );
}

#[test]
fn r_nr_2_a_locked_noise_removal_cannot_be_switched_off() {
    let mut h = H::new(DeskConfig {
        noise: NoisePolicy {
            inbound: true,
            microphone: false,
            locked: true,
        },
        ..DeskConfig::default()
    });
    h.refused(
        AgentCommand::Denoise {
            on: false,
            target: None,
        },
        "R-NR-2",
    );
    assert!(h.status().denoise.locked && h.status().denoise.inbound);
    h.ok(AgentCommand::Denoise {
        on: true,
        target: Some(NoiseTarget::Microphone),
    });
    assert_eq!(
        h.actions(),
        vec![Action::Denoise {
            target: NoiseTarget::Microphone,
            on: true
        }]
    );
    assert!(h.status().denoise.microphone);
}

#[test]
fn dtmf_digits_are_checked() {
    let mut h = H::default();
    let c = h.customer();
    for bad in ["", "12x", "E"] {
        h.invalid(AgentCommand::Dtmf {
            call: None,
            digits: bad.into(),
        });
    }
    h.ok(AgentCommand::Dtmf {
        call: None,
        digits: "0-9".replace('-', "") + "*#abcd",
    });
    assert_eq!(
        h.actions(),
        vec![Action::Dtmf {
            call: c,
            digits: "09*#ABCD".into()
        }]
    );
}
