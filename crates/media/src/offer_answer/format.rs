//! Payload formats we can send and receive, and how they are named in SDP.

use std::fmt;

/// The codecs agentphone speaks on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// Opus (RFC 7587), always `opus/48000/2` in SDP whatever is actually sent.
    Opus,
    /// RFC 4733 named telephone events (DTMF).
    TelephoneEvent,
    /// RFC 3389 comfort noise, static payload type 13 at 8 kHz: what a peer
    /// in discontinuous transmission sends instead of its silence.
    ComfortNoise,
    /// RFC 2198 redundant audio: each packet also carries the frame before
    /// it (`red/48000/2` beside Opus, as browsers offer it).
    Red,
}

impl Codec {
    /// The encoding name used in `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Opus => "opus",
            Codec::TelephoneEvent => "telephone-event",
            Codec::ComfortNoise => "CN",
            Codec::Red => "red",
        }
    }

    /// Identifies a codec from an rtpmap encoding name (case-insensitive, RFC 4566 §6).
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        [
            Codec::Pcmu,
            Codec::Pcma,
            Codec::Opus,
            Codec::TelephoneEvent,
            Codec::ComfortNoise,
            Codec::Red,
        ]
        .into_iter()
        .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
    }

    /// True for codecs that carry audio to send with (as opposed to events,
    /// comfort noise and redundancy, which only go beside one).
    pub fn is_audio(self) -> bool {
        !matches!(
            self,
            Codec::TelephoneEvent | Codec::ComfortNoise | Codec::Red
        )
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoding_name())
    }
}

/// One payload format: a codec bound to a payload type number and RTP clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFormat {
    /// Which codec this is.
    pub codec: Codec,
    /// RTP payload type number (0..=127).
    pub payload_type: u8,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count as written in the rtpmap (Opus always says 2).
    pub channels: u8,
    /// Format parameters (`a=fmtp`), without the payload type.
    pub fmtp: Option<String>,
}

impl PayloadFormat {
    /// PCMU on its static payload type 0.
    pub fn pcmu() -> Self {
        Self::new(Codec::Pcmu, 0, 8000, 1, None)
    }

    /// PCMA on its static payload type 8.
    pub fn pcma() -> Self {
        Self::new(Codec::Pcma, 8, 8000, 1, None)
    }

    /// Opus on a dynamic payload type, asking for in-band FEC (RFC 7587 §7).
    pub fn opus(payload_type: u8) -> Self {
        Self::new(
            Codec::Opus,
            payload_type,
            48000,
            2,
            Some("useinbandfec=1".to_owned()),
        )
    }

    /// telephone-event at `clock_rate` on a dynamic payload type (events 0-16).
    pub fn telephone_event(payload_type: u8, clock_rate: u32) -> Self {
        Self::new(
            Codec::TelephoneEvent,
            payload_type,
            clock_rate,
            1,
            Some("0-16".to_owned()),
        )
    }

    /// RFC 3389 comfort noise on its static payload type 13 (`CN/8000`).
    pub fn comfort_noise() -> Self {
        Self::new(Codec::ComfortNoise, 13, 8000, 1, None)
    }

    /// RFC 2198 redundancy for the Opus stream on `opus_payload_type`
    /// (`red/48000/2`, `a=fmtp:<pt> 111/111`: a redundant block and the
    /// primary, both Opus).
    pub fn red(payload_type: u8, opus_payload_type: u8) -> Self {
        Self::new(
            Codec::Red,
            payload_type,
            48000,
            2,
            Some(format!("{opus_payload_type}/{opus_payload_type}")),
        )
    }

    /// For a `red` format: whether its fmtp names only `payload_type` as
    /// the blocks' format (RFC 2198 §5); no fmtp says nothing against it.
    pub fn red_carries(&self, payload_type: u8) -> bool {
        self.codec == Codec::Red
            && self.fmtp.as_deref().is_none_or(|f| {
                f.trim()
                    .split('/')
                    .all(|pt| pt.trim().parse::<u8>() == Ok(payload_type))
            })
    }

    fn new(codec: Codec, pt: u8, clock_rate: u32, channels: u8, fmtp: Option<String>) -> Self {
        PayloadFormat {
            codec,
            payload_type: pt,
            clock_rate,
            channels,
            fmtp,
        }
    }

    /// The rtpmap value after the payload type, e.g. `opus/48000/2`.
    pub fn rtpmap(&self) -> String {
        if self.channels > 1 {
            format!(
                "{}/{}/{}",
                self.codec.encoding_name(),
                self.clock_rate,
                self.channels
            )
        } else {
            format!("{}/{}", self.codec.encoding_name(), self.clock_rate)
        }
    }

    /// Same codec, clock and channel layout (payload type numbers may differ).
    pub fn same_format(&self, other: &PayloadFormat) -> bool {
        self.codec == other.codec
            && self.clock_rate == other.clock_rate
            && (!matches!(self.codec, Codec::Opus | Codec::Red) || self.channels == other.channels)
    }

    /// True when the fmtp asks for Opus in-band FEC (`useinbandfec=1`).
    pub fn inband_fec(&self) -> bool {
        fmtp_param(self.fmtp.as_deref(), "useinbandfec") == Some("1")
    }
}

/// Looks up `name` in an fmtp parameter list (`a=b; c=d`), case-insensitively.
pub fn fmtp_param<'a>(fmtp: Option<&'a str>, name: &str) -> Option<&'a str> {
    fmtp?.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The static audio payload types of RFC 3551 table 4 that we can use without rtpmap.
pub(crate) fn static_format(payload_type: u8) -> Option<PayloadFormat> {
    match payload_type {
        0 => Some(PayloadFormat::pcmu()),
        8 => Some(PayloadFormat::pcma()),
        13 => Some(PayloadFormat::comfort_noise()),
        _ => None,
    }
}

/// Parses an rtpmap value (`<name>/<rate>[/<channels>]`) for payload type `pt`.
pub(crate) fn parse_rtpmap(pt: u8, value: &str) -> Option<PayloadFormat> {
    let mut parts = value.trim().split('/');
    let codec = Codec::from_encoding_name(parts.next()?.trim())?;
    let clock_rate: u32 = parts.next()?.trim().parse().ok()?;
    let channels: u8 = match parts.next() {
        Some(c) => c.trim().parse().ok()?,
        None => 1,
    };
    if clock_rate == 0 || pt > 127 {
        return None;
    }
    Some(PayloadFormat {
        codec,
        payload_type: pt,
        clock_rate,
        channels,
        fmtp: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtpmap_round_trips_and_is_case_insensitive() {
        let f = parse_rtpmap(111, "OPUS/48000/2").expect("opus parses");
        assert_eq!(f.codec, Codec::Opus);
        assert_eq!(f.rtpmap(), "opus/48000/2");
        assert_eq!(
            parse_rtpmap(101, "telephone-event/8000").map(|f| f.clock_rate),
            Some(8000)
        );
        assert!(parse_rtpmap(97, "speex/16000").is_none());
        assert_eq!(
            parse_rtpmap(13, "CN/8000"),
            Some(PayloadFormat::comfort_noise())
        );
        assert_eq!(static_format(13), Some(PayloadFormat::comfort_noise()));
        assert!(parse_rtpmap(97, "PCMU/zero").is_none());
        let red = parse_rtpmap(63, "RED/48000/2").expect("red parses");
        assert!(red.same_format(&PayloadFormat::red(96, 111)));
        assert!(!red.codec.is_audio());
    }

    #[test]
    fn red_carries_only_the_format_its_fmtp_names() {
        assert!(PayloadFormat::red(63, 111).red_carries(111));
        assert!(!PayloadFormat::red(63, 111).red_carries(96));
        let mixed = PayloadFormat {
            fmtp: Some("111/0".into()),
            ..PayloadFormat::red(63, 111)
        };
        assert!(!mixed.red_carries(111));
        let bare = PayloadFormat {
            fmtp: None,
            ..PayloadFormat::red(63, 111)
        };
        assert!(bare.red_carries(111));
        assert!(!PayloadFormat::opus(111).red_carries(111));
    }

    #[test]
    fn fmtp_param_finds_values() {
        let f = Some("maxplaybackrate=16000; useinbandfec=1");
        assert_eq!(fmtp_param(f, "useinbandfec"), Some("1"));
        assert_eq!(fmtp_param(f, "stereo"), None);
        assert_eq!(fmtp_param(None, "x"), None);
    }
}
