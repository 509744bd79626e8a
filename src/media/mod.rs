//! Per-call media legs: the RTP socket each call owns and the SDP that
//! describes it.

use anyhow::{Context, Result};
use std::net::{IpAddr, SocketAddr};
use tokio::net::UdpSocket;

/// One call's media: an RTP socket (and the RTCP socket on port + 1).
pub struct MediaLeg {
    /// RTP socket.
    pub rtp: UdpSocket,
    /// RTCP socket, held so the port pair stays ours.
    _rtcp: UdpSocket,
    /// Session id for o= (stays the same for the call).
    session_id: u64,
}

impl MediaLeg {
    /// Binds an even RTP port and the next odd port for RTCP (RFC 3550 §11).
    pub async fn bind(ip: IpAddr) -> Result<Self> {
        for _ in 0..50 {
            let rtp = UdpSocket::bind(SocketAddr::new(ip, 0)).await.context("bind RTP socket")?;
            let port = rtp.local_addr()?.port();
            let (rtp, port) = if port % 2 == 0 {
                (rtp, port)
            } else {
                match UdpSocket::bind(SocketAddr::new(ip, port + 1)).await {
                    Ok(s) => (s, port + 1),
                    Err(_) => continue,
                }
            };
            if let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port + 1)).await {
                return Ok(MediaLeg {
                    rtp,
                    _rtcp: rtcp,
                    session_id: rand::random::<u32>() as u64,
                });
            }
        }
        anyhow::bail!("no free RTP/RTCP port pair on {ip}")
    }

    /// Local RTP address.
    pub fn rtp_addr(&self) -> SocketAddr {
        self.rtp.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// A PCMU offer (or answer) for this leg.
    pub fn sdp(&self) -> Vec<u8> {
        let addr = self.rtp_addr();
        let (ip, family) = match addr.ip() {
            IpAddr::V4(v4) => (v4.to_string(), "IP4"),
            IpAddr::V6(v6) => (v6.to_string(), "IP6"),
        };
        format!(
            "v=0\r\no=agentphone {id} 1 IN {family} {ip}\r\ns=agentphone\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
            id = self.session_id,
            port = addr.port()
        )
        .into_bytes()
    }
}
