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

use agentphone_media::codec::g711::linear_to_ulaw;
use agentphone_media::rtp_stream::{write_rtp, RtpHeader};
use common::audio::{read, tone_level_db, RATE};
use common::{agentphone, ports::free_port, WorkDir};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const PACKETS: u16 = 150;
const REAL_HZ: f64 = 440.0;
const INJECTED_HZ: f64 = 1000.0;

/// One 20 ms PCMU packet of a -10 dBFS tone, the `n`-th of its stream.
fn packet(ssrc: u32, n: u16, hz: f64) -> Vec<u8> {
    let amplitude = 32_767.0 * 10f64.powf(-10.0 / 20.0);
    let payload: Vec<u8> = (0..160)
        .map(|i| {
            let t = f64::from(u32::from(n) * 160 + i) / 8000.0;
            linear_to_ulaw((amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16)
        })
        .collect();
    let header = RtpHeader {
        marker: n == 0,
        payload_type: 0,
        sequence: 1000u16.wrapping_add(n),
        timestamp: u32::from(n) * 160,
        ssrc,
    };
    let mut out = vec![0u8; 12 + payload.len()];
    let len = write_rtp(&mut out, &header, &payload).expect("RTP packet");
    out.truncate(len);
    out
}

/// Reads SIP responses until a final one; returns it.
fn final_response(sip: &UdpSocket) -> String {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + 10 * SECOND;
    while Instant::now() < deadline {
        let Ok((n, _)) = sip.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 ") && !text.starts_with("SIP/2.0 1") {
            return text;
        }
    }
    panic!("no final response within 10 s");
}

fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in:\n{msg}"))
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
    let sip = UdpSocket::bind("127.0.0.1:0").expect("SIP socket");
    sip.set_read_timeout(Some(SECOND / 10)).expect("timeout");
    let real = UdpSocket::bind("127.0.0.1:0").expect("caller RTP socket");
    let injector = UdpSocket::bind("127.0.0.1:0").expect("injector socket");
    let me = sip.local_addr().expect("address");
    let rtp_port = real.local_addr().expect("address").port();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    let dialog = |method: &str, cseq: u32, branch: &str, to_tag: &str| {
        format!(
            "{method} sip:bob@{listen} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@{me}>;tag=inj1\r\nTo: <sip:bob@{listen}>{to_tag}\r\n\
             Call-ID: injection-1@{me}\r\nCSeq: {cseq} {method}\r\nContact: <sip:alice@{me}>\r\n"
        )
    };
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        dialog("INVITE", 1, "inv1", ""),
        sdp.len()
    );
    sip.send_to(invite.as_bytes(), &listen).expect("INVITE");
    let ok = final_response(&sip);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}\n{}", answer.report());
    let to = header(&ok, "To");
    let to_tag = to.find(";tag=").map(|i| &to[i..]).expect("To tag");
    let media_port: u16 = ok
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .expect("the answer's m=audio port");
    let media: SocketAddr = format!("127.0.0.1:{media_port}").parse().expect("address");
    let ack = format!(
        "{}Content-Length: 0\r\n\r\n",
        dialog("ACK", 1, "ack1", to_tag)
    );
    sip.send_to(ack.as_bytes(), &listen).expect("ACK");

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
    let bye = format!(
        "{}Content-Length: 0\r\n\r\n",
        dialog("BYE", 2, "bye1", to_tag)
    );
    sip.send_to(bye.as_bytes(), &listen).expect("BYE");
    let ok = final_response(&sip);
    assert!(ok.starts_with("SIP/2.0 200"), "BYE answered: {ok}");
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
    let field = |key: &str| -> u64 {
        log.lines()
            .find(|l| l.contains("media stopped"))
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{key}=")[..]))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in the media report:\n{log}"))
    };
    let dropped = field("dropped_other_source") + field("dropped_probation");
    assert_eq!(
        dropped, injected,
        "every injected packet dropped and counted"
    );
}
