//! REFER (RFC 3515) between endpoints in memory on a fake clock: Alice
//! transfers Bob to Carol; Bob is asked, accepts or rejects, places the
//! referred call and notifies its progress; Alice follows the NOTIFYs.
//! Asserts the SIP on the wire and the events on both sides.

mod transfer_net;

use agentphone_sip::rsip::parse_uri;
use agentphone_sip::{CallId, EndpointError, Event, ReferTarget, TransferFailure, TransferId};
use std::time::Duration;
use transfer_net::{craft, Net, ALICE, BOB, CAROL};

/// Alice and Bob in a call (Alice called); Alice asks Bob to call Carol.
/// Returns (alice's call, bob's call, the transfer as alice and bob see it).
fn transfer_asked(n: &mut Net) -> (CallId, CallId, TransferId, TransferId) {
    let (a, b) = n.connect(ALICE, BOB);
    let carol = parse_uri(&n.uri(CAROL)).unwrap();
    let now = n.now;
    let ta = n.eps[ALICE].transfer(now, a, carol, None).unwrap();
    n.shuttle();
    let tb = asked(n).0;
    (a, b, ta, tb)
}

/// The last TransferRequested Bob saw.
fn asked(n: &Net) -> (TransferId, ReferTarget, Option<String>) {
    n.events[BOB]
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
        .expect("bob was not asked to transfer")
}

/// Alice's transfer events, in order, as short strings.
fn alice_saw(n: &Net) -> Vec<String> {
    n.events[ALICE]
        .iter()
        .filter_map(|e| match e {
            Event::TransferAccepted { transfer, .. } => Some(format!("{transfer} accepted")),
            Event::TransferProgress {
                transfer,
                status_line,
                ..
            } => Some(format!("{transfer} progress {status_line}")),
            Event::TransferSucceeded {
                transfer,
                status_line,
                ..
            } => Some(format!("{transfer} succeeded {status_line}")),
            Event::TransferFailed {
                transfer, reason, ..
            } => Some(format!("{transfer} failed {reason:?}")),
            _ => None,
        })
        .collect()
}

#[test]
fn rfc3515_2_4_4_notify_carries_sipfrag_of_the_referred_call() {
    let mut n = Net::new();
    let (a, b, ta, tb) = transfer_asked(&mut n);
    let refer = n.sent_by(ALICE, "REFER")[0].clone();
    assert_eq!(ta.0, refer.cseq(), "the transfer id is the REFER's CSeq");
    assert_eq!(ta, tb);
    assert_eq!(
        refer.header("Refer-To"),
        Some(format!("<{}>", n.uri(CAROL)).as_str())
    );
    assert_eq!(
        refer.header("Referred-By"),
        Some(format!("<{}>", n.uri(ALICE)).as_str()),
        "RFC 3892: our AoR, without tag"
    );
    assert!(refer.header("Contact").is_some());
    let (_, target, referred_by) = asked(&n);
    assert_eq!(target.uri.to_string(), n.uri(CAROL));
    assert_eq!(target.replaces, None);
    assert!(
        n.sent_by(BOB, "SIP/2.0 202").is_empty(),
        "never accepted silently"
    );

    let now = n.now;
    n.eps[BOB].accept_transfer(now, b, tb).unwrap();
    n.shuttle();
    let headers = target.invite_headers(referred_by.as_deref());
    let bc = n.dial_uri(BOB, &target.uri.to_string(), headers);
    let invite = n.sent_by(BOB, "INVITE sip:carol").last().cloned().unwrap();
    assert_eq!(invite.header("Referred-By"), refer.header("Referred-By"));
    let now = n.now;
    let c = n.incoming(CAROL).0;
    n.eps[CAROL].ring(now, c).unwrap();
    n.shuttle();
    n.eps[BOB]
        .notify_transfer(now, b, tb, 180, "Ringing")
        .unwrap();
    n.shuttle();
    n.answer(CAROL);
    assert!(n.established(BOB, bc));
    let now = n.now;
    n.eps[BOB].notify_transfer(now, b, tb, 200, "OK").unwrap();
    n.run_for(Duration::from_secs(1));

    assert_eq!(
        alice_saw(&n),
        [
            format!("{ta} accepted"),
            format!("{ta} progress SIP/2.0 100 Trying"),
            format!("{ta} progress SIP/2.0 180 Ringing"),
            format!("{ta} succeeded SIP/2.0 200 OK"),
        ]
    );
    let notifies = n.sent_by(BOB, "NOTIFY");
    assert_eq!(notifies.len(), 3, "{:#?}", n.lines());
    let cseqs: Vec<u32> = notifies.iter().map(|w| w.cseq()).collect();
    assert!(cseqs.windows(2).all(|w| w[0] < w[1]), "{cseqs:?}");
    for w in &notifies {
        assert_eq!(
            w.header("Event"),
            Some(format!("refer;id={}", ta.0).as_str())
        );
        assert_eq!(
            w.header("Content-Type"),
            Some("message/sipfrag;version=2.0")
        );
    }
    assert_eq!(notifies[0].body(), "SIP/2.0 100 Trying\r\n");
    assert_eq!(
        notifies[0].header("Subscription-State"),
        Some("active;expires=180")
    );
    assert_eq!(notifies[1].body(), "SIP/2.0 180 Ringing\r\n");
    assert_eq!(notifies[2].body(), "SIP/2.0 200 OK\r\n");
    assert_eq!(
        notifies[2].header("Subscription-State"),
        Some("terminated;reason=noresource")
    );
    let answered = n
        .sent_by(ALICE, "SIP/2.0 200")
        .iter()
        .filter(|w| w.header("CSeq").is_some_and(|c| c.ends_with("NOTIFY")))
        .count();
    assert_eq!(answered, 3, "each NOTIFY answered 200");
    // The 202 went before the first NOTIFY.
    let order: Vec<&str> = n
        .wire
        .iter()
        .filter(|w| w.from == BOB && (w.line.contains("202") || w.line.starts_with("NOTIFY")))
        .map(|w| w.line.as_str())
        .take(2)
        .collect();
    assert!(order[0].starts_with("SIP/2.0 202"), "{order:?}");
    assert_eq!(
        n.eps[BOB].notify_transfer(n.now, b, tb, 200, "OK"),
        Err(EndpointError::NoSuchTransfer(b, tb)),
        "nothing after the final NOTIFY"
    );
    // The transfer done, Alice hangs up: nothing more about the transfer.
    let mark = n.events[ALICE].len();
    let now = n.now;
    n.eps[ALICE].hangup(now, a).unwrap();
    n.run_for(Duration::from_secs(1));
    assert!(!n
        .events_since(ALICE, mark)
        .iter()
        .any(|e| matches!(e, Event::TransferFailed { .. })));
}

#[test]
fn rfc3515_2_4_5_final_failure_of_the_referred_call_fails_the_transfer() {
    let mut n = Net::new();
    let (a, b, ta, tb) = transfer_asked(&mut n);
    let now = n.now;
    n.eps[BOB].accept_transfer(now, b, tb).unwrap();
    n.eps[BOB]
        .notify_transfer(now, b, tb, 486, "Busy Here")
        .unwrap();
    n.run_for(Duration::from_secs(1));
    assert_eq!(
        alice_saw(&n),
        [
            format!("{ta} accepted"),
            format!("{ta} progress SIP/2.0 100 Trying"),
            format!("{ta} failed CallFailed(486)"),
        ]
    );
    let notifies = n.sent_by(BOB, "NOTIFY");
    assert_eq!(notifies.len(), 2, "one NOTIFY at a time, both sent");
    assert_eq!(notifies[1].body(), "SIP/2.0 486 Busy Here\r\n");
    assert_eq!(TransferFailure::CallFailed(486).code(), Some(486));
    assert_eq!(
        n.eps[ALICE].call_state(a),
        Some(agentphone_sip::CallState::Confirmed)
    );
}

#[test]
fn rfc3515_2_4_2_rejected_refer_reports_its_status_and_creates_no_subscription() {
    let mut n = Net::new();
    let (_, b, ta, tb) = transfer_asked(&mut n);
    let now = n.now;
    assert_eq!(
        n.eps[BOB].reject_transfer(now, b, tb, 200),
        Err(EndpointError::BadStatus(200))
    );
    n.eps[BOB].reject_transfer(now, b, tb, 603).unwrap();
    n.run_for(Duration::from_secs(40));
    assert_eq!(alice_saw(&n), [format!("{ta} failed Refused(603)")]);
    assert!(n.sent_by(BOB, "NOTIFY").is_empty());
    assert_eq!(
        n.eps[BOB].accept_transfer(n.now, b, tb),
        Err(EndpointError::NoSuchTransfer(b, tb))
    );
}

#[test]
fn rfc3515_2_4_2_refer_left_unanswered_is_refused_with_603() {
    let mut n = Net::new();
    let (_, b, ta, tb) = transfer_asked(&mut n);
    n.run_for(Duration::from_secs(15));
    assert!(n.sent_by(BOB, "SIP/2.0 603").is_empty());
    n.run_for(Duration::from_secs(2));
    assert_eq!(n.sent_by(BOB, "SIP/2.0 603").len(), 1, "{:#?}", n.lines());
    assert_eq!(alice_saw(&n), [format!("{ta} failed Refused(603)")]);
    assert_eq!(
        n.eps[BOB].accept_transfer(n.now, b, tb),
        Err(EndpointError::NoSuchTransfer(b, tb))
    );
}

#[test]
fn rfc3515_2_4_1_refer_without_exactly_one_refer_to_is_400() {
    let mut n = Net::new();
    let (a, _b, _, _) = transfer_asked(&mut n);
    let refer = n.sent_by(ALICE, "REFER")[0].clone();
    let alice = n.addrs[ALICE];
    let carol = format!("Refer-To: <{}>\r\n", n.uri(CAROL));
    for (cseq, extra) in [
        (refer.cseq() + 1, String::new()),
        (refer.cseq() + 2, format!("{carol}{carol}")),
        (
            refer.cseq() + 3,
            "Refer-To: <tel:+15551234>\r\n".to_string(),
        ),
    ] {
        let bytes = craft(&refer, alice, "REFER", cseq, &extra, "");
        n.inject(ALICE, BOB, &bytes);
        n.shuttle();
    }
    let answers: Vec<String> = n
        .sent_by(BOB, "SIP/2.0 400")
        .iter()
        .map(|w| w.header("Warning").unwrap_or("").to_string())
        .collect();
    assert_eq!(answers.len(), 3, "{:#?}", n.lines());
    assert!(answers[0].contains("no Refer-To (RFC 3515"), "{answers:?}");
    assert!(answers[1].contains("more than one Refer-To"), "{answers:?}");
    assert!(answers[2].contains("tel"), "{answers:?}");
    let asked = n.events[BOB]
        .iter()
        .filter(|e| matches!(e, Event::TransferRequested { .. }))
        .count();
    assert_eq!(asked, 1, "only the good REFER was reported");
    let _ = a;
}

#[test]
fn rfc3515_2_4_6_second_refer_gets_its_own_id_and_notify_without_id_is_the_first() {
    let mut n = Net::new();
    let (a, b, t1, _) = transfer_asked(&mut n);
    let now = n.now;
    let t2 = n.eps[ALICE]
        .transfer(now, a, parse_uri("sip:dave@127.0.0.1:5064").unwrap(), None)
        .unwrap();
    n.shuttle();
    assert!(t2.0 > t1.0);
    assert_eq!(asked(&n).0, t2);
    n.eps[BOB].accept_transfer(now, b, t2).unwrap();
    n.eps[BOB].accept_transfer(now, b, t1).unwrap();
    n.shuttle();
    let notify = n.sent_by(BOB, "NOTIFY")[0].clone();
    assert_eq!(
        notify.header("Event"),
        Some(format!("refer;id={}", t2.0).as_str())
    );
    // A NOTIFY without id belongs to the first REFER (RFC 3515 §2.4.6).
    let bob = n.addrs[BOB];
    let mut next = n
        .sent_by(BOB, "NOTIFY")
        .iter()
        .map(|w| w.cseq())
        .max()
        .unwrap()
        + 1;
    let frag = "SIP/2.0 183 Session Progress\r\n";
    let extra = "Event: refer\r\nSubscription-State: active;expires=60\r\nContent-Type: message/sipfrag\r\n";
    n.inject(
        BOB,
        ALICE,
        &craft(&notify, bob, "NOTIFY", next, extra, frag),
    );
    n.shuttle();
    assert!(n.events[ALICE].iter().any(|e| matches!(e,
        Event::TransferProgress { transfer, code: 183, .. } if *transfer == t1)));
    // Unknown id: 481; another package: 489; no Subscription-State: 400.
    for (extra, status) in [
        (
            "Event: refer;id=999\r\nSubscription-State: active;expires=60\r\n",
            "SIP/2.0 481",
        ),
        (
            "Event: presence\r\nSubscription-State: active;expires=60\r\n",
            "SIP/2.0 489",
        ),
        ("Subscription-State: active;expires=60\r\n", "SIP/2.0 489"),
        ("Event: refer\r\n", "SIP/2.0 400"),
    ] {
        next += 1;
        let before = n.sent_by(ALICE, status).len();
        n.inject(
            BOB,
            ALICE,
            &craft(&notify, bob, "NOTIFY", next, extra, frag),
        );
        n.shuttle();
        assert_eq!(
            n.sent_by(ALICE, status).len(),
            before + 1,
            "{extra}: {:#?}",
            n.lines()
        );
    }
}

#[test]
fn rfc6665_4_1_2_4_no_notify_after_the_202_fails_the_transfer_after_64_t1() {
    let mut n = Net::new();
    n.drop_every.push((BOB, "NOTIFY".into()));
    let (_, b, ta, tb) = transfer_asked(&mut n);
    let now = n.now;
    n.eps[BOB].accept_transfer(now, b, tb).unwrap();
    n.run_for(Duration::from_secs(31));
    assert_eq!(alice_saw(&n), [format!("{ta} accepted")]);
    n.run_for(Duration::from_secs(2));
    assert_eq!(
        alice_saw(&n),
        [format!("{ta} accepted"), format!("{ta} failed Timeout")]
    );
    // Bob's NOTIFY timed out (Timer F): his subscription is gone too.
    assert_eq!(
        n.eps[BOB].notify_transfer(n.now, b, tb, 200, "OK"),
        Err(EndpointError::NoSuchTransfer(b, tb))
    );
}

#[test]
fn rfc6665_4_2_2_notify_answered_481_ends_the_subscription() {
    let mut n = Net::new();
    let (a, b, ta, tb) = transfer_asked(&mut n);
    let now = n.now;
    n.eps[BOB].accept_transfer(now, b, tb).unwrap();
    n.shuttle();
    // Blind transfer: Alice hangs up once Bob accepted. The outcome is
    // unknown, and said so.
    n.eps[ALICE].hangup(now, a).unwrap();
    n.shuttle();
    assert_eq!(
        alice_saw(&n).last().unwrap(),
        &format!("{ta} failed DialogEnded")
    );
    // Bob's call is over too, and with it the subscription.
    assert_eq!(
        n.eps[BOB].notify_transfer(n.now, b, tb, 200, "OK"),
        Err(EndpointError::NoSuchTransfer(b, tb))
    );
}

#[test]
fn rfc6665_4_2_2_notify_refused_by_the_referrer_drops_the_subscription() {
    let mut n = Net::new();
    let (_, b, _, tb) = transfer_asked(&mut n);
    let now = n.now;
    n.eps[BOB].accept_transfer(now, b, tb).unwrap();
    // Alice's side forgets the subscription (as after a crash): craft her
    // 481 by dropping her 200s and answering the next NOTIFY ourselves.
    n.drop_every.push((ALICE, "SIP/2.0 200".into()));
    n.shuttle();
    n.drop_every.clear();
    let notify = n.sent_by(BOB, "NOTIFY")[0].clone();
    let resp = response_to(&notify.text, "481 Call/Transaction Does Not Exist");
    n.inject(ALICE, BOB, &resp);
    n.shuttle();
    assert_eq!(
        n.eps[BOB].notify_transfer(n.now, b, tb, 180, "Ringing"),
        Err(EndpointError::NoSuchTransfer(b, tb))
    );
}

#[test]
fn rfc6665_4_2_2_subscription_expiry_sends_a_terminating_timeout_notify() {
    let mut n = Net::new();
    let (_, b, ta, tb) = transfer_asked(&mut n);
    let now = n.now;
    n.eps[BOB].accept_transfer(now, b, tb).unwrap();
    n.run_for(Duration::from_secs(179));
    assert_eq!(n.sent_by(BOB, "NOTIFY").len(), 1);
    n.run_for(Duration::from_secs(2));
    let notifies = n.sent_by(BOB, "NOTIFY");
    assert_eq!(notifies.len(), 2, "{:#?}", n.lines());
    assert_eq!(
        notifies[1].header("Subscription-State"),
        Some("terminated;reason=timeout")
    );
    assert_eq!(notifies[1].body(), "SIP/2.0 100 Trying\r\n");
    assert_eq!(
        alice_saw(&n).last().unwrap(),
        &format!("{ta} failed Terminated(Some(\"timeout\"))")
    );
}

#[test]
fn rfc3515_refer_and_notify_are_allowed_and_replaces_supported() {
    let mut n = Net::new();
    let _ = n.connect(ALICE, BOB);
    let invite = n.sent_by(ALICE, "INVITE")[0].clone();
    let allow = invite.header("Allow").unwrap();
    assert!(
        allow.contains("REFER") && allow.contains("NOTIFY"),
        "{allow}"
    );
    let supported = invite.header("Supported").unwrap();
    assert!(
        supported.split(',').any(|t| t.trim() == "replaces"),
        "{supported}"
    );
}

#[test]
fn rfc3515_2_4_2_transfer_needs_a_confirmed_call() {
    let mut n = Net::new();
    let a = n.dial(ALICE, BOB, Vec::new());
    let carol = parse_uri(&n.uri(CAROL)).unwrap();
    let now = n.now;
    assert!(matches!(
        n.eps[ALICE].transfer(now, a, carol, None),
        Err(EndpointError::WrongState { .. })
    ));
}

/// A response to `request` with the transaction headers copied.
fn response_to(request: &str, status: &str) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.split("\r\n\r\n").next().unwrap().lines().skip(1) {
        let name = line.split(':').next().unwrap().trim().to_ascii_lowercase();
        if ["via", "from", "to", "call-id", "cseq"].contains(&name.as_str()) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}
