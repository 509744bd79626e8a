//! Noise removal on a real call (R-NR-1, R-NR-3) and its lock (R-NR-2), through
//! the `agentphone` binary on loopback: the far end plays speech with background
//! noise; the agent's side records what it heard.

mod common;

use common::audio::{find_pieces, read, Pieces, RATE};
use common::{agentphone, fixture, ports::free_port, WorkDir};
use std::time::Duration;

const FRAME: usize = RATE / 100;

/// Energy (dB) removed from the pauses: over the 10 ms frames where the clean
/// fixture is silent, the noisy source's energy over what was heard there.
/// Each frame is looked up where its own stretch of speech was found in the
/// recording: when the jitter buffer changes its delay mid-call (a late
/// packet on a loaded machine), one lag for the whole call would measure the
/// rest of the pauses against speech.
fn noise_removed_db(heard: &[f32], pieces: &Pieces) -> (f64, usize) {
    let clean = read(&fixture("audio/speech.wav"));
    let noisy = read(&fixture("audio/speech_noisy.wav"));
    let (mut source, mut kept, mut frames) = (0.0f64, 0.0f64, 0usize);
    for (i, frame) in clean.chunks_exact(FRAME).enumerate() {
        let rms = (frame.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / FRAME as f64).sqrt();
        // Below -60 dBFS in the clean speech: a pause between words.
        if rms > 32768.0 * 1e-3 {
            continue;
        }
        let Some(at) = pieces.position(i * FRAME) else {
            continue;
        };
        let Some(h) = heard.get(at..at + FRAME) else {
            continue;
        };
        source += noisy[i * FRAME..(i + 1) * FRAME]
            .iter()
            .map(|s| f64::from(*s).powi(2))
            .sum::<f64>();
        kept += h.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>();
        frames += 1;
    }
    (10.0 * (source / kept.max(1e-9)).log10(), frames)
}

/// The callee plays the noisy fixture; the caller hears it with `--denoise`
/// on or off. Returns (noise removed in dB, pause frames measured, correlation
/// of what was heard with the clean speech).
fn call_hearing_noise(denoise: &str) -> (f64, usize, f64) {
    let dir = WorkDir::new(&format!("noise-{denoise}"));
    let listen = format!("127.0.0.1:{}", free_port());
    let limit = Duration::from_secs(30);
    let noisy = fixture("audio/speech_noisy.wav");
    let callee = agentphone::answer_one(
        &dir,
        "far-end",
        &listen,
        &["--codec", "pcmu", "--play", agentphone::arg(&noisy)],
        limit,
    );
    let heard_wav = dir.file("agent-heard.wav");
    let mut agent = agentphone::spawn(
        &dir,
        "agent",
        &[
            "call",
            &format!("sip:customer@{listen}"),
            "--duration",
            "5",
            "--codec",
            "pcmu",
            "--denoise",
            denoise,
            "--record",
            agentphone::arg(&heard_wav),
        ],
        &[],
        limit,
    );
    agentphone::expect_success(&mut agent, limit, &[&callee]);
    let expect = format!("denoise_inbound={}", denoise == "on");
    assert!(
        agent.output().contains(&expect),
        "the agent's media did not start with {expect}:\n{}",
        agent.report()
    );
    let heard = read(&heard_wav);
    let pieces = find_pieces(&read(&fixture("audio/speech.wav")), &heard);
    let (removed, frames) = noise_removed_db(&heard, &pieces);
    // What the jitter buffer did, to tell a timing event from the denoiser's
    // work when a figure is off.
    let output = agent.output();
    let media = agentphone::media_stopped(&output).unwrap_or("no media report");
    eprintln!(
        "denoise {denoise}: correlation {:.3} (lags up to {:.1} ms), {removed:.1} dB less noise \
         over {frames} pause frames\n  agent: {media}",
        pieces.correlation, pieces.max_lag_ms
    );
    (removed, frames, pieces.correlation)
}

#[test]
fn noise_from_the_far_end_is_removed_from_what_the_agent_hears() {
    let (removed, frames, correlation) = call_hearing_noise("on");
    assert!(frames >= 40, "only {frames} pause frames measured");
    // Measured here: 15.5 dB through PCMU (the offline figure on the same
    // fixture is 16.3 dB); the control without denoise measures 0.4 dB.
    assert!(removed >= 12.0, "only {removed:.1} dB of noise removed");
    assert!(
        correlation >= 0.6,
        "the speech itself did not survive: correlation {correlation:.3} with the clean fixture"
    );
}

#[test]
fn without_noise_removal_the_noise_arrives_unchanged() {
    // The control for the test above: the same measurement with denoise off
    // finds the noise still there, so the figure above is the denoiser's work.
    let (removed, frames, _) = call_hearing_noise("off");
    assert!(frames >= 40, "only {frames} pause frames measured");
    assert!(
        removed.abs() < 3.0,
        "{removed:.1} dB difference without noise removal: the measurement is off"
    );
}

#[test]
fn a_locked_account_refuses_switching_noise_removal_off_naming_the_rule() {
    let dir = WorkDir::new("noise-locked");
    let config = dir.file("agentphone.toml");
    std::fs::write(
        &config,
        "[accounts.agent]\nuser = \"agent\"\nregistrar = \"127.0.0.1:9\"\n\
         [accounts.agent.noise_reduction]\ninbound = true\nlocked = true\n",
    )
    .expect("write config");
    for verb in [
        vec!["call", "sip:customer@127.0.0.1:9"],
        vec!["answer", "--listen", "127.0.0.1:0"],
    ] {
        let mut args = vec!["--config", agentphone::arg(&config)];
        args.extend(verb.iter().copied());
        args.extend(["--account", "agent", "--denoise", "off"]);
        let mut p = agentphone::spawn(&dir, verb[0], &args, &[], Duration::from_secs(10));
        let status = p.wait(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| !s.success()),
            "{} --denoise off was not refused ({status:?}):\n{}",
            verb[0],
            p.report()
        );
        let out = p.output();
        assert!(
            out.contains("refused by R-NR-2") && out.contains("locked on"),
            "the refusal does not name the rule:\n{out}"
        );
    }
}
