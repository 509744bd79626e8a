//! R-CONS-1..10 (and R-HOLD-4 as consult uses it).
mod common;
use agentphone_desk::*;
use common::*;

fn consult_cmd(call: Option<CallRef>, target: &str) -> AgentCommand {
    AgentCommand::Consult {
        call,
        target: target.into(),
        hold_conference: None,
    }
}

#[test]
fn r_cons_1_a_consult_needs_an_active_call() {
    let mut h = H::default();
    assert!(matches!(
        h.cmd(consult_cmd(None, "2001")),
        Err(CommandError::NoCall(_))
    ));
    let c = h.customer();
    h.ok(AgentCommand::Hold { call: Some(c) });
    h.refused(consult_cmd(Some(c), "2001"), "R-CONS-1");
}

#[test]
fn r_cons_3_dial_numbers_are_cleaned_and_refused_before_anything_is_dialled() {
    let mut h = H::default();
    let c = h.customer();
    for bad in ["12", "call me", "+1 (201) 553-2447 0000 0000", "12-ab"] {
        h.refused(consult_cmd(Some(c), bad), "R-CONS-3");
    }
    h.ok(consult_cmd(Some(c), "+1 (201) 553-2447"));
    assert!(h.actions().iter().any(|a| matches!(a,
        Action::Dial { target: DialTarget::Number(n), .. } if n == "+12015532447")));
}

#[test]
fn r_cons_3_accepted_shapes() {
    for n in [
        "+12015532447",
        "+11234567890",
        "01161123456789",
        "2001",
        "*72#",
    ] {
        let mut h = H::default();
        let c = h.customer();
        h.ok(consult_cmd(Some(c), n));
        assert!(h.actions().iter().any(|a| matches!(a,
            Action::Dial { target: DialTarget::Number(x), .. } if x == n)));
    }
    let mut h = H::default();
    let c = h.customer();
    h.ok(consult_cmd(Some(c), "sips:supervisor@pbx.example"));
    assert!(h.actions().iter().any(|a| matches!(a,
        Action::Dial { target: DialTarget::Uri(x), .. } if x == "sips:supervisor@pbx.example")));
}

#[test]
fn r_hold_4_consult_holds_the_customer_before_dialling() {
    let mut h = H::default();
    let c = h.customer();
    let r = h.ok(consult_cmd(None, "2001"));
    let Reply::Call { call: k } = r else { panic!() };
    assert_eq!(
        h.actions(),
        vec![
            Action::Hold { call: c },
            Action::OpenRoom { room: RoomRef(2) },
            Action::Dial {
                call: k,
                target: DialTarget::Number("2001".into()),
                room: RoomRef(2)
            },
            Action::AgentJoin { room: RoomRef(2) },
        ]
    );
    assert_eq!(h.state(c), CallState::Held);
    let v = h.view(k);
    assert_eq!(v.state, CallState::ConsultRequested);
    assert_eq!(v.kind, CallKind::Consult);
    assert_eq!(v.consult_of, Some(c));
    assert!(v.active);
}

#[test]
fn r_cons_5_transfer_and_conference_wait_for_the_answer_resume_does_not() {
    let mut h = H::default();
    let c = h.customer();
    let k = h.consult(c, "2001");
    let vc = h.view(c);
    assert!(!has_verb(&vc, "transfer") && !has_verb(&vc, "conference"));
    assert!(has_verb(&vc, "resume"));
    h.refused(AgentCommand::TransferConsult { call: None }, "R-CONS-5");
    h.refused(AgentCommand::Conference { call: None }, "R-CONS-5");
    h.refused(
        AgentCommand::TransferBlind {
            call: Some(c),
            target: "2002".into(),
        },
        "R-CONS-5",
    );
    h.input(CallInput::Answered { call: k });
    let vc = h.view(c);
    assert!(has_verb(&vc, "transfer") && has_verb(&vc, "conference"));
}

#[test]
fn r_cons_5_resuming_the_customer_before_the_answer_ends_the_consult_leg() {
    let mut h = H::default();
    let c = h.customer();
    let room = h.room(c);
    let k = h.consult(c, "2001");
    h.ok(AgentCommand::Resume { call: Some(c) });
    assert_eq!(
        h.actions(),
        vec![
            Action::Hangup { call: k },
            Action::CloseRoom { room: RoomRef(2) },
            Action::Resume { call: c },
            Action::AgentJoin { room },
        ]
    );
    assert!(!h.has_call(k));
    assert_eq!(h.state(c), CallState::Connected);
}

#[test]
fn r_cons_6_an_answered_consult_is_consulting_and_can_be_held() {
    let mut h = H::default();
    let c = h.customer();
    let k = h.consult(c, "2001");
    h.input(CallInput::Answered { call: k });
    let v = call_events(&h.events(), k).pop().unwrap();
    assert_eq!(v.state, CallState::Consulting);
    assert_eq!(h.state(c), CallState::Held);
    h.ok(AgentCommand::Hold { call: Some(k) });
    assert_eq!(h.state(k), CallState::ConsultHeld);
}

#[test]
fn r_cons_8_resuming_the_customer_holds_the_consult_and_toggle_swaps() {
    let mut h = H::default();
    let c = h.customer();
    let k = h.answered_consult(c, "2001");
    let (rc, rk) = (h.room(c), h.room(k));
    h.ok(AgentCommand::Resume { call: Some(c) });
    assert_eq!(
        h.actions(),
        vec![
            Action::Hold { call: k },
            Action::Resume { call: c },
            Action::AgentJoin { room: rc }
        ]
    );
    assert_eq!(h.state(k), CallState::ConsultHeld);
    assert_eq!(h.state(c), CallState::Connected);
    h.ok(AgentCommand::Toggle);
    assert_eq!(
        h.actions(),
        vec![
            Action::Hold { call: c },
            Action::Resume { call: k },
            Action::AgentJoin { room: rk }
        ]
    );
    assert_eq!(h.state(k), CallState::Consulting);
    assert_eq!(h.state(c), CallState::Held);
    h.ok(AgentCommand::Toggle);
    assert_eq!(h.state(c), CallState::Connected);
    // never both held
    let s = h.status();
    assert!(s.calls.iter().any(|v| v.active));
}

#[test]
fn r_cons_8_toggle_is_refused_without_an_answered_consult() {
    let mut h = H::default();
    let c = h.customer();
    h.refused(AgentCommand::Toggle, "R-CONS-8");
    h.consult(c, "2001");
    h.refused(AgentCommand::Toggle, "R-CONS-5");
}

#[test]
fn r_cons_8_a_consult_leg_can_always_be_ended_and_the_customer_stays_held() {
    let mut h = H::default();
    let c = h.customer();
    let k = h.answered_consult(c, "2001");
    h.ok(AgentCommand::Hold { call: Some(k) });
    assert!(has_verb(&h.view(k), "hangup"));
    h.drain();
    h.ok(AgentCommand::Hangup { call: Some(k) });
    assert_eq!(
        h.actions(),
        vec![
            Action::Hangup { call: k },
            Action::CloseRoom { room: RoomRef(2) }
        ]
    );
    assert!(!h.has_call(k));
    assert_eq!(h.state(c), CallState::Held);
    h.ok(AgentCommand::Resume { call: None });
    assert_eq!(h.state(c), CallState::Connected);
}

#[test]
fn r_cons_7_a_failed_consult_is_told_and_the_customer_stays_held() {
    let mut h = H::default();
    let c = h.customer();
    let k = h.consult(c, "2001");
    h.input(CallInput::Failed {
        call: k,
        code: Some(486),
        reason: "busy".into(),
    });
    let ev = h.events();
    assert!(ev.contains(&DeskEvent::ConsultFailed {
        call: k,
        reason: "busy".into()
    }));
    assert!(ev.contains(&DeskEvent::Ended {
        call: k,
        reason: "busy".into()
    }));
    assert_eq!(h.actions(), vec![Action::CloseRoom { room: RoomRef(2) }]);
    assert_eq!(h.state(c), CallState::Held);
    assert!(has_verb(&h.view(c), "resume"));
    // no wrap-up for a consult leg
    assert_eq!(h.status().agent, AgentStatus::Available);
}

#[test]
fn r_cons_10_the_customer_leaving_during_a_consult_makes_it_post_call() {
    let mut h = H::with_wrapup();
    let c = h.customer();
    let k = h.answered_consult(c, "2001");
    h.ended(c);
    let v = h.view(c);
    assert_eq!(v.state, CallState::PostCall);
    assert!(v.allowed.is_empty(), "{:?}", v.allowed);
    assert_eq!(h.state(k), CallState::Consulting);
    assert_eq!(h.status().agent, AgentStatus::Available);
    // the consult can still be held, resumed and ended
    h.ok(AgentCommand::Hold { call: Some(k) });
    h.ok(AgentCommand::Resume { call: Some(k) });
    h.refused(AgentCommand::Toggle, "R-CONS-10");
    h.drain();
    h.ok(AgentCommand::Hangup { call: Some(k) });
    let ev = h.events();
    assert!(ev
        .iter()
        .any(|e| matches!(e, DeskEvent::Ended { call, .. } if *call == k)));
    assert!(ev
        .iter()
        .any(|e| matches!(e, DeskEvent::Ended { call, .. } if *call == c)));
    assert!(h.status().calls.is_empty());
    // the customer interaction is wrapped up, once
    assert_eq!(h.status().agent, AgentStatus::WrapUp { call: c });
}
