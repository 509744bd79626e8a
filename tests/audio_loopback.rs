//! Real audio through the `agentphone` binary: `answer` ⇄ `call` on loopback, each
//! side playing the speech fixture and recording what it hears, for PCMU, PCMA and
//! Opus. What was heard must be the fixture, delayed by less than 200 ms.

mod common;

use common::audio::{best_match, find_pieces, read, Match, RATE};
use common::process::Peer;
use common::{agentphone, fixture, ports::free_port, WorkDir};
use std::time::Duration;

/// Runs one call with `codec`; returns (what the caller heard, what the callee heard).
fn call_with(codec: &str) -> (Match, Match) {
    let dir = WorkDir::new(&format!("audio-{codec}"));
    let speech = fixture("audio/speech.wav");
    let speech_arg = agentphone::arg(&speech);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let record_dir = dir.file("callee-recordings");
    let limit = Duration::from_secs(30);
    let mut callee = agentphone::answer_one(
        &dir,
        "callee",
        &listen,
        &[
            "--codec",
            codec,
            "--play",
            speech_arg,
            "--record-dir",
            agentphone::arg(&record_dir),
        ],
        limit,
    );
    let caller_wav = dir.file("caller-heard.wav");
    let mut caller = agentphone::spawn(
        &dir,
        "caller",
        &[
            "call",
            &format!("sip:bob@{listen}"),
            "--duration",
            "5",
            "--codec",
            codec,
            "--play",
            speech_arg,
            "--record",
            agentphone::arg(&caller_wav),
        ],
        &[],
        limit,
    );
    agentphone::expect_success(&mut caller, limit, &[&callee]);
    agentphone::expect_success(&mut callee, Duration::from_secs(10), &[]);
    let recording = agentphone::only_recording_in(&record_dir);
    let reference = read(&speech);
    let caller_heard = read(&caller_wav);
    let callee_heard = read(&recording);
    for (who, heard) in [("caller", &caller_heard), ("callee", &callee_heard)] {
        // 5 s call: at least the 4 s of speech must be in the file.
        assert!(
            heard.len() >= reference.len(),
            "{who} recorded {:.2} s only",
            heard.len() as f64 / RATE as f64
        );
    }
    (
        piecewise(&reference, &caller_heard),
        piecewise(&reference, &callee_heard),
    )
}

/// The fixture found in a recording 200 ms at a time: a late packet on a loaded
/// machine makes the adaptive jitter buffer add a packet of delay mid-call,
/// which whole-signal correlation would count as a mismatch although every word
/// was heard. The lag is the latest piece's.
fn piecewise(reference: &[f32], heard: &[f32]) -> Match {
    let p = find_pieces(reference, heard);
    Match {
        lag_ms: p.max_lag_ms,
        correlation: p.correlation,
    }
}

fn check(codec: &str, min_correlation: f64) {
    let (caller, callee) = call_with(codec);
    eprintln!("{codec}: caller heard {caller:?}; callee heard {callee:?}");
    for (who, m) in [("caller", caller), ("callee", callee)] {
        assert!(
            m.correlation >= min_correlation,
            "{codec}: {who} heard audio correlating {:.3} with the fixture (need {min_correlation})",
            m.correlation
        );
        assert!(
            m.lag_ms < 200.0,
            "{codec}: {who} heard the fixture {:.1} ms late",
            m.lag_ms
        );
    }
}

#[test]
fn pcmu_audio_is_heard_both_ways() {
    check("pcmu", 0.8);
}

#[test]
fn pcma_audio_is_heard_both_ways() {
    check("pcma", 0.8);
}

#[test]
fn opus_audio_is_heard_both_ways() {
    check("opus", 0.6);
}

/// The caller's process is frozen (SIGSTOP) for a quarter second mid-speech,
/// as a suspended laptop or a stalled VM would be. Its audio clock skips the
/// lost ticks, and its RTP timestamps must jump with them: the callee then
/// hears the rest of the speech exactly the stall later, at the delay it had,
/// instead of reading the stall as network delay and playing late from then
/// on.
#[test]
fn a_caller_frozen_mid_call_is_heard_at_the_same_delay_after_it() {
    const STALL: Duration = Duration::from_millis(250);
    let dir = WorkDir::new("audio-stall");
    let speech = fixture("audio/speech.wav");
    let listen = format!("127.0.0.1:{}", free_port());
    let record_dir = dir.file("callee-recordings");
    let limit = Duration::from_secs(30);
    let mut callee = agentphone::answer_one(
        &dir,
        "callee",
        &listen,
        &[
            "--codec",
            "pcmu",
            "--record-dir",
            agentphone::arg(&record_dir),
        ],
        limit,
    );
    let mut caller = agentphone::spawn(
        &dir,
        "caller",
        &[
            "call",
            &format!("sip:bob@{listen}"),
            "--duration",
            "6",
            "--codec",
            "pcmu",
            "--play",
            agentphone::arg(&speech),
        ],
        &[],
        limit,
    );
    assert!(
        caller.wait_for_output("answered", Duration::from_secs(10)),
        "no answer:\n{}",
        caller.report()
    );
    std::thread::sleep(Duration::from_millis(1_600));
    caller.signal_program("STOP");
    let frozen = std::time::Instant::now();
    std::thread::sleep(STALL);
    caller.signal_program("CONT");
    let stall_ms = frozen.elapsed().as_secs_f64() * 1000.0;
    agentphone::expect_success(&mut caller, limit, &[&callee]);
    agentphone::expect_success(&mut callee, Duration::from_secs(10), &[]);
    let report = agentphone::media_stopped(&callee.output())
        .unwrap_or_default()
        .to_string();
    let heard = read(&agentphone::only_recording_in(&record_dir));
    let pieces = find_pieces(&read(&speech), &heard);
    let lags: Vec<f64> = pieces
        .lags
        .iter()
        .flatten()
        .map(|&l| l as f64 * 1000.0 / RATE as f64)
        .collect();
    let caller_log = caller.output();
    let caller_side: Vec<&str> = caller_log
        .lines()
        .filter(|l| l.contains("stalled") || l.contains("media stopped"))
        .collect();
    eprintln!(
        "stalled {stall_ms:.0} ms; lags (ms) {lags:.0?}; callee: {report}; caller: {caller_side:#?}"
    );
    assert!(lags.len() >= 8, "speech not found: {lags:?}");
    // The stall falls in the middle of the 4 s of speech: the first pieces
    // are before it, the last ones after it.
    let before = lags[..3].iter().cloned().fold(f64::MAX, f64::min);
    let after = lags[lags.len() - 3..]
        .iter()
        .cloned()
        .fold(f64::MAX, f64::min);
    let moved = after - before;
    assert!(
        moved > stall_ms - 30.0 && moved < stall_ms + 45.0,
        "the speech after a {stall_ms:.0} ms stall came {moved:.0} ms later than before it \
         (lags {lags:.0?}; callee: {report})"
    );
}

#[test]
fn correlation_finds_a_known_delay() {
    // The measuring tool itself: a pseudo-random signal delayed by 1234 samples.
    let mut state = 1u32;
    let signal: Vec<f32> = (0..RATE)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            f32::from((state >> 16) as u16) - 32768.0
        })
        .collect();
    let mut delayed = vec![0.0; 1234];
    delayed.extend_from_slice(&signal);
    let m = best_match(&signal, &delayed);
    assert!(
        (m.lag_ms - 1234.0 * 1000.0 / RATE as f64).abs() < 1e-9,
        "{m:?}"
    );
    assert!(m.correlation > 0.999, "{m:?}");
}

#[test]
fn stereo_recording_holds_heard_left_and_sent_right() {
    let dir = WorkDir::new("audio-stereo");
    let speech = fixture("audio/speech.wav");
    let listen = format!("127.0.0.1:{}", free_port());
    let limit = Duration::from_secs(30);
    // The far end plays nothing, so the left channel must stay (near) silent
    // while the right carries the speech we sent: the channels are not swapped.
    let callee = agentphone::answer_one(&dir, "callee", &listen, &[], limit);
    let wav = dir.file("both.wav");
    let mut caller = agentphone::spawn(
        &dir,
        "caller",
        &[
            "call",
            &format!("sip:bob@{listen}"),
            "--duration",
            "5",
            "--play",
            agentphone::arg(&speech),
            "--record",
            agentphone::arg(&wav),
            "--stereo",
        ],
        &[],
        limit,
    );
    agentphone::expect_success(&mut caller, limit, &[&callee]);
    let mut reader = hound::WavReader::open(&wav).expect("stereo recording");
    assert_eq!(reader.spec().channels, 2);
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("sample")))
        .collect();
    let left: Vec<f32> = samples.iter().step_by(2).copied().collect();
    let right: Vec<f32> = samples.iter().skip(1).step_by(2).copied().collect();
    let sent = best_match(&read(&speech), &right);
    assert!(
        sent.correlation > 0.99 && sent.lag_ms < 1.0,
        "the right channel is not what was sent: {sent:?}"
    );
    let peak_left = left.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(
        peak_left < 100.0,
        "the left channel (heard: silence) peaks at {peak_left}"
    );
}

/// A 2 s call playing a 1 kHz tone to `answer --max-calls 1 CALLEE_ARGS...`
/// listening on `host` (`127.0.0.1`, `[::1]`); the caller gets no `--listen`,
/// so it picks the address that reaches the callee. Both must succeed.
/// Returns (callee, caller) for their output.
fn tone_call(dir: &WorkDir, host: &str, callee_args: &[&str]) -> (Peer, Peer) {
    let listen = format!("{host}:{}", free_port());
    let limit = Duration::from_secs(30);
    let mut callee = agentphone::answer_one(dir, "callee", &listen, callee_args, limit);
    let mut caller = agentphone::spawn(
        dir,
        "caller",
        &[
            "call",
            &format!("sip:bob@{listen}"),
            "--duration",
            "2",
            "--play",
            "tone:1000",
        ],
        &[],
        limit,
    );
    agentphone::expect_success(&mut caller, limit, &[&callee]);
    agentphone::expect_success(&mut callee, Duration::from_secs(10), &[]);
    (callee, caller)
}

#[test]
fn a_tone_source_arrives_as_that_tone() {
    let dir = WorkDir::new("audio-tone");
    let limit = Duration::from_secs(30);
    let record_dir = dir.file("rec");
    tone_call(
        &dir,
        "127.0.0.1",
        &["--record-dir", agentphone::arg(&record_dir)],
    );
    let heard = read(&agentphone::only_recording_in(&record_dir));
    // The last second: playout has settled. A 1 kHz sine crosses zero 2000
    // times a second; its peak is -12 dBFS (8231 of 32768), kept by PCMU
    // within its quantisation.
    let tail = &heard[heard.len().saturating_sub(RATE)..];
    let crossings = tail
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    let peak = tail.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(
        (1900..=2100).contains(&crossings),
        "{crossings} zero crossings in 1 s"
    );
    assert!((7000.0..9500.0).contains(&peak), "peak {peak}");
    let mut bad = agentphone::spawn(
        &dir,
        "bad",
        &["call", "sip:bob@127.0.0.1:9", "--play", "tone:loud"],
        &[],
        limit,
    );
    assert!(bad.wait(limit).is_some_and(|s| !s.success()));
    assert!(
        bad.output().contains("'loud' is not a frequency"),
        "{}",
        bad.output()
    );
}

/// `[media]` in the config decides what is accepted and how much the jitter
/// buffer holds: the callee accepts only PCMA although the caller prefers PCMU,
/// and its buffer never goes below the configured 100 ms. A bad `[media]`
/// stops the run before any SIP, naming the file and the key.
#[test]
fn media_settings_from_the_config_choose_codec_and_jitter_floor() {
    let dir = WorkDir::new("audio-media-config");
    let limit = Duration::from_secs(30);
    let config = dir.file("callee.toml");
    std::fs::write(
        &config,
        "[media]\ncodecs = [\"pcma\"]\njitter_min_ms = 100\njitter_max_ms = 300\n",
    )
    .unwrap();
    let (callee, caller) = tone_call(&dir, "127.0.0.1", &["--config", agentphone::arg(&config)]);
    assert!(
        caller.output().contains("media: PCMA:"),
        "the caller sent PCMA, the only codec the callee takes:\n{}",
        caller.report()
    );
    let output = callee.output();
    let stopped = agentphone::media_stopped(&output)
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no media report:\n{}", callee.report()));
    let field = |name: &str| -> u32 {
        stopped
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {stopped}"))
    };
    assert!(stopped.contains("codec=PCMA"), "{stopped}");
    assert!(
        (100..=300).contains(&field("target_ms")),
        "target within the configured bounds: {stopped}"
    );
    assert!(field("played") > 50, "{stopped}");

    let bad = dir.file("bad.toml");
    std::fs::write(&bad, "[media]\ncodecs = [\"g729\"]\n").unwrap();
    let mut refused = agentphone::spawn(
        &dir,
        "refused",
        &[
            "--config",
            agentphone::arg(&bad),
            "call",
            "sip:bob@127.0.0.1:9",
        ],
        &[],
        limit,
    );
    assert!(refused.wait(limit).is_some_and(|s| !s.success()));
    let out = refused.output();
    assert!(
        out.contains("bad.toml") && out.contains("codecs") && out.contains("g729"),
        "{out}"
    );
}

/// RFC 2198 redundancy goes with Opus only when both ends list it: a callee
/// that takes only Opus answers the caller's `red/48000/2` and both send RED;
/// with `[media] red = false` it leaves red out of its answer and both send
/// plain Opus.
#[test]
fn opus_goes_with_red_only_when_both_ends_take_it() {
    for (red, expect) in [("true", "red=true"), ("false", "red=false")] {
        let dir = WorkDir::new(&format!("audio-red-{red}"));
        let config = dir.file("callee.toml");
        std::fs::write(
            &config,
            format!("[media]\ncodecs = [\"opus\"]\nred = {red}\n"),
        )
        .unwrap();
        let (callee, caller) =
            tone_call(&dir, "127.0.0.1", &["--config", agentphone::arg(&config)]);
        for peer in [&callee, &caller] {
            let output = peer.output();
            let started = output
                .lines()
                .find(|l| l.contains("media started"))
                .unwrap_or_else(|| panic!("no media started line:\n{}", peer.report()));
            assert!(
                started.contains("codec=opus") && started.contains(expect),
                "[media] red = {red} on the callee: {started}"
            );
        }
    }
}

/// An IPv6 callee and a caller given no `--listen`: the caller binds `::1`
/// (the address that reaches the callee), not an IPv4 default that cannot
/// send there, and the tone arrives.
#[test]
fn ipv6_call_without_listen_flag_carries_audio() {
    let dir = WorkDir::new("audio-ipv6");
    let record_dir = dir.file("rec");
    let (callee, _caller) = tone_call(
        &dir,
        "[::1]",
        &["--record-dir", agentphone::arg(&record_dir)],
    );
    assert!(
        callee.output().contains("from <sip:agentphone@[::1]:"),
        "the call came from ::1:\n{}",
        callee.report()
    );
    let heard = read(&agentphone::only_recording_in(&record_dir));
    let tail = &heard[heard.len().saturating_sub(RATE)..];
    let peak = tail.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(
        peak > 7000.0,
        "the tone did not arrive over IPv6 (peak {peak})"
    );
}
