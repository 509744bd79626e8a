//! Dialogs (RFC 3261 §12): the peer-to-peer relationship an INVITE creates.
//!
//! A dialog remembers what in-dialog requests need: Call-ID and both tags, the
//! local and remote sequence numbers, the remote target (the peer's Contact) and
//! the route set learnt from Record-Route. It builds requests; it does not send
//! them.

use crate::message;
use crate::rsip::headers::untyped::ToTypedHeader;
use crate::rsip::{self, Header, HeadersExt, Method, Request, Response, Uri, Version};
use std::fmt;

/// Why a dialog could not be built from a message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DialogError {
    /// A header the dialog needs is missing or malformed.
    #[error("cannot build dialog: {0}")]
    BadMessage(String),
}

fn bad(what: impl fmt::Display) -> DialogError {
    DialogError::BadMessage(what.to_string())
}

/// Identifies a dialog: Call-ID plus both tags, seen from this side.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID header value.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// State of one dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// The identity of the dialog.
    pub id: DialogId,
    /// Our From/To header value (name-addr with our tag).
    local_party: String,
    /// The peer's From/To header value (name-addr with its tag).
    remote_party: String,
    local_seq: u32,
    remote_seq: Option<u32>,
    remote_target: Uri,
    /// Route header values in the order they go on requests.
    route_set: Vec<String>,
    local_contact: String,
}

/// The tag parameter of a From or To header value.
pub fn tag_of(value: &str) -> Option<String> {
    // Parameters after the name-addr's closing '>' (or after the URI when there
    // are no brackets); a ';tag=' inside <...> belongs to the URI, not the header.
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value.find(';').map(|i| &value[i..]).unwrap_or(""),
    };
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("tag")
            .then(|| v.trim().to_string())
    })
}

/// Appends `;tag=` to a From/To value that has none.
pub fn with_tag(value: &str, tag: &str) -> String {
    if tag_of(value).is_some() {
        value.to_string()
    } else {
        format!("{value};tag={tag}")
    }
}

fn contact_uri(msg: &impl HeadersExt) -> Result<Uri, DialogError> {
    let contact = msg.contact_header().map_err(|_| bad("no Contact header"))?;
    let typed = contact
        .typed()
        .map_err(|e| bad(format!("bad Contact: {e}")))?;
    Ok(typed.uri)
}

fn record_routes(msg: &impl HeadersExt) -> Vec<String> {
    // One Record-Route header may carry several comma-separated entries.
    msg.record_route_headers()
        .iter()
        .flat_map(|rr| split_name_addrs(rr.value()))
        .collect()
}

/// Splits a comma-separated list of name-addrs, respecting <> and quotes.
pub fn split_name_addrs(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(value[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = value[start..].trim();
    if !last.is_empty() {
        out.push(last.to_string());
    }
    out
}

impl Dialog {
    /// The dialog a UAC gets from a 2xx (or tagged 1xx) to its INVITE (§12.1.2).
    pub fn from_uac(
        invite: &Request,
        resp: &Response,
        local_contact: &str,
    ) -> Result<Self, DialogError> {
        let call_id = message::call_id(invite).map_err(bad)?.to_string();
        let local_party = message::header(invite, "From")
            .map(str::to_string)
            .ok_or_else(|| bad("no From"))?;
        let remote_party = message::header(resp, "To")
            .map(str::to_string)
            .ok_or_else(|| bad("no To"))?;
        let local_tag = tag_of(&local_party).ok_or_else(|| bad("From without tag"))?;
        let remote_tag = tag_of(&remote_party).ok_or_else(|| bad("To without tag"))?;
        let mut route_set = record_routes(resp);
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id,
                local_tag,
                remote_tag,
            },
            local_party,
            remote_party,
            local_seq: message::cseq(invite).map_err(bad)?.0,
            remote_seq: None,
            remote_target: contact_uri(resp)?,
            route_set,
            local_contact: local_contact.to_string(),
        })
    }

    /// The dialog a UAS creates when it answers an INVITE with `local_tag` (§12.1.1).
    pub fn from_uas(
        invite: &Request,
        local_tag: &str,
        local_contact: &str,
        first_local_seq: u32,
    ) -> Result<Self, DialogError> {
        let call_id = message::call_id(invite).map_err(bad)?.to_string();
        let remote_party = message::header(invite, "From")
            .map(str::to_string)
            .ok_or_else(|| bad("no From"))?;
        let to = message::header(invite, "To")
            .map(str::to_string)
            .ok_or_else(|| bad("no To"))?;
        let remote_tag = tag_of(&remote_party).ok_or_else(|| bad("From without tag"))?;
        Ok(Dialog {
            id: DialogId {
                call_id,
                local_tag: local_tag.to_string(),
                remote_tag,
            },
            local_party: with_tag(&to, local_tag),
            remote_party,
            local_seq: first_local_seq,
            remote_seq: Some(message::cseq(invite).map_err(bad)?.0),
            remote_target: contact_uri(invite)?,
            route_set: record_routes(invite),
            local_contact: local_contact.to_string(),
        })
    }

    /// Our side's From/To value (with our tag).
    pub fn local_party(&self) -> &str {
        &self.local_party
    }

    /// The peer's From/To value (with its tag).
    pub fn remote_party(&self) -> &str {
        &self.remote_party
    }

    /// The peer's Contact URI.
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The CSeq number of the last request we sent in this dialog.
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// Where the next in-dialog request physically goes: the first route when
    /// there is one (loose routing, RFC 3261 §12.2.1.1), else the remote target.
    pub fn next_hop(&self) -> Uri {
        self.route_set
            .first()
            .and_then(|r| rsip::parse_uri(r).ok())
            .unwrap_or_else(|| self.remote_target.clone())
    }

    /// A target refresh (re-INVITE, UPDATE, their 2xx) moves the remote target.
    pub fn refresh_target(&mut self, msg: &impl HeadersExt) {
        if let Ok(uri) = contact_uri(msg) {
            self.remote_target = uri;
        }
    }

    /// Continues the CSeq spaces of `early`, the early dialog this one
    /// confirms: PRACKs and UPDATEs sent or received in it used numbers the
    /// confirmed dialog must not reuse (RFC 3261 §12.2.1.1, RFC 3262).
    pub fn continue_from(&mut self, early: &Dialog) {
        if early.id.remote_tag != self.id.remote_tag {
            return;
        }
        self.local_seq = self.local_seq.max(early.local_seq);
        self.remote_seq = match (self.remote_seq, early.remote_seq) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// Checks and records the CSeq of an in-dialog request from the peer
    /// (§12.2.2): an out-of-order CSeq must be answered 500.
    pub fn accept_remote_cseq(&mut self, req: &Request) -> bool {
        let Ok((n, _)) = message::cseq(req) else {
            return false;
        };
        if matches!(req.method, Method::Ack | Method::Cancel) {
            return true;
        }
        match self.remote_seq {
            Some(prev) if n <= prev => false,
            _ => {
                self.remote_seq = Some(n);
                true
            }
        }
    }

    /// Builds an in-dialog request (§12.2.1.1). `via` is the full Via value with
    /// a fresh branch. ACK and CANCEL reuse a CSeq; every other method takes the
    /// next local sequence number.
    pub fn request(&mut self, method: Method, via: &str, ack_cseq: Option<u32>) -> Request {
        let seq = match (method, ack_cseq) {
            (Method::Ack, Some(n)) => n,
            _ => {
                self.local_seq = self.local_seq.wrapping_add(1);
                self.local_seq
            }
        };
        let mut headers: Vec<Header> = vec![
            Header::Via(via.into()),
            Header::MaxForwards("70".into()),
            Header::From(self.local_party.clone().into()),
            Header::To(self.remote_party.clone().into()),
            Header::CallId(self.id.call_id.clone().into()),
            Header::CSeq(format!("{seq} {method}").into()),
        ];
        headers.extend(
            self.route_set
                .iter()
                .map(|r| Header::Route(r.clone().into())),
        );
        if matches!(
            method,
            Method::Invite | Method::Refer | Method::Notify | Method::Update
        ) {
            headers.push(Header::Contact(self.local_contact.clone().into()));
        }
        Request {
            method,
            uri: self.remote_target.clone(),
            version: Version::V2,
            headers: headers.into(),
            body: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_req(s: &str) -> Request {
        match rsip::parser::parse_message(s.replace('\n', "\r\n").as_bytes()).unwrap() {
            rsip::SipMessage::Request(r) => r,
            _ => panic!("not a request"),
        }
    }

    fn parse_resp(s: &str) -> Response {
        match rsip::parser::parse_message(s.replace('\n', "\r\n").as_bytes()).unwrap() {
            rsip::SipMessage::Response(r) => r,
            _ => panic!("not a response"),
        }
    }

    const INVITE: &str = "INVITE sip:bob@127.0.0.1:5070 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc
Max-Forwards: 70
From: \"Alice\" <sip:alice@127.0.0.1>;tag=al1
To: <sip:bob@127.0.0.1:5070>
Call-ID: c1@127.0.0.1
CSeq: 10 INVITE
Contact: <sip:alice@127.0.0.1:5060>
Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>
Content-Length: 0

";

    #[test]
    fn tag_is_found_outside_the_uri_only() {
        assert_eq!(tag_of("<sip:a@b;tag=x>;tag=y").as_deref(), Some("y"));
        assert_eq!(tag_of("<sip:a@b;tag=x>"), None);
        assert_eq!(tag_of("sip:a@b;tag=z").as_deref(), Some("z"));
        assert_eq!(with_tag("<sip:a@b>", "t"), "<sip:a@b>;tag=t");
    }

    #[test]
    fn uas_dialog_keeps_route_order_and_builds_bye() {
        let inv = parse_req(INVITE);
        let mut d = Dialog::from_uas(&inv, "bo1", "<sip:bob@127.0.0.1:5070>", 100).unwrap();
        assert_eq!(d.id.remote_tag, "al1");
        assert_eq!(d.next_hop().to_string(), "sip:p1.example;lr");
        let bye = d.request(
            Method::Bye,
            "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx",
            None,
        );
        let text = String::from_utf8(bye.to_bytes()).unwrap();
        assert!(
            text.starts_with("BYE sip:alice@127.0.0.1:5060 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(text.contains("CSeq: 101 BYE"));
        assert!(text.contains("From: <sip:bob@127.0.0.1:5070>;tag=bo1"));
        assert!(text.contains("To: \"Alice\" <sip:alice@127.0.0.1>;tag=al1"));
        let r1 = text.find("Route: <sip:p1.example;lr>").unwrap();
        let r2 = text.find("Route: <sip:p2.example;lr>").unwrap();
        assert!(r1 < r2);
    }

    #[test]
    fn uac_dialog_reverses_record_route_and_checks_cseq() {
        let inv = parse_req(INVITE);
        let ok = parse_resp(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc
From: \"Alice\" <sip:alice@127.0.0.1>;tag=al1
To: <sip:bob@127.0.0.1:5070>;tag=bo9
Call-ID: c1@127.0.0.1
CSeq: 10 INVITE
Contact: <sip:bob@127.0.0.2:5070>
Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>
Content-Length: 0

",
        );
        let mut d = Dialog::from_uac(&inv, &ok, "<sip:alice@127.0.0.1:5060>").unwrap();
        assert_eq!(d.id.remote_tag, "bo9");
        assert_eq!(d.next_hop().to_string(), "sip:p2.example;lr");
        assert_eq!(d.remote_target().to_string(), "sip:bob@127.0.0.2:5070");
        let ack = d.request(Method::Ack, "SIP/2.0/UDP x;branch=z9hG4bKy", Some(10));
        assert_eq!(ack.cseq_header().unwrap().value(), "10 ACK");
        assert_eq!(d.local_seq(), 10);
        let mut bye_in = parse_req(INVITE);
        bye_in.method = Method::Bye;
        *bye_in.cseq_header_mut().unwrap() = "5 BYE".into();
        assert!(d.accept_remote_cseq(&bye_in));
        assert!(
            !d.accept_remote_cseq(&bye_in),
            "replayed CSeq must be refused"
        );
    }
}
