//! `agentphone answer --conference`: a meet-me bridge on loopback that mixes
//! every answered call N-1 (each participant hears all the others, never itself),
//! at most eight participants including the bridge's own `--play` source
//! (R-CONF-2: one more call gets 486).
//!
//! Each participant (agentphone `call`, and baresip through its `aufile` source)
//! plays its own tone and records what it hears; the tones are measured with a
//! Goertzel filter over a Hann window (tests/common/audio.rs). Over the stretch of
//! the call when everybody is in the room every other tone must be there and the
//! participant's own tone at least 30 dB below the weakest of them; the own tone
//! must never be heard at all.
//!
//! The tones were chosen so that the distortion the path adds cannot fake an own
//! tone: G.711 quantisation (harmonics, and intermodulation of the mix, which is
//! encoded again by the bridge) and the bridge's soft clipper (seven tones at
//! -12 dBFS peak at +5 dBFS). None of them is a multiple of 5 (so their G.711
//! products do not sit on a coarse grid, gcd(f, 8000) = 1), they are at least
//! 150 Hz apart, and no second-order (a ± b), third-order (a + b - c) or
//! low-harmonic (2..5 f, folded at 4 kHz) product of any seven of them comes
//! within 12 Hz of the eighth. A simulation of that path (μ-law per leg, sum,
//! soft clip, μ-law) put every own tone 51 dB or more below the weakest other.
//!
//! Needs `baresip` (Debian `baresip-core`). `cargo test --test conference`.

mod common;

use common::audio::{read, tone_level_db, write_tone_wav, RATE};
use common::baresip::{Baresip, Codec, Options};
use common::process::{call_lines, Peer};
use common::{agentphone, ports::free_port, WorkDir};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The participants' tones, Hz (see the module comment for why these).
const TONES: [f64; 8] = [
    1069.0, 1463.0, 1791.0, 2001.0, 2291.0, 2469.0, 2701.0, 2891.0,
];
/// Level of agentphone's `--play tone:HZ` and of the WAV baresip plays, dBFS peak.
const TONE_DB: f64 = -12.0;
/// An other participant's tone is heard when it measures at least this.
const PRESENT_DB: f64 = -35.0;
/// The own tone is at least this far below the weakest other one.
const OWN_BELOW_DB: f64 = 30.0;
/// The own tone never measures above this, anywhere in the recording.
const OWN_NEVER_DB: f64 = -45.0;
/// Length of the pieces a recording is measured in.
const BLOCK_S: f64 = 0.5;
/// Hard limit on every process.
const LIMIT: Duration = Duration::from_secs(60);

/// The two tests run many real-time processes on a small machine: one at a time,
/// so neither starves the other's audio.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// One member of the room: who, the tone it plays, and where what it heard is.
struct Member {
    name: String,
    tone: f64,
    side: Side,
}

enum Side {
    Agent { peer: Peer, heard: PathBuf },
    Baresip(Box<Baresip>),
}

impl Member {
    fn report(&self) -> String {
        match &self.side {
            Side::Agent { peer, .. } => peer.report(),
            Side::Baresip(b) => b.report(),
        }
    }

    fn heard(&self) -> PathBuf {
        match &self.side {
            Side::Agent { heard, .. } => heard.clone(),
            Side::Baresip(b) => b.dumps().heard,
        }
    }
}

/// `agentphone answer --conference` on a fresh port; waits until it listens.
fn start_bridge(dir: &WorkDir, listen: &str, extra: &[&str]) -> Peer {
    let mut args = vec!["answer", "--listen", listen, "--conference"];
    args.extend_from_slice(extra);
    let mut bridge = agentphone::spawn(dir, "bridge", &args, &[], LIMIT);
    assert!(
        bridge.wait_for_output("listening on", Duration::from_secs(10)),
        "the bridge did not start:\n{}",
        bridge.report()
    );
    bridge
}

/// baresip with a WAV of `tone` as its microphone, long enough to outlast the
/// call (`aufile` hangs up when its file ends). `None`: baresip is not installed.
fn start_baresip(dir: &WorkDir, name: &str, tone: f64) -> Option<Box<Baresip>> {
    let source = dir.file(&format!("{name}-tone.wav"));
    write_tone_wav(&source, 48_000, &[(tone, TONE_DB)], 40.0);
    let opts = Options {
        user: name,
        codec: Codec::Pcmu,
        source: &source,
        auto_answer: false,
        limit: LIMIT,
    };
    Baresip::start(dir, name, &opts).map(Box::new)
}

/// `agentphone call` into the room playing `tone` for `talk_s`, recording.
fn spawn_agent(dir: &WorkDir, name: &str, target: &str, tone: f64, talk_s: u64) -> Member {
    let heard = dir.file(&format!("{name}-heard.wav"));
    let peer = agentphone::spawn(
        dir,
        name,
        &[
            "call",
            target,
            "--duration",
            &talk_s.to_string(),
            "--play",
            &format!("tone:{tone}"),
            "--record",
            agentphone::arg(&heard),
        ],
        &[],
        LIMIT,
    );
    Member {
        name: name.to_string(),
        tone,
        side: Side::Agent { peer, heard },
    }
}

/// Waits until the bridge has printed `count` `call N from X: answered` lines;
/// false when it has not within `limit` (or has exited).
fn wait_answered(bridge: &mut Peer, count: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if call_lines(&bridge.stdout(), ": answered").len() >= count {
            return true;
        }
        if Instant::now() >= deadline || bridge.try_status().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Levels of `tones` in consecutive [`BLOCK_S`] pieces of a 48 kHz recording.
fn block_levels(samples: &[f32], tones: &[f64]) -> Vec<Vec<f64>> {
    let block = (BLOCK_S * RATE as f64) as usize;
    samples
        .chunks_exact(block)
        .map(|piece| {
            tones
                .iter()
                .map(|&hz| tone_level_db(piece, RATE, hz))
                .collect()
        })
        .collect()
}

/// The longest run of consecutive blocks where every tone is heard: (first, count).
fn longest_run_with_all(levels: &[Vec<f64>]) -> (usize, usize) {
    let (mut best, mut start) = ((0, 0), 0);
    for (i, block) in levels.iter().enumerate() {
        if block.iter().all(|&db| db >= PRESENT_DB) {
            if i + 1 - start > best.1 {
                best = (start, i + 1 - start);
            }
        } else {
            start = i + 1;
        }
    }
    best
}

/// A table of the levels, one block a line, for failure messages.
fn table(tones: &[f64], own: Option<f64>, levels: &[Vec<f64>], own_levels: &[f64]) -> String {
    let mut text = format!(
        "  t(s)  {}",
        tones
            .iter()
            .map(|t| format!("{t:>7.0}"))
            .collect::<String>()
    );
    if let Some(own) = own {
        text.push_str(&format!("  | own {own:.0}"));
    }
    text.push('\n');
    for (i, block) in levels.iter().enumerate() {
        text.push_str(&format!("{:6.1}  ", i as f64 * BLOCK_S));
        for db in block {
            text.push_str(&format!("{db:>7.1}"));
        }
        if let Some(db) = own_levels.get(i) {
            text.push_str(&format!("  | {db:7.1}"));
        }
        text.push('\n');
    }
    text
}

/// Checks that `path` holds every tone of `others` together for at least
/// `together_s` and, when `own` is given, never that tone: at least
/// [`OWN_BELOW_DB`] below the weakest other tone wherever all are heard, and
/// under [`OWN_NEVER_DB`] everywhere. `logs` go into failure messages.
fn check_heard(
    who: &str,
    path: &Path,
    others: &[f64],
    own: Option<f64>,
    together_s: f64,
    logs: &str,
) {
    let samples = read(path);
    let levels = block_levels(&samples, others);
    let own_levels: Vec<f64> = match own {
        Some(hz) => block_levels(&samples, &[hz])
            .into_iter()
            .map(|b| b[0])
            .collect(),
        None => Vec::new(),
    };
    let shown = table(others, own, &levels, &own_levels);
    eprintln!(
        "{who} heard ({}, {:.1} s):\n{shown}",
        path.display(),
        samples.len() as f64 / RATE as f64
    );
    let (first, count) = longest_run_with_all(&levels);
    let run_s = count as f64 * BLOCK_S;
    assert!(
        run_s >= together_s,
        "{who} heard all of {others:?} together for {run_s:.1} s only (need {together_s:.1} s, \
         each >= {PRESENT_DB} dBFS); levels (dBFS) per {BLOCK_S} s:\n{shown}\n{logs}"
    );
    let Some(own) = own else {
        return;
    };
    for i in first..first + count {
        let weakest = levels[i].iter().copied().fold(f64::INFINITY, f64::min);
        assert!(
            own_levels[i] <= weakest - OWN_BELOW_DB,
            "{who} heard its own {own} Hz at {:.1} dBFS at {:.1} s, less than {OWN_BELOW_DB} dB \
             under the weakest other tone ({weakest:.1} dBFS): it hears itself\n{shown}\n{logs}",
            own_levels[i],
            i as f64 * BLOCK_S
        );
    }
    let loudest = own_levels
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((i, db)) = loudest {
        assert!(
            db <= OWN_NEVER_DB,
            "{who} heard its own {own} Hz at {db:.1} dBFS at {:.1} s (limit {OWN_NEVER_DB})\n\
             {shown}\n{logs}",
            i as f64 * BLOCK_S
        );
    }
}

/// The one `.wav` the bridge wrote in `dir` (the room's mix).
fn only_wav_in(dir: &Path, logs: &str) -> PathBuf {
    let wavs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("no recording dir {}: {e}\n{logs}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    assert_eq!(
        wavs.len(),
        1,
        "one recording of the mix in {}: {wavs:?}\n{logs}",
        dir.display()
    );
    wavs[0].clone()
}

/// Everyone's logs, for failure messages.
fn all_logs(bridge: &Peer, members: &[Member]) -> String {
    let mut text = bridge.report();
    for m in members {
        text.push('\n');
        text.push_str(&m.report());
    }
    text
}

/// Waits for every agentphone member to exit 0, then hangs up the baresip ones.
fn finish_members(members: &mut [Member], bridge: &Peer) {
    for i in 0..members.len() {
        let status = match &mut members[i].side {
            Side::Agent { peer, .. } => peer.wait(LIMIT),
            Side::Baresip(_) => continue,
        };
        assert!(
            status.is_some_and(|s| s.success()),
            "{} failed ({status:?}):\n{}",
            members[i].name,
            all_logs(bridge, members)
        );
    }
    for m in members.iter_mut() {
        if let Side::Baresip(b) = &mut m.side {
            b.hangup();
            b.wait_event("CALL_CLOSED", Duration::from_secs(10));
        }
    }
}

/// Checks every member's recording: all the others' tones (`extra`: tones in
/// the room that no member plays, the bridge's own source), never its own.
fn check_members(members: &[Member], extra: &[f64], together_s: f64, logs: &str) {
    for m in members {
        let others: Vec<f64> = members
            .iter()
            .filter(|o| o.name != m.name)
            .map(|o| o.tone)
            .chain(extra.iter().copied())
            .collect();
        check_heard(&m.name, &m.heard(), &others, Some(m.tone), together_s, logs);
    }
}

#[test]
fn conference_of_four_each_hears_the_others_not_itself() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const TALK_S: u64 = 6;
    let dir = WorkDir::new("conference-four");
    let Some(baresip) = start_baresip(&dir, "carol", TONES[3]) else {
        return;
    };
    let listen = format!("127.0.0.1:{}", free_port());
    let target = format!("sip:room@{listen}");
    let mix_dir = dir.file("mix");
    let mut bridge = start_bridge(
        &dir,
        &listen,
        &[
            "--record-dir",
            agentphone::arg(&mix_dir),
            "--max-calls",
            "4",
        ],
    );
    let mut members = vec![Member {
        name: "baresip-carol".to_string(),
        tone: TONES[3],
        side: Side::Baresip(baresip),
    }];
    if let Side::Baresip(b) = &mut members[0].side {
        b.dial(&target);
    }
    for (i, &tone) in TONES[..3].iter().enumerate() {
        members.push(spawn_agent(
            &dir,
            &format!("agent{}", i + 1),
            &target,
            tone,
            TALK_S,
        ));
    }
    if let Side::Baresip(b) = &mut members[0].side {
        b.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    }
    assert!(
        wait_answered(&mut bridge, 4, Duration::from_secs(15)),
        "the bridge did not answer all 4 calls:\n{}",
        all_logs(&bridge, &members)
    );
    finish_members(&mut members, &bridge);
    agentphone::expect_success(&mut bridge, Duration::from_secs(15), &[]);
    let logs = all_logs(&bridge, &members);

    // Calls start within about a second of each other and last 6 s.
    check_members(&members, &[], 3.0, &logs);
    let mix = only_wav_in(&mix_dir, &logs);
    check_heard("the bridge's mix", &mix, &TONES[..4], None, 3.0, &logs);
}

#[test]
fn conference_of_eight_and_the_ninth_gets_486() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const TALK_S: u64 = 9;
    let dir = WorkDir::new("conference-eight");
    // Seven calls: six agentphone, one baresip; the bridge's own tone is the eighth.
    let local_tone = TONES[7];
    let Some(baresip) = start_baresip(&dir, "carol", TONES[3]) else {
        return;
    };
    let listen = format!("127.0.0.1:{}", free_port());
    let target = format!("sip:room@{listen}");
    let mix_dir = dir.file("mix");
    let play = format!("tone:{local_tone}");
    // No --max-calls: whether a refused call counts as ended is not the point
    // here; the bridge is stopped (SIGTERM) once every call is over.
    let mut bridge = start_bridge(
        &dir,
        &listen,
        &["--play", &play, "--record-dir", agentphone::arg(&mix_dir)],
    );
    let mut members = vec![Member {
        name: "baresip-carol".to_string(),
        tone: TONES[3],
        side: Side::Baresip(baresip),
    }];
    if let Side::Baresip(b) = &mut members[0].side {
        b.dial(&target);
    }
    let agent_tones = TONES[..7].iter().copied().filter(|&t| t != TONES[3]);
    for (i, tone) in agent_tones.enumerate() {
        members.push(spawn_agent(
            &dir,
            &format!("agent{}", i + 1),
            &target,
            tone,
            TALK_S,
        ));
    }
    if let Side::Baresip(b) = &mut members[0].side {
        b.wait_event("CALL_ESTABLISHED", Duration::from_secs(15));
    }
    assert!(
        wait_answered(&mut bridge, 7, Duration::from_secs(20)),
        "the bridge did not answer all 7 calls:\n{}",
        all_logs(&bridge, &members)
    );

    // The room is full (seven calls and the bridge's own source): one more is
    // refused with 486, and the bridge names the rule.
    let mut ninth = agentphone::spawn(
        &dir,
        "ninth",
        &["call", &target, "--duration", "2", "--play", "tone:1000"],
        &[],
        LIMIT,
    );
    let status = ninth.wait(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| !s.success()),
        "the ninth participant's call should fail ({status:?}):\n{}\n{}",
        ninth.report(),
        bridge.report()
    );
    assert!(
        ninth.output().contains("486"),
        "the ninth call should fail naming 486:\n{}\n{}",
        ninth.report(),
        bridge.report()
    );
    let refused = bridge
        .stdout()
        .lines()
        .filter(|l| l.contains("rejected 486") && l.contains("R-CONF-2"))
        .count();
    assert_eq!(
        refused,
        1,
        "the bridge should print one `rejected 486 (conference full, R-CONF-2)` line:\n{}",
        bridge.report()
    );
    for m in members.iter_mut() {
        if let Side::Agent { peer, .. } = &mut m.side {
            assert!(
                peer.try_status().is_none(),
                "{} ended before the ninth call was refused: the room was not full\n{}",
                m.name,
                peer.report()
            );
        }
    }

    finish_members(&mut members, &bridge);
    bridge.terminate();
    agentphone::expect_success(&mut bridge, Duration::from_secs(15), &[]);
    assert_eq!(
        call_lines(&bridge.stdout(), ": answered").len(),
        7,
        "exactly the seven calls were answered:\n{}",
        bridge.report()
    );
    let logs = all_logs(&bridge, &members);

    check_members(&members, &[local_tone], 4.0, &logs);
    let mix = only_wav_in(&mix_dir, &logs);
    check_heard("the bridge's mix", &mix, &TONES, None, 4.0, &logs);
}

/// The measuring tool: a tone is measured at its level, a missing one far below,
/// and a tone 150 Hz away (the closest two tones here) does not leak in.
#[test]
fn tone_level_finds_present_and_absent_tones() {
    let samples: Vec<f32> = (0..RATE / 2)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let a = 32_768.0 * 10f64.powf(-12.0 / 20.0);
            (a * (2.0 * std::f64::consts::PI * 1069.0 * t + 0.3).sin()
                + a * (2.0 * std::f64::consts::PI * 1219.0 * t).sin()) as f32
        })
        .collect();
    let at = |hz| tone_level_db(&samples, RATE, hz);
    assert!((at(1069.0) + 12.0).abs() < 0.1, "{}", at(1069.0));
    assert!((at(1219.0) + 12.0).abs() < 0.1, "{}", at(1219.0));
    assert!(at(1369.0) < -90.0, "{}", at(1369.0));
    assert!(at(919.0) < -90.0, "{}", at(919.0));
    let levels = block_levels(&samples, &[1069.0, 1219.0]);
    assert_eq!(longest_run_with_all(&levels), (0, 1));
}
