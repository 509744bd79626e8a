//! Test support: what our answer negotiates for a peer's offer, for the unit
//! tests of the network half's parts (receive, send, RTP timeout).

use agentphone_media::offer_answer::{LocalMedia, NegotiatedMedia, SdpSession};
use std::net::{IpAddr, Ipv4Addr};

/// Answers an offer from 192.0.2.1:4000 whose audio line offers `formats`
/// (payload types, e.g. "0 8"), followed by `attributes` (whole `a=` lines
/// with their CRLF, or nothing).
pub(super) fn negotiated(formats: &str, attributes: &str) -> NegotiatedMedia {
    let offer = format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP {formats}\r\n{attributes}"
    );
    let local = LocalMedia::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5000);
    SdpSession::new(local)
        .answer(&offer)
        .expect("the offer is answered")
        .media
}
