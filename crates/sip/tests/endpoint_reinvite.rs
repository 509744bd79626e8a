//! re-INVITE flows (RFC 3261 §14) between two endpoints in memory on a fake
//! clock: hold and resume both ways, rejection, glare, overlap, offerless
//! re-INVITEs, lost ACKs, dead dialogs, challenges. Asserts the SIP on the
//! wire and the events.

mod common;

use agentphone_sip::{CallId, CallState, EndReason, EndpointError, Event};
use common::{answer_to_challenge, challenge, Pair, Wired};
use std::time::Duration;

const BOB_INITIAL: &[u8] = b"v=0\r\nbob-initial";
const HOLD: &[u8] = b"v=0\r\na=sendonly\r\n";
const HELD: &[u8] = b"v=0\r\na=recvonly\r\n";
const RESUME: &[u8] = b"v=0\r\na=sendrecv\r\n";

/// Alice calls Bob, Bob answers: `(alice's call, bob's call)`, both up.
fn established(p: &mut Pair) -> (CallId, CallId) {
    let a = p.call();
    let b = p.incoming();
    p.b.answer(p.now, b, BOB_INITIAL.to_vec()).unwrap();
    p.run_for(Duration::from_millis(10));
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    assert_eq!(p.b.call_state(b), Some(CallState::Confirmed));
    (a, b)
}

/// A call up, then Alice's hold re-INVITE delivered to Bob, who has not
/// answered it yet. Returns both calls and the wire index before the re-INVITE.
fn hold_offered(p: &mut Pair) -> (CallId, CallId, usize) {
    let (a, b) = established(p);
    let mark = p.wire.len();
    p.a.reinvite(p.now, a, HOLD.to_vec()).unwrap();
    p.shuttle();
    (a, b, mark)
}

/// The datagrams that crossed from `mark` on, not dropped, as `A> line`.
fn lines_since(p: &Pair, mark: usize) -> Vec<String> {
    p.wire[mark..]
        .iter()
        .filter(|w| !w.dropped)
        .map(|w| {
            let first = w.line.split(" sip:").next().unwrap_or(&w.line);
            format!("{} {first}", if w.from_a { "A>" } else { "B>" })
        })
        .collect()
}

/// Messages from `mark` on whose first line starts with `prefix` and whose
/// CSeq is `cseq`.
fn sent<'a>(p: &'a Pair, mark: usize, prefix: &str, cseq: &str) -> Vec<&'a Wired> {
    p.wire[mark..]
        .iter()
        .filter(|w| w.line.starts_with(prefix) && w.header("CSeq") == Some(cseq))
        .collect()
}

/// A request built from `template` (one that crossed): same dialog headers,
/// `method` with CSeq `cseq`, a new branch, and `body` as SDP.
fn craft(template: &Wired, method: &str, cseq: u32, branch: &str, body: &[u8]) -> Vec<u8> {
    let uri = template.line.split_whitespace().nth(1).unwrap();
    let mut out = format!("{method} {uri} SIP/2.0\r\n");
    let head = template.text.split("\r\n\r\n").next().unwrap();
    for line in head.lines().skip(1) {
        let name = line.split(':').next().unwrap().trim().to_ascii_lowercase();
        match name.as_str() {
            "via" => out.push_str(&format!(
                "Via: SIP/2.0/UDP {};branch=z9hG4bK{branch}\r\n",
                common::A
            )),
            "cseq" => out.push_str(&format!("CSeq: {cseq} {method}\r\n")),
            "content-type" | "content-length" => {}
            _ => out.push_str(&format!("{line}\r\n")),
        }
    }
    if !body.is_empty() {
        out.push_str("Content-Type: application/sdp\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn answered(events: &[Event]) -> Vec<Option<Vec<u8>>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ReInviteAnswered { sdp, .. } => Some(sdp.clone()),
            _ => None,
        })
        .collect()
}

fn no_bye_or_end(p: &Pair) {
    assert!(
        !p.wire.iter().any(|w| w.line.starts_with("BYE")),
        "{:#?}",
        p.lines()
    );
    assert_eq!(Pair::ended(&p.a_events), None);
    assert_eq!(Pair::ended(&p.b_events), None);
}

#[test]
fn hold_and_resume_from_the_caller() {
    let mut p = Pair::new();
    let (a, b, mark) = hold_offered(&mut p);
    assert_eq!(
        p.b_events.last(),
        Some(&Event::ReInvite {
            call: b,
            offer: Some(HOLD.to_vec())
        })
    );
    assert_eq!(
        p.a.reinvite(p.now, a, RESUME.to_vec()),
        Err(EndpointError::InviteInProgress(a)),
        "§14.1: one INVITE at a time"
    );
    p.b.accept_reinvite(p.now, b, HELD.to_vec()).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(answered(&p.a_events), [Some(HELD.to_vec())]);
    assert_eq!(
        lines_since(&p, mark),
        ["A> INVITE", "B> SIP/2.0 200 OK", "A> ACK"]
    );
    let invite = &p.wire[mark];
    assert_eq!(invite.header("CSeq"), Some("2 INVITE"));
    assert_eq!(invite.header("Content-Type"), Some("application/sdp"));
    assert_eq!(invite.body().as_bytes(), HOLD);
    assert!(invite.header("Contact").is_some(), "{}", invite.text);
    assert!(invite
        .line
        .starts_with("INVITE sip:agentphone@127.0.0.1:5062 "));
    let ok = &p.wire[mark + 1];
    assert_eq!(ok.header("CSeq"), Some("2 INVITE"));
    assert_eq!(ok.header("Content-Type"), Some("application/sdp"));
    assert_eq!(ok.body().as_bytes(), HELD);
    assert!(ok.header("Contact").is_some(), "{}", ok.text);
    assert_eq!(p.wire[mark + 2].header("CSeq"), Some("2 ACK"));
    assert_eq!(p.a.local_sdp(a), Some(HOLD));
    assert_eq!(p.a.remote_sdp(a), Some(HELD));
    assert_eq!(p.b.local_sdp(b), Some(HELD));
    assert_eq!(p.b.remote_sdp(b), Some(HOLD));

    p.auto_accept = true;
    let mark = p.wire.len();
    p.a.reinvite(p.now, a, RESUME.to_vec()).unwrap();
    p.run_for(Duration::from_secs(40));
    assert_eq!(
        answered(&p.a_events),
        [Some(HELD.to_vec()), Some(b"v=0\r\nanswer-from-b".to_vec())]
    );
    assert_eq!(sent(&p, mark, "INVITE", "3 INVITE").len(), 1);
    assert_eq!(sent(&p, mark, "ACK", "3 ACK").len(), 1);
    no_bye_or_end(&p);
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    assert_eq!(p.b.call_state(b), Some(CallState::Confirmed));
}

#[test]
fn hold_from_the_callee_uses_its_own_cseq_space() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    p.auto_accept = true;
    let mark = p.wire.len();
    p.b.reinvite(p.now, b, HOLD.to_vec()).unwrap();
    p.run_for(Duration::from_secs(1));
    assert!(p.a_events.contains(&Event::ReInvite {
        call: a,
        offer: Some(HOLD.to_vec())
    }));
    assert_eq!(
        answered(&p.b_events),
        [Some(b"v=0\r\nanswer-from-a".to_vec())]
    );
    assert_eq!(
        lines_since(&p, mark),
        ["B> INVITE", "A> SIP/2.0 200 OK", "B> ACK"]
    );
    let invite = &p.wire[mark];
    // Sent to Alice's Contact, From Bob's side of the dialog.
    assert!(invite
        .line
        .starts_with("INVITE sip:agentphone@127.0.0.1:5061 "));
    assert!(
        invite.header("From").unwrap().contains("bob"),
        "{}",
        invite.text
    );
    let n = invite.cseq_number();
    assert_eq!(p.wire[mark + 2].header("CSeq"), Some(&*format!("{n} ACK")));

    let mark = p.wire.len();
    p.b.reinvite(p.now, b, RESUME.to_vec()).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.wire[mark].cseq_number(), n + 1);
    assert_eq!(answered(&p.b_events).len(), 2);
    assert_eq!(p.a.remote_sdp(a), Some(RESUME));
    no_bye_or_end(&p);
}

#[test]
fn rejected_reinvite_keeps_the_call_and_its_session() {
    let mut p = Pair::new();
    let (a, b, mark) = hold_offered(&mut p);
    assert_eq!(
        p.b.reject_reinvite(p.now, b, 200),
        Err(EndpointError::BadStatus(200))
    );
    p.b.reject_reinvite(p.now, b, 488).unwrap();
    assert_eq!(
        p.b.reject_reinvite(p.now, b, 488),
        Err(EndpointError::NoPendingReInvite(b))
    );
    p.run_for(Duration::from_secs(40));
    assert!(p
        .a_events
        .contains(&Event::ReInviteFailed { call: a, code: 488 }));
    assert_eq!(
        lines_since(&p, mark),
        ["A> INVITE", "B> SIP/2.0 488 Not Acceptable Here", "A> ACK"]
    );
    assert_eq!(p.wire[mark + 2].header("CSeq"), Some("2 ACK"));
    no_bye_or_end(&p);
    // The old session stands on both sides.
    assert_eq!(p.a.local_sdp(a), Some(&b"v=0\r\n"[..]));
    assert_eq!(p.a.remote_sdp(a), Some(BOB_INITIAL));
    assert_eq!(p.b.remote_sdp(b), Some(&b"v=0\r\n"[..]));
    p.a.hangup(p.now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::LocalHangup));
    assert_eq!(Pair::ended(&p.b_events), Some(EndReason::RemoteHangup));
}

#[test]
fn glare_gets_491_and_both_retry_after_the_random_backoff() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    p.auto_accept = true;
    let mark = p.wire.len();
    let t0 = p.now - p.start;
    p.a.reinvite(p.now, a, HOLD.to_vec()).unwrap();
    p.b.reinvite(p.now, b, HOLD.to_vec()).unwrap();
    p.shuttle();
    let mut glare: Vec<String> = lines_since(&p, mark)
        .into_iter()
        .filter(|l| l.contains("491"))
        .collect();
    glare.sort();
    assert_eq!(
        glare,
        [
            "A> SIP/2.0 491 Request Pending",
            "B> SIP/2.0 491 Request Pending"
        ]
    );
    p.run_for(Duration::from_secs(10));
    let retry_at = |from_a: bool| {
        let times: Vec<Duration> = p.wire[mark..]
            .iter()
            .filter(|w| w.from_a == from_a && w.line.starts_with("INVITE"))
            .map(|w| w.at - t0)
            .collect();
        assert_eq!(times.len(), 2, "one INVITE, one retry: {:#?}", p.lines());
        assert_eq!(times[0], Duration::ZERO);
        times[1]
    };
    // Alice chose the Call-ID: 2.1-4 s; Bob did not: 0-2 s (§14.1), 10 ms steps.
    let (ra, rb) = (retry_at(true), retry_at(false));
    assert!(
        ra >= Duration::from_millis(2100) && ra <= Duration::from_secs(4),
        "{ra:?}"
    );
    assert!(rb <= Duration::from_secs(2), "{rb:?}");
    assert_eq!(ra.as_millis() % 10, 0);
    assert_eq!(rb.as_millis() % 10, 0);
    assert_eq!(
        answered(&p.a_events),
        [Some(b"v=0\r\nanswer-from-b".to_vec())]
    );
    assert_eq!(
        answered(&p.b_events),
        [Some(b"v=0\r\nanswer-from-a".to_vec())]
    );
    assert!(!p
        .a_events
        .iter()
        .chain(&p.b_events)
        .any(|e| matches!(e, Event::ReInviteFailed { .. })));
    no_bye_or_end(&p);
}

#[test]
fn overlapping_reinvite_gets_500_with_retry_after() {
    let mut p = Pair::new();
    let (_a, b, mark) = hold_offered(&mut p);
    let first = p.wire[mark].clone();
    let second = craft(&first, "INVITE", 3, "second", RESUME);
    p.inject(true, &second);
    p.shuttle();
    let refusals = sent(&p, mark, "SIP/2.0 500", "3 INVITE");
    assert_eq!(refusals.len(), 1, "{:#?}", p.lines());
    let retry: u32 = refusals[0]
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry <= 10, "§14.2: 0-10 s, got {retry}");
    // The first one is still Bob's to answer.
    p.b.accept_reinvite(p.now, b, HELD.to_vec()).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(answered(&p.a_events), [Some(HELD.to_vec())]);
    assert_eq!(p.b.remote_sdp(b), Some(HOLD));
}

#[test]
fn offerless_reinvite_gets_our_offer_retransmitted_until_the_ack_answers() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    p.auto_accept = true;
    let mark = p.wire.len();
    p.a.reinvite(p.now, a, HOLD.to_vec()).unwrap();
    p.run_for(Duration::from_millis(10));
    p.auto_accept = false;
    let template = p.wire[mark].clone();
    let offer = b"v=0\r\nbob-offer".to_vec();
    let answer = b"v=0\r\nalice-answer".to_vec();

    let mark = p.wire.len();
    p.inject(true, &craft(&template, "INVITE", 3, "nooffer", b""));
    p.shuttle();
    assert_eq!(
        p.b_events.last(),
        Some(&Event::ReInvite {
            call: b,
            offer: None
        })
    );
    p.b.accept_reinvite(p.now, b, offer.clone()).unwrap();
    // No ACK for 1.6 s: the 200 goes out at 0, 0.5 and 1.5 s (T1 doubling).
    p.run_for(Duration::from_millis(1600));
    let oks = sent(&p, mark, "SIP/2.0 200", "3 INVITE");
    let times: Vec<u128> = oks.iter().map(|w| (w.at - oks[0].at).as_millis()).collect();
    assert_eq!(times, [0, 500, 1500]);
    assert!(oks.iter().all(
        |w| w.body().as_bytes() == offer && w.header("Content-Type") == Some("application/sdp")
    ));

    p.inject(true, &craft(&template, "ACK", 3, "ack3", &answer));
    p.shuttle();
    assert_eq!(
        p.b_events.last(),
        Some(&Event::ReInviteAckAnswer {
            call: b,
            answer: Some(answer.clone())
        })
    );
    assert_eq!(p.b.remote_sdp(b), Some(&answer[..]));
    assert_eq!(p.b.local_sdp(b), Some(&offer[..]));
    p.run_for(Duration::from_secs(40));
    assert_eq!(
        sent(&p, mark, "SIP/2.0 200", "3 INVITE").len(),
        3,
        "ACKed: no more 200s"
    );
    no_bye_or_end(&p);
    assert_eq!(p.b.call_state(b), Some(CallState::Confirmed));
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
}

#[test]
fn unanswered_reinvite_is_accepted_with_the_current_sdp_after_the_wait() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    let mark = p.wire.len();
    p.a.reinvite(p.now, a, HOLD.to_vec()).unwrap();
    p.run_for(Duration::from_secs(3));
    assert_eq!(
        lines_since(&p, mark),
        [
            "A> INVITE",
            "B> SIP/2.0 100 Trying",
            "B> SIP/2.0 200 OK",
            "A> ACK"
        ]
    );
    let ok = &sent(&p, mark, "SIP/2.0 200", "2 INVITE")[0];
    assert_eq!(ok.at - p.wire[mark].at, Duration::from_secs(2));
    assert_eq!(answered(&p.a_events), [Some(BOB_INITIAL.to_vec())]);
    assert_eq!(p.b.remote_sdp(b), Some(HOLD));
    // Too late to answer now.
    assert_eq!(
        p.b.accept_reinvite(p.now, b, HELD.to_vec()),
        Err(EndpointError::NoPendingReInvite(b))
    );
}

#[test]
fn lost_reinvite_ack_gets_the_200_again_and_a_new_ack() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    p.auto_accept = true;
    p.drop_nth("ACK", 0); // counted from here on: the re-INVITE's ACK
    let mark = p.wire.len();
    p.a.reinvite(p.now, a, HOLD.to_vec()).unwrap();
    p.run_for(Duration::from_secs(40));
    assert_eq!(sent(&p, mark, "SIP/2.0 200", "2 INVITE").len(), 2);
    let acks = sent(&p, mark, "ACK", "2 ACK");
    assert_eq!(acks.len(), 2);
    assert!(acks[0].dropped && !acks[1].dropped);
    assert_eq!(
        acks[0].text, acks[1].text,
        "the same ACK, resent (§13.2.2.4)"
    );
    no_bye_or_end(&p);
    // Bob's side of the exchange is complete: he may re-INVITE now.
    p.b.reinvite(p.now, b, RESUME.to_vec()).unwrap();
}

#[test]
fn reinvite_on_a_dialog_the_peer_forgot_gets_481_and_ends_the_call() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    p.drop_all("BYE");
    p.b.hangup(p.now, b).unwrap();
    p.run_for(Duration::from_secs(40));
    assert_eq!(Pair::ended(&p.b_events), Some(EndReason::LocalHangup));
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    p.stop_dropping();
    let mark = p.wire.len();
    p.a.reinvite(p.now, a, HOLD.to_vec()).unwrap();
    p.run_for(Duration::from_secs(40));
    assert_eq!(
        lines_since(&p, mark),
        [
            "A> INVITE",
            "B> SIP/2.0 481 Call/Transaction Does Not Exist",
            "A> ACK"
        ]
    );
    assert!(matches!(
        Pair::ended(&p.a_events),
        Some(EndReason::Rejected(481, _))
    ));
    assert_eq!(p.a.active_calls(), 0);
    assert_eq!(
        p.a.reinvite(p.now, a, HOLD.to_vec()),
        Err(EndpointError::NoSuchCall(a))
    );
}

#[test]
fn unanswered_reinvite_ends_the_call_with_a_bye() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    p.drop_all("INVITE");
    let mark = p.wire.len();
    p.a.reinvite(p.now, a, HOLD.to_vec()).unwrap();
    p.run_for(Duration::from_secs(40));
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::NoAnswer(408)));
    let bye = p.wire[mark..]
        .iter()
        .find(|w| w.line.starts_with("BYE"))
        .expect("BYE after the re-INVITE timed out");
    assert_eq!(bye.at - p.wire[mark].at, Duration::from_secs(32), "Timer B");
    assert_eq!(Pair::ended(&p.b_events), Some(EndReason::RemoteHangup));
    assert_eq!(p.b.call_state(b), None);
}

#[test]
fn hangup_while_a_reinvite_waits_answers_it_487() {
    let mut p = Pair::new();
    let (a, _b) = established(&mut p);
    p.a.reinvite(p.now, a, HOLD.to_vec()).unwrap();
    p.shuttle();
    p.a.hangup(p.now, a).unwrap();
    p.run_for(Duration::from_secs(40));
    let lines = p.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("B> SIP/2.0 487")),
        "{lines:#?}"
    );
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::LocalHangup));
    assert_eq!(Pair::ended(&p.b_events), Some(EndReason::RemoteHangup));
    assert!(!p
        .a_events
        .iter()
        .any(|e| matches!(e, Event::ReInviteFailed { .. })));
}

#[test]
fn a_peer_that_always_answers_491_gets_five_sends_then_a_failure() {
    let mut p = Pair::new();
    let (a, _b) = established(&mut p);
    p.drop_all("INVITE");
    let mark = p.wire.len();
    p.a.reinvite(p.now, a, HOLD.to_vec()).unwrap();
    let refused = p.refuse_each_send_with_491(mark, "INVITE");
    assert_eq!(refused, [2, 3, 4, 5, 6], "a new CSeq per retry, five sends");
    assert!(p
        .a_events
        .contains(&Event::ReInviteFailed { call: a, code: 491 }));
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    assert_eq!(p.a.local_sdp(a), Some(&b"v=0\r\n"[..]));
}

#[test]
fn challenged_reinvite_is_answered_once_with_the_account_credentials() {
    let mut p = Pair::new();
    let (a, _b) = p.established_with_credentials(BOB_INITIAL);
    p.auto_accept = true;

    // First re-INVITE: intercepted and challenged.
    p.a.reinvite(p.now, a, HOLD.to_vec()).unwrap();
    let first = String::from_utf8(p.a.poll_transmit().unwrap().payload).unwrap();
    assert!(first.contains("CSeq: 2 INVITE"), "{first}");
    p.inject(false, &challenge(&first, "n1"));
    let mark = p.wire.len();
    p.run_for(Duration::from_secs(1));
    let retried = sent(&p, mark, "INVITE", "3 INVITE");
    assert_eq!(retried.len(), 1, "{:#?}", p.lines());
    let auth = answer_to_challenge(retried[0], "n1");
    assert_eq!(retried[0].body().as_bytes(), HOLD);
    let ack = &sent(&p, mark, "ACK", "3 ACK")[0];
    assert_eq!(
        ack.header("Authorization"),
        Some(auth),
        "§13.2.2.4: ACK carries the credentials"
    );
    assert_eq!(
        answered(&p.a_events),
        [Some(b"v=0\r\nanswer-from-b".to_vec())]
    );

    // Second re-INVITE: challenged twice with the same nonce, refused once.
    p.a.reinvite(p.now, a, RESUME.to_vec()).unwrap();
    let second = String::from_utf8(p.a.poll_transmit().unwrap().payload).unwrap();
    p.inject(false, &challenge(&second, "n2"));
    let third = String::from_utf8(p.a.poll_transmit().unwrap().payload).unwrap();
    assert!(third.starts_with("ACK"), "the 401 is ACKed: {third}");
    let third = String::from_utf8(p.a.poll_transmit().unwrap().payload).unwrap();
    assert!(third.contains("nonce=\"n2\""), "{third}");
    p.inject(false, &challenge(&third, "n2"));
    p.run_for(Duration::from_secs(1));
    assert!(p
        .a_events
        .contains(&Event::ReInviteFailed { call: a, code: 401 }));
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    assert_eq!(p.a.local_sdp(a), Some(HOLD));
}
