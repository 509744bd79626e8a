//! Shared harness for the interop tests: real SIP peers (SIPp, Kamailio) and the
//! `agentphone` binary run as child processes on loopback.
//!
//! Every child runs under coreutils `timeout` in its own process group and is killed
//! when its guard ([`process::Peer`]) drops, so a hung peer can neither hang the test
//! run nor outlive it. Ports come from [`ports::free_port`], which never hands the
//! same port to two tests of one run.

// Each test binary (`tests/sipp.rs`, `tests/kamailio.rs`) uses a different part of
// this module; what one of them leaves unused is not dead code.
#![allow(dead_code)]

pub mod agentphone;
pub mod audio;
pub mod baresip;
pub mod certs;
pub mod desk;
pub mod kamailio;
pub mod pcap;
pub mod pjsua;
pub mod ports;
pub mod process;
pub mod raw_call;
pub mod raw_register;
pub mod relay;
pub mod relay_draws;
pub mod sipp;
pub mod tones;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Finds a peer program (`sipp`, `kamailio`, ...) on `PATH` or in the sbin
/// directories, which a non-login `PATH` often lacks.
///
/// A missing peer is a failure under `CI=true` (this panics with the install hint),
/// never a silent pass. Elsewhere it prints a loud SKIP line and returns `None`, and
/// the test returns early.
pub fn require_peer(name: &str) -> Option<PathBuf> {
    if let Some(path) = find_program(name) {
        return Some(path);
    }
    let hint = format!(
        "interop peer `{name}` is not installed; run `bash scripts/install-peers.sh` \
         (Debian packages sip-tester, kamailio)"
    );
    if peers_required() {
        panic!("{hint}: a missing peer fails the run (CI=true or AGENTPHONE_REQUIRE_PEERS=1)");
    }
    eprintln!("\n********** SKIP: {hint} **********\n");
    None
}

/// Kamailio with its TLS module (Debian's `kamailio-tls-modules`), like
/// [`require_peer`]: `None` with a loud SKIP when missing outside CI.
pub fn require_kamailio_tls() -> Option<PathBuf> {
    let kamailio = require_peer("kamailio")?;
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("kamailio/modules/tls.so"))
        .chain([PathBuf::from("/usr/lib/kamailio/modules/tls.so")])
        .any(|p| p.exists());
    if found {
        return Some(kamailio);
    }
    let hint = "Kamailio's TLS module is not installed; run `bash scripts/install-peers.sh` \
                (Debian package kamailio-tls-modules)";
    if peers_required() {
        panic!("{hint}: a missing peer fails the run (CI=true or AGENTPHONE_REQUIRE_PEERS=1)");
    }
    eprintln!("\n********** SKIP: {hint} **********\n");
    None
}

/// Whether a missing peer fails the test: under `CI=true`, and in the
/// README's test command (`scripts/test.sh` sets `AGENTPHONE_REQUIRE_PEERS=1`
/// unless the developer opts out with `AGENTPHONE_SKIP_MISSING_PEERS=1`).
pub fn peers_required() -> bool {
    let set = |name: &str, value: &str| std::env::var(name).is_ok_and(|v| v == value);
    set("CI", "true") || set("AGENTPHONE_REQUIRE_PEERS", "1")
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The repository root (where `fixtures/` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture file under `fixtures/`, checked to exist.
pub fn fixture(relative: &str) -> PathBuf {
    let path = repo_root().join("fixtures").join(relative);
    assert!(path.is_file(), "fixture {} is missing", path.display());
    path
}

/// A scratch directory for one test: peers' configs, logs and statistics.
///
/// Removed when the test passes; kept when it fails (the path is in the failure
/// message) so the logs can be read.
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Creates a fresh directory named after the test.
    pub fn new(test: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir()
            .join("agentphone-interop")
            .join(format!("{test}-{}-{n}", std::process::id()));
        // A leftover from an earlier run with the same pid would mix old logs in.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create work dir {}: {e}", path.display()));
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        // AGENTPHONE_KEEP_TEST_DIRS=1 keeps them to measure or listen to.
        if std::thread::panicking() || std::env::var_os("AGENTPHONE_KEEP_TEST_DIRS").is_some() {
            eprintln!("interop: logs kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
