//! Two endpoints in memory on a fake clock: whole call flows, with chosen
//! datagrams dropped. Runs in milliseconds of real time.

mod common;

use agentphone_sip::transport::Destination;
use agentphone_sip::{CallState, Credentials, EndReason, Event};
use common::{addr, response_to, Pair, A, B};
use std::time::Duration;

/// The trace line of a message, as read back from the wire.
fn parsed_line(text: &str) -> String {
    use agentphone_sip::rsip::SipMessage;
    match agentphone_sip::message::parse_datagram(text.as_bytes()).expect("sent message parses") {
        SipMessage::Request(r) => format!("{} {}", r.method, r.uri),
        SipMessage::Response(r) => {
            let cseq = agentphone_sip::message::header(&r, "CSeq").unwrap_or("");
            format!("{} ({cseq})", r.status_code)
        }
    }
}

#[test]
fn sent_traces_are_what_went_on_the_wire() {
    // The Trace of a sent message carries the line kept from when it was
    // built (nothing is parsed again): it must read as the message parsed
    // back. A call with a retransmitted INVITE, 100 Trying, a re-INVITE and a
    // BYE, over a lossy start.
    let mut p = Pair::new();
    p.auto_accept = true;
    p.drop_nth("INVITE", 0);
    let call = p.call();
    p.run_for(Duration::from_millis(1000));
    let inc = p.incoming();
    p.b.answer(p.now, inc, b"v=0\r\nanswer".to_vec()).unwrap();
    p.run_for(Duration::from_millis(10));
    p.a.reinvite(p.now, call, b"v=0\r\nhold".to_vec()).unwrap();
    p.run_for(Duration::from_millis(10));
    p.a.hangup(p.now, call).unwrap();
    p.run_for(Duration::from_secs(40));
    for (from_a, sent) in [(true, &p.a_sent), (false, &p.b_sent)] {
        let wire: Vec<String> = p
            .wire
            .iter()
            .filter(|w| w.from_a == from_a)
            .map(|w| parsed_line(&w.text))
            .collect();
        assert_eq!(sent, &wire);
    }
    assert!(p.a_sent.len() >= 6, "{:?}", p.a_sent);
    assert!(
        p.b_sent.iter().any(|l| l.starts_with("100 ")),
        "{:?}",
        p.b_sent
    );
}

#[test]
fn call_answered_and_hung_up_by_caller() {
    let mut p = Pair::new();
    let call = p.call();
    let inc = p.incoming();
    p.b.ring(p.now, inc).unwrap();
    p.b.answer(p.now, inc, b"v=0\r\nanswer".to_vec()).unwrap();
    p.run_for(Duration::from_millis(10));
    assert!(p.a_events.iter().any(
        |e| matches!(e, Event::Established { remote_sdp: Some(s), .. } if s.ends_with(b"answer"))
    ));
    assert!(p
        .b_events
        .iter()
        .any(|e| matches!(e, Event::Established { .. })));
    assert_eq!(p.a.call_state(call), Some(CallState::Confirmed));
    p.a.hangup(p.now, call).unwrap();
    p.run_for(Duration::from_secs(40));
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::LocalHangup));
    assert_eq!(Pair::ended(&p.b_events), Some(EndReason::RemoteHangup));
    let lines = p.lines();
    let starts: Vec<&str> = lines
        .iter()
        .map(|l| l.split(" sip:").next().unwrap_or(l))
        .collect();
    assert_eq!(
        starts,
        // Bob rings at once, so no 100 Trying is due (§17.2.1: within 200 ms).
        [
            "A> INVITE",
            "B> SIP/2.0 180 Ringing",
            "B> SIP/2.0 200 OK",
            "A> ACK",
            "A> BYE",
            "B> SIP/2.0 200 OK"
        ],
        "{lines:#?}"
    );
    assert_eq!(p.a.active_calls(), 0);
    assert_eq!(p.b.active_calls(), 0);
}

/// A proxy challenges the BYE of `from_a` (the caller, or the callee given the
/// account's credentials with `set_credentials`): the BYE is sent again once,
/// with a higher CSeq and the answer, and the other side gets it. A second
/// challenge ends the call here without a third BYE.
fn challenged_bye(from_a: bool, challenges: usize) -> Pair {
    let mut p = Pair::new();
    let creds = Credentials {
        user: "agent".into(),
        password: "secret".into(),
    };
    let call = p.call_with(Some(creds.clone()));
    let inc = p.incoming();
    p.b.answer(p.now, inc, b"v=0\r\nanswer".to_vec()).unwrap();
    p.run_for(Duration::from_millis(10));
    if !from_a {
        p.b.set_credentials(inc, creds).unwrap();
    }
    for n in 0..challenges {
        p.drop_nth("BYE", n);
    }
    if from_a {
        p.a.hangup(p.now, call).unwrap();
    } else {
        p.b.hangup(p.now, inc).unwrap();
    }
    for n in 0..challenges {
        p.shuttle();
        let bye = p
            .wire
            .iter()
            .filter(|w| w.line.starts_with("BYE"))
            .nth(n)
            .unwrap_or_else(|| panic!("BYE #{n} not sent: {:#?}", p.lines()))
            .text
            .clone();
        let challenge = format!(
            "Proxy-Authenticate: Digest realm=\"example.org\", nonce=\"b{n}\", algorithm=MD5, qop=\"auth\"\r\n"
        );
        let resp = response_to(&bye, "407 Proxy Authentication Required", &challenge);
        p.inject(!from_a, &resp);
    }
    p.run_for(Duration::from_secs(40));
    p
}

#[test]
fn challenged_bye_is_resent_with_credentials_by_caller_and_callee() {
    for from_a in [true, false] {
        let p = challenged_bye(from_a, 1);
        let byes: Vec<_> = p
            .wire
            .iter()
            .filter(|w| w.line.starts_with("BYE"))
            .collect();
        assert_eq!(byes.len(), 2, "{:#?}", p.lines());
        assert!(
            byes[1]
                .text
                .contains("Proxy-Authorization: Digest username=\"agent\""),
            "{}",
            byes[1].text
        );
        assert!(byes[1].text.contains("nonce=\"b0\""), "{}", byes[1].text);
        let cseq = |w: &common::Wired| {
            w.text
                .lines()
                .find(|l| l.starts_with("CSeq:"))
                .map(str::to_string)
        };
        assert_ne!(
            cseq(byes[0]),
            cseq(byes[1]),
            "a new CSeq for the new request"
        );
        let (mine, theirs) = if from_a {
            (&p.a_events, &p.b_events)
        } else {
            (&p.b_events, &p.a_events)
        };
        assert_eq!(Pair::ended(mine), Some(EndReason::LocalHangup));
        assert_eq!(
            Pair::ended(theirs),
            Some(EndReason::RemoteHangup),
            "the peer got the second BYE"
        );
    }
}

#[test]
fn a_bye_challenged_twice_ends_the_call_without_a_third() {
    let p = challenged_bye(true, 2);
    let byes = p.wire.iter().filter(|w| w.line.starts_with("BYE")).count();
    assert_eq!(byes, 2, "{:#?}", p.lines());
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::LocalHangup));
}

/// A proxy challenges the INVITE with 407; the retried INVITE carries
/// Proxy-Authorization, and so must the ACK for its 200 (RFC 3261 §13.2.2.4:
/// the proxy that wanted credentials for the INVITE may check the ACK too).
#[test]
fn ack_for_a_challenged_invite_carries_its_credentials() {
    let mut p = Pair::new();
    p.drop_nth("INVITE", 0);
    let call = p.call_with(Some(Credentials {
        user: "alice".into(),
        password: "secret".into(),
    }));
    let first = p.wire[0].text.clone();
    p.inject(
        false,
        &response_to(
            &first,
            "407 Proxy Authentication Required",
            "Proxy-Authenticate: Digest realm=\"example.org\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"\r\n",
        ),
    );
    p.shuttle();
    let inc = p.incoming();
    p.b.answer(p.now, inc, b"v=0\r\nanswer".to_vec()).unwrap();
    p.run_for(Duration::from_millis(10));
    assert_eq!(p.a.call_state(call), Some(CallState::Confirmed));
    let header = |w: &common::Wired, name: &str| {
        w.text
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": ").map(str::to_string))
    };
    let sent = |start: &str, cseq: &str| {
        p.wire
            .iter()
            .find(|w| w.line.starts_with(start) && w.text.contains(cseq))
            .unwrap_or_else(|| panic!("no {start} with {cseq}: {:#?}", p.lines()))
    };
    let retried = sent("INVITE", "CSeq: 2 INVITE");
    let auth = header(retried, "Proxy-Authorization").expect("INVITE retried with credentials");
    assert!(auth.contains("nonce=\"n1\""), "{auth}");
    let ack = sent("ACK", "CSeq: 2 ACK");
    assert_eq!(
        header(ack, "Proxy-Authorization"),
        Some(auth),
        "{}",
        ack.text
    );
}

#[test]
fn busy_is_a_typed_outcome_and_acked() {
    let mut p = Pair::new();
    let _call = p.call();
    let inc = p.incoming();
    p.b.reject(p.now, inc, 486).unwrap();
    p.run_for(Duration::from_secs(40));
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::Busy(486)));
    let lines = p.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("B> SIP/2.0 486")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("A> ACK")),
        "non-2xx must be ACKed: {lines:#?}"
    );
}

#[test]
fn lost_invite_200_and_ack_are_recovered_by_retransmission() {
    let mut p = Pair::new();
    p.drop_nth("INVITE", 0);
    p.drop_nth("SIP/2.0 200 OK", 0);
    p.drop_nth("ACK", 0);
    let call = p.call();
    p.run_for(Duration::from_millis(600));
    let inc = p.incoming();
    p.b.answer(p.now, inc, b"v=0\r\n".to_vec()).unwrap();
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.a.call_state(call), Some(CallState::Confirmed));
    assert!(
        p.b_events
            .iter()
            .any(|e| matches!(e, Event::Established { .. })),
        "bob never confirmed"
    );
    let invites = p
        .wire
        .iter()
        .filter(|w| w.line.starts_with("INVITE"))
        .count();
    let oks = p
        .wire
        .iter()
        .filter(|w| w.line.starts_with("SIP/2.0 200"))
        .count();
    assert_eq!(invites, 2, "one INVITE lost, one retransmitted");
    assert!(
        oks >= 3,
        "200 lost, retransmitted, and sent again after the lost ACK"
    );
    p.b.hangup(p.now, inc).unwrap();
    p.run_for(Duration::from_secs(40));
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::RemoteHangup));
    assert_eq!(Pair::ended(&p.b_events), Some(EndReason::LocalHangup));
}

#[test]
fn cancel_waits_for_a_provisional_and_ends_with_487() {
    let mut p = Pair::new();
    p.drop_nth("SIP/2.0 100", 0);
    let call = p.call();
    p.a.hangup(p.now, call).unwrap();
    p.shuttle();
    assert!(
        !p.wire.iter().any(|w| w.line.starts_with("CANCEL")),
        "CANCEL must not precede a provisional response"
    );
    let inc = p.incoming();
    p.b.ring(p.now, inc).unwrap();
    p.run_for(Duration::from_secs(40));
    let lines = p.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("A> CANCEL")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("B> SIP/2.0 487")),
        "{lines:#?}"
    );
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::Cancelled));
    assert_eq!(Pair::ended(&p.b_events), Some(EndReason::RemoteCancelled));
}

#[test]
fn a_200_crossing_the_cancel_is_acked_then_byed() {
    let mut p = Pair::new();
    let call = p.call();
    let inc = p.incoming();
    p.b.ring(p.now, inc).unwrap();
    p.shuttle();
    // Bob answers while Alice's CANCEL is in flight: answer first, then let
    // Alice cancel before she has seen the 200.
    p.b.answer(p.now, inc, b"v=0\r\n".to_vec()).unwrap();
    p.a.hangup(p.now, call).unwrap();
    p.run_for(Duration::from_secs(40));
    let lines = p.lines();
    assert!(lines.iter().any(|l| l.starts_with("A> ACK")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("A> BYE")), "{lines:#?}");
    assert_eq!(p.a.active_calls(), 0);
    assert_eq!(p.b.active_calls(), 0);
}

#[test]
fn silent_callee_times_out_after_timer_b() {
    let mut p = Pair::new();
    p.drop_all("INVITE");
    let start = p.now;
    let _call = p.call();
    p.run_for(Duration::from_secs(40));
    let ended_at = p.now;
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::NoAnswer(408)));
    let sent = p
        .wire
        .iter()
        .filter(|w| w.from_a && w.line.starts_with("INVITE"))
        .count();
    assert_eq!(sent, 7, "INVITE at 0, .5, 1.5, 3.5, 7.5, 15.5, 31.5 s");
    assert!(ended_at - start >= Duration::from_secs(32));
}

#[test]
fn options_is_answered_and_unknown_dialog_gets_481() {
    let mut p = Pair::new();
    let opt = format!(
        "OPTIONS sip:bob@{B} SIP/2.0\r\nVia: SIP/2.0/UDP {A};branch=z9hG4bKopt1\r\nMax-Forwards: 70\r\n\
         From: <sip:alice@{A}>;tag=1\r\nTo: <sip:bob@{B}>\r\nCall-ID: opt@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    p.b.handle_input(p.now, Destination::udp(addr(A)), opt.as_bytes());
    let resp = String::from_utf8(p.b.poll_transmit().unwrap().payload).unwrap();
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
    assert!(resp.contains("Allow: INVITE"), "{resp}");
    let bye = opt
        .replace("OPTIONS sip", "BYE sip")
        .replace("1 OPTIONS", "2 BYE")
        .replace(
            "To: <sip:bob@127.0.0.1:5062>",
            "To: <sip:bob@127.0.0.1:5062>;tag=nope",
        )
        .replace("opt1", "bye1");
    p.b.handle_input(p.now, Destination::udp(addr(A)), bye.as_bytes());
    let resp = String::from_utf8(p.b.poll_transmit().unwrap().payload).unwrap();
    assert!(resp.starts_with("SIP/2.0 481"), "{resp}");
}

/// RFC 3261 §18.2.1/§18.2.2 and RFC 3581: the response names the address the
/// request came from and goes to the Via's port, or back to the source port
/// when the client asked for `rport`.
#[test]
fn responses_follow_the_via_received_and_rport_rules() {
    let mut p = Pair::new();
    let options = |via: &str, branch: &str| {
        format!(
            "OPTIONS sip:bob@{B} SIP/2.0\r\nVia: {via};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n\
             From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@{B}>\r\nCall-ID: {branch}@x\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    // Sent from an ephemeral port, Via names the listening port: answer there.
    let src = Destination::udp(addr("192.0.2.50:40000"));
    let req = options("SIP/2.0/UDP alice.example.com:5099", "a");
    p.b.handle_input(p.now, src, req.as_bytes());
    let t = p.b.poll_transmit().unwrap();
    let resp = String::from_utf8(t.payload).unwrap();
    assert_eq!(t.dest.addr, addr("192.0.2.50:5099"), "{resp}");
    assert!(
        resp.contains(
            "Via: SIP/2.0/UDP alice.example.com:5099;branch=z9hG4bKa;received=192.0.2.50\r\n"
        ),
        "{resp}"
    );
    // With rport: back to the source port, which the Via now records.
    let req = options("SIP/2.0/UDP 192.0.2.50:5099;rport", "b");
    p.b.handle_input(p.now, src, req.as_bytes());
    let t = p.b.poll_transmit().unwrap();
    let resp = String::from_utf8(t.payload).unwrap();
    assert_eq!(t.dest.addr, addr("192.0.2.50:40000"), "{resp}");
    assert!(
        resp.contains("Via: SIP/2.0/UDP 192.0.2.50:5099;rport=40000;branch=z9hG4bKb\r\n"),
        "{resp}"
    );
}

/// A transport error reported by the I/O layer (TCP refused, no route) ends
/// the call at once instead of after Timer B's 32 s of retransmissions.
#[test]
fn transport_error_ends_the_call_at_once() {
    let mut p = Pair::new();
    p.drop_all("INVITE");
    let call = p.call();
    let invite = p.wire[0].clone();
    assert!(invite.line.starts_with("INVITE"));
    p.a.handle_transport_error(p.now, Destination::udp(addr(B)));
    p.shuttle();
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::TransportError));
    assert_eq!(p.a.call_state(call), None);
    let sent_before = p.wire.len();
    p.run_for(Duration::from_secs(40));
    assert_eq!(
        p.wire.len(),
        sent_before,
        "nothing retransmitted: {:#?}",
        p.lines()
    );
}

#[test]
fn malformed_request_gets_400_naming_the_fault() {
    let mut p = Pair::new();
    let bad = format!(
        "INVITE sip:bob@{B} SIP/2.0\r\nVia: SIP/2.0/UDP {A};branch=z9hG4bKbad\r\nMax-Forwards: 70\r\n\
         From: <sip:alice@{A}>;tag=1\r\nTo: <sip:bob@{B}>\r\nCall-ID: bad@x\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    p.b.handle_input(p.now, Destination::udp(addr(A)), bad.as_bytes());
    let resp = String::from_utf8(p.b.poll_transmit().unwrap().payload).unwrap();
    assert!(resp.starts_with("SIP/2.0 400"), "{resp}");
    assert!(
        resp.to_lowercase().contains("cseq"),
        "reason names the fault: {resp}"
    );
    assert_eq!(p.b.active_calls(), 0);
}
