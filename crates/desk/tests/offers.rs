//! R-OFFER-1..8, R-ANS-1/2, R-CAD-2: offers, answering, variables.
mod common;
use agentphone_desk::*;
use common::*;
use std::time::Duration;

#[test]
fn r_offer_1_an_offer_rings_then_is_shown() {
    let mut h = H::default();
    let c = h.offer(CUSTOMER);
    assert_eq!(h.actions(), vec![Action::Ring { call: c }]);
    let ev = h.events();
    assert_eq!(ev.len(), 1);
    let DeskEvent::Offer { offer } = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(offer.call, c);
    assert_eq!(offer.position, 1);
    assert_eq!(offer.caller, CUSTOMER);
    assert_eq!(offer.ring_remaining_ms, 20_000);
    // an offer is not in the task list's calls yet
    assert!(h.status().calls.is_empty());
}

#[test]
fn r_offer_1_the_callers_cancel_removes_the_offer() {
    let mut h = H::default();
    let c = h.offer(CUSTOMER);
    h.drain();
    h.ended(c);
    assert_eq!(h.actions(), vec![]);
    assert_eq!(
        h.events(),
        vec![DeskEvent::OfferGone {
            call: c,
            reason: "cancelled".into()
        }]
    );
    assert!(h.status().offers.is_empty());
}

#[test]
fn r_offer_2_ring_timeout_rejects_480_and_agent_goes_idle() {
    let mut h = H::default();
    let c = h.offer(CUSTOMER);
    h.drain();
    h.advance(Duration::from_secs(19));
    assert_eq!(h.actions(), vec![]);
    assert_eq!(h.status().offers[0].ring_remaining_ms, 1000);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.actions(), vec![Action::Reject { call: c, code: 480 }]);
    let ev = h.events();
    assert_eq!(
        ev[0],
        DeskEvent::OfferGone {
            call: c,
            reason: "timeout".into()
        }
    );
    let DeskEvent::Agent { agent, why } = &ev[1] else {
        panic!("{ev:?}")
    };
    assert_eq!(
        *agent,
        AgentStatus::Idle {
            reason: "Missed call".into()
        }
    );
    assert!(why.as_deref().unwrap().contains("R-OFFER-2"), "{why:?}");
    assert_eq!(h.status().agent, *agent);
    assert!(h.status().offers.is_empty());
}

#[test]
fn r_offer_2_stacked_offers_keep_their_own_timers() {
    let mut h = H::new(DeskConfig {
        rona_code: 486,
        ..DeskConfig::default()
    });
    let a = h.offer(CUSTOMER);
    h.advance(Duration::from_secs(5));
    let b = h.offer(CUSTOMER);
    h.drain();
    assert_eq!(h.desk.poll_timeout(), Some(h.now + Duration::from_secs(15)));
    h.advance(Duration::from_secs(15));
    assert_eq!(h.actions(), vec![Action::Reject { call: a, code: 486 }]);
    // b still rings though the agent went idle, and can be answered
    let s = h.status();
    assert_eq!(s.offers.len(), 1);
    assert_eq!(s.offers[0].call, b);
    assert_eq!(s.offers[0].position, 1);
    assert_eq!(s.offers[0].ring_remaining_ms, 5000);
    h.ok(AgentCommand::Answer { call: None });
    assert!(h
        .actions()
        .iter()
        .any(|x| matches!(x, Action::Answer { call, .. } if *call == b)));
}

#[test]
fn r_offer_4_offers_stack_earliest_first() {
    let mut h = H::default();
    let ids: Vec<CallRef> = (0..3).map(|_| h.offer(CUSTOMER)).collect();
    let s = h.status();
    assert_eq!(s.offers.iter().map(|o| o.call).collect::<Vec<_>>(), ids);
    assert_eq!(
        s.offers.iter().map(|o| o.position).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // Answer without a call takes the earliest
    h.drain();
    h.ok(AgentCommand::Answer { call: None });
    assert!(h.actions().contains(&Action::Answer {
        call: ids[0],
        room: RoomRef(1)
    }));
}

#[test]
fn r_offer_4_answer_all_makes_the_earliest_active_and_holds_the_others() {
    let mut h = H::default();
    let a = h.offer(CUSTOMER);
    let b = h.offer(CUSTOMER);
    let c = h.offer(CUSTOMER);
    h.drain();
    h.ok(AgentCommand::AnswerAll);
    assert_eq!(
        h.actions(),
        vec![
            Action::OpenRoom { room: RoomRef(1) },
            Action::Answer {
                call: a,
                room: RoomRef(1)
            },
            Action::AgentJoin { room: RoomRef(1) },
            Action::OpenRoom { room: RoomRef(2) },
            Action::Answer {
                call: b,
                room: RoomRef(2)
            },
            Action::OpenRoom { room: RoomRef(3) },
            Action::Answer {
                call: c,
                room: RoomRef(3)
            },
        ]
    );
    assert!(h.status().offers.is_empty());
    assert_eq!(h.state(a), CallState::Connected);
    assert!(h.view(a).active);
    assert_eq!(h.state(b), CallState::Held);
    assert_eq!(h.state(c), CallState::Held);
    // each non-active one is held once established
    h.input(CallInput::Answered { call: a });
    h.input(CallInput::Answered { call: b });
    h.input(CallInput::Answered { call: c });
    assert_eq!(
        h.actions(),
        vec![Action::Hold { call: b }, Action::Hold { call: c }]
    );
}

#[test]
fn r_ans_1_answer_opens_a_room_answers_and_starts_the_call_timer() {
    let mut h = H::default();
    let c = h.offer(CUSTOMER);
    h.drain();
    h.ok(AgentCommand::Answer { call: Some(c) });
    assert_eq!(
        h.actions(),
        vec![
            Action::OpenRoom { room: RoomRef(1) },
            Action::Answer {
                call: c,
                room: RoomRef(1)
            },
            Action::AgentJoin { room: RoomRef(1) },
        ]
    );
    let ev = h.events();
    assert_eq!(
        ev[0],
        DeskEvent::OfferGone {
            call: c,
            reason: "accepted".into()
        }
    );
    let v = &call_events(&ev, c)[0];
    assert_eq!(v.state, CallState::Connected);
    assert_eq!(v.kind, CallKind::Inbound);
    h.input(CallInput::Answered { call: c });
    h.advance(Duration::from_millis(1500));
    let v = h.view(c);
    assert_eq!(v.connected_ms, Some(1500));
    assert!(v.active);
    assert!(has_verb(&v, "hold") && has_verb(&v, "hangup") && has_verb(&v, "consult"));
}

#[test]
fn r_ans_1_answering_while_talking_holds_the_talking_call_first() {
    let mut h = H::default();
    let a = h.customer();
    let b = h.offer(CUSTOMER);
    h.drain();
    h.ok(AgentCommand::Answer { call: Some(b) });
    assert_eq!(
        h.actions(),
        vec![
            Action::Hold { call: a },
            Action::OpenRoom { room: RoomRef(2) },
            Action::Answer {
                call: b,
                room: RoomRef(2)
            },
            Action::AgentJoin { room: RoomRef(2) },
        ]
    );
    assert_eq!(h.state(a), CallState::Held);
    assert!(h.view(b).active && !h.view(a).active);
}

#[test]
fn r_ans_1_auto_answer_answers_at_once() {
    let mut h = H::new(DeskConfig {
        auto_answer: true,
        ..DeskConfig::default()
    });
    let c = h.offer(CUSTOMER);
    assert_eq!(
        h.actions(),
        vec![
            Action::Ring { call: c },
            Action::OpenRoom { room: RoomRef(1) },
            Action::Answer {
                call: c,
                room: RoomRef(1)
            },
            Action::AgentJoin { room: RoomRef(1) },
        ]
    );
    assert_eq!(h.state(c), CallState::Connected);
}

#[test]
fn r_ans_2_decline_rejects_with_the_decline_code() {
    let mut h = H::default();
    let c = h.offer(CUSTOMER);
    h.drain();
    h.ok(AgentCommand::Decline { call: None });
    assert_eq!(h.actions(), vec![Action::Reject { call: c, code: 603 }]);
    assert_eq!(
        h.events(),
        vec![DeskEvent::OfferGone {
            call: c,
            reason: "declined".into()
        }]
    );
    assert_eq!(h.status().agent, AgentStatus::Available);
    assert!(matches!(
        h.cmd(AgentCommand::Decline { call: None }),
        Err(CommandError::NoCall(_))
    ));
}

fn cad(header: &str, label: &str, secure: bool) -> VariableSpec {
    VariableSpec {
        header: header.into(),
        label: label.into(),
        secure,
    }
}

#[test]
fn r_offer_6_variables_come_from_headers_in_configured_order_secure_never_shown() {
    let mut h = H::new(DeskConfig {
        variables: vec![
            cad("X-CAD-Account", "Account", false),
            cad("X-CAD-Pin", "PIN", true),
            cad("X-CAD-Queue", "Queue", false),
            cad("X-CAD-Missing", "Missing", false),
        ],
        ..DeskConfig::default()
    });
    let c = h.offered_with(
        CUSTOMER,
        vec![
            ("x-cad-queue", "Billing"),
            ("X-CAD-PIN", "1234"),
            ("X-Cad-Account", "A-77"),
        ],
        None,
    );
    let want = vec![
        Variable {
            label: "Account".into(),
            value: "A-77".into(),
        },
        Variable {
            label: "Queue".into(),
            value: "Billing".into(),
        },
    ];
    assert_eq!(h.status().offers[0].variables, want);
    h.ok(AgentCommand::Answer { call: Some(c) });
    assert_eq!(h.view(c).variables, want);
    let all = format!("{:?}{:?}", h.events(), h.status());
    assert!(!all.contains("1234"), "a secure value leaked: {all}");
}

#[test]
fn r_offer_6_at_most_six_variables_are_shown() {
    let specs: Vec<VariableSpec> = (0..8)
        .map(|i| cad(&format!("X-V{i}"), &format!("V{i}"), false))
        .collect();
    let mut h = H::new(DeskConfig {
        variables: specs,
        ..DeskConfig::default()
    });
    let names: Vec<String> = (0..8).map(|i| format!("X-V{i}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    h.offered_with(CUSTOMER, headers, None);
    let vars = &h.status().offers[0].variables;
    assert_eq!(vars.len(), 6);
    assert_eq!(vars[5].label, "V5");
}

#[test]
fn r_cad_2_values_are_cut_to_256_characters() {
    let mut h = H::new(DeskConfig {
        variables: vec![cad("X-Note", "Note", false)],
        ..DeskConfig::default()
    });
    let long = "é".repeat(300);
    h.offered_with(CUSTOMER, vec![("X-Note", &long)], None);
    let v = &h.status().offers[0].variables[0].value;
    assert_eq!(v.chars().count(), 256);
}

#[test]
fn r_offer_8_the_caller_shows_only_its_last_four_digits() {
    let mut h = H::new(DeskConfig {
        sensitive_data: true,
        ..DeskConfig::default()
    });
    let c = h.offer("\"+1 201 553 2447\" <sip:+12015532447@carrier.example>;tag=9");
    assert_eq!(h.status().offers[0].caller, "*******2447");
    h.ok(AgentCommand::Answer { call: Some(c) });
    assert_eq!(h.view(c).peer, "*******2447");
    let all = format!("{:?}", h.events());
    assert!(!all.contains("2015532"), "{all}");
    // calls the agent places are not masked
    h.ok(AgentCommand::Dial {
        target: "+12015550000".into(),
    });
    let s = h.status();
    assert_eq!(s.calls[1].peer, "+12015550000");
}

#[test]
fn r_offer_5_status_lists_calls_in_arrival_order_and_ended_calls_leave_it() {
    let mut h = H::default();
    let a = h.customer();
    let b = h.customer();
    let s = h.status();
    assert_eq!(
        s.calls.iter().map(|c| c.call).collect::<Vec<_>>(),
        vec![a, b]
    );
    h.hangup(b).unwrap();
    assert!(h.events().contains(&DeskEvent::Ended {
        call: b,
        reason: "ended by the agent".into()
    }));
    assert!(!h.has_call(b) && h.has_call(a));
}
