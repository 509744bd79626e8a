//! SDP offer/answer against SIPp beyond the plain 200: early media and refusal.
//!
//! - Early media: SIPp's UAS answers `agentphone call` with 183 Session Progress
//!   carrying SDP and plays Debian's g711a.pcap (an announcement, 7.08 s of PCMA)
//!   before its final response, a 486 (the carrier announcement followed by failure)
//!   or a 200 with the same SDP (the call goes on). agentphone must record the
//!   announcement, heard before the final response, and keep one media session
//!   across the 183 and the 200.
//! - Refusal: SIPp's UAC offers only G.729, which agentphone cannot decode;
//!   `agentphone answer` must answer 488 Not Acceptable Here and still take the
//!   next call.
//!
//! Needs `sipp` (Debian `sip-tester`; `bash scripts/install-peers.sh`). Run with
//! `cargo test --test early_media`. Every wait is bounded so that each test ends
//! within 30 s whatever the peers do; a passing run takes about 10 s per test.

mod common;

use std::path::Path;
use std::time::Duration;

use common::agentphone;
use common::audio::{best_match, find_pieces, read, rms, Pieces, RATE};
use common::ports::free_port;
use common::sipp::{Scenario, SippCmd, SippResult};
use common::{pcap, require_peer, WorkDir};

const SECOND: Duration = Duration::from_secs(1);

/// RTP packets in g711a.pcap (236 × 30 ms = 7.08 s).
const PCAP_PACKETS: usize = 236;

/// The scenarios wait this long after the 183 before their final response.
const EARLY_MEDIA: Duration = Duration::from_millis(7500);

/// `--duration` of the answered call: media after the 200, before our BYE.
const AFTER_ANSWER_S: f64 = 1.0;

/// What one `agentphone call` against an early-media scenario left behind.
struct EarlyCall {
    /// g711a.pcap's audio decoded here, independently of agentphone (48 kHz).
    reference: Vec<f32>,
    /// agentphone's `--record` file (48 kHz).
    heard: Vec<f32>,
    /// `None`: agentphone did not exit within the limit.
    success: Option<bool>,
    /// From the start of agentphone to its `early media` line.
    early_at: Duration,
    /// From the start of agentphone to its reaction to the final response: the
    /// `answered` line, or its exit after a refusal.
    final_at: Duration,
    stderr: String,
    output: String,
    report: String,
    sipp: SippResult,
    _dir: WorkDir,
}

/// `agentphone call --codec pcma --record heard.wav` to SIPp playing `scenario`.
fn call_with_early_media(test: &str, scenario: &'static str) -> Option<EarlyCall> {
    let sipp = require_peer("sipp")?;
    let dir = WorkDir::new(test);
    let reference = pcap::copy_g711a(&dir);
    let port = free_port();
    let mut uas = SippCmd::uas("sipp_uas", Scenario::File(scenario), port)
        .args(&["-m", "1"])
        .media_on_loopback()
        .limit(25 * SECOND)
        .start(&sipp, &dir);
    let target = format!("sip:announcement@127.0.0.1:{port}");
    let record = dir.file("heard.wav");
    let duration = AFTER_ANSWER_S.to_string();
    let mut phone = agentphone::spawn(
        &dir,
        "agentphone_call",
        &[
            "call",
            &target,
            "--codec",
            "pcma",
            "--record",
            agentphone::arg(&record),
            "--duration",
            &duration,
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
        25 * SECOND,
    );
    assert!(
        phone.wait_for_output("early media", 5 * SECOND),
        "agentphone never reported early media on the 183 with SDP\n{}",
        phone.report()
    );
    let early_at = phone.elapsed();
    // Returns early (false) when agentphone exits on a refusal instead.
    phone.wait_for_output("answered", EARLY_MEDIA + 5 * SECOND);
    let final_at = phone.elapsed();
    let status = phone.wait(5 * SECOND);
    let sipp = uas.finish(3 * SECOND);
    Some(EarlyCall {
        reference,
        heard: read(&record),
        success: status.map(|s| s.success()),
        early_at,
        final_at,
        stderr: phone.stderr(),
        output: phone.output(),
        report: phone.report(),
        sipp,
        _dir: dir,
    })
}

fn seconds(samples: usize) -> f64 {
    samples as f64 / RATE as f64
}

/// A `key=N` field of a log line.
fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Checks what both variants share: the 183 started the media once, the
/// recording holds the whole announcement, heard before the final response
/// arrived, every pcap packet arrived and decoded, and nothing was logged as a
/// warning.
fn assert_announcement_heard(call: &EarlyCall) -> Pieces {
    let (reference, heard) = (&call.reference, &call.heard);
    assert!(
        (7.0..7.2).contains(&seconds(reference.len())),
        "g711a.pcap decoded to {:.2} s, expected 7.08 s",
        seconds(reference.len())
    );
    assert!(
        call.output.contains("183: early media"),
        "agentphone should print `183: early media`\n{}",
        call.report
    );
    // The recording starts with the media, on the 183 (the `early media` line).
    let waited = call.final_at.saturating_sub(call.early_at).as_secs_f64();
    assert!(
        waited >= EARLY_MEDIA.as_secs_f64() - 1.0,
        "the final response came {waited:.2} s after agentphone's `early media` line; \
         SIPp sends it {EARLY_MEDIA:?} after the 183\n{}",
        call.report
    );
    let whole = best_match(reference, heard);
    let pieces = find_pieces(reference, heard);
    let (want, got) = (rms(reference), rms(heard));
    eprintln!(
        "early media: {:.2} s recorded, whole {whole:?}, {pieces:?}, RMS {got:.1} \
         (pcap {want:.1}), final response {waited:.2} s after the early media line",
        seconds(heard.len()),
    );
    assert!(
        pieces.correlation >= 0.9,
        "recording correlates {:.3} with g711a.pcap decoded independently, aligned \
         piece by piece (need 0.9); whole signal {:.3}\n{}",
        pieces.correlation,
        whole.correlation,
        call.report
    );
    // The pcap's audio is the only thing SIPp sends: the recording's level is the
    // pcap's, give or take the silence around it.
    assert!(
        got > 0.5 * want && got < 1.5 * want,
        "recording RMS {got:.1}, the pcap's own {want:.1}: silent or distorted\n{}",
        call.report
    );
    // The jitter buffer holds at most 200 ms; a packet more on a loaded machine.
    assert!(
        pieces.max_lag_ms <= 250.0,
        "the announcement was heard up to {:.0} ms late\n{}",
        pieces.max_lag_ms,
        call.report
    );
    // 0.1 s for our polling of agentphone's output.
    assert!(
        pieces.end_s <= waited + 0.1,
        "the announcement ends {:.2} s into the recording, after the final response \
         ({waited:.2} s): it was not heard as early media\n{}",
        pieces.end_s,
        call.report
    );
    assert_eq!(
        call.output.matches("media started").count(),
        1,
        "the media starts once, on the 183\n{}",
        call.report
    );
    let stopped = agentphone::media_stopped(&call.output)
        .unwrap_or_else(|| panic!("no `media stopped` line\n{}", call.report));
    eprintln!("{stopped}");
    // A packet late for its turn (a loaded machine) is counted apart from the
    // received ones, but it did arrive.
    let arrived = field(stopped, "received").unwrap_or(0) + field(stopped, "late").unwrap_or(0);
    assert!(
        arrived == PCAP_PACKETS as u64
            && field(stopped, "lost") == Some(0)
            && field(stopped, "decode_errors") == Some(0),
        "all {PCAP_PACKETS} RTP packets of the pcap should arrive on loopback and decode: \
         {stopped}"
    );
    assert!(
        !call.output.contains("WARN"),
        "agentphone logged a warning\n{}",
        call.report
    );
    pieces
}

/// A carrier's announcement followed by 486: the call fails with the reason, and
/// the announcement is in the recording, which is a complete WAV.
#[test]
fn early_media_announcement_then_busy_is_recorded() {
    let Some(call) = call_with_early_media("early_media_busy", "uas_early_media_busy.xml") else {
        return;
    };
    assert_eq!(
        call.success,
        Some(false),
        "agentphone call should exit non-zero (and in time) when refused with 486\n{}",
        call.report
    );
    assert!(
        call.stderr.contains("busy here (486)"),
        "stderr should give the reason `busy here (486)`\n{}",
        call.report
    );
    assert!(
        !call.output.contains("answered"),
        "a refused call was never answered\n{}",
        call.report
    );
    assert_announcement_heard(&call);
    // The media ran from the 183 to the 486, 7.5 s later; `read` has already
    // checked the WAV header against the data written.
    let length = seconds(call.heard.len());
    assert!(
        (7.0..9.0).contains(&length),
        "recording lasts {length:.2} s; the early media lasted 7.5 s\n{}",
        call.report
    );
    // SIPp's scenario only succeeds once our ACK for the 486 arrived.
    call.sipp.assert_all_succeeded(1, &call.report);
}

/// Early media then 200 with the same SDP: the call goes on on the same media
/// session (no restart, no update) and ends with our BYE after --duration.
#[test]
fn early_media_then_answer_keeps_the_media_running() {
    let Some(call) = call_with_early_media("early_media_answer", "uas_early_media_answer.xml")
    else {
        return;
    };
    assert_eq!(
        call.success,
        Some(true),
        "agentphone call should exit 0 after an answered call it hung up\n{}\n{}",
        call.report,
        call.sipp.report
    );
    assert!(
        call.output.contains("answered"),
        "agentphone should report the 200 as `answered`\n{}",
        call.report
    );
    assert_announcement_heard(&call);
    assert!(
        !call.output.contains("media updated"),
        "the 200 repeats the 183's SDP: nothing to update\n{}",
        call.report
    );
    // One recording from the 183 to our BYE: 7.5 s of early media, then
    // --duration after the 200. A media restart on the 200 would have cut it.
    let length = seconds(call.heard.len());
    let want = EARLY_MEDIA.as_secs_f64() + AFTER_ANSWER_S;
    assert!(
        (want - 0.5..want + 1.5).contains(&length),
        "recording lasts {length:.2} s; early media and the answered call carried {want:.1} s\n{}",
        call.report
    );
    call.sipp.assert_all_succeeded(1, &call.report);
}

/// A G.729-only offer gets 488 Not Acceptable Here; the listener then answers
/// an ordinary call.
#[test]
fn offer_without_common_codec_gets_488_and_next_call_is_answered() {
    let Some(sipp) = require_peer("sipp") else {
        return;
    };
    let dir = WorkDir::new("no_common_codec");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut phone = agentphone::spawn(
        &dir,
        "agentphone_answer",
        &["answer", "--listen", &listen, "--max-calls", "2"],
        &[],
        30 * SECOND,
    );
    assert!(
        phone.wait_for_output("listening on", 5 * SECOND),
        "agentphone answer did not start listening on {listen}\n{}",
        phone.report()
    );
    // The scenario fails unless the final response is 488.
    let refused = uac(&sipp, &dir, "sipp_g729", "uac_no_common_codec.xml", &listen);
    refused.assert_all_succeeded(1, &phone.report());
    assert!(
        phone.wait_for_output("call 1 from", 3 * SECOND)
            && phone.output().contains("rejected 488 (no common codec)"),
        "agentphone should print that it rejected call 1 with 488\n{}",
        phone.report()
    );
    let normal = SippCmd::uac("sipp_pcmu", Scenario::Builtin("uac"), &listen, free_port())
        .args(&["-m", "1", "-s", "agent", "-d", "500"])
        .limit(6 * SECOND)
        .start(&sipp, &dir)
        .finish(8 * SECOND);
    normal.assert_all_succeeded(1, &phone.report());
    let status = phone.wait(5 * SECOND);
    assert!(
        status.is_some_and(|s| s.success()),
        "agentphone answer should exit 0 after --max-calls 2, got {status:?}\n{}",
        phone.report()
    );
    let output = phone.output();
    assert!(
        output.contains(": answered") && output.contains("call 2 ended: remote hung up"),
        "the call after the refusal should be answered and ended by SIPp\n{}",
        phone.report()
    );
    assert_eq!(
        output.matches("rejected 488").count(),
        1,
        "only the G.729 call is refused\n{}",
        phone.report()
    );
}

/// Runs one call of the UAC `scenario` against `remote`.
fn uac(sipp: &Path, dir: &WorkDir, name: &str, scenario: &'static str, remote: &str) -> SippResult {
    SippCmd::uac(name, Scenario::File(scenario), remote, free_port())
        .args(&["-m", "1", "-s", "bob"])
        .media_on_loopback()
        .limit(6 * SECOND)
        .start(sipp, dir)
        .finish(8 * SECOND)
}
