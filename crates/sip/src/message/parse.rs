//! Strict parsing of one SIP message into rsipstack types.

use super::failure::{DialogHeaders, FailureKind, ParseFailure};
use super::grammar;
use super::lexer::{self, LexError, RawHeader, RawMessage};
use crate::rsip::{self, headers::make_header, Headers, Method, SipMessage, StatusCode};

/// How the message was delimited, which decides the Content-Length rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A UDP datagram: missing Content-Length means "rest of the datagram".
    Datagram,
    /// One message cut from a stream: Content-Length is mandatory.
    Stream,
}

/// Parses one UDP datagram (RFC 3261 §7, §18.3), strictly.
pub fn parse_datagram(bytes: &[u8]) -> Result<SipMessage, ParseFailure> {
    parse_message(bytes, Framing::Datagram)
}

/// Parses one message cut from a stream by [`super::StreamFramer`].
pub fn parse_stream_message(bytes: &[u8]) -> Result<SipMessage, ParseFailure> {
    parse_message(bytes, Framing::Stream)
}

/// Parses one message with the given framing rules.
pub fn parse_message(bytes: &[u8], framing: Framing) -> Result<SipMessage, ParseFailure> {
    let raw = lexer::lex(bytes).map_err(|e| {
        let fault = match e {
            LexError::Empty => "empty message",
            LexError::Encoding => "start line is not UTF-8 text",
        };
        ParseFailure::new(FailureKind::Garbage, false, fault, DialogHeaders::default())
    })?;
    let result = if raw.start_line.starts_with("SIP/") {
        parse_response(&raw, framing)
    } else {
        parse_request(&raw, framing)
    };
    if let Err(f) = &result {
        tracing::debug!(reason = f.reason(), "rejected inbound SIP message");
    }
    result
}

/// Builds the failure for `raw` with the dialog headers found so far.
fn fail(raw: &RawMessage<'_>, kind: FailureKind, request: bool, fault: &str) -> ParseFailure {
    ParseFailure::new(kind, request, fault, DialogHeaders::collect(&raw.headers))
}

fn parse_request(raw: &RawMessage<'_>, framing: Framing) -> Result<SipMessage, ParseFailure> {
    let bad = |fault: &str| fail(raw, FailureKind::BadRequest, true, fault);
    let parts: Vec<&str> = raw.start_line.split(' ').collect();
    let [method_text, uri_text, version] = parts[..] else {
        return Err(bad("malformed Request-Line"));
    };
    if !grammar::is_token(method_text) || uri_text.is_empty() {
        return Err(bad("malformed Request-Line"));
    }
    let with_method = |f: ParseFailure| f.with_method(method_text);
    check_version(version).map_err(|kind| with_method(fail(raw, kind, true, "SIP version")))?;
    let uri = request_uri(raw, uri_text).map_err(with_method)?;
    let headers = checked_headers(raw).map_err(|f| with_method(bad(&f)))?;
    let cseq = header(&raw.headers, "CSeq").unwrap_or_default();
    let (_, cseq_method) = grammar::parse_cseq(cseq).map_err(|f| with_method(bad(f)))?;
    if cseq_method != method_text {
        return Err(with_method(bad(
            "CSeq method does not match request method",
        )));
    }
    let body = body(raw, framing).map_err(|f| with_method(bad(&f)))?;
    // rsipstack's Method has no extension variant, so a well-formed request
    // with an unknown method can only be answered, not carried.
    let method = known_method(method_text).ok_or_else(|| {
        with_method(fail(
            raw,
            FailureKind::UnknownMethod,
            true,
            &format!("method {method_text} not implemented"),
        ))
    })?;
    Ok(SipMessage::Request(rsip::Request {
        method,
        uri,
        version: rsip::Version::V2,
        headers,
        body,
    }))
}

/// Methods rsipstack represents, matched case-sensitively (RFC 3261 §7.1).
fn known_method(text: &str) -> Option<Method> {
    Method::all().into_iter().find(|m| m.to_string() == text)
}

/// `Ok` for SIP/2.0; the failure kind otherwise (505 for a well-formed
/// other version, 400 for a malformed one).
fn check_version(v: &str) -> Result<(), FailureKind> {
    if v == "SIP/2.0" {
        return Ok(());
    }
    let well_formed = v
        .strip_prefix("SIP/")
        .and_then(|n| n.split_once('.'))
        .is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
        });
    Err(if well_formed {
        FailureKind::VersionNotSupported
    } else {
        FailureKind::BadRequest
    })
}

/// Checks and converts the Request-URI (RFC 3261 §8.2.2.1, §19.1.5).
fn request_uri(raw: &RawMessage<'_>, text: &str) -> Result<rsip::Uri, ParseFailure> {
    let bad = |fault: &str| fail(raw, FailureKind::BadRequest, true, fault);
    if text.contains(['<', '>']) {
        return Err(bad("Request-URI must not be enclosed in <>"));
    }
    let scheme = text.split(':').next().unwrap_or("");
    let is_sip = scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips");
    if !is_sip && !scheme.eq_ignore_ascii_case("tel") {
        grammar::check_uri(text).map_err(|f| bad(&format!("Request-URI: {f}")))?;
        return Err(fail(
            raw,
            FailureKind::UnsupportedUriScheme,
            true,
            &format!("Request-URI scheme {scheme} not supported"),
        ));
    }
    grammar::check_uri(text).map_err(|f| bad(&format!("Request-URI: {f}")))?;
    if is_sip && sip_uri_has_headers(text) {
        return Err(bad("Request-URI must not carry headers"));
    }
    rsip::parse_uri(text).map_err(|_| bad("malformed Request-URI"))
}

/// True when a SIP URI carries `?headers` (a '?' in the user part does not
/// count: user-unreserved allows it).
fn sip_uri_has_headers(text: &str) -> bool {
    let rest = text.split_once(':').map_or(text, |(_, r)| r);
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    host.contains('?')
}

fn parse_response(raw: &RawMessage<'_>, framing: Framing) -> Result<SipMessage, ParseFailure> {
    let bad = |fault: &str| fail(raw, FailureKind::BadResponse, false, fault);
    let mut parts = raw.start_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    let reason = parts.next().unwrap_or("").trim();
    if version != "SIP/2.0" {
        return Err(bad("response SIP version is not 2.0"));
    }
    let code: u16 = match code.parse() {
        Ok(c) if code.len() == 3 && (100..=699).contains(&c) => c,
        _ => return Err(bad("malformed status code")),
    };
    let headers = checked_headers(raw).map_err(|f| bad(&f))?;
    let body = body(raw, framing).map_err(|f| bad(&f))?;
    let status_code =
        StatusCode::try_from((code, reason)).map_err(|_| bad("malformed status code"))?;
    let wire_reason = (!reason.is_empty()
        && !matches!(status_code, StatusCode::Other(..))
        && !reason.eq_ignore_ascii_case(status_code.text()))
    .then(|| reason.to_string());
    Ok(SipMessage::Response(rsip::Response {
        status_code,
        wire_reason,
        version: rsip::Version::V2,
        headers,
        body,
    }))
}

/// First value of the header with canonical `name`.
pub(crate) fn header<'a>(headers: &'a [RawHeader], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name == name)
        .map(|h| h.value.as_str())
}

/// Headers that must appear at most once (RFC 3261 §7.3.1, RFC 4475 §3.2.9).
const SINGLE: &[&str] = &[
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Expires",
];

/// Mandatory in every request and response (RFC 3261 §8.1.1). Max-Forwards
/// is not here: RFC 2543 peers omit it and RFC 4475 §3.3.1 asks a UAS to
/// accept such requests; the core decides whether 0 is acceptable.
const MANDATORY: &[&str] = &["Via", "From", "To", "Call-ID", "CSeq"];

/// Runs every header check and converts to rsipstack headers.
fn checked_headers(raw: &RawMessage<'_>) -> Result<Headers, String> {
    if let Some(f) = raw.fault {
        return Err(f.to_string());
    }
    for name in MANDATORY {
        if header(&raw.headers, name).is_none() {
            return Err(format!("missing {name} header"));
        }
    }
    for name in SINGLE {
        if raw.headers.iter().filter(|h| h.name == *name).count() > 1 {
            return Err(format!("multiple {name} headers"));
        }
    }
    for h in &raw.headers {
        check_header(h).map_err(|f| format!("{}: {f}", h.name))?;
    }
    if raw.unterminated {
        return Err("no blank line after the headers".into());
    }
    Ok(Headers(
        raw.headers
            .iter()
            .map(|h| make_header(&h.name, h.value.clone()))
            .collect(),
    ))
}

/// Grammar check of one header by name; unknown headers pass.
fn check_header(h: &RawHeader) -> Result<(), &'static str> {
    let v = h.value.as_str();
    match h.name.as_str() {
        "Via" => each(v, |e| {
            let via = grammar::parse_via(e)?;
            if via.protocol != "SIP" || via.version != "2.0" {
                return Err("Via protocol is not SIP/2.0");
            }
            Ok(())
        }),
        "From" | "To" => grammar::parse_addr(v).map(|_| ()),
        "Contact" if v == "*" => Ok(()),
        "Contact" | "Reply-To" | "Refer-To" | "Referred-By" => {
            each(v, |e| grammar::parse_addr(e).map(|_| ()))
        }
        "Route" | "Record-Route" | "Path" | "Service-Route" => each(v, |e| {
            if !e.trim().contains('<') {
                return Err("route entry must be a name-addr in <>");
            }
            grammar::parse_addr(e).map(|_| ())
        }),
        "Call-ID" => grammar::check_call_id(v),
        "CSeq" => grammar::parse_cseq(v).map(|_| ()),
        "Max-Forwards" => match grammar::parse_saturating_u32(v) {
            Some(n) if n <= 255 => Ok(()),
            _ => Err("not a number from 0 to 255"),
        },
        "Content-Length" => grammar::parse_saturating_u32(v)
            .map(|_| ())
            .ok_or("not a number"),
        "Expires" | "Min-Expires" => grammar::parse_saturating_u32(v)
            .map(|_| ())
            .ok_or("not a number"),
        "Content-Type" => grammar::check_media_type(v),
        "Date" => grammar::check_date(v),
        _ => Ok(()),
    }
}

/// Applies `check` to each top-level comma-separated entry.
fn each(v: &str, check: impl Fn(&str) -> Result<(), &'static str>) -> Result<(), &'static str> {
    for entry in grammar::split_top_level(v, b',')? {
        check(entry.trim())?;
    }
    Ok(())
}

/// The body as delimited by Content-Length and the framing rules.
fn body(raw: &RawMessage<'_>, framing: Framing) -> Result<Vec<u8>, String> {
    let Some(cl) = header(&raw.headers, "Content-Length") else {
        return match framing {
            Framing::Datagram => Ok(raw.rest.to_vec()),
            Framing::Stream => Err("missing Content-Length on a stream transport".into()),
        };
    };
    let n = grammar::parse_saturating_u32(cl).ok_or("Content-Length: not a number")? as usize;
    if n > raw.rest.len() {
        return Err(format!(
            "Content-Length {n} larger than the {} byte body",
            raw.rest.len()
        ));
    }
    // RFC 3261 §18.3: bytes past Content-Length in a datagram are discarded.
    Ok(raw.rest[..n].to_vec())
}
