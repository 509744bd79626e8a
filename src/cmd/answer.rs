//! `agentphone answer`: answer incoming calls (UDP and TCP), registering first
//! when an account is given; one line per call.

use super::account::{credentials, register_request, AccountArgs};
use crate::media::MediaLeg;
use crate::net::SipDriver;
use agentphone_media::offer_answer::NegotiatedMedia;
use agentphone_sip::{CallId, Event};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use std::time::{Duration, Instant};
use tokio::time::Instant as TokioInstant;

/// Flags of `agentphone answer`.
#[derive(clap::Args, Debug)]
pub struct AnswerArgs {
    /// Address to listen on (UDP and TCP). With an account it may be left out:
    /// the address that reaches the registrar, any free port (the registration
    /// tells the server where to send calls).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub account: AccountArgs,
    /// Exit after this many calls have ended.
    #[arg(long)]
    pub max_calls: Option<u64>,
    /// Hang up each call after this many seconds (default: wait for the caller).
    #[arg(long)]
    pub duration: Option<f64>,
    /// WAV file played to every caller, or `tone:FREQ` for a sine (default: silence).
    #[arg(long, conflicts_with = "audio_device")]
    pub play: Option<PathBuf>,
    /// Sound card for microphone and speaker (`default`, or part of a name from
    /// `agentphone devices`), opened for each call.
    #[arg(long)]
    pub audio_device: Option<String>,
    /// Record what each caller sends, one 48 kHz mono WAV per call in this directory.
    #[arg(long)]
    pub record_dir: Option<PathBuf>,
    /// Record both directions: heard on the left channel, sent on the right.
    #[arg(long, requires = "record_dir")]
    pub stereo: bool,
    /// Codec to prefer when the caller offers several.
    #[arg(long, value_parser = ["pcmu", "pcma", "opus"])]
    pub codec: Option<String>,
    #[command(flatten)]
    pub noise: super::noise::NoiseArgs,
}

struct Live {
    number: u64,
    answered_at: Option<Instant>,
    media: MediaLeg,
    negotiated: NegotiatedMedia,
    call_id: String,
}

/// Runs `agentphone answer`.
pub async fn run(args: AnswerArgs, config: Option<&Path>) -> Result<()> {
    let (account, media_settings) =
        super::account_and_media(config, &args.account, args.codec.as_deref())?;
    let clean = args.noise.resolve(account.as_ref())?;
    // Fail at start, not at the first call.
    if let Some(p) = &args.play {
        crate::media::MediaPlan::open(Some(p), None)?;
    }
    if let Some(d) = &args.audio_device {
        crate::media::MediaPlan::with_device(d, None, false)?;
    }
    if let Some(dir) = &args.record_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let user = account
        .as_ref()
        .map(|a| a.user.clone())
        .unwrap_or_else(|| "agentphone".into());
    let listen = match (args.listen, &account) {
        (None, None) => {
            bail!("answer needs --listen ADDR, or an account (--account) to register from")
        }
        (listen, Some(a)) => crate::net::listen_toward(listen, a.registrar)?,
        (Some(l), None) => l,
    };
    let mut sip = SipDriver::bind(listen, &user, Vec::new()).await?;
    println!("listening on {} (udp, tcp)", sip.local_addr());
    let reg = account
        .as_ref()
        .map(|a| sip.ep().register(Instant::now(), register_request(a)));
    let mut calls: HashMap<CallId, Live> = HashMap::new();
    let mut hangups: BTreeMap<(TokioInstant, CallId), ()> = BTreeMap::new();
    let (mut seen, mut ended) = (0u64, 0u64);
    let mut shutdown = std::pin::pin!(super::signals::shutdown());
    let (dead_tx, mut dead_rx) = tokio::sync::mpsc::unbounded_channel();
    let served: Result<()> = async {
        let mut stopping = false;
        loop {
            if args.max_calls.is_some_and(|m| ended >= m) && !stopping {
                stopping = true;
                if !start_unregister(&mut sip, reg) {
                    return Ok(());
                }
            }
            let next_hangup = hangups.keys().next().copied();
            tokio::select! {
                ev = sip.next_event() => match ev? {
                    Event::Registered { contact, expires, .. } => println!("registered {contact} for {} s", expires.as_secs()),
                    Event::RegistrationFailed { error, .. } => bail!("registration failed: {error}"),
                    Event::Unregistered { .. } if stopping => return Ok(()),
                    Event::IncomingCall { call, from, offer, headers, .. } => {
                        seen += 1;
                        // The account's proxy may challenge our BYE or re-INVITE.
                        if let Some(creds) = account.as_ref().and_then(credentials) {
                            let _ = sip.ep().set_credentials(call, creds);
                        }
                        if let Some(live) = accept(&mut sip, call, offer.as_deref(), (&media_settings, &dead_tx), seen).await? {
                            println!("call {seen} from {from}: answered");
                            calls.insert(call, Live { call_id: sip_call_id(&headers), ..live });
                        } else {
                            println!("call {seen} from {from}: rejected 488 (no common codec)");
                        }
                    }
                    Event::Established { call, .. } => {
                        if let Some(l) = calls.get_mut(&call) {
                            l.answered_at = Some(Instant::now());
                            l.media.answered();
                            start_media(l, &args, clean);
                        }
                        if let Some(d) = args.duration {
                            hangups.insert((TokioInstant::now() + Duration::from_secs_f64(d), call), ());
                        }
                    }
                    Event::ReInvite { call, offer } => match calls.get_mut(&call) {
                        Some(l) => sip.answer_reinvite(call, &mut l.media, offer.as_deref()),
                        None => { let _ = sip.ep().reject_reinvite(Instant::now(), call, 481); }
                    },
                    Event::ReInviteAckAnswer { call, answer } => {
                        if let Some(l) = calls.get_mut(&call) {
                            l.media.process_reinvite_answer(answer.as_deref());
                        }
                    }
                    Event::Ended { call, reason } => {
                        ended += 1;
                        hangups.retain(|(_, c), _| *c != call);
                        if let Some(mut l) = calls.remove(&call) {
                            let report = l.media.stop().await;
                            let secs = l.answered_at.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
                            println!("call {} ended: {reason} after {secs:.1} s", l.number);
                            if let Some(report) = report {
                                println!("call {} media: {report}", l.number);
                            }
                        }
                    }
                    _ => {}
                },
                _ = super::sleep_opt(next_hangup.map(|(t, _)| t)) => {
                    if let Some((key, ())) = hangups.pop_first() {
                        let _ = sip.ep().hangup(Instant::now(), key.1);
                    }
                }
                Some(dead) = dead_rx.recv() => {
                    if let Some((&call, l)) = calls.iter().find(|(_, l)| l.number == dead.leg) {
                        println!("call {}: no RTP from the peer for {:.0} s: hanging up", l.number, dead.silent_for.as_secs_f64());
                        let _ = sip.ep().hangup(Instant::now(), call);
                    }
                }
                _ = &mut shutdown, if !stopping => {
                    stopping = true;
                    let ids: Vec<CallId> = calls.keys().copied().collect();
                    for c in ids {
                        let _ = sip.ep().hangup(Instant::now(), c);
                    }
                    if !start_unregister(&mut sip, reg) && calls.is_empty() {
                        return Ok(());
                    }
                }
            }
            if stopping && calls.is_empty() && !sip.ep().has_registrations() {
                return Ok(());
            }
        }
    }
    .await;
    sip.close().await;
    served
}

/// Answers an incoming call with our SDP answer, or rejects it with 488 when the
/// offer has nothing we can use (None).
async fn accept(
    sip: &mut SipDriver,
    call: CallId,
    offer: Option<&[u8]>,
    (settings, dead): (
        &crate::media::MediaSettings,
        &tokio::sync::mpsc::UnboundedSender<crate::media::RtpTimeout>,
    ),
    number: u64,
) -> Result<Option<Live>> {
    let now = Instant::now();
    let mut media = MediaLeg::bind(sip.local_addr().ip(), settings).await?;
    media.alert_on_rtp_timeout(number, dead.clone());
    match media.answer(offer) {
        Ok((sdp, negotiated)) => {
            sip.ep().ring(now, call)?;
            sip.ep().answer(now, call, sdp)?;
            Ok(Some(Live {
                number,
                answered_at: None,
                media,
                negotiated,
                call_id: String::new(),
            }))
        }
        Err(e) => {
            tracing::info!("rejecting call: {e}");
            sip.ep().reject(now, call, 488)?;
            Ok(None)
        }
    }
}

/// Starts audio on an established call: --play to the caller, the caller's audio
/// to a WAV in --record-dir.
fn start_media(live: &mut Live, args: &AnswerArgs, clean: crate::media::CleanAudio) {
    let record = args.record_dir.as_ref().map(|dir| {
        dir.join(agentphone_audio::wav::recording_file_name(
            SystemTime::now(),
            &live.call_id,
        ))
    });
    let plan = match &args.audio_device {
        Some(d) => crate::media::MediaPlan::with_device(d, record.as_deref(), args.stereo),
        None => crate::media::MediaPlan::open_recording(
            args.play.as_deref(),
            record.as_deref(),
            args.stereo,
        ),
    };
    let started = plan.and_then(|plan| live.media.start(&live.negotiated, plan, clean));
    match started {
        Ok(()) => {
            if let Some(path) = record {
                println!("call {}: recording to {}", live.number, path.display());
            }
        }
        Err(e) => tracing::warn!("no audio on call {}: {e:#}", live.number),
    }
}

/// The Call-ID header of the INVITE (long or compact form).
fn sip_call_id(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i"))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default()
}

fn start_unregister(sip: &mut SipDriver, reg: Option<agentphone_sip::RegId>) -> bool {
    match reg {
        Some(r) => sip.ep().unregister(Instant::now(), r).is_ok(),
        None => false,
    }
}
