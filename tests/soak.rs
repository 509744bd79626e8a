//! Soak: many calls through one `agentphone answer`, 100 at a time, each
//! carrying RTP both ways for 7.5 s (SIPp plays Debian's g711a.pcap, the phone
//! plays a 440 Hz tone), and nothing may leak: every call completes and hears
//! the pcap, resident memory after the last call stays within 10 % of what it
//! was after the first half, and the open file descriptors come back to what
//! they were before the first call. It states the memory per concurrent call.
//!
//! `soak_1000_calls` runs with the other tests (about 90 s); the long run is
//! `cargo test --test soak soak_10000_calls -- --ignored --nocapture`
//! (about 13 minutes). Both print one `soak:` line of figures (the README's).

mod common;

use common::ports::{wait_bound, Proto};
use common::process::call_lines;
use common::sipp::{Scenario, SippCmd};
use common::{agentphone, pcap, ports::free_port, require_peer, WorkDir};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const CONCURRENT: u64 = 100;
/// SIPp's scenario holds each call 7.5 s after its ACK.
const CALL_SECONDS: f64 = 7.5;
/// g711a.pcap is 236 packets of 30 ms; a call that got fewer than this did
/// not carry its audio.
const MIN_PACKETS: u64 = 200;
/// The issue's goal for memory per concurrent call.
const KIB_PER_CALL_GOAL: u64 = 150;
/// What this code measures (126 KiB in the short run, 120-131 over runs)
/// with a little room: a regression bound, below the goal.
const KIB_PER_CALL_LIMIT: u64 = 140;

#[test]
fn soak_1000_calls() {
    soak("soak_1000", 1_000);
}

#[test]
#[ignore = "long soak: cargo test --test soak soak_10000_calls -- --ignored --nocapture"]
fn soak_10000_calls() {
    soak("soak_10000", 10_000);
}

/// Resident memory and open descriptors of a process, from /proc.
#[derive(Clone, Copy, Debug)]
struct Sample {
    rss_kib: u64,
    fds: usize,
}

fn sample(pid: u32) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
        .count();
    Sample { rss_kib, fds }
}

/// The `received=N` field of each `media stopped` line.
fn packets_received(output: &str) -> Vec<u64> {
    output
        .lines()
        .filter(|l| l.contains("media stopped"))
        .filter_map(|l| {
            let rest = &l[l.find(" received=")? + " received=".len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

fn soak(test: &str, calls: u64) {
    let Some(sipp) = require_peer("sipp") else {
        return;
    };
    let dir = WorkDir::new(test);
    pcap::copy_g711a(&dir);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    // Calls start as fast as others end: 100 calls per 7.5 s, a little more so
    // SIPp's limit of 100 open calls is what paces it.
    let rate = (CONCURRENT as f64 / CALL_SECONDS).ceil() as u64 + 1;
    let expected = Duration::from_secs_f64(calls as f64 / rate as f64 + CALL_SECONDS);
    let limit = expected * 2 + 60 * SECOND;
    let mut phone = agentphone::spawn(
        &dir,
        "agentphone_answer",
        &["answer", "--listen", &listen, "--play", "tone:440"],
        &[],
        limit + 30 * SECOND,
    );
    assert!(
        phone.wait_for_output("listening on", 10 * SECOND)
            && wait_bound(Proto::Udp, port, 5 * SECOND),
        "agentphone answer did not start listening on {listen}\n{}",
        phone.report()
    );
    let pid = phone
        .program_pid()
        .unwrap_or_else(|| panic!("no agentphone process\n{}", phone.report()));
    std::thread::sleep(SECOND);
    let baseline = sample(pid);

    let [calls_arg, concurrent, rate_arg] = [calls, CONCURRENT, rate].map(|n| n.to_string());
    let mut uac = SippCmd::uac(
        "sipp_uac",
        Scenario::File("uac_pcap_pcma.xml"),
        &listen,
        free_port(),
    )
    .args(&[
        "-s",
        "agent",
        "-m",
        &calls_arg,
        "-l",
        &concurrent,
        "-r",
        &rate_arg,
    ])
    .media_on_loopback()
    .limit(limit)
    .start(&sipp, &dir);

    // While SIPp runs: the highest memory with (nearly) all calls open, and
    // the memory once half the calls have ended.
    let started = Instant::now();
    let mut peak: Option<Sample> = None;
    let mut half: Option<Sample> = None;
    while uac.peer().try_status().is_none() && started.elapsed() < limit {
        std::thread::sleep(SECOND / 4);
        let output = phone.output();
        let ended = call_lines(&output, " ended:").len() as u64;
        let open = call_lines(&output, ": answered").len() as u64 - ended;
        let now = sample(pid);
        if open * 10 >= CONCURRENT * 9 && peak.is_none_or(|p| now.rss_kib > p.rss_kib) {
            peak = Some(now);
        }
        if half.is_none() && ended >= calls / 2 {
            half = Some(now);
        }
    }
    let result = uac.finish(10 * SECOND);
    result.assert_all_succeeded(calls, &phone.report());

    // Every call ends on the phone too (the BYE's 200 reached SIPp, but the
    // media half may still be closing), then the process settles.
    let settle = Instant::now();
    while (call_lines(&phone.output(), " ended:").len() as u64) < calls
        && settle.elapsed() < 10 * SECOND
    {
        std::thread::sleep(SECOND / 4);
    }
    std::thread::sleep(2 * SECOND);
    let end = sample(pid);
    let output = phone.output();
    assert_eq!(
        call_lines(&output, " ended:").len() as u64,
        calls,
        "every call must end on the phone\n{}",
        phone.report()
    );
    let received = packets_received(&output);
    assert_eq!(
        received.len() as u64,
        calls,
        "one media report per call\n{}",
        phone.report()
    );
    let thin = received.iter().filter(|&&n| n < MIN_PACKETS).count();
    assert_eq!(
        thin,
        0,
        "{thin} calls received fewer than {MIN_PACKETS} of the pcap's 236 packets (fewest {:?})\n{}",
        received.iter().min(),
        phone.report()
    );

    let peak = peak.unwrap_or_else(|| {
        panic!(
            "the phone never had {} calls open at once\n{}",
            CONCURRENT * 9 / 10,
            phone.report()
        )
    });
    let half = half.expect("half the calls ended while SIPp ran");
    let per_call_kib = peak.rss_kib.saturating_sub(baseline.rss_kib) / CONCURRENT;
    println!(
        "soak: {calls} calls, {CONCURRENT} concurrent, {rate}/s, {:.0} s; RSS KiB: \
         before {} / peak {} / after half {} / after last {} ({:+.1} %); \
         {per_call_kib} KiB per concurrent call (goal {KIB_PER_CALL_GOAL}); \
         fds before {} / peak {} / after {}",
        started.elapsed().as_secs_f64(),
        baseline.rss_kib,
        peak.rss_kib,
        half.rss_kib,
        end.rss_kib,
        (end.rss_kib as f64 / half.rss_kib as f64 - 1.0) * 100.0,
        baseline.fds,
        peak.fds,
        end.fds,
    );
    assert!(
        end.rss_kib * 10 <= half.rss_kib * 11,
        "resident memory grew from {} KiB after half the calls to {} KiB after the last\n{}",
        half.rss_kib,
        end.rss_kib,
        phone.report()
    );
    assert_eq!(
        end.fds,
        baseline.fds,
        "open file descriptors: {} before the first call, {} after the last\n{}",
        baseline.fds,
        end.fds,
        phone.report()
    );
    assert!(
        per_call_kib <= KIB_PER_CALL_LIMIT,
        "{per_call_kib} KiB per concurrent call (peak {} KiB, before {} KiB), more than the \
         {KIB_PER_CALL_LIMIT} KiB this code used (goal {KIB_PER_CALL_GOAL})",
        peak.rss_kib,
        baseline.rss_kib
    );

    phone.terminate();
    let status = phone.wait(10 * SECOND);
    assert!(
        status.is_some_and(|s| s.success()),
        "agentphone answer should exit 0 on SIGTERM, got {status:?}\n{}",
        phone.report()
    );
}
