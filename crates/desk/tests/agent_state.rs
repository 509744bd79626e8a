//! R-STATE-1/2, R-OFFER-3: agent state, logout and shutdown.
mod common;
use agentphone_desk::*;
use common::*;

fn idle(reason: &str) -> AgentCommand {
    AgentCommand::State(RequestedState::Idle {
        reason: reason.into(),
    })
}

#[test]
fn r_state_1_an_agent_not_available_gets_no_offer_only_a_reject() {
    let mut h = H::new(DeskConfig {
        unavailable_code: 486,
        ..DeskConfig::default()
    });
    h.ok(idle("Lunch"));
    h.drain();
    let c = h.offer(CUSTOMER);
    assert_eq!(h.actions(), vec![Action::Reject { call: c, code: 486 }]);
    assert!(!h
        .events()
        .iter()
        .any(|e| matches!(e, DeskEvent::Offer { .. })));
    assert!(h.status().offers.is_empty());
}

#[test]
fn r_state_1_replaces_is_not_an_offer_it_takes_the_old_calls_place() {
    let mut h = H::default();
    let old = h.customer();
    let room = h.room(old);
    h.ok(idle("Break"));
    h.drain();
    let new = h.offered_with("sip:transferee@pbx.example", vec![], Some(old));
    assert_eq!(
        h.actions(),
        vec![
            Action::Answer { call: new, room },
            Action::Hangup { call: old }
        ]
    );
    let ev = h.events();
    assert!(ev.contains(&DeskEvent::Ended {
        call: old,
        reason: format!("replaced by call {new}")
    }));
    let s = h.status();
    assert!(s.offers.is_empty());
    assert_eq!(s.calls.len(), 1);
    assert_eq!(s.calls[0].call, new);
    assert_eq!(s.calls[0].room, room);
    assert_eq!(s.calls[0].state, CallState::Connected);
    assert!(s.calls[0].active);
    // the old leg's own Ended is of no consequence now
    h.ended(old);
    assert!(h.has_call(new));
}

#[test]
fn r_state_1_replacing_a_held_call_holds_the_new_leg_once_established() {
    let mut h = H::default();
    let a = h.customer();
    let _b = h.customer(); // holds a
    assert_eq!(h.state(a), CallState::Held);
    let new = h.offered_with("sip:x@pbx.example", vec![], Some(a));
    h.drain();
    assert_eq!(h.state(new), CallState::Held);
    h.input(CallInput::Answered { call: new });
    assert_eq!(h.actions(), vec![Action::Hold { call: new }]);
}

#[test]
fn r_state_2_idle_needs_one_of_the_configured_reasons() {
    let mut h = H::default();
    let m = h.invalid(idle("Gym"));
    assert!(m.contains("Break, Lunch, Meeting, Missed call"), "{m}");
    h.ok(idle("lunch"));
    assert_eq!(
        h.events(),
        vec![DeskEvent::Agent {
            agent: AgentStatus::Idle {
                reason: "Lunch".into()
            },
            why: None
        }]
    );
    h.ok(AgentCommand::State(RequestedState::Available));
    assert_eq!(h.status().agent, AgentStatus::Available);
}

#[test]
fn r_state_2_the_agent_stays_available_while_calls_ring_and_connect() {
    let mut h = H::default();
    let c = h.offer(CUSTOMER);
    assert_eq!(h.status().agent, AgentStatus::Available);
    h.ok(AgentCommand::Answer { call: Some(c) });
    h.input(CallInput::Answered { call: c });
    assert_eq!(h.status().agent, AgentStatus::Available);
    // a second offer rings while the agent talks
    let d = h.offer(CUSTOMER);
    assert!(h.actions().contains(&Action::Ring { call: d }));
}

#[test]
fn r_state_2_start_idle_from_the_configuration() {
    let h = H::new(DeskConfig {
        start_idle: Some("Meeting".into()),
        ..DeskConfig::default()
    });
    assert_eq!(
        h.status().agent,
        AgentStatus::Idle {
            reason: "Meeting".into()
        }
    );
}

#[test]
fn r_offer_3_logout_is_refused_while_an_offer_is_shown() {
    let mut h = H::default();
    h.offer(CUSTOMER);
    h.refused(AgentCommand::Logout, "R-OFFER-3");
}

#[test]
fn r_offer_3_logout_is_refused_while_calls_are_up() {
    let mut h = H::default();
    h.customer();
    let m = h.invalid(AgentCommand::Logout);
    assert_eq!(m, "end the calls first");
}

#[test]
fn r_offer_3_logout_unregisters_and_exits() {
    let mut h = H::default();
    h.ok(AgentCommand::Logout);
    assert_eq!(h.actions(), vec![Action::Unregister, Action::Exit]);
    assert_eq!(
        h.events(),
        vec![DeskEvent::Stopping {
            reason: "logout".into()
        }]
    );
    assert!(h.cmd(AgentCommand::Mute { on: true }).is_err());
}

#[test]
fn r_offer_3_shutdown_declines_offers_ends_every_call_and_exits() {
    let mut h = H::new(DeskConfig {
        refer_policy: ReferPolicy::Ask,
        ..DeskConfig::default()
    });
    let a = h.customer();
    let b = h.customer(); // a is held now
    assert_eq!(h.state(a), CallState::Held);
    h.input(CallInput::ReferReceived {
        call: b,
        refer: ReferRef(7),
        target: "sip:x@y".into(),
        replaces: false,
    });
    let o = h.offer(CUSTOMER);
    h.drain();
    h.input(CallInput::Shutdown);
    let acts = h.actions();
    assert!(acts.contains(&Action::Reject { call: o, code: 480 }));
    assert!(
        acts.contains(&Action::Hangup { call: a }),
        "held or not: {acts:?}"
    );
    assert!(acts.contains(&Action::Hangup { call: b }));
    assert!(acts.contains(&Action::RejectRefer {
        refer: ReferRef(7),
        code: 603
    }));
    let n = acts.len();
    assert_eq!(&acts[n - 2..], &[Action::Unregister, Action::Exit]);
    let ev = h.events();
    assert!(ev.contains(&DeskEvent::Stopping {
        reason: "shutdown".into()
    }));
    assert!(ev.contains(&DeskEvent::OfferGone {
        call: o,
        reason: "shutdown".into()
    }));
    let s = h.status();
    assert!(s.calls.is_empty() && s.offers.is_empty());
    // no wrap-up asked of a stopping desk
    assert_eq!(s.agent, AgentStatus::Available);
    // a late INVITE is refused
    let late = h.offer(CUSTOMER);
    assert_eq!(
        h.actions(),
        vec![Action::Reject {
            call: late,
            code: 480
        }]
    );
}
