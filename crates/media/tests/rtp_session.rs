//! Two RTP/RTCP endpoints in memory on a simulated clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use agentphone_media::offer_answer::PayloadFormat;
use agentphone_media::rtcp_stats::{NtpTime, RtcpSession};
use agentphone_media::rtp_stream::{parse_rtp, RtpDrop, RtpReceiver, RtpSender};

const PTIME: Duration = Duration::from_millis(20);

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn formats() -> Vec<PayloadFormat> {
    vec![
        PayloadFormat::pcmu(),
        PayloadFormat::opus(111),
        PayloadFormat::telephone_event(101, 8000),
    ]
}

/// Packetises one 20 ms PCMU frame and returns the datagram.
fn pcmu_packet(tx: &mut RtpSender) -> Vec<u8> {
    let mut buf = [0u8; 200];
    let n = tx
        .packetize(&[0xff; 160], 160, false, &mut buf)
        .expect("fits");
    buf[..n].to_vec()
}

#[test]
fn sequence_and_timestamp_continue_across_codec_change_and_hold() {
    let mut tx = RtpSender::with_start(0xabc, 65534, u32::MAX - 100, 0, 8000);
    let mut buf = [0u8; 1500];
    let mut seen = Vec::new();
    for _ in 0..3 {
        let n = tx.packetize(&[0; 160], 160, false, &mut buf).expect("fits");
        let p = parse_rtp(&buf[..n]).expect("valid");
        seen.push((
            p.header.sequence,
            p.header.timestamp,
            p.header.marker,
            p.header.payload_type,
        ));
    }
    tx.set_codec(111, 48000);
    for _ in 0..2 {
        let n = tx.packetize(&[1; 60], 960, false, &mut buf).expect("fits");
        let p = parse_rtp(&buf[..n]).expect("valid");
        seen.push((
            p.header.sequence,
            p.header.timestamp,
            p.header.marker,
            p.header.payload_type,
        ));
    }
    // Hold: 2.5 s without sending; the clock keeps running at 48 kHz.
    tx.advance(Duration::from_millis(2500));
    let n = tx.packetize(&[1; 60], 960, false, &mut buf).expect("fits");
    let p = parse_rtp(&buf[..n]).expect("valid");
    seen.push((
        p.header.sequence,
        p.header.timestamp,
        p.header.marker,
        p.header.payload_type,
    ));

    let t0 = u32::MAX - 100;
    assert_eq!(
        seen,
        vec![
            (65534, t0, true, 0), // first packet starts a talk spurt
            (65535, t0.wrapping_add(160), false, 0),
            (0, t0.wrapping_add(320), false, 0),
            (1, t0.wrapping_add(480), false, 111),
            (2, t0.wrapping_add(480 + 960), false, 111),
            (3, t0.wrapping_add(480 + 1920 + 120_000), true, 111),
        ]
    );
}

#[test]
fn dtmf_event_keeps_its_timestamp_and_the_clock_runs_on() {
    let mut tx = RtpSender::with_start(1, 100, 1000, 0, 8000);
    let mut buf = [0u8; 200];
    pcmu_packet(&mut tx);
    let event_ts = tx.next_timestamp();
    let mut stamps = Vec::new();
    for i in 0..3u16 {
        let duration = (160 * (i + 1)).to_be_bytes();
        let payload = [5, 0x0a, duration[0], duration[1]];
        let n = tx
            .packetize_event(101, &payload, event_ts, i == 0, &mut buf)
            .expect("fits");
        let p = parse_rtp(&buf[..n]).expect("valid");
        stamps.push((p.header.sequence, p.header.timestamp, p.header.marker));
        tx.advance(PTIME);
    }
    assert_eq!(
        stamps,
        vec![(101, 1160, true), (102, 1160, false), (103, 1160, false)]
    );
    let p = pcmu_packet(&mut tx);
    let p = parse_rtp(&p).expect("valid");
    assert_eq!((p.header.sequence, p.header.timestamp), (104, 1160 + 480));
}

#[test]
fn ssrc_change_is_reported_not_dropped() {
    let now = Instant::now();
    let peer = addr("198.51.100.1:4000");
    let mut rx = RtpReceiver::new(&formats());
    rx.expect(peer);
    let mut a = RtpSender::with_start(0x1111, 10, 0, 0, 8000);
    let mut b = RtpSender::with_start(0x2222, 5000, 0, 0, 8000);
    let p1 = pcmu_packet(&mut a);
    let first = rx.receive(now, peer, &p1).expect("accepted");
    assert!(!first.ssrc_changed);
    rx.receive(now + PTIME, peer, &pcmu_packet(&mut a))
        .expect("accepted");
    let p3 = pcmu_packet(&mut b);
    let switched = rx
        .receive(now + 2 * PTIME, peer, &p3)
        .expect("new SSRC is delivered");
    assert!(switched.ssrc_changed);
    assert_eq!(switched.packet.header.ssrc, 0x2222);
    let stats = rx.stats().expect("stats");
    assert_eq!(
        (stats.ssrc(), stats.received(), stats.cumulative_lost()),
        (0x2222, 1, 0)
    );
}

#[test]
fn latching_ignores_a_third_address_and_relatch_moves_it() {
    let now = Instant::now();
    let peer = addr("198.51.100.1:4000");
    let intruder = addr("203.0.113.66:4000");
    let moved = addr("198.51.100.2:5000");
    let mut rx = RtpReceiver::new(&formats());
    rx.expect(peer);
    let mut tx = RtpSender::with_start(7, 0, 0, 0, 8000);
    rx.receive(now, peer, &pcmu_packet(&mut tx))
        .expect("latches");
    assert_eq!(rx.latched(), Some(peer));
    let err = rx
        .receive(now, intruder, &pcmu_packet(&mut tx))
        .unwrap_err();
    assert_eq!(err, RtpDrop::OtherSource { from: intruder });
    assert_eq!(rx.drops().other_source, 1);

    rx.expect(moved);
    assert_eq!(rx.latched(), None);
    // Late packets of the old leg do not win the race.
    assert!(matches!(
        rx.receive(now, peer, &pcmu_packet(&mut tx)),
        Err(RtpDrop::OtherSource { .. })
    ));
    rx.receive(now, moved, &pcmu_packet(&mut tx))
        .expect("new address latches");
    assert_eq!(rx.latched(), Some(moved));
    assert!(rx.receive(now, peer, &pcmu_packet(&mut tx)).is_err());
}

/// A peer behind NAT sends from another address than its SDP's: after the
/// probation its stream is taken (symmetric RTP still works), and an
/// injector is dropped and counted.
#[test]
fn a_source_the_sdp_did_not_name_is_taken_after_probation() {
    let now = Instant::now();
    let natted = addr("203.0.113.9:31000");
    let intruder = addr("192.0.2.66:4000");
    let mut rx = RtpReceiver::new(&formats());
    rx.expect(addr("10.0.0.5:4000"));
    let mut tx = RtpSender::with_start(7, 0, 0, 0, 8000);
    let mut taken = 0;
    for _ in 0..10 {
        if rx.receive(now, natted, &pcmu_packet(&mut tx)).is_ok() {
            taken += 1;
        }
    }
    assert_eq!(
        taken,
        10 - (agentphone_media::rtp_stream::source::PROBATION as usize - 1)
    );
    assert_eq!(rx.latched(), Some(natted));
    assert_eq!(rx.drops().probation, 3);
    let mut other = RtpSender::with_start(99, 0, 0, 0, 8000);
    for _ in 0..10 {
        assert!(matches!(
            rx.receive(now, intruder, &pcmu_packet(&mut other)),
            Err(RtpDrop::OtherSource { .. })
        ));
    }
    assert_eq!(rx.drops().other_source, 10);
}

#[test]
fn unknown_payload_types_and_garbage_are_dropped() {
    let now = Instant::now();
    let peer = addr("198.51.100.1:4000");
    let mut rx = RtpReceiver::new(&formats());
    rx.expect(peer);
    let mut tx = RtpSender::with_start(7, 0, 0, 18, 8000); // G.729: not negotiated
    assert_eq!(
        rx.receive(now, peer, &pcmu_packet(&mut tx)),
        Err(RtpDrop::UnknownPayloadType(18))
    );
    assert_eq!(rx.latched(), None, "an invalid packet must not latch");
    assert!(matches!(
        rx.receive(now, peer, b"\x80"),
        Err(RtpDrop::Malformed(_))
    ));
    assert_eq!(rx.drops().malformed, 1);
    assert_eq!(rx.drops().unknown_payload_type, 1);
}

#[test]
fn ten_of_a_hundred_lost_gives_the_rfc_fraction() {
    let t0 = Instant::now();
    let peer = addr("198.51.100.1:4000");
    let mut rx = RtpReceiver::new(&formats());
    rx.expect(peer);
    let mut tx = RtpSender::with_start(9, 65500, 0, 0, 8000); // wraps mid-test
    for i in 0..100u32 {
        let p = pcmu_packet(&mut tx);
        if i % 10 == 5 {
            continue; // lost in the network
        }
        rx.receive(t0 + PTIME * i, peer, &p).expect("accepted");
    }
    let block = rx.stats_mut().expect("stats").take_report_block();
    assert_eq!(block.cumulative_lost, 10);
    // 10 lost of 100 expected: floor(10 * 256 / 100) = 25.
    assert_eq!(block.fraction_lost, 25);
    assert_eq!(block.extended_highest_seq, 65536 + (65500 + 99 - 65536));
    assert_eq!(block.jitter, 0, "constant transit time means no jitter");
    // Next interval without loss reports 0 while the cumulative count stays.
    for i in 100..110u32 {
        rx.receive(t0 + PTIME * i, peer, &pcmu_packet(&mut tx))
            .expect("accepted");
    }
    let block = rx.stats_mut().expect("stats").take_report_block();
    assert_eq!((block.fraction_lost, block.cumulative_lost), (0, 10));
}

#[test]
fn alternating_transit_gives_the_a8_recurrence() {
    let t0 = Instant::now();
    let peer = addr("198.51.100.1:4000");
    let mut rx = RtpReceiver::new(&formats());
    rx.expect(peer);
    let mut tx = RtpSender::with_start(9, 0, 5000, 0, 8000);
    let n = 20u32;
    for i in 0..n {
        // Transit alternates +10 ms / -10 ms around a constant: |D| = 20 ms = 160 units.
        let arrival = t0 + PTIME * i + Duration::from_millis(if i % 2 == 0 { 20 } else { 0 });
        rx.receive(arrival, peer, &pcmu_packet(&mut tx))
            .expect("accepted");
    }
    // J_i = J_{i-1} + (|D| - J_{i-1}) / 16 over n - 1 differences, from J_0 = 0.
    let mut j = 0.0f64;
    for _ in 1..n {
        j += (160.0 - j) / 16.0;
    }
    let got = f64::from(rx.stats().expect("stats").jitter());
    assert!((got - j).abs() <= 1.0, "A.8 jitter {got}, recurrence {j}");
    assert!(got > 100.0, "sanity: jitter well above zero ({got})");
}

/// One endpoint: sender, receiver and RTCP session.
struct Peer {
    tx: RtpSender,
    rx: RtpReceiver,
    rtcp: RtcpSession,
}

#[test]
fn rtt_and_remote_loss_from_an_sr_rr_exchange() {
    let t0 = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let one_way = Duration::from_millis(30);
    let a_addr = addr("192.0.2.1:4000");
    let mut a = Peer {
        tx: RtpSender::with_start(0xaaaa, 0, 0, 0, 8000),
        rx: RtpReceiver::new(&formats()),
        rtcp: RtcpSession::new(t0, "a@example"),
    };
    let mut b = Peer {
        tx: RtpSender::with_start(0xbbbb, 0, 0, 0, 8000),
        rx: RtpReceiver::new(&formats()),
        rtcp: RtcpSession::new(t0, "b@example"),
    };
    b.rx.expect(a_addr);
    // A sends 100 packets to B; 10 are lost.
    for i in 0..100u32 {
        let p = pcmu_packet(&mut a.tx);
        if i % 10 != 5 {
            b.rx.receive(t0 + PTIME * i + one_way, a_addr, &p)
                .expect("accepted");
        }
    }
    // A's SR at t1, reaching B 30 ms later. B's wall clock is off by 7 s: RTT must
    // not care, because B only measures its own holding time (DLSR).
    let t1 = t0 + Duration::from_secs(2);
    let a_ntp = |t: Instant| NtpTime::from_system_time(wall + (t - t0));
    let b_ntp = |t: Instant| NtpTime::from_system_time(wall + (t - t0) + Duration::from_secs(7));
    let sr = a
        .rtcp
        .build_report(t1, a_ntp(t1), &a.tx, &mut a.rx)
        .expect("SR");
    assert_eq!(sr[1], 200, "A sent RTP, so its report is an SR");
    b.rtcp
        .handle_packet(t1 + one_way, b_ntp(t1 + one_way), b.tx.ssrc(), &sr)
        .expect("B parses the SR");
    // B answers 1 s later with an RR (it sent no RTP); A gets it 30 ms after that.
    let t2 = t1 + one_way + Duration::from_secs(1);
    let rr = b
        .rtcp
        .build_report(t2, b_ntp(t2), &b.tx, &mut b.rx)
        .expect("RR");
    assert_eq!(rr[1], 201, "B sent no RTP, so its report is an RR");
    a.rtcp
        .handle_packet(t2 + one_way, a_ntp(t2 + one_way), a.tx.ssrc(), &rr)
        .expect("A parses the RR");

    let rtt = a.rtcp.rtt().expect("RTT known");
    let err = rtt.as_secs_f64() - 0.060;
    assert!(err.abs() < 0.001, "RTT {rtt:?}, expected 60 ms");
    let q = a.rtcp.quality(&a.tx, &a.rx);
    assert_eq!(q.packets_sent, 100);
    let remote_loss = q.remote_loss_pct.expect("B reported");
    assert!(
        (remote_loss - 25.0 * 100.0 / 256.0).abs() < 1e-9,
        "{remote_loss}"
    );
    assert_eq!(a.rtcp.remote_report().map(|r| r.cumulative_lost), Some(10));
    let qb = b.rtcp.quality(&b.tx, &b.rx);
    assert_eq!((qb.packets_received, qb.packets_lost), (90, 10));
    assert!((qb.local_loss_pct - 10.0).abs() < 1e-9);
}

#[test]
fn reports_are_scheduled_around_five_seconds() {
    let t0 = Instant::now();
    let mut s = RtcpSession::new(t0, "x");
    let first = s.poll_timeout() - t0;
    assert!(first >= Duration::from_millis(1250) && first <= Duration::from_millis(3750));
    let tx = RtpSender::with_start(1, 0, 0, 0, 8000);
    let mut rx = RtpReceiver::new(&formats());
    let ntp = NtpTime::from_system_time(SystemTime::UNIX_EPOCH);
    let early = s.handle_timeout(t0, ntp, &tx, &mut rx).expect("no error");
    assert!(early.is_none(), "nothing before it is due");
    let due = s.poll_timeout();
    let report = s.handle_timeout(due, ntp, &tx, &mut rx).expect("no error");
    assert!(report.is_some());
    let next = s.poll_timeout() - due;
    assert!(next >= Duration::from_millis(2500) && next <= Duration::from_millis(7500));
}
