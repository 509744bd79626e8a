//! SDP offer/answer for one audio stream (RFC 3264 over RFC 4566 SDP).
//!
//! - [`create_offer`] writes our offer; [`answer`] answers a peer's offer;
//!   [`process_answer`] reads the peer's answer to our offer. Each yields a
//!   [`NegotiatedMedia`]: where to send RTP/RTCP, with which codec and payload type.
//! - [`SdpSession`] keeps the `o=` line across a dialog and bumps its version only
//!   when the body changes (re-INVITE for hold/resume).
//! - SRTP by SDES (`crypto`): [`LocalMedia::with_srtp`] decides what we offer
//!   and accept; [`NegotiatedMedia::srtp`] carries the agreed suite and keys.
//!
//! Peers' SDP is parsed with the `sdp` crate, with a normalising fallback for the
//! line-order liberties real phones take (see `parse`).

mod answer;
mod crypto;
mod format;
mod parse;
mod render;
mod session;

use std::net::{IpAddr, SocketAddr};

use crate::srtp::{SrtpKey, SrtpKeys, SrtpPolicy, SrtpSuite};

pub use answer::{answer, process_answer};
pub use crypto::{parse_crypto, CryptoAttribute, CryptoSkip};
pub use format::{fmtp_param, Codec, PayloadFormat};
pub use render::create_offer;
pub use session::{Origin, SdpSession};

/// Errors from offer/answer. The SIP layer answers `NoCommonCodec` and
/// `NoAudioStream` with 488 Not Acceptable Here, `Malformed`/`BadAddress` with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferAnswerError {
    /// The SDP text could not be parsed even leniently.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// A `c=` address is not an IP literal (we do not resolve names).
    #[error("connection address {0:?} is not an IP address")]
    BadAddress(String),
    /// An audio stream has no `c=` line at media or session level.
    #[error("audio stream has no connection address")]
    MissingConnection,
    /// No plain RTP audio stream with a usable port was offered/answered.
    #[error("no usable RTP audio stream in SDP")]
    NoAudioStream,
    /// An audio stream exists but shares no codec with us.
    #[error("no codec in common (offered: {offered})")]
    NoCommonCodec {
        /// The format list the peer offered, for the log.
        offered: String,
    },
    /// The answer does not match our offer (m-line count or an unknown payload type).
    #[error("answer does not match offer: {0}")]
    AnswerMismatch(String),
    /// `[media] srtp = "mandatory"` and the other side offered or answered
    /// plain RTP.
    #[error("SRTP is mandatory here ([media] srtp = \"mandatory\"): {0}")]
    SrtpRequired(String),
    /// The offer asks for SRTP (RTP/SAVP) and `[media] srtp = "off"`.
    #[error("the offer asks for SRTP (RTP/SAVP) and SRTP is off here ([media] srtp)")]
    SrtpNotEnabled,
    /// SDES keys would travel over signalling that is not TLS and the
    /// configuration forbids it (`srtp_require_tls`).
    #[error("SRTP keys (SDES) must not travel over plain signalling here (srtp_require_tls = true, and this call's signalling is not TLS)")]
    SrtpNeedsTls,
    /// SRTP offered, but in no crypto suite we speak.
    #[error("no SRTP crypto suite in common (offered: {offered})")]
    NoCommonCryptoSuite {
        /// The suites of the peer's `a=crypto` lines.
        offered: String,
    },
}

impl OfferAnswerError {
    /// True when SRTP (not codecs or syntax) is why the SDP was refused: the
    /// 488 then says so.
    pub fn is_srtp(&self) -> bool {
        matches!(
            self,
            OfferAnswerError::SrtpRequired(_)
                | OfferAnswerError::SrtpNotEnabled
                | OfferAnswerError::SrtpNeedsTls
                | OfferAnswerError::NoCommonCryptoSuite { .. }
        )
    }
}

/// Media direction attribute (RFC 3264 §5.1, §6.1), from our point of view when used
/// in [`LocalMedia`] and [`NegotiatedMedia`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Send and receive.
    #[default]
    SendRecv,
    /// Send only (we hold the peer, music on hold style).
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name, e.g. `sendonly`.
    pub fn as_attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses a direction attribute name.
    pub fn from_attribute(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_attribute().eq_ignore_ascii_case(name))
    }

    /// The same stream seen from the other end (sendonly ⇄ recvonly).
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// True when this side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// True when this side receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// Direction that sends/receives only where both `self` and `other` allow it.
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }
}

/// What we offer or accept: our address, port, codec preference and direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address written in `c=` and `o=`.
    pub addr: IpAddr,
    /// Our RTP port; RTCP is on `rtp_port + 1`.
    pub rtp_port: u16,
    /// Codecs in preference order, telephone-event formats included.
    pub codecs: Vec<PayloadFormat>,
    /// Packet time we want to receive, in ms.
    pub ptime_ms: u32,
    /// What we want to do (hold = `SendOnly`).
    pub direction: Direction,
    /// When answering, list (and send with) the accepted codecs in our order
    /// rather than the offer's. Off by default: like PJSIP and baresip, the
    /// answerer takes the offerer's preference among the codecs it accepts.
    pub prefer_local_order: bool,
    /// Whether SRTP is off, offered best effort or required.
    pub srtp: SrtpPolicy,
    /// Our SDES keys, one per suite we accept, in our order of preference
    /// (the offer's tags are 1, 2, ... in this order). Kept across re-offers
    /// so an unchanged key keeps its running context; [`rekey`](Self::rekey)
    /// replaces them.
    pub crypto: Vec<SrtpKey>,
}

impl LocalMedia {
    /// Our default preference: PCMU, PCMA, Opus (111) with RFC 2198
    /// redundancy for it (`red/48000/2` on 63, as browsers number it),
    /// telephone-event at 8 kHz (101) beside G.711 and at 48 kHz (110)
    /// beside Opus, and RFC 3389 comfort noise (`CN/8000`, 13) beside G.711,
    /// as many PBXs offer it; 20 ms; sendrecv.
    pub fn new(addr: IpAddr, rtp_port: u16) -> Self {
        LocalMedia {
            addr,
            rtp_port,
            codecs: vec![
                PayloadFormat::pcmu(),
                PayloadFormat::pcma(),
                PayloadFormat::opus(111),
                PayloadFormat::red(63, 111),
                PayloadFormat::telephone_event(101, 8000),
                PayloadFormat::telephone_event(110, 48000),
                PayloadFormat::comfort_noise(),
            ],
            ptime_ms: 20,
            direction: Direction::SendRecv,
            prefer_local_order: false,
            srtp: SrtpPolicy::Off,
            crypto: Vec::new(),
        }
    }

    /// SRTP per `policy` with fresh keys for `suites` (our preference first);
    /// with `Off` or no suite, plain RTP only.
    pub fn with_srtp(mut self, policy: SrtpPolicy, suites: &[SrtpSuite]) -> Self {
        let mut kept: Vec<SrtpSuite> = Vec::with_capacity(suites.len());
        for s in suites {
            if !kept.contains(s) {
                kept.push(*s);
            }
        }
        self.srtp = if kept.is_empty() {
            SrtpPolicy::Off
        } else {
            policy
        };
        self.crypto = match self.srtp {
            SrtpPolicy::Off => Vec::new(),
            _ => kept.into_iter().map(SrtpKey::random).collect(),
        };
        self
    }

    /// New keys for every suite (RFC 4568 §7.1.4: a re-offer may re-key);
    /// the running send context is replaced once the exchange completes.
    pub fn rekey(&mut self) {
        for key in &mut self.crypto {
            *key = SrtpKey::random(key.suite());
        }
    }

    /// `true`: an answer follows our codec order instead of the offer's (see
    /// [`prefer_local_order`](Self::prefer_local_order)). Offers always list
    /// our order.
    pub fn with_local_order(mut self, prefer_local_order: bool) -> Self {
        self.prefer_local_order = prefer_local_order;
        self
    }

    /// `false`: neither offer nor accept RFC 3389 comfort noise.
    pub fn with_comfort_noise(mut self, comfort_noise: bool) -> Self {
        if !comfort_noise {
            self.codecs.retain(|f| f.codec != Codec::ComfortNoise);
        }
        self
    }

    /// `false`: neither offer nor accept RFC 2198 redundancy.
    pub fn with_red(mut self, red: bool) -> Self {
        if !red {
            self.codecs.retain(|f| f.codec != Codec::Red);
        }
        self
    }

    /// Keeps only the audio codecs in `order`, in that order (the first is the
    /// one we prefer), followed by every telephone-event format: one at each
    /// audio rate, and the other too, since some peers (baresip 1.0) offer
    /// only telephone-event/8000 even beside Opus; then comfort noise when
    /// an 8 kHz codec (G.711) is kept. Opus keeps its redundancy (`red`)
    /// right after it. Telephone-event, comfort noise and `red` in `order`
    /// are ignored.
    pub fn with_codecs(mut self, order: &[Codec]) -> Self {
        let mut kept: Vec<PayloadFormat> = Vec::with_capacity(self.codecs.len());
        for wanted in order.iter().filter(|c| c.is_audio()) {
            if kept.iter().any(|f| f.codec == *wanted) {
                continue;
            }
            kept.extend(self.codecs.iter().filter(|f| f.codec == *wanted).cloned());
            if *wanted == Codec::Opus {
                kept.extend(
                    self.codecs
                        .iter()
                        .filter(|f| f.codec == Codec::Red)
                        .cloned(),
                );
            }
        }
        if kept.is_empty() {
            self.codecs.clear();
            return self;
        }
        let events = self
            .codecs
            .iter()
            .filter(|f| f.codec == Codec::TelephoneEvent);
        let events: Vec<PayloadFormat> = events.cloned().collect();
        let narrowband = kept.iter().any(|f| f.clock_rate == 8000);
        let noise: Vec<PayloadFormat> = self
            .codecs
            .iter()
            .filter(|f| f.codec == Codec::ComfortNoise && narrowband)
            .cloned()
            .collect();
        kept.extend(events);
        kept.extend(noise);
        self.codecs = kept;
        self
    }
}

#[cfg(test)]
mod local_media_tests {
    use super::*;

    fn names(local: &LocalMedia) -> Vec<(Codec, u32)> {
        local
            .codecs
            .iter()
            .map(|f| (f.codec, f.clock_rate))
            .collect()
    }

    #[test]
    fn with_codecs_keeps_the_chosen_codecs_in_order_and_the_events() {
        let base = LocalMedia::new(IpAddr::from([127, 0, 0, 1]), 4000);
        let opus_first = base.clone().with_codecs(&[Codec::Opus, Codec::Pcmu]);
        assert_eq!(
            names(&opus_first),
            [
                (Codec::Opus, 48_000),
                (Codec::Red, 48_000),
                (Codec::Pcmu, 8_000),
                (Codec::TelephoneEvent, 8_000),
                (Codec::TelephoneEvent, 48_000),
                (Codec::ComfortNoise, 8_000)
            ]
        );
        let alaw_only = base.clone().with_codecs(&[Codec::Pcma, Codec::Pcma]);
        assert_eq!(
            names(&alaw_only),
            [
                (Codec::Pcma, 8_000),
                (Codec::TelephoneEvent, 8_000),
                (Codec::TelephoneEvent, 48_000),
                (Codec::ComfortNoise, 8_000)
            ]
        );
        let quiet = base.clone().with_comfort_noise(false);
        assert!(!names(&quiet).contains(&(Codec::ComfortNoise, 8_000)));
        assert_eq!(quiet.codecs.len(), base.codecs.len() - 1);
        // Comfort noise only beside G.711: CN/8000 means nothing to Opus.
        let opus_only = base.clone().with_codecs(&[Codec::Opus]);
        assert!(!names(&opus_only).contains(&(Codec::ComfortNoise, 8_000)));
        assert!(!names(&alaw_only).contains(&(Codec::Red, 48_000)));
        assert!(!names(&base.clone().with_red(false)).contains(&(Codec::Red, 48_000)));
        assert!(base.clone().with_codecs(&[Codec::Red]).codecs.is_empty());
        assert!(base
            .clone()
            .with_codecs(&[Codec::TelephoneEvent])
            .codecs
            .is_empty());
        assert!(base.with_codecs(&[Codec::ComfortNoise]).codecs.is_empty());
    }
}

/// The outcome of a completed offer/answer for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// Where to send RTP.
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP (`a=rtcp`, RFC 3605, else RTP port + 1).
    pub remote_rtcp: SocketAddr,
    /// Codec and payload type to send with (the peer's numbering).
    pub send_codec: PayloadFormat,
    /// telephone-event format to send digits with: the one at the send codec's
    /// clock rate, else any the peer accepts (its own clock rate may then
    /// differ from the audio's; events are stamped on the audio clock).
    pub telephone_event: Option<PayloadFormat>,
    /// Every format both sides accepted (peer's numbering), for the receive side.
    pub accepted: Vec<PayloadFormat>,
    /// Packet time to send with, in ms (peer's `a=ptime`, else ours).
    pub ptime_ms: u32,
    /// Our direction for this stream.
    pub direction: Direction,
    /// The peer's direction as it stated it (`c=0.0.0.0` counts as not receiving);
    /// `SendOnly`/`Inactive` mean the peer holds us (R-HOLD-5).
    pub remote_direction: Direction,
    /// The peer's `a=fmtp` for the send codec, verbatim.
    pub remote_fmtp: Option<String>,
    /// The peer wants Opus in-band FEC (`useinbandfec=1`).
    pub remote_inband_fec: bool,
    /// The peer signalled hold with the RFC 2543 `c=0.0.0.0` idiom.
    pub remote_zero_addr: bool,
    /// SRTP's suite and both keys, when the stream is SRTP.
    pub srtp: Option<SrtpKeys>,
    /// The peer's payload type for RFC 2198 redundancy around the Opus we
    /// send (it listed `red` naming that Opus); None: send Opus plain.
    pub red: Option<u8>,
}

/// Our answer to a peer's offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The SDP body to send.
    pub sdp: String,
    /// What was agreed.
    pub media: NegotiatedMedia,
}
