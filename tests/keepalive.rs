//! Keep-alives on the wire (RFC 5626 §4.4.1): `agentphone register` with
//! `keepalive_s = 1` against a registrar played by this test on a UDP
//! socket or a TCP listener, which answers REGISTER and OPTIONS, answers a
//! CRLFCRLF ping with a CRLF pong, and notes when each keep-alive arrived.
//!
//! Run with `cargo test --test keepalive`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::agentphone::{self, arg};
use common::process::Peer;
use common::WorkDir;

const SECOND: Duration = Duration::from_secs(1);
/// How long `register` stays registered: room for four pings at 1 s.
const REGISTERED_FOR: &str = "4.6";

/// The registrar's 200 to a REGISTER or OPTIONS given as text.
fn ok_for(request: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for line in request.split("\r\n").skip(1) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" => out.push_str(&format!("{line};tag=registrar\r\n")),
            "contact" if request.starts_with("REGISTER") => {
                let expires = if request.contains("\r\nExpires: 0\r\n") {
                    0
                } else {
                    60
                };
                out.push_str(&format!("{line};expires={expires}\r\n"));
            }
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// A config with account alice at `registrar` over `transport`, keep-alive
/// every second over `udp_ping` (for UDP).
fn config(dir: &WorkDir, registrar: &str, transport: &str, udp_ping: &str) -> PathBuf {
    let path = dir.file("alice.toml");
    std::fs::write(
        &path,
        format!(
            "[accounts.alice]\nuser = \"alice\"\nregistrar = \"{registrar}\"\n\
             domain = \"agentphone.test\"\ntransport = \"{transport}\"\nexpires = 60\n\
             keepalive_s = 1\nkeepalive_udp = \"{udp_ping}\"\n"
        ),
    )
    .unwrap();
    path
}

fn register(dir: &WorkDir, config: &Path) -> Peer {
    agentphone::spawn(
        dir,
        "alice",
        &[
            "-v",
            "--config",
            arg(config),
            "register",
            "--account",
            "alice",
            "--duration",
            REGISTERED_FOR,
        ],
        &[],
        20 * SECOND,
    )
}

/// The gaps between keep-alives seen at `times` (after the first REGISTER's
/// answer at `registered`) are the configured second: 3 to 5 of them,
/// the first about 1 s after the registration, each 0.7-1.4 s after the last.
fn assert_every_second(kind: &str, registered: Instant, times: &[Instant], peer: &Peer) {
    let offsets: Vec<f64> = times
        .iter()
        .map(|t| t.duration_since(registered).as_secs_f64())
        .collect();
    let context = format!("{kind} keep-alives at {offsets:.2?} s\n{}", peer.report());
    assert!((3..=5).contains(&offsets.len()), "{context}");
    let mut last = 0.0;
    for &at in &offsets {
        let gap = at - last;
        assert!((0.7..=1.4).contains(&gap), "gap {gap:.2} s: {context}");
        last = at;
    }
}

#[test]
fn udp_registration_is_kept_alive_by_options_every_second() {
    udp_keepalive("options");
}

#[test]
fn udp_registration_is_kept_alive_by_crlf_datagrams_every_second() {
    udp_keepalive("crlf");
}

/// `keepalive_udp = PING` against a UDP registrar: pings every second.
fn udp_keepalive(ping: &str) {
    let dir = WorkDir::new(&format!("keepalive_udp_{ping}"));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(SECOND / 5)).unwrap();
    let at = socket.local_addr().unwrap().to_string();
    let mut alice = register(&dir, &config(&dir, &at, "udp", ping));
    let (mut registered, mut pings) = (None, Vec::new());
    let deadline = Instant::now() + 15 * SECOND;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && alice.try_status().is_none() {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with("REGISTER ") {
            registered.get_or_insert_with(Instant::now);
            socket.send_to(ok_for(&text).as_bytes(), from).unwrap();
        } else if text.starts_with("OPTIONS ") {
            pings.push(Instant::now());
            socket.send_to(ok_for(&text).as_bytes(), from).unwrap();
        } else if text == "\r\n\r\n" {
            pings.push(Instant::now());
        }
    }
    let registered = registered.expect("a REGISTER");
    assert!(
        alice.wait(5 * SECOND).is_some_and(|s| s.success()),
        "{}",
        alice.report()
    );
    assert_every_second(ping, registered, &pings, &alice);
}

#[test]
fn tcp_registration_is_kept_alive_by_crlf_pings_answered_with_pongs() {
    let dir = WorkDir::new("keepalive_tcp");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = listener.local_addr().unwrap().to_string();
    let mut alice = register(&dir, &config(&dir, &at, "tcp", "options"));
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(SECOND / 5)).unwrap();
    let (mut registered, mut pings, mut pending) = (None, Vec::new(), Vec::<u8>::new());
    let deadline = Instant::now() + 15 * SECOND;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(_) => continue,
        }
        // Pings first, then whole messages (no bodies on this flow).
        loop {
            if pending.starts_with(b"\r\n\r\n") {
                pending.drain(..4);
                pings.push(Instant::now());
                stream.write_all(b"\r\n").unwrap();
            } else if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&pending[..end + 4]).to_string();
                pending.drain(..end + 4);
                if text.starts_with("REGISTER ") {
                    registered.get_or_insert_with(Instant::now);
                }
                stream.write_all(ok_for(&text).as_bytes()).unwrap();
            } else {
                break;
            }
        }
    }
    let registered = registered.expect("a REGISTER");
    assert!(
        alice.wait(5 * SECOND).is_some_and(|s| s.success()),
        "{}",
        alice.report()
    );
    assert!(
        alice.stdout().contains("unregistered"),
        "{}",
        alice.report()
    );
    assert_every_second("CRLF", registered, &pings, &alice);
}
