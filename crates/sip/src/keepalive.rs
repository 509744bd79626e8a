//! Keep-alive settings (RFC 5626 §4.4.1, §3.5.1): how often a registered
//! flow is pinged so a NAT or firewall on the path keeps its binding, and
//! what the ping is over UDP.

use std::time::Duration;

/// The RFC 5626 ping on a stream (and, where the registrar takes it, in a
/// UDP datagram): two CRLFs; the answer is one.
pub const PING: &[u8] = b"\r\n\r\n";

/// What a UDP flow is pinged with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpPing {
    /// A `CRLFCRLF` datagram: no answer, refreshes the NAT binding only
    /// (what Linphone and MicroSIP send; Kamailio and Asterisk ignore it).
    Crlf,
    /// An OPTIONS request to the registrar: answered, so the binding is
    /// refreshed both ways (what pjsua's and many PBXs' "qualify" do).
    Options,
}

/// Keep-alives of every registration of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Between two pings of one flow. TCP and TLS flows get `CRLFCRLF`.
    pub interval: Duration,
    /// The ping on UDP flows.
    pub udp: UdpPing,
}
