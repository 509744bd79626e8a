//! Hostile input: whatever the Via, CSeq or status code, the layer answers
//! with a value or an error, never a panic, and never keeps a transaction
//! for a message it refused.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::rsip::{Header, Request, StatusCode};
use crate::transaction::{RequestDisposition, TransactionLayer};
use crate::transport::Destination;

use super::{client_addr, request, response_to, server_addr};

fn with_headers(mut req: Request, via: &str, cseq: &str) -> Request {
    req.headers
        .retain(|h| !matches!(h, Header::Via(_) | Header::CSeq(_)));
    req.headers.push(Header::Via(via.into()));
    req.headers.push(Header::CSeq(cseq.into()));
    req
}

proptest! {
    #[test]
    fn arbitrary_via_cseq_and_status_never_panic(
        via in "(SIP/2\\.0/(UDP|TCP|XYZ) )?[a-z0-9.:;=,\\[\\] ]{0,30}(;branch=(z9hG4bK)?[a-z0-9]{0,8})?",
        cseq in "[0-9]{0,12} ?(INVITE|ACK|BYE|CANCEL|FOO)?",
        method in prop::sample::select(vec!["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"]),
        status in 0u16..1000,
    ) {
        let t0 = Instant::now();
        let mut layer = TransactionLayer::default();
        let src = Destination::udp(client_addr());
        let req = with_headers(request(method, "z9hG4bKx"), &via, &cseq);
        let before = layer.len();
        match layer.on_request(t0, req.clone(), src) {
            Err(_) => prop_assert_eq!(layer.len(), before),
            Ok(RequestDisposition::New(key)) => {
                let resp = response_to(&req, StatusCode::from(status), Some("t"));
                let _ = layer.respond(t0, key, resp);
            }
            Ok(_) => {}
        }
        let resp = response_to(&req, StatusCode::from(status), None);
        let _ = layer.on_response(t0, resp, Destination::udp(server_addr()));
        if let Ok(key) = layer.send_request(t0, req, Destination::udp(server_addr())) {
            prop_assert!(key.is_client());
        }
        // Everything ends: run the clock well past every timer.
        for _ in 0..64 {
            match layer.poll_timeout() {
                Some(t) => layer.handle_timeout(t),
                None => break,
            }
        }
        let end = t0 + Duration::from_secs(3600);
        layer.handle_timeout(end);
        // Only server transactions the TU never answered may remain.
        prop_assert!(layer.poll_timeout().is_none());
    }
}
