//! R-XFER-1..6: blind and attended transfer, incoming REFER.
mod common;
use agentphone_desk::*;
use common::*;
use std::time::Duration;

fn blind(call: Option<CallRef>, target: &str) -> AgentCommand {
    AgentCommand::TransferBlind {
        call,
        target: target.into(),
    }
}

#[test]
fn r_xfer_1_blind_transfer_holds_the_call_then_refers_it() {
    let mut h = H::default();
    let c = h.customer();
    h.ok(blind(None, "sip:billing@pbx.example"));
    assert_eq!(
        h.actions(),
        vec![
            Action::Hold { call: c },
            Action::AgentLeave,
            Action::TransferBlind {
                call: c,
                target: DialTarget::Uri("sip:billing@pbx.example".into())
            }
        ]
    );
    // one transfer at a time
    h.refused(blind(Some(c), "2002"), "R-XFER-1");
    h.input(CallInput::TransferProgress {
        call: c,
        status: "SIP/2.0 180 Ringing".into(),
    });
    assert_eq!(
        h.events(),
        vec![DeskEvent::Transfer {
            call: c,
            outcome: "progress".into(),
            detail: "SIP/2.0 180 Ringing".into()
        }]
    );
}

#[test]
fn r_xfer_1_an_unanswered_call_cannot_be_transferred() {
    let mut h = H::default();
    let c = h.offer(CUSTOMER);
    h.ok(AgentCommand::Answer { call: Some(c) });
    h.refused(blind(Some(c), "2002"), "R-XFER-1");
}

#[test]
fn r_xfer_6_transfer_numbers_follow_r_cons_3() {
    let mut h = H::default();
    let c = h.customer();
    h.refused(blind(Some(c), "55"), "R-XFER-6");
    h.refused(blind(Some(c), "extension sales"), "R-XFER-6");
    h.ok(blind(Some(c), "(020) 7946-0018"));
    assert!(h.actions().contains(&Action::TransferBlind {
        call: c,
        target: DialTarget::Number("02079460018".into())
    }));
}

#[test]
fn r_xfer_5_a_blind_transfer_that_succeeds_ends_our_leg_and_wraps_up() {
    let mut h = H::with_wrapup();
    let c = h.customer();
    h.ok(blind(Some(c), "2002"));
    h.drain();
    h.input(CallInput::TransferSucceeded { call: c });
    assert_eq!(
        h.actions(),
        vec![
            Action::Hangup { call: c },
            Action::CloseRoom { room: RoomRef(1) }
        ]
    );
    let ev = h.events();
    assert!(ev.contains(&DeskEvent::Transfer {
        call: c,
        outcome: "succeeded".into(),
        detail: String::new()
    }));
    assert!(ev.contains(&DeskEvent::Ended {
        call: c,
        reason: "transferred".into()
    }));
    assert!(ev.contains(&DeskEvent::WrapUp {
        call: c,
        reasons: vec!["Sale".into(), "No sale".into(), "Callback needed".into()]
    }));
    assert_eq!(h.status().agent, AgentStatus::WrapUp { call: c });
    assert!(h.status().calls.is_empty());
}

#[test]
fn r_xfer_3_a_failed_transfer_comes_back_held_with_the_reason() {
    let mut h = H::default();
    let c = h.customer();
    h.ok(blind(Some(c), "2002"));
    h.drain();
    h.input(CallInput::TransferFailed {
        call: c,
        reason: "603 Declined".into(),
    });
    assert_eq!(h.actions(), vec![]);
    assert!(h.events().contains(&DeskEvent::Transfer {
        call: c,
        outcome: "failed".into(),
        detail: "603 Declined".into()
    }));
    assert_eq!(h.state(c), CallState::Held);
    assert!(has_verb(&h.view(c), "resume"));
    h.ok(AgentCommand::Resume { call: Some(c) });
    assert_eq!(h.state(c), CallState::Connected);
}

#[test]
fn r_cons_5_attended_transfer_needs_the_consult_answered() {
    let mut h = H::default();
    let c = h.customer();
    h.refused(AgentCommand::TransferConsult { call: Some(c) }, "R-CONS-5");
    let k = h.consult(c, "2001");
    h.refused(AgentCommand::TransferConsult { call: None }, "R-CONS-5");
    h.input(CallInput::Answered { call: k });
    h.drain();
    h.ok(AgentCommand::TransferConsult { call: None });
    assert_eq!(
        h.actions(),
        vec![Action::TransferAttended {
            call: c,
            consult: k
        }]
    );
}

#[test]
fn r_xfer_1_an_attended_transfer_that_succeeds_ends_both_legs() {
    let mut h = H::with_wrapup();
    let c = h.customer();
    let k = h.answered_consult(c, "2001");
    h.ok(AgentCommand::TransferConsult { call: Some(c) });
    h.drain();
    // the consultee's leg is already gone (the far end ended it)
    h.ended(k);
    h.input(CallInput::TransferSucceeded { call: c });
    let acts = h.actions();
    assert!(acts.contains(&Action::Hangup { call: c }), "{acts:?}");
    assert!(!acts.contains(&Action::Hangup { call: k }), "{acts:?}");
    assert!(h.status().calls.is_empty());
    assert_eq!(h.status().agent, AgentStatus::WrapUp { call: c });
}

#[test]
fn r_xfer_1_attended_success_hangs_up_a_consult_leg_still_up() {
    let mut h = H::default();
    let c = h.customer();
    let k = h.answered_consult(c, "2001");
    h.ok(AgentCommand::TransferConsult { call: Some(k) });
    h.drain();
    h.input(CallInput::TransferSucceeded { call: c });
    let acts = h.actions();
    let pos = |x: &Action| acts.iter().position(|a| a == x).unwrap();
    assert!(pos(&Action::Hangup { call: k }) < pos(&Action::Hangup { call: c }));
    assert!(h.status().calls.is_empty());
}

fn refer(h: &mut H, call: CallRef, refer: u64, target: &str) {
    h.input(CallInput::ReferReceived {
        call,
        refer: ReferRef(refer),
        target: target.into(),
        replaces: false,
    });
}

#[test]
fn r_xfer_1_incoming_refer_reject_policy_says_603() {
    let mut h = H::new(DeskConfig {
        refer_policy: ReferPolicy::Reject,
        ..DeskConfig::default()
    });
    let c = h.customer();
    refer(&mut h, c, 1, "sip:x@evil.example");
    assert_eq!(
        h.actions(),
        vec![Action::RejectRefer {
            refer: ReferRef(1),
            code: 603
        }]
    );
}

#[test]
fn r_xfer_1_incoming_refer_ask_policy_asks_the_agent() {
    let mut h = H::default();
    let c = h.customer();
    refer(&mut h, c, 1, "sip:x@pbx.example");
    assert_eq!(
        h.actions(),
        vec![Action::AcceptRefer { refer: ReferRef(1) }]
    );
    assert_eq!(
        h.events(),
        vec![DeskEvent::ReferAsk {
            refer: ReferRef(1),
            call: c,
            target: "sip:x@pbx.example".into()
        }]
    );
    assert_eq!(h.status().refers, vec![ReferRef(1)]);
    let r = h.ok(AgentCommand::Refer {
        refer: ReferRef(1),
        accept: true,
    });
    let Reply::Call { call: f } = r else { panic!() };
    assert_eq!(
        h.actions(),
        vec![
            Action::OpenRoom { room: RoomRef(2) },
            Action::FollowRefer {
                refer: ReferRef(1),
                call: f,
                room: RoomRef(2)
            }
        ]
    );
    assert_eq!(h.view(f).kind, CallKind::Referred);
    assert!(
        h.view(c).active,
        "the agent stays until the followed call answers"
    );
    // once answered it takes the agent's audio
    h.input(CallInput::Answered { call: f });
    assert_eq!(
        h.actions(),
        vec![
            Action::Hold { call: c },
            Action::AgentJoin { room: RoomRef(2) }
        ]
    );
    assert!(h.view(f).active);
    assert!(h.status().refers.is_empty());
}

#[test]
fn r_xfer_1_incoming_refer_refused_or_unanswered_gets_603() {
    let mut h = H::default();
    let c = h.customer();
    refer(&mut h, c, 1, "sip:x@pbx.example");
    refer(&mut h, c, 2, "sip:y@pbx.example");
    h.drain();
    h.ok(AgentCommand::Refer {
        refer: ReferRef(1),
        accept: false,
    });
    assert_eq!(
        h.actions(),
        vec![Action::RejectRefer {
            refer: ReferRef(1),
            code: 603
        }]
    );
    h.advance(Duration::from_secs(30));
    assert_eq!(
        h.actions(),
        vec![Action::RejectRefer {
            refer: ReferRef(2),
            code: 603
        }]
    );
    assert!(h.status().refers.is_empty());
    h.invalid(AgentCommand::Refer {
        refer: ReferRef(2),
        accept: true,
    });
}

#[test]
fn r_xfer_1_accept_policy_follows_allowed_hosts_and_asks_for_others() {
    let mut h = H::new(DeskConfig {
        refer_policy: ReferPolicy::Accept,
        refer_allow: vec!["PBX.example".into()],
        ..DeskConfig::default()
    });
    let c = h.customer();
    refer(&mut h, c, 1, "<sip:queue@pbx.example;transport=tcp>");
    let acts = h.actions();
    assert_eq!(acts[0], Action::AcceptRefer { refer: ReferRef(1) });
    assert!(matches!(
        acts[2],
        Action::FollowRefer {
            refer: ReferRef(1),
            ..
        }
    ));
    assert!(!h
        .events()
        .iter()
        .any(|e| matches!(e, DeskEvent::ReferAsk { .. })));
    refer(&mut h, c, 2, "sip:queue@elsewhere.example");
    assert_eq!(
        h.actions(),
        vec![Action::AcceptRefer { refer: ReferRef(2) }]
    );
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, DeskEvent::ReferAsk { .. })));
}
