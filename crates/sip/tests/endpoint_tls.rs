//! The sans-IO core over TLS (RFC 3261 §26, RFC 5630, RFC 5923) and its
//! keep-alives (RFC 5626 §4.4.1), on a fake clock: what goes on the wire
//! (Via, Contact, destination, pings) and what the I/O layer's reports
//! (a flow closed, a refused certificate) do to a registration and a call.

use agentphone_sip::keepalive::{KeepAlive, UdpPing, PING};
use agentphone_sip::message::{parse_datagram, response_to};
use agentphone_sip::rsip::{parse_uri, Header, SipMessage, StatusCode};
use agentphone_sip::transport::{ConnId, Destination, Transmit, Transport};
use agentphone_sip::{
    CallRequest, EndReason, Endpoint, EndpointConfig, Event, RegisterError, RegisterRequest,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const US: &str = "127.0.0.1:5070";
const TLS_US: &str = "127.0.0.1:5071";
const REGISTRAR: &str = "127.0.0.1:5061";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn endpoint(keepalive: Option<KeepAlive>) -> Endpoint {
    let mut cfg = EndpointConfig::new(addr(US));
    cfg.tls_addr = Some(addr(TLS_US));
    cfg.contact_user = "alice".into();
    cfg.keepalive = keepalive;
    Endpoint::new(cfg, 7)
}

fn register(ep: &mut Endpoint, now: Instant, transport: Transport) {
    ep.register(
        now,
        RegisterRequest {
            registrar: Destination {
                transport,
                addr: addr(REGISTRAR),
            },
            domain: "agentphone.test".into(),
            user: "alice".into(),
            credentials: None,
            expires: 600,
            alternates: Vec::new(),
        },
    );
}

fn drain(ep: &mut Endpoint) -> Vec<Transmit> {
    std::iter::from_fn(|| ep.poll_transmit()).collect()
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event())
        .filter(|e| !matches!(e, Event::Trace { .. }))
        .collect()
}

fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The registrar's 200 to `register`, granting its Contact for 600 s.
fn ok_to(register: &[u8]) -> Vec<u8> {
    let SipMessage::Request(req) = parse_datagram(register).expect("REGISTER") else {
        panic!("not a request");
    };
    let contact = agentphone_sip::message::header(&req, "Contact")
        .unwrap_or("")
        .to_string();
    let mut r = response_to(&req, StatusCode::from(200), None, Some("reg"));
    r.headers
        .push(Header::Contact(format!("{contact};expires=600").into()));
    r.to_bytes()
}

/// Runs `ep` second by second from `start` for `secs` seconds; what it
/// sent, with the second it was sent at.
fn run(ep: &mut Endpoint, start: Instant, secs: u64) -> Vec<(u64, Transmit)> {
    let mut sent = Vec::new();
    for s in 0..=secs {
        let now = start + Duration::from_secs(s);
        while ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
        }
        sent.extend(drain(ep).into_iter().map(|t| (s, t)));
    }
    sent
}

/// Registers over TLS and answers from connection 7; returns the instant.
fn registered_over_tls(ep: &mut Endpoint) -> Instant {
    let now = Instant::now();
    register(ep, now, Transport::Tls(None));
    let sent = drain(ep);
    assert_eq!(sent.len(), 1);
    let conn = Destination {
        transport: Transport::Tls(Some(ConnId(7))),
        addr: addr(REGISTRAR),
    };
    ep.handle_input(now, conn, &ok_to(&sent[0].payload));
    assert!(
        events(ep)
            .iter()
            .any(|e| matches!(e, Event::Registered { .. })),
        "registered"
    );
    now
}

#[test]
fn register_over_tls_names_tls_in_via_and_contact_with_an_alias() {
    let mut ep = endpoint(None);
    register(&mut ep, Instant::now(), Transport::Tls(None));
    let sent = drain(&mut ep);
    assert_eq!(sent.len(), 1);
    // A new or reused connection to the registrar, never UDP.
    assert_eq!(sent[0].dest.transport, Transport::Tls(None));
    assert_eq!(sent[0].dest.addr, addr(REGISTRAR));
    let text = String::from_utf8(sent[0].payload.clone()).unwrap();
    let via = header(&text, "Via").expect("Via");
    assert!(
        via.starts_with(&format!("SIP/2.0/TLS {TLS_US};rport;alias;branch=z9hG4bK")),
        "{via}"
    );
    let contact = header(&text, "Contact").expect("Contact");
    assert_eq!(contact, format!("<sip:alice@{TLS_US};transport=tls>"));
}

#[test]
fn a_sips_target_is_called_over_tls_on_5061_with_a_sips_contact() {
    let mut ep = endpoint(None);
    let target = parse_uri("sips:bob@127.0.0.2").unwrap();
    ep.call(
        Instant::now(),
        CallRequest {
            target,
            from: "<sips:alice@agentphone.test>".into(),
            via_proxy: None,
            credentials: None,
            sdp_offer: b"v=0\r\n".to_vec(),
            tcp: false,
            extra_headers: Vec::new(),
            alternates: Vec::new(),
        },
    )
    .expect("call placed");
    let sent = drain(&mut ep);
    assert_eq!(sent[0].dest.transport, Transport::Tls(None));
    assert_eq!(sent[0].dest.addr, addr("127.0.0.2:5061"));
    let text = String::from_utf8(sent[0].payload.clone()).unwrap();
    assert!(
        text.starts_with("INVITE sips:bob@127.0.0.2 SIP/2.0"),
        "{text}"
    );
    assert!(header(&text, "Via").unwrap().starts_with("SIP/2.0/TLS "));
    assert_eq!(
        header(&text, "Contact").unwrap(),
        format!("<sips:alice@{TLS_US}>")
    );
}

#[test]
fn transport_tls_in_a_uri_resolves_to_tls_and_its_default_port() {
    let cfg = EndpointConfig::new(addr(US));
    let tls = cfg
        .resolve(&parse_uri("sip:bob@127.0.0.3;transport=tls").unwrap())
        .unwrap();
    assert_eq!(tls.transport, Transport::Tls(None));
    assert_eq!(tls.addr.port(), 5061);
    let tcp = cfg
        .resolve(&parse_uri("sip:bob@127.0.0.3;transport=tcp").unwrap())
        .unwrap();
    assert_eq!(
        (tcp.transport, tcp.addr.port()),
        (Transport::Tcp(None), 5060)
    );
    let sips = cfg
        .resolve(&parse_uri("sips:bob@127.0.0.3:6000").unwrap())
        .unwrap();
    assert_eq!(
        (sips.transport, sips.addr.port()),
        (Transport::Tls(None), 6000)
    );
}

#[test]
fn a_registered_tls_flow_is_pinged_with_crlfcrlf_at_the_interval() {
    let interval = Duration::from_secs(30);
    let mut ep = endpoint(Some(KeepAlive {
        interval,
        udp: UdpPing::Options,
    }));
    let start = registered_over_tls(&mut ep);
    let mut pings = Vec::new();
    // 95 s of fake time: three pings, at 30, 60 and 90 s.
    for (s, t) in run(&mut ep, start, 95) {
        assert_eq!(t.payload, PING, "only pings while registered");
        assert_eq!(t.dest.addr, addr(REGISTRAR));
        assert!(t.dest.transport.is_secure());
        pings.push(s);
    }
    assert_eq!(pings, [30, 60, 90]);
}

#[test]
fn a_registered_udp_flow_is_pinged_with_options_or_crlf_as_configured() {
    for (udp, expect_options) in [(UdpPing::Options, true), (UdpPing::Crlf, false)] {
        let mut ep = endpoint(Some(KeepAlive {
            interval: Duration::from_secs(20),
            udp,
        }));
        let now = Instant::now();
        register(&mut ep, now, Transport::Udp);
        let sent = drain(&mut ep);
        ep.handle_input(
            now,
            Destination::udp(addr(REGISTRAR)),
            &ok_to(&sent[0].payload),
        );
        let sent: Vec<(u64, Transmit)> = run(&mut ep, now, 25)
            .into_iter()
            .filter(|(_, t)| !t.payload.starts_with(b"SIP/2.0"))
            .collect();
        // Nothing before the interval; an unanswered OPTIONS is retransmitted
        // as any UDP request is (Timer E), the same message.
        assert!(!sent.is_empty(), "{udp:?}: a ping within 25 s");
        assert_eq!(sent[0].0, 20, "at the interval");
        assert!(sent.iter().all(|(_, t)| t.payload == sent[0].1.payload));
        if !expect_options {
            assert_eq!(sent.len(), 1, "a CRLF ping is never repeated");
        }
        let sent = [sent[0].1.clone()];
        assert_eq!(sent[0].dest, Destination::udp(addr(REGISTRAR)));
        let text = String::from_utf8_lossy(&sent[0].payload);
        if expect_options {
            assert!(
                text.starts_with("OPTIONS sip:agentphone.test SIP/2.0"),
                "{text}"
            );
        } else {
            assert_eq!(sent[0].payload, PING);
        }
    }
}

#[test]
fn without_keepalive_nothing_is_sent_until_the_refresh() {
    let mut ep = endpoint(None);
    let start = registered_over_tls(&mut ep);
    // Refresh at half of 600 s: the REGISTER then is the first thing sent.
    let sent = run(&mut ep, start, 300);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 300);
    assert!(String::from_utf8_lossy(&sent[0].1.payload).starts_with("REGISTER "));
}

#[test]
fn a_closed_flow_registers_again_at_once_on_a_new_connection() {
    let mut ep = endpoint(None);
    let now = registered_over_tls(&mut ep);
    // Another peer's connection closing changes nothing.
    ep.handle_flow_closed(
        now,
        Destination {
            transport: Transport::Tls(Some(ConnId(9))),
            addr: addr("127.0.0.9:5061"),
        },
    );
    assert!(drain(&mut ep).is_empty());
    ep.handle_flow_closed(
        now,
        Destination {
            transport: Transport::Tls(Some(ConnId(7))),
            addr: addr(REGISTRAR),
        },
    );
    let sent = drain(&mut ep);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].dest.transport, Transport::Tls(None));
    assert!(String::from_utf8_lossy(&sent[0].payload).starts_with("REGISTER "));
}

#[test]
fn a_refused_certificate_fails_the_registration_with_the_reason() {
    let mut ep = endpoint(None);
    let now = Instant::now();
    register(&mut ep, now, Transport::Tls(None));
    let sent = drain(&mut ep);
    let why = "TLS to sip.example.org (127.0.0.1:5061) failed: its certificate is not valid \
               for the host name 'sip.example.org'";
    ep.handle_transport_failure(now, sent[0].dest, why);
    let failed = events(&mut ep)
        .into_iter()
        .find_map(|e| match e {
            Event::RegistrationFailed { error, .. } => Some(error),
            _ => None,
        })
        .expect("registration failed");
    assert_eq!(failed, RegisterError::Transport(why.into()));
    assert!(failed.to_string().contains("sip.example.org"), "{failed}");
}

#[test]
fn a_refused_certificate_ends_the_call_with_the_reason() {
    let mut ep = endpoint(None);
    let now = Instant::now();
    let call = ep
        .call(
            now,
            CallRequest {
                target: parse_uri("sips:bob@127.0.0.2").unwrap(),
                from: "<sips:alice@agentphone.test>".into(),
                via_proxy: None,
                credentials: None,
                sdp_offer: b"v=0\r\n".to_vec(),
                tcp: false,
                extra_headers: Vec::new(),
                alternates: Vec::new(),
            },
        )
        .unwrap();
    let sent = drain(&mut ep);
    ep.handle_transport_failure(now, sent[0].dest, "unknown certificate authority");
    let ended = events(&mut ep).into_iter().find_map(|e| match e {
        Event::Ended { call: c, reason } if c == call => Some(reason),
        _ => None,
    });
    assert_eq!(
        ended,
        Some(EndReason::TransportFailed(
            "unknown certificate authority".into()
        ))
    );
}
