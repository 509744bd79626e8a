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
