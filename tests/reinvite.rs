//! Hold and resume by re-INVITE against SIPp (RFC 3264 §8.4, RFC 6337): SIPp
//! puts `agentphone answer` on hold (`a=sendonly`) and takes it back
//! (`a=sendrecv`); agentphone must answer each re-offer with the matching
//! direction (`a=recvonly`, then `a=sendrecv`), bump its o= version only when its
//! SDP changed, and move its running media: no RTP is sent while held.
//!
//! Needs `sipp` (Debian `sip-tester`). `cargo test --test reinvite`.

mod common;

use common::agentphone;
use common::ports::free_port;
use common::sipp::{Scenario, SippCmd};
use common::{require_peer, WorkDir};
use std::time::Duration;

#[test]
fn held_by_sipp_answers_recvonly_then_sendrecv_and_stops_sending() {
    let Some(sipp) = require_peer("sipp") else {
        return;
    };
    let dir = WorkDir::new("reinvite_hold");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut phone = agentphone::answer_one(
        &dir,
        "agentphone_answer",
        &listen,
        &[],
        Duration::from_secs(30),
    );
    // The scenario fails unless the hold answer says a=recvonly and the resume
    // answer a=sendrecv (SIPp's ereg check_it).
    let result = SippCmd::uac(
        "sipp_hold",
        Scenario::File("uac_hold_resume.xml"),
        &listen,
        free_port(),
    )
    .args(&["-m", "1", "-s", "bob"])
    .media_on_loopback()
    .limit(Duration::from_secs(10))
    .start(&sipp, &dir)
    .finish(Duration::from_secs(12));
    result.assert_all_succeeded(1, &phone.report());
    agentphone::expect_success(&mut phone, Duration::from_secs(5), &[]);
    let out = phone.output();
    let updates: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("media updated"))
        .collect();
    assert_eq!(
        updates.len(),
        2,
        "hold and resume each move the media once:\n{out}"
    );
    assert!(
        updates[0].contains("RecvOnly") && updates[1].contains("SendRecv"),
        "the media follows the negotiated direction: {updates:?}"
    );
    // 3 s of call of which 1 s held: about 100 packets sent, not 150.
    let sent = out
        .lines()
        .find(|l| l.contains("call 1 media:"))
        .and_then(|l| l.split("sent ").nth(1))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no media report:\n{out}"));
    assert!(
        (70..=130).contains(&sent),
        "{sent} RTP packets sent in a 3 s call held for 1 s:\n{out}"
    );
}
