//! `agentphone answer`: answer incoming calls (UDP and TCP), registering first
//! when an account is given; one line per call.

use super::account::{credentials, register_request, AccountArgs};
use super::transfer::{Dialer, ReferPolicy, Referral};
use crate::media::{MediaEngine, MediaLeg, MediaPlan, Placement, PortPool, DEFAULT_POOL_PAIRS};
use crate::net::SipDriver;
use agentphone_engine::local::{LocalAudio, LocalInput};
use agentphone_engine::room::Room;
use agentphone_engine::{Command, PartId, RecordTarget, RoomId};
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
    /// Exit after this many calls have ended (refused ones included; a call
    /// carried on by a transfer or a Replaces counts once).
    #[arg(long)]
    pub max_calls: Option<u64>,
    /// A meet-me bridge: every answered call joins one room and hears all the
    /// others (N-1), up to eight participants with the local --play source or
    /// sound card (R-CONF-2; further calls get 486); --record-dir records the
    /// mix.
    #[arg(long)]
    pub conference: bool,
    /// Hang up each call after this many seconds (default: wait for the caller).
    #[arg(long)]
    pub duration: Option<f64>,
    /// WAV file played to every caller, or `tone:FREQ` for a sine (default: silence).
    #[arg(long, conflicts_with = "audio_device")]
    pub play: Option<PathBuf>,
    /// Sound card for microphone and speaker (`default`, or part of a name from
    /// `agentphone devices`): the media engine's clock; every call hears it.
    #[arg(long)]
    pub audio_device: Option<String>,
    /// Record what each caller sends, one 48 kHz mono WAV per call in this
    /// directory (with --conference: one WAV of the whole mix).
    #[arg(long)]
    pub record_dir: Option<PathBuf>,
    /// Record both directions: heard on the left channel, sent on the right.
    #[arg(long, requires = "record_dir")]
    pub stereo: bool,
    /// Codec to prefer when the caller offers several.
    #[arg(long, value_parser = ["pcmu", "pcma", "opus"])]
    pub codec: Option<String>,
    /// SRTP for these calls (over `[media] srtp`): off, optional, or mandatory (plain offers get 488).
    #[arg(long, value_parser = ["off", "optional", "mandatory"])]
    pub srtp: Option<String>,
    /// What a REFER from a caller gets: `accept` places the referred call
    /// (with Replaces for an attended transfer) and carries the call's audio
    /// over to it; `reject` answers 603.
    #[arg(long, value_enum, default_value = "reject")]
    pub refer: ReferPolicy,
    /// Concurrent calls at most (default: `[sip] max_concurrent_calls`, 200);
    /// beyond, 503 with Retry-After.
    #[arg(long)]
    pub max_concurrent: Option<usize>,
    #[command(flatten)]
    pub tls: super::tls_server::TlsServerArgs,
    /// RTP/RTCP port pairs kept bound ahead of the calls by a thread of
    /// their own (each pair is two descriptors); 0 binds each call's pair
    /// when it arrives, on the SIP loop.
    #[arg(long, default_value_t = DEFAULT_POOL_PAIRS)]
    pub rtp_pool: usize,
    #[command(flatten)]
    pub noise: super::noise::NoiseArgs,
}

struct Live {
    number: u64,
    answered_at: Option<Instant>,
    media: MediaLeg,
    /// What was agreed, until the media starts on the ACK.
    negotiated: Option<NegotiatedMedia>,
    call_id: String,
    /// The call of ours this one replaces (an INVITE with Replaces, RFC 3891):
    /// it takes that call's audio when it is established.
    replaces: Option<CallId>,
}

/// Runs `agentphone answer`.
pub async fn run(args: AnswerArgs, config: Option<&Path>) -> Result<()> {
    let super::RunConfig {
        mut account,
        media: media_settings,
        session_timer,
        limits,
        admission,
        mut net,
        dns,
    } = super::account_and_media(
        config,
        &args.account,
        (args.codec.as_deref(), args.srtp.as_deref()),
    )
    .await?;
    args.tls.apply(&mut net);
    let clean = args.noise.resolve(account.as_ref())?;
    // Fail at start, not at the first call.
    if let Some(p) = &args.play {
        MediaPlan::open(Some(p), None)?;
    }
    if let Some(dir) = &args.record_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let engine = super::start_engine(args.audio_device.as_deref(), &media_settings)?;
    let bridge = if args.conference {
        Some(Bridge::open(&engine, &args, clean)?)
    } else {
        None
    };
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
    let mut sip = SipDriver::bind_full(listen, &user, session_timer, &limits, net).await?;
    // Each call's RTP/RTCP pair comes bound from here: binding on the SIP
    // loop held up every other call's signalling (issue 14).
    let ports = PortPool::start(sip.local_addr().ip(), args.rtp_pool)?;
    super::tls_server::print_listening(&sip);
    let policy = super::admission(account.as_ref(), admission, args.max_concurrent, &limits);
    sip.ep().set_admission(policy);
    let from = match &account {
        Some(a) => format!("<sip:{}@{}>", a.user, a.domain),
        None => format!("<sip:{}@{}>", user, sip.local_addr()),
    };
    // Referred calls being placed, by their own call id.
    let mut referrals: HashMap<CallId, Referral> = HashMap::new();
    // Transferred calls that ended while their referred call was placed: their
    // audio waits for it.
    let mut parked: HashMap<CallId, Live> = HashMap::new();
    // Calls whose audio another call took over: their end is no call's end.
    let mut continued: std::collections::HashSet<CallId> = Default::default();
    let mut reg = account
        .as_ref()
        .map(|a| sip.ep().register(Instant::now(), register_request(a)));
    let mut registered = false;
    let mut backoff = crate::net::retry::Backoff::default();
    let mut reregister_at: Option<TokioInstant> = None;
    // Once stopping: how long BYEs and the un-REGISTER may take.
    let mut give_up: Option<TokioInstant> = None;
    let mut calls: HashMap<CallId, Live> = HashMap::new();
    let mut hangups: BTreeMap<(TokioInstant, CallId), ()> = BTreeMap::new();
    let (mut seen, mut ended) = (0u64, 0u64);
    let mut shutdown = std::pin::pin!(super::signals::shutdown());
    let (dead_tx, mut dead_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut ending = tokio::task::JoinSet::new();
    let served: Result<()> = async {
        let mut stopping = false;
        loop {
            if args.max_calls.is_some_and(|m| ended >= m) && !stopping {
                stopping = true;
                give_up = Some(TokioInstant::now() + super::signals::STOP_LIMIT);
                if !start_unregister(&mut sip, reg) {
                    return Ok(());
                }
            }
            let next_hangup = hangups.keys().next().copied();
            tokio::select! {
                ev = sip.next_event() => match ev? {
                    Event::Registered { contact, expires, .. } => {
                        registered = true;
                        backoff.succeeded();
                        println!("registered {contact} for {} s", expires.as_secs());
                    }
                    Event::RegistrationFailed { error, .. } if !registered => bail!("registration failed: {error}"),
                    Event::RegistrationFailed { error, .. } => {
                        // A refresh failed (the registrar is gone): calls go
                        // on and the binding is tried again (RFC 5626 §4.5).
                        reg = None;
                        if !stopping {
                            let wait = backoff.failed();
                            eprintln!("registration failed: {error}; trying again in {} s", wait.as_secs());
                            reregister_at = Some(TokioInstant::now() + wait);
                        }
                    }
                    Event::Unregistered { .. } if stopping => return Ok(()),
                    Event::IncomingCall { call, from, offer, headers, replaces, .. } => {
                        seen += 1;
                        // The account's proxy may challenge our BYE or re-INVITE.
                        if let Some(creds) = account.as_ref().and_then(credentials) {
                            let _ = sip.ep().set_credentials(call, creds);
                        }
                        if let Some(b) = &bridge {
                            if b.local.is_some() as usize + calls.len() >= MAX_PARTICIPANTS {
                                tracing::warn!("call {seen} refused: {}", b.full_reason());
                                println!("call {seen} from {from}: rejected 486 (conference full, R-CONF-2)");
                                let _ = sip.ep().reject(Instant::now(), call, 486);
                                continue;
                            }
                        }
                        let accepted = accept(&mut sip, call, offer.as_deref(), (&media_settings, &dead_tx, &engine, &ports), seen).await;
                        let accepted = match accepted {
                            Ok(a) => a,
                            Err(e) => {
                                // One call's failure (no RTP ports, no file
                                // descriptors) is that call's, not the process's.
                                println!("call {seen} from {from}: rejected 503 ({e:#})");
                                let _ = sip.ep().reject(Instant::now(), call, 503);
                                continue;
                            }
                        };
                        let accepted = match accepted {
                            Ok(live) => Some(live),
                            Err(e) => {
                                let why = if e.is_srtp() { e.to_string() } else { "no common codec".to_owned() };
                                println!("call {seen} from {from}: rejected 488 ({why})");
                                None
                            }
                        };
                        if let Some(live) = accepted {
                            let replaced = replaces.and_then(|old| calls.get(&old).map(|l| (old, l.number)));
                            match replaced {
                                Some((_, n)) => println!("call {seen} from {from}: answered, replacing call {n} (RFC 3891)"),
                                None => println!("call {seen} from {from}: answered"),
                            }
                            calls.insert(call, Live { call_id: sip_call_id(&headers), replaces: replaced.map(|r| r.0), ..live });
                        }
                    }
                    Event::Established { call, remote_sdp } if referrals.contains_key(&call) => {
                        if let Some(mut r) = referrals.remove(&call) {
                            let old = calls.get_mut(&r.old).or_else(|| parked.get_mut(&r.old));
                            let number = old.as_ref().map_or(seen, |l| l.number);
                            r.answered(&mut sip, remote_sdp.as_deref(), old.map(|l| &mut l.media), clean);
                            continued.insert(r.old);
                            if calls.contains_key(&r.old) {
                                hangups.insert((TokioInstant::now() + super::transfer::OLD_CALL_GRACE, r.old), ());
                            }
                            if let Some(mut l) = parked.remove(&r.old) {
                                ending.spawn(async move { l.media.stop().await; });
                            }
                            calls.insert(call, Live {
                                number,
                                answered_at: Some(Instant::now()),
                                media: r.media,
                                negotiated: None,
                                call_id: String::new(),
                                replaces: None,
                            });
                        }
                    }
                    Event::Progress { call, code, .. } if referrals.contains_key(&call) => {
                        if let Some(r) = referrals.get(&call) { r.progress(&mut sip, code); }
                    }
                    Event::Ended { call, reason } if referrals.contains_key(&call) => {
                        if let Some(r) = referrals.remove(&call) {
                            r.failed(&mut sip, &reason);
                            if let Some(mut l) = parked.remove(&r.old) {
                                ended += 1;
                                ending.spawn(async move { l.media.stop().await; });
                            }
                        }
                    }
                    Event::TransferRequested { call, transfer, refer_to, referred_by } => {
                        let policy = if calls.contains_key(&call) && !referrals.values().any(|r| r.old == call) { args.refer } else { ReferPolicy::Reject };
                        // Made here: the account's servers may have moved (DNS).
                        let dialer = Dialer {
                            from: from.clone(),
                            ip: sip.local_addr().ip(),
                            settings: &media_settings,
                            engine: &engine,
                            account: account.as_ref(),
                        };
                        if let Some(r) = super::transfer::on_refer(&mut sip, &dialer, (call, transfer, policy), (&refer_to, referred_by.as_deref())).await? {
                            referrals.insert(r.new, r);
                        }
                    }
                    Event::Established { call, .. } => {
                        let replaces = calls.get(&call).and_then(|l| l.replaces);
                        let taken = replaces.and_then(|old| calls.get_mut(&old)).and_then(|o| o.media.hand_over());
                        if let Some(l) = calls.get_mut(&call) {
                            l.answered_at = Some(Instant::now());
                            l.media.answered();
                            start_media(l, &args, clean, (bridge.as_ref().map(|b| b.room), taken));
                        }
                        if let Some(old) = replaces {
                            // RFC 3891 §3: the replaced dialog ends once the new one is up.
                            continued.insert(old);
                            let _ = sip.ep().hangup(Instant::now(), old);
                        }
                        if let Some(d) = args.duration {
                            hangups.insert((TokioInstant::now() + Duration::from_secs_f64(d), call), ());
                        }
                    }
                    Event::ReInvite { call, offer } => match calls.get_mut(&call) {
                        Some(l) => sip.answer_reinvite(call, &mut l.media, offer.as_deref()),
                        None => { let _ = sip.ep().reject_reinvite(Instant::now(), call, 481); }
                    },
                    Event::Update { call, offer } => match calls.get_mut(&call) {
                        Some(l) => sip.answer_update(call, &mut l.media, &offer),
                        None => { let _ = sip.ep().reject_update(Instant::now(), call, 481); }
                    },
                    Event::ReInviteAnswered { call, sdp } | Event::UpdateAnswered { call, sdp } => {
                        if let Some(l) = calls.get_mut(&call) {
                            l.media.process_reinvite_answer(sdp.as_deref());
                        }
                    }
                    Event::ReInviteAckAnswer { call, answer } => {
                        if let Some(l) = calls.get_mut(&call) {
                            l.media.process_reinvite_answer(answer.as_deref());
                        }
                    }
                    Event::Ended { call, reason } => {
                        hangups.retain(|(_, c), _| *c != call);
                        if referrals.values().any(|r| r.old == call) {
                            // Its referred call is still being placed and will
                            // carry its audio on, or fail and end it for good.
                            if let Some(l) = calls.remove(&call) {
                                println!("call {} ended: {reason} (transfer in progress)", l.number);
                                parked.insert(call, l);
                            }
                            continue;
                        }
                        if !continued.remove(&call) {
                            ended += 1;
                        }
                        if let Some(mut l) = calls.remove(&call) {
                            let secs = l.answered_at.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
                            println!("call {} ended: {reason} after {secs:.1} s", l.number);
                            // Off the SIP loop: stopping waits for the audio
                            // thread and the disk, and other calls go on.
                            ending.spawn(async move {
                                if let Some(report) = l.media.stop().await {
                                    println!("call {} media: {report}", l.number);
                                }
                            });
                        }
                    }
                    _ => {}
                },
                // A JoinSet keeps each finished task until it is joined
                // (found by the soak: 1.7 KB per call, never freed).
                Some(_) = ending.join_next(), if !ending.is_empty() => {}
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
                _ = super::sleep_opt(reregister_at), if !stopping => {
                    reregister_at = None;
                    if let Some(a) = account.as_mut() {
                        if super::account::relocate(a, &dns, &mut sip).await {
                            let policy = super::admission(Some(a), admission, args.max_concurrent, &limits);
                            sip.ep().set_admission(policy);
                        }
                    }
                    reg = account.as_ref().map(|a| sip.ep().register(Instant::now(), register_request(a)));
                }
                _ = super::sleep_opt(give_up) => {
                    eprintln!("stopping: the far ends did not answer within {} s; leaving", super::signals::STOP_LIMIT.as_secs());
                    return Ok(());
                }
                _ = &mut shutdown, if !stopping => {
                    stopping = true;
                    give_up = Some(TokioInstant::now() + super::signals::STOP_LIMIT);
                    let ids: Vec<CallId> = calls.keys().copied().collect();
                    for c in ids {
                        let _ = sip.ep().hangup(Instant::now(), c);
                    }
                    if !start_unregister(&mut sip, reg) && calls.is_empty() {
                        return Ok(());
                    }
                }
            }
            if stopping && calls.is_empty() && (reg.is_none() || !sip.ep().has_registrations()) {
                return Ok(());
            }
        }
    }
    .await;
    // Every call's media report printed and recording on disk before exit.
    for (_, mut l) in calls.drain() {
        ending.spawn(async move {
            l.media.stop().await;
        });
    }
    while ending.join_next().await.is_some() {}
    sip.close().await;
    if let Some(b) = bridge {
        b.close(&engine).await;
    }
    served
}

/// Participants of a conference at most, agent and customer included (R-CONF-2).
const MAX_PARTICIPANTS: usize = agentphone_audio::mixer::MAX_PARTICIPANTS;

/// The meet-me room of `answer --conference`: its local participant (the
/// --play source or the sound card) and the recording of the mix.
struct Bridge {
    room: RoomId,
    local: Option<PartId>,
    recording: Option<(std::path::PathBuf, tokio::sync::oneshot::Receiver<()>)>,
}

impl Bridge {
    fn open(
        engine: &MediaEngine,
        args: &AnswerArgs,
        clean: crate::media::CleanAudio,
    ) -> Result<Bridge> {
        let room = RoomId(engine.new_id());
        engine.send(Command::AddRoom {
            room,
            audio: Box::new(Room::new()),
        })?;
        let input = match (&args.audio_device, &args.play) {
            (Some(_), _) => Some((LocalInput::Device, true)),
            (None, Some(p)) => Some((
                LocalInput::Source(crate::media::open_source(Some(p), true)?),
                false,
            )),
            (None, None) => None,
        };
        let local = match input {
            Some((input, to_device)) => {
                let part = PartId(engine.new_id());
                let mut end = LocalAudio::new(input, to_device);
                if clean.microphone {
                    end = end.with_cleaner(agentphone_engine::clean::Cleaner::new(None, true));
                }
                engine.send(Command::AddLocal {
                    part,
                    audio: Box::new(end),
                })?;
                engine.send(Command::Join { part, room })?;
                Some(part)
            }
            None => None,
        };
        let recording = match &args.record_dir {
            Some(dir) => {
                let path = dir.join(agentphone_audio::wav::recording_file_name(
                    SystemTime::now(),
                    "conference",
                ));
                let recorder = agentphone_audio::wav::WavRecorder::create(&path, 1)
                    .map_err(|e| anyhow::anyhow!("cannot record to {}: {e}", path.display()))?;
                let (tap, writer) = agentphone_engine::record(recorder);
                engine.send(Command::Record {
                    target: RecordTarget::Room(room),
                    tap: Some(tap),
                })?;
                println!("conference: recording to {}", path.display());
                Some((path, engine.write_recording(writer)))
            }
            None => None,
        };
        println!(
            "conference: up to {MAX_PARTICIPANTS} participants{}",
            if local.is_some() {
                ", this end included"
            } else {
                ""
            }
        );
        Ok(Bridge {
            room,
            local,
            recording,
        })
    }

    fn full_reason(&self) -> String {
        format!(
            "the conference is full: at most {MAX_PARTICIPANTS} participants, this end included (R-CONF-2)"
        )
    }

    /// Stops the recording (waiting until it is on disk) and the local end.
    async fn close(self, engine: &MediaEngine) {
        if let Some(part) = self.local {
            let _ = engine.remove(part).await;
        }
        let _ = engine.send(Command::Record {
            target: RecordTarget::Room(self.room),
            tap: None,
        });
        let _ = engine.send(Command::CloseRoom { room: self.room });
        if let Some((path, done)) = self.recording {
            if tokio::time::timeout(Duration::from_secs(5), done)
                .await
                .is_err()
            {
                tracing::warn!(
                    "the conference recording {} did not finish within 5 s",
                    path.display()
                );
            }
        }
    }
}

/// Answers an incoming call with our SDP answer, or rejects it with 488 when the
/// offer has nothing we can use (the reason).
async fn accept(
    sip: &mut SipDriver,
    call: CallId,
    offer: Option<&[u8]>,
    (settings, dead, engine, ports): (
        &crate::media::MediaSettings,
        &tokio::sync::mpsc::UnboundedSender<crate::media::RtpTimeout>,
        &MediaEngine,
        &PortPool,
    ),
    number: u64,
) -> Result<std::result::Result<Live, agentphone_media::offer_answer::OfferAnswerError>> {
    let now = Instant::now();
    let mut media = MediaLeg::from_pool(ports, settings, engine).await?;
    media.set_signalling_secure(sip.call_over_tls(call));
    media.alert_on_rtp_timeout(number, dead.clone());
    match media.answer(offer) {
        Ok((sdp, negotiated)) => {
            sip.ep().ring(now, call)?;
            sip.ep().answer(now, call, sdp)?;
            Ok(Ok(Live {
                number,
                answered_at: None,
                media,
                negotiated: Some(negotiated),
                call_id: String::new(),
                replaces: None,
            }))
        }
        Err(e) => {
            tracing::info!("rejecting call: {e}");
            // The caller sees why in a Warning when it is SRTP (not a codec).
            if e.is_srtp() {
                sip.ep()
                    .reject_with_warning(now, call, 488, &e.to_string())?;
            } else {
                sip.ep().reject(now, call, 488)?;
            }
            Ok(Err(e))
        }
    }
}

/// Starts audio on an established call: into the bridge's room, or in a room
/// of its own with --play to the caller and the caller's audio to a WAV in
/// --record-dir.
fn start_media(
    live: &mut Live,
    args: &AnswerArgs,
    clean: crate::media::CleanAudio,
    (bridge, taken): (Option<RoomId>, Option<crate::media::TakenEnd>),
) {
    let Some(negotiated) = live.negotiated.take() else {
        return;
    };
    let placement = match (taken, bridge) {
        (Some(end), _) => Some(Placement::TakeOver(end)),
        (None, Some(room)) => Some(Placement::Room(room)),
        (None, None) => None,
    };
    if let Some(placement) = placement {
        if let Err(e) = live.media.start(&negotiated, placement, clean) {
            tracing::warn!("no audio on call {}: {e:#}", live.number);
        }
        return;
    }
    let record = args.record_dir.as_ref().map(|dir| {
        dir.join(agentphone_audio::wav::recording_file_name(
            SystemTime::now(),
            &live.call_id,
        ))
    });
    let plan = match &args.audio_device {
        Some(_) => MediaPlan::device(record.as_deref(), args.stereo),
        None => MediaPlan::open_recording(args.play.as_deref(), record.as_deref(), args.stereo),
    };
    let started = plan.and_then(|plan| live.media.start(&negotiated, Placement::Own(plan), clean));
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
