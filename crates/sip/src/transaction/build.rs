//! Messages the transaction layer writes itself: the ACK for a non-2xx final
//! response (§17.1.1.3), CANCEL (§9.1) and 100 Trying (§8.2.6.1, §17.2.1).

use crate::rsip::{
    headers::untyped::{ContentLength, MaxForwards},
    Header, Headers, Method, Request, Response, StatusCode, Version,
};

/// The top Via of `req` alone: the first Via header line, cut to its first
/// comma-separated value.
fn top_via_header(req: &Request) -> Option<Header> {
    req.headers.iter().find_map(|h| match h {
        Header::Via(v) => v.first_value().ok().map(Header::Via),
        _ => None,
    })
}

fn copy_headers(req: &Request, keep: impl Fn(&Header) -> bool) -> Vec<Header> {
    req.headers.iter().filter(|h| keep(h)).cloned().collect()
}

fn cseq_with_method(req: &Request, method: Method) -> Option<Header> {
    let seq = super::key::cseq(req).ok()?.seq;
    Some(crate::rsip::typed::CSeq { seq, method }.into())
}

/// A request sharing the transaction identity of `req` (Request-URI, top Via,
/// Call-ID, From, CSeq number, Route set) with another method and To header.
fn sibling_request(req: &Request, method: Method, to: Header) -> Option<Request> {
    let mut headers = Headers::default();
    headers.push(top_via_header(req)?);
    headers.push(Header::MaxForwards(MaxForwards::new("70")));
    headers.extend(copy_headers(req, |h| matches!(h, Header::From(_))));
    headers.push(to);
    headers.extend(copy_headers(req, |h| matches!(h, Header::CallId(_))));
    headers.push(cseq_with_method(req, method)?);
    headers.extend(copy_headers(req, |h| matches!(h, Header::Route(_))));
    headers.push(Header::ContentLength(ContentLength::new("0")));
    Some(Request {
        method,
        uri: req.uri.clone(),
        version: Version::V2,
        headers,
        body: Vec::new(),
    })
}

/// ACK for a non-2xx final response to `invite` (RFC 3261 §17.1.1.3): same
/// branch, Request-URI, Call-ID, From and CSeq number; To from the response,
/// so it carries the tag the UAS chose.
pub(crate) fn ack_for_non2xx(invite: &Request, resp: &Response) -> Option<Request> {
    let to = resp
        .headers
        .iter()
        .find(|h| matches!(h, Header::To(_)))?
        .clone();
    sibling_request(invite, Method::Ack, to)
}

/// CANCEL for `invite` (RFC 3261 §9.1): same identity as the INVITE,
/// including its To header without any tag the INVITE lacked.
pub(crate) fn cancel(invite: &Request) -> Option<Request> {
    let to = invite
        .headers
        .iter()
        .find(|h| matches!(h, Header::To(_)))?
        .clone();
    sibling_request(invite, Method::Cancel, to)
}

/// 100 Trying for `req` (§8.2.6.1): Via, From, To, Call-ID, CSeq and
/// Timestamp copied; no To tag is added to a 100.
pub(crate) fn trying(req: &Request) -> Response {
    let mut headers = Headers::from(copy_headers(req, |h| {
        matches!(
            h,
            Header::Via(_)
                | Header::From(_)
                | Header::To(_)
                | Header::CallId(_)
                | Header::CSeq(_)
                | Header::Timestamp(_)
        )
    }));
    headers.push(Header::ContentLength(ContentLength::new("0")));
    Response {
        status_code: StatusCode::Trying,
        wire_reason: None,
        version: Version::V2,
        headers,
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rsip::{HeadersExt, ToTypedHeader};

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP a.example.com;branch=z9hG4bKx1, SIP/2.0/UDP p.example.com;branch=z9hG4bKp\r\n\
        Max-Forwards: 69\r\nRoute: <sip:p1.example.com;lr>\r\nRoute: <sip:p2.example.com;lr>\r\n\
        From: <sip:alice@example.com>;tag=f1\r\nTo: <sip:bob@example.com>\r\n\
        Call-ID: call-1\r\nCSeq: 7 INVITE\r\nTimestamp: 54\r\nContact: <sip:alice@a.example.com>\r\n\
        Content-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0";

    fn invite() -> Request {
        Request::try_from(INVITE).expect("parses")
    }

    #[test]
    fn cancel_copies_identity_with_single_via() {
        let c = cancel(&invite()).expect("cancel");
        assert_eq!(c.method, Method::Cancel);
        assert_eq!(c.uri.to_string(), "sip:bob@example.com");
        let vias: Vec<_> = c
            .headers
            .iter()
            .filter(|h| matches!(h, Header::Via(_)))
            .collect();
        assert_eq!(vias.len(), 1);
        assert_eq!(
            c.top_via_header().expect("via").value(),
            "SIP/2.0/UDP a.example.com;branch=z9hG4bKx1"
        );
        let cseq = c.cseq_header().expect("cseq").typed().expect("typed");
        assert_eq!((cseq.seq, cseq.method), (7, Method::Cancel));
        assert_eq!(c.route_headers().len(), 2);
        assert_eq!(c.max_forwards_header().expect("mf").value(), "70");
        assert!(c.body.is_empty());
        assert!(c.contact_header().is_err());
    }

    #[test]
    fn trying_copies_timestamp_and_vias() {
        let r = trying(&invite());
        assert_eq!(r.status_code, StatusCode::Trying);
        assert_eq!(r.header_value("Timestamp").as_deref(), Some("54"));
        assert_eq!(r.call_id_header().expect("cid").value(), "call-1");
        let to = r.to_header().expect("to").typed().expect("typed");
        assert!(to.tag().is_none());
    }
}
