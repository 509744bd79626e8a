//! Unit tests of the transaction layer that need two layers talking, or
//! corner cases of the state machines. Shared builders live here.

mod edges;
mod loss;
mod many;
mod robust;

use std::net::SocketAddr;

use crate::rsip::{
    ContentLength, Header, Headers, Request, Response, SipMessage, StatusCode, To, Version,
};
use crate::transport::Transmit;

use super::{TransactionLayer, TxEvent};

pub(super) fn client_addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 5060))
}

pub(super) fn server_addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 2], 5060))
}

/// A request from 10.0.0.1 to bob@10.0.0.2 with the given top Via branch.
pub(super) fn request(method: &str, branch: &str) -> Request {
    let text = format!(
        "{method} sip:bob@10.0.0.2 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@10.0.0.1>;tag=f1\r\n\
         To: <sip:bob@10.0.0.2>\r\n\
         Call-ID: unit-call@10.0.0.1\r\n\
         CSeq: 3 {method}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Request::try_from(text.as_str()).expect("test request parses")
}

/// What a UAS core would answer: Via, From, Call-ID, CSeq copied, To tagged.
pub(super) fn response_to(req: &Request, status: StatusCode, to_tag: Option<&str>) -> Response {
    let mut headers = Headers::default();
    for h in req.headers.iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                headers.push(h.clone())
            }
            Header::To(to) => {
                let value = match to_tag {
                    Some(tag) => format!("{};tag={tag}", to.value()),
                    None => to.value().to_owned(),
                };
                headers.push(Header::To(To::new(value)));
            }
            _ => {}
        }
    }
    headers.push(Header::ContentLength(ContentLength::new("0")));
    Response {
        status_code: status,
        wire_reason: None,
        version: Version::V2,
        headers,
        body: Vec::new(),
    }
}

pub(super) fn parse(t: &Transmit) -> SipMessage {
    SipMessage::try_from(t.payload.as_slice()).expect("layer output parses")
}

pub(super) fn drain(layer: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| layer.poll_transmit()).collect()
}

pub(super) fn events(layer: &mut TransactionLayer) -> Vec<TxEvent> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}
