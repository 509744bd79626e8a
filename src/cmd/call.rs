//! `agentphone call URI`: place one call, keep it up for --duration, hang up.
//! Exit status 0 only when the call was answered and ended cleanly.

use super::account::{credentials, AccountArgs};
use super::transfer::{Dialer, ReferPolicy, Referral};
use crate::config::Account;
use crate::media::{CleanAudio, MediaLeg, MediaPlan, Placement, RtpTimeout};
use crate::net::SipDriver;
use agentphone_sip::transport::{Destination, Transport};
use agentphone_sip::{CallRequest, EndReason, Event};
use anyhow::{anyhow, bail, Context, Result};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

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
    /// SIP transport (a `sips:` URI is always TLS; an account's transport
    /// is the account's). Default: the URI's `transport=`, else what the
    /// domain's NAPTR records say (RFC 3263), else UDP.
    #[arg(long, value_parser = ["udp", "tcp", "tls"])]
    pub transport: Option<String>,
    /// Local SIP address (default: the address this machine reaches the
    /// first hop from, any free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Give up when not answered within this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub ring_timeout: f64,
    /// WAV file played to the callee, or `tone:FREQ` for a sine (default: silence).
    #[arg(long, conflicts_with = "audio_device")]
    pub play: Option<PathBuf>,
    /// Sound card for microphone and speaker (`default`, or part of a name from
    /// `agentphone devices`).
    #[arg(long)]
    pub audio_device: Option<String>,
    /// Record what the callee sends (48 kHz mono WAV).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Record both directions: heard on the left channel, sent on the right.
    #[arg(long, requires = "record")]
    pub stereo: bool,
    /// Codec to offer first.
    #[arg(long, value_parser = ["pcmu", "pcma", "opus"])]
    pub codec: Option<String>,
    /// SRTP for this call (over `[media] srtp`): off, optional (RTP/AVP with a=crypto), mandatory (RTP/SAVP).
    #[arg(long, value_parser = ["off", "optional", "mandatory"])]
    pub srtp: Option<String>,
    /// Digits to send as RFC 4733 events once the call is answered (0-9 * # A-D).
    #[arg(long)]
    pub dtmf: Option<String>,
    /// Seconds after the answer before --dtmf digits are sent.
    #[arg(long, default_value_t = 1.0)]
    pub dtmf_delay: f64,
    /// Seconds after the answer at which to put the callee on hold (re-INVITE
    /// `a=sendonly`; it hears `[media] music_on_hold`); pairs with
    /// --resume-at, repeatable.
    #[arg(long = "hold-at", value_name = "S")]
    pub hold_at: Vec<f64>,
    /// Seconds after the answer at which to take the callee back (`a=sendrecv`).
    #[arg(long = "resume-at", value_name = "S")]
    pub resume_at: Vec<f64>,
    /// Blind-transfer the answered call to this URI (REFER, RFC 3515); exits 0
    /// only when the transfer succeeded.
    #[arg(long, value_name = "URI")]
    pub transfer_to: Option<String>,
    /// Seconds after the answer at which --transfer-to is sent.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 2.0,
        requires = "transfer_to"
    )]
    pub transfer_at: f64,
    /// What a REFER from the callee gets: `accept` places the referred call
    /// (with Replaces for an attended transfer) and carries the audio over;
    /// `reject` answers 603.
    #[arg(long, value_enum, default_value = "reject")]
    pub refer: ReferPolicy,
    #[command(flatten)]
    pub noise: super::noise::NoiseArgs,
    /// An extra header on the INVITE, `NAME:VALUE` (repeatable): e.g. the
    /// call variables a desk shows with its offer, `X-CAD-Account:12345`.
    #[arg(long = "header", value_name = "NAME:VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
}

/// Headers the SIP stack writes itself: setting them by hand would break
/// the dialog or the body.
const OWN_HEADERS: [&str; 10] = [
    "via",
    "from",
    "to",
    "call-id",
    "cseq",
    "contact",
    "content-length",
    "content-type",
    "max-forwards",
    "route",
];

/// `NAME:VALUE` with a header name (RFC 3261 token) and a one-line value.
fn parse_header(arg: &str) -> Result<(String, String), String> {
    let (name, value) = arg
        .split_once(':')
        .ok_or_else(|| format!("'{arg}' is not NAME:VALUE"))?;
    let (name, value) = (name.trim(), value.trim());
    let token = |c: char| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!("'{name}' is not a SIP header name"));
    }
    if OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("{name} is written by agentphone itself"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("the value of {name} must be one line"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// How the call went, for the exit status.
struct Outcome {
    answered: bool,
    reason: EndReason,
    /// The outcome of --transfer-to, once known.
    transfer: Option<Result<(), String>>,
}

/// A scripted hold or resume, seconds after the answer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum HoldStep {
    Hold(f64),
    Resume(f64),
}

impl HoldStep {
    fn at(self) -> f64 {
        match self {
            HoldStep::Hold(t) | HoldStep::Resume(t) => t,
        }
    }
}

/// `--hold-at A --resume-at B ...` as steps in time order: each hold before
/// its resume, each pair after the previous one.
fn hold_script(hold_at: &[f64], resume_at: &[f64]) -> Result<Vec<HoldStep>> {
    if hold_at.len() != resume_at.len() {
        bail!(
            "--hold-at and --resume-at come in pairs ({} holds, {} resumes)",
            hold_at.len(),
            resume_at.len()
        );
    }
    let mut steps = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for (&h, &r) in hold_at.iter().zip(resume_at) {
        if !(h.is_finite() && r.is_finite() && h >= 0.0) {
            bail!("--hold-at {h} --resume-at {r}: times are seconds after the answer");
        }
        if h <= last || r <= h {
            bail!("--hold-at {h} --resume-at {r}: each hold must follow the previous resume and come before its own resume");
        }
        steps.push(HoldStep::Hold(h));
        steps.push(HoldStep::Resume(r));
        last = r;
    }
    Ok(steps)
}

/// Runs `agentphone call`.
pub async fn run(args: CallArgs, config: Option<&Path>) -> Result<()> {
    let super::RunConfig {
        account,
        media: media_settings,
        session_timer,
        limits,
        mut net,
        dns,
        ..
    } = super::account_and_media(
        config,
        &args.account,
        (args.codec.as_deref(), args.srtp.as_deref()),
    )
    .await?;
    let target = agentphone_sip::rsip::parse_uri(&args.uri)
        .map_err(|e| anyhow!("'{}' is not a SIP URI: {e}", args.uri))?;
    let user = account
        .as_ref()
        .map(|a| a.user.clone())
        .unwrap_or_else(|| "agentphone".into());
    let (hop, alternates, hosts) =
        first_hop(&target, account.as_ref(), args.transport.as_deref(), &dns).await?;
    net.hosts.extend(hosts);
    let listen = crate::net::listen_toward(args.listen, hop.addr)?;
    let mut sip = SipDriver::bind_full(listen, &user, session_timer, &limits, net).await?;
    let clean = args.noise.resolve(account.as_ref())?;
    if let Some(digits) = &args.dtmf {
        crate::media::check_digits(digits).map_err(|e| anyhow!("--dtmf {e:#}"))?;
    }
    let script = hold_script(&args.hold_at, &args.resume_at)?;
    let transfer_to = args
        .transfer_to
        .as_deref()
        .map(|t| {
            agentphone_sip::rsip::parse_uri(t)
                .map_err(|e| anyhow!("--transfer-to '{t}' is not a SIP URI: {e}"))
        })
        .transpose()?;
    let plan = match &args.audio_device {
        Some(_) => MediaPlan::device(args.record.as_deref(), args.stereo)?,
        None => {
            MediaPlan::open_recording(args.play.as_deref(), args.record.as_deref(), args.stereo)?
        }
    };
    let engine = super::start_engine(args.audio_device.as_deref(), &media_settings)?;
    let mut media = MediaLeg::bind(listen.ip(), &media_settings, &engine).await?;
    let (dead_tx, mut dead_rx) = tokio::sync::mpsc::unbounded_channel();
    media.alert_on_rtp_timeout(0, dead_tx);
    // Only TLS signalling hides SDES keys; UDP and TCP carry them readable.
    media.set_signalling_secure(matches!(hop.transport, Transport::Tls(_)));
    let from = match &account {
        Some(a) => format!("<sip:{}@{}>", a.user, a.domain),
        None => format!("<sip:{}@{}>", user, sip.local_addr()),
    };
    let dialer = Dialer {
        from: from.clone(),
        ip: listen.ip(),
        settings: &media_settings,
        engine: &engine,
        account: account.as_ref(),
    };
    let request = CallRequest {
        target,
        from,
        via_proxy: Some(hop),
        credentials: account.as_ref().and_then(credentials),
        sdp_offer: media.offer()?,
        tcp: hop.transport.is_reliable(),
        extra_headers: args.headers.clone(),
        alternates,
    };
    let call = sip
        .ep()
        .call(Instant::now(), request)
        .context("cannot place the call")?;
    let mut earlier = Vec::new();
    let outcome = drive_call(
        &mut sip,
        call,
        (&args, &script, transfer_to),
        (&mut media, &mut dead_rx, &mut earlier),
        (plan, clean, &dialer),
    )
    .await;
    sip.close().await;
    for mut leg in earlier {
        leg.stop().await;
    }
    if let Some(report) = media.stop().await {
        println!("media: {report}");
    }
    let outcome = outcome?;
    match (outcome.transfer, outcome.answered, outcome.reason) {
        (Some(Ok(())), _, _) => Ok(()),
        (Some(Err(why)), _, _) => bail!("transfer failed: {why}"),
        (None, _, _) if args.transfer_to.is_some() && outcome.answered => {
            bail!("transfer failed: the call ended before the transfer was done")
        }
        (None, true, EndReason::LocalHangup | EndReason::RemoteHangup) => Ok(()),
        (None, _, reason @ EndReason::NotAcceptable(_))
            if media_settings.srtp == agentphone_media::srtp::SrtpPolicy::Mandatory =>
        {
            bail!(
                "call failed: {reason}: the peer does not take SRTP \
                 (we offered RTP/SAVP only, [media] srtp = \"mandatory\")"
            )
        }
        (None, _, reason) => bail!("call failed: {reason}"),
    }
}

/// Where the INVITE goes first, and over what, and where next when that
/// hop does not answer: the account's proxy over the account's transport,
/// else the target itself, located as RFC 3263 says (`sips:` and
/// `transport=` or `--transport` choose the transport, else NAPTR does).
/// A target named by host name comes with name → address pairs for the SIP
/// core (which does no DNS) and for TLS, which checks the certificate
/// against the name (RFC 5922).
async fn first_hop(
    target: &agentphone_sip::rsip::Uri,
    account: Option<&Account>,
    transport: Option<&str>,
    dns: &crate::net::dns::Resolver,
) -> Result<(Destination, Vec<Destination>, Vec<(String, IpAddr)>)> {
    use agentphone_sip::rsip::{Host, Param};
    if let Some(a) = account {
        let (hop, alternates) = super::account::proxy_hops(a);
        return Ok((hop, alternates, Vec::new()));
    }
    let secure = agentphone_sip::endpoint::is_sips(target);
    let named = target.params.iter().any(|p| match p {
        Param::Transport(_) => true,
        Param::Other(k, _) => k.value().eq_ignore_ascii_case("transport"),
        _ => false,
    });
    let transport = match (secure || named, transport) {
        (true, _) => Some(agentphone_sip::endpoint::uri_transport(target)),
        (false, Some("tcp")) => Some(Transport::Tcp(None)),
        (false, Some("tls")) => Some(Transport::Tls(None)),
        (false, Some(_)) => Some(Transport::Udp),
        (false, None) => None,
    };
    let host = match target.host() {
        Host::IpAddr(ip) => ip.to_string(),
        Host::Domain(name) => name.0.clone(),
    };
    let port = target.host_with_port.port.as_ref().map(|p| p.0);
    let found = dns
        .locate(crate::net::dns::Query {
            host: &host,
            port,
            transport,
            secure,
        })
        .await
        .with_context(|| format!("cannot locate '{host}'"))?;
    let Some((hop, alternates)) = found.split_first() else {
        bail!("'{host}' has no SIP server");
    };
    let hosts = match target.host() {
        Host::IpAddr(_) => Vec::new(),
        Host::Domain(name) => found
            .iter()
            .map(|d| (name.0.to_ascii_lowercase(), d.addr.ip()))
            .collect(),
    };
    Ok((*hop, alternates.to_vec(), hosts))
}

/// Starts the media once an answer is in: a 183's SDP (early media: the
/// ring-back or announcement is heard) or the 200's. A later answer with other
/// values moves the running media. An unusable answer leaves the call up without
/// audio (logged), as hanging up is the user's decision, except one that breaks
/// the SRTP policy (plain RTP under `srtp = "mandatory"`): that is returned, and
/// the call must end.
fn on_answer(
    media: &mut MediaLeg,
    answer: Option<&[u8]>,
    plan: &mut Option<(MediaPlan, CleanAudio)>,
) -> Option<String> {
    let negotiated = match media.process_answer(answer) {
        Ok(n) => n,
        Err(e) => {
            let srtp = e
                .downcast_ref::<agentphone_media::offer_answer::OfferAnswerError>()
                .is_some_and(|e| e.is_srtp());
            if srtp {
                return Some(format!("{e:#}"));
            }
            if !media.is_started() {
                tracing::warn!("no audio on this call: {e:#}");
            }
            return None;
        }
    };
    if media.is_started() {
        media.update(&negotiated);
        return None;
    }
    let (plan, clean) = plan.take()?;
    if let Err(e) = media.start(&negotiated, Placement::Own(plan), clean) {
        tracing::warn!("no audio on this call: {e:#}");
    }
    None
}

/// Runs the call to its end. A call hung up because the peer's RTP stopped
/// (`[media] rtp_timeout_s`) is an error. When the callee transfers us
/// (`--refer accept`) the referred call becomes the call, its media `media`
/// and the old leg goes to `earlier`.
async fn drive_call(
    sip: &mut SipDriver,
    mut call: agentphone_sip::CallId,
    (args, script, transfer_to): (&CallArgs, &[HoldStep], Option<agentphone_sip::rsip::Uri>),
    (media, dead, earlier): (
        &mut MediaLeg,
        &mut mpsc::UnboundedReceiver<RtpTimeout>,
        &mut Vec<MediaLeg>,
    ),
    (plan, clean, dialer): (MediaPlan, CleanAudio, &Dialer<'_>),
) -> Result<Outcome> {
    let mut plan = Some((plan, clean));
    let mut transfer_at = None;
    let mut transfer: Option<Result<(), String>> = None;
    let mut referral: Option<Referral> = None;
    // The transferred call ended while its referred call was being placed.
    let mut ended_early: Option<EndReason> = None;
    // A transferred call we end ourselves if the transferor does not.
    let mut old_call: Option<(tokio::time::Instant, agentphone_sip::CallId)> = None;
    let mut answered = false;
    let mut hangup_at = tokio::time::Instant::now() + Duration::from_secs_f64(args.ring_timeout);
    let mut dtmf_at = None;
    let mut shutdown = std::pin::pin!(super::signals::shutdown());
    let mut hung_up = false;
    // The answer broke the SRTP policy: we hung up, and the call fails.
    let mut refused: Option<String> = None;
    let mut silent_for: Option<Duration> = None;
    let mut answered_at = None;
    let mut next_step = 0usize;
    loop {
        let step_at = answered_at
            .zip(script.get(next_step))
            .map(|(t, s): (tokio::time::Instant, &HoldStep)| t + Duration::from_secs_f64(s.at()));
        tokio::select! {
            ev = sip.next_event() => match ev? {
                Event::Progress { call: c, code, sdp } if c == call => {
                    tracing::info!("{code} from the callee");
                    if sdp.is_some() {
                        println!("{code}: early media");
                        if let Some(why) = on_answer(media, sdp.as_deref(), &mut plan) {
                            tracing::warn!("early media not played: {why}");
                        }
                    }
                }
                Event::Established { call: c, remote_sdp } if c == call => {
                    answered = true;
                    media.answered();
                    if let Some(why) = on_answer(media, remote_sdp.as_deref(), &mut plan) {
                        println!("answer refused: {why}; hanging up");
                        sip.ep().hangup(Instant::now(), call)?;
                        refused = Some(why);
                        hung_up = true;
                        continue;
                    }
                    println!("answered; hanging up in {:.1} s", args.duration);
                    let now = tokio::time::Instant::now();
                    answered_at = Some(now);
                    hangup_at = now + Duration::from_secs_f64(args.duration);
                    if args.dtmf.is_some() {
                        dtmf_at = Some(now + Duration::from_secs_f64(args.dtmf_delay.max(0.0)));
                    }
                    if transfer_to.is_some() {
                        transfer_at = Some(now + Duration::from_secs_f64(args.transfer_at.max(0.0)));
                    }
                }
                Event::TransferRequested { call: c, transfer: t, refer_to, referred_by } if c == call => {
                    let policy = if referral.is_some() { ReferPolicy::Reject } else { args.refer };
                    referral = super::transfer::on_refer(sip, dialer, (c, t, policy), (&refer_to, referred_by.as_deref())).await?;
                }
                Event::Progress { call: n, code, .. } if referral.as_ref().is_some_and(|r| r.new == n) => {
                    if let Some(r) = &referral { r.progress(sip, code); }
                }
                Event::Established { call: n, remote_sdp } if referral.as_ref().is_some_and(|r| r.new == n) => {
                    if let Some(mut r) = referral.take() {
                        r.answered(sip, remote_sdp.as_deref(), Some(&mut *media), clean);
                        // The referred call is the call from now on.
                        std::mem::swap(media, &mut r.media);
                        earlier.push(r.media);
                        if ended_early.is_none() {
                            old_call = Some((tokio::time::Instant::now() + super::transfer::OLD_CALL_GRACE, call));
                        }
                        call = r.new;
                        answered = true;
                        ended_early = None;
                    }
                }
                Event::Ended { call: n, reason } if referral.as_ref().is_some_and(|r| r.new == n) => {
                    if let Some(r) = referral.take() { r.failed(sip, &reason); }
                    if let Some(old) = ended_early.take() {
                        return Ok(Outcome { answered, reason: old, transfer });
                    }
                }
                Event::TransferAccepted { call: c, .. } if c == call => println!("transfer accepted (202)"),
                Event::TransferProgress { call: c, status_line, .. } if c == call => println!("transfer: {status_line}"),
                Event::TransferSucceeded { call: c, status_line, .. } if c == call => {
                    println!("transfer succeeded: {status_line}");
                    transfer = Some(Ok(()));
                    if !hung_up {
                        hung_up = true;
                        let _ = sip.ep().hangup(Instant::now(), call);
                    }
                }
                Event::TransferFailed { call: c, reason, .. } if c == call => {
                    println!("transfer failed: {reason}");
                    transfer = Some(Err(reason.to_string()));
                    if !hung_up {
                        hung_up = true;
                        let _ = sip.ep().hangup(Instant::now(), call);
                    }
                }
                Event::ReInvite { call: c, offer } if c == call => {
                    sip.answer_reinvite(c, media, offer.as_deref());
                }
                Event::ReInviteAckAnswer { call: c, answer } if c == call => {
                    media.process_reinvite_answer(answer.as_deref());
                }
                Event::ReInviteAnswered { call: c, sdp } | Event::UpdateAnswered { call: c, sdp } if c == call => {
                    media.process_reinvite_answer(sdp.as_deref());
                }
                Event::Update { call: c, offer } if c == call => sip.answer_update(c, media, &offer),
                Event::UpdateFailed { call: c, code } if c == call => {
                    println!("UPDATE refused with {code}; the call keeps its session");
                }
                Event::ReInviteFailed { call: c, code } if c == call => {
                    println!("re-INVITE refused with {code}; the call keeps its session");
                }
                Event::Ended { call: c, reason } if c == call => {
                    if let Some(why) = refused {
                        bail!("call failed: {why}");
                    }
                    if let Some(d) = silent_for {
                        bail!("no RTP from the peer for {:.0} s: hung up ({reason})", d.as_secs_f64());
                    }
                    if referral.is_some() {
                        // The transferor left first; the referred call decides.
                        ended_early = Some(reason);
                        continue;
                    }
                    return Ok(Outcome { answered, reason, transfer });
                }
                _ => {}
            },
            _ = super::sleep_opt(dtmf_at), if dtmf_at.is_some() => {
                dtmf_at = None;
                if let Some(digits) = &args.dtmf {
                    match media.send_digits(digits) {
                        Ok(()) => println!("sending DTMF {digits}"),
                        Err(e) => eprintln!("{e:#}"),
                    }
                }
            }
            _ = super::sleep_opt(step_at), if step_at.is_some() && !hung_up => {
                let step = script[next_step];
                next_step += 1;
                let offer = match step {
                    HoldStep::Hold(_) => { println!("holding"); media.hold() }
                    HoldStep::Resume(_) => { println!("resumed"); media.resume() }
                };
                if let Err(e) = sip.ep().reinvite(Instant::now(), call, offer) {
                    eprintln!("re-INVITE not sent: {e}");
                }
            }
            _ = super::sleep_opt(old_call.map(|(t, _)| t)), if old_call.is_some() => {
                if let Some((_, old)) = old_call.take() {
                    let _ = sip.ep().hangup(Instant::now(), old);
                }
            }
            _ = super::sleep_opt(transfer_at), if transfer_at.is_some() && !hung_up => {
                transfer_at = None;
                if let Some(to) = &transfer_to {
                    match sip.ep().transfer(Instant::now(), call, to.clone(), None) {
                        Ok(_) => println!("transferring to {to}"),
                        Err(e) => {
                            println!("transfer failed: {e}");
                            transfer = Some(Err(e.to_string()));
                            hung_up = true;
                            sip.ep().hangup(Instant::now(), call)?;
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(hangup_at), if !hung_up && ended_early.is_none() => {
                hung_up = true;
                sip.ep().hangup(Instant::now(), call)?;
            }
            _ = &mut shutdown, if !hung_up => {
                hung_up = true;
                sip.ep().hangup(Instant::now(), call)?;
            }
            Some(timeout) = dead.recv(), if !hung_up => {
                println!("no RTP from the peer for {:.0} s: hanging up", timeout.silent_for.as_secs_f64());
                silent_for = Some(timeout.silent_for);
                hung_up = true;
                sip.ep().hangup(Instant::now(), call)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_flags_are_name_value_pairs_the_stack_does_not_own() {
        assert_eq!(
            parse_header("X-CAD-Account: 12 34").unwrap(),
            ("X-CAD-Account".to_owned(), "12 34".to_owned())
        );
        assert_eq!(parse_header("X-Url:http://a/b").unwrap().1, "http://a/b");
        for bad in ["X-CAD-Account", ":v", "X CAD:v", "Call-ID:x", "X-A:a\rb"] {
            assert!(parse_header(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hold_pairs_become_steps_in_order() {
        let steps = hold_script(&[2.0, 6.0], &[4.0, 7.5]).unwrap();
        assert_eq!(
            steps,
            vec![
                HoldStep::Hold(2.0),
                HoldStep::Resume(4.0),
                HoldStep::Hold(6.0),
                HoldStep::Resume(7.5)
            ]
        );
        assert!(hold_script(&[], &[]).unwrap().is_empty());
    }

    #[test]
    fn hold_pairs_that_do_not_fit_are_refused_with_a_reason() {
        let unpaired = hold_script(&[2.0], &[]).unwrap_err().to_string();
        assert!(unpaired.contains("pairs"), "{unpaired}");
        let backwards = hold_script(&[5.0], &[3.0]).unwrap_err().to_string();
        assert!(backwards.contains("before its own resume"), "{backwards}");
        let overlapping = hold_script(&[1.0, 2.0], &[3.0, 4.0])
            .unwrap_err()
            .to_string();
        assert!(overlapping.contains("previous resume"), "{overlapping}");
        assert!(hold_script(&[-1.0], &[1.0]).is_err());
    }
}
