//! Reliable provisional responses (RFC 3262) and option tags (RFC 3261
//! §8.2.2.3) between two endpoints on a fake clock: PRACK once per RSeq,
//! retransmission until the PRACK, 481 for a PRACK matching nothing, the
//! 2xx held behind an unacknowledged 183 with SDP, UPDATE in the early
//! dialog, CSeq continuing into the confirmed dialog, and 420.

mod common;

use agentphone_sip::rsip::parse_uri;
use agentphone_sip::{CallId, CallRequest, CallState, EndReason, Event};
use common::{Pair, Wired, A, B};
use std::time::Duration;

const EARLY: &[u8] = b"v=0\r\nbob-early";

/// Alice calls Bob with `require` in Require.
fn call_requiring(p: &mut Pair, require: &str) -> CallId {
    let req = CallRequest {
        target: parse_uri(&format!("sip:bob@{B}")).unwrap(),
        from: format!("<sip:alice@{A}>"),
        via_proxy: None,
        credentials: None,
        sdp_offer: b"v=0\r\n".to_vec(),
        tcp: false,
        extra_headers: vec![("Require".into(), require.into())],
        alternates: Vec::new(),
    };
    let id = p.a.call(p.now, req).unwrap();
    p.shuttle();
    id
}

fn sent(p: &Pair, prefix: &str) -> Vec<Wired> {
    p.wire
        .iter()
        .filter(|w| w.line.starts_with(prefix))
        .cloned()
        .collect()
}

fn progress(events: &[Event]) -> Vec<(u16, Option<Vec<u8>>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Progress { code, sdp, .. } => Some((*code, sdp.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn rfc3262_4_uac_pracks_a_reliable_183_once_and_ignores_retransmissions() {
    let mut p = Pair::new();
    let a = call_requiring(&mut p, "100rel");
    let b = p.incoming();
    p.drop_nth("PRACK", 0);
    p.b.early_media(p.now, b, EARLY.to_vec()).unwrap();
    p.run_for(Duration::from_secs(2));
    let provisional = sent(&p, "SIP/2.0 183");
    assert!(
        provisional.len() >= 2,
        "retransmitted until the PRACK: {:#?}",
        p.lines()
    );
    let rseq = provisional[0].header("RSeq").unwrap().to_string();
    assert_eq!(provisional[0].header("Require"), Some("100rel"));
    assert_eq!(provisional[0].body().as_bytes(), EARLY);
    let pracks = sent(&p, "PRACK");
    assert!(pracks.len() >= 2, "the first was lost, Timer E resends it");
    assert!(
        pracks.iter().all(|w| w.header("CSeq") == Some("2 PRACK")),
        "one PRACK transaction for one RSeq: {:#?}",
        p.lines()
    );
    assert_eq!(pracks[0].header("RAck"), Some(&*format!("{rseq} 1 INVITE")));
    assert!(sent(&p, "SIP/2.0 200")
        .iter()
        .any(|w| w.header("CSeq") == Some("2 PRACK")));
    assert_eq!(progress(&p.a_events), [(183, Some(EARLY.to_vec()))]);
    assert_eq!(p.a.remote_sdp(a), Some(EARLY));

    // A later reliable 180 carries the next RSeq and gets its own PRACK.
    p.b.ring(p.now, b).unwrap();
    p.run_for(Duration::from_secs(1));
    let ringing = sent(&p, "SIP/2.0 180");
    let next: u32 = rseq.parse::<u32>().unwrap() + 1;
    assert_eq!(ringing[0].header("RSeq"), Some(&*next.to_string()));
    assert_eq!(
        sent(&p, "PRACK").last().unwrap().header("CSeq"),
        Some("3 PRACK")
    );

    // The confirmed dialog goes on from the early dialog's CSeq.
    p.b.answer(p.now, b, EARLY.to_vec()).unwrap();
    p.run_for(Duration::from_millis(10));
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    p.a.hangup(p.now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(sent(&p, "BYE")[0].header("CSeq"), Some("4 BYE"));
    assert_eq!(Pair::ended(&p.b_events), Some(EndReason::RemoteHangup));
}

#[test]
fn rfc3262_3_uas_retransmits_until_the_prack_then_rejects_with_500() {
    let mut p = Pair::new();
    let a = call_requiring(&mut p, "100rel");
    let b = p.incoming();
    p.drop_all("PRACK");
    p.b.ring(p.now, b).unwrap();
    let t0 = p.now - p.start;
    p.run_for(Duration::from_secs(40));
    let times: Vec<u64> = sent(&p, "SIP/2.0 180")
        .iter()
        .map(|w| (w.at - t0).as_millis() as u64)
        .collect();
    // T1 doubling, no T2 cap (§3).
    assert_eq!(times, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    let refusal = sent(&p, "SIP/2.0 500");
    assert_eq!(refusal.len(), 1, "{:#?}", p.lines());
    assert_eq!((refusal[0].at - t0).as_secs(), 32);
    assert!(matches!(
        Pair::ended(&p.a_events),
        Some(EndReason::Rejected(500, _))
    ));
    assert_eq!(p.b.call_state(b), None);
    assert_eq!(p.a.call_state(a), None);
}

#[test]
fn rfc3262_3_prack_matching_nothing_gets_481() {
    let mut p = Pair::new();
    call_requiring(&mut p, "100rel");
    let b = p.incoming();
    p.drop_all("PRACK");
    p.b.ring(p.now, b).unwrap();
    p.shuttle();
    let prack = sent(&p, "PRACK")[0].clone();
    let rack = prack.header("RAck").unwrap().to_string();
    let wrong = prack
        .text
        .replace(&rack, "1 1 INVITE")
        .replace("branch=z9hG4bK", "branch=z9hG4bKx")
        .replace("CSeq: 2 PRACK", "CSeq: 3 PRACK");
    p.stop_dropping();
    p.inject(true, wrong.as_bytes());
    p.shuttle();
    let answer = sent(&p, "SIP/2.0 481");
    assert_eq!(answer.len(), 1, "{:#?}", p.lines());
    assert_eq!(answer[0].header("CSeq"), Some("3 PRACK"));
    // The right one is still taken.
    let right = prack
        .text
        .replace("branch=z9hG4bK", "branch=z9hG4bKy")
        .replace("CSeq: 2 PRACK", "CSeq: 4 PRACK");
    p.inject(true, right.as_bytes());
    p.shuttle();
    assert!(sent(&p, "SIP/2.0 200")
        .iter()
        .any(|w| w.header("CSeq") == Some("4 PRACK")));
}

#[test]
fn rfc3262_3_answer_waits_for_the_prack_of_a_reliable_183_with_sdp() {
    let mut p = Pair::new();
    let a = call_requiring(&mut p, "100rel");
    let b = p.incoming();
    p.drop_nth("PRACK", 0);
    p.b.early_media(p.now, b, EARLY.to_vec()).unwrap();
    p.b.answer(p.now, b, EARLY.to_vec()).unwrap();
    p.run_for(Duration::from_secs(2));
    let order: Vec<String> = p
        .wire
        .iter()
        .filter(|w| !w.dropped && w.line.starts_with("SIP/2.0 200"))
        .map(|w| w.header("CSeq").unwrap().to_string())
        .collect();
    assert_eq!(order[..2], ["2 PRACK", "1 INVITE"], "{:#?}", p.lines());
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    assert_eq!(p.b.call_state(b), Some(CallState::Confirmed));
}

#[test]
fn rfc3311_5_1_update_in_the_early_dialog_after_the_reliable_answer() {
    let mut p = Pair::new();
    let a = call_requiring(&mut p, "100rel");
    let b = p.incoming();
    assert!(
        p.a.update(p.now, a, Some(b"v=0\r\nx".to_vec())).is_err(),
        "no dialog yet"
    );
    p.b.early_media(p.now, b, EARLY.to_vec()).unwrap();
    p.shuttle();
    p.a.update(p.now, a, Some(b"v=0\r\nalice-2".to_vec()))
        .unwrap();
    p.shuttle();
    assert!(p.b_events.contains(&Event::Update {
        call: b,
        offer: b"v=0\r\nalice-2".to_vec()
    }));
    p.b.accept_update(p.now, b, b"v=0\r\nbob-2".to_vec())
        .unwrap();
    p.shuttle();
    assert!(p.a_events.contains(&Event::UpdateAnswered {
        call: a,
        sdp: Some(b"v=0\r\nbob-2".to_vec())
    }));
    assert_eq!(sent(&p, "UPDATE")[0].header("CSeq"), Some("3 UPDATE"));
    p.b.answer(p.now, b, b"v=0\r\nbob-2".to_vec()).unwrap();
    p.run_for(Duration::from_millis(10));
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    assert_eq!(p.a.remote_sdp(a), Some(&b"v=0\r\nbob-2"[..]));
    p.b.hangup(p.now, b).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::RemoteHangup));
}

#[test]
fn rfc3261_8_2_2_3_unsupported_require_gets_420_with_unsupported() {
    let mut p = Pair::new();
    let a = call_requiring(&mut p, "100rel, foo, timer");
    let refused = sent(&p, "SIP/2.0 420");
    assert_eq!(refused.len(), 1, "{:#?}", p.lines());
    assert_eq!(refused[0].header("Unsupported"), Some("foo"));
    assert!(matches!(
        Pair::ended(&p.a_events),
        Some(EndReason::Rejected(420, _))
    ));
    assert_eq!(p.a.call_state(a), None);
    assert!(p.b_events.is_empty());
}
