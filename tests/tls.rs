//! SIP over TLS against real peers, with a throw-away CA and certificates
//! the test makes (rcgen): `agentphone answer --tls-cert` taking a `sips:`
//! call from `agentphone call` with audio both ways; Kamailio with its TLS
//! module as registrar (digest auth) and proxy for a call between two
//! agentphones over TLS; certificates for the wrong host name or from an
//! unknown CA refused with the reason, and let through by `tls_insecure`.
//!
//! Needs `kamailio` with `kamailio-tls-modules` (`bash scripts/install-peers.sh`).
//! Run with `cargo test --test tls`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::agentphone::{self, arg, expect_success, only_recording_in};
use common::certs::{Issued, TestCa};
use common::kamailio::{Algorithm, Kamailio, TlsFiles, DOMAIN};
use common::ports::free_port;
use common::process::Peer;
use common::{audio, require_kamailio_tls, WorkDir};

const SECOND: Duration = Duration::from_secs(1);
const ALICE_PW: &str = "AGENTPHONE_TLS_PW_ALICE";
const BOB_PW: &str = "AGENTPHONE_TLS_PW_BOB";

/// SRTP required, its SDES keys only over TLS (`srtp_require_tls`).
const SRTP_OVER_TLS_ONLY: &str = "[media]\nsrtp = \"mandatory\"\nsrtp_require_tls = true\n";

/// The level (dB re full scale) of `hz` in the recording at `path`.
fn level(path: &Path, hz: f64) -> f64 {
    let samples = audio::read(path);
    audio::tone_level_db(&samples, 48_000, hz)
}

/// The `(tls)` address an `answer` printed in its `listening on` line.
fn tls_address(peer: &Peer) -> String {
    let out = peer.stdout();
    out.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(" and ")?;
            rest.strip_suffix(" (tls)").map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no TLS address in:\n{}", peer.report()))
}

#[test]
fn answer_with_a_certificate_takes_a_sips_call_with_audio_both_ways() {
    let dir = WorkDir::new("tls_sips_direct");
    let ca = TestCa::new(&dir, "direct");
    let cert = ca.issue(&dir, "bob", &["127.0.0.1"]);
    let config = dir.file("alice.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\ntls_ca_file = \"{}\"\n{SRTP_OVER_TLS_ONLY}",
            ca.pem.display()
        ),
    )
    .unwrap();
    // The callee too takes SDES keys only from a call that came over TLS.
    let bob_config = dir.file("bob.toml");
    std::fs::write(&bob_config, SRTP_OVER_TLS_ONLY).unwrap();
    let recordings = dir.file("bob-heard");
    let listen = format!("127.0.0.1:{}", free_port());
    let bob = agentphone::answer_one(
        &dir,
        "bob",
        &listen,
        &[
            "--config",
            arg(&bob_config),
            "--tls-cert",
            arg(&cert.cert),
            "--tls-key",
            arg(&cert.key),
            "--play",
            "tone:440",
            "--record-dir",
            arg(&recordings),
        ],
        40 * SECOND,
    );
    let tls = tls_address(&bob);
    let heard = dir.file("alice-heard.wav");
    let mut alice = agentphone::spawn(
        &dir,
        "alice",
        &[
            "-v",
            "--config",
            arg(&config),
            "call",
            &format!("sips:bob@{tls}"),
            "--play",
            "tone:1000",
            "--record",
            arg(&heard),
            "--duration",
            "2",
        ],
        &[],
        30 * SECOND,
    );
    expect_success(&mut alice, 25 * SECOND, &[&bob]);
    let mut bob = bob;
    expect_success(&mut bob, 10 * SECOND, &[&alice]);
    let invite = alice.sent_requests("INVITE");
    assert!(
        invite
            .first()
            .is_some_and(|i| i.starts_with("INVITE sips:bob@")
                && i.contains("Via: SIP/2.0/TLS ")
                && i.contains("Contact: <sips:")),
        "the INVITE goes over TLS with a sips Contact:\n{invite:?}"
    );
    assert!(alice.output().contains("sent to tls"), "{}", alice.report());
    for peer in [&alice, &bob] {
        let out = peer.output();
        let keyed = out
            .lines()
            .any(|l| l.contains("media stopped") && l.contains("AES_CM_128_HMAC_SHA1_80"));
        assert!(
            keyed && !out.contains("plain signalling"),
            "SRTP keyed over TLS, no plain-signalling warning or refusal:\n{}",
            peer.report()
        );
    }
    let bob_heard = only_recording_in(&recordings);
    let (tone_at_bob, tone_at_alice) = (level(&bob_heard, 1000.0), level(&heard, 440.0));
    assert!(
        tone_at_bob > -30.0 && tone_at_alice > -30.0,
        "tones heard: bob {tone_at_bob:.1} dB of alice's 1000 Hz, alice {tone_at_alice:.1} dB of bob's 440 Hz"
    );
}

/// A Kamailio with TLS whose certificate names only `localhost`, and the
/// CA that issued it.
struct TlsRegistrar {
    kamailio: Kamailio,
    ca: TestCa,
    // Last: dropped after the peers.
    dir: WorkDir,
}

fn tls_registrar(test: &str) -> Option<TlsRegistrar> {
    tls_registrar_with(test, false, false)
}

/// A TLS registrar that asks clients for a certificate (`mutual`) or
/// closes quiet connections after 3 s (`short_lifetime`).
fn tls_registrar_with(test: &str, mutual: bool, short_lifetime: bool) -> Option<TlsRegistrar> {
    let bin = require_kamailio_tls()?;
    let dir = WorkDir::new(test);
    let ca = TestCa::new(&dir, "provider");
    let Issued { cert, key } = ca.issue(&dir, "kamailio", &["localhost"]);
    let kamailio = Kamailio::start_tls(
        &bin,
        &dir,
        Algorithm::Md5,
        &TlsFiles {
            cert: &cert,
            key: &key,
            ca: &ca.pem,
            mutual,
            short_lifetime,
        },
    );
    Some(TlsRegistrar { kamailio, ca, dir })
}

impl TlsRegistrar {
    fn tls_port(&self) -> u16 {
        self.kamailio.tls_port().expect("TLS port")
    }

    /// A config with accounts alice and bob over TLS at `registrar_host`,
    /// with `extra` TOML lines in each.
    fn config(&self, name: &str, registrar_host: &str, extra: &str) -> PathBuf {
        let path = self.dir.file(name);
        let mut text = String::new();
        for (user, env) in [("alice", ALICE_PW), ("bob", BOB_PW)] {
            text.push_str(&format!(
                "[accounts.{user}]\nuser = \"{user}\"\nregistrar = \"{registrar_host}:{}\"\n\
                 domain = \"{DOMAIN}\"\npassword_env = \"{env}\"\ntransport = \"tls\"\n\
                 expires = 600\n{extra}\n\n",
                self.tls_port()
            ));
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `agentphone register --account alice --duration 1` with `config`,
    /// run to its end.
    fn register(&self, name: &str, config: &Path) -> Peer {
        let mut reg = self.start_register(name, config, "alice", "1");
        reg.wait(25 * SECOND);
        reg
    }

    /// `agentphone register --account USER --duration SECS` with `config`.
    fn start_register(&self, name: &str, config: &Path, user: &str, secs: &str) -> Peer {
        let env = if user == "alice" { ALICE_PW } else { BOB_PW };
        agentphone::spawn(
            &self.dir,
            name,
            &[
                "--config",
                arg(config),
                "register",
                "--account",
                user,
                "--duration",
                secs,
            ],
            &[(env, self.kamailio.password())],
            30 * SECOND,
        )
    }
}

#[test]
fn kamailio_tls_registers_with_digest_and_refuses_bad_certificates_unless_insecure() {
    let Some(r) = tls_registrar("tls_kamailio_register") else {
        return;
    };
    let ca = format!("tls_ca_file = \"{}\"", r.ca.pem.display());
    // The right name and CA: registered (after a digest challenge) and
    // unregistered, over TLS.
    let good = r.config("good.toml", "localhost", &ca);
    let mut ok = r.register("register_ok", &good);
    let context = format!("{}\n{}", ok.report(), r.kamailio.report());
    assert!(
        ok.wait(SECOND).is_some_and(|s| s.success()),
        "register over TLS should exit 0\n{context}"
    );
    let out = ok.output();
    assert!(
        out.contains(&format!("registered alice@{DOMAIN} -> <sip:alice@"))
            && out.contains(";transport=tls>")
            && out.contains("unregistered"),
        "{context}"
    );
    assert!(r.kamailio.challenges("REGISTER") >= 1, "{context}");

    // The certificate names `localhost`, not the address it is reached by.
    let wrong_name = r.config("wrong-name.toml", "127.0.0.1", &ca);
    let mut refused = r.register("register_wrong_name", &wrong_name);
    let err = refused.stderr();
    assert!(
        refused.wait(SECOND).is_some_and(|s| !s.success())
            && err.contains("registration failed")
            && err.contains("TLS to 127.0.0.1")
            && err.contains("not valid for the host name '127.0.0.1'"),
        "a certificate for another name is refused, naming host and reason\n{}",
        refused.report()
    );

    // A CA the phone does not trust: neither the system's roots nor another
    // private CA know it.
    let stranger = TestCa::new(&r.dir, "stranger");
    for (name, extra) in [
        ("unknown-ca-system.toml", String::new()),
        (
            "unknown-ca-other.toml",
            format!("tls_ca_file = \"{}\"", stranger.pem.display()),
        ),
    ] {
        let config = r.config(name, "localhost", &extra);
        let mut refused = r.register(name, &config);
        let err = refused.stderr();
        assert!(
            refused.wait(SECOND).is_some_and(|s| !s.success())
                && err.contains("TLS to localhost")
                && err.contains("unknown certificate authority"),
            "{name}: an unknown CA is refused with the reason\n{}",
            refused.report()
        );
    }

    // tls_insecure takes both: the wrong name, from a CA it does not know.
    let insecure = r.config("insecure.toml", "127.0.0.1", "tls_insecure = true");
    let mut taken = r.register("register_insecure", &insecure);
    assert!(
        taken.wait(SECOND).is_some_and(|s| s.success())
            && taken.stdout().contains("registered alice@")
            && taken.stderr().contains("NOT verified"),
        "tls_insecure registers (with a warning)\n{}\n{}",
        taken.report(),
        r.kamailio.report()
    );
}

#[test]
fn two_agentphones_call_through_kamailio_over_tls_with_audio() {
    let Some(r) = tls_registrar("tls_kamailio_call") else {
        return;
    };
    let ca = format!("tls_ca_file = \"{}\"", r.ca.pem.display());
    let config = r.config("accounts.toml", "localhost", &ca);
    let password = r.kamailio.password();
    let recordings = r.dir.file("bob-heard");
    // Bob has no certificate: calls reach him on the connection he
    // registered over (Via alias, RFC 5923).
    let mut bob = agentphone::spawn(
        &r.dir,
        "bob",
        &[
            "-v",
            "--config",
            arg(&config),
            "answer",
            "--account",
            "bob",
            "--max-calls",
            "1",
            "--play",
            "tone:440",
            "--record-dir",
            arg(&recordings),
        ],
        &[(BOB_PW, password)],
        60 * SECOND,
    );
    assert!(
        bob.wait_for_output("registered ", 15 * SECOND),
        "bob did not register over TLS\n{}\n{}",
        bob.report(),
        r.kamailio.report()
    );
    let heard = r.dir.file("alice-heard.wav");
    let target = format!("sip:bob@{DOMAIN}");
    let mut alice = agentphone::spawn(
        &r.dir,
        "alice",
        &[
            "-v",
            "--config",
            arg(&config),
            "call",
            &target,
            "--account",
            "alice",
            "--play",
            "tone:1000",
            "--record",
            arg(&heard),
            "--duration",
            "2",
        ],
        &[(ALICE_PW, password)],
        40 * SECOND,
    );
    expect_success(&mut alice, 30 * SECOND, &[&bob]);
    expect_success(&mut bob, 15 * SECOND, &[&alice]);
    let context = format!("{}\n{}", alice.report(), r.kamailio.report());
    let invites = alice.sent_requests("INVITE");
    assert!(
        invites.len() >= 2 && invites.iter().all(|i| i.contains("Via: SIP/2.0/TLS ")),
        "alice's INVITEs (the second after 407) go over TLS\n{context}"
    );
    assert!(r.kamailio.challenges("INVITE") >= 1, "{context}");
    assert!(
        bob.output().contains("received from tls#"),
        "bob got the call over TLS\n{}",
        bob.report()
    );
    let bob_heard = only_recording_in(&recordings);
    let (at_bob, at_alice) = (level(&bob_heard, 1000.0), level(&heard, 440.0));
    assert!(
        at_bob > -30.0 && at_alice > -30.0,
        "tones heard through the TLS call: bob {at_bob:.1} dB, alice {at_alice:.1} dB\n{context}"
    );
}

#[test]
fn a_flow_the_proxy_closes_registers_again_and_keepalives_keep_it_open() {
    let Some(r) = tls_registrar_with("tls_kamailio_flow", false, true) else {
        return;
    };
    let ca = format!("tls_ca_file = \"{}\"", r.ca.pem.display());
    // Kamailio drops connections quiet for 3 s (its timer notices within
    // about 10 s more: 16 s leaves room). Alice sends nothing after
    // registering; bob pings every second.
    let quiet = r.config("quiet.toml", "localhost", &ca);
    let pinged = r.config(
        "pinged.toml",
        "localhost",
        &format!("{ca}\nkeepalive_s = 1"),
    );
    let mut alice = r.start_register("alice_quiet", &quiet, "alice", "16");
    let mut bob = r.start_register("bob_pinged", &pinged, "bob", "16");
    for peer in [&mut alice, &mut bob] {
        let status = peer.wait(20 * SECOND);
        assert!(
            status.is_some_and(|s| s.success()) && peer.stdout().contains("unregistered"),
            "{}\n{}",
            peer.report(),
            r.kamailio.report()
        );
    }
    let registrations = |p: &Peer| {
        p.stdout()
            .lines()
            .filter(|l| l.starts_with("registered "))
            .count()
    };
    let context = format!(
        "{}\n{}\n{}",
        alice.report(),
        bob.report(),
        r.kamailio.report()
    );
    assert!(
        alice
            .stderr()
            .contains("TLS connection closed by localhost")
            && registrations(&alice) >= 2,
        "alice's flow was closed and she registered again at once\n{context}"
    );
    assert!(
        !bob.stderr().contains("connection closed by") && registrations(&bob) == 1,
        "bob's keep-alives kept his flow open: one registration\n{context}"
    );
}

#[test]
fn a_registrar_that_asks_for_a_client_certificate_takes_ours() {
    let Some(r) = tls_registrar_with("tls_kamailio_mutual", true, false) else {
        return;
    };
    let ca = format!("tls_ca_file = \"{}\"", r.ca.pem.display());
    let without = r.config("without.toml", "localhost", &ca);
    let mut refused = r.register("register_without_cert", &without);
    assert!(
        refused.wait(SECOND).is_some_and(|s| !s.success())
            && refused.stderr().contains("TLS to localhost")
            && refused.stderr().contains("asks for a client certificate"),
        "no client certificate: the handshake fails, naming the host\n{}\n{}",
        refused.report(),
        r.kamailio.report()
    );
    let mine =
        r.ca.issue(&r.dir, "alice-client", &["alice.agentphone.test"]);
    let with = r.config(
        "with.toml",
        "localhost",
        &format!(
            "{ca}\ntls_client_cert = \"{}\"\ntls_client_key = \"{}\"",
            mine.cert.display(),
            mine.key.display()
        ),
    );
    let mut ok = r.register("register_with_cert", &with);
    assert!(
        ok.wait(SECOND).is_some_and(|s| s.success()) && ok.stdout().contains("registered alice@"),
        "with the client certificate: registered\n{}\n{}",
        ok.report(),
        r.kamailio.report()
    );
}
