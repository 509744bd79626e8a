//! A flood of INVITEs, malformed and valid, at a registered `answer` (what
//! a SIP scanner or a fuzzing campaign sends): 4,500 messages in 15 s from
//! 127.0.0.2 (not the registrar's address), in bursts. An OPTIONS sent every
//! 250 messages must be answered within 3 s every time, nothing from the
//! flood may ring, and a normal call through the registrar right after must
//! succeed.
//!
//! Needs Kamailio (a missing one fails under `CI=true`). `cargo test --test flood`.

mod common;

use common::kamailio::{registered_answer, two_account_config, Algorithm, Kamailio, DOMAIN};
use common::{agentphone, ports::free_port, require_peer, WorkDir};
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const LIMIT: Duration = Duration::from_secs(120);
const PW: &str = "FLOOD_SIP_PASSWORD";
const MESSAGES: usize = 4_500;
const SPREAD: Duration = Duration::from_secs(15);
const PROBE_EVERY: usize = 250;
const PROBE_LIMIT: Duration = Duration::from_secs(3);

/// The n-th flood message: valid INVITEs with SDP, and the malformed kinds a
/// fuzzer sends (garbage, truncated, missing headers, lying lengths, binary).
fn flood_message(n: usize, me: &str, target: &str) -> Vec<u8> {
    let valid = |user: &str| {
        let sdp = format!(
            "v=0\r\no=- {n} 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            20_000 + (n % 1000) * 2
        );
        format!(
            "INVITE sip:{user}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKfl{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:scan@{me}>;tag=f{n}\r\nTo: <sip:{user}@{target}>\r\n\
             Call-ID: flood-{n}@{me}\r\nCSeq: 1 INVITE\r\nContact: <sip:scan@{me}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
        .into_bytes()
    };
    match n % 8 {
        0 | 1 => valid("bob"),
        2 => valid(&format!("{}", 100 + n % 900)),
        3 => b"INVITE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\n\r\n".to_vec(),
        4 => {
            let mut v = valid("bob");
            v.truncate(v.len() / 3);
            v
        }
        5 => format!(
            "INVITE sip:bob@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbad{n}\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:bob@{target}>\r\nCall-ID: lie-{n}\r\n\
             CSeq: 1 INVITE\r\nContent-Length: 99999\r\n\r\nv=0\r\n"
        )
        .into_bytes(),
        6 => (0..400).map(|i| ((n * 31 + i * 17) % 256) as u8).collect(),
        _ => format!(
            "INVITE sip:bob@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKnocseq{n}\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:bob@{target}>\r\n\r\n"
        )
        .into_bytes(),
    }
}

fn options(n: usize, me: &str, target: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:bob@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKprobe{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{me}>;tag=p{n}\r\nTo: <sip:bob@{target}>\r\n\
         Call-ID: probe-{n}@{me}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn a_flood_of_invites_leaves_options_answered_and_calls_working() {
    let Some(program) = require_peer("kamailio") else {
        return;
    };
    let dir = WorkDir::new("flood");
    let kamailio = Kamailio::start(&program, &dir, Algorithm::Md5);
    let config = two_account_config(&dir, &kamailio, PW, "udp", 600);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let bob = registered_answer(&dir, &kamailio, &config, PW, port, LIMIT);

    let target = listen.clone();
    let flood = UdpSocket::bind("127.0.0.2:0").expect("flood socket");
    let probe = UdpSocket::bind("127.0.0.2:0").expect("probe socket");
    probe.set_read_timeout(Some(SECOND / 10)).expect("timeout");
    let (fme, pme) = (
        flood.local_addr().expect("address").to_string(),
        probe.local_addr().expect("address").to_string(),
    );
    let sent: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let answered: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = {
        let (answered, done, probe) = (
            answered.clone(),
            done.clone(),
            probe.try_clone().expect("clone"),
        );
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let deadline = Instant::now() + SPREAD + 10 * SECOND;
            while Instant::now() < deadline {
                if let Ok((len, _)) = probe.recv_from(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..len]);
                    let n = text
                        .lines()
                        .find_map(|l| l.strip_prefix("CSeq: "))
                        .and_then(|v| v.split_whitespace().next()?.parse().ok());
                    if let (Some(n), true) = (n, text.starts_with("SIP/2.0 200")) {
                        answered.lock().expect("lock").push((n, Instant::now()));
                    }
                } else if done.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            }
        })
    };
    // Bursts of 250 back to back, then a probe, paced to 4,500 in 15 s.
    let start = Instant::now();
    let burst_every = SPREAD / (MESSAGES / PROBE_EVERY) as u32;
    for n in 0..MESSAGES {
        let _ = flood.send_to(&flood_message(n, &fme, &target), &target);
        if (n + 1) % PROBE_EVERY == 0 {
            let k = (n + 1) / PROBE_EVERY;
            sent.lock().expect("lock").push((k, Instant::now()));
            probe
                .send_to(&options(k, &pme, &target), &target)
                .expect("probe");
            let next = start + burst_every * k as u32;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }
    std::thread::sleep(PROBE_LIMIT);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    listener.join().expect("listener");

    let sent = sent.lock().expect("lock").clone();
    let answered = answered.lock().expect("lock").clone();
    let late: Vec<String> = sent
        .iter()
        .filter_map(|(k, at)| match answered.iter().find(|(n, _)| n == k) {
            Some((_, when)) if when.duration_since(*at) <= PROBE_LIMIT => None,
            Some((_, when)) => Some(format!("#{k} after {:?}", when.duration_since(*at))),
            None => Some(format!("#{k} never")),
        })
        .collect();
    assert!(
        late.is_empty(),
        "every OPTIONS during the flood is answered within {PROBE_LIMIT:?}; late: {late:?}\n{}",
        bob.report()
    );
    assert!(
        !bob.stdout().contains("call 1"),
        "nothing from the flood rang:\n{}",
        bob.report()
    );
    // A normal call through the registrar right after.
    let to = format!("sip:bob@{DOMAIN}");
    let mut alice = agentphone::spawn(
        &dir,
        "alice",
        &[
            "--config",
            agentphone::arg(&config),
            "call",
            &to,
            "--account",
            "alice",
            "--duration",
            "1",
        ],
        &[(PW, kamailio.password())],
        LIMIT,
    );
    let status = alice.wait(30 * SECOND);
    assert!(
        status.is_some_and(|s| s.success()),
        "a call right after the flood succeeds ({status:?}):\n{}\n{}",
        alice.report(),
        bob.report()
    );
    eprintln!(
        "flood: {MESSAGES} messages in {:?}, {} probes answered",
        start.elapsed(),
        answered.len()
    );
}
