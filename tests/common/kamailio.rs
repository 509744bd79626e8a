//! Kamailio as registrar and authenticating proxy, one instance per test.
//!
//! The config comes from `fixtures/kamailio/registrar-proxy.cfg.in` with the port,
//! domain, password and digest algorithm filled in. All users share one password.

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use super::ports::free_port;
use super::process::{Peer, Spawn};
use super::{fixture, WorkDir};

/// The SIP domain the test accounts live in (an alias of the Kamailio instance).
pub const DOMAIN: &str = "agentphone.test";

/// Digest algorithm a Kamailio instance challenges with (5.6 serves one at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// RFC 2617 MD5.
    Md5,
    /// RFC 7616 SHA-256.
    Sha256,
}

impl Algorithm {
    /// The name in `algorithm=` of a challenge.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }
}

/// The certificate files of a Kamailio with TLS (its `tls` module).
pub struct TlsFiles<'a> {
    /// PEM certificate chain Kamailio serves.
    pub cert: &'a Path,
    /// Its private key.
    pub key: &'a Path,
    /// The CA client certificates are checked against.
    pub ca: &'a Path,
    /// Ask every client for a certificate and refuse those without one.
    pub mutual: bool,
    /// Close connections idle for 3 s (instead of Kamailio's 120 s).
    pub short_lifetime: bool,
}

/// A running Kamailio.
pub struct Kamailio {
    peer: Peer,
    port: u16,
    tls_port: Option<u16>,
    password: String,
    algorithm: Algorithm,
}

impl Kamailio {
    /// Generates the config, starts Kamailio in the foreground and waits (at most
    /// 10 s) until it answers an OPTIONS probe.
    pub fn start(kamailio: &Path, dir: &WorkDir, algorithm: Algorithm) -> Self {
        Self::start_with(kamailio, dir, algorithm, None, None)
    }

    /// Like [`start`](Self::start), listening for SIP over TLS as well
    /// (on [`tls_port`](Self::tls_port)) with `tls`'s certificate.
    pub fn start_tls(kamailio: &Path, dir: &WorkDir, algorithm: Algorithm, tls: &TlsFiles) -> Self {
        Self::start_with(kamailio, dir, algorithm, Some(tls), None)
    }

    /// Like [`start`](Self::start) or [`start_tls`](Self::start_tls), every
    /// user's password `password`: servers of one domain that a client
    /// fails over between share their users.
    pub fn start_sharing(
        kamailio: &Path,
        dir: &WorkDir,
        algorithm: Algorithm,
        tls: Option<&TlsFiles>,
        password: &str,
    ) -> Self {
        Self::start_with(kamailio, dir, algorithm, tls, Some(password))
    }

    fn start_with(
        kamailio: &Path,
        dir: &WorkDir,
        algorithm: Algorithm,
        tls: Option<&TlsFiles>,
        password: Option<&str>,
    ) -> Self {
        let port = free_port();
        let tls_port = tls.map(|_| free_port());
        let path_of = |f: Option<&Path>| f.map(|p| p.display().to_string()).unwrap_or_default();
        let password = password
            .map(str::to_owned)
            .unwrap_or_else(|| format!("pw-{}-{port}", algorithm.name().to_lowercase()));
        let template = std::fs::read_to_string(fixture("kamailio/registrar-proxy.cfg.in"))
            .unwrap_or_else(|e| panic!("cannot read Kamailio template: {e}"));
        let nonce_secret = format!("{:016x}{port:08x}", std::process::id());
        let config = template
            .replace("@PORT@", &port.to_string())
            .replace("@DOMAIN@", DOMAIN)
            .replace("@ALGORITHM@", algorithm.name())
            .replace("@PASSWORD@", &password)
            .replace("@NONCE_SECRET@", &nonce_secret)
            .replace("@TLS_PORT@", &tls_port.unwrap_or(0).to_string())
            .replace("@TLS_CERT@", &path_of(tls.map(|t| t.cert)))
            .replace("@TLS_KEY@", &path_of(tls.map(|t| t.key)))
            .replace("@TLS_CA@", &path_of(tls.map(|t| t.ca)));
        if let Some(left) = unfilled_placeholder(&config) {
            panic!("Kamailio template has a placeholder the harness does not fill: {left}");
        }
        let cfg_path = dir.file("kamailio.cfg");
        std::fs::write(&cfg_path, config).unwrap_or_else(|e| panic!("write config: {e}"));
        let work = dir.path().display().to_string();
        let mut args = [
            "-f",
            &cfg_path.display().to_string(),
            // Foreground, log to stderr (our file), runtime files in the work dir.
            "-DD",
            "-E",
            "-w",
            &work,
            "-Y",
            &work,
            "-P",
            &dir.file("kamailio.pid").display().to_string(),
            "-m",
            "64",
            "-M",
            "8",
        ]
        .map(String::from)
        .to_vec();
        if let Some(t) = tls {
            args.extend(["-A".to_string(), "WITH_TLS".to_string()]);
            if t.mutual {
                args.extend(["-A".to_string(), "WITH_MTLS".to_string()]);
            }
            if t.short_lifetime {
                args.extend(["-A".to_string(), "SHORT_TCP_LIFETIME".to_string()]);
            }
        }
        let peer = Peer::spawn(
            dir,
            Spawn {
                name: "kamailio",
                program: kamailio,
                args,
                env: Vec::new(),
                limit: Duration::from_secs(180),
            },
        );
        let mut instance = Self {
            peer,
            port,
            tls_port,
            password,
            algorithm,
        };
        instance.wait_ready(Duration::from_secs(10));
        instance
    }

    fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut attempt = 0u32;
        while Instant::now() < deadline {
            if let Some(status) = self.peer.try_status() {
                panic!(
                    "Kamailio exited at start ({status})\n{}",
                    self.peer.report()
                );
            }
            attempt += 1;
            if options_probe(self.port, attempt) {
                return;
            }
        }
        panic!(
            "Kamailio did not answer OPTIONS on 127.0.0.1:{} within {limit:?}\n{}",
            self.port,
            self.peer.report()
        );
    }

    /// `127.0.0.1:PORT`, the registrar / outbound proxy address.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on (UDP and TCP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port it listens on for TLS, when started with TLS.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The password every user has.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The digest algorithm it challenges with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Freezes (`true`) or thaws Kamailio: frozen, it takes datagrams and
    /// answers none, as a registrar whose host vanished.
    pub fn freeze(&self, frozen: bool) {
        self.peer.signal_group(if frozen { "STOP" } else { "CONT" });
    }

    /// Ends Kamailio now: its ports refuse from then on.
    pub fn kill(&mut self) {
        self.peer.stop(std::time::Duration::from_secs(2));
    }

    /// Its log so far (stderr).
    pub fn log(&self) -> String {
        self.peer.stderr()
    }

    /// How many challenges it sent for `method` requests (from the config's xlog).
    pub fn challenges(&self, method: &str) -> usize {
        let marker = format!("{method} for ");
        self.log()
            .lines()
            .filter(|l| l.contains(&marker) && l.contains("challenging"))
            .count()
    }

    /// Its output, for failure messages.
    pub fn report(&self) -> String {
        self.peer.report()
    }
}

/// The first `@NAME@` (upper case, digits, `_`) left in `text`, if any.
fn unfilled_placeholder(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(start) = rest.find('@') {
        let after = &rest[start + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('@') {
            return Some(&rest[start..start + name_len + 2]);
        }
        rest = after;
    }
    None
}

/// Sends one OPTIONS to Kamailio and waits 200 ms for any response.
fn options_probe(port: u16, attempt: u32) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let Ok(local) = socket.local_addr() else {
        return false;
    };
    let request = format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-ready-{attempt};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@127.0.0.1>;tag=probe{attempt}\r\n\
         To: <sip:127.0.0.1:{port}>\r\n\
         Call-ID: ready-{attempt}-{}@127.0.0.1\r\n\
         CSeq: {attempt} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        std::process::id()
    );
    if socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .is_err()
        || socket
            .send_to(request.as_bytes(), ("127.0.0.1", port))
            .is_err()
    {
        std::thread::sleep(Duration::from_millis(200));
        return false;
    }
    let mut buf = [0u8; 2048];
    match socket.recv(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"SIP/2.0 200"),
        // An ICMP port-unreachable (not yet bound) comes back at once as an error.
        Err(_) => {
            std::thread::sleep(Duration::from_millis(50));
            false
        }
    }
}

/// A config with accounts `bob` and `alice` at `kamailio` over `transport`,
/// registering for `expires` seconds, their password in `password_env`.
pub fn two_account_config(
    dir: &WorkDir,
    kamailio: &Kamailio,
    password_env: &str,
    transport: &str,
    expires: u32,
) -> std::path::PathBuf {
    let path = dir.file("bob.toml");
    let mut text = String::new();
    for user in ["bob", "alice"] {
        text.push_str(&format!(
            "[accounts.{user}]\nuser = \"{user}\"\nregistrar = \"{}\"\ndomain = \"{DOMAIN}\"\n\
             password_env = \"{password_env}\"\ntransport = \"{transport}\"\nexpires = {expires}\n\n",
            kamailio.address()
        ));
    }
    std::fs::write(&path, text).expect("write config");
    path
}

/// `agentphone answer --account bob --play tone:440` listening on `port`,
/// registered at `kamailio` (config from [`two_account_config`]), with its
/// password in `password_env`; `limit` bounds the process.
pub fn registered_answer(
    dir: &WorkDir,
    kamailio: &Kamailio,
    config: &Path,
    password_env: &str,
    port: u16,
    limit: Duration,
) -> Peer {
    let listen = format!("127.0.0.1:{port}");
    let mut bob = super::agentphone::spawn(
        dir,
        "bob",
        &[
            "--config",
            super::agentphone::arg(config),
            "answer",
            "--account",
            "bob",
            "--listen",
            &listen,
            "--play",
            "tone:440",
        ],
        &[(password_env, kamailio.password())],
        limit,
    );
    assert!(
        bob.wait_for_output("registered ", 15 * Duration::from_secs(1)),
        "bob did not register:\n{}\n{}",
        bob.report(),
        kamailio.report()
    );
    bob
}
