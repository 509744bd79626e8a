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
    let cfg = crate::config::load(config)?;
    let shown = crate::config::shown_path(config);
    let dns = args.account.resolver(&cfg, &shown)?;
    let Some(account) = args.account.resolve_in(&cfg, &shown, &dns).await? else {
        bail!("register needs --account NAME or --user U --registrar HOST");
    };
    let net = super::account::net_options(Some(&account), &cfg.sip, &shown)?;
    let listen = crate::net::listen_toward(args.listen, account.registrar)?;
    let mut sip = SipDriver::bind_full(
        listen,
        &account.user,
        Default::default(),
        &crate::net::Limits::default(),
        net,
    )
    .await?;
    let mut reg = Some(
        sip.ep()
            .register(Instant::now(), register_request(&account)),
    );
    let mut shutdown = std::pin::pin!(super::signals::shutdown());
    let stop_after = async {
        match args.duration {
            Some(d) => tokio::time::sleep(std::time::Duration::from_secs_f64(d)).await,
            None => std::future::pending().await,
        }
    };
    let mut stop_after = std::pin::pin!(stop_after);
    let mut registered = false;
    let mut backoff = crate::net::retry::Backoff::default();
    let mut retry_at: Option<tokio::time::Instant> = None;
    // Once stopping: the deadline for the un-REGISTER's answer.
    let mut give_up: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            ev = sip.next_event() => match ev? {
                Event::Registered { contact, expires, .. } => {
                    registered = true;
                    backoff.succeeded();
                    println!("registered {}@{} -> {contact}, expires in {} s", account.user, account.domain, expires.as_secs());
                }
                Event::RegistrationFailed { error, .. } if !registered => {
                    bail!("registration failed: {error}")
                }
                Event::RegistrationFailed { error, .. } => {
                    reg = None;
                    if give_up.is_some() {
                        return Ok(());
                    }
                    // The registrar went away after we were registered: keep
                    // trying (RFC 5626 §4.5), the process stays up.
                    let wait = backoff.failed();
                    eprintln!("registration failed: {error}; trying again in {} s", wait.as_secs());
                    retry_at = Some(tokio::time::Instant::now() + wait);
                }
                Event::Unregistered { .. } => {
                    println!("unregistered");
                    return Ok(());
                }
                _ => {}
            },
            _ = super::sleep_opt(retry_at), if give_up.is_none() => {
                retry_at = None;
                reg = Some(sip.ep().register(Instant::now(), register_request(&account)));
            }
            _ = super::sleep_opt(give_up) => {
                eprintln!("the registrar did not answer the un-REGISTER within {} s; leaving", super::signals::STOP_LIMIT.as_secs());
                return Ok(());
            }
            _ = &mut shutdown, if give_up.is_none() => {
                give_up = Some(stop(&mut sip, reg));
                if reg.is_none() { return Ok(()); }
            }
            _ = &mut stop_after, if give_up.is_none() => {
                give_up = Some(stop(&mut sip, reg));
                if reg.is_none() { return Ok(()); }
            }
        }
    }
}

/// Starts the un-REGISTER; returns its deadline.
fn stop(sip: &mut SipDriver, reg: Option<agentphone_sip::RegId>) -> tokio::time::Instant {
    if let Some(r) = reg {
        let _ = sip.ep().unregister(Instant::now(), r);
    }
    tokio::time::Instant::now() + super::signals::STOP_LIMIT
}
