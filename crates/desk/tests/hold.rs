//! R-HOLD-1..5: hold, resume, the far end's hold, refused re-INVITEs.
mod common;
use agentphone_desk::*;
use common::*;

#[test]
fn r_hold_1_hold_and_resume_send_the_reinvites_and_move_the_agent() {
    let mut h = H::default();
    let c = h.customer();
    let room = h.room(c);
    h.ok(AgentCommand::Hold { call: None });
    assert_eq!(
        h.actions(),
        vec![Action::Hold { call: c }, Action::AgentLeave]
    );
    let v = call_events(&h.events(), c).pop().unwrap();
    assert_eq!(v.state, CallState::Held);
    assert!(!v.active);
    assert!(has_verb(&v, "resume") && !has_verb(&v, "hold"));
    h.ok(AgentCommand::Resume { call: None });
    assert_eq!(
        h.actions(),
        vec![Action::Resume { call: c }, Action::AgentJoin { room }]
    );
    assert_eq!(h.state(c), CallState::Connected);
    assert!(h.view(c).active);
}

#[test]
fn r_hold_1_holding_a_held_call_or_resuming_a_talking_one_is_refused() {
    let mut h = H::default();
    let c = h.customer();
    h.refused(AgentCommand::Resume { call: Some(c) }, "R-HOLD-1");
    h.ok(AgentCommand::Hold { call: Some(c) });
    h.refused(AgentCommand::Hold { call: Some(c) }, "R-HOLD-1");
}

#[test]
fn r_hold_2_the_held_state_is_shown_with_the_call_timer() {
    let mut h = H::default();
    let c = h.customer();
    h.ok(AgentCommand::Hold { call: Some(c) });
    h.advance(std::time::Duration::from_secs(3));
    let v = h.view(c);
    assert_eq!(v.state, CallState::Held);
    assert_eq!(v.connected_ms, Some(3000));
}

#[test]
fn r_hold_3_a_held_call_cannot_be_ended() {
    let mut h = H::default();
    let c = h.customer();
    h.ok(AgentCommand::Hold { call: Some(c) });
    assert!(!has_verb(&h.view(c), "hangup"));
    let why = h.refused(AgentCommand::Hangup { call: Some(c) }, "R-HOLD-3");
    assert!(why.contains("resume"), "{why}");
    h.ok(AgentCommand::Resume { call: Some(c) });
    h.ok(AgentCommand::Hangup { call: Some(c) });
    assert!(h.actions().contains(&Action::Hangup { call: c }));
}

#[test]
fn r_hold_4_resuming_a_held_call_holds_the_talking_one_first() {
    let mut h = H::default();
    let a = h.customer();
    let b = h.customer();
    let room_a = h.room(a);
    h.ok(AgentCommand::Resume { call: Some(a) });
    assert_eq!(
        h.actions(),
        vec![
            Action::Hold { call: b },
            Action::Resume { call: a },
            Action::AgentJoin { room: room_a }
        ]
    );
    assert_eq!(h.state(b), CallState::Held);
    assert_eq!(h.state(a), CallState::Connected);
}

#[test]
fn r_hold_4_dialling_from_a_call_holds_it_first() {
    let mut h = H::default();
    let a = h.customer();
    let r = h.ok(AgentCommand::Dial {
        target: "2001".into(),
    });
    let Reply::Call { call } = r else { panic!() };
    assert_eq!(
        h.actions(),
        vec![
            Action::Hold { call: a },
            Action::OpenRoom { room: RoomRef(2) },
            Action::Dial {
                call,
                target: DialTarget::Number("2001".into()),
                room: RoomRef(2)
            },
            Action::AgentJoin { room: RoomRef(2) },
        ]
    );
    assert_eq!(h.state(call), CallState::Dialing);
    assert_eq!(h.view(call).kind, CallKind::Outbound);
    h.input(CallInput::Answered { call });
    assert_eq!(h.state(call), CallState::Connected);
}

#[test]
fn r_hold_5_the_far_ends_hold_is_shown() {
    let mut h = H::default();
    let c = h.customer();
    h.input(CallInput::RemoteHold {
        call: c,
        held: true,
    });
    let v = call_events(&h.events(), c).pop().unwrap();
    assert!(v.remote_held);
    assert_eq!(h.actions(), vec![]);
    h.input(CallInput::RemoteHold {
        call: c,
        held: false,
    });
    assert!(!h.view(c).remote_held);
}

#[test]
fn r_hold_1_a_refused_hold_puts_the_call_back() {
    let mut h = H::default();
    let c = h.customer();
    let room = h.room(c);
    h.ok(AgentCommand::Hold { call: Some(c) });
    h.drain();
    h.input(CallInput::HoldFailed { call: c, code: 488 });
    assert_eq!(h.actions(), vec![Action::AgentJoin { room }]);
    let v = call_events(&h.events(), c).pop().unwrap();
    assert_eq!(v.state, CallState::Connected);
    assert!(v.active);
    // and a refused resume leaves it held
    h.ok(AgentCommand::Hold { call: Some(c) });
    h.ok(AgentCommand::Resume { call: Some(c) });
    h.drain();
    h.input(CallInput::HoldFailed { call: c, code: 488 });
    assert_eq!(h.actions(), vec![Action::AgentLeave]);
    assert_eq!(h.state(c), CallState::Held);
}

#[test]
fn inputs_about_unknown_calls_are_ignored() {
    let mut h = H::default();
    let ghost = CallRef(99);
    for i in [
        CallInput::Answered { call: ghost },
        CallInput::Ended {
            call: ghost,
            reason: "x".into(),
        },
        CallInput::HoldFailed {
            call: ghost,
            code: 500,
        },
        CallInput::RemoteHold {
            call: ghost,
            held: true,
        },
        CallInput::TransferSucceeded { call: ghost },
    ] {
        h.input(i);
    }
    assert_eq!(h.actions(), vec![]);
    assert_eq!(h.events(), vec![]);
}
