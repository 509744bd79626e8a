//! `agentphone demo`: two endpoints on loopback, no server needed. Alice calls
//! Bob, Bob answers, the call stays up, Alice hangs up, and the SIP exchange is
//! summarised on one screen. Alice plays the speech fixture; what Bob hears is
//! recorded to a WAV in the temp dir, whose path is printed.

use super::call::MediaPlan;
use crate::media::MediaLeg;
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
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Runs the demo.
pub async fn run(args: DemoArgs) -> Result<()> {
    let mut bob = SipDriver::bind((LOOPBACK, 0).into(), "bob", Vec::new()).await?;
    let bob_addr = bob.local_addr();
    let heard =
        std::env::temp_dir().join(format!("agentphone-demo-bob-{}.wav", std::process::id()));
    let bob_plan = MediaPlan::open(None, Some(&heard))?;
    let bob_task = tokio::spawn(async move { answer_one(&mut bob, bob_plan).await });

    let mut alice = SipDriver::bind((LOOPBACK, 0).into(), "alice", Vec::new()).await?;
    let speech = speech_fixture();
    let mut alice_plan = Some(MediaPlan::open(speech.as_deref(), None)?);
    let mut media = MediaLeg::bind(LOOPBACK, None).await?;
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
            sdp_offer: media.offer(),
            tcp: false,
            extra_headers: Vec::new(),
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
                        media.start(&negotiated, plan.source, plan.recorder)?;
                    }
                    hangup_at = Some(tokio::time::Instant::now() + Duration::from_secs_f64(args.duration));
                }
                Event::ReInvite { call: c, .. } => alice.keep_session(c),
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
    let bob_reason = tokio::time::timeout(Duration::from_secs(5), bob_task).await??;
    print_summary(&trace);
    println!("alice: {reason}; bob: {}", bob_reason?);
    match &speech {
        Some(p) => println!("alice played {}", p.display()),
        None => println!("alice played silence (speech fixture not found)"),
    }
    println!("bob heard: {}", heard.display());
    if reason != EndReason::LocalHangup {
        bail!("demo call did not end cleanly: {reason}");
    }
    Ok(())
}

async fn answer_one(bob: &mut SipDriver, plan: MediaPlan) -> Result<EndReason> {
    let mut media = None;
    let mut plan = Some(plan);
    loop {
        match bob.next_event().await? {
            Event::IncomingCall { call, offer, .. } => {
                let mut leg = MediaLeg::bind(LOOPBACK, None).await?;
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
                    leg.start(negotiated, p.source, p.recorder)?;
                }
            }
            Event::ReInvite { call, .. } => bob.keep_session(call),
            Event::Ended { reason, .. } => {
                if let Some((leg, _)) = &mut media {
                    leg.stop().await;
                }
                return Ok(reason);
            }
            _ => {}
        }
    }
}

/// The speech fixture of this source tree, when the binary runs where it was built.
fn speech_fixture() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio/speech.wav");
    path.is_file().then_some(path)
}

fn print_summary(trace: &[(Duration, bool, String)]) {
    println!("\nSIP exchange seen by alice:");
    println!("  {:>8}  {:<3}  message", "time", "dir");
    for (t, sent, line) in trace {
        let dir = if *sent { "->" } else { "<-" };
        println!("  {:>7.3}s  {dir:<3}  {line}", t.as_secs_f64());
    }
}
