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
    /// Opus bit rate on a clean link, kbit/s (default 72).
    pub opus_bitrate_kbps: Option<u32>,
    /// Opus bit rate under heavy reported loss, kbit/s (default 24).
    pub opus_min_bitrate_kbps: Option<u32>,
    /// Opus discontinuous transmission (default off: the comfort noise a DTX
    /// stream becomes makes customers think the line dropped).
    pub opus_dtx: Option<bool>,
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
    /// `udp` (default) or `tcp`.
    #[serde(default)]
    pub transport: Option<String>,
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
    /// Registrar address.
    pub registrar: std::net::SocketAddr,
    /// Every address the registrar's name resolves to: where its calls come
    /// from (`[sip] accept_calls_from = "proxy"`).
    pub registrar_ips: Vec<std::net::IpAddr>,
    /// SIP domain.
    pub domain: String,
    /// Use TCP.
    pub tcp: bool,
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
    /// Resolves the password and addresses; `name` and `path` are for messages.
    pub fn resolve(&self, name: &str, path: &str) -> Result<Account> {
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
        let registrar = resolve_host_port(&self.registrar)
            .with_context(|| format!("{path}: account '{name}', key 'registrar'"))?;
        let mut registrar_ips = all_addresses(&self.registrar);
        if !registrar_ips.contains(&registrar.ip()) {
            registrar_ips.push(registrar.ip());
        }
        let tcp = match self.transport.as_deref() {
            None | Some("udp") => false,
            Some("tcp") => true,
            Some(other) => {
                bail!("{path}: account '{name}', key 'transport': '{other}' is not udp or tcp")
            }
        };
        let domain = self
            .domain
            .clone()
            .unwrap_or_else(|| host_part(&self.registrar).to_string());
        Ok(Account {
            user: self.user.clone(),
            password,
            registrar,
            registrar_ips,
            domain,
            tcp,
            expires: self.expires.unwrap_or(600),
            noise: self
                .noise_reduction
                .map(|n| agentphone_desk::noise::NoisePolicy {
                    inbound: n.inbound,
                    microphone: n.microphone,
                    locked: n.locked,
                })
                .unwrap_or_default(),
        })
    }
}

fn host_part(hostport: &str) -> &str {
    if let Some(rest) = hostport.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => hostport,
    }
}

/// Resolves `host[:port]` (default port 5060) to a socket address.
/// Every address `host[:port]` resolves to (none when it does not).
fn all_addresses(s: &str) -> Vec<std::net::IpAddr> {
    use std::net::ToSocketAddrs;
    let host = host_part(s);
    (host, 5060)
        .to_socket_addrs()
        .map(|a| a.map(|a| a.ip()).collect())
        .unwrap_or_default()
}

pub fn resolve_host_port(s: &str) -> Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let with_port = if s.parse::<std::net::SocketAddr>().is_ok()
        || s.rsplit_once(':').is_some_and(|(h, p)| {
            !h.ends_with(':') && p.chars().all(|c| c.is_ascii_digit()) && !h.contains(':')
        }) {
        s.to_string()
    } else if s.starts_with('[') && s.ends_with(']') {
        format!("{s}:5060")
    } else if s.contains(':') {
        format!("[{s}]:5060")
    } else {
        format!("{s}:5060")
    };
    // IPv4 first when a name has both: what the SIP core maps `localhost` to,
    // and what most PBXs listen on.
    let all: Vec<std::net::SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| anyhow!("cannot resolve '{s}': {e}"))?
        .collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| anyhow!("'{s}' resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let err = acc.resolve("a", "c.toml").unwrap_err().to_string();
        assert!(
            err.contains("AP_TEST_PW_1 is not set") && err.contains("password_env"),
            "{err}"
        );
        std::env::set_var("AP_TEST_PW_1", "secret");
        let a = acc.resolve("a", "c.toml").unwrap();
        assert_eq!(a.password.as_deref(), Some("secret"));
        assert_eq!(a.registrar.port(), 5099);
        assert_eq!(a.domain, "127.0.0.1");
        assert_eq!(a.expires, 600);
        assert!(!a.tcp);
    }

    #[test]
    fn noise_reduction_is_read_per_account_and_unknown_keys_are_named() {
        let text = "[accounts.a]\nuser = \"alice\"\nregistrar = \"127.0.0.1\"\n\
                    [accounts.a.noise_reduction]\ninbound = true\nlocked = true\n";
        let cfg = parse(text, Path::new("c.toml")).unwrap();
        let a = cfg.accounts["a"].resolve("a", "c.toml").unwrap();
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
    fn host_port_defaults_to_5060() {
        assert_eq!(resolve_host_port("127.0.0.1").unwrap().port(), 5060);
        assert_eq!(resolve_host_port("127.0.0.1:7000").unwrap().port(), 7000);
        assert_eq!(resolve_host_port("[::1]:7000").unwrap().port(), 7000);
        assert_eq!(resolve_host_port("localhost").unwrap().port(), 5060);
    }
}
