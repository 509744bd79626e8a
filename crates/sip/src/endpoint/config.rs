//! What an endpoint needs to know about itself and the peers it talks to.

use crate::rsip::{Host, Param, Uri};
use crate::session::SessionTimerConfig;
use crate::transaction::Timers;
use crate::transport::{Destination, Transport};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Digest credentials of an account.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Passwords must not end up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Static configuration of an [`Endpoint`](super::Endpoint).
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Address of the UDP socket (also used in Via and Contact).
    pub udp_addr: SocketAddr,
    /// Address of the TCP listener, when there is one.
    pub tcp_addr: Option<SocketAddr>,
    /// Address of the TLS listener, or (without one) the address our Via and
    /// Contact name for TLS connections we open: with the Via's `alias`
    /// (RFC 5923) the registrar sends calls back on our connection, so a
    /// client needs no certificate of its own. Default: the TCP address.
    pub tls_addr: Option<SocketAddr>,
    /// Keep-alives for registrations (RFC 5626 §4.4.1), off when `None`.
    pub keepalive: Option<crate::keepalive::KeepAlive>,
    /// User part of our Contact URI.
    pub contact_user: String,
    /// Value of User-Agent / Server headers.
    pub user_agent: String,
    /// Transaction timers (T1, T2, T4).
    pub timers: Timers,
    /// Host names the sans-IO core may resolve: the I/O layer resolves them
    /// (DNS is I/O) and hands the results in. `localhost` is always known.
    pub hosts: HashMap<String, IpAddr>,
    /// How long a received re-INVITE waits for the application's
    /// `accept_reinvite`/`reject_reinvite` before the endpoint accepts it with
    /// the call's current local SDP. An application answers at once; this
    /// bound only keeps a silent one from leaving the peer hanging.
    pub reinvite_answer_wait: Duration,
    /// Session timers (RFC 4028): on by default, 1800 s asked, Min-SE 90 s.
    pub session_timer: SessionTimerConfig,
}

impl EndpointConfig {
    /// A configuration bound to `udp_addr` (and TCP on the same address).
    pub fn new(udp_addr: SocketAddr) -> Self {
        EndpointConfig {
            udp_addr,
            tcp_addr: Some(udp_addr),
            tls_addr: None,
            keepalive: None,
            contact_user: "agentphone".into(),
            user_agent: concat!("agentphone/", env!("CARGO_PKG_VERSION")).into(),
            timers: Timers::default(),
            hosts: HashMap::new(),
            reinvite_answer_wait: Duration::from_secs(2),
            session_timer: SessionTimerConfig::default(),
        }
    }

    /// Our Contact header value for requests and responses sent on `transport`.
    pub fn contact(&self, transport: Transport) -> String {
        let addr = self.sent_by(transport);
        match transport {
            Transport::Udp => format!("<sip:{}@{addr}>", self.contact_user),
            Transport::Tcp(_) => format!("<sip:{}@{addr};transport=tcp>", self.contact_user),
            Transport::Tls(_) => format!("<sip:{}@{addr};transport=tls>", self.contact_user),
        }
    }

    /// Our Contact in a dialog or request whose Request-URI is `uri`: a
    /// `sips:` Request-URI asks for a `sips:` Contact (RFC 5630 §4.1), which
    /// needs TLS under it.
    pub fn contact_for(&self, transport: Transport, uri: &Uri) -> String {
        if transport.is_secure() && is_sips(uri) {
            let addr = self.sent_by(transport);
            return format!("<sips:{}@{addr}>", self.contact_user);
        }
        self.contact(transport)
    }

    /// The sent-by of our Via for `transport`.
    pub fn sent_by(&self, transport: Transport) -> SocketAddr {
        let tcp = self.tcp_addr.unwrap_or(self.udp_addr);
        match transport {
            Transport::Udp => self.udp_addr,
            Transport::Tcp(_) => tcp,
            Transport::Tls(_) => self.tls_addr.unwrap_or(tcp),
        }
    }

    /// Resolves a URI to the destination a request for it is sent to
    /// (RFC 3263 reduced to what a sans-IO core can do: literal addresses and
    /// names the I/O layer resolved beforehand; `maddr` is not supported).
    pub fn resolve(&self, uri: &Uri) -> Option<Destination> {
        let ip = match uri.host() {
            Host::IpAddr(ip) => *ip,
            Host::Domain(d) => self.lookup(&d.0)?,
        };
        let transport = uri_transport(uri);
        let port = uri
            .host_with_port
            .port
            .as_ref()
            .map(|p| p.0)
            .unwrap_or(transport.default_port());
        Some(Destination {
            transport,
            addr: SocketAddr::new(ip, port),
        })
    }

    fn lookup(&self, name: &str) -> Option<IpAddr> {
        if let Ok(ip) = name.trim_matches(|c| c == '[' || c == ']').parse() {
            return Some(ip);
        }
        if name.eq_ignore_ascii_case("localhost") {
            return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        self.hosts.get(&name.to_ascii_lowercase()).copied()
    }
}

/// Whether `uri` is a `sips:` URI.
pub fn is_sips(uri: &Uri) -> bool {
    matches!(uri.scheme, Some(crate::rsip::Scheme::Sips))
}

/// The transport a URI asks for: TLS for `sips:` (RFC 3261 §26.2.2) or
/// `transport=tls`, TCP for `transport=tcp`, else UDP.
pub fn uri_transport(uri: &Uri) -> Transport {
    let named = |want: &str| {
        uri.params.iter().any(|p| match p {
            Param::Transport(t) => t.to_string().eq_ignore_ascii_case(want),
            Param::Other(k, Some(v)) => {
                k.value().eq_ignore_ascii_case("transport") && v.value().eq_ignore_ascii_case(want)
            }
            _ => false,
        })
    };
    if is_sips(uri) || named("tls") {
        Transport::Tls(None)
    } else if named("tcp") {
        Transport::Tcp(None)
    } else {
        Transport::Udp
    }
}
