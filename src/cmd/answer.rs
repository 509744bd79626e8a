//! `agentphone answer`: answer incoming calls (UDP and TCP), registering first
//! when an account is given; one line per call.

use super::account::{register_request, AccountArgs};
use crate::media::MediaLeg;
use crate::net::SipDriver;
use agentphone_sip::{CallId, Event};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::time::Instant as TokioInstant;

/// Flags of `agentphone answer`.
#[derive(clap::Args, Debug)]
pub struct AnswerArgs {
    /// Address to listen on (UDP and TCP).
    #[arg(long)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub account: AccountArgs,
    /// Exit after this many calls have ended.
    #[arg(long)]
    pub max_calls: Option<u64>,
    /// Hang up each call after this many seconds (default: wait for the caller).
    #[arg(long)]
    pub duration: Option<f64>,
}

struct Live {
    number: u64,
    answered_at: Option<Instant>,
    _media: Option<MediaLeg>,
}

/// Runs `agentphone answer`.
pub async fn run(args: AnswerArgs, config: Option<&Path>) -> Result<()> {
    let account = args.account.resolve(config)?;
    let user = account.as_ref().map(|a| a.user.clone()).unwrap_or_else(|| "agentphone".into());
    let mut sip = SipDriver::bind(args.listen, &user, Vec::new()).await?;
    println!("listening on {} (udp, tcp)", sip.local_addr());
    let reg = account.as_ref().map(|a| sip.ep().register(Instant::now(), register_request(a)));
    let mut calls: HashMap<CallId, Live> = HashMap::new();
    let mut hangups: BTreeMap<(TokioInstant, CallId), ()> = BTreeMap::new();
    let (mut seen, mut ended) = (0u64, 0u64);
    let mut shutdown = std::pin::pin!(super::signals::shutdown());
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
                Event::Unregistered { .. } => {
                    if stopping { return Ok(()); }
                }
                Event::IncomingCall { call, from, .. } => {
                    seen += 1;
                    let media = MediaLeg::bind(sip.local_addr().ip()).await.ok();
                    let sdp = media.as_ref().map(|m| m.sdp()).unwrap_or_default();
                    let now = Instant::now();
                    sip.ep().ring(now, call)?;
                    sip.ep().answer(now, call, sdp)?;
                    println!("call {seen} from {from}: answered");
                    calls.insert(call, Live { number: seen, answered_at: None, _media: media });
                }
                Event::Established { call, .. } => {
                    if let Some(l) = calls.get_mut(&call) {
                        l.answered_at = Some(Instant::now());
                    }
                    if let Some(d) = args.duration {
                        hangups.insert((TokioInstant::now() + Duration::from_secs_f64(d), call), ());
                    }
                }
                Event::Ended { call, reason } => {
                    ended += 1;
                    hangups.retain(|(_, c), _| *c != call);
                    if let Some(l) = calls.remove(&call) {
                        let secs = l.answered_at.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
                        println!("call {} ended: {reason} after {secs:.1} s", l.number);
                    }
                }
                _ => {}
            },
            _ = sleep_opt(next_hangup.map(|(t, _)| t)) => {
                if let Some((key, ())) = hangups.pop_first() {
                    let _ = sip.ep().hangup(Instant::now(), key.1);
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

fn start_unregister(sip: &mut SipDriver, reg: Option<agentphone_sip::RegId>) -> bool {
    match reg {
        Some(r) => sip.ep().unregister(Instant::now(), r).is_ok(),
        None => false,
    }
}

async fn sleep_opt(t: Option<TokioInstant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
