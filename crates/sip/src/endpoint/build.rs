//! Building the messages the endpoint originates: identifiers, Via, new
//! out-of-dialog requests and responses with our headers.

use super::Endpoint;
use crate::message;
use crate::rsip::{Header, Method, Request, Response, StatusCode, Uri, Version};
use crate::transport::Transport;
use rand::Rng;

const TOKEN_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

impl Endpoint {
    /// A random token of `len` lowercase letters and digits.
    pub(super) fn token(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| TOKEN_CHARS[self.rng.random_range(0..TOKEN_CHARS.len())] as char)
            .collect()
    }

    /// A Via header value with a fresh RFC 3261 branch and rport (RFC 3581).
    /// Over TLS it carries `alias` (RFC 5923): the server may send requests
    /// for our sent-by back on this connection, so a phone with no TLS
    /// listener (and no certificate) of its own still gets its calls.
    pub(super) fn via(&mut self, transport: Transport) -> String {
        let branch = self.token(16);
        let alias = if transport.is_secure() { ";alias" } else { "" };
        format!(
            "SIP/2.0/{} {};rport{alias};branch=z9hG4bK{}",
            transport.via_token(),
            self.cfg.sent_by(transport),
            branch
        )
    }

    /// A fresh Call-ID.
    pub(super) fn new_call_id(&mut self) -> String {
        format!("{}@{}", self.token(20), self.cfg.udp_addr.ip())
    }

    /// An out-of-dialog request with the mandatory headers of §8.1.1.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new_request(
        &mut self,
        method: Method,
        uri: Uri,
        from: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
        transport: Transport,
    ) -> Request {
        let via = self.via(transport);
        let headers: Vec<Header> = vec![
            Header::Via(via.into()),
            Header::MaxForwards("70".into()),
            Header::From(from.to_string().into()),
            Header::To(to.to_string().into()),
            Header::CallId(call_id.to_string().into()),
            Header::CSeq(format!("{cseq} {method}").into()),
            Header::Contact(self.cfg.contact_for(transport, &uri).into()),
            Header::UserAgent(self.cfg.user_agent.clone().into()),
            Header::Allow(ALLOW.into()),
        ];
        Request {
            method,
            uri,
            version: Version::V2,
            headers: headers.into(),
            body: Vec::new(),
        }
    }

    /// A response to `req` carrying our tag (when given), Contact (for 2xx/1xx
    /// to INVITE) and body.
    pub(super) fn response(
        &self,
        req: &Request,
        code: u16,
        to_tag: Option<&str>,
        transport: Transport,
        sdp: Option<&[u8]>,
    ) -> Response {
        let mut resp = message::response_to(req, StatusCode::from(code), None, to_tag);
        if req.method == Method::Invite && (101..300).contains(&code) {
            // §12.1.1: responses that make a dialog carry the Record-Route set
            // back, or proxies drop the in-dialog requests that follow.
            for h in req.headers.iter() {
                if let Header::RecordRoute(rr) = h {
                    resp.headers.push(Header::RecordRoute(rr.clone()));
                }
            }
            resp.headers.push(Header::Contact(
                self.cfg.contact_for(transport, &req.uri).into(),
            ));
        }
        resp.headers
            .push(Header::Server(self.cfg.user_agent.clone().into()));
        if let Some(body) = sdp {
            set_body(&mut resp.headers, &mut resp.body, "application/sdp", body);
        }
        resp
    }
}

/// Methods we accept, advertised in Allow.
pub(super) const ALLOW: &str = crate::message::ALLOWED_METHODS;

/// Option tags we support (RFC 3261 §20.37), advertised in Supported:
/// reliable provisionals (RFC 3262), session timers (RFC 4028), Replaces
/// (RFC 3891). `timer` only while session timers are enabled.
pub(super) fn supported(timers: bool) -> &'static str {
    if timers {
        "100rel, timer, replaces"
    } else {
        "100rel, replaces"
    }
}

/// Sets a message body with its Content-Type and a correct Content-Length.
pub(super) fn set_body(
    headers: &mut crate::rsip::Headers,
    body_slot: &mut Vec<u8>,
    content_type: &str,
    body: &[u8],
) {
    headers.retain(|h| !matches!(h, Header::ContentType(_) | Header::ContentLength(_)));
    if !body.is_empty() {
        headers.push(Header::ContentType(content_type.to_string().into()));
    }
    headers.push(Header::ContentLength(body.len().to_string().into()));
    *body_slot = body.to_vec();
}

/// Ensures a Content-Length header matching the body (mandatory on TCP).
pub(super) fn finish_request(req: &mut Request) {
    if !req
        .headers
        .iter()
        .any(|h| matches!(h, Header::ContentLength(_)))
    {
        let len = req.body.len();
        req.headers
            .push(Header::ContentLength(len.to_string().into()));
    }
}
