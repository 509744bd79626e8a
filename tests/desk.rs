//! `agentphone run`, the agent's phone, end to end on loopback: driven by
//! `agentphone ctl` against its control API, with real peers as customers,
//! consultees and conference parties.
//!
//! - baresip as the customer: offer, accept, hold (`a=sendonly` on the wire),
//!   a refused hang-up while held (R-HOLD-3), resume, blind transfer to a
//!   second baresip, wrap-up;
//! - PJSIP as a held customer hears the music on hold and none of the agent;
//! - PJSIP as customer and consultee: consult, toggle, attended transfer (REFER
//!   with Replaces, which PJSIP completes), then the customer reaches the
//!   consultee;
//! - a conference of eight built by consult-and-merge (PJSIP customer,
//!   `agentphone answer` parties): everyone hears every other and not itself,
//!   the ninth is refused (R-CONF-2), the agent leaves and the others go on;
//! - a REFER from the customer (PJSIP) waits for the agent (policy `ask`) and is
//!   followed when the agent accepts it;
//! - ring timeout: 480 on the wire, the agent goes idle (R-OFFER-2);
//! - the API refuses a request without its token;
//! - recording (R-REC-1/2): the call's room to a WAV, a paused stretch left out;
//! - SIGTERM with a ringing offer, a held call and a registration (Kamailio)
//!   ends all three cleanly (R-OFFER-3).
//!
//! Every party plays its own tone and records what it hears; recordings are
//! measured in 250 ms blocks (tests/common/tones.rs). The tones are the
//! conference test's set (tests/conference.rs explains why G.711 distortion of
//! some cannot fake another).
//!
//! Needs baresip, PJSIP's pjsua2 module and Kamailio (a missing one fails
//! under `CI=true`). `cargo test --test desk`.

mod common;

use common::audio::write_tone_wav;
use common::desk::{agent_state, call, calls, first_offer, state_of, Desk};
use common::pjsua::{Options, Pjsua, Source};
use common::process::Peer;
use common::tones::{expect_heard_in_order, expect_sets_in_order};
use common::{agentphone, ports::free_port, WorkDir};
use serde_json::Value;
use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::Duration;

/// Tones, Hz: the agent's first, then customer, consultees, music on hold.
const TONES: [f64; 9] = [
    1069.0, 1463.0, 1791.0, 2001.0, 2291.0, 2469.0, 2701.0, 2891.0, 613.0,
];
const AGENT: f64 = TONES[0];
const CUSTOMER: f64 = TONES[1];
const CONSULTEE: f64 = TONES[2];
const MUSIC: f64 = TONES[8];
const TONE_DB: f64 = -12.0;
const LIMIT: Duration = Duration::from_secs(90);
const SECOND: Duration = Duration::from_secs(1);

/// The tests run many real-time processes on a small machine: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn tone_arg(hz: f64) -> String {
    format!("tone:{hz}")
}

/// The agent's desk playing the agent tone, with `-v` so every SIP message
/// it sends is in its log.
fn start_desk(dir: &WorkDir, desk_toml: &str) -> Desk {
    let play = tone_arg(AGENT);
    Desk::start(dir, "agent", desk_toml, &["--play", &play, "-v"])
}

/// Waits for an offer and accepts it; returns its call id once connected.
fn accept_offer(desk: &Desk) -> u64 {
    let status = desk.wait("an offer rings", 15 * SECOND, |s| first_offer(s).is_some());
    let id = first_offer(&status).expect("offer id");
    desk.ok(&["answer"]);
    desk.wait("the call is connected", 10 * SECOND, |s| {
        state_of(s, id) == "connected"
    });
    id
}

fn call_id(reply: &Value) -> u64 {
    reply["call"]
        .as_u64()
        .unwrap_or_else(|| panic!("no call id in {reply}"))
}

/// `agentphone answer` on a fresh port playing `tone`, recording what it
/// hears into `NAME-recordings/`, for one call.
fn start_party(dir: &WorkDir, name: &str, tone: f64) -> (Peer, String) {
    let port = free_port();
    let record_dir = dir.file(&format!("{name}-recordings"));
    let play = tone_arg(tone);
    let peer = agentphone::answer_one(
        dir,
        name,
        &format!("127.0.0.1:{port}"),
        &[
            "--play",
            &play,
            "--record-dir",
            agentphone::arg(&record_dir),
        ],
        LIMIT,
    );
    (peer, format!("sip:{name}@127.0.0.1:{port}"))
}

fn pjsua(dir: &WorkDir, name: &str, tone: f64, call: Option<&str>) -> Option<Pjsua> {
    let mut opts = Options::answer(free_port(), &dir.file(&format!("{name}.wav")));
    opts.call = call.map(str::to_owned);
    opts.source = Source::Tone(tone);
    opts.limit = LIMIT;
    Pjsua::start(dir, name, &opts)
}

fn finish_pjsua(p: &mut Pjsua) -> bool {
    let ended = p.wait_for(|e| e.kind() == "ended", 15 * SECOND).is_some();
    ended && p.wait_exit(10 * SECOND).is_some()
}

fn report(desk: &Desk, others: &[&Peer], pjsua: &mut [&mut Pjsua]) -> String {
    let mut text = desk.peer.report();
    for p in others {
        text.push('\n');
        text.push_str(&p.report());
    }
    for p in pjsua.iter_mut() {
        text.push('\n');
        text.push_str(&p.report());
        for e in p.events() {
            text.push_str(&e.line);
            text.push('\n');
        }
    }
    text
}

#[test]
fn baresip_customer_is_answered_held_resumed_and_blind_transferred() {
    use common::baresip::{Baresip, Codec, Options as BaresipOptions};
    let _one = serial();
    let dir = WorkDir::new("desk-baresip");
    let source = dir.file("customer-tone.wav");
    write_tone_wav(&source, 48_000, &[(CUSTOMER, TONE_DB)], 40.0);
    let options = |user, auto_answer| BaresipOptions {
        user,
        codec: Codec::Pcmu,
        source: &source,
        auto_answer,
        limit: LIMIT,
    };
    let Some(mut customer) = Baresip::start(&dir, "customer", &options("customer", false)) else {
        return;
    };
    let Some(mut target) = Baresip::start(&dir, "target", &options("target", true)) else {
        return;
    };
    let desk = start_desk(
        &dir,
        "[desk]\nwrapup_reasons = [\"Resolved\", \"Callback\"]\n",
    );

    customer.dial(&desk.uri());
    let id = accept_offer(&desk);
    customer.wait_event("CALL_ESTABLISHED", 10 * SECOND);

    desk.ok(&["hold"]);
    desk.wait("the call is held", 10 * SECOND, |s| {
        state_of(s, id) == "held"
    });
    let refused = desk.ctl(&["hangup"]);
    assert!(
        refused.code == Some(3) && refused.stderr.contains("R-HOLD-3"),
        "hanging up a held call must be refused naming R-HOLD-3: {refused:?}"
    );
    assert_eq!(
        state_of(&desk.status(), id),
        "held",
        "the refusal changed nothing"
    );

    desk.ok(&["resume"]);
    desk.wait("the call is resumed", 10 * SECOND, |s| {
        state_of(s, id) == "connected"
    });

    desk.ok(&["transfer", "--blind", &target.uri()]);
    target.wait_event("CALL_ESTABLISHED", 15 * SECOND);
    let status = desk.wait("wrap-up after the transfer", 15 * SECOND, |s| {
        agent_state(s) == "wrap-up" && calls(s).is_empty()
    });
    assert_eq!(status["agent"]["call"].as_u64(), Some(id), "{status:#}");
    desk.ok(&["wrapup", "Resolved"]);
    desk.wait("available after wrap-up", 5 * SECOND, |s| {
        agent_state(s) == "available"
    });

    let logs = report(&desk, &[], &mut []);
    let reinvites = desk.peer.sent_requests("INVITE");
    let directions: Vec<&str> = reinvites
        .iter()
        .filter_map(|m| {
            ["a=sendonly", "a=sendrecv", "a=inactive"]
                .into_iter()
                .find(|d| m.contains(d))
        })
        .collect();
    // A third one holds the customer again while the transfer is under way.
    assert_eq!(
        directions.get(..2),
        Some(&["a=sendonly", "a=sendrecv"][..]),
        "hold then resume re-INVITEs on the wire:\n{logs}"
    );
    let refers = desk.peer.sent_requests("REFER");
    assert!(
        refers.len() == 1
            && refers[0].contains(&format!("Refer-To: <{}>", target.uri()))
            && refers[0].contains("Referred-By:"),
        "one REFER to the target with Referred-By: {refers:#?}\n{logs}"
    );
    target.hangup();
    customer.wait_event("CALL_CLOSED", 10 * SECOND);
}

#[test]
fn pjsip_held_customer_hears_music_on_hold_and_never_the_agent() {
    let _one = serial();
    let dir = WorkDir::new("desk-moh");
    let music = dir.file("music.wav");
    write_tone_wav(&music, 48_000, &[(MUSIC, TONE_DB)], 5.0);
    let desk = start_desk(
        &dir,
        &format!(
            "[media]\nmusic_on_hold = \"{}\"\n[desk]\n",
            agentphone::arg(&music)
        ),
    );
    let uri = desk.uri();
    let Some(mut customer) = pjsua(&dir, "customer", CUSTOMER, Some(&uri)) else {
        return;
    };
    let id = accept_offer(&desk);
    // The event stream carries the call's quality: the customer's tone is
    // heard (talking), nothing is lost on loopback.
    let events = desk.ctl(&["events", "--until", "quality", "--timeout", "5"]);
    let quality: Value = events
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "quality")
        .unwrap_or_else(|| panic!("no quality event: {events:?}"));
    assert!(
        quality["call"].as_u64() == Some(id)
            && quality["talking"] == true
            && quality["loss_pct"].as_f64() == Some(0.0)
            && quality["degraded"] == false,
        "{quality}"
    );
    std::thread::sleep(2 * SECOND);
    desk.ok(&["hold"]);
    desk.wait("held", 10 * SECOND, |s| state_of(s, id) == "held");
    std::thread::sleep(4 * SECOND);
    desk.ok(&["resume"]);
    desk.wait("resumed", 10 * SECOND, |s| state_of(s, id) == "connected");
    std::thread::sleep(3 * SECOND);
    desk.ok(&["hangup"]);
    let done = finish_pjsua(&mut customer);
    let logs = report(&desk, &[], &mut [&mut customer]);
    assert!(done, "PJSIP should see the BYE and exit:\n{logs}");
    assert_eq!(
        customer.reinvite_directions(),
        ["sendonly", "sendrecv"],
        "PJSIP should receive a sendonly re-INVITE, then a sendrecv one:\n{logs}"
    );
    expect_heard_in_order(
        "the customer (PJSIP)",
        &dir.file("customer.wav"),
        &[AGENT, CUSTOMER, MUSIC],
        &[(AGENT, 2.0), (MUSIC, 3.0), (AGENT, 2.0)],
        &logs,
    );
}

#[test]
fn pjsip_consult_toggle_and_attended_transfer() {
    let _one = serial();
    let dir = WorkDir::new("desk-consult");
    let desk = start_desk(&dir, "[desk]\n");
    let Some(mut consultee) = pjsua(&dir, "consultee", CONSULTEE, None) else {
        return;
    };
    let uri = desk.uri();
    let Some(mut customer) = pjsua(&dir, "customer", CUSTOMER, Some(&uri)) else {
        return;
    };
    let id = accept_offer(&desk);
    std::thread::sleep(SECOND);
    let consult = call_id(&desk.ok(&["consult", &consultee.uri()]));
    desk.wait("consulting, customer held", 15 * SECOND, |s| {
        state_of(s, consult) == "consulting" && state_of(s, id) == "held"
    });
    std::thread::sleep(2 * SECOND);
    desk.ok(&["toggle"]);
    desk.wait("back to the customer", 10 * SECOND, |s| {
        state_of(s, id) == "connected" && state_of(s, consult) == "consult-held"
    });
    std::thread::sleep(SECOND);
    desk.ok(&["toggle"]);
    desk.wait("back to the consultee", 10 * SECOND, |s| {
        state_of(s, id) == "held" && state_of(s, consult) == "consulting"
    });
    desk.ok(&["transfer", "--consult"]);
    let replaced = consultee.wait_for(|e| e.kind() == "replaced", 15 * SECOND);
    desk.wait("both legs ended after the transfer", 15 * SECOND, |s| {
        calls(s).is_empty()
    });
    if replaced.is_some() {
        // The customer and the consultee talk without the agent.
        std::thread::sleep(3 * SECOND);
    }
    customer.terminate();
    let customer_done = finish_pjsua(&mut customer);
    let consultee_done = finish_pjsua(&mut consultee);
    let logs = report(&desk, &[], &mut [&mut customer, &mut consultee]);
    assert!(
        replaced.is_some(),
        "the consultee (PJSIP) should take the customer's INVITE with Replaces:\n{logs}"
    );
    let requests = customer.events_of("transfer_request");
    assert!(
        requests.len() == 1
            && requests[0]
                .get("to")
                .is_some_and(|to| to.contains("Replaces=")),
        "the customer should get one REFER whose Refer-To carries Replaces: {requests:?}\n{logs}"
    );
    assert!(
        customer_done && consultee_done,
        "PJSIP should end cleanly:\n{logs}"
    );
    let tones = [AGENT, CUSTOMER, CONSULTEE];
    expect_heard_in_order(
        "the consultee (PJSIP)",
        &dir.file("consultee.wav"),
        &tones,
        &[(AGENT, 1.5), (CUSTOMER, 2.0)],
        &logs,
    );
    expect_heard_in_order(
        "the customer (PJSIP)",
        &dir.file("customer.wav"),
        &tones,
        &[(AGENT, 0.75), (CONSULTEE, 2.0)],
        &logs,
    );
}

/// A party of a conference: an `agentphone answer` or a PJSIP answerer.
enum PartyPeer {
    Agentphone(Peer),
    Pjsip(Pjsua),
}

struct Party {
    name: String,
    tone: f64,
    /// Its call on the desk.
    call: u64,
    peer: PartyPeer,
}

impl Party {
    fn start(dir: &WorkDir, name: &str, tone: f64, pjsip: bool) -> Option<(PartyPeer, String)> {
        if pjsip {
            let p = pjsua(dir, name, tone, None)?;
            let uri = p.uri();
            Some((PartyPeer::Pjsip(p), uri))
        } else {
            let (p, uri) = start_party(dir, name, tone);
            Some((PartyPeer::Agentphone(p), uri))
        }
    }

    /// What it heard.
    fn heard(&self, dir: &WorkDir) -> std::path::PathBuf {
        match self.peer {
            PartyPeer::Pjsip(_) => dir.file(&format!("{}.wav", self.name)),
            PartyPeer::Agentphone(_) => {
                agentphone::only_recording_in(&dir.file(&format!("{}-recordings", self.name)))
            }
        }
    }

    /// Waits until its call ended and it exited cleanly.
    fn finished(&mut self) -> bool {
        match &mut self.peer {
            PartyPeer::Pjsip(p) => finish_pjsua(p),
            PartyPeer::Agentphone(p) => p.wait(15 * SECOND).is_some_and(|s| s.success()),
        }
    }
}

/// A conference built by consult-and-merge: the agent, a PJSIP customer and
/// `parties` consultees (the first `pjsip` of them PJSIP, the others
/// `agentphone answer`). At eight, a ninth is refused (R-CONF-2). The agent
/// leaves, then the customer; the others go on until all but one are removed.
/// Everyone must hear every other participant and never itself, then the
/// same without the agent.
fn conference(test: &str, parties: usize, pjsip: usize) {
    let _one = serial();
    let dir = WorkDir::new(test);
    let desk = start_desk(&dir, "[desk]\nwrapup_reasons = [\"Resolved\"]\n");
    let uri = desk.uri();
    let Some(mut customer) = pjsua(&dir, "customer", CUSTOMER, Some(&uri)) else {
        return;
    };
    let id = accept_offer(&desk);
    let mut members: Vec<Party> = Vec::new();
    for (i, &tone) in TONES[2..2 + parties].iter().enumerate() {
        let name = format!("party{}", i + 1);
        let Some((peer, party_uri)) = Party::start(&dir, &name, tone, i < pjsip) else {
            return;
        };
        let call = call_id(&desk.ok(&["consult", &party_uri]));
        desk.wait(&format!("{name} answers the consult"), 15 * SECOND, |s| {
            state_of(s, call) == "consulting"
        });
        desk.ok(&["conference"]);
        let joined = 2 + i;
        desk.wait(
            &format!("{joined} far ends in conference"),
            10 * SECOND,
            |s| {
                calls(s)
                    .iter()
                    .filter(|c| c["state"] == "conference")
                    .count()
                    == joined
            },
        );
        members.push(Party {
            name,
            tone,
            call,
            peer,
        });
    }
    let mut ninth = None;
    if parties + 2 == 8 {
        // The ninth participant is refused (R-CONF-2), whether at the consult
        // or at the merge, and the conference goes on as it was.
        let (peer, ninth_uri) = start_party(&dir, "ninth", TONES[8]);
        ninth = Some(peer);
        let consult = desk.ctl(&["consult", &ninth_uri]);
        let refusal = if consult.code == Some(0) {
            let consult_id = call_id(&consult.json());
            desk.wait("the ninth answers", 15 * SECOND, |s| {
                state_of(s, consult_id) == "consulting"
            });
            let merge = desk.ctl(&["conference"]);
            desk.ok(&["hangup", "--call", &consult_id.to_string()]);
            desk.ok(&["resume", "--call", &id.to_string()]);
            merge
        } else {
            consult
        };
        assert!(
            refusal.code == Some(3) && refusal.stderr.contains("R-CONF-2"),
            "a ninth participant must be refused naming R-CONF-2: {refusal:?}\n{}",
            desk.peer.report()
        );
        desk.wait("seven far ends in conference", 10 * SECOND, |s| {
            calls(s)
                .iter()
                .filter(|c| c["state"] == "conference")
                .count()
                == 7
        });
    }
    std::thread::sleep(4 * SECOND);
    desk.ok(&["leave"]);
    desk.wait("the agent left the conference", 10 * SECOND, |s| {
        agent_state(s) == "wrap-up"
    });
    std::thread::sleep(4 * SECOND);
    customer.terminate();
    let customer_done = finish_pjsua(&mut customer);
    assert!(
        customer_done,
        "the customer should end cleanly:\n{}",
        customer.report()
    );
    // R-CONF-4: without the customer the others go on (post-call) until one
    // is left; removing all but one ends the last one too.
    desk.wait("the parties go on in post-call", 10 * SECOND, |s| {
        calls(s)
            .iter()
            .filter(|c| c["kind"] == "consult" && c["state"] == "post-call")
            .count()
            == parties
    });
    for party in &members[..parties - 1] {
        desk.ok(&["remove", &party.call.to_string()]);
    }
    desk.wait("the last party is hung up", 10 * SECOND, |s| {
        calls(s).is_empty()
    });
    let mut finished = Vec::new();
    for party in members.iter_mut() {
        finished.push((party.name.clone(), party.finished()));
    }
    let mut peers: Vec<&Peer> = members
        .iter()
        .filter_map(|p| match &p.peer {
            PartyPeer::Agentphone(peer) => Some(peer),
            PartyPeer::Pjsip(_) => None,
        })
        .collect();
    peers.extend(ninth.as_ref());
    let logs = report(&desk, &peers, &mut [&mut customer]);
    for (name, done) in finished {
        assert!(
            done,
            "{name}'s call should end once the conference does:\n{logs}"
        );
    }
    desk.ok(&["wrapup", "Resolved"]);
    assert_eq!(agent_state(&desk.status()), "available", "{logs}");

    let all: Vec<f64> = TONES[..2 + parties].to_vec();
    let stretches = |own: f64| {
        let others = |agent: bool| -> Vec<f64> {
            all.iter()
                .copied()
                .filter(|&t| t != own && (agent || t != AGENT))
                .collect()
        };
        vec![(others(true), 2.0), (others(false), 2.0)]
    };
    expect_sets_in_order(
        "the customer (PJSIP)",
        &dir.file("customer.wav"),
        &all,
        &stretches(CUSTOMER),
        &logs,
    );
    for party in &members {
        let heard = party.heard(&dir);
        expect_sets_in_order(&party.name, &heard, &all, &stretches(party.tone), &logs);
    }
}

#[test]
fn conference_of_four_with_pjsip_and_agentphone_parties() {
    conference("desk-conference-4", 2, 1);
}

#[test]
fn conference_of_eight_by_consult_and_merge_then_the_agent_leaves() {
    conference("desk-conference-8", 6, 1);
}

#[test]
fn ring_timeout_answers_480_and_the_agent_goes_idle() {
    let _one = serial();
    let dir = WorkDir::new("desk-rona");
    let desk = start_desk(&dir, "[desk]\nring_timeout_s = 2\n");
    let mut caller = agentphone::spawn(
        &dir,
        "caller",
        &["call", &desk.uri(), "--duration", "5"],
        &[],
        LIMIT,
    );
    let status = desk.wait("an offer rings", 10 * SECOND, |s| first_offer(s).is_some());
    let offered = first_offer(&status).expect("offer");
    let status = desk.wait("idle after the ring timeout", 10 * SECOND, |s| {
        agent_state(s) == "idle"
    });
    let exit = caller.wait(10 * SECOND);
    let logs = report(&desk, &[&caller], &mut []);
    assert_eq!(
        status["agent"]["reason"], "Missed call",
        "the agent is idle with the ring-timeout reason: {status:#}\n{logs}"
    );
    assert!(
        status["offers"].as_array().is_some_and(|o| o.is_empty())
            && call(&status, offered).is_none(),
        "the offer is gone: {status:#}"
    );
    assert!(
        exit.is_some_and(|s| !s.success()) && caller.output().contains("480"),
        "the caller should get 480 ({exit:?}):\n{logs}"
    );
    // A new call is not offered while idle: 480 at once.
    let mut again = agentphone::spawn(
        &dir,
        "again",
        &["call", &desk.uri(), "--duration", "5"],
        &[],
        LIMIT,
    );
    let exit = again.wait(10 * SECOND);
    assert!(
        exit.is_some_and(|s| !s.success()) && again.output().contains("480"),
        "an idle agent's call gets 480 at once ({exit:?}):\n{}",
        again.report()
    );
    desk.ok(&["state", "available"]);
    desk.wait("available again", 5 * SECOND, |s| {
        agent_state(s) == "available"
    });
}

/// One raw HTTP request to the API; returns the status line and body.
fn http(api: &str, request: &str) -> (String, String) {
    let addr = api.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the API");
    stream
        .set_read_timeout(Some(5 * SECOND))
        .expect("read timeout");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text.lines().next().unwrap_or("").to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[test]
fn the_api_refuses_requests_without_the_token() {
    let _one = serial();
    let dir = WorkDir::new("desk-token");
    let desk = start_desk(&dir, "[desk]\n");
    let body = r#"{"cmd":"state","state":"idle","reason":"Break"}"#;
    for auth in ["", "Authorization: Bearer not-the-token\r\n"] {
        let request = format!(
            "POST /api/v1/command HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             {auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, answer) = http(&desk.api, &request);
        assert!(status.contains(" 401 "), "{auth:?}: {status} {answer}");
    }
    let (status, _) = http(
        &desk.api,
        "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(status.contains(" 401 "), "status without token: {status}");
    assert_eq!(
        agent_state(&desk.status()),
        "available",
        "nothing happened without the token"
    );
}

#[test]
fn sigterm_ends_a_ringing_offer_a_held_call_and_the_registration() {
    use common::kamailio::{Algorithm, Kamailio, DOMAIN};
    let _one = serial();
    let Some(program) = common::require_peer("kamailio") else {
        return;
    };
    let dir = WorkDir::new("desk-sigterm");
    let kamailio = Kamailio::start(&program, &dir, Algorithm::Md5);
    let password = kamailio.password().to_owned();
    let accounts = format!(
        "[accounts.agent]\nuser = \"agent\"\nregistrar = \"{}\"\ndomain = \"{DOMAIN}\"\n\
         password_env = \"AGENT_PW\"\n\n[accounts.caller]\nuser = \"caller\"\n\
         registrar = \"{}\"\ndomain = \"{DOMAIN}\"\npassword_env = \"AGENT_PW\"\n\n[desk]\n",
        kamailio.address(),
        kamailio.address()
    );
    let play = tone_arg(AGENT);
    let mut desk = Desk::start_with(
        &dir,
        "agent",
        &accounts,
        &["--account", "agent", "--play", &play, "-v"],
        &[("AGENT_PW", &password)],
    );
    assert!(
        desk.peer.wait_for_output("registered ", 15 * SECOND),
        "the desk did not register:\n{}\n{}",
        desk.peer.report(),
        kamailio.report()
    );
    // The first customer is answered and held; the second one rings.
    let mut held = agentphone::spawn(
        &dir,
        "held-customer",
        &["call", &desk.uri(), "--duration", "60"],
        &[],
        LIMIT,
    );
    let id = accept_offer(&desk);
    desk.ok(&["hold"]);
    desk.wait("held", 10 * SECOND, |s| state_of(s, id) == "held");
    let mut ringing = agentphone::spawn(
        &dir,
        "ringing-customer",
        &["call", &desk.uri(), "--duration", "60"],
        &[],
        LIMIT,
    );
    desk.wait("a second offer rings", 10 * SECOND, |s| {
        s["offers"].as_array().is_some_and(|o| o.len() == 1)
    });
    let logout = desk.ctl(&["logout"]);
    assert!(
        logout.code == Some(3) && logout.stderr.contains("R-OFFER-3"),
        "logout from the controls is refused while an offer rings: {logout:?}"
    );

    desk.peer.terminate();
    let exit = desk.peer.wait(15 * SECOND);
    let ringing_exit = ringing.wait(10 * SECOND);
    let held_exit = held.wait(10 * SECOND);
    let logs = format!(
        "{}\n{}\n{}\n{}",
        desk.peer.report(),
        ringing.report(),
        held.report(),
        kamailio.report()
    );
    assert!(
        exit.is_some_and(|s| s.success()),
        "the desk should exit 0 on SIGTERM ({exit:?}):\n{logs}"
    );
    assert!(
        ringing_exit.is_some_and(|s| !s.success()) && ringing.output().contains("480"),
        "the ringing offer gets 480 ({ringing_exit:?}):\n{logs}"
    );
    assert!(
        held_exit.is_some_and(|s| s.success()),
        "the held call ends with our BYE and the caller exits 0 ({held_exit:?}):\n{logs}"
    );
    let byes = desk.peer.sent_requests("BYE");
    assert_eq!(byes.len(), 1, "one BYE, for the held call:\n{logs}");
    let out = desk.peer.output();
    assert!(
        out.find("unregistered") > out.find("stopping"),
        "the registration is removed after the stop:\n{logs}"
    );
    // The registrar no longer knows the agent.
    let target = format!("sip:agent@{DOMAIN}");
    let mut probe = agentphone::spawn(
        &dir,
        "probe",
        &[
            "--config",
            agentphone::arg(&desk.config),
            "call",
            &target,
            "--account",
            "caller",
            "--duration",
            "1",
        ],
        &[("AGENT_PW", &password)],
        LIMIT,
    );
    let probed = probe.wait(20 * SECOND);
    assert!(
        probed.is_some_and(|s| !s.success()) && probe.output().contains("404"),
        "a call to the agent through the registrar should fail with 404 ({probed:?}):\n{}\n{}",
        probe.report(),
        kamailio.report()
    );
}

#[test]
fn the_call_is_recorded_and_a_paused_stretch_is_left_out() {
    let _one = serial();
    let dir = WorkDir::new("desk-record");
    let rec = dir.file("recordings");
    let desk = start_desk(
        &dir,
        &format!(
            "[desk]\nrecord = true\nrecord_dir = \"{}\"\nrecord_pause_max_s = 30\n",
            agentphone::arg(&rec)
        ),
    );
    let uri = desk.uri();
    let Some(mut customer) = pjsua(&dir, "customer", CUSTOMER, Some(&uri)) else {
        return;
    };
    let id = accept_offer(&desk);
    std::thread::sleep(2 * SECOND);
    desk.ok(&["record", "pause"]);
    let paused = desk.wait("the recording is paused", 5 * SECOND, |s| {
        call(s, id).is_some_and(|c| c["recording"] == "paused")
    });
    std::thread::sleep(3 * SECOND);
    desk.ok(&["record", "resume"]);
    desk.wait("the recording runs again", 5 * SECOND, |s| {
        call(s, id).is_some_and(|c| c["recording"] == "on")
    });
    std::thread::sleep(2 * SECOND);
    desk.ok(&["hangup"]);
    let done = finish_pjsua(&mut customer);
    desk.wait("the call is gone", 5 * SECOND, |s| calls(s).is_empty());
    let logs = report(&desk, &[], &mut [&mut customer]);
    assert!(done, "the customer should see the BYE:\n{logs}\n{paused:#}");
    // The file is finished beside the desk's loop: give it a moment.
    let deadline = std::time::Instant::now() + 5 * SECOND;
    let file = loop {
        let files: Vec<_> = std::fs::read_dir(&rec)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        if files.len() == 1 && !common::audio::read(&files[0]).is_empty() {
            break files[0].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "one recording in {}: {files:?}\n{logs}",
            rec.display()
        );
        std::thread::sleep(SECOND / 5);
    };
    let seconds =
        |p: &std::path::Path| common::audio::read(p).len() as f64 / common::audio::RATE as f64;
    let (recorded, call_length) = (seconds(&file), seconds(&dir.file("customer.wav")));
    assert!(
        (call_length - 3.0 - recorded).abs() < 1.0,
        "the recording ({recorded:.2} s) should be the call ({call_length:.2} s) less the \
         3 s paused:\n{logs}"
    );
    expect_sets_in_order(
        "the recording",
        &file,
        &[AGENT, CUSTOMER],
        &[(vec![AGENT, CUSTOMER], 2.0)],
        &logs,
    );
}

#[test]
fn an_incoming_refer_waits_for_the_agent_and_is_followed() {
    let _one = serial();
    let dir = WorkDir::new("desk-refer-ask");
    let desk = start_desk(&dir, "[desk]\nrefer = \"ask\"\n");
    let (mut target, target_uri) = start_party(&dir, "target", CONSULTEE);
    let mut opts = Options::call(free_port(), &desk.uri());
    opts.source = Source::Tone(CUSTOMER);
    opts.xfer_to = Some(target_uri.clone());
    opts.xfer_at = Some(2 * SECOND);
    opts.limit = LIMIT;
    let Some(mut customer) = Pjsua::start(&dir, "customer", &opts) else {
        return;
    };
    accept_offer(&desk);
    let status = desk.wait("a REFER waits for the agent", 10 * SECOND, |s| {
        s["refers"].as_array().is_some_and(|r| r.len() == 1)
    });
    let refer = status["refers"][0].to_string();
    desk.ok(&["refer", "accept", &refer]);
    desk.wait("the referred call is up", 15 * SECOND, |s| {
        calls(s)
            .iter()
            .any(|c| c["kind"] == "referred" && c["state"] == "connected")
    });
    std::thread::sleep(3 * SECOND);
    // The customer (PJSIP, the transferor) left once the NOTIFY said 200.
    desk.wait("only the referred call is left", 10 * SECOND, |s| {
        calls(s).len() == 1
    });
    desk.ok(&["hangup"]);
    let target_exit = target.wait(15 * SECOND);
    let customer_done = finish_pjsua(&mut customer);
    let logs = report(&desk, &[&target], &mut [&mut customer]);
    assert!(
        target_exit.is_some_and(|s| s.success()),
        "the target should take the referred call and see it end ({target_exit:?}):\n{logs}"
    );
    assert!(
        customer_done,
        "the transferor (PJSIP) should end cleanly:\n{logs}"
    );
    let xfer = customer.events_of("transfer_status");
    assert!(
        xfer.iter().any(|e| e.get("code") == Some("200")),
        "PJSIP should get NOTIFY 200 for its REFER: {xfer:?}\n{logs}"
    );
    expect_heard_in_order(
        "the target",
        &agentphone::only_recording_in(&dir.file("target-recordings")),
        &[AGENT, CUSTOMER, CONSULTEE],
        &[(AGENT, 2.0)],
        &logs,
    );
}
