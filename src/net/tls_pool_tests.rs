//! TLS stream pools against each other on loopback, with certificates made
//! here (rcgen): a message each way on one connection, CRLF keep-alives
//! answered, and the refusals a user must be able to act on (wrong host
//! name, unknown CA), which `tls_insecure` lets through.

use super::stream::{Security, StreamEvent, StreamPool};
use super::tls::{TlsClientSettings, TlsEnds, TlsServerSettings};
use super::Limits;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MESSAGE: &[u8] = b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
const ANSWER: &[u8] = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";

struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    server: TlsServerSettings,
}

/// A CA and a server certificate for `localhost` and 127.0.0.1 in a fresh
/// directory named after the test.
fn pki(test: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("agentphone-tls-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_cert, ca_key) = ca("agentphone test");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let server = TlsServerSettings {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&server.cert, cert.pem()).unwrap();
    std::fs::write(&server.key, key.serialize_pem()).unwrap();
    Pki { dir, ca, server }
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} CA"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    (params.self_signed(&key).unwrap(), key)
}

async fn server(pki: &Pki) -> StreamPool {
    let ends = TlsEnds::new(
        &TlsClientSettings::default_for_tests(&pki.ca),
        Some(&pki.server),
        HashMap::new(),
    )
    .unwrap();
    StreamPool::bind_secured(
        Some("127.0.0.1:0".parse().unwrap()),
        Limits::default().tcp,
        Security::Tls(Arc::new(ends)),
    )
    .await
    .unwrap()
}

async fn client(settings: TlsClientSettings, name: &str) -> StreamPool {
    let names = HashMap::from([(IpAddr::from([127, 0, 0, 1]), name.to_string())]);
    let ends = TlsEnds::new(&settings, None, names).unwrap();
    StreamPool::bind_secured(None, Limits::default().tcp, Security::Tls(Arc::new(ends)))
        .await
        .unwrap()
}

impl TlsClientSettings {
    fn default_for_tests(ca: &Path) -> Self {
        TlsClientSettings {
            ca_file: Some(ca.to_path_buf()),
            ..Default::default()
        }
    }
}

async fn next(pool: &mut StreamPool) -> StreamEvent {
    tokio::time::timeout(Duration::from_secs(5), pool.next())
        .await
        .expect("an event within 5 s")
}

/// The error the client's first send to `at` comes back with.
async fn refusal(mut client: StreamPool, at: SocketAddr) -> String {
    client.send(None, at, MESSAGE.to_vec()).unwrap();
    match next(&mut client).await {
        StreamEvent::Failed(f) => f.error,
        other => panic!("a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_verified_connection_carries_messages_both_ways_and_is_reused() {
    let pki = pki("both-ways");
    let mut srv = server(&pki).await;
    let at = srv.local_addr().unwrap();
    let mut cli = client(TlsClientSettings::default_for_tests(&pki.ca), "localhost").await;
    cli.send(None, at, MESSAGE.to_vec()).unwrap();
    let StreamEvent::Message(conn, from, msg) = next(&mut srv).await else {
        panic!("the message");
    };
    assert_eq!(msg, MESSAGE);
    // The answer goes back on the connection the request came in on.
    srv.send(Some(conn), from, ANSWER.to_vec()).unwrap();
    let StreamEvent::Message(back, _, msg) = next(&mut cli).await else {
        panic!("the answer");
    };
    assert_eq!(msg, ANSWER);
    // A second request from the client reuses that connection.
    cli.send(None, at, MESSAGE.to_vec()).unwrap();
    let StreamEvent::Message(again, _, _) = next(&mut srv).await else {
        panic!("the second message");
    };
    assert_eq!(again, conn, "one connection for both requests");
    // And the server's own request reaches the client on it as well.
    srv.send(None, from, MESSAGE.to_vec()).unwrap();
    let StreamEvent::Message(same, _, _) = next(&mut cli).await else {
        panic!("the server's request");
    };
    assert_eq!(same, back);
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn a_crlf_ping_is_answered_with_a_crlf_pong() {
    let pki = pki("pong");
    let srv = server(&pki).await;
    let at = srv.local_addr().unwrap();
    // A raw TLS client: the pool never writes a lone ping on its own.
    let config = super::tls::client_config(&TlsClientSettings::default_for_tests(&pki.ca)).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(at).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"\r\n\r\n").await.unwrap();
    tls.flush().await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(3), tls.read_exact(&mut pong))
        .await
        .expect("a pong within 3 s")
        .unwrap();
    assert_eq!(&pong, b"\r\n");
    drop(srv);
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused_naming_the_host() {
    let pki = pki("wrong-name");
    let srv = server(&pki).await;
    let at = srv.local_addr().unwrap();
    let cli = client(
        TlsClientSettings::default_for_tests(&pki.ca),
        "sip.wrong.test",
    )
    .await;
    let error = refusal(cli, at).await;
    assert!(
        error.contains("TLS to sip.wrong.test")
            && error.contains("not valid for the host name 'sip.wrong.test'"),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused_and_insecure_takes_it() {
    let pki = pki("unknown-ca");
    let mut srv = server(&pki).await;
    let at = srv.local_addr().unwrap();
    let (other_ca, _) = ca("stranger");
    let other = pki.dir.join("other-ca.pem");
    std::fs::write(&other, other_ca.pem()).unwrap();
    let cli = client(TlsClientSettings::default_for_tests(&other), "localhost").await;
    let error = refusal(cli, at).await;
    assert!(
        error.contains("TLS to localhost") && error.contains("unknown certificate authority"),
        "{error}"
    );
    // The system's roots do not know the test CA either.
    let cli = client(TlsClientSettings::default(), "localhost").await;
    let error = refusal(cli, at).await;
    assert!(error.contains("unknown certificate authority"), "{error}");
    // tls_insecure: the same certificate, for the wrong name even, is taken.
    let insecure = TlsClientSettings {
        insecure: true,
        ..Default::default()
    };
    let mut cli = client(insecure, "sip.wrong.test").await;
    cli.send(None, at, MESSAGE.to_vec()).unwrap();
    let StreamEvent::Message(_, _, msg) = next(&mut srv).await else {
        panic!("the message over an unverified connection");
    };
    assert_eq!(msg, MESSAGE);
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn a_connection_the_server_closes_is_reported_closed_to_the_client() {
    let pki = pki("closed");
    let mut srv = server(&pki).await;
    let at = srv.local_addr().unwrap();
    let mut cli = client(TlsClientSettings::default_for_tests(&pki.ca), "localhost").await;
    cli.send(None, at, MESSAGE.to_vec()).unwrap();
    let StreamEvent::Message(..) = next(&mut srv).await else {
        panic!("the message");
    };
    srv.close(Duration::from_secs(1)).await;
    match next(&mut cli).await {
        StreamEvent::Closed(_, addr, _) => assert_eq!(addr, at),
        other => panic!("closed, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&pki.dir);
}
