//! One direction's SRTP/SRTCP context over `webrtc-srtp`: [`SrtpSender`]
//! protects, [`SrtpReceiver`] authenticates, replay-checks and decrypts.
//!
//! The crate keeps a state per SSRC and creates it for any SSRC a datagram
//! names, before the tag is checked; a stranger spraying SSRCs would grow that
//! table without bound. So a packet from an SSRC that has not yet
//! authenticated is first checked in a throw-away context (a new SSRC starts
//! at rollover count 0, RFC 3711 §3.3.1), and only a packet that passes
//! reaches the lasting one.

use bytes::Bytes;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};

use super::{SrtpError, SrtpKey, SrtpSuite};

/// Replay window in packets (RFC 3711 §3.3.2 asks for at least 64; libsrtp
/// uses 128).
const REPLAY_WINDOW: usize = 128;

/// SSRCs remembered as authenticated; beyond, the oldest is forgotten (and
/// would be probed again).
const KNOWN_SSRCS: usize = 16;

/// A decrypted packet, or why it was refused.
pub type Unprotected = Result<Bytes, SrtpError>;

/// A protected packet, or why it could not be.
pub type Protected = Result<Bytes, SrtpError>;

fn context(key: &SrtpKey, replay: bool) -> Result<Context, SrtpError> {
    let (rtp, rtcp) = if replay {
        (
            Some(srtp_replay_protection(REPLAY_WINDOW)),
            Some(srtcp_replay_protection(REPLAY_WINDOW)),
        )
    } else {
        (None, None)
    };
    Context::new(
        key.master_key(),
        key.master_salt(),
        key.suite().profile(),
        rtp,
        rtcp,
    )
    .map_err(|e| SrtpError::BadKey {
        suite: key.suite(),
        reason: e.to_string(),
    })
}

fn classify(e: webrtc_srtp::Error) -> SrtpError {
    use webrtc_srtp::Error as E;
    match e {
        E::SrtpSsrcDuplicated(ssrc, seq) => SrtpError::Replayed {
            ssrc,
            index: u64::from(seq),
        },
        E::SrtcpSsrcDuplicated(ssrc, index) => SrtpError::Replayed {
            ssrc,
            index: index as u64,
        },
        E::RtpFailedToVerifyAuthTag
        | E::RtcpFailedToVerifyAuthTag
        | E::ErrFailedToVerifyAuthTag
        | E::AesGcm(_) => SrtpError::AuthFailed,
        E::ErrTooShortRtp
        | E::ErrTooShortRtcp
        | E::SrtpTooSmall(..)
        | E::SrtcpTooSmall(..)
        | E::RtcpInvalidLengthAuthTag(..)
        | E::Util(_)
        | E::Rtcp(_) => SrtpError::Malformed(e.to_string()),
        other => SrtpError::Transform(other.to_string()),
    }
}

/// Protects what we send with our key.
pub struct SrtpSender {
    suite: SrtpSuite,
    ctx: Context,
}

impl SrtpSender {
    /// A context for our `key`.
    pub fn new(key: &SrtpKey) -> Result<SrtpSender, SrtpError> {
        Ok(SrtpSender {
            suite: key.suite(),
            ctx: context(key, false)?,
        })
    }

    /// The suite in use.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// An RTP packet (header and payload) as SRTP.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Protected {
        rtp_header_len(packet)?;
        self.ctx.encrypt_rtp(packet).map_err(classify)
    }

    /// A compound RTCP packet as SRTCP (encrypted, E flag set, index, tag).
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Protected {
        if packet.len() < 8 {
            return Err(SrtpError::Malformed(format!(
                "RTCP packet of {} bytes",
                packet.len()
            )));
        }
        self.ctx.encrypt_rtcp(packet).map_err(classify)
    }
}

/// Authenticates and decrypts what the peer sends with its key.
pub struct SrtpReceiver {
    key: SrtpKey,
    ctx: Context,
    /// SSRCs whose SRTP passed authentication in `ctx`.
    known_rtp: Vec<u32>,
    /// The same for SRTCP.
    known_rtcp: Vec<u32>,
}

impl SrtpReceiver {
    /// A context for the peer's `key`.
    pub fn new(key: &SrtpKey) -> Result<SrtpReceiver, SrtpError> {
        Ok(SrtpReceiver {
            key: key.clone(),
            ctx: context(key, true)?,
            known_rtp: Vec::with_capacity(KNOWN_SSRCS),
            known_rtcp: Vec::with_capacity(KNOWN_SSRCS),
        })
    }

    /// The suite in use.
    pub fn suite(&self) -> SrtpSuite {
        self.key.suite()
    }

    /// An SRTP datagram back to the plain RTP packet, or why not.
    pub fn unprotect_rtp(&mut self, datagram: &[u8]) -> Unprotected {
        let header_len = rtp_header_len(datagram)?;
        let mut rest = datagram;
        let header = <rtp::header::Header as webrtc_util::Unmarshal>::unmarshal(&mut rest)
            .map_err(|e| SrtpError::Malformed(e.to_string()))?;
        // The crate slices at its own idea of the header length; a header
        // it would size differently is refused rather than mis-sliced.
        if webrtc_util::MarshalSize::marshal_size(&header) != header_len {
            return Err(SrtpError::Malformed(
                "RTP header extension with an unusual layout".into(),
            ));
        }
        let ssrc = header.ssrc;
        if !self.known_rtp.contains(&ssrc) {
            let mut probe = context(&self.key, false)?;
            probe
                .decrypt_rtp_with_header(datagram, &header)
                .map_err(classify)?;
            remember(&mut self.known_rtp, ssrc);
        }
        self.ctx
            .decrypt_rtp_with_header(datagram, &header)
            .map_err(classify)
    }

    /// An SRTCP datagram back to the plain compound RTCP packet, or why not.
    pub fn unprotect_rtcp(&mut self, datagram: &[u8]) -> Unprotected {
        let suite = self.key.suite();
        let tag_len = suite.rtcp_overhead() - 4;
        if datagram.len() < 8 + suite.rtcp_overhead() || datagram[0] >> 6 != 2 {
            return Err(SrtpError::Malformed(format!(
                "SRTCP datagram of {} bytes",
                datagram.len()
            )));
        }
        // The E flag leads the ESRTCP word: after the tag for AES-CM, at the
        // very end for GCM (RFC 7714 §9).
        let e_word = match suite {
            SrtpSuite::AeadAes128Gcm => datagram.len() - 4,
            _ => datagram.len() - 4 - tag_len,
        };
        if datagram[e_word] & 0x80 == 0 {
            return Err(SrtpError::Unencrypted);
        }
        let ssrc = u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]);
        if !self.known_rtcp.contains(&ssrc) {
            let mut probe = context(&self.key, false)?;
            probe.decrypt_rtcp(datagram).map_err(classify)?;
            remember(&mut self.known_rtcp, ssrc);
        }
        self.ctx.decrypt_rtcp(datagram).map_err(classify)
    }
}

fn remember(known: &mut Vec<u32>, ssrc: u32) {
    if known.len() == KNOWN_SSRCS {
        known.remove(0);
    }
    known.push(ssrc);
}

/// The length of an RTP header as written (CSRCs and extension included),
/// checking that the datagram holds it.
fn rtp_header_len(datagram: &[u8]) -> Result<usize, SrtpError> {
    let short = || SrtpError::Malformed(format!("RTP datagram of {} bytes", datagram.len()));
    if datagram.len() < 12 {
        return Err(short());
    }
    if datagram[0] >> 6 != 2 {
        return Err(SrtpError::Malformed(format!(
            "RTP version {}",
            datagram[0] >> 6
        )));
    }
    let csrcs = usize::from(datagram[0] & 0x0f);
    let mut len = 12 + 4 * csrcs;
    if datagram[0] & 0x10 != 0 {
        let words = datagram.get(len..len + 4).ok_or_else(short)?;
        let profile = u16::from_be_bytes([words[0], words[1]]);
        let start = len + 4;
        len = start + 4 * usize::from(u16::from_be_bytes([words[2], words[3]]));
        check_extension_elements(profile, datagram.get(start..len).ok_or_else(short)?)?;
    }
    if len > datagram.len() {
        return Err(short());
    }
    Ok(len)
}

/// RFC 8285 one- and two-byte header extension elements must end inside
/// the extension: the `rtp` crate walks them with reads that panic past the
/// end of the datagram (a fuzzer found it), so they are checked here first,
/// the same way it walks them.
fn check_extension_elements(profile: u16, ext: &[u8]) -> Result<(), SrtpError> {
    let overrun = || {
        SrtpError::Malformed(format!(
            "RTP header extension element runs past the extension ({} bytes)",
            ext.len()
        ))
    };
    let mut at = 0;
    match profile {
        rtp::header::EXTENSION_PROFILE_ONE_BYTE => {
            while at < ext.len() {
                let b = ext[at];
                at += 1;
                if b == 0 {
                    continue;
                }
                if b >> 4 == rtp::header::EXTENSION_ID_RESERVED {
                    break;
                }
                at += usize::from(b & 0x0f) + 1;
                if at > ext.len() {
                    return Err(overrun());
                }
            }
        }
        rtp::header::EXTENSION_PROFILE_TWO_BYTE => {
            while at < ext.len() {
                if ext[at] == 0 {
                    at += 1;
                    continue;
                }
                let len = *ext.get(at + 1).ok_or_else(overrun)?;
                at += 2 + usize::from(len);
                if at > ext.len() {
                    return Err(overrun());
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
