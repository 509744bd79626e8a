//! REGISTER against a registrar double that challenges with Digest and checks
//! the answers with the server-side verifier, on a fake clock.

use agentphone_sip::auth::{self, Algorithm, Challenge};
use agentphone_sip::message::{self, parse_datagram, response_to};
use agentphone_sip::rsip::{Header, SipMessage, StatusCode};
use agentphone_sip::transport::Destination;
use agentphone_sip::{
    Credentials, Endpoint, EndpointConfig, Event, RegisterError, RegisterRequest,
};
use std::time::{Duration, Instant};

const REGISTRAR: &str = "127.0.0.1:5090";

struct Registrar {
    algorithm: Algorithm,
    password: String,
    nonce_counter: u32,
    granted: u32,
    /// Requests seen, as (had Authorization, Expires value).
    seen: Vec<(bool, String)>,
}

impl Registrar {
    fn challenge(&mut self) -> Challenge {
        self.nonce_counter += 1;
        Challenge {
            realm: "agentphone.test".into(),
            nonce: format!("nonce{}", self.nonce_counter),
            opaque: None,
            algorithm: self.algorithm,
            qop: vec!["auth".into()],
            stale: false,
        }
    }

    /// Answers one REGISTER.
    fn handle(&mut self, bytes: &[u8]) -> Vec<u8> {
        let SipMessage::Request(req) = parse_datagram(bytes).expect("valid REGISTER") else {
            panic!("registrar got a response");
        };
        let authz = message::header(&req, "Authorization").map(str::to_string);
        let expires = message::header(&req, "Expires").unwrap_or("").to_string();
        self.seen.push((authz.is_some(), expires.clone()));
        let current = Challenge {
            nonce: format!("nonce{}", self.nonce_counter),
            ..self.challenge_template()
        };
        let ok = authz.is_some_and(|a| {
            auth::verify(&current, &a, "REGISTER", &self.password, b"").unwrap_or(false)
        });
        let resp = if ok {
            let mut r = response_to(&req, StatusCode::from(200), None, Some("reg"));
            let contact = message::header(&req, "Contact").unwrap_or("").to_string();
            r.headers.push(Header::Contact(
                format!(
                    "{contact};expires={}",
                    if expires == "0" { 0 } else { self.granted }
                )
                .into(),
            ));
            r
        } else {
            let c = self.challenge();
            let mut r = response_to(&req, StatusCode::from(401), None, Some("reg"));
            r.headers.push(Header::WwwAuthenticate(
                format!(
                    "Digest realm=\"{}\", nonce=\"{}\", algorithm={}, qop=\"auth\"",
                    c.realm,
                    c.nonce,
                    c.algorithm.as_str()
                )
                .into(),
            ));
            r
        };
        resp.to_bytes()
    }

    fn challenge_template(&self) -> Challenge {
        Challenge {
            realm: "agentphone.test".into(),
            nonce: String::new(),
            opaque: None,
            algorithm: self.algorithm,
            qop: vec!["auth".into()],
            stale: false,
        }
    }
}

fn run(password: &str, algorithm: Algorithm) -> (Vec<Event>, Registrar, Endpoint, Instant) {
    let mut ep = Endpoint::new(EndpointConfig::new("127.0.0.1:5061".parse().unwrap()), 3);
    let mut reg = Registrar {
        algorithm,
        password: "right".into(),
        nonce_counter: 0,
        granted: 60,
        seen: Vec::new(),
    };
    let mut now = Instant::now();
    let registrar = Destination::udp(REGISTRAR.parse().unwrap());
    ep.register(
        now,
        RegisterRequest {
            registrar,
            domain: "agentphone.test".into(),
            user: "alice".into(),
            credentials: Some(Credentials {
                user: "alice".into(),
                password: password.into(),
            }),
            expires: 600,
            alternates: Vec::new(),
        },
    );
    let mut events = Vec::new();
    // Bounded: 200 steps of at most 1 s of fake time.
    for _ in 0..200 {
        // Answer everything sent at this instant before time moves on
        // (bounded: a registrar loop would show up as a failed count below).
        for _ in 0..10 {
            let Some(t) = ep.poll_transmit() else { break };
            assert_eq!(t.dest, registrar);
            let answer = reg.handle(&t.payload);
            ep.handle_input(now, registrar, &answer);
        }
        while let Some(e) = ep.poll_event() {
            if !matches!(e, Event::Trace { .. }) {
                events.push(e);
            }
        }
        if events
            .iter()
            .any(|e| matches!(e, Event::RegistrationFailed { .. }))
        {
            break;
        }
        let step = ep
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        now += step.max(Duration::from_millis(1));
        ep.handle_timeout(now);
        if now.elapsed() > Duration::from_secs(0)
            && events
                .iter()
                .filter(|e| matches!(e, Event::Registered { .. }))
                .count()
                >= 3
        {
            break;
        }
    }
    (events, reg, ep, now)
}

#[test]
fn registers_with_sha256_digest_and_refreshes_before_expiry() {
    let (events, reg, _ep, _now) = run("right", Algorithm::Sha256);
    let registered: Vec<Duration> = events
        .iter()
        .filter_map(|e| match e {
            Event::Registered { expires, .. } => Some(*expires),
            _ => None,
        })
        .collect();
    assert!(
        registered.len() >= 3,
        "registered and refreshed twice: {events:?}"
    );
    assert!(
        registered.iter().all(|d| *d == Duration::from_secs(60)),
        "{registered:?}"
    );
    // Each refresh: unauthenticated REGISTER, 401, authenticated REGISTER.
    assert_eq!(reg.seen[0], (false, "600".into()));
    assert_eq!(reg.seen[1], (true, "600".into()));
}

#[test]
fn registers_with_md5_digest() {
    let (events, _reg, _ep, _now) = run("right", Algorithm::Md5);
    assert!(
        events.iter().any(|e| matches!(e, Event::Registered { .. })),
        "{events:?}"
    );
}

#[test]
fn wrong_password_fails_once_without_looping() {
    let (events, reg, _ep, _now) = run("wrong", Algorithm::Sha256);
    let failure = events.iter().find_map(|e| match e {
        Event::RegistrationFailed { error, .. } => Some(error.clone()),
        _ => None,
    });
    match failure {
        Some(RegisterError::AuthRejected { user, code, .. }) => {
            assert_eq!(user, "alice");
            assert_eq!(code, 401);
        }
        other => panic!("expected AuthRejected, got {other:?}"),
    }
    let msg = RegisterError::AuthRejected {
        user: "alice".into(),
        code: 401,
        phrase: "Unauthorized".into(),
    }
    .to_string();
    assert!(msg.contains("wrong user or password"), "{msg}");
    // REGISTER, 401, REGISTER with credentials, 401: then stop. No loop.
    assert_eq!(reg.seen.len(), 2, "{:?}", reg.seen);
}

#[test]
fn unregister_sends_expires_zero() {
    let (_events, mut reg, mut ep, now) = run("right", Algorithm::Md5);
    let id = agentphone_sip::RegId(1);
    ep.unregister(now, id).unwrap();
    let registrar = Destination::udp(REGISTRAR.parse().unwrap());
    let mut unregistered = false;
    for _ in 0..10 {
        while let Some(t) = ep.poll_transmit() {
            let answer = reg.handle(&t.payload);
            ep.handle_input(now, registrar, &answer);
        }
        while let Some(e) = ep.poll_event() {
            unregistered |= matches!(e, Event::Unregistered { .. });
        }
    }
    assert!(unregistered);
    assert!(
        reg.seen.iter().any(|(auth, exp)| *auth && exp == "0"),
        "{:?}",
        reg.seen
    );
    assert!(!ep.has_registrations());
}
