//! Audio between agentphone and baresip 1.0, both directions, PCMU and Opus.
//!
//! baresip plays `fixtures/audio/speech.wav` (padded with silence) through its
//! `aufile` source and records what it hears with `sndfile`; agentphone plays the
//! same fixture and records what it hears. Each recording must contain the fixture:
//! cross-correlation (tests/common/audio.rs) above a threshold, at a lag below a
//! bound. Both sides' logs must name the codec under test, so a fallback to another
//! codec fails the test instead of passing it. After the speech the caller sends
//! DTMF digits (RFC 4733) and the far end must report exactly those digits;
//! baresip offers telephone-event/8000 even beside Opus, which agentphone takes.

mod common;

use common::audio::{best_match, find_pieces, read, Match, RATE};
use common::baresip::{json_field, take_netstring, write_padded_source, Baresip, Codec, Options};
use common::process::Peer;
use common::{agentphone, fixture, ports::free_port, WorkDir};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Seconds each call stays up once answered: the 4 s fixture, the digits and a margin.
const TALK_S: u64 = 6;
/// DTMF sent by the calling side once the speech is over (so the audio check
/// is not disturbed: agentphone sends events instead of audio while digits play).
const DIGITS: &str = "159#";
/// When the digits start, in seconds after the answer.
const DIGITS_AT_S: f64 = 4.3;
/// Silence after the speech in baresip's source, so `aufile` (which hangs up when
/// its file ends) outlasts every call here.
const SOURCE_PADDING_S: f64 = 20.0;
/// Hard limit on every process of a test.
const LIMIT: Duration = Duration::from_secs(25);
/// Largest lag accepted between playing the fixture and hearing it.
const MAX_LAG_MS: f64 = 200.0;

/// How agentphone names the codec on its command line.
fn cli_name(codec: Codec) -> &'static str {
    match codec {
        Codec::Pcmu => "pcmu",
        Codec::Opus => "opus",
    }
}

/// agentphone's `media started codec=..` field for the codec.
fn log_field(codec: Codec) -> &'static str {
    match codec {
        Codec::Pcmu => "codec=PCMU",
        Codec::Opus => "codec=opus",
    }
}

/// Least correlation accepted, the same as tests/audio_loopback.rs: G.711 keeps
/// the waveform; Opus need not.
fn min_correlation(codec: Codec) -> f64 {
    match codec {
        Codec::Pcmu => 0.8,
        Codec::Opus => 0.6,
    }
}

/// What one call left behind.
struct Outcome {
    agentphone: Peer,
    agentphone_heard: PathBuf,
    baresip: Baresip,
    /// The digits the called side reported.
    digits_heard: String,
}

fn baresip_options<'a>(codec: Codec, source: &'a Path, auto_answer: bool) -> Options<'a> {
    Options {
        user: "bob",
        codec,
        source,
        auto_answer,
        limit: LIMIT,
    }
}

/// agentphone calls baresip, which answers at once; agentphone hangs up.
fn agentphone_calls_baresip(dir: &WorkDir, codec: Codec) -> Option<Outcome> {
    let source = dir.file("baresip-source.wav");
    write_padded_source(&fixture("audio/speech.wav"), SOURCE_PADDING_S, &source);
    let mut baresip = Baresip::start(dir, "baresip", &baresip_options(codec, &source, true))?;
    let speech = fixture("audio/speech.wav");
    let heard = dir.file("agentphone-heard.wav");
    let mut caller = agentphone::spawn(
        dir,
        "agentphone",
        &[
            "call",
            &baresip.uri(),
            "--duration",
            &TALK_S.to_string(),
            "--codec",
            cli_name(codec),
            "--play",
            agentphone::arg(&speech),
            "--record",
            agentphone::arg(&heard),
            "--dtmf",
            DIGITS,
            "--dtmf-delay",
            &DIGITS_AT_S.to_string(),
        ],
        &[],
        LIMIT,
    );
    let status = caller.wait(LIMIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "agentphone call failed ({status:?}):\n{}\n{}",
        caller.report(),
        baresip.report()
    );
    let events = baresip.events_until("CALL_CLOSED", Duration::from_secs(5));
    let kind = |e: &String| json_field(e, "type").unwrap_or_default();
    assert!(
        events.iter().any(|e| kind(e) == "CALL_ESTABLISHED"),
        "{events:?}"
    );
    let digits_heard = events
        .iter()
        .filter(|e| kind(e) == "CALL_DTMF_START")
        .filter_map(|e| json_field(e, "param"))
        .collect();
    Some(Outcome {
        agentphone: caller,
        agentphone_heard: heard,
        baresip,
        digits_heard,
    })
}

/// baresip calls agentphone, which answers; baresip hangs up over `ctrl_tcp`.
fn baresip_calls_agentphone(dir: &WorkDir, codec: Codec) -> Option<Outcome> {
    let source = dir.file("baresip-source.wav");
    write_padded_source(&fixture("audio/speech.wav"), SOURCE_PADDING_S, &source);
    let mut baresip = Baresip::start(dir, "baresip", &baresip_options(codec, &source, false))?;
    let speech = fixture("audio/speech.wav");
    let listen = format!("127.0.0.1:{}", free_port());
    let record_dir = dir.file("agentphone-recordings");
    let mut callee = agentphone::answer_one(
        dir,
        "agentphone",
        &listen,
        &[
            "--codec",
            cli_name(codec),
            "--play",
            agentphone::arg(&speech),
            "--record-dir",
            agentphone::arg(&record_dir),
        ],
        LIMIT,
    );
    baresip.dial(&format!("sip:agentphone@{listen}"));
    baresip.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs_f64(DIGITS_AT_S));
    baresip.send_digits(DIGITS);
    std::thread::sleep(Duration::from_secs_f64(TALK_S as f64 - DIGITS_AT_S));
    baresip.hangup();
    baresip.wait_event("CALL_CLOSED", Duration::from_secs(5));
    let status = callee.wait(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "agentphone answer did not finish ({status:?}):\n{}\n{}",
        callee.report(),
        baresip.report()
    );
    // The media report: `DTMF received "159#"`.
    let digits_heard = callee
        .output()
        .split("DTMF received \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string();
    Some(Outcome {
        agentphone: callee,
        agentphone_heard: agentphone::only_recording_in(&record_dir),
        baresip,
        digits_heard,
    })
}

/// Checks the codec both sides used and the audio both sides heard.
fn check(codec: Codec, direction: &str, outcome: &Outcome) {
    let logs = format!(
        "{}\n{}",
        outcome.agentphone.report(),
        outcome.baresip.report()
    );
    let started = outcome
        .agentphone
        .output()
        .lines()
        .any(|line| line.contains("media started") && line.contains(log_field(codec)));
    assert!(
        started,
        "agentphone did not start media with {}:\n{logs}",
        log_field(codec)
    );
    let decoder = format!("Set audio decoder: {}", codec.baresip_name());
    assert!(
        outcome.baresip.output().contains(&decoder),
        "baresip did not log `{decoder}`:\n{logs}"
    );
    assert_eq!(
        outcome.digits_heard, DIGITS,
        "{direction} {codec:?}: the called side reported other DTMF digits\n{logs}"
    );
    let dumps = outcome.baresip.dumps();
    let dump = agentphone_audio::wav::read_wav(&dumps.heard)
        .unwrap_or_else(|e| panic!("baresip recording {}: {e}", dumps.heard.display()));
    assert_eq!(
        dump.rate,
        codec.dump_rate(),
        "baresip decoded at the wrong rate: {}",
        dumps.heard.display()
    );
    let reference = read(&fixture("audio/speech.wav"));
    let heard = [
        ("agentphone", read(&outcome.agentphone_heard)),
        ("baresip", read(&dumps.heard)),
    ];
    for (who, samples) in &heard {
        assert!(
            samples.len() >= reference.len(),
            "{direction}: {who} recorded {:.2} s only:\n{logs}",
            samples.len() as f64 / RATE as f64
        );
        // Piecewise: under load the adaptive jitter buffer may add a packet of
        // delay mid-call, which whole-signal correlation counts as a mismatch.
        let p = find_pieces(&reference, samples);
        let m = Match {
            lag_ms: p.max_lag_ms,
            correlation: p.correlation,
        };
        eprintln!("{direction} {:?}: {who} heard {m:?}", codec);
        if m.correlation < min_correlation(codec) {
            // Whether baresip sent the fixture at all tells which side lost it.
            let sent = best_match(&reference, &read(&dumps.sent));
            panic!(
                "{direction} {codec:?}: {who} heard audio correlating {:.3} with the fixture \
                 (need {}); baresip sent {sent:?}\n{logs}",
                m.correlation,
                min_correlation(codec)
            );
        }
        assert!(
            m.lag_ms < MAX_LAG_MS,
            "{direction} {:?}: {who} heard the fixture {:.1} ms late (bound {MAX_LAG_MS})\n{logs}",
            codec,
            m.lag_ms
        );
    }
}

fn run(codec: Codec, agentphone_calls: bool) {
    let (direction, name) = if agentphone_calls {
        ("agentphone → baresip", "to-baresip")
    } else {
        ("baresip → agentphone", "from-baresip")
    };
    let dir = WorkDir::new(&format!("baresip-{name}-{}", cli_name(codec)));
    let outcome = if agentphone_calls {
        agentphone_calls_baresip(&dir, codec)
    } else {
        baresip_calls_agentphone(&dir, codec)
    };
    if let Some(outcome) = outcome {
        check(codec, direction, &outcome);
    }
}

#[test]
fn agentphone_calls_baresip_pcmu() {
    run(Codec::Pcmu, true);
}

#[test]
fn agentphone_calls_baresip_opus() {
    run(Codec::Opus, true);
}

#[test]
fn baresip_calls_agentphone_pcmu() {
    run(Codec::Pcmu, false);
}

#[test]
fn baresip_calls_agentphone_opus() {
    run(Codec::Opus, false);
}

#[test]
fn ctrl_tcp_netstrings_are_framed_one_at_a_time() {
    let mut buffer = b"5:hello,3:ab".to_vec();
    assert_eq!(take_netstring(&mut buffer), Ok(Some("hello".to_string())));
    assert_eq!(take_netstring(&mut buffer), Ok(None));
    buffer.extend_from_slice(b"c,");
    assert_eq!(take_netstring(&mut buffer), Ok(Some("abc".to_string())));
    assert!(buffer.is_empty());
    assert!(take_netstring(&mut b"2:abc,".to_vec()).is_err());
}

#[test]
fn ctrl_tcp_event_fields_are_read() {
    let event =
        r#"{"event":true,"class":"call","type":"CALL_CLOSED","param":"say \"bye\"","id":"7"}"#;
    assert_eq!(json_field(event, "event").as_deref(), Some("true"));
    assert_eq!(json_field(event, "type").as_deref(), Some("CALL_CLOSED"));
    assert_eq!(json_field(event, "param").as_deref(), Some("say \"bye\""));
    assert_eq!(json_field(event, "token"), None);
}
