//! Call transfer (REFER, RFC 3515; Replaces, RFC 3891; Referred-By, RFC 3892;
//! the transfer flows of RFC 5589) against real peers on loopback:
//!
//! - agentphone transfers (`call --transfer-to`): PJSIP (tests/pjsua/peer.py) and
//!   baresip as the transferee, an `agentphone answer` as the target;
//! - agentphone is transferred (`--refer accept`): PJSIP transfers it blind
//!   (`--xfer-to`) or attended (`--consult` then `--xfer-replaces-at`);
//! - agentphone is the target of an attended transfer: PJSIP's INVITE with
//!   Replaces takes over the consultation call `agentphone answer` has;
//! - SIPp checks the wire: agentphone's REFER and how it takes the NOTIFYs
//!   (fixtures/sipp/uas_refer_check.xml), Replaces naming no dialog (481) or an
//!   ended one (603) (uac_replaces_unknown.xml), and a NOTIFY for a subscription
//!   it does not have (481, uac_notify_unknown.xml).
//!
//! Everyone plays its own tone and the ones that matter record what they hear;
//! each recording is measured in 250 ms blocks with a Goertzel filter
//! (tests/common/audio.rs): before the transfer the first party's tone must be
//! there and afterwards the new party's, each at least 25 dB (`common::tones::CLEAR_DB`) above every
//! other tone of the test. The tones are off the 100 Hz grid, not multiples of
//! 5 Hz and at least 170 Hz apart (see tests/conference.rs), so G.711
//! distortion of one does not land on another.
//!
//! Needs PJSIP's `pjsua2` Python module, `baresip` and `sipp` (a missing one
//! fails under `CI=true`). `cargo test --test transfer`.

mod common;

use common::audio::write_tone_wav;
use common::pjsua::{Options, Pjsua, Source};
use common::ports::{is_bound, Proto};
use common::process::{call_lines, Peer, Spawn};
use common::sipp::{Scenario, SippCmd};
use common::tones::expect_heard_in_order;
use common::{agentphone, ports::free_port, require_peer, WorkDir};
use std::path::Path;
use std::time::{Duration, Instant};

/// Tones of the parties, Hz.
const TONE_A: f64 = 1069.0;
const TONE_B: f64 = 1463.0;
const TONE_C: f64 = 1791.0;
/// agentphone's `--play tone:` and baresip's WAV level, dBFS.
const TONE_DB: f64 = -12.0;
/// Hard limit on every process.
const LIMIT: Duration = Duration::from_secs(40);

fn tone_arg(hz: f64) -> String {
    format!("tone:{hz}")
}

/// Everyone's report and PJSIP's events, for failure messages.
fn logs(peers: &[&Peer], pjsua: &mut [&mut Pjsua]) -> String {
    let mut text = String::new();
    for p in peers {
        text.push_str(&p.report());
        text.push('\n');
    }
    for p in pjsua.iter_mut() {
        text.push_str(&p.report());
        text.push_str("\n--- pjsua events ---\n");
        for e in p.events() {
            text.push_str(&e.line);
            text.push('\n');
        }
    }
    text
}

/// `agentphone answer --listen 127.0.0.1:PORT --max-calls N --play tone:HZ
/// --record-dir DIR EXTRA...`, started and listening.
fn start_answer(
    dir: &WorkDir,
    name: &str,
    port: u16,
    tone: f64,
    max_calls: u64,
    extra: &[&str],
) -> Peer {
    let listen = format!("127.0.0.1:{port}");
    let record_dir = dir.file(&format!("{name}-recordings"));
    let play = tone_arg(tone);
    let max = max_calls.to_string();
    let mut args = vec![
        "answer",
        "--listen",
        &listen,
        "--max-calls",
        &max,
        "--play",
        &play,
        "--record-dir",
        agentphone::arg(&record_dir),
    ];
    args.extend_from_slice(extra);
    let mut peer = agentphone::spawn(dir, name, &args, &[], LIMIT);
    assert!(
        peer.wait_for_output("listening on", Duration::from_secs(10)),
        "{name} did not start:\n{}",
        peer.report()
    );
    peer
}

/// The one recording `start_answer`'s `name` wrote.
fn recording_of(dir: &WorkDir, name: &str) -> std::path::PathBuf {
    agentphone::only_recording_in(&dir.file(&format!("{name}-recordings")))
}

/// PJSIP on a fresh port playing `tone`, answering (`call: None`) or calling,
/// recording to `NAME.wav` in `dir` when `record`.
fn pjsua_options(dir: &WorkDir, name: &str, tone: f64, record: bool) -> Options {
    let mut opts = Options::answer(free_port(), &dir.file(&format!("{name}.wav")));
    opts.source = Source::Tone(tone);
    if !record {
        opts.record = None;
    }
    opts.limit = LIMIT;
    opts
}

/// Waits for PJSIP's `ended` and its exit (the WAV header is final then).
fn finish_pjsua(pjsua: &mut Pjsua, limit: Duration) -> bool {
    let ended = pjsua.wait_for(|e| e.kind() == "ended", limit).is_some();
    ended && pjsua.wait_exit(Duration::from_secs(10)).is_some()
}

#[test]
fn agentphone_transfers_pjsip_blind() {
    let dir = WorkDir::new("xfer-agentphone-pjsip-blind");
    // Bob (PJSIP) answers and is transferred to Carol (agentphone answer).
    let bob_opts = pjsua_options(&dir, "pjsua-bob", TONE_B, true);
    let Some(mut bob) = Pjsua::start(&dir, "pjsua-bob", &bob_opts) else {
        return;
    };
    let carol_port = free_port();
    let carol_uri = format!("sip:carol@127.0.0.1:{carol_port}");
    let mut carol = start_answer(&dir, "carol", carol_port, TONE_C, 1, &["--duration", "4"]);
    let play = tone_arg(TONE_A);
    let mut alice = agentphone::spawn(
        &dir,
        "alice",
        &[
            "call",
            &bob.uri(),
            "--play",
            &play,
            "--transfer-to",
            &carol_uri,
            "--transfer-at",
            "2",
            "--duration",
            "10",
        ],
        &[],
        LIMIT,
    );
    let status = alice.wait(Duration::from_secs(20));
    let carol_status = carol.wait(Duration::from_secs(15));
    let bob_done = finish_pjsua(&mut bob, Duration::from_secs(15));
    let logs = logs(&[&alice, &carol], &mut [&mut bob]);

    assert!(
        status.is_some_and(|s| s.success()),
        "agentphone call --transfer-to should exit 0 ({status:?}):\n{logs}"
    );
    let out = alice.stdout();
    for line in [
        &format!("transferring to {carol_uri}"),
        "transfer accepted (202)",
        "transfer succeeded: SIP/2.0 200 OK",
    ] {
        assert!(
            out.contains(line),
            "agentphone should print `{line}`:\n{logs}"
        );
    }
    assert!(
        carol_status.is_some_and(|s| s.success()) && bob_done,
        "Carol ({carol_status:?}) and PJSIP should end cleanly:\n{logs}"
    );
    let requests = bob.events_of("transfer_request");
    assert!(
        requests.len() == 1
            && requests[0]
                .get("to")
                .is_some_and(|to| to.contains(&format!("carol@127.0.0.1:{carol_port}"))),
        "PJSIP should get one REFER to Carol: {requests:?}\n{logs}"
    );
    assert!(
        bob.events()
            .iter()
            .any(|e| e.is("state", "state", "CONFIRMED") && e.get("role") == Some("referred")),
        "PJSIP's referred call to Carol should be confirmed:\n{logs}"
    );

    let tones = [TONE_A, TONE_B, TONE_C];
    expect_heard_in_order(
        "PJSIP (Bob)",
        &dir.file("pjsua-bob.wav"),
        &tones,
        &[(TONE_A, 1.0), (TONE_C, 2.5)],
        &logs,
    );
    expect_heard_in_order(
        "Carol",
        &recording_of(&dir, "carol"),
        &tones,
        &[(TONE_B, 3.0)],
        &logs,
    );
}

#[test]
fn pjsip_transfers_agentphone_blind() {
    let dir = WorkDir::new("xfer-pjsip-agentphone-blind");
    let bob_port = free_port();
    let carol_port = free_port();
    let carol_uri = format!("sip:carol@127.0.0.1:{carol_port}");
    let mut bob = start_answer(&dir, "bob", bob_port, TONE_B, 1, &["--refer", "accept"]);
    let mut carol = start_answer(&dir, "carol", carol_port, TONE_C, 1, &["--duration", "4"]);
    let mut opts = pjsua_options(&dir, "pjsua-alice", TONE_A, false);
    opts.call = Some(format!("sip:bob@127.0.0.1:{bob_port}"));
    opts.xfer_to = Some(carol_uri.clone());
    opts.xfer_at = Some(Duration::from_secs(2));
    let Some(mut alice) = Pjsua::start(&dir, "pjsua-alice", &opts) else {
        return;
    };
    let alice_done = finish_pjsua(&mut alice, Duration::from_secs(15));
    let bob_status = bob.wait(Duration::from_secs(15));
    let carol_status = carol.wait(Duration::from_secs(10));
    let logs = logs(&[&bob, &carol], &mut [&mut alice]);

    let statuses = alice.events_of("transfer_status");
    let last = statuses.last();
    assert!(
        last.is_some_and(|e| e.get("code") == Some("200") && e.get("final") == Some("true")),
        "PJSIP's last NOTIFY should say 200, final: {statuses:?}\n{logs}"
    );
    assert!(
        alice_done,
        "PJSIP should hang up after the transfer and end:\n{logs}"
    );
    assert!(
        bob_status.is_some_and(|s| s.success()) && carol_status.is_some_and(|s| s.success()),
        "Bob ({bob_status:?}) and Carol ({carol_status:?}) should exit 0:\n{logs}"
    );
    let out = bob.stdout();
    for line in [
        &format!("transfer to {carol_uri} accepted"),
        "referred call answered; the transferred call ends",
    ] {
        assert!(out.contains(line), "Bob should print `{line}`:\n{logs}");
    }

    let tones = [TONE_A, TONE_B, TONE_C];
    // Bob's one recording goes on across the transfer: Alice, then Carol.
    expect_heard_in_order(
        "Bob",
        &recording_of(&dir, "bob"),
        &tones,
        &[(TONE_A, 1.0), (TONE_C, 2.5)],
        &logs,
    );
    // Carol hears Bob's source, carried over to the referred call.
    expect_heard_in_order(
        "Carol",
        &recording_of(&dir, "carol"),
        &tones,
        &[(TONE_B, 3.0)],
        &logs,
    );
}

/// PJSIP Alice calls `bob_uri`, consults `carol_uri` half a second after the
/// answer and at 2.5 s transfers Bob to Carol with Replaces.
fn attended_transferor(dir: &WorkDir, bob_uri: String, carol_uri: String) -> Option<Pjsua> {
    let mut opts = pjsua_options(dir, "pjsua-alice", TONE_A, false);
    opts.call = Some(bob_uri);
    opts.consult = Some(carol_uri);
    opts.consult_at = Some(Duration::from_millis(500));
    opts.xfer_replaces_at = Some(Duration::from_millis(2500));
    Pjsua::start(dir, "pjsua-alice", &opts)
}

/// Checks Alice's side of an attended transfer: the REFER succeeded (last
/// NOTIFY 200, final), she hung up the transferred call, and the target ended
/// the consultation call (it was replaced).
fn expect_attended_transfer_done(alice: &mut Pjsua, logs: &str) {
    let statuses = alice.events_of("transfer_status");
    assert!(
        statuses
            .last()
            .is_some_and(|e| e.get("code") == Some("200") && e.get("final") == Some("true")),
        "PJSIP's last NOTIFY should say 200, final: {statuses:?}\n{logs}"
    );
    assert_eq!(
        alice.events_of("xfer_replaces_sent").len(),
        1,
        "PJSIP should send one REFER with Replaces:\n{logs}"
    );
    let events = alice.events();
    let consult_ended = events
        .iter()
        .any(|e| e.is("state", "state", "DISCONNECTED") && e.get("role") == Some("consult"));
    assert!(
        consult_ended,
        "the consultation call should end (replaced):\n{logs}"
    );
}

#[test]
fn pjsip_attended_transfer_with_agentphone_as_transferee() {
    let dir = WorkDir::new("xfer-attended-agentphone-transferee");
    let bob_port = free_port();
    let mut bob = start_answer(&dir, "bob", bob_port, TONE_B, 1, &["--refer", "accept"]);
    // Carol (PJSIP) is the target: she takes Bob's INVITE with Replaces.
    let carol_opts = pjsua_options(&dir, "pjsua-carol", TONE_C, true);
    let Some(mut carol) = Pjsua::start(&dir, "pjsua-carol", &carol_opts) else {
        return;
    };
    let Some(mut alice) =
        attended_transferor(&dir, format!("sip:bob@127.0.0.1:{bob_port}"), carol.uri())
    else {
        return;
    };
    let replaced = carol.wait_for(|e| e.kind() == "replaced", Duration::from_secs(15));
    if replaced.is_some() {
        // Bob and Carol talk for 3 s, then Carol hangs up.
        std::thread::sleep(Duration::from_secs(3));
    }
    carol.terminate();
    let carol_done = finish_pjsua(&mut carol, Duration::from_secs(10));
    let alice_done = finish_pjsua(&mut alice, Duration::from_secs(10));
    let bob_status = bob.wait(Duration::from_secs(10));
    let logs = logs(&[&bob], &mut [&mut alice, &mut carol]);

    assert!(
        replaced.is_some(),
        "Carol (PJSIP) should take Bob's INVITE with Replaces:\n{logs}"
    );
    expect_attended_transfer_done(&mut alice, &logs);
    let out = bob.stdout();
    for line in [
        "accepted (attended: with Replaces)",
        "referred call answered; the transferred call ends",
    ] {
        assert!(out.contains(line), "Bob should print `{line}`:\n{logs}");
    }
    assert!(
        carol_done && alice_done && bob_status.is_some_and(|s| s.success()),
        "everyone should end cleanly (Bob: {bob_status:?}):\n{logs}"
    );

    let tones = [TONE_A, TONE_B, TONE_C];
    expect_heard_in_order(
        "Bob",
        &recording_of(&dir, "bob"),
        &tones,
        &[(TONE_A, 1.0), (TONE_C, 2.0)],
        &logs,
    );
    expect_heard_in_order(
        "Carol (PJSIP)",
        &dir.file("pjsua-carol.wav"),
        &tones,
        &[(TONE_A, 1.0), (TONE_B, 2.0)],
        &logs,
    );
}

#[test]
fn pjsip_attended_transfer_with_agentphone_as_replaces_target() {
    let dir = WorkDir::new("xfer-attended-agentphone-target");
    // Bob (PJSIP) is transferred to Carol (agentphone answer), who has Alice's
    // consultation call: two calls, the second replacing the first.
    let bob_opts = pjsua_options(&dir, "pjsua-bob", TONE_B, true);
    let Some(mut bob) = Pjsua::start(&dir, "pjsua-bob", &bob_opts) else {
        return;
    };
    let carol_port = free_port();
    // The call that replaces the consultation call carries it on (its audio,
    // its recording) and is counted with it: one call for --max-calls.
    let mut carol = start_answer(&dir, "carol", carol_port, TONE_C, 1, &[]);
    let Some(mut alice) =
        attended_transferor(&dir, bob.uri(), format!("sip:carol@127.0.0.1:{carol_port}"))
    else {
        return;
    };
    let replacing = carol.wait_for_output("replacing call", Duration::from_secs(15));
    if replacing {
        std::thread::sleep(Duration::from_secs(3));
    }
    // Bob hangs up the call he now has with Carol.
    bob.terminate();
    let bob_done = finish_pjsua(&mut bob, Duration::from_secs(10));
    let alice_done = finish_pjsua(&mut alice, Duration::from_secs(10));
    let carol_status = carol.wait(Duration::from_secs(10));
    let logs = logs(&[&carol], &mut [&mut alice, &mut bob]);

    let out = carol.stdout();
    let replaced_line = out
        .lines()
        .find(|l| l.contains("replacing call"))
        .unwrap_or("");
    assert!(
        replacing && replaced_line.contains("answered, replacing call 1 (RFC 3891)"),
        "Carol should print `call 2 from ...: answered, replacing call 1 (RFC 3891)`:\n{logs}"
    );
    assert_eq!(
        call_lines(&out, "replacing call"),
        [2],
        "the INVITE with Replaces is Carol's second call:\n{logs}"
    );
    expect_attended_transfer_done(&mut alice, &logs);
    let requests = bob.events_of("transfer_request");
    assert!(
        requests.len() == 1
            && requests[0]
                .get("to")
                .is_some_and(|to| to.contains("Replaces=")),
        "PJSIP Bob should get one REFER whose Refer-To carries Replaces: {requests:?}\n{logs}"
    );
    assert!(
        bob_done && alice_done && carol_status.is_some_and(|s| s.success()),
        "everyone should end cleanly (Carol: {carol_status:?}):\n{logs}"
    );

    let tones = [TONE_A, TONE_B, TONE_C];
    // Carol's recording of the consultation call goes on with the call that
    // replaced it: Alice, then Bob.
    expect_heard_in_order(
        "Carol",
        &recording_of(&dir, "carol"),
        &tones,
        &[(TONE_A, 1.0), (TONE_B, 2.0)],
        &logs,
    );
    expect_heard_in_order(
        "Bob (PJSIP)",
        &dir.file("pjsua-bob.wav"),
        &tones,
        &[(TONE_A, 1.0), (TONE_C, 2.0)],
        &logs,
    );
}

/// baresip 1.0 answering every call at once, playing `source` (48 kHz mono
/// WAV). Unlike tests/common/baresip.rs it gets two RTP port pairs: a REFER
/// makes baresip place the referred call while the transferred one is still
/// up, and with one pair that call fails with `rtp_listen failed (Address
/// already in use)` and a NOTIFY 500. Its `menu` module takes the REFER
/// (`menu: transferring call ... to ...`). Returns the process and its URI;
/// `None` when baresip is not installed.
fn start_baresip_transferee(dir: &WorkDir, source: &Path) -> Option<(Peer, String)> {
    let program = require_peer("baresip")?;
    // SIP on UDP and TCP at `sip`, TLS at `sip + 1`; RTP/RTCP at rtp..rtp + 3.
    let sip = (0..200)
        .map(|_| free_port())
        .find(|&p| p < u16::MAX && !is_bound(Proto::Tcp, p + 1))
        .expect("no free loopback port pair for baresip's SIP");
    let rtp = (0..200)
        .map(|_| free_port())
        .find(|&p| p % 2 == 0 && p < u16::MAX - 3 && (1..4).all(|i| !is_bound(Proto::Udp, p + i)))
        .expect("no four free loopback ports for baresip's RTP");
    let config_dir = dir.file("baresip-config");
    std::fs::create_dir_all(&config_dir).expect("create baresip config dir");
    let config = format!(
        "# written by tests/transfer.rs\n\
         poll_method\tepoll\n\
         sip_listen\t127.0.0.1:{sip}\n\
         net_interface\t127.0.0.1\n\
         call_local_timeout\t20\n\
         call_max_calls\t4\n\
         audio_player\t\n\
         audio_alert\t\n\
         audio_source\taufile,{source}\n\
         ausrc_srate\t48000\n\
         ausrc_channels\t1\n\
         audio_level\tno\n\
         rtp_ports\t{rtp}-{rtp_last}\n\
         rtcp_mux\tno\n\
         jitter_buffer_delay\t5-10\n\
         module_path\t/usr/lib/baresip/modules\n\
         module\tg711.so\n\
         module\taufile.so\n\
         module_app\taccount.so\n\
         module_app\tmenu.so\n",
        rtp_last = rtp + 3,
        source = agentphone::arg(source),
    );
    std::fs::write(config_dir.join("config"), config).expect("write baresip config");
    std::fs::write(
        config_dir.join("accounts"),
        "<sip:bob@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU/8000/1\n",
    )
    .expect("write baresip accounts");
    let mut peer = Peer::spawn(
        dir,
        Spawn {
            name: "baresip",
            program: &program,
            args: vec!["-f".into(), agentphone::arg(&config_dir).into()],
            env: Vec::new(),
            limit: LIMIT,
        },
    );
    assert!(
        peer.wait_for_output("baresip is ready", Duration::from_secs(10))
            && common::ports::wait_bound(Proto::Udp, sip, Duration::from_secs(5)),
        "baresip did not start:\n{}",
        peer.report()
    );
    Some((peer, format!("sip:bob@127.0.0.1:{sip}")))
}

#[test]
fn baresip_is_the_transferee_of_agentphone() {
    let dir = WorkDir::new("xfer-baresip-transferee");
    let source = dir.file("baresip-tone.wav");
    write_tone_wav(&source, 48_000, &[(TONE_B, TONE_DB)], 30.0);
    let Some((baresip, baresip_uri)) = start_baresip_transferee(&dir, &source) else {
        return;
    };
    let carol_port = free_port();
    let carol_uri = format!("sip:carol@127.0.0.1:{carol_port}");
    let mut carol = start_answer(&dir, "carol", carol_port, TONE_C, 1, &["--duration", "4"]);
    let play = tone_arg(TONE_A);
    let mut alice = agentphone::spawn(
        &dir,
        "alice",
        &[
            "call",
            &baresip_uri,
            "--play",
            &play,
            "--transfer-to",
            &carol_uri,
            "--transfer-at",
            "2",
            "--duration",
            "10",
        ],
        &[],
        LIMIT,
    );
    let status = alice.wait(Duration::from_secs(20));
    let carol_status = carol.wait(Duration::from_secs(15));
    let logs = logs(&[&alice, &carol, &baresip], &mut []);
    assert!(
        status.is_some_and(|s| s.success()) && alice.stdout().contains("transfer succeeded"),
        "agentphone call --transfer-to baresip should succeed ({status:?}):\n{logs}"
    );
    assert!(
        baresip.output().contains(&format!("to '<{carol_uri}>'")),
        "baresip should take the REFER to Carol:\n{logs}"
    );
    assert!(
        carol_status.is_some_and(|s| s.success()),
        "Carol should answer baresip's referred call and end it ({carol_status:?}):\n{logs}"
    );
    expect_heard_in_order(
        "Carol",
        &recording_of(&dir, "carol"),
        &[TONE_A, TONE_B, TONE_C],
        &[(TONE_B, 3.0)],
        &logs,
    );
}

/// SIPp UAS answers, checks agentphone's REFER, answers 202 and sends NOTIFY
/// 100 (active) then 200 (terminated); agentphone must report both, exit 0
/// and send BYE. The scenario fails the call when a check fails.
#[test]
fn sipp_checks_agentphones_refer_and_notify_handling() {
    let Some(sipp) = require_peer("sipp") else {
        return;
    };
    let dir = WorkDir::new("xfer-sipp-refer");
    let port = free_port();
    let mut uas = SippCmd::uas("sipp_uas", Scenario::File("uas_refer_check.xml"), port)
        .args(&["-m", "1"])
        .media_on_loopback()
        .limit(Duration::from_secs(20))
        .start(&sipp, &dir);
    // The target is never called by SIPp: its port only has to be well formed.
    let target = format!("sip:xfer-target@127.0.0.1:{}", free_port());
    let mut phone = agentphone::spawn(
        &dir,
        "agentphone",
        &[
            "call",
            &format!("sip:bob@127.0.0.1:{port}"),
            "--transfer-to",
            &target,
            "--transfer-at",
            "1",
            "--duration",
            "8",
        ],
        &[],
        Duration::from_secs(30),
    );
    let status = phone.wait(Duration::from_secs(20));
    let result = uas.finish(Duration::from_secs(10));
    result.assert_all_succeeded(1, &phone.report());
    assert!(
        status.is_some_and(|s| s.success()),
        "agentphone call failed ({status:?}):\n{}\n{}",
        phone.report(),
        result.report
    );
    let out = phone.stdout();
    let lines = [
        "transfer accepted (202)",
        "transfer: SIP/2.0 100 Trying",
        "transfer succeeded: SIP/2.0 200 OK",
    ];
    let at: Vec<Option<usize>> = lines.iter().map(|l| out.find(l)).collect();
    assert!(
        at.iter().all(Option::is_some) && at.windows(2).all(|w| w[0] < w[1]),
        "agentphone should print {lines:?} in order:\n{}",
        phone.report()
    );
    // It hung up at once after the final NOTIFY, not at --duration.
    assert!(
        phone.elapsed() < Duration::from_secs(7),
        "agentphone should hang up after the transfer, took {:?}:\n{}",
        phone.elapsed(),
        phone.report()
    );
}

/// `agentphone answer` takes a SIPp call, then (after BYE) two INVITEs with
/// Replaces: one naming no dialog (481), one naming the ended call (603).
#[test]
fn sipp_replaces_of_no_dialog_gets_481_and_of_an_ended_one_603() {
    sipp_against_answer("xfer-sipp-replaces", "uac_replaces_unknown.xml");
}

/// A NOTIFY in a call with an `Event: refer;id=` agentphone never sent a REFER
/// for gets 481, and the call goes on (the BYE after it gets 200).
#[test]
fn sipp_notify_for_an_unknown_refer_gets_481() {
    sipp_against_answer("xfer-sipp-notify", "uac_notify_unknown.xml");
}

/// Runs the SIPp UAC `scenario` (one call) against `agentphone answer`; the
/// scenario itself fails on a wrong final response.
fn sipp_against_answer(test: &str, scenario: &'static str) {
    let Some(sipp) = require_peer("sipp") else {
        return;
    };
    let dir = WorkDir::new(test);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut phone = agentphone::spawn(
        &dir,
        "agentphone_answer",
        &["answer", "--listen", &listen],
        &[],
        Duration::from_secs(30),
    );
    assert!(
        phone.wait_for_output("listening on", Duration::from_secs(10)),
        "agentphone answer did not start:\n{}",
        phone.report()
    );
    let started = Instant::now();
    let mut uac = SippCmd::uac("sipp_uac", Scenario::File(scenario), &listen, free_port())
        .args(&["-s", "bob", "-m", "1"])
        .media_on_loopback()
        .limit(Duration::from_secs(20))
        .start(&sipp, &dir);
    let result = uac.finish(Duration::from_secs(25));
    eprintln!("{test}: SIPp done in {:?}", started.elapsed());
    phone.terminate();
    let status = phone.wait(Duration::from_secs(10));
    result.assert_all_succeeded(1, &phone.report());
    assert!(
        status.is_some_and(|s| s.success()),
        "agentphone answer should exit 0 on SIGTERM ({status:?}):\n{}",
        phone.report()
    );
    let answered = call_lines(&phone.stdout(), ": answered");
    assert_eq!(
        answered,
        [1],
        "only SIPp's first INVITE is answered:\n{}",
        phone.report()
    );
}
