//! Building responses and serialising messages.

use super::grammar;
use crate::rsip::{Header, Headers, Request, Response, SipMessage, StatusCode, Version};

/// Builds a response to `req` (RFC 3261 §8.2.6): all Vias in order, From,
/// To (with `to_tag` added when To has no tag yet), Call-ID, CSeq and
/// `Content-Length: 0`.
///
/// `reason` replaces the standard phrase on the wire (see [`to_bytes`]).
/// A tag is only added to To when the caller gives one: a 100 Trying carries
/// none (RFC 3261 §8.2.6.2).
pub fn response_to(
    req: &Request,
    code: StatusCode,
    reason: Option<&str>,
    to_tag: Option<&str>,
) -> Response {
    let mut headers = Headers::default();
    for h in req.headers.iter() {
        let copied = match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => h.clone(),
            Header::To(to) => Header::To(crate::rsip::To::new(with_tag(to.value(), to_tag))),
            _ => continue,
        };
        headers.push(copied);
    }
    headers.push(Header::ContentLength(crate::rsip::ContentLength::new("0")));
    Response {
        status_code: code,
        wire_reason: reason.map(|r| r.chars().filter(|c| !c.is_control()).collect()),
        version: Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// Appends `;tag=` to a To value unless it already has a tag.
fn with_tag(to: &str, tag: Option<&str>) -> String {
    let Some(tag) = tag else {
        return to.to_string();
    };
    let has_tag = grammar::parse_addr(to)
        .map(|a| a.params.iter().any(|(n, _)| n.eq_ignore_ascii_case("tag")))
        .unwrap_or(false);
    if has_tag {
        to.to_string()
    } else {
        format!("{to};tag={tag}")
    }
}

/// Sets Content-Length to the real body length, replacing any existing
/// value in place (or appending one).
pub fn set_content_length(msg: &mut SipMessage) {
    let len = match msg {
        SipMessage::Request(r) => r.body.len(),
        SipMessage::Response(r) => r.body.len(),
    };
    let headers = match msg {
        SipMessage::Request(r) => &mut r.headers,
        SipMessage::Response(r) => &mut r.headers,
    };
    let value = crate::rsip::ContentLength::new(len.to_string());
    let mut seen = false;
    headers.retain(|h| {
        let is_cl = matches!(h, Header::ContentLength(_));
        let keep = !(is_cl && seen);
        seen |= is_cl;
        keep
    });
    let existing = headers
        .iter_mut()
        .find(|h| matches!(h, Header::ContentLength(_)));
    if let Some(h) = existing {
        *h = Header::ContentLength(value);
        return;
    }
    headers.push(Header::ContentLength(value));
}

/// Wire bytes of `msg` with a correct Content-Length.
///
/// Uses rsipstack's serialisation, except that a response's `wire_reason`
/// (set by [`response_to`] or kept from a parsed Status-Line) is written
/// instead of the standard phrase, which rsipstack never does.
pub fn to_bytes(msg: &SipMessage) -> Vec<u8> {
    let mut msg = msg.clone();
    set_content_length(&mut msg);
    match &msg {
        SipMessage::Request(r) => r.to_bytes(),
        SipMessage::Response(r) => match &r.wire_reason {
            Some(reason) => {
                let mut out = format!(
                    "SIP/2.0 {} {}\r\n{}\r\n",
                    r.status_code.code(),
                    reason,
                    r.headers
                )
                .into_bytes();
                out.extend_from_slice(&r.body);
                out
            }
            None => r.to_bytes(),
        },
    }
}
