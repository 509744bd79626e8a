//! Audio codecs at the RTP payload level: G.711 µ-law/A-law and Opus.
//!
//! Every call leg owns one [`Encoder`] and one [`Decoder`]. Both speak the
//! internal format on the audio side (48 kHz mono `f32`, ±32768 scale) and
//! RTP payload bytes on the network side; G.711 is resampled to and from
//! 8 kHz inside. Buffers are sized at construction for packets up to
//! [`MAX_PTIME_MS`], so encoding, decoding and concealment never allocate.

pub mod adapt;
pub mod g711;
mod narrowband;
mod opus;

use thiserror::Error;

use self::adapt::OpusSettings;
use self::narrowband::{G711Decoder, G711Encoder};
use self::opus::{OpusDecoder, OpusEncoder};

/// Internal sample rate (Hz).
pub const SAMPLE_RATE: u32 = 48_000;
/// Internal samples per millisecond.
pub const SAMPLES_PER_MS: usize = 48;
/// Longest packet duration accepted, in milliseconds (Opus' maximum).
pub const MAX_PTIME_MS: u32 = 120;
/// Internal samples in the longest packet.
pub const MAX_PACKET_SAMPLES: usize = MAX_PTIME_MS as usize * SAMPLES_PER_MS;
/// A payload buffer of this size holds any packet the encoders produce.
pub const MAX_PAYLOAD_BYTES: usize = 1_500;

/// Errors from encoding and decoding.
#[derive(Debug, Error)]
pub enum CodecError {
    /// The packet duration is not one this codec can produce.
    #[error("{codec} cannot use a packet time of {ptime_ms} ms")]
    UnsupportedPtime {
        /// Codec name.
        codec: &'static str,
        /// Requested packet time.
        ptime_ms: u32,
    },
    /// The PCM handed to the encoder is not one packet long.
    #[error("encoder expects {expected} samples per packet, got {got}")]
    FrameLength {
        /// Samples per packet at 48 kHz.
        expected: usize,
        /// Samples passed.
        got: usize,
    },
    /// A caller buffer is too small.
    #[error("buffer holds {got} samples or bytes, {needed} are needed")]
    BufferTooSmall {
        /// Required size.
        needed: usize,
        /// Size passed.
        got: usize,
    },
    /// Concealment must cover whole 10 ms frames, at most 120 ms.
    #[error("concealment length {got} is not a multiple of 480 samples from 480 to 5760")]
    ConcealLength {
        /// Samples requested.
        got: usize,
    },
    /// A G.711 payload that is empty, longer than 120 ms, or not whole 10 ms
    /// blocks.
    #[error("G.711 payload of {len} bytes is not 1 to 12 whole 10 ms blocks")]
    G711PayloadLength {
        /// Payload length in bytes.
        len: usize,
    },
    /// An empty payload (Opus needs at least its TOC byte).
    #[error("empty payload")]
    EmptyPayload,
    /// libopus refused the input (corrupt packet, bad argument).
    #[error("opus: {0}")]
    Opus(#[from] ::opus::Error),
    /// An RFC 3389 comfort noise payload that could not be read.
    #[error("comfort noise: {0}")]
    ComfortNoise(#[from] crate::cn::CnError),
    /// Comfort noise (CN/8000) handed to a decoder of another clock rate.
    #[error("{codec} does not take RFC 3389 comfort noise")]
    NoComfortNoise {
        /// Codec name.
        codec: &'static str,
    },
}

/// The codecs agentphone speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecKind {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// Opus (RFC 7587), dynamic payload type.
    Opus,
}

/// What an `a=rtpmap` line says about a codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecInfo {
    /// Encoding name as written in SDP.
    pub name: &'static str,
    /// RTP clock rate (Hz).
    pub clock_rate: u32,
    /// Channel count as written in SDP (Opus always says 2, RFC 7587 §7).
    pub channels: u8,
    /// The static payload type, if the codec has one.
    pub static_payload_type: Option<u8>,
}

impl CodecKind {
    /// rtpmap information for this codec.
    pub const fn info(self) -> CodecInfo {
        match self {
            Self::Pcmu => CodecInfo {
                name: "PCMU",
                clock_rate: 8_000,
                channels: 1,
                static_payload_type: Some(0),
            },
            Self::Pcma => CodecInfo {
                name: "PCMA",
                clock_rate: 8_000,
                channels: 1,
                static_payload_type: Some(8),
            },
            Self::Opus => CodecInfo {
                name: "opus",
                clock_rate: 48_000,
                channels: 2,
                static_payload_type: None,
            },
        }
    }

    /// The codec named by an rtpmap entry (name compared case-insensitively).
    pub fn from_rtpmap(name: &str, clock_rate: u32) -> Option<Self> {
        [Self::Pcmu, Self::Pcma, Self::Opus]
            .into_iter()
            .find(|k| k.info().name.eq_ignore_ascii_case(name) && k.info().clock_rate == clock_rate)
    }

    /// The codec with this static payload type (0 or 8).
    pub fn from_static_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            _ => None,
        }
    }

    /// RTP timestamp increment of one packet of `ptime_ms`.
    pub const fn timestamp_step(self, ptime_ms: u32) -> u32 {
        self.info().clock_rate / 1_000 * ptime_ms
    }

    /// How many 48 kHz samples one payload decodes to, read from the payload
    /// itself: the peer's packet time need not be ours (SIPp sends 30 ms G.711
    /// whatever `a=ptime` says). None for an empty or malformed payload.
    pub fn packet_samples(self, payload: &[u8]) -> Option<usize> {
        let n = match self {
            // One byte an 8 kHz sample, six 48 kHz samples each.
            Self::Pcmu | Self::Pcma => payload.len() * 6,
            Self::Opus => ::opus::packet::get_nb_samples(payload, 48_000).ok()?,
        };
        (n > 0 && n <= MAX_PACKET_SAMPLES).then_some(n)
    }

    /// Whether a payload carries (near-)silence, judged without decoding
    /// state: for G.711 every sample below about −54 dBov; for Opus a DTX
    /// packet (at most 2 bytes) or a SILK or hybrid packet whose encoder
    /// said "no voice" (the SILK voice-activity flag). The jitter buffer drops
    /// or repeats such packets to adapt its delay. A G.711 stream's buffer
    /// also holds its RFC 3389 CN packets, which are never whole 10 ms
    /// blocks: those are not silence to drop, since the comfort noise's
    /// level is in them.
    pub fn is_silence(self, payload: &[u8]) -> bool {
        const QUIET: i16 = 64;
        if matches!(self, Self::Pcmu | Self::Pcma) && !payload.len().is_multiple_of(80) {
            return false;
        }
        match self {
            Self::Pcmu => payload
                .iter()
                .all(|&b| g711::ULAW_DECODE[usize::from(b)].unsigned_abs() < QUIET as u16),
            Self::Pcma => payload
                .iter()
                .all(|&b| g711::ALAW_DECODE[usize::from(b)].unsigned_abs() < QUIET as u16),
            Self::Opus => payload.len() <= 2 || opus_voice_inactive(payload),
        }
    }

    /// [`is_silence`](Self::is_silence) as a plain function, for
    /// [`JitterConfig::silence`](crate::jitter::JitterConfig::silence).
    pub fn silence_detector(self) -> fn(&[u8]) -> bool {
        match self {
            Self::Pcmu => |p| CodecKind::Pcmu.is_silence(p),
            Self::Pcma => |p| CodecKind::Pcma.is_silence(p),
            Self::Opus => |p| CodecKind::Opus.is_silence(p),
        }
    }
}

/// Whether an Opus packet of one SILK or hybrid frame of at most 20 ms
/// (TOC configurations 0-1, 4-5, 8-9 and 12-15, frame count code 0) says
/// its speech is inactive. Without DTX an encoder still sends 50-100 bytes
/// a packet through a pause, so the size alone does not tell.
///
/// The SILK layer starts with its frame's voice-activity flag, range coded
/// with probability one half (RFC 6716 §4.2.3, `ec_dec_bit_logp(1)`). A
/// fresh range decoder reads it from the first byte after the TOC
/// (§4.1.1: `val = 127 - (b0 >> 1)` against `rng = 128`, and the flag is
/// set when `val < rng / 2`): the flag is that byte's top bit, whatever
/// follows. CELT-only packets carry no such flag and are never called
/// inactive here.
fn opus_voice_inactive(payload: &[u8]) -> bool {
    let &[toc, first, ..] = payload else {
        return false;
    };
    let config = toc >> 3;
    let one_frame = toc & 0b11 == 0;
    // SILK-only 10 and 20 ms (one SILK frame, one flag) or hybrid.
    let single_silk_frame = match config {
        0..=11 => config % 4 < 2,
        12..=15 => true,
        _ => false,
    };
    one_frame && single_silk_frame && first & 0x80 == 0
}

/// How much CPU an Opus encoder may spend. Measured on 15.6 s of espeak-ng
/// speech at 72 kbit/s with the 10 % expected loss of a clean link
/// (`cargo run -p agentphone-media --release --example opus_effort`, then
/// PESQ-WB of its output; µs per 20 ms packet on an AMD EPYC with AVX2):
///
/// | mode | complexity | encode | PESQ-WB |
/// | --- | --- | --- | --- |
/// | SILK/hybrid, in-band FEC | 10 | 370-400 µs | 4.38 |
/// | SILK/hybrid, in-band FEC | 6 | 260 µs | 4.31 |
/// | SILK/hybrid, in-band FEC | 1 | 120-140 µs | 3.48 |
/// | CELT only | 8 | 100-110 µs | 4.18 |
/// | CELT only | 1 | 50 µs | 3.75 |
///
/// Decoding costs 30-60 µs a packet either way.
///
/// SILK below complexity 4 loses much of its quality, and the LBRR copy
/// FEC adds is a second SILK encode; so cheap is CELT, not SILK at low
/// complexity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusEffort {
    /// libopus complexity, 0 (cheapest) to 10.
    pub complexity: i32,
    /// SILK and hybrid modes allowed, with in-band FEC when the loss settings
    /// ask for it (see [`adapt`]). Off keeps the encoder in CELT: no in-band
    /// FEC, so a lost packet is concealed unless RFC 2198 redundancy carries
    /// it. 30 ms packets stay on SILK whatever this says (their three frames
    /// must share one mode).
    pub silk: bool,
}

impl OpusEffort {
    /// A call's encoder: everything libopus has.
    pub const FULL: Self = Self {
        complexity: 10,
        silk: true,
    };
}

enum EncoderInner {
    G711(Box<G711Encoder>),
    Opus(Box<OpusEncoder>),
}

/// Encodes 48 kHz audio into RTP payloads of one codec and packet time:
/// a whole packet's audio at once ([`Encoder::encode`]), or 10 ms frames as
/// they come ([`Encoder::push_frame`], then [`Encoder::finish`]).
pub struct Encoder {
    kind: CodecKind,
    ptime_ms: u32,
    inner: EncoderInner,
    /// 48 kHz samples of the packet being built by `push_frame`.
    pending: usize,
}

/// 48 kHz samples in one frame given to [`Encoder::push_frame`] (10 ms).
pub const FRAME_SAMPLES: usize = 10 * SAMPLES_PER_MS;

impl Encoder {
    /// An encoder for `kind` producing packets of `ptime_ms` (10, 20, 30, 40,
    /// 60; G.711 also any multiple of 10 up to 120).
    pub fn new(kind: CodecKind, ptime_ms: u32) -> Result<Self, CodecError> {
        let inner = match kind {
            CodecKind::Pcmu | CodecKind::Pcma => EncoderInner::G711(Box::new(G711Encoder::new(
                kind == CodecKind::Pcma,
                ptime_ms,
            )?)),
            CodecKind::Opus => EncoderInner::Opus(Box::new(OpusEncoder::new(ptime_ms)?)),
        };
        Ok(Self {
            kind,
            ptime_ms,
            inner,
            pending: 0,
        })
    }

    /// The codec.
    pub fn kind(&self) -> CodecKind {
        self.kind
    }

    /// How much CPU the Opus encoder may spend ([`OpusEffort::FULL`] unless
    /// set); G.711 has nothing to set. A conference with many Opus legs
    /// lowers it to stay within its CPU budget. Takes effect at the next
    /// packet, without allocating.
    pub fn set_effort(&mut self, effort: OpusEffort) -> Result<(), CodecError> {
        match &mut self.inner {
            EncoderInner::G711(_) => Ok(()),
            EncoderInner::Opus(e) => e.set_effort(effort),
        }
    }

    /// Applies loss-driven settings (see [`adapt`]); G.711 has none to set.
    /// Takes effect at the next packet, without allocating.
    pub fn apply(&mut self, settings: OpusSettings) -> Result<(), CodecError> {
        match &mut self.inner {
            EncoderInner::G711(_) => Ok(()),
            EncoderInner::Opus(e) => e.apply(settings),
        }
    }

    /// Packet time in milliseconds.
    pub fn ptime_ms(&self) -> u32 {
        self.ptime_ms
    }

    /// 48 kHz samples that make one packet.
    pub fn samples_per_packet(&self) -> usize {
        self.ptime_ms as usize * SAMPLES_PER_MS
    }

    /// Encodes one packet's worth of 48 kHz audio into `out`; returns the
    /// payload length. Frames given to [`Encoder::push_frame`] and not
    /// finished are dropped.
    pub fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize, CodecError> {
        let expected = self.samples_per_packet();
        if pcm.len() != expected {
            return Err(CodecError::FrameLength {
                expected,
                got: pcm.len(),
            });
        }
        self.pending = 0;
        match &mut self.inner {
            EncoderInner::G711(e) => e.encode(pcm, out),
            EncoderInner::Opus(e) => e.encode(pcm, out),
        }
    }

    /// Adds 10 ms of 48 kHz audio ([`FRAME_SAMPLES`]) to the packet being
    /// built; returns whether the packet time is complete, when
    /// [`Encoder::finish`] writes it (a frame pushed to a complete packet
    /// starts the next one, dropping it). The output equals
    /// [`Encoder::encode`] of the same audio. Use it where frames come one
    /// at a time: G.711 keeps only the 8 kHz samples of the frames so far,
    /// so the caller holds no 48 kHz packet buffer (an audio tick touches
    /// every leg's buffers, and a smaller one is less to fetch).
    pub fn push_frame(&mut self, frame: &[f32]) -> Result<bool, CodecError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(CodecError::FrameLength {
                expected: FRAME_SAMPLES,
                got: frame.len(),
            });
        }
        let full = self.samples_per_packet();
        if self.pending >= full {
            self.pending = 0;
        }
        match &mut self.inner {
            EncoderInner::G711(e) => e.push_frame(frame, self.pending)?,
            EncoderInner::Opus(e) => e.push_frame(frame, self.pending)?,
        }
        self.pending += FRAME_SAMPLES;
        Ok(self.pending >= full)
    }

    /// Encodes the packet completed by [`Encoder::push_frame`] into `out`;
    /// returns the payload length. On an error (a packet not yet complete,
    /// [`CodecError::FrameLength`]; `out` too small) the packet stays
    /// pending.
    pub fn finish(&mut self, out: &mut [u8]) -> Result<usize, CodecError> {
        let expected = self.samples_per_packet();
        if self.pending != expected {
            return Err(CodecError::FrameLength {
                expected,
                got: self.pending,
            });
        }
        let written = match &mut self.inner {
            EncoderInner::G711(e) => e.finish(expected, out),
            EncoderInner::Opus(e) => e.finish(expected, out),
        }?;
        self.pending = 0;
        Ok(written)
    }

    /// 10 ms frames in the packet being built.
    pub fn pending_frames(&self) -> usize {
        self.pending / FRAME_SAMPLES
    }

    /// Drops the frames of the packet being built.
    pub fn discard_pending(&mut self) {
        self.pending = 0;
    }

    /// Encodes one 20 ms packet (the common ptime); an encoder built for
    /// another ptime answers [`CodecError::FrameLength`].
    pub fn encode_frame(&mut self, pcm: &[f32; 960], out: &mut [u8]) -> Result<usize, CodecError> {
        self.encode(pcm, out)
    }
}

enum DecoderInner {
    G711(Box<G711Decoder>),
    Opus(Box<OpusDecoder>),
}

/// Decodes RTP payloads of one codec into 48 kHz audio, with concealment.
pub struct Decoder {
    kind: CodecKind,
    inner: DecoderInner,
}

impl Decoder {
    /// A decoder for `kind`.
    pub fn new(kind: CodecKind) -> Result<Self, CodecError> {
        let inner = match kind {
            CodecKind::Pcmu | CodecKind::Pcma => {
                DecoderInner::G711(Box::new(G711Decoder::new(kind == CodecKind::Pcma)))
            }
            CodecKind::Opus => DecoderInner::Opus(Box::new(OpusDecoder::new()?)),
        };
        Ok(Self { kind, inner })
    }

    /// The codec.
    pub fn kind(&self) -> CodecKind {
        self.kind
    }

    /// Decodes a payload into `out` (48 kHz); returns the samples written.
    /// `out` must hold the packet ([`MAX_PACKET_SAMPLES`] always does).
    pub fn decode(&mut self, payload: &[u8], out: &mut [f32]) -> Result<usize, CodecError> {
        match &mut self.inner {
            DecoderInner::G711(d) => d.decode(payload, out),
            DecoderInner::Opus(d) => d.decode(payload, out),
        }
    }

    /// Decodes an RFC 3389 comfort noise payload (CN/8000, G.711 only):
    /// `out` (a multiple of 480 samples) gets the noise it describes, and
    /// [`conceal`](Self::conceal) carries on with it until the next payload
    /// (the peer's discontinuous transmission).
    pub fn decode_comfort_noise(
        &mut self,
        payload: &[u8],
        out: &mut [f32],
    ) -> Result<usize, CodecError> {
        check_conceal_len(out.len())?;
        match &mut self.inner {
            DecoderInner::G711(d) => d.comfort_noise(payload, out),
            DecoderInner::Opus(_) => Err(CodecError::NoComfortNoise {
                codec: self.kind.info().name,
            }),
        }
    }

    /// Whether the peer's comfort noise is playing: a CN payload was decoded
    /// and no audio payload since, so a missing packet is a pause in its
    /// transmission, not a loss, and [`conceal`](Self::conceal) plays noise.
    pub fn in_comfort_noise(&self) -> bool {
        match &self.inner {
            DecoderInner::G711(d) => d.in_comfort_noise(),
            DecoderInner::Opus(_) => false,
        }
    }

    /// Fills all of `out` (a multiple of 480 samples) with concealment for a
    /// packet that did not arrive; returns `out.len()`.
    pub fn conceal(&mut self, out: &mut [f32]) -> Result<usize, CodecError> {
        check_conceal_len(out.len())?;
        match &mut self.inner {
            DecoderInner::G711(d) => d.conceal(out),
            DecoderInner::Opus(d) => d.conceal(out),
        }
    }

    /// Recovers a lost packet of `out.len()` samples from the forward error
    /// correction carried in the packet that followed it (`next_payload`).
    /// Call it before decoding `next_payload` itself. Opus packets without FEC
    /// data fall back to concealment; G.711 has no FEC and conceals, bridging
    /// the gap into `next_payload`'s audio (see `plc::G711Plc::conceal_before`).
    pub fn decode_fec(
        &mut self,
        next_payload: &[u8],
        out: &mut [f32],
    ) -> Result<usize, CodecError> {
        check_conceal_len(out.len())?;
        match &mut self.inner {
            DecoderInner::G711(d) => d.conceal_before(next_payload, out),
            DecoderInner::Opus(d) => d.decode_fec(next_payload, out),
        }
    }

    /// Forgets the stream history (new SSRC).
    pub fn reset(&mut self) -> Result<(), CodecError> {
        match &mut self.inner {
            DecoderInner::G711(d) => {
                d.reset();
                Ok(())
            }
            DecoderInner::Opus(d) => d.reset(),
        }
    }
}

fn check_conceal_len(len: usize) -> Result<(), CodecError> {
    if len == 0 || !len.is_multiple_of(480) || len > MAX_PACKET_SAMPLES {
        return Err(CodecError::ConcealLength { got: len });
    }
    Ok(())
}
