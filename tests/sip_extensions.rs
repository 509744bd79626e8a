//! SIP extensions on the wire, against SIPp: option tags (RFC 3261 §8.2.2.3,
//! 420 Bad Extension), session timers (RFC 4028: 422 and Min-SE both ways, a
//! real 90 s refresh), UPDATE and offer/answer glare (RFC 3311, RFC 3261
//! §14.1) and reliable provisional responses (RFC 3262) both ways.
//!
//! Each SIPp scenario (fixtures/sipp/, see its README) checks agentphone's
//! messages itself (`ereg`/`test`/`strcmp` with `check_it`, strict message
//! order) and fails its call when one is wrong; the tests here run the two
//! sides on loopback, bounded in time, and require SIPp's one call to succeed
//! and agentphone to exit 0. agentphone runs with `-v`, so a failure shows
//! every SIP message it sent and received.
//!
//! The session-timer test lasts ~75 s (RFC 4028's smallest interval is 90 s,
//! refreshed at 45 s); the others run beside it.
//!
//! Needs `sipp` (Debian `sip-tester`). `cargo test --test sip_extensions`.

mod common;

use common::agentphone;
use common::ports::free_port;
use common::process::Peer;
use common::sipp::{Scenario, SippCmd, SippResult};
use common::{require_peer, WorkDir};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// Writes `text` as agentphone's config file in `dir`; returns its path.
fn write_config(dir: &WorkDir, text: &str) -> String {
    let path = dir.file("agentphone.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    agentphone::arg(&path).to_string()
}

/// SIPp's UAC plays `scenario` (one call, `-s bob`, `sipp_args`) against
/// `agentphone -v answer --max-calls 1` (with `config` as its config file
/// when given). Requires the SIPp call to succeed and agentphone to exit 0
/// (the scenario's one successful dialog is its one call).
fn sipp_calls_answer(
    test: &str,
    scenario: &'static str,
    sipp_args: &[&str],
    config: Option<&str>,
    limit: Duration,
) {
    let Some(sipp) = require_peer("sipp") else {
        return;
    };
    let dir = WorkDir::new(test);
    let listen = format!("127.0.0.1:{}", free_port());
    let config = config.map(|text| write_config(&dir, text));
    let mut extra = vec!["-v"];
    if let Some(path) = &config {
        extra.extend(["--config", path.as_str()]);
    }
    let mut phone = agentphone::answer_one(
        &dir,
        "agentphone_answer",
        &listen,
        &extra,
        limit + 20 * SECOND,
    );
    let mut args = vec!["-m", "1", "-s", "bob"];
    args.extend_from_slice(sipp_args);
    let result = SippCmd::uac("sipp_uac", Scenario::File(scenario), &listen, free_port())
        .args(&args)
        .media_on_loopback()
        .limit(limit)
        .start(&sipp, &dir)
        .finish(limit + 5 * SECOND);
    result.assert_all_succeeded(1, &phone.report());
    agentphone::expect_success(&mut phone, 10 * SECOND, &[]);
}

/// What one `agentphone call` against a SIPp UAS left behind.
struct Called {
    phone: Peer,
    /// agentphone's exit status; `None` when it had to be stopped.
    status: Option<std::process::ExitStatus>,
    /// From agentphone's start to its exit.
    elapsed: Duration,
    sipp: SippResult,
    /// Kept (with the logs) when a check fails.
    _dir: WorkDir,
}

impl Called {
    /// SIPp's one call succeeded and agentphone exited 0.
    fn assert_success(&self) {
        self.sipp.assert_all_succeeded(1, &self.phone.report());
        let status = self.status;
        assert!(
            status.is_some_and(|s| s.success()),
            "agentphone call failed ({status:?}):\n{}\n{}",
            self.phone.report(),
            self.sipp.report
        );
    }
}

/// SIPp's UAS plays `scenario` for one call; `agentphone -v call
/// sip:bob@127.0.0.1:PORT CALL_ARGS...` (default settings: session timers on,
/// 1800 s, Min-SE 90) calls it. Waits for both, each within `limit`.
fn agentphone_calls_sipp(
    test: &str,
    scenario: &'static str,
    call_args: &[&str],
    limit: Duration,
) -> Option<Called> {
    let sipp = require_peer("sipp")?;
    let dir = WorkDir::new(test);
    let port = free_port();
    let mut uas = SippCmd::uas("sipp_uas", Scenario::File(scenario), port)
        .args(&["-m", "1"])
        .media_on_loopback()
        .limit(limit)
        .start(&sipp, &dir);
    let target = format!("sip:bob@127.0.0.1:{port}");
    let mut args = vec!["-v", "call", target.as_str(), "--listen", "127.0.0.1:0"];
    args.extend_from_slice(call_args);
    let mut phone = agentphone::spawn(&dir, "agentphone_call", &args, &[], limit + 20 * SECOND);
    let status = phone.wait(limit + 10 * SECOND);
    let elapsed = phone.elapsed();
    let sipp = uas.finish(10 * SECOND);
    Some(Called {
        phone,
        sipp,
        status,
        elapsed,
        _dir: dir,
    })
}

/// RFC 3261 §8.2.2.3: `Require: foo-bar` gets 420 with `Unsupported: foo-bar`
/// (and nothing else: no 180, no 200); the next, plain INVITE is answered.
#[test]
fn require_of_an_unknown_extension_gets_420_naming_it() {
    sipp_calls_answer("ext_420", "uac_require_unknown.xml", &[], None, 15 * SECOND);
}

/// RFC 4028 §6/§9 as UAS: `Session-Expires: 30` gets 422 with our configured
/// `Min-SE: 100`; the retry with 120 gets 200 `Session-Expires:
/// 120;refresher=…` and `Require: timer`.
#[test]
fn session_interval_below_min_se_gets_422_then_the_retry_is_answered() {
    sipp_calls_answer(
        "ext_422_uas",
        "uac_session_interval_too_small.xml",
        &["-key", "min_se", "100"],
        Some("[sip]\nsession_timer = true\nmin_se_s = 100\n"),
        15 * SECOND,
    );
}

/// RFC 4028 §7.4 as UAC: a 422 with `Min-SE: 300` makes us send the INVITE
/// once more in the same call (next CSeq, same From tag) with a
/// Session-Expires of at least 300 and `Min-SE: 300`.
#[test]
fn a_422_is_retried_with_the_peers_min_se() {
    let Some(called) = agentphone_calls_sipp(
        "ext_422_uac",
        "uas_422_min_se.xml",
        &["--duration", "1"],
        20 * SECOND,
    ) else {
        return;
    };
    called.assert_success();
}

/// RFC 3311 and RFC 3261 §14.1: the callee's UPDATE with an offer gets 200
/// with our SDP answer; our hold re-INVITE refused with 491 is sent again
/// after 2.1-4 s (we own the Call-ID); an UPDATE offer arriving while that
/// re-INVITE waits for its answer gets 491; the hold and the resume both
/// complete.
#[test]
fn update_is_answered_and_glare_gets_491_both_ways() {
    let Some(called) = agentphone_calls_sipp(
        "ext_update_glare",
        "uas_update_glare.xml",
        &["--hold-at", "1", "--resume-at", "7", "--duration", "8.5"],
        30 * SECOND,
    ) else {
        return;
    };
    called.assert_success();
    let out = called.phone.stdout();
    let (holding, resumed) = (out.find("holding"), out.find("resumed"));
    assert!(
        holding.is_some() && resumed.is_some() && holding < resumed,
        "agentphone should print `holding` then `resumed`:\n{}",
        called.phone.report()
    );
    for refused in ["re-INVITE refused", "re-INVITE not sent", "UPDATE refused"] {
        assert!(
            !out.contains(refused),
            "the glare retry should succeed (`{refused}` printed):\n{}",
            called.phone.report()
        );
    }
}

/// RFC 3262 as UAC: a reliable 183 (`Require: 100rel`, `RSeq: 1`, SDP) gets one
/// PRACK with `RAck: 1 <INVITE CSeq> INVITE`; the same 183 again gets none.
#[test]
fn a_reliable_183_is_pracked_once() {
    let Some(called) = agentphone_calls_sipp(
        "ext_prack_uac",
        "uas_prack_183.xml",
        &["--duration", "1"],
        20 * SECOND,
    ) else {
        return;
    };
    called.assert_success();
}

/// RFC 3262 as UAS: an INVITE with `Require: 100rel` gets a 180 with
/// `Require: 100rel` and RSeq; its PRACK (matching RAck) gets 200, and the
/// INVITE its 200: before the PRACK's, as agentphone answers at once, which
/// §3 allows when the unacknowledged 18x carried no SDP (the scenario takes
/// either order).
#[test]
fn require_100rel_gets_a_reliable_180_and_its_prack_200() {
    sipp_calls_answer("ext_prack_uas", "uac_100rel.xml", &[], None, 15 * SECOND);
}

/// RFC 4028 end to end at its smallest interval: the callee's 200 says
/// `Session-Expires: 90;refresher=uac` and allows UPDATE, so we refresh with
/// an UPDATE (Session-Expires 90, refresher=uac, no SDP) 40-50 s after the
/// ACK, once, and hang up at 70 s. ~75 s.
#[test]
fn session_timer_of_90_s_is_refreshed_by_update_at_half_time() {
    let Some(called) = agentphone_calls_sipp(
        "ext_session_timer",
        "uas_session_timer_90.xml",
        &["--duration", "70"],
        90 * SECOND,
    ) else {
        return;
    };
    called.assert_success();
    let elapsed = called.elapsed;
    assert!(
        (65..=85).contains(&elapsed.as_secs()),
        "the call should last its 70 s (refreshed, not expired): {elapsed:?}\n{}",
        called.phone.report()
    );
}
