//! A phone that stays up all day: one fault ends one call, never the
//! process; a registrar that goes away is retried while calls go on; a stop
//! is bounded, and a second signal ends the process at once.
//!
//! Real peers on loopback: Kamailio as the registrar (killed, or frozen with
//! SIGSTOP so it answers nothing), `agentphone call` as callers, `prlimit` to
//! take file descriptors away from a running `answer`.
//! `cargo test --test robustness`.

mod common;

use common::kamailio::{registered_answer, two_account_config, Algorithm, Kamailio, DOMAIN};
use common::process::Peer;
use common::{agentphone, ports::free_port, require_peer, WorkDir};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const LIMIT: Duration = Duration::from_secs(90);
const PW: &str = "BOB_SIP_PASSWORD";

/// A direct call to `port` for `seconds`; its exit status.
fn direct_call(dir: &WorkDir, name: &str, port: u16, seconds: &str) -> Peer {
    let target = format!("sip:bob@127.0.0.1:{port}");
    agentphone::spawn(
        dir,
        name,
        &["call", &target, "--duration", seconds],
        &[],
        LIMIT,
    )
}

fn waited_for(peer: &mut Peer, needle: &str, limit: Duration) -> bool {
    peer.wait_for_output(needle, limit)
}

#[test]
fn answer_outlives_its_registrar_and_keeps_taking_calls() {
    let Some(program) = require_peer("kamailio") else {
        return;
    };
    let dir = WorkDir::new("robust-registrar-gone");
    let mut kamailio = Kamailio::start(&program, &dir, Algorithm::Md5);
    // Over TCP a registrar that is gone refuses at once; 10 s bindings are
    // refreshed after 5 s.
    let config = two_account_config(&dir, &kamailio, PW, "tcp", 10);
    let port = free_port();
    let mut bob = registered_answer(&dir, &kamailio, &config, PW, port, LIMIT);
    kamailio.kill();
    let failed = waited_for(&mut bob, "registration failed", 20 * SECOND);
    assert!(
        failed && bob.try_status().is_none(),
        "bob should report the failed refresh and stay up:\n{}",
        bob.report()
    );
    assert!(
        bob.output().contains("trying again in"),
        "the retry is announced:\n{}",
        bob.report()
    );
    let mut caller = direct_call(&dir, "caller", port, "1");
    let status = caller.wait(20 * SECOND);
    assert!(
        status.is_some_and(|s| s.success()),
        "a call to bob still works ({status:?}):\n{}\n{}",
        caller.report(),
        bob.report()
    );
    bob.terminate();
    let exit = bob.wait(8 * SECOND);
    assert!(
        exit.is_some_and(|s| s.success()),
        "bob ends cleanly on SIGTERM ({exit:?}):\n{}",
        bob.report()
    );
}

#[test]
fn a_stop_with_a_silent_registrar_ends_within_seconds_and_a_second_signal_at_once() {
    let Some(program) = require_peer("kamailio") else {
        return;
    };
    let dir = WorkDir::new("robust-silent-registrar");
    let kamailio = Kamailio::start(&program, &dir, Algorithm::Md5);
    let config = two_account_config(&dir, &kamailio, PW, "udp", 600);
    let mut bob = registered_answer(&dir, &kamailio, &config, PW, free_port(), LIMIT);
    kamailio.freeze(true);
    let asked = Instant::now();
    bob.terminate();
    let exit = bob.wait(10 * SECOND);
    let took = asked.elapsed();
    assert!(
        exit.is_some_and(|s| s.success()) && took < 8 * SECOND,
        "with the registrar silent, SIGTERM ends answer within the 5 s stop limit \
         ({exit:?} after {took:?}):\n{}",
        bob.report()
    );

    // Once more, and a second SIGTERM does not wait for the first's limit.
    kamailio.freeze(false);
    let mut bob = registered_answer(&dir, &kamailio, &config, PW, free_port(), LIMIT);
    kamailio.freeze(true);
    bob.signal_program("TERM");
    std::thread::sleep(SECOND / 2);
    let asked = Instant::now();
    bob.signal_program("TERM");
    let exit = bob.wait(10 * SECOND);
    let took = asked.elapsed();
    kamailio.freeze(false);
    assert!(
        exit.is_some_and(|s| s.code() == Some(130)) && took < 2 * SECOND,
        "a second SIGTERM ends answer at once with 130 ({exit:?} after {took:?}):\n{}",
        bob.report()
    );
}

/// The lowest file-descriptor limit that leaves a process `room` free
/// descriptor numbers (the limit bounds the numbers, and there may be holes).
fn limit_leaving(pid: u32, room: usize) -> usize {
    let used: Vec<usize> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    (0..4096)
        .find(|&limit| limit - used.iter().filter(|&&fd| fd < limit).count() == room)
        .expect("a limit")
}

#[test]
fn a_call_without_rtp_ports_is_refused_503_and_the_next_one_works() {
    let dir = WorkDir::new("robust-rtp-bind");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut bob = agentphone::spawn(
        &dir,
        "bob",
        &[
            "answer",
            "--listen",
            &listen,
            "--max-calls",
            "3",
            "--play",
            "tone:440",
            // Each call binds its pair when it comes, so the descriptor
            // limit set below is what the second call runs into (a pool
            // bound ahead would serve it).
            "--rtp-pool",
            "0",
        ],
        &[],
        LIMIT,
    );
    assert!(
        bob.wait_for_output("listening on", 10 * SECOND),
        "answer did not start:\n{}",
        bob.report()
    );
    let pid = bob.program_pid().expect("answer's pid");
    // Room for one call's RTP and RTCP sockets (and the spare its even-port
    // search may hold for a moment), not for two calls.
    let limit = limit_leaving(pid, 3);
    let set = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .expect("run prlimit");
    assert!(set.success(), "prlimit failed");
    let mut first = direct_call(&dir, "first", port, "4");
    assert!(
        waited_for(&mut bob, ": answered", 10 * SECOND),
        "the first call is answered:\n{}",
        bob.report()
    );
    let mut second = direct_call(&dir, "second", port, "1");
    let refused = second.wait(20 * SECOND);
    assert!(
        refused.is_some_and(|s| !s.success()) && second.output().contains("503"),
        "the second call cannot bind RTP ports and gets 503 ({refused:?}):\n{}\n{}",
        second.report(),
        bob.report()
    );
    let first_status = first.wait(20 * SECOND);
    assert!(
        first_status.is_some_and(|s| s.success()),
        "the first call is not affected ({first_status:?}):\n{}",
        first.report()
    );
    let mut third = direct_call(&dir, "third", port, "1");
    let third_status = third.wait(20 * SECOND);
    assert!(
        third_status.is_some_and(|s| s.success()),
        "once ports are free again calls work ({third_status:?}):\n{}\n{}",
        third.report(),
        bob.report()
    );
    // Three calls seen (one refused): answer --max-calls 3 exits by itself.
    let exit = bob.wait(15 * SECOND);
    assert!(
        exit.is_some_and(|s| s.success()),
        "answer exits 0 after its three calls ({exit:?}):\n{}",
        bob.report()
    );
}

/// Sends one INVITE for `user` from a socket on `from_ip` to `port` and
/// returns the first final response (provisional ones skipped), or "" after
/// 3 s of nothing.
fn raw_invite(from_ip: &str, port: u16, user: &str, n: u32) -> String {
    let socket = std::net::UdpSocket::bind(format!("{from_ip}:0")).expect("bind");
    socket.set_read_timeout(Some(3 * SECOND)).expect("timeout");
    let me = socket.local_addr().expect("address");
    let invite = format!(
        "INVITE sip:{user}@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKghost{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:scanner@{me}>;tag=g{n}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: ghost-{n}@{me}\r\nCSeq: 1 INVITE\r\nContact: <sip:scanner@{me}>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    socket
        .send_to(invite.as_bytes(), ("127.0.0.1", port))
        .expect("send");
    let mut buf = [0u8; 4096];
    while let Ok((len, _)) = socket.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..len]).into_owned();
        if !text.starts_with("SIP/2.0 1") {
            return text;
        }
    }
    String::new()
}

#[test]
fn ghost_invites_straight_to_a_registered_phone_never_ring() {
    let Some(program) = require_peer("kamailio") else {
        return;
    };
    let dir = WorkDir::new("robust-ghost");
    let kamailio = Kamailio::start(&program, &dir, Algorithm::Md5);
    let config = two_account_config(&dir, &kamailio, PW, "udp", 600);
    let port = free_port();
    let mut bob = registered_answer(&dir, &kamailio, &config, PW, port, LIMIT);
    // A scanner elsewhere (127.0.0.2 is not the registrar's 127.0.0.1).
    let from_elsewhere = raw_invite("127.0.0.2", port, "bob", 1);
    // A scanner guessing users, even from the registrar's address.
    let other_user = raw_invite("127.0.0.1", port, "100", 2);
    assert!(
        from_elsewhere.starts_with("SIP/2.0 403"),
        "an INVITE not from the proxy gets 403: {from_elsewhere:?}\n{}",
        bob.report()
    );
    assert!(
        other_user.starts_with("SIP/2.0 404"),
        "an INVITE for another user gets 404: {other_user:?}\n{}",
        bob.report()
    );
    std::thread::sleep(SECOND / 2);
    let out = bob.stdout();
    assert!(
        out.contains("taking calls for bob from the registrar only") && !out.contains("call 1"),
        "nothing rang:\n{}",
        bob.report()
    );
    // A call through the registrar still rings and is answered.
    let target = format!("sip:bob@{DOMAIN}");
    let mut alice = agentphone::spawn(
        &dir,
        "alice",
        &[
            "--config",
            agentphone::arg(&config),
            "call",
            &target,
            "--account",
            "alice",
            "--duration",
            "1",
        ],
        &[(PW, kamailio.password())],
        LIMIT,
    );
    let status = alice.wait(20 * SECOND);
    assert!(
        status.is_some_and(|s| s.success()) && bob.wait_for_output(": answered", 5 * SECOND),
        "a call through the proxy is answered ({status:?}):\n{}\n{}\n{}",
        alice.report(),
        bob.report(),
        kamailio.report()
    );
}

#[test]
fn beyond_max_concurrent_a_new_call_gets_503_with_retry_after() {
    let dir = WorkDir::new("robust-max-concurrent");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut bob = agentphone::spawn(
        &dir,
        "bob",
        &[
            "answer",
            "--listen",
            &listen,
            "--max-concurrent",
            "1",
            "--play",
            "tone:440",
        ],
        &[],
        LIMIT,
    );
    assert!(
        bob.wait_for_output("listening on", 10 * SECOND),
        "answer did not start:\n{}",
        bob.report()
    );
    let mut first = direct_call(&dir, "first", port, "3");
    assert!(
        bob.wait_for_output(": answered", 10 * SECOND),
        "the first call is answered:\n{}",
        bob.report()
    );
    let second = raw_invite("127.0.0.1", port, "bob", 1);
    assert!(
        second.starts_with("SIP/2.0 503") && second.contains("Retry-After:"),
        "the second concurrent call gets 503 with Retry-After: {second:?}\n{}",
        bob.report()
    );
    let status = first.wait(15 * SECOND);
    assert!(status.is_some_and(|s| s.success()), "{}", first.report());
}
