//! Attended transfer and Replaces (RFC 3891) between three endpoints in
//! memory on a fake clock: Alice talks to Bob, consults Carol, and refers
//! Bob to Carol replacing her consult call; Carol matches the Replaces
//! against her dialogs in either role, and refuses what does not match.

mod transfer_net;

use agentphone_sip::{CallId, CallState, EndReason, EndpointError, Event, Replaces};
use std::time::Duration;
use transfer_net::{Net, ALICE, BOB, CAROL};

/// Bob takes the transfer he was just asked for: accepts it and calls the
/// target with the Replaces and Referred-By it carries. Returns Bob's new call.
fn bob_follows_the_refer(n: &mut Net, bob_call: CallId) -> CallId {
    let (transfer, target, referred_by) = n.events[BOB]
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::TransferRequested {
                transfer,
                refer_to,
                referred_by,
                ..
            } => Some((*transfer, refer_to.clone(), referred_by.clone())),
            _ => None,
        })
        .expect("no REFER");
    let now = n.now;
    n.eps[BOB].accept_transfer(now, bob_call, transfer).unwrap();
    n.shuttle();
    let headers = target.invite_headers(referred_by.as_deref());
    n.dial_uri(BOB, &target.uri.to_string(), headers)
}

/// Bob sends Carol an INVITE with this Replaces value.
fn invite_with_replaces(n: &mut Net, replaces: &str) -> CallId {
    n.dial(
        BOB,
        CAROL,
        vec![("Replaces".to_string(), replaces.to_string())],
    )
}

fn ended(n: &Net, who: usize, call: CallId) -> Option<EndReason> {
    n.events[who].iter().find_map(|e| match e {
        Event::Ended { call: c, reason } if *c == call => Some(reason.clone()),
        _ => None,
    })
}

/// The attended transfer where `carol_placed` says who called whom for
/// the consult call; Carol must find her dialog either way.
fn attended_transfer(carol_placed: bool) {
    let mut n = Net::new();
    let (a_bob, b_alice) = n.connect(ALICE, BOB);
    let (a_carol, c_alice) = if carol_placed {
        let (c, a) = n.connect(CAROL, ALICE);
        (a, c)
    } else {
        n.connect(ALICE, CAROL)
    };
    let now = n.now;
    let replaces = n.eps[ALICE].replaces_for(a_carol).unwrap();
    let transfer = n.eps[ALICE].attended_transfer(now, a_bob, a_carol).unwrap();
    n.shuttle();
    let refer = n.sent_by(ALICE, "REFER")[0].clone();
    let refer_to = refer.header("Refer-To").unwrap().to_string();
    assert!(
        refer_to.contains("?Replaces=") && refer_to.contains("%3Bto-tag%3D"),
        "{refer_to}"
    );
    assert_eq!(
        refer_to.matches('@').count(),
        1,
        "only the target's: {refer_to}"
    );

    let b_carol = bob_follows_the_refer(&mut n, b_alice);
    let invite = n.sent_by(BOB, "INVITE").last().cloned().unwrap();
    let sent = Replaces::parse(invite.header("Replaces").unwrap()).unwrap();
    assert_eq!(sent, replaces);
    assert_eq!(invite.header("Referred-By"), refer.header("Referred-By"));
    let (c_bob, replaced) = n.incoming(CAROL);
    assert_eq!(replaced, Some(c_alice), "{:#?}", n.lines());

    // Carol answers Bob and hangs up the consult call it replaces.
    n.answer(CAROL);
    let now = n.now;
    n.eps[CAROL].hangup(now, c_alice).unwrap();
    n.shuttle();
    assert!(n.established(BOB, b_carol));
    assert_eq!(ended(&n, ALICE, a_carol), Some(EndReason::RemoteHangup));
    n.eps[BOB]
        .notify_transfer(now, b_alice, transfer, 200, "OK")
        .unwrap();
    n.shuttle();
    assert!(n.events[ALICE].iter().any(|e| matches!(e,
        Event::TransferSucceeded { transfer: t, .. } if *t == transfer)));
    n.eps[ALICE].hangup(now, a_bob).unwrap();
    n.run_for(Duration::from_secs(1));
    assert_eq!(n.eps[BOB].call_state(b_carol), Some(CallState::Confirmed));
    assert_eq!(n.eps[CAROL].call_state(c_bob), Some(CallState::Confirmed));
    assert_eq!(n.eps[ALICE].active_calls(), 0);
}

#[test]
fn rfc3891_3_attended_transfer_replaces_the_consult_call_we_received() {
    attended_transfer(false);
}

#[test]
fn rfc3891_3_attended_transfer_replaces_the_consult_call_we_placed() {
    attended_transfer(true);
}

#[test]
fn rfc3891_3_replaces_with_the_tags_the_wrong_way_round_is_481() {
    let mut n = Net::new();
    let (a_carol, _) = n.connect(ALICE, CAROL);
    let r = n.eps[ALICE].replaces_for(a_carol).unwrap();
    let swapped = Replaces {
        to_tag: r.from_tag.clone(),
        from_tag: r.to_tag.clone(),
        ..r
    };
    let b = invite_with_replaces(&mut n, &swapped.to_header_value());
    n.run_for(Duration::from_secs(1));
    assert!(matches!(
        ended(&n, BOB, b),
        Some(EndReason::Rejected(481, _))
    ));
    assert!(!n.events[CAROL].iter().any(|e| matches!(
        e,
        Event::IncomingCall {
            replaces: Some(_),
            ..
        }
    )));
}

#[test]
fn rfc3891_3_replaces_naming_no_dialog_is_481_and_a_malformed_one_400() {
    let mut n = Net::new();
    let b = invite_with_replaces(&mut n, "nosuch@127.0.0.1;to-tag=1;from-tag=2");
    let b2 = invite_with_replaces(&mut n, "nosuch@127.0.0.1;to-tag=1");
    n.run_for(Duration::from_secs(1));
    assert!(matches!(
        ended(&n, BOB, b),
        Some(EndReason::Rejected(481, _))
    ));
    assert!(matches!(
        ended(&n, BOB, b2),
        Some(EndReason::Rejected(400, _))
    ));
    assert!(!n.events[CAROL]
        .iter()
        .any(|e| matches!(e, Event::IncomingCall { .. })));
}

#[test]
fn rfc3891_3_early_only_with_a_confirmed_dialog_is_486() {
    let mut n = Net::new();
    let (a_carol, _) = n.connect(ALICE, CAROL);
    let r = Replaces {
        early_only: true,
        ..n.eps[ALICE].replaces_for(a_carol).unwrap()
    };
    let b = invite_with_replaces(&mut n, &r.to_header_value());
    n.run_for(Duration::from_secs(1));
    assert_eq!(ended(&n, BOB, b), Some(EndReason::Busy(486)));
}

#[test]
fn rfc3891_3_replaces_for_an_early_dialog_we_did_not_initiate_is_481() {
    let mut n = Net::new();
    n.dial(ALICE, CAROL, Vec::new());
    let (c_alice, _) = n.incoming(CAROL);
    let now = n.now;
    n.eps[CAROL].ring(now, c_alice).unwrap();
    n.shuttle();
    let ringing = n.sent_by(CAROL, "SIP/2.0 180")[0].clone();
    let tag = |v: &str| v.rsplit_once("tag=").unwrap().1.to_string();
    let r = Replaces {
        call_id: ringing.header("Call-ID").unwrap().to_string(),
        to_tag: tag(ringing.header("To").unwrap()),
        from_tag: tag(ringing.header("From").unwrap()),
        early_only: false,
    };
    let b = invite_with_replaces(&mut n, &r.to_header_value());
    n.run_for(Duration::from_secs(1));
    assert!(matches!(
        ended(&n, BOB, b),
        Some(EndReason::Rejected(481, _))
    ));
    assert_eq!(n.eps[CAROL].call_state(c_alice), Some(CallState::Ringing));
}

#[test]
fn rfc3891_3_replaces_for_an_early_dialog_we_initiated_is_offered() {
    let mut n = Net::new();
    // Carol calls Alice, Alice rings: Carol's early dialog, Carol initiated it.
    let c_alice = n.dial(CAROL, ALICE, Vec::new());
    let (a_carol, _) = n.incoming(ALICE);
    let now = n.now;
    n.eps[ALICE].ring(now, a_carol).unwrap();
    n.shuttle();
    let ringing = n.sent_by(ALICE, "SIP/2.0 180")[0].clone();
    let tag = |v: &str| v.rsplit_once("tag=").unwrap().1.to_string();
    // Bob replaces it at Carol: to-tag is Carol's tag (From of her INVITE).
    let r = Replaces {
        call_id: ringing.header("Call-ID").unwrap().to_string(),
        to_tag: tag(ringing.header("From").unwrap()),
        from_tag: tag(ringing.header("To").unwrap()),
        early_only: true,
    };
    invite_with_replaces(&mut n, &r.to_header_value());
    assert_eq!(n.incoming(CAROL).1, Some(c_alice));
}

#[test]
fn rfc3891_3_replaces_for_a_dialog_that_ended_is_603() {
    let mut n = Net::new();
    let (a_carol, _) = n.connect(ALICE, CAROL);
    let r = n.eps[ALICE].replaces_for(a_carol).unwrap();
    let now = n.now;
    n.eps[ALICE].hangup(now, a_carol).unwrap();
    n.run_for(Duration::from_secs(1));
    let b = invite_with_replaces(&mut n, &r.to_header_value());
    n.run_for(Duration::from_secs(1));
    assert_eq!(ended(&n, BOB, b), Some(EndReason::Declined));
}

#[test]
fn rfc3891_3_replaces_refused_from_an_unconfirmed_consult_call() {
    let mut n = Net::new();
    let (a_bob, _) = n.connect(ALICE, BOB);
    let a_carol = n.dial(ALICE, CAROL, Vec::new());
    let err = n.eps[ALICE].replaces_for(a_carol).unwrap_err();
    assert!(matches!(err, EndpointError::NotConfirmed { .. }));
    assert!(err.to_string().contains("RFC 3891 §3"), "{err}");
    let now = n.now;
    assert_eq!(
        n.eps[ALICE].attended_transfer(now, a_bob, a_carol),
        Err(err)
    );
    assert!(n.sent_by(ALICE, "REFER").is_empty());
}
