#![no_main]
//! Feeds arbitrary bytes to the strict SIP parser, the error-response builder,
//! every accessor and the stream framer. Nothing may panic; an accepted
//! message must serialise to bytes that parse again; an error response must
//! itself be a 4xx/5xx status line.

use agentphone_sip::message::{
    call_id, contacts, content_type, cseq, expires, from_addr, parse_datagram,
    parse_stream_message, record_route, to_addr, to_bytes, vias, StreamFramer,
};
use agentphone_sip::rsip::prelude::{HeadersExt, ToTypedHeader};
use agentphone_sip::rsip::SipMessage;
use libfuzzer_sys::fuzz_target;

/// rsipstack's own typed views of a message our parser accepted: the core
/// may call these, so they must not panic on anything we let through.
fn rsipstack_typed_views(msg: &SipMessage) {
    let _ = msg.top_via_header().and_then(|v| v.typed());
    let _ = msg.has_multiple_vias();
    let _ = msg.transaction_id();
    let _ = msg.from_header().and_then(|f| f.tag());
    let _ = msg.to_header().and_then(|t| t.tag());
    let _ = msg.cseq_header().and_then(|c| c.typed());
    let _ = msg.typed_contact_headers();
    let _ = msg.typed_record_route_headers();
    let _ = msg.typed_route_headers();
}

fuzz_target!(|data: &[u8]| {
    match parse_datagram(data) {
        Ok(msg) => {
            let _ = (call_id(&msg), cseq(&msg), vias(&msg), from_addr(&msg));
            let _ = (to_addr(&msg), contacts(&msg), record_route(&msg));
            let _ = (expires(&msg), content_type(&msg));
            rsipstack_typed_views(&msg);
            let again = to_bytes(&msg);
            if let Err(e) = parse_datagram(&again) {
                panic!("re-serialised message does not parse: {e}");
            }
        }
        Err(failure) => {
            if let Some(resp) = failure.error_response() {
                assert!(resp.starts_with(b"SIP/2.0 4") || resp.starts_with(b"SIP/2.0 5"));
            }
        }
    }
    // Split the input at a data-chosen point to exercise partial reads.
    let mut framer = StreamFramer::with_limit(4096);
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    framer.push(&data[..cut]);
    while let Some(Ok(_)) = framer.next_message() {}
    framer.push(&data[cut..]);
    while let Some(frame) = framer.next_message() {
        match frame {
            Ok(bytes) => {
                let _ = parse_stream_message(&bytes);
            }
            Err(_) => assert!(framer.is_broken()),
        }
    }
    let _ = (framer.take_pings(), framer.take_pongs());
});
