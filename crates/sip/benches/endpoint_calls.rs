//! CPU time of the SIP core for full UAS calls, no sockets.
//!
//! Two endpoints in memory on a fake clock: A places calls at a fixed fake
//! rate (4,000 calls/s by default, SIPp's own UAS rate), B answers each one
//! (INVITE → 100 → 200 → ACK, then BYE → 200 from A). Both sides are driven as
//! the binary drives them: after every input, `poll_timeout`, and
//! `handle_timeout` once a deadline is due. Completed transactions linger for
//! Timers L and J (32 s) exactly as under load, so the later calls of a batch
//! run with tens of thousands of live transactions.
//!
//! Calls are hung up at once, or after a hold time (fake), so that many calls
//! are up at the same time as under SIPp's `-l` limit.
//!
//! Reports calls per second of core CPU time: both sides, and B (the UAS, the
//! side `agentphone answer` plays) alone.
//!
//! `cargo bench -p agentphone-sip --bench endpoint_calls [-- N... [hold=MS]]`

use agentphone_sip::rsip::parse_uri;
use agentphone_sip::transport::Destination;
use agentphone_sip::{CallRequest, Endpoint, EndpointConfig, Event};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const A: &str = "127.0.0.1:5061";
const B: &str = "127.0.0.1:5062";
/// Fake call rate: one call every 250 µs.
const CALL_GAP: Duration = Duration::from_micros(250);

struct Run {
    now: Instant,
    a: Endpoint,
    b: Endpoint,
    /// Calls up, oldest first, with the instant to hang them up.
    up: std::collections::VecDeque<(Instant, agentphone_sip::CallId)>,
    hold: Duration,
    /// Wall time spent inside B's methods.
    b_time: Duration,
    established: usize,
    ended: usize,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

impl Run {
    fn new(hold: Duration) -> Self {
        Run {
            now: Instant::now(),
            up: Default::default(),
            hold,
            a: Endpoint::new(EndpointConfig::new(addr(A)), 1),
            b: Endpoint::new(EndpointConfig::new(addr(B)), 2),
            b_time: Duration::ZERO,
            established: 0,
            ended: 0,
        }
    }

    /// Fires due timers on both sides, as the binary's sleep arm does.
    fn timers(&mut self) {
        if self.a.poll_timeout().is_some_and(|t| t <= self.now) {
            self.a.handle_timeout(self.now);
        }
        let t0 = Instant::now();
        if self.b.poll_timeout().is_some_and(|t| t <= self.now) {
            self.b.handle_timeout(self.now);
        }
        self.b_time += t0.elapsed();
    }

    /// Moves datagrams and answers incoming calls until both sides are quiet.
    fn shuttle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                let t0 = Instant::now();
                self.b
                    .handle_input(self.now, Destination::udp(addr(A)), &t.payload);
                let _ = self.b.poll_timeout();
                self.b_time += t0.elapsed();
                moved = true;
            }
            let t0 = Instant::now();
            let mut from_b = Vec::new();
            while let Some(t) = self.b.poll_transmit() {
                from_b.push(t);
            }
            let mut answer = Vec::new();
            while let Some(e) = self.b.poll_event() {
                match e {
                    Event::IncomingCall { call, .. } => answer.push(call),
                    Event::Established { .. } => self.established += 1,
                    _ => {}
                }
            }
            for call in answer {
                self.b
                    .answer(self.now, call, b"v=0\r\n".to_vec())
                    .expect("B answers");
                while let Some(t) = self.b.poll_transmit() {
                    from_b.push(t);
                }
            }
            self.b_time += t0.elapsed();
            for t in from_b {
                self.a
                    .handle_input(self.now, Destination::udp(addr(B)), &t.payload);
                let _ = self.a.poll_timeout();
                moved = true;
            }
            while let Some(e) = self.a.poll_event() {
                if let Event::Ended { .. } = e {
                    self.ended += 1;
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn one_call(&mut self) {
        let req = CallRequest {
            target: parse_uri(&format!("sip:bob@{B}")).expect("literal URI"),
            from: format!("<sip:alice@{A}>"),
            via_proxy: None,
            credentials: None,
            sdp_offer: b"v=0\r\n".to_vec(),
            tcp: false,
            extra_headers: Vec::new(),
            alternates: Vec::new(),
        };
        let call = self.a.call(self.now, req).expect("A calls");
        self.shuttle();
        self.up.push_back((self.now + self.hold, call));
        self.hang_up_due(false);
    }

    fn hang_up_due(&mut self, all: bool) {
        while let Some(&(at, call)) = self.up.front() {
            if at > self.now && !all {
                return;
            }
            self.up.pop_front();
            self.a.hangup(self.now, call).expect("A hangs up");
            self.shuttle();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let holds: Vec<u64> = args
        .iter()
        .filter_map(|a| a.strip_prefix("hold=")?.parse().ok())
        .collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and
    // then a short run only proves the bench still works (CI time).
    let benching = args.iter().any(|a| a == "--bench");
    let runs: Vec<(usize, u64)> = if !benching && sizes.is_empty() {
        vec![(200, 0), (200, 1_000)]
    } else if sizes.is_empty() {
        vec![(1_000, 0), (4_000, 0), (16_000, 0), (16_000, 1_000)]
    } else {
        let holds = if holds.is_empty() { vec![0] } else { holds };
        sizes
            .iter()
            .flat_map(|&n| holds.iter().map(move |&h| (n, h)))
            .collect()
    };
    for (n, hold_ms) in runs {
        let mut run = Run::new(Duration::from_millis(hold_ms));
        let t0 = Instant::now();
        for _ in 0..n {
            run.now += CALL_GAP;
            run.timers();
            run.one_call();
        }
        run.hang_up_due(true);
        let total = t0.elapsed();
        assert_eq!(run.established, n, "every call was established");
        assert_eq!(run.ended, n, "every call ended");
        println!(
            "{n:>6} calls held {hold_ms:>4} ms ({:>5.1} s fake time): both sides {:>8.0} calls/s, UAS alone {:>8.0} calls/s ({:.1} µs/call)",
            (CALL_GAP * n as u32).as_secs_f64(),
            n as f64 / total.as_secs_f64(),
            n as f64 / run.b_time.as_secs_f64(),
            run.b_time.as_secs_f64() * 1e6 / n as f64,
        );
    }
}
