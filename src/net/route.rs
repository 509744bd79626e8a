//! Which local address reaches a peer, so a phone started without `--listen`
//! binds where the kernel would send from (the interface toward a PBX on the
//! LAN, `::1` for an IPv6 loopback peer) instead of an address that cannot
//! reach it. Asked by connecting a UDP socket: nothing is sent.

use anyhow::{anyhow, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// The address to bind: `listen` when given, else the local address that
/// reaches `first_hop`, any free port.
pub fn listen_toward(listen: Option<SocketAddr>, first_hop: SocketAddr) -> Result<SocketAddr> {
    match listen {
        Some(l) => Ok(l),
        None => Ok(SocketAddr::new(local_ip_toward(first_hop)?, 0)),
    }
}

/// The local address the kernel picks to send to `peer`.
pub fn local_ip_toward(peer: SocketAddr) -> Result<IpAddr> {
    let any: IpAddr = match peer {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let probe =
        UdpSocket::bind((any, 0)).map_err(|e| anyhow!("no {} socket: {e}", family(peer)))?;
    probe
        .connect(peer)
        .map_err(|e| anyhow!("no route to {peer}: {e}"))?;
    let ip = probe.local_addr()?.ip();
    if ip.is_unspecified() {
        return Err(anyhow!("no local address reaches {peer}"));
    }
    Ok(ip)
}

fn family(peer: SocketAddr) -> &'static str {
    if peer.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_peers_are_reached_from_loopback_of_their_family() {
        let v4 = local_ip_toward("127.0.0.1:9".parse().unwrap()).unwrap();
        assert_eq!(v4, IpAddr::from([127, 0, 0, 1]));
        let v6 = local_ip_toward("[::1]:9".parse().unwrap()).unwrap();
        assert_eq!(v6, IpAddr::V6(Ipv6Addr::LOCALHOST));
    }
}
