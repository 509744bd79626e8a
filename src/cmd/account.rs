//! Account selection shared by `call`, `answer` and `register`.

use crate::config::{self, Account, AccountConfig, Config};
use anyhow::{anyhow, bail, Result};
use std::path::Path;

/// Account flags: a named account from the config file, or one given inline.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AccountArgs {
    /// Account name in the config file.
    #[arg(long, conflicts_with_all = ["user", "registrar"])]
    pub account: Option<String>,
    /// SIP user (with --registrar).
    #[arg(long, requires = "registrar")]
    pub user: Option<String>,
    /// Environment variable holding the password.
    #[arg(long, requires = "user")]
    pub password_env: Option<String>,
    /// File holding the password.
    #[arg(long, requires = "user", conflicts_with = "password_env")]
    pub password_file: Option<std::path::PathBuf>,
    /// Registrar / outbound proxy, host[:port].
    #[arg(long, requires = "user")]
    pub registrar: Option<String>,
    /// SIP domain (default: the registrar's host).
    #[arg(long, requires = "user")]
    pub domain: Option<String>,
}

impl AccountArgs {
    /// The account these flags select, if any; the config file is read only
    /// for `--account`.
    pub fn resolve(&self, config_path: Option<&Path>) -> Result<Option<Account>> {
        let cfg = match self.account {
            Some(_) => config::load(config_path)?,
            None => Config::default(),
        };
        self.resolve_in(&cfg, &config::shown_path(config_path))
    }

    /// The account these flags select in an already loaded config (`shown`
    /// names its file in messages).
    pub fn resolve_in(&self, cfg: &Config, shown: &str) -> Result<Option<Account>> {
        if let Some(name) = &self.account {
            let acc = cfg
                .accounts
                .get(name)
                .ok_or_else(|| anyhow!("{shown}: no account named '{name}'"))?;
            return acc.resolve(name, shown).map(Some);
        }
        let (Some(user), Some(registrar)) = (&self.user, &self.registrar) else {
            if self.user.is_some() {
                bail!("--user needs --registrar");
            }
            return Ok(None);
        };
        let inline = AccountConfig {
            user: user.clone(),
            registrar: registrar.clone(),
            domain: self.domain.clone(),
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
            transport: None,
            expires: None,
            noise_reduction: None,
            tls_ca_file: None,
            tls_insecure: None,
            tls_client_cert: None,
            tls_client_key: None,
            keepalive_s: None,
            keepalive_udp: None,
        };
        inline.resolve(user, "command line").map(Some)
    }
}

/// Whether a call to `target` leaves over TLS: through the account's proxy
/// its transport decides, else the URI (`sips:`, `transport=tls`). SDES keys
/// in the offer are readable on the first hop unless this holds.
pub fn first_hop_tls(account: Option<&Account>, target: &agentphone_sip::rsip::Uri) -> bool {
    let transport = match account {
        Some(a) => a.transport,
        None => agentphone_sip::endpoint::uri_transport(target),
    };
    matches!(transport, agentphone_sip::transport::Transport::Tls(_))
}

/// Credentials for the SIP core.
pub fn credentials(acc: &Account) -> Option<agentphone_sip::Credentials> {
    acc.password.as_ref().map(|p| agentphone_sip::Credentials {
        user: acc.user.clone(),
        password: p.clone(),
    })
}

/// The REGISTER request for an account.
pub fn register_request(acc: &Account) -> agentphone_sip::RegisterRequest {
    use agentphone_sip::transport::Destination;
    agentphone_sip::RegisterRequest {
        registrar: Destination {
            transport: acc.transport,
            addr: acc.registrar,
        },
        domain: acc.domain.clone(),
        user: acc.user.clone(),
        credentials: credentials(acc),
        expires: acc.expires,
    }
}

/// TLS and keep-alive settings of a run: the account's keys over `[sip]`'s,
/// and the registrar's host name (what its certificate must carry).
pub fn net_options(
    acc: Option<&Account>,
    sip: &crate::config::SipConfig,
    shown: &str,
) -> Result<crate::net::NetOptions> {
    let (tls_fallback, keepalive_fallback) = (sip.tls_keys(), sip.keepalive_keys());
    let mut net = crate::net::NetOptions::default();
    match acc {
        Some(a) => {
            let key = format!("{shown}: account '{}'", a.user);
            net.tls.client = a.tls_keys.resolve(&tls_fallback, &key)?;
            net.keepalive = a.keepalive_keys.resolve(&keepalive_fallback, &key)?;
            if a.registrar_host.parse::<std::net::IpAddr>().is_err() {
                net.hosts
                    .push((a.registrar_host.to_ascii_lowercase(), a.registrar.ip()));
            }
        }
        None => {
            let key = format!("{shown}: [sip]");
            net.tls.client = tls_fallback.resolve(&Default::default(), &key)?;
            net.keepalive = keepalive_fallback.resolve(&Default::default(), &key)?;
        }
    }
    Ok(net)
}
