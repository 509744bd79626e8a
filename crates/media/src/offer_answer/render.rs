//! Writing our SDP. Built as text so line order is exactly RFC 4566 §5's.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::crypto::render_crypto;
use super::{Direction, LocalMedia, Origin, PayloadFormat};
use crate::srtp::{SrtpKey, SrtpPolicy};

/// One m-line of an SDP we write.
#[derive(Debug, Clone)]
pub(crate) enum MLine {
    /// Our audio stream.
    Audio {
        /// RTP port.
        port: u16,
        /// Formats in preference order.
        formats: Vec<PayloadFormat>,
        /// Packet time we want to receive.
        ptime_ms: u32,
        /// Our direction.
        direction: Direction,
        /// `RTP/AVP`, or `RTP/SAVP` when SRTP is required (or answered so).
        proto: String,
        /// Our `a=crypto` lines: tag and key.
        crypto: Vec<(u32, SrtpKey)>,
    },
    /// A stream we refuse: echoed with port 0 (RFC 3264 §6).
    Rejected {
        /// Media type as the offerer wrote it.
        media: String,
        /// Protocol as the offerer wrote it.
        proto: String,
        /// Formats as the offerer wrote them.
        formats: Vec<String>,
    },
}

fn addr_type(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    }
}

/// Everything after the `o=` line. Compared across re-offers to decide whether the
/// session version must change (RFC 3264 §8).
pub(crate) fn render_body(addr: IpAddr, mlines: &[MLine]) -> String {
    let mut s = String::with_capacity(256);
    // Writing to a String cannot fail, hence the ignored fmt::Results.
    let _ = write!(
        s,
        "s=agentphone\r\nc=IN {} {addr}\r\nt=0 0\r\n",
        addr_type(addr)
    );
    for m in mlines {
        match m {
            MLine::Audio {
                port,
                formats,
                ptime_ms,
                direction,
                proto,
                crypto,
            } => {
                render_audio(&mut s, (*port, proto), formats, *ptime_ms, *direction);
                for (tag, key) in crypto {
                    render_crypto(&mut s, *tag, key);
                }
            }
            MLine::Rejected {
                media,
                proto,
                formats,
            } => {
                let fmts = if formats.is_empty() {
                    "0".to_owned()
                } else {
                    formats.join(" ")
                };
                let _ = write!(s, "m={media} 0 {proto} {fmts}\r\n");
            }
        }
    }
    s
}

fn render_audio(
    s: &mut String,
    (port, proto): (u16, &str),
    formats: &[PayloadFormat],
    ptime_ms: u32,
    direction: Direction,
) {
    let _ = write!(s, "m=audio {port} {proto}");
    for f in formats {
        let _ = write!(s, " {}", f.payload_type);
    }
    s.push_str("\r\n");
    for f in formats {
        let _ = write!(s, "a=rtpmap:{} {}\r\n", f.payload_type, f.rtpmap());
        if let Some(fmtp) = &f.fmtp {
            let _ = write!(s, "a=fmtp:{} {fmtp}\r\n", f.payload_type);
        }
    }
    let _ = write!(s, "a=ptime:{ptime_ms}\r\n");
    let _ = write!(s, "a={}\r\n", direction.as_attribute());
}

/// Joins the `v=`/`o=` lines and a body into a complete SDP.
pub(crate) fn render_full(origin: &Origin, body: &str) -> String {
    format!(
        "v=0\r\no={} {} {} IN {} {}\r\n{body}",
        origin.username,
        origin.session_id,
        origin.version,
        addr_type(origin.addr),
        origin.addr
    )
}

/// The m-line for our own offer: RTP/SAVP when SRTP is mandatory, else
/// RTP/AVP, carrying our keys (best effort SRTP, RFC 4568 §7.1.1) unless off.
pub(crate) fn offer_mline(local: &LocalMedia) -> MLine {
    let proto = match local.srtp {
        SrtpPolicy::Mandatory => "RTP/SAVP",
        _ => "RTP/AVP",
    };
    MLine::Audio {
        port: local.rtp_port,
        formats: local.codecs.clone(),
        ptime_ms: local.ptime_ms,
        direction: local.direction,
        proto: proto.to_owned(),
        crypto: (1..).zip(local.crypto.iter().cloned()).collect(),
    }
}

/// Our SDP offer for `local`, with the given `o=` values.
pub fn create_offer(local: &LocalMedia, origin: &Origin) -> String {
    render_full(origin, &render_body(local.addr, &[offer_mline(local)]))
}
