//! `agentphone demo`: two endpoints on loopback, no server needed. Alice calls
//! Bob, Bob answers, the call stays up, Alice hangs up, and the SIP exchange is
//! summarised on one screen. Alice plays speech with background noise; Bob removes
//! the noise from what he hears (R-NR-3) and records it to a WAV in the temp dir,
//! whose path is printed with the noise floor before and after.

use crate::media::{CleanAudio, MediaEngine, MediaLeg, MediaPlan, MediaSettings, Placement};
use crate::net::SipDriver;
use agentphone_sip::transport::Destination;
use agentphone_sip::{CallRequest, EndReason, Event};
use anyhow::{anyhow, bail, Result};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Flags of `agentphone demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Seconds the call stays up.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Bob removes background noise from what he hears.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = ["on", "off"])]
    pub denoise: String,
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Runs the demo.
pub async fn run(args: DemoArgs) -> Result<()> {
    // Both ends' media run on the one engine of this process.
    let engine = super::start_engine(None, &MediaSettings::default())?;
    let mut bob = SipDriver::bind((LOOPBACK, 0).into(), "bob", Vec::new()).await?;
    let bob_addr = bob.local_addr();
    let heard =
        std::env::temp_dir().join(format!("agentphone-demo-bob-{}.wav", std::process::id()));
    let bob_plan = MediaPlan::open(None, Some(&heard))?;
    let clean = CleanAudio {
        inbound: args.denoise == "on",
        microphone: false,
        switchable: false,
    };
    let bob_engine = engine.clone();
    let bob_task =
        tokio::spawn(async move { answer_one(&mut bob, bob_plan, clean, &bob_engine).await });

    let mut alice = SipDriver::bind((LOOPBACK, 0).into(), "alice", Vec::new()).await?;
    let speech = speech_fixture();
    let mut alice_plan = Some(MediaPlan::open(speech.as_deref(), None)?);
    let mut media = MediaLeg::bind(LOOPBACK, &MediaSettings::default(), &engine).await?;
    let started = Instant::now();
    let target = agentphone_sip::rsip::parse_uri(&format!("sip:bob@{bob_addr}"))
        .map_err(|e| anyhow!("bad demo URI: {e}"))?;
    let alice_addr = alice.local_addr();
    println!("alice ({alice_addr}) calls bob ({bob_addr})");
    let call = alice.ep().call(
        Instant::now(),
        CallRequest {
            target,
            from: format!("<sip:alice@{alice_addr}>"),
            via_proxy: Some(Destination::udp(bob_addr)),
            credentials: None,
            sdp_offer: media.offer()?,
            tcp: false,
            extra_headers: Vec::new(),
            alternates: Vec::new(),
        },
    )?;
    let mut trace = Vec::new();
    let mut hangup_at: Option<tokio::time::Instant> = None;
    let reason = loop {
        let sleep = async {
            match hangup_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = alice.next_event() => match ev? {
                Event::Trace { sent, first_line, .. } => trace.push((started.elapsed(), sent, first_line)),
                Event::Established { remote_sdp, .. } => {
                    println!("answered; talking for {:.1} s", args.duration);
                    if let Some(plan) = alice_plan.take() {
                        let negotiated = media.process_answer(remote_sdp.as_deref())?;
                        media.start(&negotiated, Placement::Own(plan), CleanAudio::default())?;
                    }
                    hangup_at = Some(tokio::time::Instant::now() + Duration::from_secs_f64(args.duration));
                }
                Event::ReInvite { call: c, offer } => alice.answer_reinvite(c, &mut media, offer.as_deref()),
                Event::Ended { call: c, reason } if c == call => break reason,
                _ => {}
            },
            _ = sleep => {
                hangup_at = None;
                alice.ep().hangup(Instant::now(), call)?;
            }
        }
    };
    media.stop().await;
    // Let the last transmit (200 to BYE) reach Bob before summarising.
    let (bob_reason, bob_media) =
        tokio::time::timeout(Duration::from_secs(5), bob_task).await???;
    print_summary(&trace);
    println!("alice: {reason}; bob: {bob_reason}");
    if let Some(report) = bob_media {
        println!("bob's media: {report}");
    }
    match &speech {
        Some(p) => {
            println!("alice played {}", p.display());
            print_noise_floor("alice sent", p);
        }
        None => println!("alice played silence (speech fixture not found)"),
    }
    println!("bob heard: {}", heard.display());
    print_noise_floor("bob heard", &heard);
    if reason != EndReason::LocalHangup {
        bail!("demo call did not end cleanly: {reason}");
    }
    Ok(())
}

async fn answer_one(
    bob: &mut SipDriver,
    plan: MediaPlan,
    clean: CleanAudio,
    engine: &MediaEngine,
) -> Result<(EndReason, Option<crate::media::MediaReport>)> {
    let mut media = None;
    let mut plan = Some(plan);
    loop {
        match bob.next_event().await? {
            Event::IncomingCall { call, offer, .. } => {
                let mut leg = MediaLeg::bind(LOOPBACK, &MediaSettings::default(), engine).await?;
                let (sdp, negotiated) = match leg.answer(offer.as_deref()) {
                    Ok(a) => a,
                    Err(e) => {
                        bob.ep().reject(Instant::now(), call, 488)?;
                        bail!("bob rejected the offer: {e}");
                    }
                };
                bob.ep().ring(Instant::now(), call)?;
                bob.ep().answer(Instant::now(), call, sdp)?;
                media = Some((leg, negotiated));
            }
            Event::Established { .. } => {
                if let (Some((leg, negotiated)), Some(p)) = (&mut media, plan.take()) {
                    leg.start(negotiated, Placement::Own(p), clean)?;
                }
            }
            Event::ReInvite { call, offer } => match &mut media {
                Some((leg, _)) => bob.answer_reinvite(call, leg, offer.as_deref()),
                None => {
                    let _ = bob.ep().reject_reinvite(Instant::now(), call, 488);
                }
            },
            Event::Ended { reason, .. } => {
                let report = match &mut media {
                    Some((leg, _)) => leg.stop().await,
                    None => None,
                };
                return Ok((reason, report));
            }
            _ => {}
        }
    }
}

/// The noisy speech fixture of this source tree, when the binary runs where it
/// was built.
fn speech_fixture() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio/speech_noisy.wav");
    path.is_file().then_some(path)
}

/// Prints the background-noise floor of a WAV: the level of its quietest tenth
/// of 10 ms frames (the pauses between words), in dBFS. Digital silence (before
/// the audio starts, after the file ends) is not background noise and is left out.
fn print_noise_floor(who: &str, path: &Path) {
    match agentphone_audio::wav::read_wav_48k_mono(path) {
        Ok(wav) => {
            let mut levels: Vec<f32> = wav
                .samples
                .chunks_exact(agentphone_audio::FRAME_SAMPLES)
                .map(|f| agentphone_audio::meter::block_level(f).rms_dbfs)
                .filter(|&db| db > -90.0)
                .collect();
            levels.sort_by(f32::total_cmp);
            if let Some(floor) = levels.get(levels.len() / 10) {
                println!("  {who}: background noise floor {floor:.1} dBFS");
            }
        }
        Err(e) => println!("  {who}: cannot measure {}: {e}", path.display()),
    }
}

fn print_summary(trace: &[(Duration, bool, String)]) {
    println!("\nSIP exchange seen by alice:");
    println!("  {:>8}  {:<3}  message", "time", "dir");
    for (t, sent, line) in trace {
        let dir = if *sent { "->" } else { "<-" };
        println!("  {:>7.3}s  {dir:<3}  {line}", t.as_secs_f64());
    }
}
