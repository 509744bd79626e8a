//! Which new INVITEs may ring (`Admission`): only from the proxy, only for
//! our user, at most `max_calls` at once (503 with Retry-After beyond), as a
//! registered phone must to keep SIP scanners' ghost calls out.

use agentphone_sip::transport::Destination;
use agentphone_sip::{Admission, Endpoint, EndpointConfig, Event};
use std::net::SocketAddr;
use std::time::Instant;

const US: &str = "127.0.0.1:5060";
const PROXY: &str = "127.0.0.1:5070";
const SCANNER: &str = "127.0.0.2:5999";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn endpoint(policy: Admission) -> Endpoint {
    let mut cfg = EndpointConfig::new(addr(US));
    cfg.contact_user = "alice".into();
    let mut ep = Endpoint::new(cfg, 7);
    ep.set_admission(policy);
    ep
}

fn invite(user: &str, from: &str, n: u32, extra: &str) -> Vec<u8> {
    format!(
        "INVITE sip:{user}@{US} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKadm{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:c@{from}>;tag=t{n}\r\nTo: <sip:{user}@{US}>\r\n\
         Call-ID: adm-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@{from}>\r\n{extra}\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Feeds one request and returns the final status sent back, if any, and
/// whether an `IncomingCall` came out.
fn offer(ep: &mut Endpoint, from: &str, bytes: &[u8]) -> (Option<String>, bool) {
    let now = Instant::now();
    ep.handle_input(now, Destination::udp(addr(from)), bytes);
    let mut status = None;
    while let Some(t) = ep.poll_transmit() {
        let text = String::from_utf8_lossy(&t.payload).into_owned();
        if !text.starts_with("SIP/2.0 1") {
            status = Some(text);
        }
    }
    let mut rang = false;
    while let Some(ev) = ep.poll_event() {
        rang |= matches!(ev, Event::IncomingCall { .. });
    }
    (status, rang)
}

fn proxy_only() -> Admission {
    Admission {
        accept_from: Some(vec![addr(PROXY).ip()]),
        for_user: Some("alice".into()),
        max_calls: 2,
        retry_after_s: 20,
        max_transactions: 100,
    }
}

#[test]
fn a_new_call_from_an_address_that_is_not_the_proxys_gets_403_and_never_rings() {
    let mut ep = endpoint(proxy_only());
    let (status, rang) = offer(&mut ep, SCANNER, &invite("alice", SCANNER, 1, ""));
    assert!(!rang);
    assert!(status.is_some_and(|s| s.starts_with("SIP/2.0 403")));
    // Even with a Replaces header (scanners send anything).
    let replaces = "Replaces: x;to-tag=a;from-tag=b\r\n";
    let (status, rang) = offer(&mut ep, SCANNER, &invite("alice", SCANNER, 2, replaces));
    assert!(!rang && status.is_some_and(|s| s.starts_with("SIP/2.0 403")));
    assert_eq!(ep.refusals().foreign_source, 2);
}

#[test]
fn a_new_call_for_another_user_gets_404() {
    let mut ep = endpoint(proxy_only());
    let (status, rang) = offer(&mut ep, PROXY, &invite("100", PROXY, 1, ""));
    assert!(!rang && status.is_some_and(|s| s.starts_with("SIP/2.0 404")));
    assert_eq!(ep.refusals().unknown_user, 1);
    let (_, rang) = offer(&mut ep, PROXY, &invite("alice", PROXY, 2, ""));
    assert!(rang, "our own user rings");
}

#[test]
fn beyond_max_calls_a_new_call_gets_503_with_retry_after() {
    let mut ep = endpoint(proxy_only());
    for n in 1..=2 {
        let (_, rang) = offer(&mut ep, PROXY, &invite("alice", PROXY, n, ""));
        assert!(rang, "call {n} is within the cap");
    }
    let (status, rang) = offer(&mut ep, PROXY, &invite("alice", PROXY, 3, ""));
    let status = status.expect("a final response");
    assert!(!rang && status.starts_with("SIP/2.0 503"), "{status}");
    assert!(status.contains("Retry-After: 20"), "{status}");
    assert_eq!(ep.refusals().over_capacity, 1);
}

#[test]
fn without_a_policy_anyone_may_call_anyone() {
    let mut ep = endpoint(Admission::default());
    let (_, rang) = offer(&mut ep, SCANNER, &invite("whoever", SCANNER, 1, ""));
    assert!(rang);
}

/// A flood of refused INVITEs keeps each server transaction 32 s for its
/// ACK; beyond the cap, new requests get a stateless 503 and leave no state,
/// while a request of a live transaction (a retransmission) is still
/// answered from it, and room comes back as transactions end.
#[test]
fn beyond_max_transactions_new_requests_get_a_stateless_503() {
    let mut ep = endpoint(Admission {
        max_transactions: 3,
        ..proxy_only()
    });
    for n in 1..=3 {
        let (status, _) = offer(&mut ep, SCANNER, &invite("alice", SCANNER, n, ""));
        assert!(status.is_some_and(|s| s.starts_with("SIP/2.0 403")), "#{n}");
    }
    let (status, rang) = offer(&mut ep, SCANNER, &invite("alice", SCANNER, 4, ""));
    let status = status.expect("a final response");
    assert!(!rang && status.starts_with("SIP/2.0 503"), "{status}");
    assert!(status.contains("Retry-After: 20"), "{status}");
    let options = format!(
        "OPTIONS sip:alice@{US} SIP/2.0\r\nVia: SIP/2.0/UDP {PROXY};branch=z9hG4bKo1\r\n\
         From: <sip:p@{PROXY}>;tag=o\r\nTo: <sip:alice@{US}>\r\nCall-ID: o1\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let (status, _) = offer(&mut ep, PROXY, options.as_bytes());
    assert!(status.is_some_and(|s| s.starts_with("SIP/2.0 503")));
    assert_eq!(ep.refusals().overloaded, 2);
    // A retransmission of #1 still gets its 403 from the transaction.
    let (status, _) = offer(&mut ep, SCANNER, &invite("alice", SCANNER, 1, ""));
    assert!(status.is_some_and(|s| s.starts_with("SIP/2.0 403")));
    // Timer H (32 s) frees the table: the next call from the proxy rings.
    let later = Instant::now() + std::time::Duration::from_secs(40);
    ep.handle_timeout(later);
    while ep.poll_transmit().is_some() {}
    while ep.poll_event().is_some() {}
    let (_, rang) = offer(&mut ep, PROXY, &invite("alice", PROXY, 5, ""));
    assert!(rang, "room came back once the transactions ended");
}
