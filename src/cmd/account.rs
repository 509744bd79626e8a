//! Account selection shared by `call`, `answer` and `register`.

use crate::config::{self, Account, AccountConfig, Config};
use crate::net::dns::Resolver;
use anyhow::{anyhow, bail, Result};
use std::sync::Arc;

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
    /// Name server for registrar and proxy look-ups, IP or IP:PORT
    /// (repeatable; over `[dns] servers` and the system's).
    #[arg(long = "dns-server", value_name = "ADDR", value_parser = parse_dns_server)]
    pub dns_servers: Vec<std::net::SocketAddr>,
}

fn parse_dns_server(s: &str) -> Result<std::net::SocketAddr, String> {
    config::parse_name_server(s).map_err(|e| e.to_string())
}

impl AccountArgs {
    /// The run's resolver: `--dns-server`, else `[dns] servers`, else the
    /// system's name servers.
    pub fn resolver(&self, cfg: &Config, shown: &str) -> Result<Arc<Resolver>> {
        let servers = if self.dns_servers.is_empty() {
            cfg.dns.servers(shown)?
        } else {
            self.dns_servers.clone()
        };
        Ok(Arc::new(Resolver::new(&servers)?))
    }

    /// The account these flags select in an already loaded config (`shown`
    /// names its file in messages), its registrar located through `dns`.
    pub async fn resolve_in(
        &self,
        cfg: &Config,
        shown: &str,
        dns: &Resolver,
    ) -> Result<Option<Account>> {
        if let Some(name) = &self.account {
            let acc = cfg
                .accounts
                .get(name)
                .ok_or_else(|| anyhow!("{shown}: no account named '{name}'"))?;
            return acc.resolve(name, shown, dns).await.map(Some);
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
        inline.resolve(user, "command line", dns).await.map(Some)
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

/// How long the SIP loop waits for DNS before a registration starts anew.
const RELOCATE_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Before a registration starts anew (every server failed or the flow is
/// gone): the registrar is looked up again, answered from the cache until
/// its records expire, so a provider that moved is followed without a
/// restart. The driver learns the new servers' name for TLS. Returns whether
/// the servers changed; a failed or slow lookup keeps the ones we have.
pub async fn relocate(
    account: &mut Account,
    dns: &crate::net::dns::Resolver,
    sip: &mut crate::net::SipDriver,
) -> bool {
    match tokio::time::timeout(RELOCATE_LIMIT, account.relocate(dns)).await {
        Ok(Ok(true)) => {
            let servers: Vec<String> = account.targets().iter().map(|d| d.to_string()).collect();
            tracing::info!(
                "registrar {} now resolves to {}",
                account.registrar_host,
                servers.join(", ")
            );
            if account.registrar_host.parse::<std::net::IpAddr>().is_err() {
                sip.learn_host(&account.registrar_host, &account.registrar_ips);
            }
            true
        }
        Ok(Ok(false)) => false,
        Ok(Err(e)) => {
            tracing::warn!(
                "registrar {}: {e:#}; keeping its servers",
                account.registrar_host
            );
            false
        }
        Err(_) => {
            tracing::warn!(
                "registrar {}: no DNS answer within {} s; keeping its servers",
                account.registrar_host,
                RELOCATE_LIMIT.as_secs()
            );
            false
        }
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
        alternates: acc.registrar_alternates.clone(),
    }
}

/// TLS and keep-alive settings of a run: the account's keys over `[sip]`'s,
/// and the registrar's host name (what its certificates must carry).
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
            // RFC 5922 §4.1: every server found for the domain must prove
            // the domain itself, whichever SRV target it is.
            if a.registrar_host.parse::<std::net::IpAddr>().is_err() {
                for ip in &a.registrar_ips {
                    net.hosts.push((a.registrar_host.to_ascii_lowercase(), *ip));
                }
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

/// The first hop of an account's requests and the servers to try after it.
pub fn proxy_hops(
    acc: &Account,
) -> (
    agentphone_sip::transport::Destination,
    Vec<agentphone_sip::transport::Destination>,
) {
    let hop = agentphone_sip::transport::Destination {
        transport: acc.transport,
        addr: acc.registrar,
    };
    (hop, acc.registrar_alternates.clone())
}
