//! Interop with Kamailio as registrar and authenticating proxy, once with MD5 and
//! once with SHA-256 digest challenges: `agentphone register` with the right and a
//! wrong password, and two agentphone endpoints calling each other through the
//! proxy (INVITE challenged with 407).
//!
//! Needs `kamailio` (and `sipp` for the fixture check; `bash scripts/install-peers.sh`).
//! Run with `cargo test --test kamailio`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::agentphone::{self, arg, Account};
use common::kamailio::{Algorithm, Kamailio, DOMAIN};
use common::ports::free_port;
use common::process::{call_lines, Peer};
use common::raw_register;
use common::sipp::{Scenario, SippCmd};
use common::{require_peer, WorkDir};

const SECOND: Duration = Duration::from_secs(1);
const ALICE_PW: &str = "AGENTPHONE_TEST_PW_ALICE";
const BOB_PW: &str = "AGENTPHONE_TEST_PW_BOB";

/// A Kamailio instance and an agentphone config with accounts alice and bob on it.
struct Setup {
    kamailio: Kamailio,
    config: PathBuf,
    // Last: dropped after the peers, so their logs are still there when kept.
    dir: WorkDir,
}

fn setup(test: &str, algorithm: Algorithm, transport: &str) -> Option<Setup> {
    let bin = require_peer("kamailio")?;
    let dir = WorkDir::new(test);
    let kamailio = Kamailio::start(&bin, &dir, algorithm);
    let registrar = kamailio.address();
    let account = |name, password_env| Account {
        name,
        registrar: &registrar,
        domain: DOMAIN,
        password_env,
        transport,
    };
    let config =
        agentphone::write_config(&dir, &[account("alice", ALICE_PW), account("bob", BOB_PW)]);
    Some(Setup {
        kamailio,
        config,
        dir,
    })
}

/// `agentphone register --account alice --duration SECS` with `password`.
fn register_alice(s: &Setup, secs: &str, password: &str) -> Peer {
    agentphone::spawn(
        &s.dir,
        "agentphone_register",
        &[
            "register",
            "--config",
            arg(&s.config),
            "--account",
            "alice",
            "--duration",
            secs,
            "--listen",
            "127.0.0.1:0",
        ],
        &[(ALICE_PW, password)],
        30 * SECOND,
    )
}

fn register_with_right_password(algorithm: Algorithm, transport: &str) {
    let test = format!("register_ok_{}_{transport}", algorithm.name());
    let Some(s) = setup(&test, algorithm, transport) else {
        return;
    };
    let password = s.kamailio.password().to_string();
    let mut reg = register_alice(&s, "2", &password);
    let status = reg.wait(20 * SECOND);
    let out = reg.output();
    let context = format!("{}\n{}", reg.report(), s.kamailio.report());
    assert!(
        status.is_some_and(|st| st.success()),
        "agentphone register should exit 0 after --duration 2, got {status:?}\n{context}"
    );
    let registered = out.find(&format!("registered alice@{DOMAIN} -> "));
    let unregistered = out.find("unregistered");
    assert!(
        registered.is_some() && out.contains("expires in"),
        "expected `registered alice@{DOMAIN} -> <contact>, expires in N s`\n{context}"
    );
    assert!(
        unregistered > registered,
        "expected `unregistered` after the registration\n{context}"
    );
    assert!(
        s.kamailio.challenges("REGISTER") >= 1,
        "the registrar never challenged: digest auth was not exercised\n{context}"
    );
}

fn register_with_wrong_password(algorithm: Algorithm) {
    let test = format!("register_wrong_{}", algorithm.name());
    let Some(s) = setup(&test, algorithm, "udp") else {
        return;
    };
    let mut reg = register_alice(&s, "10", "not-the-password");
    let status = reg.wait(10 * SECOND);
    let elapsed = reg.elapsed();
    let context = format!("{}\n{}", reg.report(), s.kamailio.report());
    assert!(
        status.is_some_and(|st| !st.success()),
        "agentphone register with a wrong password should exit non-zero, got {status:?}\n{context}"
    );
    assert!(
        elapsed < 5 * SECOND,
        "refusal took {elapsed:?}: it should fail at once, not retry\n{context}"
    );
    let stderr = reg.stderr();
    assert!(
        stderr.contains("registration failed") && stderr.contains("wrong user or password"),
        "stderr should say `registration failed: ... wrong user or password`\n{context}"
    );
    assert!(!reg.stdout().contains("registered alice@"), "{context}");
    // One unauthenticated try and one with credentials; a loop would show many.
    let challenges = s.kamailio.challenges("REGISTER");
    assert!(
        (1..=3).contains(&challenges),
        "expected 1-3 REGISTER challenges, saw {challenges}\n{context}"
    );
}

fn call_through_proxy(algorithm: Algorithm) {
    let test = format!("call_proxy_{}", algorithm.name());
    let Some(s) = setup(&test, algorithm, "udp") else {
        return;
    };
    let password = s.kamailio.password();
    // Neither side gets --listen: as agents run it, each binds the address
    // that reaches the registrar and tells the proxy by registering.
    let mut bob = agentphone::spawn(
        &s.dir,
        "agentphone_bob_answer",
        &[
            "answer",
            "--config",
            arg(&s.config),
            "--account",
            "bob",
            "--max-calls",
            "1",
        ],
        &[(BOB_PW, password)],
        60 * SECOND,
    );
    assert!(
        bob.wait_for_output("registered ", 15 * SECOND),
        "bob did not register\n{}\n{}",
        bob.report(),
        s.kamailio.report()
    );
    let target = format!("sip:bob@{DOMAIN}");
    let call_args = [
        "call",
        &target,
        "--config",
        arg(&s.config),
        "--account",
        "alice",
        "--duration",
        "1",
    ];
    let mut alice = agentphone::spawn(
        &s.dir,
        "agentphone_alice_call",
        &call_args,
        &[(ALICE_PW, password)],
        40 * SECOND,
    );
    let alice_status = alice.wait(30 * SECOND);
    let bob_status = bob.wait(15 * SECOND);
    let context = format!(
        "{}\n{}\n{}",
        alice.report(),
        bob.report(),
        s.kamailio.report()
    );
    assert!(
        alice_status.is_some_and(|st| st.success()),
        "alice's call through the proxy should exit 0, got {alice_status:?}\n{context}"
    );
    assert!(
        bob_status.is_some_and(|st| st.success()),
        "bob (answer --max-calls 1) should exit 0 after the call, got {bob_status:?}\n{context}"
    );
    let bob_out = bob.output();
    assert_eq!(call_lines(&bob_out, ": answered"), [1], "{context}");
    assert_eq!(call_lines(&bob_out, " ended:"), [1], "{context}");
    assert!(
        s.kamailio.challenges("INVITE") >= 1,
        "the proxy never challenged the INVITE: 407 auth not exercised\n{context}"
    );

    // Bob unregistered on exit, so the proxy no longer finds him.
    let mut again = agentphone::spawn(
        &s.dir,
        "agentphone_alice_again",
        &call_args,
        &[(ALICE_PW, password)],
        30 * SECOND,
    );
    let status = again.wait(20 * SECOND);
    assert!(
        status.is_some_and(|st| !st.success()) && again.stderr().contains("404"),
        "a call to unregistered bob should fail with 404, got {status:?}\n{}\n{}",
        again.report(),
        s.kamailio.report()
    );
}

#[test]
fn register_md5_right_password_registers_and_unregisters() {
    register_with_right_password(Algorithm::Md5, "udp");
}

#[test]
fn register_sha256_right_password_registers_and_unregisters() {
    register_with_right_password(Algorithm::Sha256, "udp");
}

#[test]
fn register_md5_over_tcp_registers_and_unregisters() {
    register_with_right_password(Algorithm::Md5, "tcp");
}

#[test]
fn register_md5_wrong_password_fails_fast() {
    register_with_wrong_password(Algorithm::Md5);
}

#[test]
fn register_sha256_wrong_password_fails_fast() {
    register_with_wrong_password(Algorithm::Sha256);
}

#[test]
fn call_through_md5_proxy_with_invite_auth() {
    call_through_proxy(Algorithm::Md5);
}

#[test]
fn call_through_sha256_proxy_with_invite_auth() {
    call_through_proxy(Algorithm::Sha256);
}

/// The fixture itself, with SIPp as both endpoints (SIPp 3.6 digests are MD5 only):
/// when this fails the Kamailio config or the harness is broken, not agentphone.
#[test]
fn harness_kamailio_md5_serves_sipp_register_and_call() {
    let (Some(sipp), Some(_)) = (require_peer("sipp"), require_peer("kamailio")) else {
        return;
    };
    let Some(s) = setup("harness_kamailio", Algorithm::Md5, "udp") else {
        return;
    };
    let proxy = s.kamailio.address();
    let password = s.kamailio.password().to_string();
    let uas_port = free_port();
    let mut bob_uas = SippCmd::uas("bob_uas", Scenario::File("uas_ringing.xml"), uas_port)
        .args(&["-m", "1"])
        .start(&sipp, &s.dir);
    let register = |name: &str, pw: &str| {
        let contact_port = uas_port.to_string();
        SippCmd::uac(
            name,
            Scenario::File("register_auth.xml"),
            &proxy,
            free_port(),
        )
        .args(&[
            "-m",
            "1",
            "-s",
            "bob",
            "-au",
            "bob",
            "-ap",
            pw,
            "-auth_uri",
            DOMAIN,
            "-key",
            "domain",
            DOMAIN,
            "-key",
            "expires",
            "60",
            "-key",
            "contact_port",
            &contact_port,
        ])
        .limit(10 * SECOND)
        .start(&sipp, &s.dir)
        .finish(15 * SECOND)
    };
    let wrong = register("register_wrong", "wrong");
    assert!(
        wrong.status.is_some_and(|st| !st.success()),
        "a wrong password must not register\n{}",
        wrong.report
    );
    register("register_bob", &password).assert_all_succeeded(1, &s.kamailio.report());
    SippCmd::uac(
        "alice_uac",
        Scenario::File("uac_auth.xml"),
        &proxy,
        free_port(),
    )
    .args(&[
        "-m",
        "1",
        "-s",
        "bob",
        "-au",
        "alice",
        "-ap",
        &password,
        "-auth_uri",
        DOMAIN,
        "-key",
        "domain",
        DOMAIN,
        "-key",
        "caller",
        "alice",
        "-d",
        "300",
    ])
    .limit(20 * SECOND)
    .start(&sipp, &s.dir)
    .finish(25 * SECOND)
    .assert_all_succeeded(1, &s.kamailio.report());
    bob_uas
        .finish(5 * SECOND)
        .assert_all_succeeded(1, &s.kamailio.report());
    assert!(
        s.kamailio.challenges("INVITE") >= 1,
        "{}",
        s.kamailio.report()
    );
}

/// The fixture's digest check for both algorithms, with a raw client hashing via
/// coreutils: right password 401 then 200, wrong password 401 then 401.
fn fixture_digest_check(algorithm: Algorithm) {
    let test = format!("harness_digest_{}", algorithm.name());
    let Some(s) = setup(&test, algorithm, "udp") else {
        return;
    };
    let port = s.kamailio.port();
    let right = raw_register::register(port, "alice", DOMAIN, s.kamailio.password(), algorithm);
    let wrong = raw_register::register(port, "bob", DOMAIN, "wrong", algorithm);
    let expected = |answer| raw_register::Outcome {
        challenge: 401,
        answer,
        algorithm: algorithm.name().to_string(),
    };
    assert_eq!(right, expected(200), "{}", s.kamailio.report());
    assert_eq!(wrong, expected(401), "{}", s.kamailio.report());
}

#[test]
fn harness_kamailio_md5_digest_check() {
    fixture_digest_check(Algorithm::Md5);
}

#[test]
fn harness_kamailio_sha256_digest_check() {
    fixture_digest_check(Algorithm::Sha256);
}
