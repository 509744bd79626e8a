//! Where a message came from or goes to, as the sans-IO core sees it.
//!
//! The core owns no sockets: it names a UDP socket or a TCP connection by an id
//! chosen by the I/O layer, so that a response goes back on the connection its
//! request arrived on (RFC 3261 §18.2.2).

use std::fmt;
use std::net::SocketAddr;

/// Identifier of a TCP connection, assigned by the I/O layer.
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
}

impl Transport {
    /// Reliable transports get no retransmissions and zero-length wait timers
    /// (RFC 3261 §17: timers D, I, J and K are 0 over TCP).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp(_))
    }

    /// The token used in Via (`SIP/2.0/UDP`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp(_) => "TCP",
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
