//! Corner cases of the four machines and of the layer's bookkeeping.

use std::time::{Duration, Instant};

use crate::rsip::{Header, StatusCode};
use crate::transaction::{
    RequestDisposition, ResponseDisposition, TimeoutKind, Timers, TransactionLayer, TxError,
    TxEvent, TxState,
};
use crate::transport::{ConnId, Destination, Transport};

use super::{client_addr, drain, events, parse, request, response_to, server_addr};

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

fn tcp(addr: std::net::SocketAddr) -> Destination {
    Destination {
        transport: Transport::Tcp(Some(ConnId(1))),
        addr,
    }
}

#[test]
fn shrunk_timers_scale_the_invite_schedule() {
    let t0 = Instant::now();
    let timers = Timers {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        t4: Duration::from_millis(500),
    };
    let mut layer = TransactionLayer::new(timers);
    let dest = Destination::udp(server_addr());
    let key = layer
        .send_request(t0, request("INVITE", "z9hG4bKs"), dest)
        .expect("ok");
    let mut sent = vec![0];
    drain(&mut layer);
    while let Some(t) = layer.poll_timeout() {
        layer.handle_timeout(t);
        let at = (t - t0).as_millis() as u64;
        sent.extend(drain(&mut layer).iter().map(|_| at));
        if let Some(TxEvent::Timeout { kind, .. }) = layer.poll_event() {
            assert_eq!((kind, at), (TimeoutKind::TimerB, 3200));
        }
    }
    assert_eq!(sent, [0, 50, 150, 350, 750, 1550, 3150]);
    assert_eq!(layer.state(key), None);
}

#[test]
fn late_timeout_call_fires_each_due_timer_once() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::default();
    let dest = Destination::udp(server_addr());
    let key = layer
        .send_request(t0, request("INVITE", "z9hG4bKlate"), dest)
        .expect("ok");
    drain(&mut layer);
    layer.handle_timeout(ms(t0, 40_000));
    assert_eq!(drain(&mut layer).len(), 1, "one overdue Timer A firing");
    let timeout = TxEvent::Timeout {
        key,
        kind: TimeoutKind::TimerB,
    };
    assert_eq!(events(&mut layer), [timeout, TxEvent::Terminated(key)]);
}

#[test]
fn provisional_stops_timer_b_for_invite() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::default();
    let dest = Destination::udp(server_addr());
    let invite = request("INVITE", "z9hG4bKring");
    let key = layer.send_request(t0, invite.clone(), dest).expect("ok");
    let ringing = response_to(&invite, StatusCode::Ringing, Some("t"));
    let got = layer.on_response(ms(t0, 100), ringing, dest).expect("ok");
    assert!(matches!(got, ResponseDisposition::Deliver(k, _) if k == key));
    assert_eq!(layer.poll_timeout(), None, "ringing waits for the user");
    assert!(layer.build_cancel(key).is_some());
}

#[test]
fn non_invite_client_completed_absorbs_then_k() {
    let t0 = Instant::now();
    for (dest, wait_k) in [
        (Destination::udp(server_addr()), 5000),
        (tcp(server_addr()), 0),
    ] {
        let mut layer = TransactionLayer::default();
        let opt = request("OPTIONS", "z9hG4bKk");
        let key = layer.send_request(t0, opt.clone(), dest).expect("ok");
        let ok = response_to(&opt, StatusCode::OK, Some("t"));
        let got = layer.on_response(ms(t0, 10), ok.clone(), dest).expect("ok");
        assert_eq!(got, ResponseDisposition::Deliver(key, ok.clone()));
        let again = layer.on_response(ms(t0, 20), ok, dest).expect("ok");
        assert_eq!(again, ResponseDisposition::Absorbed);
        assert_eq!(layer.poll_timeout(), Some(ms(t0, 10 + wait_k)));
        layer.handle_timeout(ms(t0, 10 + wait_k));
        assert!(layer.is_empty());
        assert_eq!(layer.build_cancel(key), None);
    }
}

#[test]
fn server_invite_over_tcp_sends_final_once_and_i_is_zero() {
    let t0 = Instant::now();
    let src = tcp(client_addr());
    let mut layer = TransactionLayer::default();
    let invite = request("INVITE", "z9hG4bKtcp");
    let Ok(RequestDisposition::New(key)) = layer.on_request(t0, invite.clone(), src) else {
        panic!("new transaction expected")
    };
    let busy = response_to(&invite, StatusCode::BusyHere, Some("t"));
    layer.respond(ms(t0, 10), key, busy).expect("486");
    assert_eq!(drain(&mut layer).len(), 1);
    assert_eq!(layer.poll_timeout(), Some(ms(t0, 10 + 32_000)), "only H");
    let mut ack = request("ACK", "z9hG4bKtcp");
    ack.headers
        .unique_push(Header::To("<sip:bob@10.0.0.2>;tag=t".into()));
    let got = layer.on_request(ms(t0, 50), ack, src).expect("ok");
    assert_eq!(got, RequestDisposition::AckForNon2xx);
    assert_eq!(layer.poll_timeout(), Some(ms(t0, 50)));
    layer.handle_timeout(ms(t0, 50));
    assert!(layer.is_empty());
}

#[test]
fn invite_retransmission_before_and_after_auto_trying() {
    let t0 = Instant::now();
    let src = Destination::udp(client_addr());
    let mut layer = TransactionLayer::default();
    let invite = request("INVITE", "z9hG4bKearly");
    layer.on_request(t0, invite.clone(), src).expect("new");
    let got = layer.on_request(ms(t0, 100), invite.clone(), src);
    assert_eq!(got, Ok(RequestDisposition::Retransmission));
    assert!(drain(&mut layer).is_empty(), "nothing sent yet to repeat");
    layer.handle_timeout(ms(t0, 200));
    let trying = drain(&mut layer);
    layer.on_request(ms(t0, 600), invite, src).expect("ok");
    assert_eq!(drain(&mut layer), trying, "the 100 is repeated");
    let crate::rsip::SipMessage::Response(r) = parse(&trying[0]) else {
        panic!("response expected")
    };
    assert_eq!(r.status_code, StatusCode::Trying);
}

#[test]
fn rfc2543_invite_retransmission_is_matched() {
    let t0 = Instant::now();
    let src = Destination::udp(client_addr());
    let mut layer = TransactionLayer::default();
    let old = request("INVITE", "oldstyle1");
    assert!(matches!(
        layer.on_request(t0, old.clone(), src),
        Ok(RequestDisposition::New(_))
    ));
    let got = layer.on_request(ms(t0, 500), old, src);
    assert_eq!(got, Ok(RequestDisposition::Retransmission));
    assert_eq!(layer.len(), 1);
}

#[test]
fn cancel_retransmission_resends_its_response_and_stray_ack_goes_up() {
    let t0 = Instant::now();
    let src = Destination::udp(client_addr());
    let mut layer = TransactionLayer::default();
    let cancel = request("CANCEL", "z9hG4bKcx");
    let Ok(RequestDisposition::CancelFor { cancel_tx, .. }) =
        layer.on_request(t0, cancel.clone(), src)
    else {
        panic!("CancelFor expected")
    };
    let ok = response_to(&cancel, StatusCode::CallTransactionDoesNotExist, Some("t"));
    layer.respond(t0, cancel_tx, ok.clone()).expect("481");
    drain(&mut layer);
    let got = layer.on_request(ms(t0, 500), cancel, src);
    assert_eq!(got, Ok(RequestDisposition::Retransmission));
    assert_eq!(drain(&mut layer)[0].payload, ok.to_bytes());
    let ack = request("ACK", "z9hG4bKnomatch");
    let got = layer.on_request(ms(t0, 600), ack.clone(), src);
    assert_eq!(got, Ok(RequestDisposition::Ack2xxOrStray(ack)));
    assert_eq!(layer.len(), 1, "an ACK never creates a transaction");
}

#[test]
fn refused_calls_leave_state_untouched() {
    let t0 = Instant::now();
    let dest = Destination::udp(server_addr());
    let mut layer = TransactionLayer::default();
    let opt = request("OPTIONS", "z9hG4bKdup");
    let client = layer.send_request(t0, opt.clone(), dest).expect("ok");
    let dup = layer.send_request(t0, opt.clone(), dest);
    assert!(matches!(dup, Err(TxError::DuplicateBranch { .. })));
    let resp = response_to(&opt, StatusCode::OK, None);
    assert_eq!(
        layer.respond(t0, client, resp.clone()),
        Err(TxError::NotAServerTransaction(client))
    );

    let bye = request("BYE", "z9hG4bKsrv");
    let Ok(RequestDisposition::New(server)) =
        layer.on_request(t0, bye.clone(), Destination::udp(client_addr()))
    else {
        panic!("new transaction expected")
    };
    let wrong = layer.respond(t0, server, resp);
    assert!(matches!(wrong, Err(TxError::CSeqMismatch { .. })));
    assert_eq!(layer.state(server), Some(TxState::Trying));
    let ok = response_to(&bye, StatusCode::OK, Some("t"));
    layer.respond(t0, server, ok.clone()).expect("200");
    layer.on_transport_error(Destination::udp(client_addr()));
    assert_eq!(
        layer.respond(t0, server, ok),
        Err(TxError::UnknownTransaction(server))
    );
    assert_eq!(layer.len(), 1, "the client transaction is untouched");
}

#[test]
fn poll_timeout_is_the_earliest_over_all_transactions() {
    let t0 = Instant::now();
    let dest = Destination::udp(server_addr());
    let mut layer = TransactionLayer::default();
    layer
        .send_request(t0, request("OPTIONS", "z9hG4bKp1"), dest)
        .expect("ok");
    layer
        .send_request(ms(t0, 100), request("INFO", "z9hG4bKp2"), dest)
        .expect("ok");
    assert_eq!(layer.poll_timeout(), Some(ms(t0, 500)));
    layer.handle_timeout(ms(t0, 500));
    assert_eq!(layer.poll_timeout(), Some(ms(t0, 600)));
}
