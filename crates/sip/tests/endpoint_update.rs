//! UPDATE flows (RFC 3311) between two endpoints in memory on a fake clock:
//! offers in confirmed and early dialogs, refreshes without SDP, rejection,
//! the automatic answer, glare (491) and its bound on retries, an auth
//! challenge, overlap with an INVITE (500), and the responses that end the
//! call.

mod common;

use agentphone_sip::{CallId, CallState, EndReason, EndpointError, Event};
use common::{answer_to_challenge, challenge, response_to, Pair, Wired};
use std::time::Duration;

const BOB_INITIAL: &[u8] = b"v=0\r\nbob-initial";
const HOLD: &[u8] = b"v=0\r\na=sendonly\r\n";
const HELD: &[u8] = b"v=0\r\na=recvonly\r\n";

fn established(p: &mut Pair) -> (CallId, CallId) {
    let a = p.call();
    let b = p.incoming();
    p.b.answer(p.now, b, BOB_INITIAL.to_vec()).unwrap();
    p.run_for(Duration::from_millis(10));
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    (a, b)
}

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

fn updates(events: &[Event]) -> Vec<(CallId, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Update { call, offer } => Some((*call, offer.clone())),
            _ => None,
        })
        .collect()
}

fn update_answers(events: &[Event]) -> Vec<Option<Vec<u8>>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::UpdateAnswered { sdp, .. } => Some(sdp.clone()),
            _ => None,
        })
        .collect()
}

/// A request like `template` (one that crossed from A): same dialog
/// headers, `method` with CSeq `cseq`, a new branch, `body` as SDP.
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
            "content-type" | "content-length" | "session-expires" | "min-se" => {}
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
fn rfc3311_5_2_update_offer_in_a_confirmed_dialog_is_answered_by_the_application() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    let mark = p.wire.len();
    p.a.update(p.now, a, Some(HOLD.to_vec())).unwrap();
    p.shuttle();
    assert_eq!(updates(&p.b_events), [(b, HOLD.to_vec())]);
    assert_eq!(
        p.a.update(p.now, a, None),
        Err(EndpointError::OfferPending(a)),
        "one UPDATE at a time"
    );
    assert_eq!(
        p.a.reinvite(p.now, a, HOLD.to_vec()),
        Err(EndpointError::InviteInProgress(a)),
        "no re-INVITE while an UPDATE offer is out"
    );
    p.b.accept_update(p.now, b, HELD.to_vec()).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(lines_since(&p, mark), ["A> UPDATE", "B> SIP/2.0 200 OK"]);
    let update = &p.wire[mark];
    assert_eq!(update.header("CSeq"), Some("2 UPDATE"));
    assert_eq!(update.body().as_bytes(), HOLD);
    assert!(update.header("Contact").is_some(), "{}", update.text);
    let ok = &p.wire[mark + 1];
    assert_eq!(ok.body().as_bytes(), HELD);
    assert!(ok.header("Contact").is_some(), "§5.2: {}", ok.text);
    assert_eq!(update_answers(&p.a_events), [Some(HELD.to_vec())]);
    assert_eq!(p.a.local_sdp(a), Some(HOLD));
    assert_eq!(p.a.remote_sdp(a), Some(HELD));
    assert_eq!(p.b.local_sdp(b), Some(HELD));
    assert_eq!(p.b.remote_sdp(b), Some(HOLD));
    // Bob may now send his own.
    p.b.update(p.now, b, Some(BOB_INITIAL.to_vec())).unwrap();
    p.shuttle();
    assert_eq!(updates(&p.a_events), [(a, BOB_INITIAL.to_vec())]);
    no_bye_or_end(&p);
}

#[test]
fn rfc3311_5_2_update_without_sdp_gets_200_at_once() {
    let mut p = Pair::new();
    let (a, _b) = established(&mut p);
    let mark = p.wire.len();
    p.a.update(p.now, a, None).unwrap();
    p.shuttle();
    assert_eq!(lines_since(&p, mark), ["A> UPDATE", "B> SIP/2.0 200 OK"]);
    assert!(
        updates(&p.b_events).is_empty(),
        "a refresh is not the app's business"
    );
    assert_eq!(update_answers(&p.a_events), [None]);
    assert_eq!(p.a.local_sdp(a), Some(&b"v=0\r\n"[..]));
    assert_eq!(p.a.remote_sdp(a), Some(BOB_INITIAL));
}

#[test]
fn rfc3311_5_2_unanswered_update_offer_is_accepted_with_the_current_sdp_after_the_wait() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    let mark = p.wire.len();
    p.a.update(p.now, a, Some(HOLD.to_vec())).unwrap();
    p.run_for(Duration::from_secs(3));
    let ok = p.wire[mark..]
        .iter()
        .find(|w| w.line.starts_with("SIP/2.0 200"))
        .expect("200 to the UPDATE");
    assert_eq!(
        ok.at - p.wire[mark].at,
        Duration::from_secs(2),
        "reinvite_answer_wait"
    );
    assert_eq!(ok.body().as_bytes(), BOB_INITIAL);
    assert_eq!(update_answers(&p.a_events), [Some(BOB_INITIAL.to_vec())]);
    assert_eq!(
        p.b.accept_update(p.now, b, HELD.to_vec()),
        Err(EndpointError::NoPendingUpdate(b))
    );
}

#[test]
fn rfc3311_5_2_rejected_update_keeps_the_session() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    p.a.update(p.now, a, Some(HOLD.to_vec())).unwrap();
    p.shuttle();
    assert_eq!(
        p.b.reject_update(p.now, b, 200),
        Err(EndpointError::BadStatus(200))
    );
    p.b.reject_update(p.now, b, 488).unwrap();
    p.run_for(Duration::from_secs(1));
    assert!(p
        .a_events
        .contains(&Event::UpdateFailed { call: a, code: 488 }));
    assert_eq!(p.a.local_sdp(a), Some(&b"v=0\r\n"[..]));
    assert_eq!(p.b.remote_sdp(b), Some(&b"v=0\r\n"[..]));
    no_bye_or_end(&p);
}

#[test]
fn rfc3311_5_2_update_glare_gets_491_and_both_retry_after_the_random_backoff() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    let mark = p.wire.len();
    p.a.update(p.now, a, Some(HOLD.to_vec())).unwrap();
    p.b.update(p.now, b, Some(HELD.to_vec())).unwrap();
    p.shuttle();
    let glare: Vec<String> = lines_since(&p, mark)
        .into_iter()
        .filter(|l| l.contains("491"))
        .collect();
    assert_eq!(glare.len(), 2, "{:#?}", p.lines());
    // The applications answer every offer as it comes.
    let mut answered = 0;
    for _ in 0..100 {
        p.run_for(Duration::from_millis(100));
        let pending: Vec<(bool, CallId)> = updates(&p.a_events)
            .into_iter()
            .map(|(c, _)| (true, c))
            .chain(updates(&p.b_events).into_iter().map(|(c, _)| (false, c)))
            .collect();
        for (on_a, call) in pending.into_iter().skip(answered) {
            let ep = if on_a { &mut p.a } else { &mut p.b };
            ep.accept_update(p.now, call, b"v=0\r\nanswer".to_vec())
                .unwrap();
            answered += 1;
        }
    }
    let retries: Vec<(bool, Duration)> = p.wire[mark..]
        .iter()
        .filter(|w| w.line.starts_with("UPDATE"))
        .map(|w| (w.from_a, w.at - p.wire[mark].at))
        .collect();
    assert_eq!(retries.len(), 4, "{retries:?}");
    let alice_retry = retries.iter().filter(|r| r.0).nth(1).unwrap().1;
    let bob_retry = retries.iter().filter(|r| !r.0).nth(1).unwrap().1;
    // Alice chose the Call-ID: 2.1-4 s; Bob 0-2 s (RFC 3261 §14.1).
    assert!(alice_retry >= Duration::from_millis(2100) && alice_retry <= Duration::from_secs(4));
    assert!(bob_retry <= Duration::from_secs(2), "{bob_retry:?}");
    assert_eq!(update_answers(&p.a_events).len(), 1);
    assert_eq!(update_answers(&p.b_events).len(), 1);
    no_bye_or_end(&p);
}

#[test]
fn rfc3311_5_2_update_offer_against_their_pending_offer_gets_500_and_against_ours_491() {
    let mut p = Pair::new();
    let (a, b) = established(&mut p);
    let mark = p.wire.len();
    p.a.update(p.now, a, None).unwrap();
    p.shuttle();
    let template = p.wire[mark].clone();
    let answer_to = |p: &Pair, cseq: &str| -> Wired {
        p.wire
            .iter()
            .find(|w| w.header("CSeq") == Some(cseq) && w.line.starts_with("SIP/2.0"))
            .unwrap_or_else(|| panic!("no answer to {cseq}: {:#?}", p.lines()))
            .clone()
    };

    // A re-INVITE offer from Alice's side waits on Bob's application.
    p.inject(true, &craft(&template, "INVITE", 10, "reinv", HOLD));
    p.shuttle();
    assert!(matches!(p.b_events.last(), Some(Event::ReInvite { .. })));
    p.inject(true, &craft(&template, "UPDATE", 11, "overlap", HOLD));
    p.shuttle();
    let refused = answer_to(&p, "11 UPDATE");
    assert!(refused.line.starts_with("SIP/2.0 500"), "{}", refused.line);
    let retry: u32 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert!(retry <= 10, "0-10 s like RFC 3261 §14.2");
    p.b.reject_reinvite(p.now, b, 488).unwrap();
    p.shuttle();

    // Bob's own re-INVITE offer is out (Alice's application holds it).
    p.b.reinvite(p.now, b, HELD.to_vec()).unwrap();
    p.shuttle();
    p.inject(true, &craft(&template, "UPDATE", 12, "glare", HOLD));
    p.shuttle();
    assert_eq!(
        answer_to(&p, "12 UPDATE").line,
        "SIP/2.0 491 Request Pending"
    );
    assert!(updates(&p.b_events).is_empty());
}

#[test]
fn rfc3311_5_1_update_answered_481_ends_the_call_and_other_failures_do_not() {
    let mut p = Pair::new();
    let (a, _b) = established(&mut p);
    p.a.update(p.now, a, Some(HOLD.to_vec())).unwrap();
    let sent = String::from_utf8(p.a.poll_transmit().unwrap().payload).unwrap();
    p.inject(false, &response_to(&sent, "403 Forbidden", ""));
    p.shuttle();
    assert!(p
        .a_events
        .contains(&Event::UpdateFailed { call: a, code: 403 }));
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));

    p.a.update(p.now, a, None).unwrap();
    let sent = String::from_utf8(p.a.poll_transmit().unwrap().payload).unwrap();
    p.inject(
        false,
        &response_to(&sent, "481 Call/Transaction Does Not Exist", ""),
    );
    p.shuttle();
    assert!(matches!(
        Pair::ended(&p.a_events),
        Some(EndReason::Rejected(481, _))
    ));
    assert_eq!(p.a.active_calls(), 0);
}

#[test]
fn rfc3311_5_1_unanswered_update_ends_the_call_with_a_bye() {
    let mut p = Pair::new();
    let (a, _b) = established(&mut p);
    p.drop_all("UPDATE");
    p.a.update(p.now, a, Some(HOLD.to_vec())).unwrap();
    p.run_for(Duration::from_secs(40));
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::NoAnswer(408)));
    assert_eq!(Pair::ended(&p.b_events), Some(EndReason::RemoteHangup));
}

/// The UPDATEs Alice sent since `mark` (retransmissions included).
fn sent_updates(p: &Pair, mark: usize) -> Vec<Wired> {
    p.wire[mark..]
        .iter()
        .filter(|w| w.from_a && w.line.starts_with("UPDATE"))
        .cloned()
        .collect()
}

#[test]
fn rfc3311_5_1_a_peer_that_always_answers_491_gets_five_updates_then_a_failure() {
    let mut p = Pair::new();
    let (a, _b) = established(&mut p);
    p.drop_all("UPDATE");
    let mark = p.wire.len();
    p.a.update(p.now, a, Some(HOLD.to_vec())).unwrap();
    let refused = p.refuse_each_send_with_491(mark, "UPDATE");
    assert_eq!(refused, [2, 3, 4, 5, 6], "a new CSeq per retry, five sends");
    assert!(p
        .a_events
        .contains(&Event::UpdateFailed { call: a, code: 491 }));
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    assert_eq!(
        p.a.local_sdp(a),
        Some(&b"v=0\r\n"[..]),
        "the old session stays"
    );
}

#[test]
fn rfc3311_5_1_a_challenged_update_is_answered_once_with_the_account_credentials() {
    let mut p = Pair::new();
    let (a, _b) = p.established_with_credentials(BOB_INITIAL);
    p.drop_all("UPDATE");

    // The first UPDATE is challenged; the retry carries the credentials.
    let mark = p.wire.len();
    p.a.update(p.now, a, Some(HOLD.to_vec())).unwrap();
    p.shuttle();
    let first = sent_updates(&p, mark);
    assert_eq!(first.len(), 1, "{:#?}", p.lines());
    assert_eq!(first[0].cseq_number(), 2);
    assert_eq!(first[0].header("Authorization"), None);
    p.inject(false, &challenge(&first[0].text, "n1"));
    p.shuttle();
    let retried: Vec<Wired> = sent_updates(&p, mark)
        .into_iter()
        .filter(|w| w.cseq_number() == 3)
        .collect();
    assert_eq!(retried.len(), 1, "{:#?}", p.lines());
    answer_to_challenge(&retried[0], "n1");
    assert_eq!(retried[0].body().as_bytes(), HOLD);

    // Challenged again with the nonce it answered: refused, not looped.
    p.inject(false, &challenge(&retried[0].text, "n1"));
    p.run_for(Duration::from_secs(1));
    assert!(
        p.a_events
            .contains(&Event::UpdateFailed { call: a, code: 401 }),
        "{:?}",
        p.a_events
    );
    assert_eq!(
        sent_updates(&p, mark)
            .iter()
            .filter(|w| w.cseq_number() > 3)
            .count(),
        0,
        "no third UPDATE"
    );
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    assert_eq!(
        p.a.local_sdp(a),
        Some(&b"v=0\r\n"[..]),
        "the old session stays"
    );
}
