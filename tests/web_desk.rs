//! The web desk in a real headless Chromium (Debian's, driven by Playwright
//! for Python: `tests/web/desk.py`) against `agentphone run` and real SIP
//! peers, all on loopback.
//!
//! - Kamailio as the PBX: the agent, the customer (`agentphone call` with
//!   X-CAD-* headers, from a number the desk masks) and the consultee
//!   (`agentphone answer`, reached by its number) register there. The page
//!   shows the offer with its variables and the masked number, accepts, holds
//!   (the customer receives `a=sendonly`), refuses a forced hang-up while
//!   held (R-HOLD-3), consults a number typed with spaces and dashes,
//!   conferences, leaves and wraps up;
//! - without a PBX: a wrong token is refused, the one-time link works once,
//!   a baresip call rings out (480, idle with the choice offered), and an
//!   `agentphone call` through a relay is answered from the keyboard, its
//!   recording paused with the countdown shown and resumed, and raises the
//!   quality warning once the relay drops 10 % of its packets.
//!
//! The script prints `STEP NAME` where it needs this side (start a caller,
//! check the wire, impair the relay) and waits for `GO`. The conference
//! screenshot goes to the test's directory, or to `docs/desk-conference.png`
//! with `AGENTPHONE_UPDATE_SCREENSHOT=1`.
//!
//! Needs chromium, python3-playwright, Kamailio and baresip
//! (a missing one fails under `CI=true`). `cargo test --test web_desk`.

mod common;

use common::desk::{agent_state, calls, Desk};
use common::kamailio::{Algorithm, Kamailio, DOMAIN};
use common::process::Peer;
use common::relay::{Impairment, Relay};
use common::{agentphone, peers_required, repo_root, WorkDir};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const LIMIT: Duration = Duration::from_secs(150);
/// The whole browser script, however it goes.
const SCRIPT_LIMIT: Duration = Duration::from_secs(120);
const CHROMIUM: &str = "/usr/bin/chromium";

/// Real-time processes on a small machine: one scenario at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Chromium and Playwright, or a skip (a failure when peers are required).
fn browser_available() -> bool {
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if Path::new(CHROMIUM).is_file() && playwright {
        return true;
    }
    let hint = "the web desk tests need Debian's chromium and Playwright for Python; \
                run `bash scripts/install-peers.sh`";
    if peers_required() {
        panic!("{hint}: a missing peer fails the run (CI=true or AGENTPHONE_REQUIRE_PEERS=1)");
    }
    eprintln!("\n********** SKIP: {hint} **********\n");
    false
}

/// The `desk: URL` line `agentphone run` printed.
fn desk_url(desk: &Desk) -> String {
    let out = desk.peer.output();
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("desk: http://"))
        .unwrap_or_else(|| panic!("run printed no desk URL:\n{}", desk.peer.report()));
    let url = format!("http://{}", line.split_whitespace().next().unwrap_or(""));
    assert!(
        url.starts_with(&desk.api) && url.contains("/#login="),
        "the desk URL is the API address with a one-time login code: {url}"
    );
    url
}

/// What the browser script did.
struct ScriptRun {
    passed: bool,
    /// Its stdout and stderr, for failure messages.
    log: String,
    /// The steps it reached.
    steps: Vec<String>,
}

/// Runs `tests/web/desk.py ARGS`, answering each `STEP` with `on_step`'s
/// verdict (`GO`, or `FAIL` with the message, which ends the script).
fn run_script(
    dir: &WorkDir,
    args: &[&str],
    mut on_step: impl FnMut(&str) -> Result<(), String>,
) -> ScriptRun {
    let script = repo_root().join("tests/web/desk.py");
    let stderr_path = dir.file("desk-py.stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("create script log");
    let mut child = Command::new("timeout")
        .args(["-k", "5", &SCRIPT_LIMIT.as_secs().to_string(), "python3"])
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start python3 tests/web/desk.py");
    let mut stdin = child.stdin.take().expect("script stdin");
    let stdout = child.stdout.take().expect("script stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + SCRIPT_LIMIT + 10 * SECOND;
    let mut out = String::new();
    let mut steps = Vec::new();
    let mut passed = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            break;
        };
        out.push_str(&line);
        out.push('\n');
        if line == "PASSED" {
            passed = true;
        }
        if let Some(step) = line.strip_prefix("STEP ") {
            steps.push(step.to_owned());
            let answer = match on_step(step) {
                Ok(()) => "GO".to_owned(),
                Err(e) => {
                    out.push_str(&format!("harness: step {step} failed: {e}\n"));
                    format!("FAIL {}", e.replace('\n', " "))
                }
            };
            let _ = writeln!(stdin, "{answer}");
            let _ = stdin.flush();
        }
    }
    let status = child.wait().expect("wait for the script");
    let log = format!(
        "--- desk.py ({status}) stdout:\n{out}--- desk.py stderr:\n{}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    ScriptRun {
        passed: passed && status.success(),
        log,
        steps,
    }
}

/// The SIP messages a `-v` peer logged as received, whole.
fn received(peer: &Peer) -> Vec<String> {
    let log = peer.output();
    log.split("received from ")
        .skip(1)
        .filter_map(|m| m.split_once('\n').map(|(_, rest)| rest))
        .map(|m| m.split("sent to ").next().unwrap_or(m).to_owned())
        .collect()
}

/// Where the conference screenshot goes.
fn screenshot_path(dir: &WorkDir) -> PathBuf {
    if std::env::var("AGENTPHONE_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        repo_root().join("docs/desk-conference.png")
    } else {
        dir.file("desk-conference.png")
    }
}

#[test]
fn web_desk_offer_hold_consult_conference_leave_and_wrap_up() {
    let _one = serial();
    if !browser_available() {
        return;
    }
    let Some(program) = common::require_peer("kamailio") else {
        return;
    };
    let dir = WorkDir::new("web-desk-call");
    let kamailio = Kamailio::start(&program, &dir, Algorithm::Md5);
    let password = kamailio.password().to_owned();
    let account = |name: &str, user: &str| {
        format!(
            "[accounts.{name}]\nuser = \"{user}\"\nregistrar = \"{}\"\ndomain = \"{DOMAIN}\"\n\
             password_env = \"PBX_PW\"\n\n",
            kamailio.address()
        )
    };
    let config = format!(
        "{}{}{}[desk]\nring_timeout_s = 30\nsensitive_data = true\n\
         wrapup_reasons = [\"Sale\", \"No sale\", \"Resolved\"]\n\
         [[desk.variables]]\nheader = \"X-CAD-Account\"\nlabel = \"Account\"\n\
         [[desk.variables]]\nheader = \"X-CAD-Queue\"\nlabel = \"Queue\"\n\
         [[desk.variables]]\nheader = \"X-CAD-Segment\"\nlabel = \"Segment\"\n\
         [[desk.variables]]\nheader = \"X-CAD-Pin\"\nlabel = \"Pin\"\nsecure = true\n",
        account("agent", "agent"),
        account("customer", "+33142868642"),
        account("consultee", "+12015550123"),
    );
    let env = [("PBX_PW", password.as_str())];
    let mut desk = Desk::start_with(
        &dir,
        "agent",
        &config,
        &["--account", "agent", "--play", "tone:1069", "-v"],
        &env,
    );
    assert!(
        desk.peer.wait_for_output("registered ", 15 * SECOND),
        "the desk did not register:\n{}\n{}",
        desk.peer.report(),
        kamailio.report()
    );
    let cfg = agentphone::arg(&desk.config).to_owned();
    let mut consultee = agentphone::spawn(
        &dir,
        "consultee",
        &[
            "--config",
            &cfg,
            "answer",
            "--account",
            "consultee",
            "--max-calls",
            "1",
            "--play",
            "tone:1791",
        ],
        &env,
        LIMIT,
    );
    assert!(
        consultee.wait_for_output("registered ", 15 * SECOND),
        "the consultee did not register:\n{}\n{}",
        consultee.report(),
        kamailio.report()
    );
    let url = desk_url(&desk);
    let shot = screenshot_path(&dir);
    let failure_shot = dir.file("failure.png");
    let mut customer: Option<Peer> = None;
    let run = run_script(
        &dir,
        &[
            "call",
            "--url",
            &url,
            "--screenshot",
            agentphone::arg(&shot),
            "--failure-shot",
            agentphone::arg(&failure_shot),
        ],
        |step| match step {
            "call-me" => {
                let target = format!("sip:agent@{DOMAIN}");
                customer = Some(agentphone::spawn(
                    &dir,
                    "customer",
                    &[
                        "--config",
                        &cfg,
                        "call",
                        &target,
                        "--account",
                        "customer",
                        "--header",
                        "X-CAD-Account:AC-20931",
                        "--header",
                        "X-CAD-Queue:Billing",
                        "--header",
                        "X-CAD-Segment:Gold",
                        "--header",
                        "X-CAD-Pin:4711",
                        "--duration",
                        "100",
                        "--play",
                        "tone:1463",
                        "-v",
                    ],
                    &env,
                    LIMIT,
                ));
                Ok(())
            }
            "held" => {
                // On the wire: the customer received a re-INVITE that holds it.
                let customer = customer.as_ref().ok_or("no customer")?;
                let deadline = Instant::now() + 5 * SECOND;
                loop {
                    let holds = received(customer)
                        .iter()
                        .filter(|m| m.starts_with("INVITE ") && m.contains("a=sendonly"))
                        .count();
                    if holds == 1 {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(format!("the customer received {holds} sendonly re-INVITEs"));
                    }
                    std::thread::sleep(SECOND / 10);
                }
                let status = desk.status();
                match calls(&status).first() {
                    Some(c) if c["state"] == "held" => Ok(()),
                    _ => Err(format!("the desk should still hold the call: {status}")),
                }
            }
            "done" => {
                let status = desk.status();
                if agent_state(&status) != "available" {
                    return Err(format!("the agent is not available: {status}"));
                }
                Ok(())
            }
            other => Err(format!("unknown step {other}")),
        },
    );
    let mut logs = format!(
        "{}\n{}\n{}",
        run.log,
        desk.peer.report(),
        consultee.report()
    );
    if let Some(c) = &customer {
        logs.push('\n');
        logs.push_str(&c.report());
    }
    assert!(run.passed, "the browser test failed:\n{logs}");
    assert_eq!(run.steps, ["call-me", "held", "done"], "{logs}");
    // The number typed with spaces and dashes went out cleaned (R-CONS-3),
    // through the PBX to the consultee's registration.
    let invites = desk.peer.sent_requests("INVITE");
    assert!(
        invites
            .iter()
            .any(|m| m.starts_with(&format!("INVITE sip:+12015550123@{DOMAIN} "))),
        "the consult INVITE should ask for sip:+12015550123@{DOMAIN}:\n{logs}"
    );
    assert!(
        consultee.output().contains("answered"),
        "the consultee answered the consult:\n{logs}"
    );
    assert!(
        shot.is_file() && std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 10_000,
        "a screenshot of the conference at {}",
        shot.display()
    );
    desk.peer.terminate();
    let _ = desk.peer.wait(10 * SECOND);
    let _ = consultee.wait(10 * SECOND);
}

#[test]
fn web_desk_wrong_token_ring_timeout_and_quality_warning() {
    use common::baresip::{Baresip, Codec, Options as BaresipOptions};
    let _one = serial();
    if !browser_available() {
        return;
    }
    let dir = WorkDir::new("web-desk-edges");
    let recordings = dir.file("recordings");
    let desk = Desk::start(
        &dir,
        "agent",
        &format!(
            "[desk]\nring_timeout_s = 3\nrecord = true\nrecord_pause_max_s = 30\n\
             record_dir = \"{}\"\n",
            agentphone::arg(&recordings)
        ),
        &["--play", "tone:1069", "-v"],
    );
    let token = std::fs::read_to_string(dir.file("agent.token")).expect("the run's token file");
    let url = desk_url(&desk);
    let source = dir.file("caller-tone.wav");
    common::audio::write_tone_wav(&source, 48_000, &[(1463.0, -12.0)], 30.0);
    let mut ringer: Option<Baresip> = None;
    let mut quality_caller: Option<Peer> = None;
    let mut relay: Option<Relay> = None;
    let failure_shot = dir.file("failure.png");
    let run = run_script(
        &dir,
        &[
            "edges",
            "--url",
            &url,
            "--token",
            token.trim(),
            "--failure-shot",
            agentphone::arg(&failure_shot),
        ],
        |step| match step {
            "ring" => {
                let opts = BaresipOptions {
                    user: "ringer",
                    codec: Codec::Pcmu,
                    source: &source,
                    auto_answer: false,
                    limit: LIMIT,
                };
                let mut b = Baresip::start(&dir, "ringer", &opts).ok_or("no baresip")?;
                b.dial(&desk.uri());
                ringer = Some(b);
                Ok(())
            }
            "rang" => {
                // R-OFFER-2: the ring timeout released the call with 480.
                let b = ringer.as_mut().ok_or("no baresip")?;
                let closed = b.wait_event("CALL_CLOSED", 5 * SECOND);
                if !closed.contains("480") {
                    return Err(format!("baresip's call should end with 480: {closed}"));
                }
                let status = desk.status();
                if agent_state(&status) != "available" {
                    return Err(format!("the page made the agent available: {status}"));
                }
                Ok(())
            }
            "quality-call" => {
                let desk_sip = format!("127.0.0.1:{}", desk.sip_port)
                    .parse()
                    .map_err(|e| format!("{e}"))?;
                let r = Relay::start(desk_sip, Impairment::none(), LIMIT);
                // agentphone: it sends no in-dialog SDP (PJSIP's UPDATE would
                // take the media past the relay).
                let target = format!("sip:agent@{}", r.sip_addr());
                quality_caller = Some(agentphone::spawn(
                    &dir,
                    "customer",
                    &["call", &target, "--play", "tone:1463", "--duration", "100"],
                    &[],
                    LIMIT,
                ));
                relay = Some(r);
                Ok(())
            }
            "loss" => {
                let r = relay.as_ref().ok_or("no relay")?;
                r.set_loss(0.10);
                Ok(())
            }
            "done" => {
                let r = relay.as_ref().ok_or("no relay")?;
                let to_desk = r.stats().to_callee;
                if to_desk.dropped == 0 || to_desk.forwarded < 200 {
                    return Err(format!(
                        "the relay carried the call and dropped some: {to_desk:?}"
                    ));
                }
                let status = desk.status();
                if !calls(&status).is_empty() {
                    return Err(format!("the call should be over: {status}"));
                }
                Ok(())
            }
            other => Err(format!("unknown step {other}")),
        },
    );
    let mut logs = format!("{}\n{}", run.log, desk.peer.report());
    if let Some(b) = &ringer {
        logs.push('\n');
        logs.push_str(&b.report());
    }
    if let Some(p) = &quality_caller {
        logs.push('\n');
        logs.push_str(&p.report());
    }
    assert!(run.passed, "the browser test failed:\n{logs}");
    assert_eq!(
        run.steps,
        ["ring", "rang", "quality-call", "loss", "done"],
        "{logs}"
    );
    let status = desk.status();
    assert_eq!(agent_state(&status), "available", "{logs}");
}
