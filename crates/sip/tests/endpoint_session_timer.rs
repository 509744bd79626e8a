//! Session timers (RFC 4028) between two endpoints on a fake clock: the
//! headers, the refresh at half the interval by UPDATE (or re-INVITE when
//! the peer does not allow UPDATE), BYE when no refresh comes, 422 and the
//! retry with the peer's Min-SE.

mod common;

use agentphone_sip::session::SessionTimerConfig;
use agentphone_sip::{CallId, CallState, EndReason, Endpoint, EndpointConfig};
use common::{addr, Pair, Wired, A, B};
use std::time::Duration;

fn timers(expires: u64, min_se: u64) -> SessionTimerConfig {
    SessionTimerConfig {
        enabled: true,
        session_expires: Duration::from_secs(expires),
        min_se: Duration::from_secs(min_se),
    }
}

/// A pair whose Alice asks for `a` and whose Bob accepts down to `b_min`.
fn pair(a: SessionTimerConfig, b: SessionTimerConfig) -> Pair {
    let mut p = Pair::new();
    let mut ca = EndpointConfig::new(addr(A));
    ca.session_timer = a;
    let mut cb = EndpointConfig::new(addr(B));
    cb.session_timer = b;
    p.a = Endpoint::new(ca, 1);
    p.b = Endpoint::new(cb, 2);
    p
}

fn established(p: &mut Pair) -> (CallId, CallId) {
    let a = p.call();
    let b = p.incoming();
    p.b.answer(p.now, b, b"v=0\r\nbob".to_vec()).unwrap();
    p.run_for(Duration::from_millis(10));
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    (a, b)
}

fn first<'a>(p: &'a Pair, prefix: &str) -> &'a Wired {
    p.wire
        .iter()
        .find(|w| w.line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}: {:#?}", p.lines()))
}

fn sent(p: &Pair, prefix: &str) -> Vec<Wired> {
    p.wire
        .iter()
        .filter(|w| w.line.starts_with(prefix) && !w.dropped)
        .cloned()
        .collect()
}

#[test]
fn rfc4028_7_1_invite_offers_timers_and_the_2xx_names_the_refresher() {
    let mut p = Pair::new();
    established(&mut p);
    let invite = first(&p, "INVITE");
    let supported = invite.header("Supported").unwrap();
    assert!(
        supported.contains("timer") && supported.contains("100rel"),
        "{supported}"
    );
    assert_eq!(invite.header("Session-Expires"), Some("1800"));
    assert_eq!(invite.header("Min-SE"), Some("90"));
    let allow = invite.header("Allow").unwrap();
    assert!(
        allow.contains("UPDATE") && allow.contains("PRACK"),
        "{allow}"
    );
    let ok = first(&p, "SIP/2.0 200");
    assert_eq!(ok.header("Session-Expires"), Some("1800;refresher=uac"));
    assert_eq!(
        ok.header("Require"),
        Some("timer"),
        "§9: the UAC supports it"
    );
    assert!(ok.header("Allow").unwrap().contains("UPDATE"));
}

#[test]
fn rfc4028_10_refresher_uac_sends_update_at_half_interval() {
    let mut p = pair(timers(120, 90), SessionTimerConfig::default());
    let (a, b) = established(&mut p);
    let t0 = first(&p, "SIP/2.0 200").at;
    p.run_for(Duration::from_secs(400));
    let updates = sent(&p, "UPDATE");
    let times: Vec<u64> = updates.iter().map(|w| (w.at - t0).as_secs()).collect();
    // Every 60 s: each 2xx restarts the 120 s interval.
    assert_eq!(times, [60, 120, 180, 240, 300, 360], "{:#?}", p.lines());
    for u in &updates {
        assert!(u.body().is_empty(), "a refresh has no SDP");
        assert_eq!(u.header("Session-Expires"), Some("120;refresher=uac"));
    }
    assert_eq!(sent(&p, "SIP/2.0 200").len(), 1 + updates.len());
    assert!(sent(&p, "BYE").is_empty(), "{:#?}", p.lines());
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    assert_eq!(p.b.call_state(b), Some(CallState::Confirmed));
    assert!(p
        .b_events
        .iter()
        .all(|e| !matches!(e, agentphone_sip::Event::Update { .. })));
}

#[test]
fn rfc4028_10_refresh_is_a_reinvite_with_the_current_sdp_when_the_peer_lacks_update() {
    let mut p = pair(timers(120, 90), SessionTimerConfig::default());
    p.drop_nth("SIP/2.0 200", 0);
    let a = p.call();
    let b = p.incoming();
    p.b.answer(p.now, b, b"v=0\r\nbob".to_vec()).unwrap();
    p.shuttle();
    // Bob's 200 reaches Alice without UPDATE in Allow.
    let ok = p.wire.iter().rev().find(|w| w.dropped).unwrap().clone();
    let edited = ok.text.replace(", UPDATE", "");
    assert_ne!(edited, ok.text);
    p.inject(false, edited.as_bytes());
    p.auto_accept = true;
    let t0 = ok.at;
    p.run_for(Duration::from_secs(130));
    let reinvites: Vec<Wired> = sent(&p, "INVITE").into_iter().skip(1).collect();
    let times: Vec<u64> = reinvites.iter().map(|w| (w.at - t0).as_secs()).collect();
    assert_eq!(times, [60], "{:#?}", p.lines());
    assert_eq!(reinvites[0].body(), "v=0\r\n", "the current SDP");
    assert_eq!(
        reinvites[0].header("Session-Expires"),
        Some("120;refresher=uac")
    );
    // Its 200 lists UPDATE: the next refresh is an UPDATE.
    let updates = sent(&p, "UPDATE");
    assert_eq!(updates.len(), 1);
    assert_eq!((updates[0].at - t0).as_secs(), 120);
    assert_eq!(p.a.call_state(a), Some(CallState::Confirmed));
    assert!(sent(&p, "BYE").is_empty());
}

#[test]
fn rfc4028_10_no_refresh_ends_the_call_with_bye_before_expiry() {
    let mut p = pair(timers(120, 90), SessionTimerConfig::default());
    let (_a, _b) = established(&mut p);
    p.drop_all("UPDATE");
    let t0 = first(&p, "SIP/2.0 200").at;
    p.run_for(Duration::from_secs(200));
    let bye = first(&p, "BYE");
    assert!(!bye.from_a, "Bob, not the refresher, hangs up");
    // 120 s minus min(32 s, 120/3 s).
    assert_eq!(bye.at - t0, Duration::from_secs(88));
    assert_eq!(Pair::ended(&p.b_events), Some(EndReason::SessionExpired));
    assert_eq!(Pair::ended(&p.a_events), Some(EndReason::RemoteHangup));
}

#[test]
fn rfc4028_9_too_short_session_expires_gets_422_and_the_invite_is_retried_with_min_se() {
    let mut p = pair(timers(120, 90), timers(1800, 300));
    let (_a, _b) = established(&mut p);
    let lines: Vec<String> = p.lines().into_iter().take(4).collect();
    assert_eq!(
        lines[..3],
        [
            format!("A> INVITE sip:bob@{B} SIP/2.0"),
            "B> SIP/2.0 422 Session Interval Too Small".to_string(),
            format!("A> ACK sip:bob@{B} SIP/2.0"),
        ]
    );
    let refused = first(&p, "SIP/2.0 422");
    assert_eq!(refused.header("Min-SE"), Some("300"));
    let invites = sent(&p, "INVITE");
    assert_eq!(invites.len(), 2);
    assert_eq!(invites[1].header("Session-Expires"), Some("300"));
    assert_eq!(invites[1].header("Min-SE"), Some("300"));
    assert_eq!(invites[1].header("CSeq"), Some("2 INVITE"));
    let ok = first(&p, "SIP/2.0 200");
    assert_eq!(ok.header("Session-Expires"), Some("300;refresher=uac"));
}

#[test]
fn rfc4028_7_4_second_422_ends_the_call() {
    let mut p = pair(timers(120, 90), timers(1800, 300));
    p.drop_all("INVITE"); // Alice's retry is answered by hand below.
    let a = p.call();
    p.stop_dropping();
    let invite = sent(&p, "INVITE");
    assert!(invite.is_empty());
    let first_invite = p.wire[0].clone();
    p.inject(
        false,
        &common::response_to(
            &first_invite.text,
            "422 Session Interval Too Small",
            "Min-SE: 300\r\n",
        ),
    );
    p.run_for(Duration::from_millis(1));
    let retry = p
        .wire
        .iter()
        .rev()
        .find(|w| w.line.starts_with("INVITE"))
        .unwrap()
        .clone();
    assert_eq!(retry.header("Session-Expires"), Some("300"));
    p.inject(
        false,
        &common::response_to(
            &retry.text,
            "422 Session Interval Too Small",
            "Min-SE: 600\r\n",
        ),
    );
    p.run_for(Duration::from_secs(1));
    assert!(matches!(
        Pair::ended(&p.a_events),
        Some(EndReason::Rejected(422, _))
    ));
    assert_eq!(p.a.call_state(a), None);
}
