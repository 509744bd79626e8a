//! `agentphone call URI`: place one call, keep it up for --duration, hang up.
//! Exit status 0 only when the call was answered and ended cleanly.

use super::account::{credentials, AccountArgs};
use crate::media::MediaLeg;
use crate::net::SipDriver;
use agentphone_sip::transport::{Destination, Transport};
use agentphone_sip::{CallRequest, EndReason, Event};
use anyhow::{anyhow, bail, Context, Result};
use std::net::SocketAddr;
use std::path::Path;
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
}

/// Runs `agentphone call`.
pub async fn run(args: CallArgs, config: Option<&Path>) -> Result<()> {
    let account = args.account.resolve(config)?;
    let target = agentphone_sip::rsip::parse_uri(&args.uri)
        .map_err(|e| anyhow!("'{}' is not a SIP URI: {e}", args.uri))?;
    let user = account.as_ref().map(|a| a.user.clone()).unwrap_or_else(|| "agentphone".into());
    let mut sip = SipDriver::bind(args.listen, &user, Vec::new()).await?;
    let media = MediaLeg::bind(args.listen.ip()).await?;
    let tcp = args.transport == "tcp" || account.as_ref().is_some_and(|a| a.tcp);
    let from = match &account {
        Some(a) => format!("<sip:{}@{}>", a.user, a.domain),
        None => format!("<sip:{}@{}>", user, sip.local_addr()),
    };
    let request = CallRequest {
        target,
        from,
        via_proxy: account.as_ref().map(|a| Destination {
            transport: if tcp { Transport::Tcp(None) } else { Transport::Udp },
            addr: a.registrar,
        }),
        credentials: account.as_ref().and_then(credentials),
        sdp_offer: media.sdp(),
        tcp,
        extra_headers: Vec::new(),
    };
    let call = sip
        .ep()
        .call(Instant::now(), request)
        .context("cannot place the call")?;
    let outcome = drive_call(&mut sip, call, &args).await?;
    match outcome {
        (true, EndReason::LocalHangup | EndReason::RemoteHangup) => Ok(()),
        (_, reason) => bail!("call failed: {reason}"),
    }
}

/// Runs the call to its end; returns (was answered, end reason).
async fn drive_call(sip: &mut SipDriver, call: agentphone_sip::CallId, args: &CallArgs) -> Result<(bool, EndReason)> {
    let mut answered = false;
    let mut hangup_at = tokio::time::Instant::now() + Duration::from_secs_f64(args.ring_timeout);
    let mut shutdown = std::pin::pin!(super::signals::shutdown());
    let mut hung_up = false;
    loop {
        tokio::select! {
            ev = sip.next_event() => match ev? {
                Event::Progress { call: c, code, .. } if c == call => tracing::info!("{code} from the callee"),
                Event::Established { call: c, .. } if c == call => {
                    answered = true;
                    println!("answered; hanging up in {:.1} s", args.duration);
                    hangup_at = tokio::time::Instant::now() + Duration::from_secs_f64(args.duration);
                }
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
