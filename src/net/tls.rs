//! TLS for SIP (RFC 3261 §26, RFC 5922) with rustls: the client
//! configuration (system roots or a private CA, the host name checked,
//! verification off only when asked, an optional client certificate for
//! mutual TLS), the server configuration of `answer --tls-cert`, and the
//! words a refused certificate is reported with.

use anyhow::{anyhow, bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

/// How we check servers and present ourselves as a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsClientSettings {
    /// A PEM file of CA certificates trusted instead of the system's roots
    /// (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. Only by an explicit `tls_insecure = true`.
    pub insecure: bool,
    /// Our certificate chain and key (PEM) for servers that ask for one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// The certificate and key `answer --tls-cert/--tls-key` serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsServerSettings {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Both ends of TLS for one endpoint: how it connects out, and how it
/// accepts when it has a certificate.
pub struct TlsEnds {
    connector: TlsConnector,
    acceptor: Option<TlsAcceptor>,
    /// The name each peer address was reached by (the registrar's or the
    /// target's host): the certificate must be valid for it. A peer known
    /// only by its address is checked against that address. Grows when a
    /// registrar is looked up again and has moved.
    names: std::sync::RwLock<HashMap<IpAddr, String>>,
}

impl TlsEnds {
    /// Builds the client side from `client`, the server side from `server`
    /// when given; `names` maps resolved addresses back to the host names
    /// they came from.
    pub fn new(
        client: &TlsClientSettings,
        server: Option<&TlsServerSettings>,
        names: HashMap<IpAddr, String>,
    ) -> Result<Self> {
        let connector = TlsConnector::from(Arc::new(client_config(client)?));
        let acceptor = server
            .map(|s| server_config(s).map(|c| TlsAcceptor::from(Arc::new(c))))
            .transpose()?;
        Ok(TlsEnds {
            connector,
            acceptor,
            names: std::sync::RwLock::new(names),
        })
    }

    /// Whether this endpoint accepts TLS connections.
    pub fn serves(&self) -> bool {
        self.acceptor.is_some()
    }

    /// The host name the certificate of `addr` must carry.
    pub fn name_for(&self, addr: SocketAddr) -> String {
        // A panic elsewhere while holding the lock leaves a map that is
        // still whole (inserts are single calls), so a poisoned one is used.
        self.names
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&addr.ip())
            .cloned()
            .unwrap_or_else(|| addr.ip().to_string())
    }

    /// From now on a server at `ip` must carry a certificate for `name`.
    pub fn learn(&self, ip: IpAddr, name: &str) {
        self.names
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(ip, name.to_string());
    }

    /// The TLS handshake as a client on `tcp`; the error names the host and
    /// says why its certificate was refused.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        tcp: TcpStream,
    ) -> Result<client::TlsStream<TcpStream>, String> {
        let host = self.name_for(addr);
        let name = ServerName::try_from(host.clone())
            .map_err(|e| format!("TLS to {addr}: '{host}' is not a host name: {e}"))?;
        self.connector
            .connect(name, tcp)
            .await
            .map_err(|e| handshake_error(&host, addr, &e))
    }

    /// The TLS handshake as a server on an accepted `tcp`.
    pub async fn accept(&self, tcp: TcpStream) -> Result<server::TlsStream<TcpStream>, String> {
        let acceptor = self
            .acceptor
            .as_ref()
            .ok_or_else(|| "no server certificate".to_string())?;
        acceptor.accept(tcp).await.map_err(|e| e.to_string())
    }
}

/// rustls on ring: aws-lc-rs would add minutes of C build for the
/// post-quantum key exchange only it offers, which SIP servers (Kamailio,
/// Asterisk, FreeSWITCH on OpenSSL 3.0) do not negotiate today.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client configuration: the roots (a private CA file, else the
/// system's), or no verification at all when `insecure`.
pub fn client_config(s: &TlsClientSettings) -> Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = if s.insecure {
        tracing::warn!(
            "TLS server certificates are NOT verified (tls_insecure = true): \
             anyone on the path can read and change the signalling"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider())))
    } else {
        builder.with_root_certificates(roots(s.ca_file.as_deref())?)
    };
    match &s.client_cert {
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
            .with_context(|| format!("client certificate {}", cert.display())),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The server configuration of `answer --tls-cert/--tls-key`.
pub fn server_config(s: &TlsServerSettings) -> Result<ServerConfig> {
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(load_certs(&s.cert)?, load_key(&s.key)?)
        .with_context(|| {
            format!(
                "{} and {} are not a certificate and its key",
                s.cert.display(),
                s.key.display()
            )
        })
}

/// Trusted roots: every certificate of `ca_file`, else the system's store
/// (Debian's ca-certificates).
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match ca_file {
        Some(file) => {
            for cert in load_certs(file)? {
                store
                    .add(cert)
                    .with_context(|| format!("{}: not a usable CA certificate", file.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!(error = %e, "system CA store");
            }
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                bail!(
                    "no system CA certificates found (install ca-certificates, or set tls_ca_file)"
                );
            }
        }
    }
    Ok(store)
}

fn load_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| anyhow!("cannot read certificates from {}: {e}", file.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{}: bad PEM certificate: {e}", file.display()))?;
    if certs.is_empty() {
        bail!("{}: no PEM certificate in it", file.display());
    }
    Ok(certs)
}

fn load_key(file: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(file)
        .map_err(|e| anyhow!("cannot read a private key from {}: {e}", file.display()))
}

/// A refused handshake in words a user acts on: which host, and why its
/// certificate was not accepted.
fn handshake_error(host: &str, addr: SocketAddr, e: &std::io::Error) -> String {
    let reason = match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(c)) => certificate_reason(host, c),
        Some(other) => other.to_string(),
        None => e.to_string(),
    };
    format!("TLS to {host} ({addr}) failed: {reason}")
}

/// A read error on an established connection in words a user acts on: in
/// TLS 1.3 a server refuses a missing or unknown client certificate only
/// after the client's handshake is done, by an alert on the first read.
pub fn explain_read_error(e: &std::io::Error) -> String {
    use rustls::AlertDescription as A;
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::AlertReceived(A::CertificateRequired)) => {
            "the server asks for a client certificate (set tls_client_cert and tls_client_key)"
                .into()
        }
        Some(rustls::Error::AlertReceived(
            alert @ (A::UnknownCA | A::BadCertificate | A::CertificateUnknown),
        )) => format!("the server refused our client certificate ({alert:?})"),
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

fn certificate_reason(host: &str, c: &CertificateError) -> String {
    match c {
        CertificateError::UnknownIssuer => "its certificate is issued by an unknown certificate \
             authority (not in the system's roots or tls_ca_file)"
            .into(),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("its certificate is not valid for the host name '{host}' ({c})")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("its certificate has expired ({c})")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("its certificate is not valid yet ({c})")
        }
        CertificateError::BadSignature => "its certificate's signature does not verify: \
             issued by an unknown certificate authority that has the name of a trusted one"
            .into(),
        other => format!("its certificate was refused: {other}"),
    }
}

/// `tls_insecure = true`: every certificate is taken; signatures are still
/// checked so the handshake itself is sound.
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
