//! RFC 4475 torture messages (fixtures/sip/rfc4475, see its README).
//!
//! Valid messages parse and survive a serialise/parse round trip, except the
//! few RFC 3261 answers without carrying (unknown method → 501, unknown
//! Request-URI scheme → 416). Invalid messages never parse: requests get a
//! 400/505 built from their own headers, or are dropped when those headers are
//! missing; responses are dropped.

use std::fs;
use std::path::PathBuf;

use agentphone_sip::message::{
    call_id, cseq, parse_datagram, to_bytes, top_via, vias, FailureKind, SipMessage,
};

fn dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/sip/rfc4475")
        .join(kind)
}

fn load(kind: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(dir(kind))
        .expect("fixtures directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "dat"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).expect("fixture bytes"))
        })
        .collect();
    out.sort();
    out
}

/// Valid messages RFC 3261 has a UA answer rather than process.
fn expected_answer(name: &str) -> Option<FailureKind> {
    match name {
        "intmeth" | "esc02" => Some(FailureKind::UnknownMethod),
        "unkscm" | "novelsc" => Some(FailureKind::UnsupportedUriScheme),
        _ => None,
    }
}

#[test]
fn all_fixtures_are_present() {
    assert_eq!(load("valid").len(), 27);
    assert_eq!(load("invalid").len(), 22);
}

#[test]
fn valid_messages_parse_and_round_trip() {
    for (name, bytes) in load("valid") {
        let result = parse_datagram(&bytes);
        if let Some(kind) = expected_answer(&name) {
            let failure = result.expect_err(&name);
            assert_eq!(failure.kind(), kind, "{name}: {}", failure.reason());
            let resp = failure.error_response().expect(&name);
            let resp = parse_datagram(&resp).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(matches!(resp, SipMessage::Response(_)), "{name}");
            continue;
        }
        let msg = result.unwrap_or_else(|e| panic!("{name}: {}", e.reason()));
        call_id(&msg).unwrap_or_else(|e| panic!("{name}: {e}"));
        cseq(&msg).unwrap_or_else(|e| panic!("{name}: {e}"));
        top_via(&msg).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = parse_datagram(&to_bytes(&msg))
            .unwrap_or_else(|e| panic!("{name} after round trip: {}", e.reason()));
        // to_bytes adds Content-Length where a UDP sender left it out.
        let without_cl = |m: &SipMessage| -> Vec<Header> {
            m.headers()
                .iter()
                .filter(|h| !matches!(h, Header::ContentLength(_)))
                .cloned()
                .collect()
        };
        assert_eq!(without_cl(&again), without_cl(&msg), "{name}");
        let body = |m: &SipMessage| match m {
            SipMessage::Request(r) => r.body.clone(),
            SipMessage::Response(r) => r.body.clone(),
        };
        assert_eq!(body(&again), body(&msg), "{name}");
    }
}

use agentphone_sip::message::{HasHeaders, Header};

#[test]
fn invalid_messages_are_rejected_with_an_answer_or_dropped() {
    for (name, bytes) in load("invalid") {
        let failure = match parse_datagram(&bytes) {
            Ok(m) => panic!("{name} was accepted: {m}"),
            Err(f) => f,
        };
        assert!(failure.reason().len() > 12, "{name}: vague reason");
        match failure.error_response() {
            Some(resp) => {
                assert!(failure.is_request(), "{name}");
                // The copied headers may be the malformed ones, so check the
                // text rather than re-parse it strictly.
                let text = String::from_utf8(resp).expect("error response is UTF-8");
                assert!(
                    text.starts_with("SIP/2.0 400 Bad Request - ")
                        || text.starts_with("SIP/2.0 505 Version Not Supported - "),
                    "{name}: {text}"
                );
                let h = failure.dialog_headers();
                let call_id = h.call_id.as_deref().expect("Call-ID copied");
                assert!(
                    text.contains(&format!("\r\nCall-ID: {call_id}\r\n")),
                    "{name}"
                );
                assert!(
                    text.contains(&format!("\r\nVia: {}\r\n", h.vias[0])),
                    "{name}"
                );
                assert!(text.contains(";tag="), "{name}: To tag added");
                assert!(text.ends_with("\r\nContent-Length: 0\r\n\r\n"), "{name}");
            }
            None => assert!(
                !failure.is_request() || matches!(name.as_str(), "insuf"),
                "{name}: request left unanswered: {}",
                failure.reason()
            ),
        }
    }
}

/// The reason phrase names the fault for the cases RFC 4475 describes.
#[test]
fn invalid_reasons_name_the_fault() {
    let expect = [
        ("badvers", "Version Not Supported"),
        ("mismatch01", "CSeq method does not match request method"),
        ("mismatch02", "CSeq method does not match request method"),
        ("clerr", "larger than"),
        ("ncl", "Content-Length"),
        ("mcl01", "multiple Content-Length"),
        ("multi01", "multiple"),
        ("scalar02", "2**31-1"),
        ("quotbal", "quote"),
        ("ltgtruri", "<>"),
        ("escruri", "headers"),
        ("baddate", "GMT"),
        ("regbadct", "enclosed in <>"),
        ("badaspec", "whitespace inside <>"),
        ("baddn", "display name"),
        ("insuf", "missing"),
        ("lwsstart", "Request-Line"),
        ("trws", "Request-Line"),
        ("lwsruri", "Request-Line"),
        ("badinv01", "Via"),
        ("bigcode", "status code"),
    ];
    let all = load("invalid");
    for (name, needle) in expect {
        let (_, bytes) = all.iter().find(|(n, _)| n == name).expect(name);
        let failure = parse_datagram(bytes).expect_err(name);
        assert!(
            failure.reason().contains(needle),
            "{name}: {:?} lacks {needle:?}",
            failure.reason()
        );
    }
}

#[test]
fn badvers_is_answered_505_and_mismatch01_400() {
    let all = load("invalid");
    let get = |n: &str| &all.iter().find(|(name, _)| name == n).unwrap().1;
    let resp = parse_datagram(get("badvers"))
        .unwrap_err()
        .error_response()
        .unwrap();
    assert!(resp.starts_with(b"SIP/2.0 505 "));
    let resp = parse_datagram(get("mismatch01"))
        .unwrap_err()
        .error_response()
        .unwrap();
    let text = String::from_utf8(resp).unwrap();
    assert!(
        text.starts_with("SIP/2.0 400 Bad Request - CSeq method does not match request method\r\n")
    );
    assert!(text.contains("\r\nCall-ID: mismatch01.dj0234sxdfl3\r\n"));
    assert!(text.contains("\r\nCSeq: 8 INVITE\r\n"));
    assert!(text.contains("\r\nTo: sip:j.user@example.com;tag="));
    assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
}

#[test]
fn wsinv_values_are_unfolded_and_typed() {
    let (_, bytes) = load("valid")
        .into_iter()
        .find(|(n, _)| n == "wsinv")
        .unwrap();
    let msg = parse_datagram(&bytes).unwrap();
    assert_eq!(cseq(&msg).unwrap().0, 9);
    let v = vias(&msg).unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[0].host, "192.0.2.2");
    assert_eq!(v[1].transport, "TCP");
    assert_eq!(v[1].branch.as_deref(), Some("z9hG4bK9ikj8"));
    assert_eq!(v[2].branch.as_deref(), Some("z9hG4bK30239"));
    assert_eq!(
        agentphone_sip::message::to_tag(&msg).unwrap().as_deref(),
        Some("1918181833n")
    );
    assert_eq!(
        agentphone_sip::message::from_tag(&msg).unwrap().as_deref(),
        Some("98asjd8")
    );
    let SipMessage::Request(req) = msg else {
        panic!("request expected")
    };
    assert_eq!(req.body.len(), 150);
}

#[test]
fn dblreq_takes_only_the_first_request() {
    let (_, bytes) = load("valid")
        .into_iter()
        .find(|(n, _)| n == "dblreq")
        .unwrap();
    let SipMessage::Request(req) = parse_datagram(&bytes).unwrap() else {
        panic!("request expected")
    };
    assert_eq!(req.method.to_string(), "REGISTER");
    assert!(req.body.is_empty());
}
