//! A client and a server layer shuttling datagrams in memory, with chosen
//! transmissions dropped: the exchanges must complete by retransmission.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::rsip::{Method, Request, SipMessage, StatusCode};
use crate::transaction::{RequestDisposition, ResponseDisposition, TransactionLayer, TxEvent};
use crate::transport::Destination;

use super::{client_addr, events, parse, request, response_to, server_addr};

/// A client and a server layer joined by a network that drops the
/// transmissions for which `lose(ordinal)` is true (ordinals count from 0
/// over both directions). Delivery is instant; the server TU answers INVITE
/// with 486 and anything else with 200.
struct Pair {
    uac: TransactionLayer,
    uas: TransactionLayer,
    lose: Box<dyn FnMut(usize) -> bool>,
    count: usize,
    delivered: Vec<u16>,
    acks_absorbed: usize,
}

impl Pair {
    fn new(drop: &[usize]) -> Self {
        let drop: HashSet<usize> = drop.iter().copied().collect();
        Self::with_loss(Box::new(move |n| drop.contains(&n)))
    }

    fn with_loss(lose: Box<dyn FnMut(usize) -> bool>) -> Self {
        Pair {
            uac: TransactionLayer::default(),
            uas: TransactionLayer::default(),
            lose,
            count: 0,
            delivered: Vec::new(),
            acks_absorbed: 0,
        }
    }

    fn pass(&mut self) -> bool {
        let n = self.count;
        self.count += 1;
        !(self.lose)(n)
    }

    fn shuttle(&mut self, now: Instant) {
        loop {
            if let Some(t) = self.uac.poll_transmit() {
                if self.pass() {
                    let SipMessage::Request(req) = parse(&t) else {
                        panic!("client sends requests")
                    };
                    self.serve(now, req);
                }
            } else if let Some(t) = self.uas.poll_transmit() {
                if self.pass() {
                    let SipMessage::Response(resp) = parse(&t) else {
                        panic!("server sends responses")
                    };
                    let src = Destination::udp(server_addr());
                    if let Ok(ResponseDisposition::Deliver(_, r)) =
                        self.uac.on_response(now, resp, src)
                    {
                        self.delivered.push(r.status_code.code());
                    }
                }
            } else {
                return;
            }
        }
    }

    fn serve(&mut self, now: Instant, req: Request) {
        match self
            .uas
            .on_request(now, req.clone(), Destination::udp(client_addr()))
        {
            Ok(RequestDisposition::New(key)) => {
                let status = if key.method() == Method::Invite {
                    StatusCode::BusyHere
                } else {
                    StatusCode::OK
                };
                self.uas
                    .respond(now, key, response_to(&req, status, Some("s1")))
                    .expect("respond");
            }
            Ok(RequestDisposition::AckForNon2xx) => self.acks_absorbed += 1,
            Ok(_) => {}
            Err(e) => panic!("server refused {e}"),
        }
    }

    /// Run until both layers are idle; returns the timeouts seen.
    fn run(&mut self, t0: Instant) -> Vec<TxEvent> {
        let mut timeouts = Vec::new();
        self.shuttle(t0);
        loop {
            let next = [self.uac.poll_timeout(), self.uas.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(now) = next else { break };
            assert!(
                now < t0 + Duration::from_secs(120),
                "exchange did not settle"
            );
            self.uac.handle_timeout(now);
            self.uas.handle_timeout(now);
            self.shuttle(now);
            for layer in [&mut self.uac, &mut self.uas] {
                timeouts.extend(
                    events(layer)
                        .into_iter()
                        .filter(|e| matches!(e, TxEvent::Timeout { .. })),
                );
            }
        }
        timeouts
    }
}

#[test]
fn lossy_invite_exchange_completes_by_retransmission() {
    let t0 = Instant::now();
    // 0, 1: first two INVITEs lost; 2: INVITE arrives and the server sends 486
    // (3, lost); G re-sends it (4); the ACK (5) is lost; G again (6), ACK (7).
    let mut pair = Pair::new(&[0, 1, 3, 5]);
    pair.uac
        .send_request(
            t0,
            request("INVITE", "z9hG4bKloss1"),
            Destination::udp(server_addr()),
        )
        .expect("starts");
    let timeouts = pair.run(t0);
    assert!(timeouts.is_empty(), "no timeout expected: {timeouts:?}");
    assert_eq!(pair.delivered, [486], "the TU sees the 486 once");
    assert_eq!(pair.acks_absorbed, 1);
    assert!(pair.uac.is_empty() && pair.uas.is_empty());
}

#[test]
fn lossy_non_invite_exchange_completes_by_retransmission() {
    let t0 = Instant::now();
    // 0: BYE lost; 1: BYE arrives, 200 (2) lost; 3: BYE again, 200 re-sent (4).
    let mut pair = Pair::new(&[0, 2]);
    pair.uac
        .send_request(
            t0,
            request("BYE", "z9hG4bKloss2"),
            Destination::udp(server_addr()),
        )
        .expect("starts");
    let timeouts = pair.run(t0);
    assert!(timeouts.is_empty(), "no timeout expected: {timeouts:?}");
    assert_eq!(pair.delivered, [200]);
    assert!(pair.uac.is_empty() && pair.uas.is_empty());
}

/// Seeded random loss of 30 % in both directions: every exchange ends with
/// both layers empty, and the TU sees either the final response exactly once
/// or a timeout, never both and never a duplicate.
#[test]
fn random_loss_never_duplicates_or_hangs() {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    let mut completed = 0;
    for seed in 0..200u64 {
        for method in ["INVITE", "OPTIONS"] {
            let t0 = Instant::now();
            let mut rng = StdRng::seed_from_u64(seed);
            let mut pair = Pair::with_loss(Box::new(move |_| rng.random_bool(0.3)));
            let branch = format!("z9hG4bKrand{seed}");
            let dest = Destination::udp(server_addr());
            pair.uac
                .send_request(t0, request(method, &branch), dest)
                .expect("starts");
            let timeouts = pair.run(t0);
            assert!(pair.uac.is_empty() && pair.uas.is_empty(), "seed {seed}");
            // Timer H at the server (every ACK lost) is allowed; the
            // client's own outcome must be exactly one of the two.
            let client_timeouts = timeouts
                .iter()
                .filter(|e| {
                    matches!(e, TxEvent::Timeout { kind, .. }
                        if *kind != crate::transaction::TimeoutKind::TimerH)
                })
                .count();
            match (pair.delivered.len(), client_timeouts) {
                (1, 0) => completed += 1,
                (0, 1) => {}
                other => panic!("seed {seed} {method}: delivered/timeouts {other:?}"),
            }
        }
    }
    // 30 % loss against 7+ retransmissions: nearly every exchange completes.
    assert!(completed > 380, "only {completed} of 400 completed");
}
