//! `agentphone register`: register, show the binding, keep it refreshed,
//! unregister on Ctrl-C or SIGTERM.

use super::account::{register_request, AccountArgs};
use crate::net::SipDriver;
use agentphone_sip::Event;
use anyhow::{bail, Result};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

/// Flags of `agentphone register`.
#[derive(clap::Args, Debug)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    /// Local SIP address (default: the address this machine reaches the
    /// registrar from, any free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Unregister and exit after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub duration: Option<f64>,
}

/// Runs `agentphone register`.
pub async fn run(args: RegisterArgs, config: Option<&Path>) -> Result<()> {
    let Some(account) = args.account.resolve(config)? else {
        bail!("register needs --account NAME or --user U --registrar HOST");
    };
    let listen = crate::net::listen_toward(args.listen, account.registrar)?;
    let mut sip = SipDriver::bind(listen, &account.user, Vec::new()).await?;
    let reg = sip
        .ep()
        .register(Instant::now(), register_request(&account));
    let mut shutdown = std::pin::pin!(super::signals::shutdown());
    let stop_after = async {
        match args.duration {
            Some(d) => tokio::time::sleep(std::time::Duration::from_secs_f64(d)).await,
            None => std::future::pending().await,
        }
    };
    let mut stop_after = std::pin::pin!(stop_after);
    let mut stopping = false;
    loop {
        tokio::select! {
            ev = sip.next_event() => match ev? {
                Event::Registered { contact, expires, .. } => {
                    println!("registered {}@{} -> {contact}, expires in {} s", account.user, account.domain, expires.as_secs());
                }
                Event::RegistrationFailed { error, .. } => bail!("registration failed: {error}"),
                Event::Unregistered { .. } => {
                    println!("unregistered");
                    return Ok(());
                }
                _ => {}
            },
            _ = &mut shutdown, if !stopping => {
                stopping = true;
                sip.ep().unregister(Instant::now(), reg)?;
            }
            _ = &mut stop_after, if !stopping => {
                stopping = true;
                sip.ep().unregister(Instant::now(), reg)?;
            }
        }
    }
}
