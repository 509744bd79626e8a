//! Putting the far end on hold from `agentphone call --hold-at S --resume-at S`:
//! a re-INVITE with `a=sendonly`, music on hold (`[media] music_on_hold`, else
//! silence) instead of our audio while held, and a re-INVITE with `a=sendrecv`
//! that brings our audio back.
//!
//! Against PJSIP (tests/pjsua/peer.py, which keeps recording what it hears while
//! held) the recording is measured per stretch with a Goertzel filter over a
//! Hann window: our 1 kHz tone before the hold and after the resume, the 300 Hz
//! music (or silence) in between, each time with the other one absent. Against
//! SIPp the directions are checked on the wire by the scenario itself
//! (fixtures/sipp/uas_hold_check.xml).
//!
//! Needs PJSIP's `pjsua2` Python module and `sipp`. `cargo test --test hold`.

mod common;

use common::audio::{read, rms, tone_level_db, write_tone_wav, RATE};
use common::pjsua::Pjsua;
use common::sipp::{Scenario, SippCmd};
use common::{agentphone, ports::free_port, require_peer, WorkDir};
use std::time::Duration;

/// What agentphone plays while not held.
const VOICE_HZ: f64 = 1000.0;
/// The music on hold: a 300 Hz tone. Neither tone's G.711 products land on the
/// other (1 kHz: multiples of 1 kHz; 300 Hz: its harmonics).
const MUSIC_HZ: f64 = 300.0;
/// A tone is there when it measures at least this (both are sent at -12 dBFS).
const PRESENT_DB: f64 = -35.0;
/// The tone that should not be there is at least this far below the one that is.
const ABSENT_BELOW_DB: f64 = 30.0;
/// Hold and resume, seconds after the answer, and the call's length.
const HOLD_AT_S: f64 = 2.0;
const RESUME_AT_S: f64 = 5.0;
const TALK_S: f64 = 8.0;
const LIMIT: Duration = Duration::from_secs(40);

/// A stretch of the call, seconds after the answer, well inside one state
/// (a re-INVITE and the media switch take ~100 ms; PJSIP recreates its stream).
struct Stretch {
    name: &'static str,
    from_s: f64,
    to_s: f64,
}

const BEFORE: Stretch = Stretch {
    name: "before the hold",
    from_s: 0.5,
    to_s: HOLD_AT_S - 0.3,
};
const HELD: Stretch = Stretch {
    name: "while held",
    from_s: HOLD_AT_S + 0.6,
    to_s: RESUME_AT_S - 0.4,
};
const AFTER: Stretch = Stretch {
    name: "after the resume",
    from_s: RESUME_AT_S + 0.6,
    to_s: TALK_S - 0.4,
};

/// What PJSIP heard, and where in its recording the call was answered.
struct Heard {
    samples: Vec<f32>,
    /// Seconds into the recording at which the call was confirmed.
    answered_s: f64,
    logs: String,
    /// Kept (with the logs and the recording) when a check fails.
    _dir: WorkDir,
}

impl Heard {
    /// The samples of `s`.
    fn stretch(&self, s: &Stretch) -> &[f32] {
        let at = |t: f64| (((self.answered_s + t) * RATE as f64) as usize).min(self.samples.len());
        let (from, to) = (at(s.from_s), at(s.to_s));
        assert!(
            to > from + RATE / 2,
            "PJSIP's recording ({:.2} s, answered at {:.2} s) does not cover {} ({}..{} s)\n{}",
            self.samples.len() as f64 / RATE as f64,
            self.answered_s,
            s.name,
            s.from_s,
            s.to_s,
            self.logs
        );
        &self.samples[from..to]
    }

    /// (voice, music) levels in `s`, dBFS; printed for `--nocapture`.
    fn levels(&self, s: &Stretch) -> (f64, f64) {
        let piece = self.stretch(s);
        let voice = tone_level_db(piece, RATE, VOICE_HZ);
        let music = tone_level_db(piece, RATE, MUSIC_HZ);
        let level = 20.0 * (rms(piece) / 32_768.0).max(1e-12).log10();
        eprintln!(
            "{}: {VOICE_HZ} Hz {voice:.1} dBFS, {MUSIC_HZ} Hz {music:.1} dBFS, rms {level:.1} dBFS",
            s.name
        );
        (voice, music)
    }

    /// `present` Hz is heard in `s` and `absent` Hz at least ABSENT_BELOW_DB under it.
    fn expect(&self, s: &Stretch, present: f64, absent: f64) {
        let piece = self.stretch(s);
        let (p, a) = (
            tone_level_db(piece, RATE, present),
            tone_level_db(piece, RATE, absent),
        );
        assert!(
            p >= PRESENT_DB,
            "{}: {present} Hz at {p:.1} dBFS only (need {PRESENT_DB})\n{}",
            s.name,
            self.logs
        );
        assert!(
            a <= p - ABSENT_BELOW_DB,
            "{}: {absent} Hz at {a:.1} dBFS, less than {ABSENT_BELOW_DB} dB under the \
             {present} Hz at {p:.1} dBFS\n{}",
            s.name,
            self.logs
        );
    }
}

/// PJSIP answers and records; agentphone calls it playing 1 kHz, holds it at
/// 2 s and resumes at 5 s, hanging up at 8 s, with `music` as its music on hold.
/// Checks the signalling (both re-INVITE directions, the `holding`/`resumed`
/// lines); returns what PJSIP heard. `None` when PJSIP is not installed.
fn held_by_agentphone(test: &str, music: Option<f64>) -> Option<Heard> {
    let dir = WorkDir::new(test);
    let record = dir.file("pjsua-heard.wav");
    let mut pjsua = Pjsua::answer(&dir, free_port(), &record)?;
    let config = dir.file("agentphone.toml");
    let text = match music {
        Some(hz) => {
            // 3 s of a whole-hertz tone: loops without a click.
            let wav = dir.file("music-on-hold.wav");
            write_tone_wav(&wav, 48_000, &[(hz, -12.0)], 3.0);
            format!("[media]\nmusic_on_hold = \"{}\"\n", agentphone::arg(&wav))
        }
        None => "# no music on hold: the held party hears silence\n[media]\n".to_string(),
    };
    std::fs::write(&config, text).expect("write config");
    let secs = |s: f64| format!("{s}");
    let mut phone = agentphone::spawn(
        &dir,
        "agentphone",
        &[
            "--config",
            agentphone::arg(&config),
            "call",
            &pjsua.uri(),
            "--play",
            &format!("tone:{VOICE_HZ}"),
            "--hold-at",
            &secs(HOLD_AT_S),
            "--resume-at",
            &secs(RESUME_AT_S),
            "--duration",
            &secs(TALK_S),
        ],
        &[],
        LIMIT,
    );
    let status = phone.wait(LIMIT);
    let ended = pjsua.wait_for(|e| e.kind() == "ended", Duration::from_secs(10));
    // The WAV header is not always final at `ended` (seen: 0 s read back, full
    // file moments later); it is once the script has exited.
    let exited = pjsua.wait_exit(Duration::from_secs(10));
    let logs = format!(
        "{}\n{}\n--- pjsua events ---\n{}",
        phone.report(),
        pjsua.report(),
        pjsua
            .events()
            .iter()
            .map(|e| e.line.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "agentphone call failed ({status:?}):\n{logs}"
    );
    assert!(
        ended.is_some() && exited.is_some_and(|s| s.success()),
        "PJSIP did not end the call cleanly (exit {exited:?}):\n{logs}"
    );

    let out = phone.stdout();
    let holding = out.find("holding");
    let resumed = out.find("resumed");
    assert!(
        holding.is_some() && resumed.is_some() && holding < resumed,
        "agentphone should print `holding` then `resumed`:\n{logs}"
    );
    assert_eq!(
        pjsua.reinvite_directions(),
        ["sendonly", "sendrecv"],
        "PJSIP should receive a sendonly re-INVITE, then a sendrecv one:\n{logs}"
    );

    // The recorder starts at PJSIP's first `connected` (media up, when it
    // answers); agentphone counts its hold times from the answer (`CONFIRMED`).
    let events = pjsua.events();
    let time_of = |pred: &dyn Fn(&common::pjsua::Event) -> bool| {
        events
            .iter()
            .find(|e| pred(e))
            .and_then(|e| e.get("t"))
            .and_then(|t| t.parse::<f64>().ok())
    };
    let connected = time_of(&|e| e.kind() == "connected");
    let confirmed = time_of(&|e| e.is("state", "state", "CONFIRMED"));
    let (Some(connected), Some(confirmed)) = (connected, confirmed) else {
        panic!("PJSIP reported no `connected` or no CONFIRMED state:\n{logs}");
    };
    let answered_s = (confirmed - connected).max(0.0);
    let samples = read(&record);
    eprintln!(
        "{test}: PJSIP recorded {:.2} s; answered {answered_s:.3} s into it",
        samples.len() as f64 / RATE as f64
    );
    Some(Heard {
        samples,
        answered_s,
        logs,
        _dir: dir,
    })
}

#[test]
fn hold_against_pjsip_plays_music_and_no_agent_audio() {
    let Some(heard) = held_by_agentphone("hold-pjsip-music", Some(MUSIC_HZ)) else {
        return;
    };
    for s in [&BEFORE, &HELD, &AFTER] {
        heard.levels(s);
    }
    heard.expect(&BEFORE, VOICE_HZ, MUSIC_HZ);
    heard.expect(&HELD, MUSIC_HZ, VOICE_HZ);
    heard.expect(&AFTER, VOICE_HZ, MUSIC_HZ);
}

#[test]
fn hold_against_pjsip_without_music_is_silent() {
    let Some(heard) = held_by_agentphone("hold-pjsip-silence", None) else {
        return;
    };
    let (voice_before, _) = heard.levels(&BEFORE);
    let (voice_held, music_held) = heard.levels(&HELD);
    heard.levels(&AFTER);
    heard.expect(&BEFORE, VOICE_HZ, MUSIC_HZ);
    heard.expect(&AFTER, VOICE_HZ, MUSIC_HZ);
    // Near silence: nothing above -50 dBFS RMS, no trace of our tone or music.
    let held = heard.stretch(&HELD);
    let level = 20.0 * (rms(held) / 32_768.0).max(1e-12).log10();
    assert!(
        level <= -50.0,
        "while held without music PJSIP heard {level:.1} dBFS RMS (limit -50)\n{}",
        heard.logs
    );
    assert!(
        voice_held <= voice_before - 40.0 && music_held <= -60.0,
        "while held without music PJSIP heard {VOICE_HZ} Hz at {voice_held:.1} dBFS \
         (before: {voice_before:.1}) and {MUSIC_HZ} Hz at {music_held:.1} dBFS\n{}",
        heard.logs
    );
}

#[test]
fn hold_against_sipp_puts_the_direction_on_the_wire() {
    let Some(sipp) = require_peer("sipp") else {
        return;
    };
    let dir = WorkDir::new("hold-sipp");
    let port = free_port();
    // The scenario fails the call unless the first re-INVITE says a=sendonly and
    // the second a=sendrecv (and neither names another direction).
    let mut uas = SippCmd::uas("sipp_uas", Scenario::File("uas_hold_check.xml"), port)
        .args(&["-m", "1"])
        .media_on_loopback()
        .limit(Duration::from_secs(20))
        .start(&sipp, &dir);
    let mut phone = agentphone::spawn(
        &dir,
        "agentphone",
        &[
            "call",
            &format!("sip:bob@127.0.0.1:{port}"),
            "--hold-at",
            "1",
            "--resume-at",
            "2",
            "--duration",
            "3",
        ],
        &[],
        Duration::from_secs(30),
    );
    let status = phone.wait(Duration::from_secs(20));
    let result = uas.finish(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "agentphone call failed ({status:?}):\n{}\n{}",
        phone.report(),
        result.report
    );
    result.assert_all_succeeded(1, &phone.report());
    let out = phone.stdout();
    let (holding, resumed) = (out.find("holding"), out.find("resumed"));
    assert!(
        holding.is_some() && resumed.is_some() && holding < resumed,
        "agentphone should print `holding` then `resumed`:\n{}",
        phone.report()
    );
}
