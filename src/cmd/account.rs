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
        };
        inline.resolve(user, "command line").map(Some)
    }
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
    use agentphone_sip::transport::{Destination, Transport};
    agentphone_sip::RegisterRequest {
        registrar: Destination {
            transport: if acc.tcp {
                Transport::Tcp(None)
            } else {
                Transport::Udp
            },
            addr: acc.registrar,
        },
        domain: acc.domain.clone(),
        user: acc.user.clone(),
        credentials: credentials(acc),
        expires: acc.expires,
    }
}
