//! `agentphone call` and `answer` failing as a tester sees them: at once, with
//! the reason, not after Timer B's 32 s of silence; dead calls hung up.

mod common;

use common::sipp::{Scenario, SippCmd};
use common::{agentphone, ports::free_port, require_peer, WorkDir};
use std::time::Duration;

/// Nothing listens on the TCP port: the connection is refused, the INVITE's
/// transaction fails with a transport error (RFC 3261 §8.1.3.1) and the call
/// command exits non-zero within a few seconds saying so.
#[test]
fn call_to_a_closed_tcp_port_fails_at_once_with_a_transport_error() {
    let dir = WorkDir::new("call-refused-tcp");
    let target = format!("sip:bob@127.0.0.1:{}", free_port());
    let limit = Duration::from_secs(40);
    let mut caller = agentphone::spawn(
        &dir,
        "caller",
        &["call", &target, "--transport", "tcp"],
        &[],
        limit,
    );
    let status = caller.wait(limit);
    let elapsed = caller.elapsed();
    assert!(
        status.is_some_and(|s| !s.success()),
        "the call must fail:\n{}",
        caller.report()
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "failed after {elapsed:?}, not at once:\n{}",
        caller.report()
    );
    let out = caller.output();
    assert!(
        out.contains("call failed: transport error") && out.contains("Connection refused"),
        "{out}"
    );
}

/// SIPp's UAS answers and then sends no RTP, like a far end that died: with
/// `[media] rtp_timeout_s = 2` the call is hung up (SIPp gets the BYE and
/// counts the call a success) after about 2 s instead of at `--duration 20`,
/// and `call` exits non-zero saying why.
#[test]
fn a_call_without_rtp_is_hung_up_after_the_configured_timeout() {
    let Some(sipp) = require_peer("sipp") else {
        return;
    };
    let dir = WorkDir::new("call-rtp-timeout");
    let port = free_port();
    let mut uas = SippCmd::uas("sipp_uas", Scenario::Builtin("uas"), port)
        .args(&["-m", "1"])
        .limit(Duration::from_secs(30))
        .start(&sipp, &dir);
    let config = dir.file("agent.toml");
    std::fs::write(&config, "[media]\nrtp_timeout_s = 2\n").unwrap();
    let limit = Duration::from_secs(30);
    let mut caller = agentphone::spawn(
        &dir,
        "caller",
        &[
            "--config",
            agentphone::arg(&config),
            "call",
            &format!("sip:service@127.0.0.1:{port}"),
            "--duration",
            "20",
        ],
        &[],
        limit,
    );
    let status = caller.wait(limit);
    let elapsed = caller.elapsed();
    let sipp_result = uas.finish(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| !s.success()),
        "a call that lost its media must not count as clean:\n{}",
        caller.report()
    );
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(8)).contains(&elapsed),
        "hung up after {elapsed:?}, expected about 2 s after the answer:\n{}",
        caller.report()
    );
    assert!(
        caller.output().contains("no RTP from the peer for 2 s"),
        "{}",
        caller.report()
    );
    sipp_result.assert_all_succeeded(1, &caller.report());
}

/// The same on the answering side: SIPp's UAC sends no RTP and holds the call
/// for 10 s; `answer` with `rtp_timeout_s = 2` hangs up after about 2 s.
#[test]
fn answer_hangs_up_a_call_without_rtp_after_the_configured_timeout() {
    let Some(sipp) = require_peer("sipp") else {
        return;
    };
    let dir = WorkDir::new("answer-rtp-timeout");
    let config = dir.file("agent.toml");
    std::fs::write(&config, "[media]\nrtp_timeout_s = 2\n").unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let limit = Duration::from_secs(30);
    let mut callee = agentphone::answer_one(
        &dir,
        "callee",
        &listen,
        &["--config", agentphone::arg(&config)],
        limit,
    );
    let mut uac = SippCmd::uac("sipp_uac", Scenario::Builtin("uac"), &listen, free_port())
        .args(&["-m", "1", "-d", "10000"])
        .limit(Duration::from_secs(20))
        .start(&sipp, &dir);
    let status = callee.wait(limit);
    let elapsed = callee.elapsed();
    let _ = uac.finish(Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "{}", callee.report());
    let out = callee.output();
    assert!(
        out.contains("call 1: no RTP from the peer for 2 s: hanging up")
            && out.contains("call 1 ended: hung up after 2."),
        "{}",
        callee.report()
    );
    assert!(
        elapsed < Duration::from_secs(8),
        "the 10 s call lasted {elapsed:?}:\n{}",
        callee.report()
    );
}

/// `answer` with neither an address nor an account to register has nowhere
/// to listen: it says what it needs instead of guessing.
#[test]
fn answer_without_listen_or_account_says_what_it_needs() {
    let dir = WorkDir::new("answer-no-listen");
    let limit = Duration::from_secs(10);
    let mut phone = agentphone::spawn(&dir, "answer", &["answer"], &[], limit);
    assert!(phone.wait(limit).is_some_and(|s| !s.success()));
    assert!(
        phone
            .output()
            .contains("answer needs --listen ADDR, or an account"),
        "{}",
        phone.report()
    );
}

#[test]
fn logs_into_a_pipe_carry_no_colour_codes() {
    let target = format!("sip:bob@127.0.0.1:{}", free_port());
    // Not through the harness: it sets NO_COLOR, and the point is what
    // happens without it when stderr is a pipe.
    let out = std::process::Command::new("timeout")
        .arg("20")
        .arg(agentphone::binary())
        .args(["call", &target, "--transport", "tcp"])
        .env_remove("NO_COLOR")
        .output()
        .expect("run agentphone");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN") || stderr.contains("transport error"),
        "expected a log line: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escape codes in a piped log: {stderr:?}"
    );
}
