//! RFC 3263 §4.3 failover on a fake clock: a REGISTER or INVITE that gets
//! no response at all (Timer F/B) or whose transport fails goes, as a new
//! transaction with the same Call-ID, to the next server of the list the
//! caller gave; a server that answered anything is kept.

use agentphone_sip::message::{self, parse_datagram, response_to};
use agentphone_sip::rsip::{parse_uri, Request, SipMessage, StatusCode};
use agentphone_sip::transport::{Destination, Transmit, Transport};
use agentphone_sip::{CallRequest, EndReason, Endpoint, EndpointConfig, Event, RegisterRequest};
use std::time::{Duration, Instant};

fn at(port: u16, transport: Transport) -> Destination {
    Destination {
        transport,
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
    }
}

fn endpoint() -> Endpoint {
    let mut cfg = EndpointConfig::new("127.0.0.1:5061".parse().unwrap());
    cfg.tcp_addr = Some("127.0.0.1:5061".parse().unwrap());
    Endpoint::new(cfg, 9)
}

fn request(t: &Transmit) -> Request {
    match parse_datagram(&t.payload).expect("a request") {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("a response was sent"),
    }
}

fn head<'a>(r: &'a Request, name: &str) -> &'a str {
    message::header(r, name).unwrap_or("")
}

/// Runs the clock forward (at most `limit`), collecting what is sent and
/// the events (traces left out).
fn run(ep: &mut Endpoint, now: &mut Instant, limit: Duration) -> (Vec<Transmit>, Vec<Event>) {
    let end = *now + limit;
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    // Bounded: every step advances to the next timer or ends.
    for _ in 0..1000 {
        while let Some(t) = ep.poll_transmit() {
            sent.push(t);
        }
        while let Some(e) = ep.poll_event() {
            if !matches!(e, Event::Trace { .. }) {
                events.push(e);
            }
        }
        match ep.poll_timeout() {
            Some(t) if t <= end => {
                *now = t.max(*now);
                ep.handle_timeout(*now);
            }
            _ => break,
        }
    }
    (sent, events)
}

#[test]
fn a_register_nobody_answers_goes_to_the_next_registrar_then_one_whose_transport_fails() {
    let mut ep = endpoint();
    let mut now = Instant::now();
    let (a, b, c) = (
        at(5090, Transport::Udp),
        at(5091, Transport::Udp),
        at(5092, Transport::Tcp(None)),
    );
    ep.register(
        now,
        RegisterRequest {
            registrar: a,
            domain: "example.com".into(),
            user: "alice".into(),
            credentials: None,
            expires: 600,
            alternates: vec![b, c],
        },
    );
    // A never answers: retransmissions until Timer F (64 T1), then B.
    let (sent, events) = run(&mut ep, &mut now, Duration::from_secs(33));
    assert!(
        events.is_empty(),
        "no failure while a registrar is left: {events:?}"
    );
    let to_a: Vec<&Transmit> = sent.iter().filter(|t| t.dest == a).collect();
    let to_b: Vec<&Transmit> = sent.iter().filter(|t| t.dest == b).collect();
    assert!(to_a.len() > 5, "A got retransmissions: {}", to_a.len());
    assert!(!to_b.is_empty(), "B got the REGISTER after Timer F");
    let (first, next) = (request(to_a[0]), request(to_b[0]));
    assert_eq!(
        head(&first, "Call-ID"),
        head(&next, "Call-ID"),
        "one binding"
    );
    assert_eq!(head(&first, "CSeq"), "1 REGISTER");
    assert_eq!(head(&next, "CSeq"), "2 REGISTER");
    assert_ne!(head(&first, "Via"), head(&next, "Via"), "a new branch");

    // B's transport fails at once: C, over TCP, with a TCP Via and Contact.
    ep.handle_transport_failure(now, b, "connection refused");
    let (sent, _) = run(&mut ep, &mut now, Duration::ZERO);
    let to_c = sent.iter().find(|t| t.dest == c).expect("REGISTER to C");
    let third = request(to_c);
    assert!(head(&third, "Via").starts_with("SIP/2.0/TCP "), "{third}");
    assert!(head(&third, "Contact").contains("transport=tcp"), "{third}");
    let ok = response_to(&third, StatusCode::from(200), None, Some("r"));
    ep.handle_input(now, at(5092, Transport::Tcp(None)), &ok.to_bytes());
    let (_, events) = run(&mut ep, &mut now, Duration::ZERO);
    assert!(
        events.iter().any(|e| matches!(e, Event::Registered { .. })),
        "registered at C: {events:?}"
    );
}

#[test]
fn a_register_fails_once_every_registrar_failed() {
    let mut ep = endpoint();
    let mut now = Instant::now();
    let (a, b) = (at(5090, Transport::Udp), at(5091, Transport::Udp));
    ep.register(
        now,
        RegisterRequest {
            registrar: a,
            domain: "example.com".into(),
            user: "alice".into(),
            credentials: None,
            expires: 600,
            alternates: vec![b],
        },
    );
    ep.handle_transport_failure(now, a, "no route");
    ep.handle_transport_failure(now, b, "no route");
    let (sent, events) = run(&mut ep, &mut now, Duration::ZERO);
    assert_eq!(sent.len(), 2, "one REGISTER each");
    assert!(
        matches!(events.as_slice(), [Event::RegistrationFailed { .. }]),
        "{events:?}"
    );
}

fn invite(alternates: Vec<Destination>, proxy: Destination) -> CallRequest {
    CallRequest {
        target: parse_uri("sip:bob@example.com").unwrap(),
        from: "<sip:alice@example.com>".into(),
        via_proxy: Some(proxy),
        credentials: None,
        sdp_offer: b"v=0\r\n".to_vec(),
        tcp: false,
        extra_headers: Vec::new(),
        alternates,
    }
}

fn ended(events: &[Event]) -> Option<&EndReason> {
    events.iter().find_map(|e| match e {
        Event::Ended { reason, .. } => Some(reason),
        _ => None,
    })
}

#[test]
fn an_invite_nobody_answers_goes_to_the_next_proxy_and_ends_after_the_last() {
    let mut ep = endpoint();
    let mut now = Instant::now();
    let (a, b) = (at(5090, Transport::Udp), at(5091, Transport::Udp));
    ep.call(now, invite(vec![b], a)).unwrap();
    let (sent, events) = run(&mut ep, &mut now, Duration::from_secs(33));
    assert!(ended(&events).is_none(), "{events:?}");
    let first = request(sent.iter().find(|t| t.dest == a).expect("INVITE to A"));
    let next = request(
        sent.iter()
            .find(|t| t.dest == b)
            .expect("INVITE to B after Timer B"),
    );
    assert_eq!(head(&first, "Call-ID"), head(&next, "Call-ID"));
    assert_eq!(head(&first, "From"), head(&next, "From"), "same From tag");
    assert_eq!(head(&next, "CSeq"), "2 INVITE");
    assert_ne!(head(&first, "Via"), head(&next, "Via"));
    // B does not answer either: the call ends, nothing more is tried.
    let (sent, events) = run(&mut ep, &mut now, Duration::from_secs(33));
    assert_eq!(
        ended(&events),
        Some(&EndReason::NoAnswer(408)),
        "{events:?}"
    );
    assert!(sent.iter().all(|t| t.dest == b), "only B's retransmissions");
}

#[test]
fn an_invite_a_proxy_answered_is_not_sent_elsewhere() {
    let mut ep = endpoint();
    let mut now = Instant::now();
    let (a, b) = (at(5090, Transport::Tcp(None)), at(5091, Transport::Udp));
    ep.call(now, invite(vec![b], a)).unwrap();
    // A's connection is refused at once: B.
    ep.handle_transport_failure(now, a, "connection refused");
    let (sent, _) = run(&mut ep, &mut now, Duration::ZERO);
    let to_b = request(sent.iter().find(|t| t.dest == b).expect("INVITE to B"));
    assert!(head(&to_b, "Via").starts_with("SIP/2.0/UDP "), "{to_b}");
    // B says 100 Trying, then its transport fails: B was alive, so the call
    // ends with the failure instead of going round again.
    let trying = response_to(&to_b, StatusCode::from(100), None, None);
    ep.handle_input(now, b, &trying.to_bytes());
    ep.handle_transport_failure(now, b, "host unreachable");
    let (sent, events) = run(&mut ep, &mut now, Duration::ZERO);
    assert!(sent.iter().all(|t| t.dest != a), "not back to A");
    assert!(
        matches!(ended(&events), Some(EndReason::TransportFailed(_))),
        "{events:?}"
    );
}
