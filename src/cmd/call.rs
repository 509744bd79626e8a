//! `agentphone call URI`: place one call, keep it up for --duration, hang up.
//! Exit status 0 only when the call was answered and ended cleanly.

use super::account::{credentials, AccountArgs};
use crate::media::MediaLeg;
use crate::net::SipDriver;
use agentphone_audio::source::{AudioSource, Silence, WavFileSource};
use agentphone_audio::wav::WavRecorder;
use agentphone_sip::transport::{Destination, Transport};
use agentphone_sip::{CallRequest, EndReason, Event};
use anyhow::{anyhow, bail, Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Flags of `agentphone call`.
#[derive(clap::Args, Debug)]
pub struct CallArgs {
    /// Who to call, e.g. sip:bob@127.0.0.1:5070.
    pub uri: String,
    #[command(flatten)]
    pub account: AccountArgs,
    /// Seconds to stay in the call after it is answered.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// SIP transport.
    #[arg(long, value_parser = ["udp", "tcp"], default_value = "udp")]
    pub transport: String,
    /// Local SIP address.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Give up when not answered within this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub ring_timeout: f64,
    /// WAV file played to the callee (default: silence).
    #[arg(long)]
    pub play: Option<PathBuf>,
    /// Record what the callee sends (48 kHz mono WAV).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Codec to offer first.
    #[arg(long, value_parser = ["pcmu", "pcma", "opus"])]
    pub codec: Option<String>,
}

/// What a leg plays and records, prepared before the call so bad paths fail early.
pub struct MediaPlan {
    /// Audio sent to the peer.
    pub source: Box<dyn AudioSource + Send>,
    /// Where what the peer sends is written.
    pub recorder: Option<WavRecorder>,
}

impl MediaPlan {
    /// Opens `play` (silence when absent) and creates `record`.
    pub fn open(play: Option<&Path>, record: Option<&Path>) -> Result<Self> {
        let source: Box<dyn AudioSource + Send> = match play {
            Some(p) => Box::new(
                WavFileSource::open(p, false)
                    .with_context(|| format!("cannot play {}", p.display()))?,
            ),
            None => Box::new(Silence),
        };
        let recorder = record
            .map(|p| {
                WavRecorder::create(p, 1)
                    .with_context(|| format!("cannot record to {}", p.display()))
            })
            .transpose()?;
        Ok(MediaPlan { source, recorder })
    }
}

/// Runs `agentphone call`.
pub async fn run(args: CallArgs, config: Option<&Path>) -> Result<()> {
    let account = args.account.resolve(config)?;
    let target = agentphone_sip::rsip::parse_uri(&args.uri)
        .map_err(|e| anyhow!("'{}' is not a SIP URI: {e}", args.uri))?;
    let user = account
        .as_ref()
        .map(|a| a.user.clone())
        .unwrap_or_else(|| "agentphone".into());
    let mut sip = SipDriver::bind(args.listen, &user, Vec::new()).await?;
    let prefer = args
        .codec
        .as_deref()
        .map(crate::media::parse_codec)
        .transpose()?;
    let plan = MediaPlan::open(args.play.as_deref(), args.record.as_deref())?;
    let mut media = MediaLeg::bind(args.listen.ip(), prefer).await?;
    let tcp = args.transport == "tcp" || account.as_ref().is_some_and(|a| a.tcp);
    let from = match &account {
        Some(a) => format!("<sip:{}@{}>", a.user, a.domain),
        None => format!("<sip:{}@{}>", user, sip.local_addr()),
    };
    let request = CallRequest {
        target,
        from,
        via_proxy: account.as_ref().map(|a| Destination {
            transport: if tcp {
                Transport::Tcp(None)
            } else {
                Transport::Udp
            },
            addr: a.registrar,
        }),
        credentials: account.as_ref().and_then(credentials),
        sdp_offer: media.offer(),
        tcp,
        extra_headers: Vec::new(),
    };
    let call = sip
        .ep()
        .call(Instant::now(), request)
        .context("cannot place the call")?;
    let outcome = drive_call(&mut sip, call, &args, &mut media, plan).await;
    media.stop().await;
    let outcome = outcome?;
    match outcome {
        (true, EndReason::LocalHangup | EndReason::RemoteHangup) => Ok(()),
        (_, reason) => bail!("call failed: {reason}"),
    }
}

/// Starts the media once the answer is in; an unusable answer leaves the call
/// up without audio (logged), as hanging up is the user's decision.
fn start_media(media: &mut MediaLeg, answer: Option<&[u8]>, plan: &mut Option<MediaPlan>) {
    let Some(plan) = plan.take() else { return };
    let started = media
        .process_answer(answer)
        .and_then(|negotiated| media.start(&negotiated, plan.source, plan.recorder));
    if let Err(e) = started {
        tracing::warn!("no audio on this call: {e:#}");
    }
}

/// Runs the call to its end; returns (was answered, end reason).
async fn drive_call(
    sip: &mut SipDriver,
    call: agentphone_sip::CallId,
    args: &CallArgs,
    media: &mut MediaLeg,
    plan: MediaPlan,
) -> Result<(bool, EndReason)> {
    let mut plan = Some(plan);
    let mut answered = false;
    let mut hangup_at = tokio::time::Instant::now() + Duration::from_secs_f64(args.ring_timeout);
    let mut shutdown = std::pin::pin!(super::signals::shutdown());
    let mut hung_up = false;
    loop {
        tokio::select! {
            ev = sip.next_event() => match ev? {
                Event::Progress { call: c, code, .. } if c == call => tracing::info!("{code} from the callee"),
                Event::Established { call: c, remote_sdp } if c == call => {
                    answered = true;
                    start_media(media, remote_sdp.as_deref(), &mut plan);
                    println!("answered; hanging up in {:.1} s", args.duration);
                    hangup_at = tokio::time::Instant::now() + Duration::from_secs_f64(args.duration);
                }
                Event::ReInvite { call: c, .. } => sip.keep_session(c),
                Event::Ended { call: c, reason } if c == call => return Ok((answered, reason)),
                _ => {}
            },
            _ = tokio::time::sleep_until(hangup_at), if !hung_up => {
                hung_up = true;
                sip.ep().hangup(Instant::now(), call)?;
            }
            _ = &mut shutdown, if !hung_up => {
                hung_up = true;
                sip.ep().hangup(Instant::now(), call)?;
            }
        }
    }
}
