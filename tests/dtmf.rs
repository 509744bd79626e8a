//! RFC 4733 digits end to end through the `agentphone` binary: `call --dtmf`
//! sends them, the answering side reports each digit once. The same calls check
//! that RTCP flows (a round-trip time is known at the end).

mod common;

use common::{agentphone, ports::free_port, WorkDir};
use std::time::Duration;

fn call_sending_digits(codec: &str, digits: &str) -> (String, String) {
    let dir = WorkDir::new(&format!("dtmf-{codec}"));
    let listen = format!("127.0.0.1:{}", free_port());
    let limit = Duration::from_secs(30);
    let mut callee = agentphone::spawn(
        &dir,
        "callee",
        &[
            "answer",
            "--listen",
            &listen,
            "--max-calls",
            "1",
            "--codec",
            codec,
        ],
        &[],
        limit,
    );
    assert!(
        callee.wait_for_output("listening on", Duration::from_secs(10)),
        "callee did not start:\n{}",
        callee.report()
    );
    let mut caller = agentphone::spawn(
        &dir,
        "caller",
        &[
            "call",
            &format!("sip:ivr@{listen}"),
            "--codec",
            codec,
            "--duration",
            "6",
            "--dtmf",
            digits,
            "--dtmf-delay",
            "0.5",
        ],
        &[],
        limit,
    );
    agentphone::expect_success(&mut caller, limit, &[&callee]);
    agentphone::expect_success(&mut callee, Duration::from_secs(10), &[]);
    (caller.stdout(), callee.stdout())
}

fn check(codec: &str) {
    let digits = "159#*0D";
    let (caller, callee) = call_sending_digits(codec, digits);
    assert!(
        caller.contains(&format!("{} DTMF digits sent", digits.len())),
        "{codec}: the caller did not send every digit:\n{caller}"
    );
    // Every digit exactly once, in order: the end packets are sent three times
    // and must not be counted again.
    assert!(
        callee.contains(&format!("DTMF received \"{digits}\"")),
        "{codec}: the callee did not report {digits} exactly:\n{callee}"
    );
    assert!(
        caller.contains("round trip") || callee.contains("round trip"),
        "{codec}: no RTCP round-trip time after a 6 s call:\n{caller}\n{callee}"
    );
}

#[test]
fn pcmu_call_carries_rfc4733_digits() {
    check("pcmu");
}

#[test]
fn opus_call_carries_rfc4733_digits_at_48_khz() {
    check("opus");
}

#[test]
fn a_bad_digit_is_refused_before_dialling() {
    let dir = WorkDir::new("dtmf-bad");
    let mut p = agentphone::spawn(
        &dir,
        "caller",
        &["call", "sip:ivr@127.0.0.1:9", "--dtmf", "12x"],
        &[],
        Duration::from_secs(10),
    );
    let status = p.wait(Duration::from_secs(10));
    assert!(status.is_some_and(|s| !s.success()), "{}", p.report());
    let out = p.output();
    assert!(out.contains("--dtmf '12x'"), "{out}");
}
