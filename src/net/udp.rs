//! The SIP UDP socket, made with the receive buffer a flood needs.

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;

/// Binds a non-blocking UDP socket on `listen` asking for `receive_buffer`
/// bytes of kernel buffer. The kernel caps the request at
/// `net.core.rmem_max`; a smaller buffer than asked is said once at start,
/// with the setting to raise, rather than found later as lost datagrams.
pub fn bind(listen: SocketAddr, receive_buffer: usize) -> Result<tokio::net::UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .context("cannot create a UDP socket")?;
    if let Err(e) = socket.set_recv_buffer_size(receive_buffer) {
        tracing::warn!(error = %e, "cannot set the SIP UDP receive buffer");
    }
    // Linux reports twice what it grants (the other half is its
    // bookkeeping): halve it to compare with what was asked.
    let granted = socket.recv_buffer_size().unwrap_or(0) / 2;
    if granted + 1024 < receive_buffer {
        tracing::warn!(
            asked_kb = receive_buffer / 1024,
            granted_kb = granted / 1024,
            "SIP UDP receive buffer smaller than asked: raise net.core.rmem_max \
             (sysctl) or lower [sip] udp_receive_buffer_kb"
        );
    } else {
        tracing::debug!(granted_kb = granted / 1024, "SIP UDP receive buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&listen.into())?;
    Ok(tokio::net::UdpSocket::from_std(socket.into())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The point of the module: the socket gets a buffer well beyond the
    /// kernel's default (208 KiB) when rmem_max allows it.
    #[tokio::test]
    async fn the_socket_gets_the_buffer_asked_for_within_rmem_max() {
        let asked = 2 << 20;
        let udp = bind("127.0.0.1:0".parse().unwrap(), asked).unwrap();
        let max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let granted = socket2::SockRef::from(&udp).recv_buffer_size().unwrap() / 2;
        assert!(
            granted >= asked.min(max),
            "granted {granted}, rmem_max {max}"
        );
        assert_ne!(udp.local_addr().unwrap().port(), 0);
    }
}
