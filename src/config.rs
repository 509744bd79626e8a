//! Accounts in a TOML file. Passwords come from an environment variable or a
//! file, never from the command line alone. Errors name the file, line and key.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Accounts by name.
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountConfig>,
    /// Media settings for every call (`[media]`).
    #[serde(default)]
    pub media: MediaConfig,
    /// SIP settings for every call (`[sip]`).
    #[serde(default)]
    pub sip: SipConfig,
    /// Call handling of `agentphone run` (`[desk]`).
    #[serde(default)]
    pub desk: crate::agent::settings::DeskSection,
    /// The control API of `agentphone run` (`[api]`).
    #[serde(default)]
    pub api: crate::api::ApiConfig,
    /// Name servers (`[dns]`).
    #[serde(default)]
    pub dns: DnsConfig,
}

/// `[dns]`: where registrars and proxies are looked up (RFC 3263).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Name servers, `IP` or `IP:PORT` (port 53 by default); the system's
    /// (`/etc/resolv.conf`) when absent.
    pub servers: Option<Vec<String>>,
}

impl DnsConfig {
    /// The name servers, checked; `shown` names the file in errors.
    pub fn servers(&self, shown: &str) -> Result<Vec<std::net::SocketAddr>> {
        self.servers
            .iter()
            .flatten()
            .map(|s| parse_name_server(s).map_err(|e| anyhow!("{shown}: [dns] key 'servers': {e}")))
            .collect()
    }
}

/// A name server, `IP` or `IP:PORT` (`[v6]:PORT`); port 53 when none.
pub fn parse_name_server(s: &str) -> Result<std::net::SocketAddr> {
    if let Ok(a) = s.parse::<std::net::SocketAddr>() {
        return Ok(a);
    }
    match s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        Ok(ip) => Ok(std::net::SocketAddr::new(ip, 53)),
        Err(_) => bail!("'{s}' is not an IP address or IP:PORT"),
    }
}

/// `[sip]`: session timers (RFC 4028).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Session timers on (default) or off.
    pub session_timer: Option<bool>,
    /// The session interval we ask for, in seconds (default 1800).
    pub session_expires_s: Option<u32>,
    /// The smallest interval we accept, in seconds (default and minimum 90).
    pub min_se_s: Option<u32>,
    /// With an account: take new calls only from the registrar/proxy
    /// (`proxy`, the default: every address its name resolves to) or from
    /// `any` address.
    pub accept_calls_from: Option<String>,
    /// Concurrent calls at most (default 200); beyond, 503 with Retry-After.
    pub max_concurrent_calls: Option<usize>,
    /// Live server transactions at most (default 5000); beyond, new
    /// requests get a stateless 503.
    pub max_server_transactions: Option<usize>,
    /// The SIP UDP socket's receive buffer, KiB (default 4096; the kernel
    /// caps it at net.core.rmem_max).
    pub udp_receive_buffer_kb: Option<usize>,
    /// Inbound TCP connections at most (default 256); beyond, new ones are
    /// closed at once.
    pub tcp_max_connections: Option<usize>,
    /// An inbound TCP connection idle this long is closed, seconds
    /// (default 300; connections we opened stay while the peer keeps them).
    pub tcp_idle_timeout_s: Option<u64>,
    /// PEM file of the CA certificates to trust instead of the system's.
    pub tls_ca_file: Option<PathBuf>,
    /// Accept any server certificate (never by default).
    pub tls_insecure: Option<bool>,
    /// PEM certificate chain presented to servers that ask (mutual TLS).
    pub tls_client_cert: Option<PathBuf>,
    /// PEM private key of `tls_client_cert`.
    pub tls_client_key: Option<PathBuf>,
    /// Seconds between keep-alives of a registration's flow (0 or absent: none).
    pub keepalive_s: Option<u64>,
    /// The keep-alive over UDP: `options` (default) or `crlf`.
    pub keepalive_udp: Option<String>,
}

/// How TLS servers are verified, and our client certificate: keys of an
/// account, or of `[sip]` for every run.
#[derive(Debug, Clone, Default)]
pub struct TlsKeys {
    /// PEM file of the CA certificates to trust instead of the system's.
    pub tls_ca_file: Option<PathBuf>,
    /// Accept any server certificate (never by default).
    pub tls_insecure: Option<bool>,
    /// PEM certificate chain presented to servers that ask (mutual TLS).
    pub tls_client_cert: Option<PathBuf>,
    /// PEM private key of `tls_client_cert`.
    pub tls_client_key: Option<PathBuf>,
}

/// Keep-alives of a registration (RFC 5626 §4.4.1).
#[derive(Debug, Clone, Default)]
pub struct KeepAliveKeys {
    /// Seconds between pings of the registration's flow (0 or absent: none).
    pub keepalive_s: Option<u64>,
    /// The ping over UDP: `options` (default) or `crlf`.
    pub keepalive_udp: Option<String>,
}

/// The TLS keys of an account or of `[sip]` (the same names in both).
macro_rules! tls_keys {
    ($c:expr) => {
        TlsKeys {
            tls_ca_file: $c.tls_ca_file.clone(),
            tls_insecure: $c.tls_insecure,
            tls_client_cert: $c.tls_client_cert.clone(),
            tls_client_key: $c.tls_client_key.clone(),
        }
    };
}

/// The keep-alive keys of an account or of `[sip]`.
macro_rules! keepalive_keys {
    ($c:expr) => {
        KeepAliveKeys {
            keepalive_s: $c.keepalive_s,
            keepalive_udp: $c.keepalive_udp.clone(),
        }
    };
}

impl SipConfig {
    /// `[sip]`'s TLS keys, the defaults of every account.
    pub fn tls_keys(&self) -> TlsKeys {
        tls_keys!(self)
    }

    /// `[sip]`'s keep-alive keys, the defaults of every account.
    pub fn keepalive_keys(&self) -> KeepAliveKeys {
        keepalive_keys!(self)
    }
}

impl TlsKeys {
    /// The settings, `self` over `fallback` key by key; `key` names where
    /// they come from in errors.
    pub fn resolve(
        &self,
        fallback: &TlsKeys,
        key: &str,
    ) -> Result<crate::net::tls::TlsClientSettings> {
        let ca_file = self.tls_ca_file.clone().or(fallback.tls_ca_file.clone());
        let insecure = self.tls_insecure.or(fallback.tls_insecure).unwrap_or(false);
        let cert = self
            .tls_client_cert
            .clone()
            .or(fallback.tls_client_cert.clone());
        let pkey = self
            .tls_client_key
            .clone()
            .or(fallback.tls_client_key.clone());
        let client_cert = match (cert, pkey) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => bail!("{key}: tls_client_cert and tls_client_key go together"),
        };
        Ok(crate::net::tls::TlsClientSettings {
            ca_file,
            insecure,
            client_cert,
        })
    }
}

impl KeepAliveKeys {
    /// The keep-alive, `self` over `fallback`; `key` names where it comes
    /// from in errors.
    pub fn resolve(
        &self,
        fallback: &KeepAliveKeys,
        key: &str,
    ) -> Result<Option<agentphone_sip::keepalive::KeepAlive>> {
        use agentphone_sip::keepalive::{KeepAlive, UdpPing};
        let secs = self.keepalive_s.or(fallback.keepalive_s).unwrap_or(0);
        let udp = match self
            .keepalive_udp
            .as_deref()
            .or(fallback.keepalive_udp.as_deref())
        {
            None | Some("options") => UdpPing::Options,
            Some("crlf") => UdpPing::Crlf,
            Some(other) => bail!("{key} 'keepalive_udp': '{other}' is not options or crlf"),
        };
        Ok((secs > 0).then(|| KeepAlive {
            interval: std::time::Duration::from_secs(secs),
            udp,
        }))
    }
}

/// Where new calls may come from (`[sip] accept_calls_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptFrom {
    /// The account's registrar/proxy only.
    Proxy,
    /// Anyone.
    Any,
}

impl SipConfig {
    /// `accept_calls_from` and `max_concurrent_calls`, checked; `shown`
    /// names the file in errors.
    pub fn admission(&self, shown: &str) -> Result<(AcceptFrom, usize)> {
        let from = match self.accept_calls_from.as_deref() {
            None | Some("proxy") => AcceptFrom::Proxy,
            Some("any") => AcceptFrom::Any,
            Some(other) => {
                bail!("{shown}: [sip] key 'accept_calls_from': '{other}' is not proxy or any")
            }
        };
        let max = self.max_concurrent_calls.unwrap_or(200);
        if max == 0 {
            bail!("{shown}: [sip] key 'max_concurrent_calls': 0 would refuse every call");
        }
        Ok((from, max))
    }
}

impl SipConfig {
    /// The transport limits (`max_server_transactions`,
    /// `udp_receive_buffer_kb`, `tcp_*`), checked; `shown` names the file.
    pub fn limits(&self, shown: &str) -> Result<crate::net::Limits> {
        let mut l = crate::net::Limits::default();
        let positive = |key: &str, v: Option<usize>, default: usize| -> Result<usize> {
            match v {
                Some(0) => bail!("{shown}: [sip] key '{key}': 0 would refuse everything"),
                Some(n) => Ok(n),
                None => Ok(default),
            }
        };
        l.max_server_transactions = positive(
            "max_server_transactions",
            self.max_server_transactions,
            l.max_server_transactions,
        )?;
        l.udp_receive_buffer = positive(
            "udp_receive_buffer_kb",
            self.udp_receive_buffer_kb,
            l.udp_receive_buffer / 1024,
        )?
        .saturating_mul(1024);
        l.tcp.max_inbound = positive(
            "tcp_max_connections",
            self.tcp_max_connections,
            l.tcp.max_inbound,
        )?;
        let idle = positive(
            "tcp_idle_timeout_s",
            self.tcp_idle_timeout_s.map(|s| s as usize),
            l.tcp.idle_timeout.as_secs() as usize,
        )?;
        l.tcp.idle_timeout = std::time::Duration::from_secs(idle as u64);
        Ok(l)
    }
}

impl SipConfig {
    /// The session-timer settings; `shown` names the file in errors.
    pub fn session_timer(
        &self,
        shown: &str,
    ) -> Result<agentphone_sip::session::SessionTimerConfig> {
        let mut t = agentphone_sip::session::SessionTimerConfig::default();
        if let Some(on) = self.session_timer {
            t.enabled = on;
        }
        let min_se = self.min_se_s.unwrap_or(t.min_se_secs());
        if min_se < 90 {
            bail!("{shown}: [sip] key 'min_se_s': {min_se} s is below RFC 4028's minimum of 90 s");
        }
        let expires = self
            .session_expires_s
            .unwrap_or(t.session_expires_secs().max(min_se));
        if expires < min_se {
            bail!("{shown}: [sip] key 'session_expires_s': {expires} s is below min_se_s ({min_se} s)");
        }
        t.min_se = std::time::Duration::from_secs(u64::from(min_se));
        t.session_expires = std::time::Duration::from_secs(u64::from(expires));
        Ok(t)
    }
}

/// `[media]`: codecs, jitter buffer and noise-removal model (see
/// `media::MediaSettings`, which checks the values).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Codecs offered and accepted, preferred first: `pcmu`, `pcma`, `opus`.
    pub codecs: Option<Vec<String>>,
    /// Whose codec order an answer follows: `offer` (the caller's, default)
    /// or `local` (`codecs` above).
    pub codec_priority: Option<String>,
    /// Smallest jitter-buffer delay in ms (default 20).
    pub jitter_min_ms: Option<u32>,
    /// Largest jitter-buffer delay in ms (default 200).
    pub jitter_max_ms: Option<u32>,
    /// An RNNoise model file (nnnoiseless's binary format) for noise removal.
    pub denoise_model: Option<PathBuf>,
    /// Hang up a call whose peer sent no RTP for this many seconds while it
    /// should have (0 or absent: never).
    pub rtp_timeout_s: Option<u32>,
    /// A WAV file (any format and rate) looped to held parties; silence when
    /// absent.
    pub music_on_hold: Option<PathBuf>,
    /// SRTP keyed by SDES: `off` (default), `optional` or `mandatory`.
    pub srtp: Option<String>,
    /// SDES crypto suites offered and accepted, preferred first.
    pub srtp_suites: Option<Vec<String>>,
    /// Refuse to send or take SDES keys over signalling that is not TLS.
    pub srtp_require_tls: Option<bool>,
    /// Opus bit rate on a clean link, kbit/s (default 72).
    pub opus_bitrate_kbps: Option<u32>,
    /// Opus bit rate under heavy reported loss, kbit/s (default 24).
    pub opus_min_bitrate_kbps: Option<u32>,
    /// Opus discontinuous transmission (default off: the comfort noise a DTX
    /// stream becomes makes customers think the line dropped).
    pub opus_dtx: Option<bool>,
    /// Offer and accept RFC 3389 comfort noise (`CN/8000`) beside G.711
    /// (default true).
    pub comfort_noise: Option<bool>,
    /// Offer and accept RFC 2198 redundancy (`red/48000/2`) beside Opus
    /// (default true).
    pub red: Option<bool>,
}

/// One SIP account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// SIP user (AoR user part, digest user name).
    pub user: String,
    /// Registrar / outbound proxy: `host[:port]`.
    pub registrar: String,
    /// SIP domain; defaults to the registrar's host.
    pub domain: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (first line).
    pub password_file: Option<PathBuf>,
    /// `udp`, `tcp` or `tls` (port 5061 unless the registrar names one).
    /// Absent: what the domain's NAPTR records say (RFC 3263), UDP for an
    /// address or a name with a port.
    #[serde(default)]
    pub transport: Option<String>,
    /// PEM file of the CA certificates to trust instead of the system's.
    pub tls_ca_file: Option<PathBuf>,
    /// Accept any server certificate (never by default).
    pub tls_insecure: Option<bool>,
    /// PEM certificate chain presented to servers that ask (mutual TLS).
    pub tls_client_cert: Option<PathBuf>,
    /// PEM private key of `tls_client_cert`.
    pub tls_client_key: Option<PathBuf>,
    /// Seconds between keep-alives of a registration's flow (0 or absent: none).
    pub keepalive_s: Option<u64>,
    /// The keep-alive over UDP: `options` (default) or `crlf`.
    pub keepalive_udp: Option<String>,
    /// Registration lifetime in seconds (default 600).
    pub expires: Option<u32>,
    /// Noise reduction set by the administrator (R-NR-2); off when absent.
    #[serde(default)]
    pub noise_reduction: Option<NoiseConfig>,
}

/// `[accounts.NAME.noise_reduction]`: what the administrator decides (R-NR-2/3).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseConfig {
    /// Clean what the agent hears from each inbound leg.
    #[serde(default)]
    pub inbound: bool,
    /// Clean the agent's microphone.
    #[serde(default)]
    pub microphone: bool,
    /// The agent may not switch off what is on here.
    #[serde(default)]
    pub locked: bool,
}

/// A resolved account, ready to use.
#[derive(Debug, Clone)]
pub struct Account {
    /// SIP user.
    pub user: String,
    /// Password, if any.
    pub password: Option<String>,
    /// Registrar address: the first server RFC 3263 resolution gave.
    pub registrar: std::net::SocketAddr,
    /// The other servers, in the order to try them when the one in use
    /// does not answer.
    pub registrar_alternates: Vec<agentphone_sip::transport::Destination>,
    /// Every address of those servers: where the account's calls come from
    /// (`[sip] accept_calls_from = "proxy"`).
    pub registrar_ips: Vec<std::net::IpAddr>,
    /// The registrar's host as written (a name is what its TLS certificate
    /// must carry).
    pub registrar_host: String,
    /// The port written with it, if any (it skips NAPTR and SRV).
    pub registrar_port: Option<u16>,
    /// The transport the account names, if any (it skips NAPTR).
    pub registrar_transport: Option<agentphone_sip::transport::Transport>,
    /// SIP domain.
    pub domain: String,
    /// UDP, TCP or TLS to `registrar` (never naming a connection).
    pub transport: agentphone_sip::transport::Transport,
    /// TLS settings of the account (with `[sip]`'s as defaults).
    pub tls_keys: TlsKeys,
    /// Keep-alive settings of the account (with `[sip]`'s as defaults).
    pub keepalive_keys: KeepAliveKeys,
    /// Registration lifetime.
    pub expires: u32,
    /// Noise reduction as the administrator configured it.
    pub noise: agentphone_desk::noise::NoisePolicy,
}

/// The default config path: `$XDG_CONFIG_HOME/agentphone/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("agentphone").join("config.toml"))
}

/// How the config file is named in messages.
pub fn shown_path(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string())
        .or_else(|| default_path().map(|p| p.display().to_string()))
        .unwrap_or_else(|| "config".into())
}

/// Loads a config file; a missing default file is an empty config.
pub fn load(path: Option<&Path>) -> Result<Config> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match default_path() {
            Some(p) => (p, false),
            None => return Ok(Config::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Config::default())
        }
        Err(e) => bail!("{}: cannot read config: {e}", path.display()),
    };
    parse(&text, &path)
}

/// Parses config text; `path` is only for messages.
pub fn parse(text: &str, path: &Path) -> Result<Config> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        match line {
            Some(l) => anyhow!("{}:{l}: {}", path.display(), e.message()),
            None => anyhow!("{}: {}", path.display(), e.message()),
        }
    })
}

impl AccountConfig {
    /// Resolves the password and, through `dns`, the registrar's servers;
    /// `name` and `path` are for messages.
    pub async fn resolve<S: crate::net::dns::RecordSource>(
        &self,
        name: &str,
        path: &str,
        dns: &crate::net::dns::Locator<S>,
    ) -> Result<Account> {
        let password = match (&self.password_env, &self.password_file) {
            (Some(var), _) => Some(std::env::var(var).map_err(|_| {
                anyhow!("{path}: account '{name}', key 'password_env': environment variable {var} is not set")
            })?),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| format!("{path}: account '{name}', key 'password_file': cannot read {}", file.display()))?
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            ),
            (None, None) => None,
        };
        use agentphone_sip::transport::Transport;
        let transport = match self.transport.as_deref() {
            None => None,
            Some("udp") => Some(Transport::Udp),
            Some("tcp") => Some(Transport::Tcp(None)),
            Some("tls") => Some(Transport::Tls(None)),
            Some(other) => {
                bail!("{path}: account '{name}', key 'transport': '{other}' is not udp, tcp or tls")
            }
        };
        let (host, port) = split_host_port(&self.registrar)
            .with_context(|| format!("{path}: account '{name}', key 'registrar'"))?;
        let targets = dns
            .locate(crate::net::dns::Query {
                host,
                port,
                transport,
                secure: false,
            })
            .await
            .with_context(|| format!("{path}: account '{name}', key 'registrar'"))?;
        if targets.is_empty() {
            bail!(
                "{path}: account '{name}', key 'registrar': '{}' has no server",
                self.registrar
            );
        }
        let domain = self.domain.clone().unwrap_or_else(|| host.to_string());
        let mut account = Account {
            user: self.user.clone(),
            password,
            registrar: targets[0].addr,
            registrar_alternates: Vec::new(),
            registrar_ips: Vec::new(),
            registrar_host: host.to_string(),
            registrar_port: port,
            registrar_transport: transport,
            domain,
            transport: targets[0].transport,
            tls_keys: tls_keys!(self),
            keepalive_keys: keepalive_keys!(self),
            expires: self.expires.unwrap_or(600),
            noise: self
                .noise_reduction
                .map(|n| agentphone_desk::noise::NoisePolicy {
                    inbound: n.inbound,
                    microphone: n.microphone,
                    locked: n.locked,
                })
                .unwrap_or_default(),
        };
        account.set_targets(targets);
        Ok(account)
    }
}

impl Account {
    /// Every registrar server in the order to try them.
    pub fn targets(&self) -> Vec<agentphone_sip::transport::Destination> {
        let first = agentphone_sip::transport::Destination {
            transport: self.transport,
            addr: self.registrar,
        };
        std::iter::once(first)
            .chain(self.registrar_alternates.iter().copied())
            .collect()
    }

    fn set_targets(&mut self, targets: Vec<agentphone_sip::transport::Destination>) {
        let Some((first, alternates)) = targets.split_first() else {
            return;
        };
        self.registrar = first.addr;
        self.transport = first.transport;
        self.registrar_alternates = alternates.to_vec();
        self.registrar_ips.clear();
        for t in &targets {
            if !self.registrar_ips.contains(&t.addr.ip()) {
                self.registrar_ips.push(t.addr.ip());
            }
        }
    }

    /// Looks the registrar up again (answered from the cache until the
    /// records' TTL runs out, RFC 3263 §4): a registration started anew
    /// after every server failed goes to where DNS points now, not where it
    /// pointed when the run began. The same servers in another order (a new
    /// RFC 2782 weighted draw) keep the order in use. Returns whether the
    /// servers changed; on a failed lookup the old list stays.
    pub async fn relocate<S: crate::net::dns::RecordSource>(
        &mut self,
        dns: &crate::net::dns::Locator<S>,
    ) -> Result<bool> {
        let found = dns
            .locate(crate::net::dns::Query {
                host: &self.registrar_host,
                port: self.registrar_port,
                transport: self.registrar_transport,
                secure: false,
            })
            .await?;
        match crate::net::dns::changed(&self.targets(), found) {
            Some(new) => {
                self.set_targets(new);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// `host[:port]`, `[v6]:port`, or a bare IPv6 address, as host and port.
pub fn split_host_port(s: &str) -> Result<(&str, Option<u16>)> {
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| anyhow!("'{s}': '{p}' is not a port"))
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| anyhow!("'{s}': '[' without ']'"))?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(port(p)?))),
            None if after.is_empty() => Ok((host, None)),
            None => bail!("'{s}' is not host[:port]"),
        };
    }
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((s, None));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Ok((h, Some(port(p)?))),
        Some(_) => bail!("'{s}' is not host[:port]"),
        None if s.is_empty() => bail!("the host is empty"),
        None => Ok((s, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The account resolved as `a` in `c.toml`; the registrars of these
    /// tests are addresses, which the resolver answers without DNS.
    fn resolved(acc: &AccountConfig) -> Result<Account> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dns = crate::net::dns::Resolver::new(&["127.0.0.1:9".parse().unwrap()])?;
            acc.resolve("a", "c.toml", &dns).await
        })
    }

    #[test]
    fn sip_section_sets_session_timers_within_rfc_4028_bounds() {
        let timer = |text: &str| {
            parse(text, Path::new("c.toml"))
                .unwrap()
                .sip
                .session_timer("c.toml")
        };
        let default = timer("").unwrap();
        assert!(default.enabled);
        assert_eq!(default.session_expires_secs(), 1800);
        let t = timer("[sip]\nsession_expires_s = 600\nmin_se_s = 120\n").unwrap();
        assert_eq!((t.session_expires_secs(), t.min_se_secs()), (600, 120));
        assert!(!timer("[sip]\nsession_timer = false\n").unwrap().enabled);
        let low = timer("[sip]\nmin_se_s = 30\n").unwrap_err().to_string();
        assert!(low.contains("'min_se_s'") && low.contains("90"), "{low}");
        let below = timer("[sip]\nsession_expires_s = 100\nmin_se_s = 200\n")
            .unwrap_err()
            .to_string();
        assert!(below.contains("'session_expires_s'"), "{below}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = "[accounts.a]\nuser = \"alice\"\nregistrar = \"127.0.0.1\"\nbogus = 1\n";
        let err = parse(text, Path::new("cfg.toml")).unwrap_err().to_string();
        assert!(err.starts_with("cfg.toml:4:"), "{err}");
        assert!(err.contains("bogus"), "{err}");
        let text = "[accounts.a]\nuser = 5\nregistrar = \"x\"\n";
        let err = parse(text, Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.starts_with("c.toml:2:"), "{err}");
    }

    #[test]
    fn account_resolves_password_from_env_and_defaults() {
        let text = "[accounts.a]\nuser = \"alice\"\nregistrar = \"127.0.0.1:5099\"\npassword_env = \"AP_TEST_PW_1\"\n";
        let cfg = parse(text, Path::new("c.toml")).unwrap();
        let acc = &cfg.accounts["a"];
        let err = resolved(acc).unwrap_err().to_string();
        assert!(
            err.contains("AP_TEST_PW_1 is not set") && err.contains("password_env"),
            "{err}"
        );
        std::env::set_var("AP_TEST_PW_1", "secret");
        let a = resolved(acc).unwrap();
        assert_eq!(a.password.as_deref(), Some("secret"));
        assert_eq!(a.registrar.port(), 5099);
        assert_eq!(a.domain, "127.0.0.1");
        assert_eq!(a.expires, 600);
        assert_eq!(a.transport, agentphone_sip::transport::Transport::Udp);
    }

    #[test]
    fn noise_reduction_is_read_per_account_and_unknown_keys_are_named() {
        let text = "[accounts.a]\nuser = \"alice\"\nregistrar = \"127.0.0.1\"\n\
                    [accounts.a.noise_reduction]\ninbound = true\nlocked = true\n";
        let cfg = parse(text, Path::new("c.toml")).unwrap();
        let a = resolved(&cfg.accounts["a"]).unwrap();
        assert!(a.noise.inbound && a.noise.locked && !a.noise.microphone);
        let text = "[accounts.a]\nuser = \"alice\"\nregistrar = \"127.0.0.1\"\n\
                    [accounts.a.noise_reduction]\ninbond = true\n";
        let err = parse(text, Path::new("c.toml")).unwrap_err().to_string();
        assert!(
            err.starts_with("c.toml:5:") && err.contains("inbond"),
            "{err}"
        );
    }

    #[test]
    fn tls_accounts_default_to_5061_and_take_sip_tls_keys_as_defaults() {
        use agentphone_sip::transport::Transport;
        let text = "[sip]\ntls_ca_file = \"/ca.pem\"\nkeepalive_s = 30\n\
                    [accounts.a]\nuser = \"alice\"\nregistrar = \"127.0.0.1\"\ntransport = \"tls\"\n\
                    keepalive_udp = \"crlf\"\n\
                    [accounts.b]\nuser = \"bob\"\nregistrar = \"127.0.0.1:7000\"\ntransport = \"tls\"\n\
                    tls_ca_file = \"/own.pem\"\ntls_insecure = true\nkeepalive_s = 0\n";
        let cfg = parse(text, Path::new("c.toml")).unwrap();
        let a = resolved(&cfg.accounts["a"]).unwrap();
        assert_eq!(a.transport, Transport::Tls(None));
        assert_eq!(a.registrar.port(), 5061);
        let tls = a.tls_keys.resolve(&cfg.sip.tls_keys(), "a").unwrap();
        assert_eq!(tls.ca_file.as_deref(), Some(Path::new("/ca.pem")));
        assert!(!tls.insecure);
        let k = a
            .keepalive_keys
            .resolve(&cfg.sip.keepalive_keys(), "a")
            .unwrap()
            .expect("keep-alive from [sip]");
        assert_eq!(k.interval, std::time::Duration::from_secs(30));
        assert_eq!(k.udp, agentphone_sip::keepalive::UdpPing::Crlf);
        let b = resolved(&cfg.accounts["b"]).unwrap();
        assert_eq!(b.registrar.port(), 7000);
        let tls = b.tls_keys.resolve(&cfg.sip.tls_keys(), "b").unwrap();
        assert_eq!(tls.ca_file.as_deref(), Some(Path::new("/own.pem")));
        assert!(tls.insecure);
        let off = b.keepalive_keys.resolve(&cfg.sip.keepalive_keys(), "b");
        assert_eq!(off.unwrap(), None, "0 switches keep-alives off");
    }

    #[test]
    fn bad_tls_and_keepalive_keys_are_named() {
        let bad = |extra: &str| {
            let text =
                format!("[accounts.a]\nuser = \"alice\"\nregistrar = \"127.0.0.1\"\n{extra}\n");
            let cfg = parse(&text, Path::new("c.toml")).unwrap();
            let a = resolved(&cfg.accounts["a"]);
            let a = match a {
                Ok(a) => a,
                Err(e) => return e.to_string(),
            };
            let tls = a.tls_keys.resolve(&cfg.sip.tls_keys(), "account 'a'");
            let keep = a
                .keepalive_keys
                .resolve(&cfg.sip.keepalive_keys(), "account 'a'");
            match (tls, keep) {
                (Err(e), _) | (_, Err(e)) => e.to_string(),
                _ => String::new(),
            }
        };
        let e = bad("transport = \"sctp\"");
        assert!(
            e.contains("'transport'") && e.contains("udp, tcp or tls"),
            "{e}"
        );
        let e = bad("tls_client_cert = \"/c.pem\"");
        assert!(e.contains("tls_client_cert and tls_client_key"), "{e}");
        let e = bad("keepalive_udp = \"stun\"");
        assert!(e.contains("'keepalive_udp'") && e.contains("stun"), "{e}");
    }

    #[test]
    fn host_and_port_are_split_and_a_missing_port_is_none() {
        assert_eq!(split_host_port("127.0.0.1").unwrap(), ("127.0.0.1", None));
        assert_eq!(
            split_host_port("127.0.0.1:7000").unwrap(),
            ("127.0.0.1", Some(7000))
        );
        assert_eq!(split_host_port("[::1]:7000").unwrap(), ("::1", Some(7000)));
        assert_eq!(split_host_port("::1").unwrap(), ("::1", None));
        assert_eq!(split_host_port("[::1]").unwrap(), ("::1", None));
        assert_eq!(
            split_host_port("sip.example.com").unwrap(),
            ("sip.example.com", None)
        );
        for bad in ["", "host:port", "[::1", "h:99999", ":5060"] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns_servers_are_addresses_with_port_53_by_default() {
        let cfg = parse(
            "[dns]\nservers = [\"127.0.0.1:5353\", \"::1\", \"192.0.2.1\"]\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let servers = cfg.dns.servers("c.toml").unwrap();
        assert_eq!(
            servers,
            vec![
                "127.0.0.1:5353".parse().unwrap(),
                "[::1]:53".parse().unwrap(),
                "192.0.2.1:53".parse().unwrap()
            ]
        );
        let bad = parse("[dns]\nservers = [\"ns.example\"]\n", Path::new("c.toml"))
            .unwrap()
            .dns
            .servers("c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            bad.starts_with("c.toml: [dns] key 'servers'") && bad.contains("ns.example"),
            "{bad}"
        );
        let unknown = parse("[dns]\nserver = []\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            unknown.starts_with("c.toml:2:") && unknown.contains("server"),
            "{unknown}"
        );
    }
}
