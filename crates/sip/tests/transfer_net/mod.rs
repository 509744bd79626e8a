//! Three (or more) endpoints in memory on a fake clock, each datagram
//! delivered to the endpoint bound to its destination address: the harness
//! of the transfer tests (a transferor, a transferee, a transfer target).
// Each test binary uses part of the harness.
#![allow(dead_code)]

use agentphone_sip::rsip::parse_uri;
use agentphone_sip::transport::Destination;
use agentphone_sip::{CallId, CallRequest, Endpoint, EndpointConfig, Event};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub const ALICE: usize = 0;
pub const BOB: usize = 1;
pub const CAROL: usize = 2;
const NAMES: [&str; 3] = ["alice", "bob", "carol"];

/// One datagram that crossed (or was dropped).
#[derive(Debug, Clone)]
pub struct Wired {
    pub from: usize,
    pub to: usize,
    pub line: String,
    pub text: String,
    pub dropped: bool,
}

impl Wired {
    /// The value of header `name` (first occurrence).
    pub fn header(&self, name: &str) -> Option<&str> {
        let head = self.text.split("\r\n\r\n").next().unwrap_or("");
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The body after the blank line.
    pub fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    /// The CSeq number.
    pub fn cseq(&self) -> u32 {
        let v = self.header("CSeq").expect("CSeq");
        v.split_whitespace().next().unwrap().parse().unwrap()
    }
}

pub struct Net {
    pub now: Instant,
    pub eps: Vec<Endpoint>,
    pub addrs: Vec<SocketAddr>,
    pub events: Vec<Vec<Event>>,
    pub wire: Vec<Wired>,
    /// Drop every datagram from endpoint `.0` whose first line starts with `.1`.
    pub drop_every: Vec<(usize, String)>,
}

impl Default for Net {
    fn default() -> Self {
        Self::new()
    }
}

impl Net {
    /// Alice, Bob and Carol on 127.0.0.1:5061..5063.
    pub fn new() -> Self {
        let addrs: Vec<SocketAddr> = (0..3)
            .map(|i| format!("127.0.0.1:{}", 5061 + i).parse().unwrap())
            .collect();
        let eps = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| Endpoint::new(EndpointConfig::new(*a), 10 + i as u64))
            .collect();
        Net {
            now: Instant::now(),
            eps,
            addrs,
            events: vec![Vec::new(); 3],
            wire: Vec::new(),
            drop_every: Vec::new(),
        }
    }

    pub fn uri(&self, who: usize) -> String {
        format!("sip:{}@{}", NAMES[who], self.addrs[who])
    }

    /// Hands `bytes` to `to` as if `from` had sent them.
    pub fn inject(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let src = Destination::udp(self.addrs[from]);
        let now = self.now;
        self.eps[to].handle_input(now, src, bytes);
    }

    /// Moves all pending datagrams until every endpoint is quiet.
    pub fn shuttle(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            for from in 0..self.eps.len() {
                while let Some(t) = self.eps[from].poll_transmit() {
                    moved = true;
                    let to = self
                        .addrs
                        .iter()
                        .position(|a| *a == t.dest.addr)
                        .expect("datagram to nobody");
                    let text = String::from_utf8_lossy(&t.payload).to_string();
                    let line = text.lines().next().unwrap_or("").to_string();
                    let dropped = self
                        .drop_every
                        .iter()
                        .any(|(f, p)| *f == from && line.starts_with(p.as_str()));
                    self.wire.push(Wired {
                        from,
                        to,
                        line,
                        text,
                        dropped,
                    });
                    if !dropped {
                        self.inject(from, to, &t.payload);
                    }
                }
            }
            for (i, ep) in self.eps.iter_mut().enumerate() {
                while let Some(e) = ep.poll_event() {
                    if !matches!(e, Event::Trace { .. }) {
                        self.events[i].push(e);
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("endpoints never went quiet");
    }

    /// Advances the fake clock by `d`, firing every timer on the way.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.shuttle();
        for _ in 0..10_000 {
            let next = self.eps.iter().filter_map(|e| e.poll_timeout()).min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for ep in &mut self.eps {
                        ep.handle_timeout(self.now);
                    }
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

    /// `from` places a call to `to` with `extra_headers`; returns its call
    /// id once the INVITE has been delivered.
    pub fn dial(&mut self, from: usize, to: usize, extra_headers: Vec<(String, String)>) -> CallId {
        self.dial_uri(from, &self.uri(to), extra_headers)
    }

    /// `from` places a call to `target`.
    pub fn dial_uri(
        &mut self,
        from: usize,
        target: &str,
        extra_headers: Vec<(String, String)>,
    ) -> CallId {
        let req = CallRequest {
            target: parse_uri(target).unwrap(),
            from: format!("<{}>", self.uri(from)),
            via_proxy: None,
            credentials: None,
            sdp_offer: format!("v=0\r\no={}\r\n", NAMES[from]).into_bytes(),
            tcp: false,
            extra_headers,
            alternates: Vec::new(),
        };
        let now = self.now;
        let id = self.eps[from].call(now, req).unwrap();
        self.shuttle();
        id
    }

    /// The last `IncomingCall` `who` saw: its call and `replaces`.
    pub fn incoming(&self, who: usize) -> (CallId, Option<CallId>) {
        self.events[who]
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::IncomingCall { call, replaces, .. } => Some((*call, *replaces)),
                _ => None,
            })
            .expect("no incoming call")
    }

    /// `to` answers the call it was just offered.
    pub fn answer(&mut self, to: usize) -> CallId {
        let (call, _) = self.incoming(to);
        let now = self.now;
        let sdp = format!("v=0\r\no={}\r\n", NAMES[to]).into_bytes();
        self.eps[to].answer(now, call, sdp).unwrap();
        self.run_for(Duration::from_millis(10));
        call
    }

    /// `from` calls `to`, `to` answers: both call ids, both confirmed.
    pub fn connect(&mut self, from: usize, to: usize) -> (CallId, CallId) {
        let a = self.dial(from, to, Vec::new());
        let b = self.answer(to);
        assert!(self.established(from, a), "{:#?}", self.lines());
        assert!(self.established(to, b), "{:#?}", self.lines());
        (a, b)
    }

    pub fn established(&self, who: usize, call: CallId) -> bool {
        self.events[who]
            .iter()
            .any(|e| matches!(e, Event::Established { call: c, .. } if *c == call))
    }

    /// Events of `who` from index `mark` on.
    pub fn events_since(&self, who: usize, mark: usize) -> &[Event] {
        &self.events[who][mark..]
    }

    /// Datagrams from `who` whose first line starts with `prefix`.
    pub fn sent_by(&self, who: usize, prefix: &str) -> Vec<&Wired> {
        self.wire
            .iter()
            .filter(|w| w.from == who && w.line.starts_with(prefix))
            .collect()
    }

    /// First lines that crossed, as `alice>bob LINE`.
    pub fn lines(&self) -> Vec<String> {
        self.wire
            .iter()
            .map(|w| {
                format!(
                    "{}>{}{} {}",
                    NAMES[w.from],
                    NAMES[w.to],
                    if w.dropped { " (dropped)" } else { "" },
                    w.line
                )
            })
            .collect()
    }
}

/// A request built from `template` (a request that crossed in the same
/// dialog, same direction): `method` with CSeq `cseq`, a fresh branch, the
/// template's dialog headers, then `extra` header lines and `body`.
pub fn craft(
    template: &Wired,
    sender: SocketAddr,
    method: &str,
    cseq: u32,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    let uri = template.line.split_whitespace().nth(1).unwrap();
    let mut out = format!("{method} {uri} SIP/2.0\r\n");
    out.push_str(&format!(
        "Via: SIP/2.0/UDP {sender};branch=z9hG4bKcraft{method}{cseq}\r\n"
    ));
    let head = template.text.split("\r\n\r\n").next().unwrap();
    for line in head.lines().skip(1) {
        let name = line.split(':').next().unwrap().trim().to_ascii_lowercase();
        if ["from", "to", "call-id", "max-forwards", "contact"].contains(&name.as_str()) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!("CSeq: {cseq} {method}\r\n{extra}"));
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}
