//! Strict RTP: a third party who guesses a call's RTP port can neither take
//! the stream over nor talk into the call ("RTP bleed").
//!
//! The test is the caller itself, on raw sockets: it sends an INVITE to
//! `agentphone answer` offering PCMU on one of its ports, then streams a
//! 440 Hz tone from that port (the real caller) while an injector on another
//! port streams a 1 kHz tone at the answerer's RTP port: two packets before
//! the real caller's first one (a port sprayed at call set-up, which a
//! latch-to-first-packet receiver would follow for the rest of the call),
//! then interleaved with the real stream for three seconds, each with a
//! perfect sequence of its own. The answerer's recording must hold the
//! 440 Hz tone and nothing of the 1 kHz one, and its media report must count
//! the injector's packets as dropped.
//!
//! `cargo test --test rtp_injection`.

mod common;

use agentphone_media::rtp_stream::RtpHeader;
use common::audio::{read, tone_level_db, RATE};
use common::raw_call::{pcmu_tone, report_field, rtp, RawCall};
use common::{agentphone, ports::free_port, WorkDir};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const PACKETS: u16 = 150;
const REAL_HZ: f64 = 440.0;
const INJECTED_HZ: f64 = 1000.0;

/// One 20 ms PCMU packet of a -10 dBFS tone, the `n`-th of its stream.
fn packet(ssrc: u32, n: u16, hz: f64) -> Vec<u8> {
    let header = RtpHeader {
        marker: n == 0,
        payload_type: 0,
        sequence: 1000u16.wrapping_add(n),
        timestamp: u32::from(n) * 160,
        ssrc,
    };
    rtp(header, &pcmu_tone(u32::from(n), hz))
}

#[test]
fn injected_rtp_is_neither_heard_nor_recorded() {
    let dir = WorkDir::new("rtp_injection");
    let listen = format!("127.0.0.1:{}", free_port());
    let recordings = dir.file("recordings");
    let mut answer = agentphone::answer_one(
        &dir,
        "answer",
        &listen,
        &[
            "--codec",
            "pcmu",
            "--record-dir",
            agentphone::arg(&recordings),
        ],
        60 * SECOND,
    );
    let real = UdpSocket::bind("127.0.0.1:0").expect("caller RTP socket");
    let injector = UdpSocket::bind("127.0.0.1:0").expect("injector socket");
    let rtp_port = real.local_addr().expect("address").port();
    let call = RawCall::invite(
        &listen,
        "injection-1",
        rtp_port,
        "0",
        "a=rtpmap:0 PCMU/8000\r\n",
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", answer.report()));
    let media = call.media;

    // The injector gets in first, then both stream in step, 20 ms apart.
    let mut injected = 0u64;
    for n in 0..2 {
        injector
            .send_to(&packet(0xbad, n, INJECTED_HZ), media)
            .expect("inject");
        injected += 1;
    }
    let start = Instant::now();
    for n in 0..PACKETS {
        real.send_to(&packet(0x600d, n, REAL_HZ), media)
            .expect("RTP");
        injector
            .send_to(&packet(0xbad, n + 2, INJECTED_HZ), media)
            .expect("inject");
        injected += 1;
        let next = start + Duration::from_millis(20 * u64::from(n + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    call.bye();
    agentphone::expect_success(&mut answer, 10 * SECOND, &[]);

    let heard = read(&agentphone::only_recording_in(&recordings));
    // The steady part of the call: past the jitter buffer's start.
    let steady = &heard[(RATE / 2).min(heard.len())..];
    assert!(
        steady.len() >= RATE * 2,
        "the recording holds {:.2} s",
        heard.len() as f64 / RATE as f64
    );
    let real_db = tone_level_db(steady, RATE, REAL_HZ);
    let injected_db = tone_level_db(steady, RATE, INJECTED_HZ);
    eprintln!(
        "recorded: {REAL_HZ} Hz at {real_db:.1} dBFS, {INJECTED_HZ} Hz at {injected_db:.1} dBFS"
    );
    assert!(
        real_db > -16.0,
        "the real caller is heard: {real_db:.1} dBFS"
    );
    assert!(
        injected_db < -60.0,
        "nothing of the injector is heard: {injected_db:.1} dBFS\n{}",
        answer.report()
    );
    // The media report counts every injected packet as dropped.
    let log = answer.output();
    let field = |key: &str| report_field(&log, key);
    let dropped = field("dropped_other_source") + field("dropped_probation");
    assert_eq!(
        dropped, injected,
        "every injected packet dropped and counted"
    );
}
