//! Interop with SIPp: agentphone calling SIPp's UAS scenarios, SIPp's UAC calling
//! `agentphone answer` sequentially, concurrently, over UDP and TCP, and SIPp's UAC
//! playing Debian's g711a.pcap as RTP into a recorded `agentphone answer`.
//!
//! Needs `sipp` (Debian `sip-tester`; `bash scripts/install-peers.sh`). Run with
//! `cargo test --test sipp`; the rate benchmark with
//! `cargo test --release --test sipp sipp_rate -- --ignored --nocapture`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::agentphone;
use common::audio::{best_match, find_pieces, read, rms, RATE};
use common::ports::{free_port, wait_bound, Proto};
use common::process::call_lines;
use common::sipp::{Scenario, SippCmd, SippResult, Transport};
use common::{pcap, require_peer, WorkDir};

const SECOND: Duration = Duration::from_secs(1);

/// Runs `agentphone call sip:service@127.0.0.1:PORT --duration 1` against a SIPp UAS
/// playing `scenario` for one call. Returns agentphone's exit success, its report
/// and elapsed time, and SIPp's result.
fn call_sipp_uas(test: &str, scenario: Scenario) -> Option<CallOutcome> {
    let sipp = require_peer("sipp")?;
    let dir = WorkDir::new(test);
    let port = free_port();
    let mut uas = SippCmd::uas("sipp_uas", scenario, port)
        .args(&["-m", "1"])
        .limit(30 * SECOND)
        .start(&sipp, &dir);
    let target = format!("sip:service@127.0.0.1:{port}");
    let mut phone = agentphone::spawn(
        &dir,
        "agentphone_call",
        &[
            "call",
            &target,
            "--duration",
            "1",
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
        30 * SECOND,
    );
    let status = phone.wait(20 * SECOND);
    let elapsed = phone.elapsed();
    // SIPp ends by itself once the call is over; a short wait is enough.
    let sipp = uas.finish(5 * SECOND);
    Some(CallOutcome {
        success: status.map(|s| s.success()),
        stderr: phone.stderr(),
        report: phone.report(),
        elapsed,
        sipp,
        _dir: dir,
    })
}

struct CallOutcome {
    /// `None`: agentphone did not exit within the limit.
    success: Option<bool>,
    stderr: String,
    report: String,
    elapsed: Duration,
    sipp: SippResult,
    _dir: WorkDir,
}

#[test]
fn agentphone_calls_sipp_uas_and_hangs_up_after_duration() {
    let Some(out) = call_sipp_uas("call_sipp_uas", Scenario::Builtin("uas")) else {
        return;
    };
    assert_eq!(
        out.success,
        Some(true),
        "agentphone call should exit 0 after an answered call\n{}\n{}",
        out.report,
        out.sipp.report
    );
    assert!(
        out.elapsed >= Duration::from_millis(950),
        "call ended after {:?}, before --duration 1\n{}",
        out.elapsed,
        out.report
    );
    out.sipp.assert_all_succeeded(1, &out.report);
}

#[test]
fn agentphone_call_refused_with_486_fails_with_reason() {
    let Some(out) = call_sipp_uas("call_sipp_busy", Scenario::File("uas_busy.xml")) else {
        return;
    };
    assert_eq!(
        out.success,
        Some(false),
        "agentphone call should exit non-zero (and in time) when refused with 486\n{}",
        out.report
    );
    assert!(
        out.stderr.contains("486") && out.stderr.contains("agentphone:"),
        "stderr should give the reason with the status code 486\n{}",
        out.report
    );
    // SIPp's scenario only succeeds once our ACK for the 486 arrived.
    out.sipp.assert_all_succeeded(1, &out.report);
}

#[test]
fn agentphone_call_rings_then_is_answered() {
    let Some(out) = call_sipp_uas("call_sipp_ringing", Scenario::File("uas_ringing.xml")) else {
        return;
    };
    assert_eq!(
        out.success,
        Some(true),
        "agentphone call should exit 0 after 180 then 200\n{}\n{}",
        out.report,
        out.sipp.report
    );
    out.sipp.assert_all_succeeded(1, &out.report);
}

/// A SIPp UAC load against `agentphone answer --max-calls calls`.
struct Load {
    test: &'static str,
    calls: u64,
    /// SIPp `-l`: simultaneous calls.
    concurrent: u64,
    /// SIPp `-r`: new calls per second.
    rate: u64,
    /// SIPp `-d`: how long each call lasts, in ms.
    hold_ms: u64,
    transport: Transport,
}

/// Runs the load and checks both sides: SIPp exit 0 with every call successful,
/// agentphone exit 0 with one `answered` and one `ended` line per call.
/// Returns SIPp's elapsed seconds.
fn sipp_calls_agentphone(load: Load) -> Option<f64> {
    let sipp = require_peer("sipp")?;
    let dir = WorkDir::new(load.test);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let max_calls = load.calls.to_string();
    let mut phone = agentphone::spawn(
        &dir,
        "agentphone_answer",
        &["answer", "--listen", &listen, "--max-calls", &max_calls],
        &[],
        150 * SECOND,
    );
    let proto = match load.transport {
        Transport::Udp => Proto::Udp,
        Transport::Tcp => Proto::Tcp,
    };
    assert!(
        phone.wait_for_output("listening on", 10 * SECOND) && wait_bound(proto, port, 5 * SECOND),
        "agentphone answer did not start listening on {listen}\n{}",
        phone.report()
    );
    let [calls, concurrent, rate, hold] =
        [load.calls, load.concurrent, load.rate, load.hold_ms].map(|n| n.to_string());
    let mut uac = SippCmd::uac("sipp_uac", Scenario::Builtin("uac"), &listen, free_port())
        .transport(load.transport)
        .args(&[
            "-s",
            "agent",
            "-m",
            &calls,
            "-l",
            &concurrent,
            "-r",
            &rate,
            "-d",
            &hold,
        ])
        .limit(100 * SECOND)
        .start(&sipp, &dir);
    let result = uac.finish(110 * SECOND);
    let status = phone.wait(15 * SECOND);
    result.assert_all_succeeded(load.calls, &phone.report());
    assert!(
        status.is_some_and(|s| s.success()),
        "agentphone answer should exit 0 after --max-calls {calls}, got {status:?}\n{}",
        phone.report()
    );
    let output = phone.output();
    let expected: BTreeSet<u32> = (1..=u32::try_from(load.calls).unwrap_or(u32::MAX)).collect();
    for (what, needle) in [("answered", ": answered"), ("ended", " ended:")] {
        let numbers = call_lines(&output, needle);
        assert_eq!(
            numbers.len() as u64,
            load.calls,
            "expected one `call N ... {what}` line per call\n{}",
            phone.report()
        );
        let distinct: BTreeSet<u32> = numbers.into_iter().collect();
        assert_eq!(distinct, expected, "calls numbered 1..={calls} once each");
    }
    let hung_up = output.matches("remote hung up").count() as u64;
    assert_eq!(
        hung_up,
        load.calls,
        "SIPp hangs up every call\n{}",
        phone.report()
    );
    result.stats.map(|s| s.elapsed_s)
}

#[test]
fn sipp_uac_200_sequential_calls_over_udp() {
    sipp_calls_agentphone(Load {
        test: "uac_sequential_udp",
        calls: 200,
        concurrent: 1,
        rate: 1000,
        hold_ms: 0,
        transport: Transport::Udp,
    });
}

#[test]
fn sipp_uac_50_concurrent_calls_over_udp() {
    let hold = Duration::from_secs(2);
    let Some(elapsed) = sipp_calls_agentphone(Load {
        test: "uac_concurrent_udp",
        calls: 50,
        concurrent: 50,
        rate: 100,
        hold_ms: hold.as_millis() as u64,
        transport: Transport::Udp,
    }) else {
        return;
    };
    // 50 calls of 2 s one after another would take 100 s: they must have overlapped.
    assert!(
        elapsed < 20.0,
        "50 calls of 2 s took {elapsed:.1} s: not concurrent"
    );
}

#[test]
fn sipp_uac_50_calls_over_tcp() {
    sipp_calls_agentphone(Load {
        test: "uac_tcp",
        calls: 50,
        concurrent: 10,
        rate: 50,
        hold_ms: 500,
        transport: Transport::Tcp,
    });
}

/// The harness itself: SIPp's UAC against SIPp's UAS needs no agentphone, so when
/// this fails the peer or the harness is broken, not agentphone.
#[test]
fn harness_sipp_uac_against_sipp_uas() {
    let Some(sipp) = require_peer("sipp") else {
        return;
    };
    let dir = WorkDir::new("harness_sipp");
    let port = free_port();
    let mut uas = SippCmd::uas("sipp_uas", Scenario::Builtin("uas"), port)
        .args(&["-m", "20"])
        .start(&sipp, &dir);
    let remote = format!("127.0.0.1:{port}");
    let mut uac = SippCmd::uac("sipp_uac", Scenario::Builtin("uac"), &remote, free_port())
        .args(&["-m", "20", "-l", "5", "-r", "100"])
        .start(&sipp, &dir);
    uac.finish(30 * SECOND).assert_all_succeeded(20, "");
    uas.finish(5 * SECOND).assert_all_succeeded(20, "");
}

/// Calls per second `agentphone answer` sustains against SIPp's UAC, next to SIPp's
/// own UAS in the same run. Steps: `AGENTPHONE_RATE_STEPS` (default
/// "100,200,400,800"), each 5 s of calls; a peer stops at its first failing step.
#[test]
#[ignore = "benchmark: cargo test --release --test sipp sipp_rate -- --ignored --nocapture"]
fn sipp_rate() {
    let Some(sipp) = require_peer("sipp") else {
        return;
    };
    let steps: Vec<u64> = std::env::var("AGENTPHONE_RATE_STEPS")
        .unwrap_or_else(|_| "100,200,400,800".to_string())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "{:>6} | {:>28} | {:>28}",
        "target", "SIPp UAS", "agentphone answer"
    );
    let (mut sipp_ok, mut agent_ok) = (true, true);
    for rate in steps {
        let calls = rate * 5;
        let uas = sipp_ok.then(|| rate_step(&sipp, rate, calls, false));
        let agent = agent_ok.then(|| rate_step(&sipp, rate, calls, true));
        sipp_ok &= uas.as_ref().is_some_and(|r| r.failed == 0);
        agent_ok &= agent.as_ref().is_some_and(|r| r.failed == 0);
        let show = |r: Option<RateResult>| {
            r.map_or("-".to_string(), |r| {
                format!("{:>6.0} cps {:>5} ok {:>4} failed", r.cps, r.ok, r.failed)
            })
        };
        println!("{rate:>6} | {:>28} | {:>28}", show(uas), show(agent));
        if !sipp_ok && !agent_ok {
            break;
        }
    }
}

struct RateResult {
    cps: f64,
    ok: u64,
    failed: u64,
}

/// One benchmark step: `calls` calls at `rate` cps from SIPp's UAC to either
/// `agentphone answer` or SIPp's UAS.
fn rate_step(sipp: &std::path::Path, rate: u64, calls: u64, agentphone: bool) -> RateResult {
    let dir = WorkDir::new(&format!("rate_{rate}_{agentphone}"));
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let [calls_s, rate_s] = [calls, rate].map(|n| n.to_string());
    let mut server = if agentphone {
        let max = calls.to_string();
        let mut phone = agentphone::spawn(
            &dir,
            "agentphone_answer",
            &["answer", "--listen", &listen, "--max-calls", &max],
            &[],
            120 * SECOND,
        );
        assert!(
            phone.wait_for_output("listening on", 10 * SECOND),
            "{}",
            phone.report()
        );
        Some(phone)
    } else {
        None
    };
    let _uas = (!agentphone).then(|| {
        SippCmd::uas("sipp_uas", Scenario::Builtin("uas"), port)
            .args(&["-m", &calls_s])
            .limit(90 * SECOND)
            .start(sipp, &dir)
    });
    let result = SippCmd::uac("sipp_uac", Scenario::Builtin("uac"), &listen, free_port())
        .args(&["-m", &calls_s, "-r", &rate_s, "-rp", "1000", "-l", &rate_s])
        .limit(60 * SECOND)
        .start(sipp, &dir)
        .finish(70 * SECOND);
    if let Some(phone) = server.as_mut() {
        phone.wait(5 * SECOND);
    }
    let stats = result
        .stats
        .unwrap_or_else(|| panic!("no SIPp stats\n{}", result.report));
    RateResult {
        cps: stats.successful as f64 / stats.elapsed_s.max(0.001),
        ok: stats.successful,
        // Calls still open when SIPp stopped count as failed too.
        failed: stats
            .created
            .saturating_sub(stats.successful)
            .max(stats.failed),
    }
}

/// What `agentphone answer` recorded while SIPp played g711a.pcap at it.
struct PcapCall {
    /// The pcap's audio decoded here, independently of agentphone (48 kHz).
    reference: Vec<f32>,
    /// agentphone's recording of the call (48 kHz).
    heard: Vec<f32>,
    /// agentphone's log.
    output: String,
    report: String,
}

/// SIPp's UAC (`scenario`) calls `agentphone answer --record-dir` and plays
/// g711a.pcap as its RTP; returns what agentphone recorded.
fn sipp_plays_pcap_to_agentphone(test: &str, scenario: &'static str) -> Option<PcapCall> {
    let sipp = require_peer("sipp")?;
    let dir = WorkDir::new(test);
    let reference = pcap::copy_g711a(&dir);
    let listen = format!("127.0.0.1:{}", free_port());
    let record_dir = dir.file("recordings");
    let mut phone = agentphone::answer_one(
        &dir,
        "agentphone_answer",
        &listen,
        &["--record-dir", agentphone::arg(&record_dir)],
        40 * SECOND,
    );
    let result = SippCmd::uac("sipp_uac", Scenario::File(scenario), &listen, free_port())
        .args(&["-m", "1", "-s", "bob"])
        .media_on_loopback()
        .limit(30 * SECOND)
        .start(&sipp, &dir)
        .finish(35 * SECOND);
    let status = phone.wait(10 * SECOND);
    result.assert_all_succeeded(1, &phone.report());
    assert!(
        status.is_some_and(|s| s.success()),
        "agentphone answer should exit 0 after its one call, got {status:?}\n{}",
        phone.report()
    );
    Some(PcapCall {
        reference,
        heard: read(&agentphone::only_recording_in(&record_dir)),
        output: phone.output(),
        report: phone.report(),
    })
}

/// The recording holds the pcap's speech: the call's length, the speech's level
/// over the pcap's duration, the same waveform, and no warning in the log.
fn assert_recorded_pcap(call: &PcapCall) {
    let seconds = |n: usize| n as f64 / RATE as f64;
    let (reference, heard) = (&call.reference, &call.heard);
    // 236 packets of 30 ms.
    assert!(
        (7.0..7.2).contains(&seconds(reference.len())),
        "g711a.pcap decoded to {:.2} s, expected 7.08 s",
        seconds(reference.len())
    );
    // Media runs from the 200 to SIPp's BYE, 7.5 s after its ACK.
    assert!(
        (7.3..9.0).contains(&seconds(heard.len())),
        "recording lasts {:.2} s; the call carried 7.5 s of media\n{}",
        seconds(heard.len()),
        call.report
    );
    let m = best_match(reference, heard);
    let lag = (m.lag_ms * RATE as f64 / 1000.0) as usize;
    let span = &heard[lag.min(heard.len())..(lag + reference.len()).min(heard.len())];
    let (want, got) = (rms(reference), rms(span));
    eprintln!(
        "pcap: {:.2} s recorded, {m:?}, RMS {got:.4} (pcap {want:.4})",
        seconds(heard.len())
    );
    assert!(
        got > 0.5 * want && got < 2.0 * want,
        "recording RMS {got:.4} over the pcap's 7.08 s, the pcap's own {want:.4}: \
         silent or distorted\n{}",
        call.report
    );
    // Piece by piece: a late packet on a loaded machine makes the jitter buffer
    // add a packet of delay mid-call, which whole-signal correlation would count
    // as a mismatch although every word was heard.
    let pieces = find_pieces(reference, heard);
    assert!(
        pieces.correlation > 0.9 && pieces.max_lag_ms < 250.0,
        "recording matches g711a.pcap decoded independently at {:.3} (need 0.9), \
         pieces up to {:.0} ms late\n{}",
        pieces.correlation,
        pieces.max_lag_ms,
        call.report
    );
    for level in ["WARN", "ERROR"] {
        assert!(
            !call.output.contains(level),
            "agentphone logged a {level}\n{}",
            call.report
        );
    }
    let stopped = call
        .output
        .lines()
        .find(|l| l.contains("media stopped"))
        .unwrap_or_else(|| panic!("no `media stopped` line\n{}", call.report));
    let count = |key: &str| {
        stopped
            .split_whitespace()
            .find_map(|f| f.strip_prefix(key)?.strip_prefix('=')?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // A packet the jitter buffer judged late still arrived.
    assert!(
        count("received") + count("late") == 236 && count("lost") == 0,
        "all 236 RTP packets of the pcap should arrive on loopback: {stopped}"
    );
    assert!(
        stopped.contains("decode_errors=0"),
        "every payload of the pcap must decode: {stopped}"
    );
}

#[test]
fn sipp_pcap_pcma_with_ptime_30_is_recorded() {
    if let Some(call) = sipp_plays_pcap_to_agentphone("sipp_pcap_ptime30", "uac_pcap_pcma.xml") {
        assert_recorded_pcap(&call);
    }
}

/// SIPp's own `uac_pcap` offers no `a=ptime` yet sends the pcap's 30 ms packets;
/// a receiver must play whatever packet duration arrives (RFC 4566: ptime is a
/// preference).
#[test]
fn sipp_pcap_pcma_without_ptime_is_recorded() {
    if let Some(call) =
        sipp_plays_pcap_to_agentphone("sipp_pcap_no_ptime", "uac_pcap_pcma_no_ptime.xml")
    {
        assert_recorded_pcap(&call);
    }
}

#[test]
fn alaw_expansion_matches_g711_reference_points() {
    // From the G.711 A-law table: 0xD5 is the smallest positive step, 0x55 the
    // smallest negative, 0xAA and 0x2A the largest magnitudes.
    assert_eq!(pcap::alaw_to_linear(0xD5), 8);
    assert_eq!(pcap::alaw_to_linear(0x55), -8);
    assert_eq!(pcap::alaw_to_linear(0xAA), 32256);
    assert_eq!(pcap::alaw_to_linear(0x2A), -32256);
}
