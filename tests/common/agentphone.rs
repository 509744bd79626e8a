//! Running the `agentphone` binary under test, and writing its account config.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::{Peer, Spawn};
use super::WorkDir;

/// The binary Cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_agentphone"))
}

/// Starts `agentphone ARGS...` as a bounded child (see [`Peer`]). `env` carries
/// e.g. the password variables named in the config.
pub fn spawn(
    dir: &WorkDir,
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> Peer {
    let mut vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // Plain text logs: the assertions read them.
    vars.push(("NO_COLOR".to_string(), "1".to_string()));
    Peer::spawn(
        dir,
        Spawn {
            name,
            program: &binary(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vars,
            limit,
        },
    )
}

/// One `[accounts.NAME]` entry of the config file.
pub struct Account<'a> {
    /// Account name (`--account NAME`) and SIP user.
    pub name: &'a str,
    /// Registrar `host:port`.
    pub registrar: &'a str,
    /// SIP domain.
    pub domain: &'a str,
    /// Environment variable holding the password.
    pub password_env: &'a str,
    /// `udp` or `tcp`.
    pub transport: &'a str,
}

/// Writes a TOML config with the given accounts to the work dir; returns its path.
pub fn write_config(dir: &WorkDir, accounts: &[Account<'_>]) -> PathBuf {
    let mut text = String::from("# written by the interop test harness\n");
    for a in accounts {
        text.push_str(&format!(
            "\n[accounts.{name}]\nuser = \"{name}\"\nregistrar = \"{registrar}\"\n\
             domain = \"{domain}\"\npassword_env = \"{env}\"\ntransport = \"{transport}\"\n\
             expires = 600\n",
            name = a.name,
            registrar = a.registrar,
            domain = a.domain,
            env = a.password_env,
            transport = a.transport,
        ));
    }
    let path = dir.file("agentphone.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// A path as a `&str` argument (work dirs are ASCII temp paths).
pub fn arg(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

/// Starts `agentphone answer --listen LISTEN --max-calls 1 EXTRA...` and waits
/// until it listens; panics with its output when it does not start.
pub fn answer_one(
    dir: &WorkDir,
    name: &str,
    listen: &str,
    extra: &[&str],
    limit: Duration,
) -> Peer {
    let mut args = vec!["answer", "--listen", listen, "--max-calls", "1"];
    args.extend_from_slice(extra);
    let mut peer = spawn(dir, name, &args, &[], limit);
    assert!(
        peer.wait_for_output("listening on", Duration::from_secs(10)),
        "{name} did not start:\n{}",
        peer.report()
    );
    peer
}

/// Waits up to `limit` for `peer` to exit with status 0; otherwise panics with
/// its report and the reports of `others` (the other sides of the call).
pub fn expect_success(peer: &mut Peer, limit: Duration, others: &[&Peer]) {
    let status = peer.wait(limit);
    if status.is_some_and(|s| s.success()) {
        return;
    }
    let mut text = format!("{} failed ({status:?}):\n{}", peer.name(), peer.report());
    for other in others {
        text.push('\n');
        text.push_str(&other.report());
    }
    panic!("{text}");
}

/// The one recording `answer --record-dir` wrote for its one call (panics
/// naming the directory when there is none or more than one).
pub fn only_recording_in(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("no recordings dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(files.len(), 1, "one recording per call: {files:?}");
    files[0].clone()
}

/// The `media stopped` line of a log: the media report a call ends with
/// (codec, packets, concealment, jitter buffer, ticks).
pub fn media_stopped(log: &str) -> Option<&str> {
    log.lines().find(|l| l.contains("media stopped"))
}
