//! Behaviour of the message layer as the SIP core uses it.

use super::*;

const INVITE: &[u8] = b"INVITE sip:bob@[2001:db8::1]:5062;transport=udp SIP/2.0\r\n\
v: SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKa1;rport=5070;received=2001:db8::99\r\n\
Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKb2, SIP/2.0/UDP 192.0.2.7:5080;branch=z9hG4bKc3\r\n\
f: \"Alice A\" <sip:alice@example.com>;tag=fa\r\n\
t: Bob <sip:bob@example.com>\r\n\
i: call-1@example.com\r\n\
CSeq: 4711 INVITE\r\n\
Max-Forwards: 70\r\n\
m: <sip:alice@[2001:db8::9]:5060;ob>;expires=60\r\n\
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
Record-Route: <sip:p3.example.com;lr>\r\n\
u: talk, hold\r\n\
x: 1800;refresher=uac\r\n\
Expires: 99999999999\r\n\
c: Application/SDP; charset=utf-8\r\n\
l: 5\r\n\
\r\n\
v=0\r\nTRAILING";

fn request() -> Request {
    match parse_datagram(INVITE) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("expected request, got {other:?}"),
    }
}

#[test]
fn accessors_read_compact_and_multi_value_headers() {
    let r = request();
    assert_eq!(
        r.body, b"v=0\r\n",
        "Content-Length smaller than datagram truncates"
    );
    assert_eq!(call_id(&r).unwrap(), "call-1@example.com");
    assert_eq!(cseq(&r).unwrap(), (4711, Method::Invite));
    let top = top_via(&r).unwrap();
    assert_eq!(top.host, "2001:db8::9");
    assert_eq!(top.port, Some(5060));
    assert_eq!(top.branch.as_deref(), Some("z9hG4bKa1"));
    assert_eq!(top.rport, Some(Some(5070)));
    assert_eq!(top.received.as_deref(), Some("2001:db8::99"));
    let all = vias(&r).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].host, "192.0.2.7");
    assert_eq!(from_tag(&r).unwrap().as_deref(), Some("fa"));
    assert_eq!(from_addr(&r).unwrap().display.as_deref(), Some("Alice A"));
    assert_eq!(to_tag(&r).unwrap(), None);
    let contact = &contacts(&r).unwrap()[0];
    assert_eq!(contact.param("expires"), Some(Some("60")));
    assert_eq!(contact.uri_text, "sip:alice@[2001:db8::9]:5060;ob");
    assert!(contact_uri(&r).is_ok());
    let rr: Vec<String> = record_route(&r)
        .unwrap()
        .into_iter()
        .map(|a| a.uri_text)
        .collect();
    assert_eq!(
        rr,
        [
            "sip:p1.example.com;lr",
            "sip:p2.example.com;lr",
            "sip:p3.example.com;lr"
        ]
    );
    assert_eq!(expires(&r).unwrap(), Some(u32::MAX));
    assert_eq!(
        content_type(&r).unwrap().as_deref(),
        Some("application/sdp")
    );
    assert_eq!(header(&r, "allow-events"), Some("talk, hold"));
    assert_eq!(header(&r, "u"), Some("talk, hold"));
    assert_eq!(header(&r, "Session-Expires"), Some("1800;refresher=uac"));
    assert_eq!(header_values(&r, "VIA").len(), 2);
}

#[test]
fn accessor_errors_are_clear() {
    let raw = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
        From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 FOO\r\n\
        Content-Length: 0\r\n\r\n";
    let msg = parse_datagram(raw).expect("responses to extension methods parse");
    assert!(matches!(
        cseq(&msg),
        Err(MessageError::Malformed { header: "CSeq", .. })
    ));
    assert_eq!(contact_uri(&msg), Err(MessageError::Missing("Contact")));
    assert_eq!(expires(&msg), Ok(None));
    assert_eq!(
        MessageError::Missing("Contact").to_string(),
        "missing Contact header"
    );
}

#[test]
fn response_to_copies_dialog_headers_and_tags_to() {
    let r = request();
    let resp = response_to(&r, StatusCode::Ringing, None, Some("bt1"));
    assert_eq!(header_values(&resp, "Via"), header_values(&r, "Via"));
    assert_eq!(to_tag(&resp).unwrap().as_deref(), Some("bt1"));
    assert_eq!(from_tag(&resp).unwrap().as_deref(), Some("fa"));
    assert_eq!(call_id(&resp).unwrap(), "call-1@example.com");
    assert_eq!(cseq(&resp).unwrap(), (4711, Method::Invite));
    assert_eq!(header(&resp, "Content-Length"), Some("0"));
    assert_eq!(header(&resp, "Contact"), None, "only §8.2.6 headers copied");
    let bytes = to_bytes(&SipMessage::Response(resp));
    assert!(bytes.starts_with(b"SIP/2.0 180 Ringing\r\nVia: "));
    let again = parse_datagram(&bytes).unwrap();
    assert_eq!(to_tag(&again).unwrap().as_deref(), Some("bt1"));

    // An existing tag is kept; a custom reason goes on the wire.
    let SipMessage::Request(mut r2) = parse_datagram(INVITE).unwrap() else {
        unreachable!()
    };
    for h in r2.headers.iter_mut() {
        if let Header::To(to) = h {
            *to = crate::rsip::To::new("<sip:bob@example.com>;tag=old");
        }
    }
    let resp = response_to(&r2, StatusCode::BusyHere, Some("Agent Busy"), Some("new"));
    assert_eq!(to_tag(&resp).unwrap().as_deref(), Some("old"));
    let bytes = to_bytes(&SipMessage::Response(resp));
    assert!(bytes.starts_with(b"SIP/2.0 486 Agent Busy\r\n"));
    // 100 Trying carries no To tag.
    let trying = response_to(&r, StatusCode::Trying, None, None);
    assert_eq!(to_tag(&trying).unwrap(), None);
}

#[test]
fn serialisation_fixes_content_length_and_keeps_compact_headers() {
    let mut msg = parse_datagram(INVITE).unwrap();
    if let SipMessage::Request(r) = &mut msg {
        r.body = b"v=0\r\no=- 1 1 IN IP6 ::1\r\n".to_vec();
    }
    let bytes = to_bytes(&msg);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("\r\nContent-Length: 25\r\n"), "{text}");
    assert_eq!(text.matches("Content-Length").count(), 1);
    // Compact names come back in long form, values untouched.
    assert!(text.contains("\r\nVia: SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKa1;"));
    assert!(text.contains("\r\nAllow-Events: talk, hold\r\n"));
    assert!(text.contains("\r\nSession-Expires: 1800;refresher=uac\r\n"));
    assert!(text.contains("\r\nCall-ID: call-1@example.com\r\n"));
    let again = parse_datagram(&bytes).unwrap();
    set_content_length(&mut msg);
    assert_eq!(again.headers(), msg.headers());
    assert_eq!(header(&again, "Content-Length"), Some("25"));
}

#[test]
fn datagram_body_rules() {
    let base = "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
        From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n";
    let no_cl = format!("{base}\r\nhello");
    match parse_datagram(no_cl.as_bytes()).unwrap() {
        SipMessage::Request(r) => assert_eq!(r.body, b"hello"),
        SipMessage::Response(_) => unreachable!(),
    }
    let long_cl = format!("{base}Content-Length: 6\r\n\r\nhello");
    let f = parse_datagram(long_cl.as_bytes()).unwrap_err();
    assert_eq!(f.kind(), FailureKind::BadRequest);
    assert!(f
        .reason()
        .contains("Content-Length 6 larger than the 5 byte body"));
    let f = parse_stream_message(no_cl.as_bytes()).unwrap_err();
    assert!(f.reason().contains("missing Content-Length"));
    let bad_cl = format!("{base}Content-Length: 5x\r\n\r\nhello");
    assert!(parse_datagram(bad_cl.as_bytes()).is_err());
}

#[test]
fn unknown_method_is_answered_501_with_allow() {
    let raw = b"FOO sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
        From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 FOO\r\n\
        Content-Length: 0\r\n\r\n";
    let f = parse_datagram(raw).unwrap_err();
    assert_eq!(f.kind(), FailureKind::UnknownMethod);
    assert_eq!(f.method(), Some("FOO"));
    let resp = String::from_utf8(f.error_response().unwrap()).unwrap();
    assert!(resp.starts_with("SIP/2.0 501 Not Implemented - method FOO not implemented\r\n"));
    assert!(resp.contains(&format!("\r\nAllow: {ALLOWED_METHODS}\r\n")));
    // The same stateless tag for a retransmission.
    assert_eq!(
        f.error_response(),
        parse_datagram(raw).unwrap_err().error_response()
    );
}

#[test]
fn garbage_and_bad_responses_are_dropped() {
    for raw in [
        &b""[..],
        b"\r\n\r\n",
        b"\xff\xfe\r\n\r\n",
        b"SIP/2.0 99 Low\r\nVia: SIP/2.0/UDP h\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n",
    ] {
        let f = parse_datagram(raw).unwrap_err();
        assert!(!f.is_request(), "{f}");
        assert_eq!(f.error_response(), None);
    }
}

#[test]
fn max_forwards_range() {
    let make = |mf: &str| {
        format!(
            "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\
             Max-Forwards: {mf}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    assert!(parse_datagram(make("0068").as_bytes()).is_ok());
    assert!(parse_datagram(make("300").as_bytes()).is_err());
    assert!(parse_datagram(make("x").as_bytes()).is_err());
}
