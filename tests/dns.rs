//! RFC 3263 against a real name server: `dnsmasq` on loopback serves NAPTR,
//! SRV and A records for the test domain, pointing at two Kamailio
//! instances. Registration goes to the SRV record of the best priority;
//! with that Kamailio stopped, registration and a call fail over to the
//! second; a registrar with an explicit port skips SRV (and so does not fail
//! over); `transport = "tls"` finds the TLS listener through `_sips._tcp`
//! and checks its certificate against the domain (RFC 5922).
//!
//! Needs `dnsmasq` (Debian `dnsmasq-base`) and `kamailio` with its TLS
//! module (`bash scripts/install-peers.sh`). Run with `cargo test --test dns`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::agentphone::{self, arg, expect_success};
use common::certs::{Issued, TestCa};
use common::kamailio::{Algorithm, Kamailio, TlsFiles, DOMAIN};
use common::ports::{free_port, wait_bound, Proto};
use common::process::{Peer, Spawn};
use common::{require_kamailio_tls, require_peer, WorkDir};

const SECOND: Duration = Duration::from_secs(1);
const PW: &str = "AGENTPHONE_DNS_PW";

/// dnsmasq answering only from its command line: no upstream, no
/// /etc/hosts, no config file, every query logged to its stderr.
fn start_dnsmasq(bin: &Path, dir: &WorkDir, records: &[String]) -> (Peer, u16) {
    start_dnsmasq_on(bin, dir, free_port(), 30, records)
}

/// dnsmasq on `port` with its records' TTL `ttl` seconds.
fn start_dnsmasq_on(
    bin: &Path,
    dir: &WorkDir,
    port: u16,
    ttl: u32,
    records: &[String],
) -> (Peer, u16) {
    let mut args: Vec<String> = [
        "--keep-in-foreground",
        "--log-facility=-",
        "--log-queries",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        &format!("--local-ttl={ttl}"),
        &format!("--local=/{DOMAIN}/"),
        &format!("--port={port}"),
        &format!("--pid-file={}", dir.file("dnsmasq.pid").display()),
    ]
    .map(String::from)
    .to_vec();
    args.extend(records.iter().cloned());
    let peer = Peer::spawn(
        dir,
        Spawn {
            name: "dnsmasq",
            program: bin,
            args,
            env: Vec::new(),
            limit: Duration::from_secs(120),
        },
    );
    assert!(
        wait_bound(Proto::Udp, port, 5 * SECOND),
        "dnsmasq did not listen on 127.0.0.1:{port}\n{}",
        peer.report()
    );
    (peer, port)
}

/// The config: `[dns]` pointing at dnsmasq, and the accounts of the cases.
fn config(dir: &WorkDir, dns_port: u16, k1_port: u16, ca: &Path) -> PathBuf {
    let path = dir.file("accounts.toml");
    let account = |name: &str, registrar: &str, extra: &str| {
        format!(
            "[accounts.{name}]\nuser = \"{name}\"\nregistrar = \"{registrar}\"\n\
             password_env = \"{PW}\"\nexpires = 600\n{extra}\n\n"
        )
    };
    let text = [
        format!("[dns]\nservers = [\"127.0.0.1:{dns_port}\"]\n\n"),
        // By domain alone: NAPTR picks TCP, SRV the servers.
        account("alice", DOMAIN, ""),
        account("bob", DOMAIN, ""),
        // An explicit port: the A record only, no SRV.
        account(
            "direct",
            &format!("{DOMAIN}:{k1_port}"),
            "transport = \"tcp\"",
        ),
        // TLS by domain: `_sips._tcp`.
        account(
            "carol",
            DOMAIN,
            &format!("transport = \"tls\"\ntls_ca_file = \"{}\"", ca.display()),
        ),
    ]
    .concat();
    std::fs::write(&path, text).expect("write config");
    path
}

fn register(
    dir: &WorkDir,
    k: &Kamailio,
    name: &str,
    config: &Path,
    user: &str,
    extra: &[&str],
) -> Peer {
    let mut args = vec![
        "--config",
        arg(config),
        "register",
        "--account",
        user,
        "--duration",
        "0.5",
    ];
    args.extend_from_slice(extra);
    let mut peer = agentphone::spawn(dir, name, &args, &[(PW, k.password())], 30 * SECOND);
    peer.wait(25 * SECOND);
    peer
}

#[test]
fn srv_priorities_failover_explicit_ports_and_sips_over_a_real_name_server() {
    let Some(dnsmasq) = require_peer("dnsmasq") else {
        return;
    };
    let Some(kamailio) = require_kamailio_tls() else {
        return;
    };
    let dir = WorkDir::new("dns_rfc3263");
    let ca = TestCa::new(&dir, "provider");
    // RFC 5922: a server found through SRV proves the domain, not its own name.
    let Issued { cert, key } = ca.issue(&dir, "k2", &[DOMAIN]);
    // Each Kamailio in its own directory: their configs and pid files.
    let (k1_dir, k2_dir) = (WorkDir::new("dns_k1"), WorkDir::new("dns_k2"));
    let password = format!("dns-pw-{}", std::process::id());
    let mut k1 = Kamailio::start_sharing(&kamailio, &k1_dir, Algorithm::Md5, None, &password);
    let tls = TlsFiles {
        cert: &cert,
        key: &key,
        ca: &ca.pem,
        mutual: false,
        short_lifetime: false,
    };
    let k2 = Kamailio::start_sharing(&kamailio, &k2_dir, Algorithm::Md5, Some(&tls), &password);
    let (p1, p2, t2) = (k1.port(), k2.port(), k2.tls_port().expect("TLS port"));
    let records = [
        // TCP first; TLS offered after it; UDP not at all.
        format!("--naptr-record={DOMAIN},10,10,S,SIP+D2T,,_sip._tcp.{DOMAIN}"),
        format!("--naptr-record={DOMAIN},20,10,S,SIPS+D2T,,_sips._tcp.{DOMAIN}"),
        format!("--srv-host=_sip._tcp.{DOMAIN},k1.{DOMAIN},{p1},10,10"),
        format!("--srv-host=_sip._tcp.{DOMAIN},k2.{DOMAIN},{p2},20,10"),
        format!("--srv-host=_sips._tcp.{DOMAIN},k2.{DOMAIN},{t2},10,10"),
        format!("--host-record={DOMAIN},127.0.0.1"),
        format!("--host-record=k1.{DOMAIN},127.0.0.1"),
        format!("--host-record=k2.{DOMAIN},127.0.0.1"),
    ];
    let (dns, dns_port) = start_dnsmasq(&dnsmasq, &dir, &records);
    let config = config(&dir, dns_port, p1, &ca.pem);
    let context = |peer: &Peer, k1: &Kamailio| {
        format!(
            "{}\n--- dnsmasq\n{}\n--- k1\n{}\n--- k2\n{}",
            peer.report(),
            dns.report(),
            k1.report(),
            k2.report()
        )
    };

    // Both up: the SRV record of priority 10, k1, over the NAPTR's TCP.
    let mut first = register(&dir, &k1, "register_k1", &config, "alice", &[]);
    assert!(
        first.wait(SECOND).is_some_and(|s| s.success())
            && first.stdout().contains("registered alice@")
            && first.stdout().contains(";transport=tcp>"),
        "registered by domain name over TCP\n{}",
        context(&first, &k1)
    );
    assert!(
        k1.challenges("REGISTER") >= 1 && k2.challenges("REGISTER") == 0,
        "the priority-10 server took it\n{}",
        context(&first, &k1)
    );
    let queries = dns.stderr();
    assert!(
        queries.contains(&format!("query[NAPTR] {DOMAIN}"))
            && queries.contains(&format!("query[SRV] _sip._tcp.{DOMAIN}")),
        "NAPTR then SRV were asked\n{queries}"
    );

    k1.kill();
    // k1 refuses connections now: the REGISTER goes on to k2.
    let mut over = register(&dir, &k2, "register_failover", &config, "alice", &[]);
    assert!(
        over.wait(SECOND).is_some_and(|s| s.success())
            && over.stdout().contains("registered alice@")
            && over.stderr().contains("trying the next registrar"),
        "registration fails over to the second server\n{}",
        context(&over, &k1)
    );
    assert!(k2.challenges("REGISTER") >= 1, "{}", context(&over, &k1));

    // An explicit port is used as given: no SRV, so no second server.
    let mut direct = register(&dir, &k2, "register_explicit_port", &config, "direct", &[]);
    assert!(
        direct.wait(SECOND).is_some_and(|s| !s.success())
            && direct.stderr().contains("registration failed")
            && !direct.stderr().contains("trying the next registrar"),
        "an explicit port skips SRV\n{}",
        context(&direct, &k1)
    );

    // TLS by domain name through `_sips._tcp`, the name server given by flag
    // (the config's [dns] is overridden by the same server: the flag parses
    // and is used).
    let flag = format!("127.0.0.1:{dns_port}");
    let mut tls = register(
        &dir,
        &k2,
        "register_tls",
        &config,
        "carol",
        &["--dns-server", &flag],
    );
    assert!(
        tls.wait(SECOND).is_some_and(|s| s.success())
            && tls.stdout().contains("registered carol@")
            && tls.stdout().contains(";transport=tls>"),
        "a TLS-only registration reaches the registrar by domain name\n{}",
        context(&tls, &k1)
    );
    assert!(
        dns.stderr()
            .contains(&format!("query[SRV] _sips._tcp.{DOMAIN}")),
        "{}",
        context(&tls, &k1)
    );

    // A call from alice (first hop k1, stopped) fails over to k2, which
    // reaches bob registered there.
    let mut bob = agentphone::spawn(
        &dir,
        "bob",
        &[
            "--config",
            arg(&config),
            "answer",
            "--account",
            "bob",
            "--max-calls",
            "1",
        ],
        &[(PW, k2.password())],
        40 * SECOND,
    );
    assert!(
        bob.wait_for_output("registered ", 15 * SECOND),
        "bob registers (failing over to k2)\n{}",
        context(&bob, &k1)
    );
    let target = format!("sip:bob@{DOMAIN}");
    let mut alice = agentphone::spawn(
        &dir,
        "alice",
        &[
            "--config",
            arg(&config),
            "call",
            &target,
            "--account",
            "alice",
            "--duration",
            "1",
        ],
        &[(PW, k2.password())],
        30 * SECOND,
    );
    let called = alice.wait(25 * SECOND);
    assert!(
        called.is_some_and(|s| s.success()),
        "the call through k2 succeeds ({called:?})\n{}\n--- bob\n{}",
        context(&alice, &k1),
        bob.report()
    );
    assert!(
        alice.stderr().contains("INVITE:") && alice.stderr().contains("trying the next server"),
        "the INVITE failed over\n{}",
        context(&alice, &k1)
    );
    expect_success(&mut bob, 15 * SECOND, &[&alice]);
}

#[test]
fn a_registration_started_anew_follows_the_registrar_dns_now_names() {
    let Some(dnsmasq) = require_peer("dnsmasq") else {
        return;
    };
    let Some(kamailio) = require_kamailio_tls() else {
        return;
    };
    let dir = WorkDir::new("dns_moved");
    let (k1_dir, k2_dir) = (WorkDir::new("dns_moved_k1"), WorkDir::new("dns_moved_k2"));
    let password = format!("dns-moved-{}", std::process::id());
    let mut k1 = Kamailio::start_sharing(&kamailio, &k1_dir, Algorithm::Md5, None, &password);
    let k2 = Kamailio::start_sharing(&kamailio, &k2_dir, Algorithm::Md5, None, &password);
    // The provider names only k1, then moves to k2 (records live 1 s).
    let records = |host: &str, port: u16| {
        vec![
            format!("--srv-host=_sip._tcp.{DOMAIN},{host}.{DOMAIN},{port},10,10"),
            format!("--host-record={DOMAIN},127.0.0.1"),
            format!("--host-record={host}.{DOMAIN},127.0.0.1"),
        ]
    };
    let dns_port = free_port();
    let (mut dns, _) = start_dnsmasq_on(&dnsmasq, &dir, dns_port, 1, &records("k1", k1.port()));
    let config = dir.file("moved.toml");
    std::fs::write(
        &config,
        format!(
            "[dns]\nservers = [\"127.0.0.1:{dns_port}\"]\n\n[accounts.bob]\nuser = \"bob\"\n\
             registrar = \"{DOMAIN}\"\ntransport = \"tcp\"\npassword_env = \"{PW}\"\nexpires = 600\n"
        ),
    )
    .unwrap();
    let mut bob = agentphone::spawn(
        &dir,
        "bob",
        &["--config", arg(&config), "answer", "--account", "bob"],
        &[(PW, k1.password())],
        90 * SECOND,
    );
    assert!(
        bob.wait_for_output("registered ", 15 * SECOND),
        "bob registers at k1\n{}\n--- k1\n{}",
        bob.report(),
        k1.report()
    );
    assert!(k1.challenges("REGISTER") >= 1 && k2.challenges("REGISTER") == 0);
    // The provider moves: DNS names k2, and k1 goes away (its flow closes).
    dns.stop(2 * SECOND);
    let (dns, _) = start_dnsmasq_on(&dnsmasq, &dir, dns_port, 1, &records("k2", k2.port()));
    k1.kill();
    // The binding fails on k1, and after the backoff (15-30 s) the
    // registration starts anew where DNS points now.
    let moved = bob.wait_for_output("now resolves to", 40 * SECOND);
    let deadline = std::time::Instant::now() + 10 * SECOND;
    while bob.stdout().matches("registered ").count() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(SECOND / 10);
    }
    assert!(
        moved && bob.stdout().matches("registered ").count() >= 2,
        "bob follows the registrar to k2\n{}\n--- dnsmasq\n{}\n--- k2\n{}",
        bob.report(),
        dns.report(),
        k2.report()
    );
    assert!(k2.challenges("REGISTER") >= 1, "{}", k2.report());
    bob.stop(5 * SECOND);
}
