//! `[api]`: where the local control API listens and where its token lives.

use anyhow::{bail, Result};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The port the API listens on when `listen` is not set.
pub const DEFAULT_PORT: u16 = 7480;
/// The token file's name when `token_file` is not set.
pub const DEFAULT_TOKEN_FILE: &str = "agentphone-api.token";

/// The `[api]` table of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address and port to listen on (default `127.0.0.1:7480`).
    pub listen: Option<SocketAddr>,
    /// The bearer-token file (default: `agentphone-api.token` next to the
    /// config file, or in the current directory without one). A relative path
    /// is taken from the config file's directory.
    pub token_file: Option<PathBuf>,
    /// Allow a `listen` address other than loopback (default false).
    pub allow_remote: Option<bool>,
}

/// `[api]` checked and with its defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedApi {
    /// Where the server listens.
    pub listen: SocketAddr,
    /// The token file.
    pub token_file: PathBuf,
    /// Whether a non-loopback `listen` was allowed.
    pub allow_remote: bool,
}

impl ApiConfig {
    /// Fills in the defaults. `config_path` is the config file actually read
    /// (None without one): the token file defaults to its directory, and
    /// errors name it. A non-loopback `listen` is refused unless
    /// `allow_remote = true`, because whoever reaches the API drives the
    /// agent's calls.
    pub fn resolve(&self, config_path: Option<&Path>) -> Result<ResolvedApi> {
        let shown = config_path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "config".into());
        let listen = self.listen.unwrap_or(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            DEFAULT_PORT,
        ));
        let allow_remote = self.allow_remote.unwrap_or(false);
        if !listen.ip().is_loopback() && !allow_remote {
            bail!(
                "{shown}: [api] key 'listen': {listen} is not a loopback address; \
                 anyone who reaches the API can drive the agent's calls, so set \
                 allow_remote = true in [api] to listen there"
            );
        }
        let base = config_path
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let token_file = match &self.token_file {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => base.join(p),
            None => base.join(DEFAULT_TOKEN_FILE),
        };
        Ok(ResolvedApi {
            listen,
            token_file,
            allow_remote,
        })
    }
}

impl ResolvedApi {
    /// The base URL a client on this machine uses: an unspecified listen
    /// address (`0.0.0.0`, `::`) is reached on loopback.
    pub fn client_url(&self) -> String {
        let ip = match self.listen.ip() {
            IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.listen.port()))
    }
}

/// Reads only the `[api]` table of a config file, so `ctl` does not depend on
/// (or fail on) the rest of it. A missing default file is no table.
pub fn read_api_table(path: Option<&Path>) -> Result<(ApiConfig, Option<PathBuf>)> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match crate::config::default_path() {
            Some(p) => (p, false),
            None => return Ok((ApiConfig::default(), None)),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((ApiConfig::default(), None))
        }
        Err(e) => bail!("{}: cannot read config: {e}", path.display()),
    };
    let api = parse_api_table(&text, &path)?;
    Ok((api, Some(path)))
}

/// The `[api]` table of config text; `path` is only for messages.
pub fn parse_api_table(text: &str, path: &Path) -> Result<ApiConfig> {
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
    match table.remove("api") {
        None => Ok(ApiConfig::default()),
        Some(v) => v.try_into().map_err(|e: toml::de::Error| {
            anyhow::anyhow!("{}: [api]: {}", path.display(), e.message())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(text: &str) -> ApiConfig {
        parse_api_table(text, Path::new("c.toml")).unwrap()
    }

    #[test]
    fn defaults_are_loopback_7480_and_the_token_next_to_the_config() {
        let r = ApiConfig::default()
            .resolve(Some(Path::new("/etc/agentphone/config.toml")))
            .unwrap();
        assert_eq!(r.listen, "127.0.0.1:7480".parse().unwrap());
        assert_eq!(
            r.token_file,
            Path::new("/etc/agentphone/agentphone-api.token")
        );
        assert!(!r.allow_remote);
        let r = ApiConfig::default().resolve(None).unwrap();
        assert_eq!(r.token_file, Path::new("agentphone-api.token"));
        assert_eq!(r.client_url(), "http://127.0.0.1:7480");
    }

    #[test]
    fn relative_token_file_is_taken_from_the_config_directory() {
        let a = api("[api]\ntoken_file = \"secret/tok\"\n");
        let r = a.resolve(Some(Path::new("/x/c.toml"))).unwrap();
        assert_eq!(r.token_file, Path::new("/x/secret/tok"));
        let a = api("[api]\ntoken_file = \"/abs/tok\"\n");
        let r = a.resolve(Some(Path::new("/x/c.toml"))).unwrap();
        assert_eq!(r.token_file, Path::new("/abs/tok"));
    }

    #[test]
    fn non_loopback_listen_is_refused_naming_key_and_file() {
        let a = api("[api]\nlisten = \"0.0.0.0:7480\"\n");
        let err = a
            .resolve(Some(Path::new("/x/c.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/x/c.toml: [api] key 'listen'") && err.contains("allow_remote"),
            "{err}"
        );
        let a = api("[api]\nlisten = \"0.0.0.0:7480\"\nallow_remote = true\n");
        let r = a.resolve(Some(Path::new("/x/c.toml"))).unwrap();
        assert!(r.allow_remote);
        assert_eq!(r.client_url(), "http://127.0.0.1:7480");
        let a = api("[api]\nlisten = \"[::1]:9000\"\n");
        assert_eq!(a.resolve(None).unwrap().client_url(), "http://[::1]:9000");
    }

    #[test]
    fn only_the_api_table_is_read_and_its_unknown_keys_are_named() {
        let a =
            api("[accounts.a]\nwhatever = 1\n[future]\nx = 2\n[api]\nlisten = \"127.0.0.1:9\"\n");
        assert_eq!(a.listen, Some("127.0.0.1:9".parse().unwrap()));
        let err = parse_api_table("[api]\nlsiten = 1\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lsiten") && err.starts_with("c.toml"), "{err}");
    }
}
