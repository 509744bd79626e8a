//! What went wrong with an inbound message, and the stateless answer to it.

use super::lexer::RawHeader;

/// What kind of fault made a message unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Syntax or semantic fault in a request: answer `400`.
    BadRequest,
    /// Request for a SIP version other than 2.0: answer `505`.
    VersionNotSupported,
    /// Request-URI scheme we do not handle (RFC 3261 §8.2.2.1): answer `416`.
    UnsupportedUriScheme,
    /// Well-formed request with a method rsipstack cannot represent
    /// (RFC 3261 §8.2.1 / §21.5.2): answer `501`.
    UnknownMethod,
    /// A malformed response: drop it (RFC 3261 §18.1.2).
    BadResponse,
    /// Not recognisable as a SIP message at all: drop it.
    Garbage,
}

impl FailureKind {
    /// Status code of the answer, for kinds that are answered.
    pub fn status(self) -> Option<u16> {
        match self {
            Self::BadRequest => Some(400),
            Self::VersionNotSupported => Some(505),
            Self::UnsupportedUriScheme => Some(416),
            Self::UnknownMethod => Some(501),
            Self::BadResponse | Self::Garbage => None,
        }
    }

    fn standard_phrase(self) -> &'static str {
        match self {
            Self::BadRequest => "Bad Request",
            Self::VersionNotSupported => "Version Not Supported",
            Self::UnsupportedUriScheme => "Unsupported URI Scheme",
            Self::UnknownMethod => "Not Implemented",
            Self::BadResponse => "Bad Response",
            Self::Garbage => "Not SIP",
        }
    }
}

/// Raw values of the headers RFC 3261 §8.2.6 copies into a response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialogHeaders {
    /// Every Via header value, in order.
    pub vias: Vec<String>,
    /// First From value.
    pub from: Option<String>,
    /// First To value.
    pub to: Option<String>,
    /// First Call-ID value.
    pub call_id: Option<String>,
    /// First CSeq value.
    pub cseq: Option<String>,
}

impl DialogHeaders {
    pub(crate) fn collect(headers: &[RawHeader]) -> Self {
        let mut out = Self::default();
        for h in headers {
            let slot = match h.name.as_str() {
                "Via" => {
                    out.vias.push(h.value.clone());
                    continue;
                }
                "From" => &mut out.from,
                "To" => &mut out.to,
                "Call-ID" => &mut out.call_id,
                "CSeq" => &mut out.cseq,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(h.value.clone());
            }
        }
        out
    }
}

/// An inbound message that cannot be used, with what is needed to answer it.
///
/// Boxed inside so that `Result<SipMessage, ParseFailure>` stays small.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.reason)]
pub struct ParseFailure(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: FailureKind,
    is_request: bool,
    reason: String,
    method: Option<String>,
    headers: DialogHeaders,
}

impl ParseFailure {
    pub(crate) fn new(
        kind: FailureKind,
        is_request: bool,
        fault: &str,
        headers: DialogHeaders,
    ) -> Self {
        // A reason phrase must stay on one line of printable text.
        let fault: String = fault.chars().filter(|c| !c.is_control()).collect();
        let reason = format!("{} - {}", kind.standard_phrase(), fault);
        Self(Box::new(Inner {
            kind,
            is_request,
            reason,
            method: None,
            headers,
        }))
    }

    pub(crate) fn with_method(mut self, method: &str) -> Self {
        self.0.method = Some(method.to_string());
        self
    }

    /// What kind of fault this is.
    pub fn kind(&self) -> FailureKind {
        self.0.kind
    }

    /// True when the bytes were a request, i.e. the sender expects an answer.
    pub fn is_request(&self) -> bool {
        self.0.is_request
    }

    /// Human reason phrase naming the fault, e.g.
    /// `Bad Request - CSeq method does not match request method`.
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// The request method as written, when the start line could be read.
    pub fn method(&self) -> Option<&str> {
        self.0.method.as_deref()
    }

    /// Raw Via/From/To/Call-ID/CSeq values found in the message.
    pub fn dialog_headers(&self) -> &DialogHeaders {
        &self.0.headers
    }

    /// Bytes of the stateless error response (RFC 3261 §8.2.6), or `None`
    /// when this was not a request or the headers needed to route and match
    /// a response (Via, From, To, Call-ID, CSeq) are missing.
    pub fn error_response(&self) -> Option<Vec<u8>> {
        let status = self.0.kind.status()?;
        if !self.0.is_request || self.0.headers.vias.is_empty() {
            return None;
        }
        let h = &self.0.headers;
        let (from, to) = (h.from.as_ref()?, h.to.as_ref()?);
        let (call_id, cseq) = (h.call_id.as_ref()?, h.cseq.as_ref()?);
        let mut out = format!("SIP/2.0 {status} {}\r\n", self.0.reason);
        for via in &h.vias {
            out.push_str(&format!("Via: {via}\r\n"));
        }
        out.push_str(&format!("From: {from}\r\n"));
        out.push_str(&format!("To: {}\r\n", to_with_tag(to, call_id, cseq)));
        out.push_str(&format!("Call-ID: {call_id}\r\nCSeq: {cseq}\r\n"));
        if self.0.kind == FailureKind::UnknownMethod {
            out.push_str(&format!("Allow: {}\r\n", super::ALLOWED_METHODS));
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        Some(out.into_bytes())
    }
}

/// Adds a To tag unless one is present (RFC 3261 §8.2.6.2).
///
/// The tag is derived from Call-ID and CSeq so that a retransmitted request
/// gets the same tag from this stateless answer.
fn to_with_tag(to: &str, call_id: &str, cseq: &str) -> String {
    let has_tag = super::grammar::split_top_level(to, b';')
        .map(|parts| {
            parts.iter().skip(1).any(|p| {
                let name = p.split('=').next().unwrap_or("").trim();
                name.eq_ignore_ascii_case("tag")
            })
        })
        .unwrap_or(false);
    if has_tag {
        return to.to_string();
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in call_id.bytes().chain(cseq.bytes()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{to};tag={hash:016x}")
}
