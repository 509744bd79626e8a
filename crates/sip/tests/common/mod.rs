//! Two endpoints in memory on a fake clock, shuttling datagrams, with chosen
//! datagrams dropped: the harness of the endpoint flow tests.
// Each test binary uses part of the harness.
#![allow(dead_code)]

use agentphone_sip::rsip::parse_uri;
use agentphone_sip::transport::{Destination, Transmit};
use agentphone_sip::{
    CallId, CallRequest, Credentials, EndReason, Endpoint, EndpointConfig, Event,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub const A: &str = "127.0.0.1:5061";
pub const B: &str = "127.0.0.1:5062";

/// One datagram that crossed (or was dropped).
#[derive(Debug, Clone)]
pub struct Wired {
    /// Sent by A (else by B).
    pub from_a: bool,
    /// First line.
    pub line: String,
    /// The whole message.
    pub text: String,
    /// Fake time since the pair was made.
    pub at: Duration,
    pub dropped: bool,
}

impl Wired {
    /// The value of header `name` (first occurrence).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.text.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The body after the blank line.
    pub fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    /// The number of its CSeq.
    pub fn cseq_number(&self) -> u32 {
        let cseq = self.header("CSeq").expect("CSeq");
        cseq.split_whitespace().next().unwrap().parse().unwrap()
    }
}

pub struct Pair {
    pub start: Instant,
    pub now: Instant,
    pub a: Endpoint,
    pub b: Endpoint,
    pub wire: Vec<Wired>,
    /// Drop the n-th datagram (counting from 0) whose first line starts with the
    /// given text.
    drops: Vec<(String, usize)>,
    /// Drop every datagram whose first line starts with one of these.
    drop_every: Vec<String>,
    seen: std::collections::HashMap<String, usize>,
    pub a_events: Vec<Event>,
    pub b_events: Vec<Event>,
    /// First lines of the `Trace { sent: true }` events of A and B, in order.
    pub a_sent: Vec<String>,
    pub b_sent: Vec<String>,
    /// Answer re-INVITEs at once, as an application would: with
    /// `"v=0\r\nanswer-from-a"` (or `-b`).
    pub auto_accept: bool,
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl Default for Pair {
    fn default() -> Self {
        Self::new()
    }
}

impl Pair {
    pub fn new() -> Self {
        let now = Instant::now();
        Pair {
            start: now,
            now,
            a: Endpoint::new(EndpointConfig::new(addr(A)), 1),
            b: Endpoint::new(EndpointConfig::new(addr(B)), 2),
            wire: Vec::new(),
            drops: Vec::new(),
            drop_every: Vec::new(),
            seen: Default::default(),
            a_events: Vec::new(),
            b_events: Vec::new(),
            a_sent: Vec::new(),
            b_sent: Vec::new(),
            auto_accept: false,
        }
    }

    pub fn drop_nth(&mut self, prefix: &str, n: usize) {
        self.drops.push((prefix.to_string(), n));
    }

    pub fn drop_all(&mut self, prefix: &str) {
        self.drop_every.push(prefix.to_string());
    }

    pub fn stop_dropping(&mut self) {
        self.drops.clear();
        self.drop_every.clear();
    }

    fn deliver(&mut self, from_a: bool, t: Transmit) {
        let text = String::from_utf8_lossy(&t.payload).to_string();
        let line = text.lines().next().unwrap_or("").to_string();
        let mut dropped = self.drop_every.iter().any(|p| line.starts_with(p.as_str()));
        for (prefix, n) in &self.drops {
            if line.starts_with(prefix.as_str()) {
                let count = self.seen.entry(prefix.clone()).or_insert(0);
                if *count == *n {
                    dropped = true;
                }
                *count += 1;
            }
        }
        self.wire.push(Wired {
            from_a,
            line,
            text,
            at: self.now - self.start,
            dropped,
        });
        if dropped {
            return;
        }
        self.inject(from_a, &t.payload);
    }

    /// Hands `bytes` to the other side as if `from_a` (or B) had sent them.
    pub fn inject(&mut self, from_a: bool, bytes: &[u8]) {
        let src = Destination::udp(addr(if from_a { A } else { B }));
        if from_a {
            self.b.handle_input(self.now, src, bytes);
        } else {
            self.a.handle_input(self.now, src, bytes);
        }
    }

    /// Collects events; true when an automatic answer queued datagrams.
    fn drain_events(&mut self) -> bool {
        let mut answered = false;
        while let Some(e) = self.a.poll_event() {
            if let (true, Event::ReInvite { call, .. }) = (self.auto_accept, &e) {
                let r = self
                    .a
                    .accept_reinvite(self.now, *call, b"v=0\r\nanswer-from-a".to_vec());
                r.expect("alice accepts the re-INVITE");
                answered = true;
            }
            match e {
                Event::Trace {
                    sent: true,
                    first_line,
                    ..
                } => self.a_sent.push(first_line),
                Event::Trace { .. } => {}
                e => self.a_events.push(e),
            }
        }
        while let Some(e) = self.b.poll_event() {
            if let (true, Event::ReInvite { call, .. }) = (self.auto_accept, &e) {
                let r = self
                    .b
                    .accept_reinvite(self.now, *call, b"v=0\r\nanswer-from-b".to_vec());
                r.expect("bob accepts the re-INVITE");
                answered = true;
            }
            match e {
                Event::Trace {
                    sent: true,
                    first_line,
                    ..
                } => self.b_sent.push(first_line),
                Event::Trace { .. } => {}
                e => self.b_events.push(e),
            }
        }
        answered
    }

    /// Moves all pending datagrams until both sides are quiet.
    pub fn shuttle(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                self.deliver(true, t);
                moved = true;
            }
            while let Some(t) = self.b.poll_transmit() {
                self.deliver(false, t);
                moved = true;
            }
            let answered = self.drain_events();
            if !moved && !answered {
                return;
            }
        }
        panic!("endpoints never went quiet");
    }

    /// For 50 s of fake time, answers 491 to each new CSeq of the requests
    /// A sent since `mark` whose first line starts with `method` (its
    /// retransmissions of one CSeq are refused once); returns those CSeqs
    /// in order. The requests must not reach B (`drop_all`).
    pub fn refuse_each_send_with_491(&mut self, mark: usize, method: &str) -> Vec<u32> {
        let mut refused = Vec::new();
        for _ in 0..10 {
            self.shuttle();
            let fresh: Vec<Wired> = self.wire[mark..]
                .iter()
                .filter(|w| w.from_a && w.line.starts_with(method))
                .cloned()
                .collect();
            for w in fresh {
                if !refused.contains(&w.cseq_number()) {
                    refused.push(w.cseq_number());
                    self.inject(false, &response_to(&w.text, "491 Request Pending", ""));
                }
            }
            self.run_for(Duration::from_secs(5));
        }
        refused
    }

    /// Advances the fake clock to the next timer of either side (bounded).
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.shuttle();
        for _ in 0..10_000 {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                    self.shuttle();
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
        panic!("timer storm");
    }

    pub fn call(&mut self) -> CallId {
        self.call_with(None)
    }

    /// An answered call in which Alice answers challenges as `alice` /
    /// `secret`; Bob answered with `bob_sdp`. Returns (Alice's, Bob's) ids.
    pub fn established_with_credentials(&mut self, bob_sdp: &[u8]) -> (CallId, CallId) {
        let a = self.call_with(Some(Credentials {
            user: "alice".into(),
            password: "secret".into(),
        }));
        let b = self.incoming();
        self.b.answer(self.now, b, bob_sdp.to_vec()).unwrap();
        self.run_for(Duration::from_millis(10));
        (a, b)
    }

    /// Alice calls Bob, answering challenges with `credentials`.
    pub fn call_with(&mut self, credentials: Option<Credentials>) -> CallId {
        let req = CallRequest {
            target: parse_uri(&format!("sip:bob@{B}")).unwrap(),
            from: format!("<sip:alice@{A}>"),
            via_proxy: None,
            credentials,
            sdp_offer: b"v=0\r\n".to_vec(),
            tcp: false,
            extra_headers: vec![("X-CAD-Account".into(), "42".into())],
            alternates: Vec::new(),
        };
        let id = self.a.call(self.now, req).unwrap();
        self.shuttle();
        id
    }

    pub fn incoming(&self) -> CallId {
        self.b_events
            .iter()
            .find_map(|e| match e {
                Event::IncomingCall { call, .. } => Some(*call),
                _ => None,
            })
            .expect("bob saw no incoming call")
    }

    pub fn ended(events: &[Event]) -> Option<EndReason> {
        events.iter().find_map(|e| match e {
            Event::Ended { reason, .. } => Some(reason.clone()),
            _ => None,
        })
    }

    /// First lines of what crossed, prefixed `A>` or `B>`.
    pub fn lines(&self) -> Vec<String> {
        self.wire
            .iter()
            .filter(|w| !w.dropped)
            .map(|w| format!("{} {}", if w.from_a { "A>" } else { "B>" }, w.line))
            .collect()
    }
}

/// A 401 for `request` with a digest challenge of `nonce` (MD5, qop=auth).
pub fn challenge(request: &str, nonce: &str) -> Vec<u8> {
    let www = format!(
        "WWW-Authenticate: Digest realm=\"example.org\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"\r\n"
    );
    response_to(request, "401 Unauthorized", &www)
}

/// The Authorization of a request sent again after [`challenge`]: it must
/// answer `nonce` as the account's user ("alice").
pub fn answer_to_challenge<'a>(resent: &'a Wired, nonce: &str) -> &'a str {
    let auth = resent.header("Authorization").expect("Authorization");
    assert!(
        auth.contains("username=\"alice\"") && auth.contains(&format!("nonce=\"{nonce}\"")),
        "{auth}"
    );
    auth
}

/// A response to `request` (text of one that crossed), as a proxy would
/// answer: `status` line, the transaction headers, `extra` header lines.
pub fn response_to(request: &str, status: &str, extra: &str) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.split("\r\n\r\n").next().unwrap().lines().skip(1) {
        let name = line.split(':').next().unwrap().trim().to_ascii_lowercase();
        if ["via", "from", "to", "call-id", "cseq"].contains(&name.as_str()) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str(extra);
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}
