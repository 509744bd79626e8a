//! Property tests: generated messages (known and unknown methods, compact and
//! long header names, comma lists and repeated headers, folded lines, IPv6
//! hosts, binary bodies) parse to what was generated and survive
//! serialise → parse; arbitrary or mutated bytes never panic the parser or
//! the stream framer.

use agentphone_sip::message::{
    call_id, cseq, from_tag, parse_datagram, parse_stream_message, to_bytes, top_via, vias,
    FailureKind, HasHeaders, SipMessage, StreamFramer,
};
use agentphone_sip::rsip::prelude::{HeadersExt, ToTypedHeader};
use proptest::prelude::*;

const KNOWN: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "INFO",
    "MESSAGE",
    "NOTIFY",
    "PRACK",
    "PUBLISH",
    "REFER",
    "SUBSCRIBE",
    "UPDATE",
];

#[derive(Debug, Clone)]
struct Gen {
    method: String,
    uri: String,
    vias: Vec<(String, String)>,
    vias_in_one_header: bool,
    from_display: Option<String>,
    from_tag: String,
    call_id: String,
    cseq: u32,
    compact: bool,
    fold: bool,
    extra: Vec<(String, String)>,
    body: Vec<u8>,
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}",
        any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

fn hostport() -> impl Strategy<Value = String> {
    (host(), proptest::option::of(1u16..)).prop_map(|(h, p)| match p {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KNOWN).prop_map(str::to_string),
        1 => "[A-Z][A-Za-z0-9.!%*_+`'~-]{0,11}"
            .prop_filter("unknown", |m| !KNOWN.contains(&m.as_str())),
    ]
}

fn gen() -> impl Strategy<Value = Gen> {
    (
        (
            method(),
            "[a-z0-9_.]{1,10}",
            hostport(),
            proptest::option::of("[a-z]{1,5}=[a-z0-9]{1,5}"),
        ),
        proptest::collection::vec(
            (
                prop_oneof![Just("UDP"), Just("TCP"), Just("TLS")],
                hostport(),
                "[a-zA-Z0-9]{1,12}",
            ),
            1..4,
        ),
        (
            any::<bool>(),
            proptest::option::of("[A-Za-z]{1,8}( [A-Za-z]{1,8})?"),
            "[a-z0-9]{1,10}",
        ),
        (
            "[a-zA-Z0-9.!%*_+`'~()<>:/?{}-]{1,20}(@[a-z0-9.]{1,12})?",
            0u32..=0x7fff_ffff,
        ),
        (any::<bool>(), any::<bool>()),
        proptest::collection::vec(
            ("X-[A-Za-z]{1,8}", "[a-z0-9]{1,6}(, [a-z0-9]{1,6}){0,2}"),
            0..3,
        ),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(
                (method, user, hp, param),
                vias,
                (one, disp, tag),
                (cid, cseq),
                (compact, fold),
                extra,
                body,
            )| Gen {
                uri: match param {
                    Some(p) => format!("sip:{user}@{hp};{p}"),
                    None => format!("sip:{user}@{hp}"),
                },
                method,
                vias: vias
                    .into_iter()
                    .map(|(t, h, b)| (format!("SIP/2.0/{t} {h}"), format!("z9hG4bK{b}")))
                    .collect(),
                vias_in_one_header: one,
                from_display: disp,
                from_tag: tag,
                call_id: cid,
                cseq,
                compact,
                fold,
                extra,
                body,
            },
        )
}

impl Gen {
    fn name<'a>(&self, long: &'a str, short: &'a str) -> &'a str {
        if self.compact {
            short
        } else {
            long
        }
    }

    /// Joins list items, folding across lines when asked.
    fn join(&self, items: &[String]) -> String {
        let sep = if self.fold { ",\r\n   " } else { ", " };
        items.join(sep)
    }

    fn bytes(&self) -> Vec<u8> {
        let mut s = format!("{} {} SIP/2.0\r\n", self.method, self.uri);
        let via_values: Vec<String> = self
            .vias
            .iter()
            .map(|(v, b)| format!("{v};branch={b}"))
            .collect();
        if self.vias_in_one_header {
            s += &format!("{}: {}\r\n", self.name("Via", "v"), self.join(&via_values));
        } else {
            for v in &via_values {
                s += &format!("{}: {v}\r\n", self.name("Via", "v"));
            }
        }
        let display = self
            .from_display
            .as_ref()
            .map_or(String::new(), |d| format!("\"{d}\" "));
        s += &format!(
            "{}: {display}<sip:a@example.com>;tag={}\r\n",
            self.name("From", "f"),
            self.from_tag
        );
        s += &format!("{}: <sip:b@example.com>\r\n", self.name("To", "t"));
        s += &format!("{}: {}\r\n", self.name("Call-ID", "i"), self.call_id);
        let cseq_sep = if self.fold { "\r\n " } else { " " };
        s += &format!(
            "CSeq: {}{cseq_sep}{}\r\nMax-Forwards: 70\r\n",
            self.cseq, self.method
        );
        for (n, v) in &self.extra {
            let items: Vec<String> = v.split(", ").map(str::to_string).collect();
            s += &format!("{n}: {}\r\n", self.join(&items));
        }
        s += &format!(
            "{}: {}\r\n\r\n",
            self.name("Content-Length", "l"),
            self.body.len()
        );
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_messages_parse_as_generated_and_round_trip(g in gen()) {
        let bytes = g.bytes();
        if !KNOWN.contains(&g.method.as_str()) {
            let f = parse_datagram(&bytes).expect_err("unknown method");
            prop_assert_eq!(f.kind(), FailureKind::UnknownMethod);
            prop_assert_eq!(f.method(), Some(g.method.as_str()));
            let resp = f.error_response().expect("answerable");
            let resp = parse_datagram(&resp).expect("501 parses");
            prop_assert_eq!(call_id(&resp).unwrap(), g.call_id.as_str());
            return Ok(());
        }
        let msg = parse_datagram(&bytes).unwrap_or_else(|e| panic!("{}", e.reason()));
        prop_assert_eq!(call_id(&msg).unwrap(), g.call_id.as_str());
        let (n, m) = cseq(&msg).unwrap();
        prop_assert_eq!(n, g.cseq);
        prop_assert_eq!(m.to_string(), g.method.clone());
        prop_assert_eq!(from_tag(&msg).unwrap(), Some(g.from_tag.clone()));
        let parsed_vias = vias(&msg).unwrap();
        prop_assert_eq!(parsed_vias.len(), g.vias.len());
        for (p, (_, branch)) in parsed_vias.iter().zip(&g.vias) {
            prop_assert_eq!(p.branch.as_deref(), Some(branch.as_str()));
        }
        prop_assert_eq!(top_via(&msg).unwrap(), parsed_vias[0].clone());
        let SipMessage::Request(req) = &msg else { panic!("request expected") };
        prop_assert_eq!(&req.body, &g.body);

        let again = parse_datagram(&to_bytes(&msg)).unwrap_or_else(|e| panic!("{}", e.reason()));
        prop_assert_eq!(again.headers(), msg.headers());
        let SipMessage::Request(req2) = &again else { panic!("request expected") };
        prop_assert_eq!(&req2.body, &req.body);
        prop_assert_eq!(&req2.uri, &req.uri);
        prop_assert_eq!(req2.method, req.method);
    }

    #[test]
    fn generated_messages_frame_on_a_stream(gs in proptest::collection::vec(gen(), 1..4), chunk in 1usize..200) {
        let wire: Vec<u8> = gs.iter().flat_map(|g| {
            let mut b = b"\r\n\r\n".to_vec();
            b.extend(g.bytes());
            b
        }).collect();
        let mut framer = StreamFramer::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            framer.push(piece);
            while let Some(frame) = framer.next_message() {
                got.push(frame.expect("well-formed stream"));
            }
        }
        prop_assert_eq!(framer.take_pings(), gs.len());
        prop_assert_eq!(got.len(), gs.len());
        for (frame, g) in got.iter().zip(&gs) {
            prop_assert_eq!(frame, &g.bytes());
            if KNOWN.contains(&g.method.as_str()) {
                prop_assert!(parse_stream_message(frame).is_ok());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&data);
    }

    #[test]
    fn mutated_messages_never_panic(
        g in gen(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = g.bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        exercise(&bytes);
    }
}

fn exercise(data: &[u8]) {
    match parse_datagram(data) {
        Ok(msg) => {
            let _ = (call_id(&msg), cseq(&msg), vias(&msg), from_tag(&msg));
            // rsipstack's typed views must not panic on what we accept.
            let _ = msg.top_via_header().and_then(|v| v.typed());
            let _ = (msg.has_multiple_vias(), msg.transaction_id());
            let _ = msg.from_header().and_then(|f| f.tag());
            let _ = msg.cseq_header().and_then(|c| c.typed());
            let _ = (
                msg.typed_contact_headers(),
                msg.typed_record_route_headers(),
            );
            assert!(
                parse_datagram(&to_bytes(&msg)).is_ok(),
                "accepted message must round trip"
            );
        }
        Err(f) => {
            if let Some(resp) = f.error_response() {
                assert!(f.is_request());
                assert!(resp.starts_with(b"SIP/2.0 "));
            }
        }
    }
    let mut framer = StreamFramer::with_limit(1024);
    framer.push(data);
    while let Some(frame) = framer.next_message() {
        if let Ok(bytes) = frame {
            let _ = parse_stream_message(&bytes);
        }
    }
}
