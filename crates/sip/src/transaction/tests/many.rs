//! Many transactions on one layer, on a fake clock: the deadline queue fires
//! timeouts in deadline order and never fires a timer that was stopped.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::rsip::StatusCode;
use crate::transaction::{TimeoutKind, Timers, TransactionLayer, TxEvent, TxKey};
use crate::transport::Destination;

use super::{drain, events, request, response_to, server_addr};

#[test]
fn ten_thousand_transactions_time_out_in_order_and_answered_ones_never() {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(3);
    let mut layer = TransactionLayer::new(Timers::default());
    let dest = Destination::udp(server_addr());
    let mut now = t0;
    // Started at random instants over 10 s; every third one is answered.
    let mut started: Vec<(Instant, TxKey)> = Vec::new();
    let mut answered = HashSet::new();
    for i in 0..10_000u32 {
        now += Duration::from_micros(rng.random_range(0..2_000));
        let method = if i % 2 == 0 { "OPTIONS" } else { "INVITE" };
        let req = request(method, &format!("z9hG4bK-many-{i}"));
        let key = layer
            .send_request(now, req.clone(), dest)
            .expect("fresh branch");
        if i % 3 == 0 {
            let resp = response_to(&req, StatusCode::OK, Some("t"));
            layer.on_response(now, resp, dest).expect("matches");
            answered.insert(key);
        } else {
            started.push((now, key));
        }
    }
    drain(&mut layer);
    let _ = events(&mut layer);
    assert_eq!(layer.len(), 10_000);

    // Walk the clock from deadline to deadline, as an I/O loop would, from
    // the first one on (retransmission timers of the early transactions are
    // due before the last one started).
    let mut now = t0;
    let mut timeouts = Vec::new();
    while let Some(next) = layer.poll_timeout() {
        assert!(next >= now, "poll_timeout went back in time");
        now = next;
        layer.handle_timeout(now);
        drain(&mut layer);
        for ev in events(&mut layer) {
            if let TxEvent::Timeout { key, kind } = ev {
                assert!(matches!(kind, TimeoutKind::TimerB | TimeoutKind::TimerF));
                assert!(!answered.contains(&key), "{key} timed out after its 200");
                timeouts.push((now, key));
            }
        }
    }
    assert!(layer.is_empty(), "every transaction terminated");
    // Each unanswered one timed out exactly 64*T1 after it started, in order.
    let t1x64 = Timers::default().t1x64();
    let want: Vec<(Instant, TxKey)> = started.iter().map(|&(at, k)| (at + t1x64, k)).collect();
    assert_eq!(timeouts, want);
}

/// At the server limit, requests already answered (lingering until Timer J)
/// make room for new ones, oldest first; requests still in progress do not,
/// and beyond them a new request is refused.
#[test]
fn at_the_server_limit_answered_requests_make_room_and_pending_ones_refuse() {
    use crate::transaction::RequestDisposition;
    let now = Instant::now();
    let mut layer = TransactionLayer::new(Timers::default());
    layer.set_server_limit(4);
    let src = Destination::udp(super::client_addr());
    let new_request = |layer: &mut TransactionLayer, branch: &str| {
        let req = request("OPTIONS", branch);
        match layer.on_request(now, req.clone(), src).expect("matchable") {
            RequestDisposition::New(key) => Some((key, req)),
            RequestDisposition::Overloaded(_) => None,
            _ => panic!("{branch}: neither new nor refused"),
        }
    };
    // Four answered: they linger (Timer J, 32 s over UDP).
    let mut answered = Vec::new();
    for i in 0..4 {
        let (key, req) = new_request(&mut layer, &format!("z9hG4bK-ans-{i}")).expect("room");
        let resp = response_to(&req, StatusCode::OK, Some("t"));
        layer.respond(now, key, resp).expect("respond");
        answered.push(key);
    }
    let _ = events(&mut layer);
    // Each new one forgets the oldest answered one.
    let mut pending = Vec::new();
    for (i, oldest) in answered.iter().enumerate() {
        let (key, _) = new_request(&mut layer, &format!("z9hG4bK-new-{i}")).expect("made room");
        pending.push(key);
        assert_eq!(
            events(&mut layer),
            vec![TxEvent::Terminated(*oldest)],
            "the oldest answered transaction is forgotten first"
        );
        assert_eq!(layer.server_len(), 4);
    }
    // Four in progress: nothing to forget, the next is refused.
    assert!(new_request(&mut layer, "z9hG4bK-refused").is_none());
    assert_eq!(layer.server_len(), 4);
    for key in pending {
        assert!(
            layer.state(key).is_some(),
            "{key} in progress was forgotten"
        );
    }
}
