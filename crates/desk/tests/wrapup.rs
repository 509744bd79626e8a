//! R-END-1/2: ending and wrap-up.
mod common;
use agentphone_desk::*;
use common::*;

fn wrap(reason: &str) -> AgentCommand {
    AgentCommand::WrapUp {
        call: None,
        reason: reason.into(),
    }
}

#[test]
fn r_end_2_the_customer_hanging_up_asks_for_a_wrap_up_reason() {
    let mut h = H::with_wrapup();
    let c = h.customer();
    h.ended(c);
    assert_eq!(h.actions(), vec![Action::CloseRoom { room: RoomRef(1) }]);
    let ev = h.events();
    assert_eq!(
        ev,
        vec![
            DeskEvent::Ended {
                call: c,
                reason: "BYE".into()
            },
            DeskEvent::Agent {
                agent: AgentStatus::WrapUp { call: c },
                why: None
            },
            DeskEvent::WrapUp {
                call: c,
                reasons: vec!["Sale".into(), "No sale".into(), "Callback needed".into()]
            },
        ]
    );
    assert!(h.status().calls.is_empty(), "ended calls leave the status");
    // no offers while wrapping up
    let o = h.offer(CUSTOMER);
    assert_eq!(h.actions(), vec![Action::Reject { call: o, code: 480 }]);
    h.ok(wrap("no SALE"));
    assert_eq!(h.status().agent, AgentStatus::Available);
}

#[test]
fn r_end_2_the_reason_must_be_a_configured_one() {
    let mut h = H::with_wrapup();
    let c = h.customer();
    h.hangup(c).unwrap();
    let m = h.invalid(wrap("Whatever"));
    assert!(m.contains("Sale, No sale, Callback needed"), "{m}");
    h.refused(AgentCommand::State(RequestedState::Available), "R-END-2");
    h.invalid(AgentCommand::WrapUp {
        call: Some(CallRef(42)),
        reason: "Sale".into(),
    });
}

#[test]
fn r_end_2_after_wrap_up_the_agent_goes_to_the_configured_state() {
    let mut h = H::new(DeskConfig {
        wrapup_reasons: vec!["Done".into()],
        after_wrapup_idle: Some("Break".into()),
        ..DeskConfig::default()
    });
    let c = h.customer();
    h.hangup(c).unwrap();
    h.ok(wrap("Done"));
    assert_eq!(
        h.status().agent,
        AgentStatus::Idle {
            reason: "Break".into()
        }
    );
}

#[test]
fn r_end_2_without_reasons_there_is_no_wrap_up_step() {
    let mut h = H::default();
    let c = h.customer();
    h.hangup(c).unwrap();
    assert_eq!(h.status().agent, AgentStatus::Available);
    assert!(!h
        .events()
        .iter()
        .any(|e| matches!(e, DeskEvent::WrapUp { .. })));
}

#[test]
fn r_end_2_two_calls_ending_are_wrapped_up_one_after_the_other() {
    let mut h = H::with_wrapup();
    let a = h.customer();
    let b = h.customer();
    h.ended(a);
    h.ended(b);
    assert_eq!(h.status().agent, AgentStatus::WrapUp { call: a });
    h.ok(wrap("Sale"));
    assert_eq!(h.status().agent, AgentStatus::WrapUp { call: b });
    assert!(h.events().contains(&DeskEvent::WrapUp {
        call: b,
        reasons: h.desk.wrapup_reasons("")
    }));
    h.ok(wrap("Sale"));
    assert_eq!(h.status().agent, AgentStatus::Available);
}

#[test]
fn r_end_2_consult_legs_get_no_wrap_up() {
    let mut h = H::with_wrapup();
    let c = h.customer();
    let k = h.answered_consult(c, "2001");
    h.ended(k);
    assert_eq!(h.status().agent, AgentStatus::Available);
    assert_eq!(h.state(c), CallState::Held);
}

#[test]
fn r_end_2_the_reason_list_is_searchable() {
    let h = H::with_wrapup();
    assert_eq!(h.desk.wrapup_reasons("SALE"), vec!["Sale", "No sale"]);
    assert_eq!(h.desk.wrapup_reasons("back"), vec!["Callback needed"]);
    assert_eq!(h.desk.wrapup_reasons("").len(), 3);
    assert!(h.desk.wrapup_reasons("zzz").is_empty());
}

#[test]
fn r_end_2_an_unanswered_call_gets_no_wrap_up() {
    let mut h = H::with_wrapup();
    let r = h.ok(AgentCommand::Dial {
        target: "2001".into(),
    });
    let Reply::Call { call } = r else { panic!() };
    h.input(CallInput::Failed {
        call,
        code: Some(486),
        reason: "busy".into(),
    });
    assert!(!h.has_call(call));
    assert_eq!(h.status().agent, AgentStatus::Available);
}

#[test]
fn r_end_1_hangup_sends_bye_and_every_change_is_told_once() {
    let mut h = H::default();
    let c = h.offer(CUSTOMER);
    h.ok(AgentCommand::Answer { call: Some(c) });
    let n = call_events(&h.events(), c).len();
    assert_eq!(n, 1);
    h.input(CallInput::Answered { call: c });
    // established: it may be transferred now, told once
    let v = call_events(&h.events(), c);
    assert_eq!(v.len(), 1);
    assert!(has_verb(&v[0], "transfer"));
    // the call timer running is no change to tell
    h.advance(std::time::Duration::from_secs(5));
    h.input(CallInput::RemoteHold {
        call: c,
        held: false,
    });
    assert!(call_events(&h.events(), c).is_empty());
    h.drain();
    h.hangup(c).unwrap();
    assert_eq!(
        h.actions(),
        vec![
            Action::Hangup { call: c },
            Action::CloseRoom { room: RoomRef(1) }
        ]
    );
}
