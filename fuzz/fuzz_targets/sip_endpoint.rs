#![no_main]
//! Feeds arbitrary datagrams to an endpoint at arbitrary fake times, with a call
//! and a registration in progress, and drains every output. Re-INVITEs are
//! accepted, rejected or left to the automatic answer as the input decides,
//! and UPDATE offers likewise; every established call sends a re-INVITE or an
//! UPDATE (with or without SDP) and may be transferred (REFER); incoming calls
//! (with or without Replaces) are rung (reliably when the INVITE requires
//! 100rel), given early media, answered or left ringing; REFERs from the input
//! are accepted (then notified: 180, then 200), rejected or left to time out,
//! so the REFER, NOTIFY, Replaces, PRACK, early UPDATE and session-timer paths
//! run both ways. A zero-length chunk stands for a
//! transport error toward the peer (with a reason, or the registration's flow
//! closing, as the delay decides); RFC 5626 keep-alives run every 10 s.
//! Nothing may panic and the endpoint must keep answering.

use agentphone_sip::rsip::parse_uri;
use agentphone_sip::transport::Destination;
use agentphone_sip::{CallRequest, Endpoint, EndpointConfig, Event, RegisterRequest};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let me = "127.0.0.1:5060".parse().unwrap();
    let peer = Destination::udp("127.0.0.1:5070".parse().unwrap());
    let mut cfg = EndpointConfig::new(me);
    cfg.keepalive = Some(agentphone_sip::keepalive::KeepAlive {
        interval: Duration::from_secs(10),
        udp: agentphone_sip::keepalive::UdpPing::Options,
    });
    let mut ep = Endpoint::new(cfg, 7);
    let mut now = Instant::now();
    let _ = ep.call(
        now,
        CallRequest {
            target: parse_uri("sip:bob@127.0.0.1:5070").unwrap(),
            from: "<sip:alice@127.0.0.1>".into(),
            via_proxy: None,
            credentials: None,
            sdp_offer: b"v=0\r\n".to_vec(),
            tcp: false,
            extra_headers: Vec::new(),
            alternates: Vec::new(),
        },
    );
    ep.register(
        now,
        RegisterRequest {
            registrar: peer,
            domain: "127.0.0.1".into(),
            user: "alice".into(),
            credentials: None,
            expires: 60,
            alternates: Vec::new(),
        },
    );
    // Input: chunks of [delay_ms: u16][len: u16][bytes...].
    let mut rest = data;
    let mut steps = 0;
    while rest.len() >= 4 && steps < 64 {
        steps += 1;
        let delay = u16::from_le_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]])).min(rest.len() - 4);
        let msg = &rest[4..4 + len];
        rest = &rest[4 + len..];
        now += Duration::from_millis(u64::from(delay));
        ep.handle_timeout(now);
        if msg.is_empty() {
            match delay % 3 {
                0 => ep.handle_transport_error(now, peer),
                1 => ep.handle_transport_failure(now, peer, "connection refused"),
                _ => ep.handle_flow_closed(now, peer),
            }
        } else {
            ep.handle_input(now, peer, msg);
        }
        while ep.poll_transmit().is_some() {}
        while let Some(ev) = ep.poll_event() {
            match ev {
                // Refusals (wrong state, no such call) are fine here: only
                // panics and hangs count.
                Event::ReInvite { call, .. } => {
                    let _ = match delay % 3 {
                        0 => ep.accept_reinvite(now, call, b"v=0\r\n".to_vec()),
                        1 => ep.reject_reinvite(now, call, 488),
                        _ => Ok(()),
                    };
                }
                Event::Update { call, .. } => {
                    let _ = match delay % 3 {
                        0 => ep.accept_update(now, call, b"v=0\r\n".to_vec()),
                        1 => ep.reject_update(now, call, 488),
                        _ => Ok(()),
                    };
                }
                Event::Established { call, .. } => {
                    let _ = match delay % 3 {
                        0 => ep.reinvite(now, call, b"v=0\r\na=sendonly\r\n".to_vec()),
                        1 => ep.update(now, call, Some(b"v=0\r\na=sendonly\r\n".to_vec())),
                        _ => ep.update(now, call, None),
                    };
                    if delay % 2 == 0 {
                        let carol = parse_uri("sip:carol@127.0.0.1:5070").unwrap();
                        let _ = ep.transfer(now, call, carol, None);
                    }
                }
                Event::IncomingCall { call, .. } => {
                    let _ = match delay % 4 {
                        0 => ep.ring(now, call),
                        1 => ep.early_media(now, call, b"v=0\r\n".to_vec()),
                        2 => ep.answer(now, call, b"v=0\r\n".to_vec()),
                        _ => Ok(()),
                    };
                }
                Event::Progress { call, .. } => {
                    let _ = ep.update(now, call, None);
                }
                Event::TransferRequested { call, transfer, .. } => {
                    let _ = match delay % 3 {
                        0 => ep.accept_transfer(now, call, transfer).and_then(|()| {
                            ep.notify_transfer(now, call, transfer, 180, "Ringing")?;
                            ep.notify_transfer(now, call, transfer, 200, "OK")
                        }),
                        1 => ep.reject_transfer(now, call, transfer, 603),
                        _ => Ok(()),
                    };
                }
                _ => {}
            }
        }
        while ep.poll_transmit().is_some() {}
        let _ = ep.poll_timeout();
    }
});
