//! `--tls-cert`, `--tls-key` and `--tls-listen`: the commands that accept
//! calls (`answer`, `run`) take the same three flags for a TLS listener.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::net::{tls::TlsServerSettings, NetOptions, SipDriver};

/// A TLS listener for incoming SIP (RFC 3261 §26.2: `sips:` and TLS on 5061).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsServerArgs {
    /// Accept SIP over TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where to accept TLS (default: the --listen port + 1, else any free port).
    #[arg(long, requires = "tls_cert")]
    pub tls_listen: Option<SocketAddr>,
}

impl TlsServerArgs {
    /// Puts the listener into the transport options (nothing without --tls-cert).
    pub fn apply(&self, net: &mut NetOptions) {
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            net.tls.server = Some(TlsServerSettings {
                cert: cert.clone(),
                key: key.clone(),
            });
            net.tls.listen = self.tls_listen;
        }
    }
}

/// The "listening on" line the tests and the user read.
pub fn print_listening(sip: &SipDriver) {
    match sip.tls_listen_addr() {
        Some(tls) => println!(
            "listening on {} (udp, tcp) and {tls} (tls)",
            sip.local_addr()
        ),
        None => println!("listening on {} (udp, tcp)", sip.local_addr()),
    }
}
