//! The transport limits of one SIP endpoint (`[sip]` keys): how much a flood
//! or a crowd of connections may take before new work is refused.

use std::time::Duration;

/// Socket and transaction limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Receive buffer asked for the SIP UDP socket, bytes. Linux's default
    /// (208 KiB) holds about a hundred datagrams: a burst from a scanner
    /// overflows it and the kernel drops whatever comes next, the
    /// registrar's OPTIONS and INVITEs included. Kamailio asks for several MB
    /// for the same reason.
    pub udp_receive_buffer: usize,
    /// Live server transactions at most (see `agentphone_sip::Admission`).
    pub max_server_transactions: usize,
    /// TCP connection limits.
    pub tcp: TcpLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            udp_receive_buffer: 4 << 20,
            max_server_transactions: 5_000,
            tcp: TcpLimits::default(),
        }
    }
}

/// TCP connection limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections accepted from peers at most; beyond, a new one is closed
    /// as soon as it is accepted.
    pub max_inbound: usize,
    /// An accepted connection with no traffic either way for this long is
    /// closed. Connections we opened are kept: a registrar reaches us
    /// through them (RFC 5626 flows).
    pub idle_timeout: Duration,
    /// Messages queued for writing per connection at most; a peer that
    /// does not read fails the sends beyond with a transport error.
    pub queue_messages: usize,
    /// Framed messages waiting for the SIP loop, over all connections;
    /// beyond, readers wait (TCP pushes back on the peers).
    pub inbound_queue: usize,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// A connection we opened whose peer answered keep-alive pings before
    /// and leaves one unanswered this long is taken as dead (RFC 5626
    /// §4.4.1: 10 s), so its registration is sent again at once.
    pub pong_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_inbound: 256,
            idle_timeout: Duration::from_secs(300),
            queue_messages: 256,
            inbound_queue: 1_024,
            connect_timeout: Duration::from_secs(5),
            pong_timeout: Duration::from_secs(10),
        }
    }
}
