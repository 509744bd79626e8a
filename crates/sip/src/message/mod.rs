//! SIP messages: strict parsing, stream framing, accessors, responses.
//!
//! Message types are rsipstack's (re-exported here). rsipstack's own parser is
//! lenient (it skips lines without a colon, reads a bad Content-Length as 0),
//! so inbound bytes go through [`parse_datagram`] / [`parse_stream_message`]
//! instead, which enforce RFC 3261 §7/§25 and RFC 4475 and report a
//! [`ParseFailure`] that can answer a bad request statelessly.
//!
//! Accessors parse header values with this module's own grammar code, never
//! with rsipstack's typed headers, so odd input yields a [`MessageError`].

mod access;
mod build;
mod failure;
mod framer;
pub(crate) mod grammar;
mod lexer;
mod parse;
mod received;

pub use access::{
    call_id, contact_uri, contacts, content_type, cseq, expires, from_addr, from_tag, header,
    header_values, record_route, to_addr, to_tag, top_via, vias, NameAddr, ViaInfo,
};
pub use build::{response_to, set_content_length, to_bytes};
pub use failure::{DialogHeaders, FailureKind, ParseFailure};
pub use framer::{FramingError, StreamFramer, MAX_MESSAGE_SIZE};
pub use parse::{parse_datagram, parse_message, parse_stream_message, Framing};
pub use received::stamp_top_via;

pub use crate::rsip::{
    HasHeaders, Header, Headers, HeadersExt, Method, Request, Response, SipMessage, StatusCode,
    StatusCodeKind, Uri, Version,
};

/// Methods this user agent handles, for `Allow` in 501/405 answers.
pub const ALLOWED_METHODS: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER, UPDATE, PRACK";

/// A header needed by the core is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The header is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// The header is present but its value does not parse.
    #[error("malformed {header} header {value:?}: {reason}")]
    Malformed {
        /// Canonical header name.
        header: &'static str,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// How a request shows in traces and logs: `INVITE sip:bob@example.org`.
pub(crate) fn request_line(r: &Request) -> String {
    format!("{} {}", r.method, r.uri)
}

/// How a response shows in traces and logs: `200 OK (1 INVITE)`.
pub(crate) fn response_line(r: &Response) -> String {
    let cseq = header(r, "CSeq").unwrap_or("");
    format!("{} ({cseq})", r.status_code)
}

/// [`request_line`] or [`response_line`].
pub(crate) fn trace_line(msg: &SipMessage) -> String {
    match msg {
        SipMessage::Request(r) => request_line(r),
        SipMessage::Response(r) => response_line(r),
    }
}

#[cfg(test)]
mod tests;
