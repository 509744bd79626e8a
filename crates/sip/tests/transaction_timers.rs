//! RFC 3261 §17 / RFC 6026 transaction behaviour on a fake clock: exact
//! retransmission schedules, timeouts, ACK generation, CANCEL matching.
//! (Lossy client/server exchanges are unit tests in `src/transaction/tests/`.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use agentphone_sip::rsip::{
    ContentLength, Header, Headers, HeadersExt, Method, Request, Response, SipMessage, StatusCode,
    To, ToTypedHeader, Version,
};
use agentphone_sip::transaction::{
    RequestDisposition, ResponseDisposition, TimeoutKind, TransactionLayer, TxError, TxEvent,
    TxKey, TxState,
};
use agentphone_sip::transport::{ConnId, Destination, Transmit, Transport};

fn client_addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 5060))
}

fn server_addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 2], 5060))
}

fn request(method: &str, branch: &str) -> Request {
    let text = format!(
        "{method} sip:bob@10.0.0.2 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:proxy1.example.com;lr>\r\n\
         Route: <sip:proxy2.example.com;lr>\r\n\
         From: \"Alice\" <sip:alice@10.0.0.1>;tag=fromtag1\r\n\
         To: <sip:bob@10.0.0.2>\r\n\
         Call-ID: call-42@10.0.0.1\r\n\
         CSeq: 7 {method}\r\n\
         Contact: <sip:alice@10.0.0.1:5060>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Request::try_from(text.as_str()).expect("test request parses")
}

/// What a UAS core would answer: Via, From, Call-ID, CSeq copied, To tagged.
fn response_to(req: &Request, status: StatusCode, to_tag: Option<&str>) -> Response {
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

fn parse(t: &Transmit) -> SipMessage {
    SipMessage::try_from(t.payload.as_slice()).expect("layer output parses")
}

fn drain(layer: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| layer.poll_transmit()).collect()
}

fn events(layer: &mut TransactionLayer) -> Vec<TxEvent> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

/// Drive one layer alone up to `end`: (ms, transmit) and (ms, event) logs.
struct Run {
    sent: Vec<(u64, Transmit)>,
    events: Vec<(u64, TxEvent)>,
}

fn run_until(layer: &mut TransactionLayer, t0: Instant, end_ms: u64) -> Run {
    let mut run = Run {
        sent: Vec::new(),
        events: Vec::new(),
    };
    let at = |t: Instant| (t - t0).as_millis() as u64;
    run.sent.extend(drain(layer).into_iter().map(|x| (0, x)));
    while let Some(t) = layer.poll_timeout() {
        if at(t) > end_ms {
            break;
        }
        layer.handle_timeout(t);
        run.sent
            .extend(drain(layer).into_iter().map(|x| (at(t), x)));
        run.events
            .extend(events(layer).into_iter().map(|e| (at(t), e)));
    }
    run
}

fn times(run: &Run) -> Vec<u64> {
    run.sent.iter().map(|(t, _)| *t).collect()
}

#[test]
fn invite_to_silent_udp_peer_follows_timer_a_then_b() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::default();
    let key = layer
        .send_request(
            t0,
            request("INVITE", "z9hG4bKa1"),
            Destination::udp(server_addr()),
        )
        .expect("starts");
    let run = run_until(&mut layer, t0, 40_000);
    assert_eq!(times(&run), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert!(run
        .sent
        .iter()
        .all(|(_, t)| t.dest == Destination::udp(server_addr())));
    let timeout = TxEvent::Timeout {
        key,
        kind: TimeoutKind::TimerB,
    };
    assert_eq!(
        run.events,
        [(32_000, timeout), (32_000, TxEvent::Terminated(key))]
    );
    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None);
}

#[test]
fn invite_over_tcp_is_sent_once_and_times_out_at_32s() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::default();
    let dest = Destination {
        transport: Transport::Tcp(Some(ConnId(3))),
        addr: server_addr(),
    };
    let key = layer
        .send_request(t0, request("INVITE", "z9hG4bKt1"), dest)
        .expect("starts");
    let run = run_until(&mut layer, t0, 40_000);
    assert_eq!(times(&run), [0]);
    assert_eq!(run.sent[0].1.dest, dest);
    assert_eq!(
        run.events[0],
        (
            32_000,
            TxEvent::Timeout {
                key,
                kind: TimeoutKind::TimerB
            }
        )
    );
}

#[test]
fn non_invite_to_silent_peer_doubles_to_t2_then_timer_f() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::default();
    let key = layer
        .send_request(
            t0,
            request("OPTIONS", "z9hG4bKo1"),
            Destination::udp(server_addr()),
        )
        .expect("starts");
    let run = run_until(&mut layer, t0, 40_000);
    let mut expected = vec![0, 500, 1500, 3500, 7500];
    expected.extend((1..=6).map(|i| 7500 + i * 4000));
    assert_eq!(times(&run), expected);
    assert_eq!(
        run.events[0],
        (
            32_000,
            TxEvent::Timeout {
                key,
                kind: TimeoutKind::TimerF
            }
        )
    );
    assert!(layer.is_empty());
}

#[test]
fn non_invite_after_provisional_retransmits_every_t2() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::default();
    let req = request("REGISTER", "z9hG4bKr1");
    let key = layer
        .send_request(t0, req.clone(), Destination::udp(server_addr()))
        .expect("starts");
    drain(&mut layer);
    let t100 = t0 + Duration::from_millis(100);
    let trying = response_to(&req, StatusCode::Trying, None);
    let got = layer
        .on_response(t100, trying.clone(), Destination::udp(server_addr()))
        .expect("matches");
    assert_eq!(got, ResponseDisposition::Deliver(key, trying));
    assert_eq!(layer.state(key), Some(TxState::Proceeding));
    let run = run_until(&mut layer, t0, 31_999);
    let expected: Vec<u64> = (0..8).map(|i| 500 + i * 4000).collect();
    assert_eq!(times(&run), expected);
}

#[test]
fn busy_here_is_acked_by_the_transaction_and_absorbed_on_retransmission() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let server = Destination::udp(server_addr());
    let mut layer = TransactionLayer::default();
    let invite = request("INVITE", "z9hG4bKb1");
    let key = layer
        .send_request(t0, invite.clone(), server)
        .expect("starts");
    drain(&mut layer);

    let ringing = response_to(&invite, StatusCode::Ringing, Some("totag9"));
    let got = layer.on_response(ms(100), ringing, server).expect("ok");
    assert!(matches!(got, ResponseDisposition::Deliver(k, _) if k == key));
    let busy = response_to(&invite, StatusCode::BusyHere, Some("totag9"));
    let got = layer
        .on_response(ms(2000), busy.clone(), server)
        .expect("ok");
    assert_eq!(got, ResponseDisposition::Deliver(key, busy.clone()));

    let sent = drain(&mut layer);
    assert_eq!(sent.len(), 1, "exactly one ACK");
    assert_eq!(sent[0].dest, server);
    let SipMessage::Request(ack) = parse(&sent[0]) else {
        panic!("ACK expected")
    };
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, invite.uri);
    let via = ack.top_via_header().expect("via").typed().expect("typed");
    assert_eq!(via.branch().map(|b| b.value()), Some("z9hG4bKb1"));
    assert_eq!(
        ack.call_id_header().expect("cid").value(),
        "call-42@10.0.0.1"
    );
    assert_eq!(
        ack.from_header().expect("from").value(),
        invite.from_header().expect("from").value()
    );
    let to = ack.to_header().expect("to").typed().expect("typed");
    assert_eq!(to.tag().map(|t| t.value()), Some("totag9"));
    let cseq = ack.cseq_header().expect("cseq").typed().expect("typed");
    assert_eq!((cseq.seq, cseq.method), (7, Method::Ack));
    let routes: Vec<_> = ack
        .route_headers()
        .iter()
        .map(|r| r.value().to_owned())
        .collect();
    assert_eq!(
        routes,
        ["<sip:proxy1.example.com;lr>", "<sip:proxy2.example.com;lr>"]
    );
    assert_eq!(ack.max_forwards_header().expect("mf").value(), "70");

    let got = layer
        .on_response(ms(3000), busy.clone(), server)
        .expect("ok");
    assert_eq!(got, ResponseDisposition::Absorbed);
    let again = drain(&mut layer);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].payload, sent[0].payload, "same ACK re-sent");

    assert_eq!(layer.poll_timeout(), Some(ms(2000 + 32_000)));
    layer.handle_timeout(ms(34_000));
    assert_eq!(events(&mut layer), [TxEvent::Terminated(key)]);
    let late = layer
        .on_response(ms(35_000), busy.clone(), server)
        .expect("ok");
    assert_eq!(late, ResponseDisposition::Stray(busy));
}

#[test]
fn ok_to_invite_goes_to_tu_every_time_until_timer_m() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let server = Destination::udp(server_addr());
    let mut layer = TransactionLayer::default();
    let invite = request("INVITE", "z9hG4bKok");
    let key = layer
        .send_request(t0, invite.clone(), server)
        .expect("starts");
    drain(&mut layer);
    let ok = response_to(&invite, StatusCode::OK, Some("uas1"));
    for at in [1000, 1500, 2500] {
        let got = layer.on_response(ms(at), ok.clone(), server).expect("ok");
        assert_eq!(got, ResponseDisposition::Deliver(key, ok.clone()));
    }
    assert_eq!(layer.state(key), Some(TxState::Accepted));
    assert!(drain(&mut layer).is_empty(), "ACK for 2xx is the TU's job");
    assert_eq!(layer.poll_timeout(), Some(ms(1000 + 32_000)));
    layer.handle_timeout(ms(33_000));
    assert_eq!(events(&mut layer), [TxEvent::Terminated(key)]);
    let late = layer
        .on_response(ms(33_500), ok.clone(), server)
        .expect("ok");
    assert_eq!(late, ResponseDisposition::Stray(ok));
}

fn server_invite(layer: &mut TransactionLayer, t: Instant, invite: &Request) -> TxKey {
    match layer.on_request(t, invite.clone(), Destination::udp(client_addr())) {
        Ok(RequestDisposition::New(key)) => key,
        other => panic!("new transaction expected, got {other:?}"),
    }
}

#[test]
fn server_invite_trying_provisional_and_non2xx_retransmission() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let client = Destination::udp(client_addr());
    let mut layer = TransactionLayer::default();
    let invite = request("INVITE", "z9hG4bKs1");
    let key = server_invite(&mut layer, t0, &invite);

    assert_eq!(layer.poll_timeout(), Some(ms(200)));
    layer.handle_timeout(ms(200));
    let sent = drain(&mut layer);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].dest, client);
    let SipMessage::Response(trying) = parse(&sent[0]) else {
        panic!("100 expected")
    };
    assert_eq!(trying.status_code, StatusCode::Trying);
    assert_eq!(trying.cseq_header().expect("cseq").value(), "7 INVITE");

    let ringing = response_to(&invite, StatusCode::Ringing, Some("b1"));
    layer.respond(ms(300), key, ringing.clone()).expect("180");
    assert_eq!(drain(&mut layer)[0].payload, ringing.to_bytes());
    let again = layer
        .on_request(ms(500), invite.clone(), client)
        .expect("ok");
    assert_eq!(again, RequestDisposition::Retransmission);
    assert_eq!(drain(&mut layer)[0].payload, ringing.to_bytes());

    let busy = response_to(&invite, StatusCode::BusyHere, Some("b1"));
    layer.respond(ms(1000), key, busy.clone()).expect("486");
    assert_eq!(drain(&mut layer)[0].payload, busy.to_bytes());
    let run = run_until(&mut layer, t0, 9_000);
    assert_eq!(
        times(&run),
        [1500, 2500, 4500, 8500],
        "G: 500, 1000, 2000, 4000"
    );
    assert!(run.sent.iter().all(|(_, t)| t.payload == busy.to_bytes()));
    assert!(matches!(
        layer.respond(ms(9000), key, busy.clone()),
        Err(TxError::InvalidState { .. })
    ));

    let retrans = layer
        .on_request(ms(9100), invite.clone(), client)
        .expect("ok");
    assert_eq!(retrans, RequestDisposition::Retransmission);
    assert_eq!(
        drain(&mut layer).len(),
        1,
        "INVITE retransmission re-sends 486"
    );

    let mut ack = request("ACK", "z9hG4bKs1");
    ack.headers
        .unique_push(Header::To(To::new("<sip:bob@10.0.0.2>;tag=b1")));
    let got = layer
        .on_request(ms(10_000), ack.clone(), client)
        .expect("ok");
    assert_eq!(got, RequestDisposition::AckForNon2xx);
    assert_eq!(layer.state(key), Some(TxState::Confirmed));
    let got = layer.on_request(ms(10_100), ack, client).expect("ok");
    assert_eq!(got, RequestDisposition::Retransmission);
    let run = run_until(&mut layer, t0, 60_000);
    assert!(run.sent.is_empty(), "G stops once the ACK arrived");
    assert_eq!(
        run.events,
        [(15_000, TxEvent::Terminated(key))],
        "Timer I = T4"
    );
}

#[test]
fn server_invite_without_ack_times_out_with_timer_h() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::default();
    let invite = request("INVITE", "z9hG4bKh1");
    let key = server_invite(&mut layer, t0, &invite);
    let busy = response_to(&invite, StatusCode::BusyHere, Some("b1"));
    layer.respond(t0, key, busy).expect("486");
    let run = run_until(&mut layer, t0, 60_000);
    let mut expected = vec![0, 500, 1500, 3500, 7500];
    expected.extend((1..=6).map(|i| 7500 + i * 4000));
    assert_eq!(times(&run), expected);
    let timeout = TxEvent::Timeout {
        key,
        kind: TimeoutKind::TimerH,
    };
    assert_eq!(
        run.events,
        [(32_000, timeout), (32_000, TxEvent::Terminated(key))]
    );
}

#[test]
fn server_invite_2xx_moves_to_accepted_until_timer_l() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let client = Destination::udp(client_addr());
    let mut layer = TransactionLayer::default();
    let invite = request("INVITE", "z9hG4bKl1");
    let key = server_invite(&mut layer, t0, &invite);
    let ok = response_to(&invite, StatusCode::OK, Some("b2"));
    layer.respond(ms(50), key, ok.clone()).expect("200");
    assert_eq!(drain(&mut layer).len(), 1, "no 100 once the TU answered");
    assert_eq!(layer.state(key), Some(TxState::Accepted));

    let got = layer
        .on_request(ms(500), invite.clone(), client)
        .expect("ok");
    assert_eq!(got, RequestDisposition::Retransmission);
    assert!(
        drain(&mut layer).is_empty(),
        "retransmitted INVITE absorbed"
    );
    layer
        .respond(ms(550), key, ok.clone())
        .expect("TU 2xx retransmission");
    assert_eq!(drain(&mut layer)[0].payload, ok.to_bytes());

    let ack = request("ACK", "z9hG4bKnewbranch");
    let got = layer.on_request(ms(600), ack.clone(), client).expect("ok");
    assert_eq!(got, RequestDisposition::Ack2xxOrStray(ack));
    let run = run_until(&mut layer, t0, 60_000);
    assert_eq!(run.events, [(32_050, TxEvent::Terminated(key))]);
}

#[test]
fn server_non_invite_resends_response_and_ends_with_timer_j() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let client = Destination::udp(client_addr());
    let mut layer = TransactionLayer::default();
    let bye = request("BYE", "z9hG4bKj1");
    let Ok(RequestDisposition::New(key)) = layer.on_request(t0, bye.clone(), client) else {
        panic!("new BYE transaction expected")
    };
    assert_eq!(
        layer.on_request(ms(400), bye.clone(), client),
        Ok(RequestDisposition::Retransmission)
    );
    assert!(
        drain(&mut layer).is_empty(),
        "nothing to re-send before the TU answers"
    );
    let ok = response_to(&bye, StatusCode::OK, Some("b3"));
    layer.respond(ms(500), key, ok.clone()).expect("200");
    assert_eq!(drain(&mut layer)[0].payload, ok.to_bytes());
    assert_eq!(
        layer.on_request(ms(900), bye.clone(), client),
        Ok(RequestDisposition::Retransmission)
    );
    let resent = drain(&mut layer);
    assert_eq!(resent.len(), 1);
    assert_eq!(
        (resent[0].dest, &resent[0].payload),
        (client, &ok.to_bytes())
    );
    let run = run_until(&mut layer, t0, 60_000);
    assert_eq!(run.events, [(32_500, TxEvent::Terminated(key))]);

    // Over TCP, J is zero: the transaction ends at the next timeout call.
    let tcp = Destination {
        transport: Transport::Tcp(Some(ConnId(9))),
        addr: client_addr(),
    };
    let Ok(RequestDisposition::New(key)) = layer.on_request(t0, bye.clone(), tcp) else {
        panic!("new transaction expected")
    };
    layer.respond(t0, key, ok).expect("200");
    assert_eq!(drain(&mut layer)[0].dest, tcp);
    assert_eq!(layer.poll_timeout(), Some(t0));
    layer.handle_timeout(t0);
    assert!(layer.is_empty());
}

#[test]
fn cancel_built_by_client_matches_the_server_invite() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let client = Destination::udp(client_addr());
    let mut uac = TransactionLayer::default();
    let mut uas = TransactionLayer::default();
    let invite = request("INVITE", "z9hG4bKc1");
    let inv_c = uac
        .send_request(t0, invite.clone(), Destination::udp(server_addr()))
        .expect("ok");
    let inv_s = server_invite(&mut uas, t0, &invite);

    let cancel = uac.build_cancel(inv_c).expect("cancel while calling");
    let dest = uac.destination(inv_c).expect("live");
    let cancel_c = uac
        .send_request(ms(10), cancel.clone(), dest)
        .expect("CANCEL tx");
    assert_eq!(cancel_c.method(), Method::Cancel);
    match uas.on_request(ms(20), cancel, client) {
        Ok(RequestDisposition::CancelFor {
            cancel_tx,
            invite_tx,
        }) => {
            assert_eq!(invite_tx, Some(inv_s));
            assert!(cancel_tx.is_server());
            assert_eq!(cancel_tx.method(), Method::Cancel);
        }
        other => panic!("CancelFor expected, got {other:?}"),
    }
    let stray = request("CANCEL", "z9hG4bKother");
    match uas.on_request(ms(30), stray, client) {
        Ok(RequestDisposition::CancelFor { invite_tx, .. }) => assert_eq!(invite_tx, None),
        other => panic!("CancelFor expected, got {other:?}"),
    }
}

#[test]
fn messages_without_via_or_cseq_are_errors() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::default();
    let mut no_via = request("OPTIONS", "z9hG4bKe1");
    no_via.headers.retain(|h| !matches!(h, Header::Via(_)));
    let err = layer.on_request(t0, no_via.clone(), Destination::udp(client_addr()));
    assert_eq!(err, Err(TxError::MissingHeader { header: "Via" }));
    let err = layer.send_request(t0, no_via, Destination::udp(server_addr()));
    assert_eq!(err, Err(TxError::MissingHeader { header: "Via" }));
    let mut resp = response_to(&request("OPTIONS", "z9hG4bKe1"), StatusCode::OK, None);
    resp.headers.retain(|h| !matches!(h, Header::CSeq(_)));
    let err = layer.on_response(t0, resp, Destination::udp(server_addr()));
    assert_eq!(err, Err(TxError::MissingHeader { header: "CSeq" }));
    let ack = request("ACK", "z9hG4bKe2");
    let err = layer.send_request(t0, ack, Destination::udp(server_addr()));
    assert_eq!(err, Err(TxError::AckIsNotATransaction));
    assert!(layer.is_empty());
}

#[test]
fn transport_error_ends_transactions_to_that_peer() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::default();
    let dest = Destination::udp(server_addr());
    let key = layer
        .send_request(t0, request("INVITE", "z9hG4bKx9"), dest)
        .expect("ok");
    layer.on_transport_error(dest);
    assert_eq!(
        events(&mut layer),
        [TxEvent::TransportError { key }, TxEvent::Terminated(key)]
    );
    assert!(layer.is_empty());
    assert_eq!(key.to_string(), format!("client INVITE tx#{}", key.id()));
}
