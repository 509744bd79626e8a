//! Where a message came from or goes to, as the sans-IO core sees it.
//!
//! The core owns no sockets: it names a UDP socket or a TCP or TLS connection
//! by an id chosen by the I/O layer, so that a response goes back on the
//! connection its request arrived on (RFC 3261 §18.2.2).

use std::fmt;
use std::net::SocketAddr;

/// Identifier of a TCP or TLS connection, assigned by the I/O layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The transport a message travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// The endpoint's UDP socket.
    Udp,
    /// A TCP connection. `None` asks the I/O layer to open (or reuse) a
    /// connection to the destination address.
    Tcp(Option<ConnId>),
    /// A TLS connection (RFC 3261 §26.2, `sips:` or `transport=tls`), with
    /// the same meaning of `None` as for TCP. The I/O layer verifies the
    /// peer's certificate; the core only names the transport in Via and
    /// Contact.
    Tls(Option<ConnId>),
}

impl Transport {
    /// Reliable transports get no retransmissions and zero-length wait timers
    /// (RFC 3261 §17: timers D, I, J and K are 0 over TCP).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp(_) | Transport::Tls(_))
    }

    /// Whether the transport is TLS.
    pub fn is_secure(self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// The same kind of transport on connection `conn` (UDP stays UDP).
    pub fn with_conn(self, conn: Option<ConnId>) -> Self {
        match self {
            Transport::Udp => Transport::Udp,
            Transport::Tcp(_) => Transport::Tcp(conn),
            Transport::Tls(_) => Transport::Tls(conn),
        }
    }

    /// The connection, for TCP and TLS.
    pub fn conn(self) -> Option<ConnId> {
        match self {
            Transport::Udp => None,
            Transport::Tcp(c) | Transport::Tls(c) => c,
        }
    }

    /// The port a URI without one means (RFC 3261 §19.1.2, §26.2.2).
    pub fn default_port(self) -> u16 {
        if self.is_secure() {
            5061
        } else {
            5060
        }
    }

    /// The token used in Via (`SIP/2.0/UDP`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp(_) => "TCP",
            Transport::Tls(_) => "TLS",
        }
    }
}

/// A peer address plus the transport used to reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Transport (and connection) to use.
    pub transport: Transport,
    /// Remote socket address.
    pub addr: SocketAddr,
}

impl Destination {
    /// A UDP destination.
    pub fn udp(addr: SocketAddr) -> Self {
        Destination {
            transport: Transport::Udp,
            addr,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transport {
            Transport::Udp => write!(f, "udp:{}", self.addr),
            Transport::Tcp(Some(c)) => write!(f, "tcp#{}:{}", c.0, self.addr),
            Transport::Tcp(None) => write!(f, "tcp:{}", self.addr),
            Transport::Tls(Some(c)) => write!(f, "tls#{}:{}", c.0, self.addr),
            Transport::Tls(None) => write!(f, "tls:{}", self.addr),
        }
    }
}

/// Bytes to put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send.
    pub dest: Destination,
    /// The serialized message.
    pub payload: Vec<u8>,
}
