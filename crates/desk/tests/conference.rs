//! R-CONF-1..6.
mod common;
use agentphone_desk::*;
use common::*;

/// Customer + consultee merged; drained.
fn conference(h: &mut H) -> (CallRef, CallRef) {
    let c = h.customer();
    let k = h.answered_consult(c, "2001");
    h.ok(AgentCommand::Conference { call: None });
    h.drain();
    (c, k)
}

#[test]
fn r_conf_1_conference_merges_the_consult_into_the_customers_room() {
    let mut h = H::default();
    let c = h.customer();
    let k = h.answered_consult(c, "2001");
    let (rc, rk) = (h.room(c), h.room(k));
    h.ok(AgentCommand::Conference { call: None });
    assert_eq!(
        h.actions(),
        vec![
            Action::MoveLeg { call: k, room: rc },
            Action::Resume { call: c },
            Action::AgentJoin { room: rc },
            Action::CloseRoom { room: rk },
        ]
    );
    for id in [c, k] {
        let v = h.view(id);
        assert_eq!(v.state, CallState::Conference);
        assert_eq!(v.conference, Some(c));
        assert_eq!(v.room, rc);
        assert!(v.active);
        assert!(has_verb(&v, "leave") && has_verb(&v, "remove"));
        assert!(!has_verb(&v, "transfer"));
    }
}

#[test]
fn r_conf_1_a_conference_needs_an_answered_consult() {
    let mut h = H::default();
    let c = h.customer();
    h.refused(AgentCommand::Conference { call: Some(c) }, "R-CONF-1");
}

#[test]
fn r_conf_2_the_participant_beyond_the_maximum_is_refused() {
    let mut h = H::new(DeskConfig {
        max_participants: 4,
        ..DeskConfig::default()
    });
    let (c, _k) = conference(&mut h);
    // agent + customer + 1 = 3: one more fits
    let k2 = h.answered_consult(c, "2002");
    h.ok(AgentCommand::Conference { call: Some(k2) });
    assert_eq!(h.status().calls.len(), 3);
    let k3 = h.answered_consult(c, "2003");
    let why = h.refused(AgentCommand::Conference { call: Some(k3) }, "R-CONF-2");
    assert!(why.contains("at most 4"), "{why}");
    assert!(!has_verb(&h.view(k3), "conference"));
}

#[test]
fn r_conf_3_transfer_is_refused_in_a_conference() {
    let mut h = H::default();
    let (c, _k) = conference(&mut h);
    let why = h.refused(
        AgentCommand::TransferBlind {
            call: Some(c),
            target: "2009".into(),
        },
        "R-CONF-3",
    );
    assert!(why.contains("Leave"), "{why}");
}

#[test]
fn r_conf_3_leave_keeps_the_bridge_wraps_up_and_takes_offers_again() {
    let mut h = H::with_wrapup();
    let (c, k) = conference(&mut h);
    h.ok(AgentCommand::Leave { call: None });
    assert_eq!(h.actions(), vec![Action::AgentLeave]);
    assert!(h.events().contains(&DeskEvent::WrapUp {
        call: c,
        reasons: h.desk.wrapup_reasons("")
    }));
    for id in [c, k] {
        let v = h.view(id);
        assert_eq!(v.state, CallState::Conference);
        assert!(!v.active);
    }
    h.ok(AgentCommand::WrapUp {
        call: None,
        reason: "Sale".into(),
    });
    assert_eq!(h.status().agent, AgentStatus::Available);
    let o = h.offer(CUSTOMER);
    assert!(h.actions().contains(&Action::Ring { call: o }));
    // the bridge ends when one of the two leaves: the last is hung up, no
    // second wrap-up for the customer
    h.ended(k);
    let acts = h.actions();
    assert!(acts.contains(&Action::Hangup { call: c }), "{acts:?}");
    assert!(acts.contains(&Action::CloseRoom { room: RoomRef(1) }));
    assert!(h.status().calls.is_empty());
    assert_eq!(h.status().agent, AgentStatus::Available);
}

#[test]
fn r_conf_4_when_the_customer_leaves_the_others_are_post_call() {
    let mut h = H::default();
    let c = h.customer();
    let k = h.answered_consult(c, "2001");
    h.ok(AgentCommand::Conference { call: None });
    let k2 = h.answered_consult(c, "2002");
    h.ok(AgentCommand::Conference { call: None });
    h.drain();
    h.ended(c);
    for id in [k, k2] {
        let v = h.view(id);
        assert_eq!(v.state, CallState::PostCall);
        for verb in ["hold", "resume", "consult", "conference"] {
            assert!(!has_verb(&v, verb), "{verb} in {:?}", v.allowed);
        }
    }
    h.refused(AgentCommand::Hold { call: Some(k) }, "R-CONF-4");
    h.refused(
        AgentCommand::Consult {
            call: Some(k),
            target: "2003".into(),
            hold_conference: None,
        },
        "R-CONF-4",
    );
    // the rest goes on until one participant is left
    h.ok(AgentCommand::Remove { party: k });
    assert_eq!(h.state(k2), CallState::PostCall);
    h.ended(k2);
    assert!(h.status().calls.is_empty());
}

#[test]
fn r_conf_5_only_the_customer_interaction_gets_wrap_up() {
    let mut h = H::with_wrapup();
    let (c, k) = conference(&mut h);
    h.ok(AgentCommand::Remove { party: k });
    assert_eq!(h.actions(), vec![Action::Hangup { call: k }]);
    assert_eq!(h.status().agent, AgentStatus::Available);
    assert_eq!(h.state(c), CallState::Conference);
    h.ok(AgentCommand::Hangup { call: Some(c) });
    assert_eq!(h.status().agent, AgentStatus::WrapUp { call: c });
    assert!(h.status().calls.is_empty());
}

#[test]
fn r_conf_6_consulting_from_a_conference_holds_it_by_default() {
    let mut h = H::default();
    let (c, k) = conference(&mut h);
    let k2 = h.consult(c, "2002");
    assert_eq!(h.state(c), CallState::Held);
    assert_eq!(h.state(k), CallState::Held);
    assert!(h.view(k2).active);
    // the held conference is not ended by the agent
    h.refused(AgentCommand::Remove { party: c }, "R-HOLD-3");
    h.input(CallInput::Answered { call: k2 });
    h.drain();
    h.ok(AgentCommand::Conference { call: None });
    let acts = h.actions();
    assert!(
        acts.contains(&Action::Resume { call: c }) && acts.contains(&Action::Resume { call: k })
    );
    assert_eq!(h.state(k2), CallState::Conference);
}

#[test]
fn r_conf_6_the_conference_may_keep_talking_during_the_consult() {
    let mut h = H::default();
    let (c, k) = conference(&mut h);
    h.ok(AgentCommand::Consult {
        call: Some(c),
        target: "2002".into(),
        hold_conference: Some(false),
    });
    let acts = h.actions();
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Hold { .. })),
        "{acts:?}"
    );
    assert_eq!(h.state(c), CallState::Conference);
    assert_eq!(h.state(k), CallState::Conference);
    assert!(!h.view(c).active);
    // back to the conference: the unanswered consult ends
    h.ok(AgentCommand::Resume { call: Some(c) });
    assert!(h.view(c).active && h.view(k).active);
}

#[test]
fn mute_moves_the_agents_microphone() {
    let mut h = H::default();
    h.ok(AgentCommand::Mute { on: true });
    assert_eq!(h.actions(), vec![Action::AgentMute { muted: true }]);
    assert!(h.status().muted);
}

#[test]
fn r_conf_3_leave_is_refused_when_only_one_party_is_left() {
    // found by the property test: leaving a held "conference" of one party
    // would hang up a held customer (R-HOLD-3)
    let mut h = H::default();
    let (c, k) = conference(&mut h);
    h.ended(k);
    h.customer(); // holds the conference (the customer alone now)
    assert_eq!(h.state(c), CallState::Held);
    h.refused(AgentCommand::Leave { call: Some(c) }, "R-CONF-3");
    assert!(!has_verb(&h.view(c), "leave"));
}
