//! Opus (RFC 7587) through libopus: mono 48 kHz encoder with in-band FEC,
//! decoder with PLC and FEC recovery.

use ::opus::{Application, Bandwidth, Bitrate, Channels, Repacketizer, Signal};

use super::adapt::{AdaptConfig, LossAdapter, OpusSettings};
use super::OpusEffort;
use super::{CodecError, MAX_PACKET_SAMPLES, SAMPLES_PER_MS};

/// Largest single Opus frame (RFC 6716 §3.2.1).
const MAX_FRAME_BYTES: usize = 1_275;
/// libopus' float API works in ±1.0; the internal format is ±32768.
const SCALE: f32 = 32_768.0;

pub(super) struct OpusEncoder {
    enc: ::opus::Encoder,
    /// SILK (hybrid) modes allowed; off keeps it in CELT (see [`OpusEffort`]).
    silk: bool,
    /// Whether the loss settings ask for in-band FEC (used while SILK is).
    fec_wanted: bool,
    /// Input rescaled to ±1.0.
    scaled: [f32; MAX_PACKET_SAMPLES],
    /// libopus has no 30 ms frame: 30 ms packets are three 10 ms frames
    /// joined by the repacketizer.
    split: Option<Split>,
}

struct Split {
    rp: Repacketizer,
    frames: [[u8; MAX_FRAME_BYTES]; 3],
}

impl OpusEncoder {
    pub(super) fn new(ptime_ms: u32) -> Result<Self, CodecError> {
        let split = match ptime_ms {
            10 | 20 | 40 | 60 => None,
            30 => Some(Split {
                rp: Repacketizer::new()?,
                frames: [[0; MAX_FRAME_BYTES]; 3],
            }),
            _ => {
                return Err(CodecError::UnsupportedPtime {
                    codec: "opus",
                    ptime_ms,
                })
            }
        };
        // We send mono even though SDP says opus/48000/2 (RFC 7587 §7 allows
        // it; `sprop-stereo=0` tells the peer).
        let mut enc = ::opus::Encoder::new(48_000, Channels::Mono, Application::Voip)?;
        // Full effort until a conference asks for less (libopus defaults to
        // complexity 9, baresip sets 10).
        enc.set_complexity(OpusEffort::FULL.complexity)?;
        if split.is_some() {
            // Frames joined into one packet must share mode and bandwidth
            // (RFC 6716 §3.2): SILK wideband voice keeps them constant.
            enc.set_bandwidth(Bandwidth::Wideband)?;
            enc.set_signal(Signal::Voice)?;
        }
        let mut encoder = Self {
            enc,
            silk: OpusEffort::FULL.silk,
            fec_wanted: false,
            scaled: [0.0; MAX_PACKET_SAMPLES],
            split,
        };
        // A clean link's settings until the far end reports loss (bit rate,
        // FEC and the expected loss it is sized for: see `adapt`).
        encoder.apply(LossAdapter::new(AdaptConfig::default()).settings())?;
        Ok(encoder)
    }

    /// Loss-driven settings from the far end's reports.
    pub(super) fn apply(&mut self, s: OpusSettings) -> Result<(), CodecError> {
        self.enc.set_packet_loss_perc(s.loss_pct)?;
        self.fec_wanted = s.fec;
        self.enc.set_inband_fec(s.fec && self.silk)?;
        self.enc.set_bitrate(Bitrate::Bits(s.bitrate))?;
        self.enc.set_dtx(s.dtx)?;
        Ok(())
    }

    /// How much the encoder may spend; takes effect at the next packet,
    /// without allocating.
    pub(super) fn set_effort(&mut self, effort: OpusEffort) -> Result<(), CodecError> {
        self.enc.set_complexity(effort.complexity.clamp(0, 10))?;
        // 30 ms packets join three frames, which must share one mode: they
        // stay on SILK voice (see `new`).
        let silk = effort.silk || self.split.is_some();
        if silk != self.silk {
            self.silk = silk;
            // Music steers libopus to CELT above 16 kbit/s (our floor is 24);
            // in-band FEC is SILK's (LBRR) and would pull it back.
            self.enc
                .set_signal(if silk { Signal::Auto } else { Signal::Music })?;
            self.enc.set_inband_fec(self.fec_wanted && silk)?;
        }
        Ok(())
    }

    pub(super) fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize, CodecError> {
        self.push_frame(pcm, 0)?;
        self.finish(pcm.len(), out)
    }

    /// Scales `pcm` into the packet being built, after its first `at`
    /// samples.
    pub(super) fn push_frame(&mut self, pcm: &[f32], at: usize) -> Result<(), CodecError> {
        let Some(scaled) = self.scaled.get_mut(at..at + pcm.len()) else {
            return Err(CodecError::FrameLength {
                expected: MAX_PACKET_SAMPLES,
                got: at + pcm.len(),
            });
        };
        for (d, &s) in scaled.iter_mut().zip(pcm) {
            *d = s / SCALE;
        }
        Ok(())
    }

    /// Encodes the packet of `samples` built by [`push_frame`](Self::push_frame).
    pub(super) fn finish(&mut self, samples: usize, out: &mut [u8]) -> Result<usize, CodecError> {
        let Some(pcm) = self.scaled.get(..samples) else {
            return Err(CodecError::FrameLength {
                expected: MAX_PACKET_SAMPLES,
                got: samples,
            });
        };
        let Some(split) = &mut self.split else {
            return Ok(self.enc.encode_float(pcm, out)?);
        };
        let mut lens = [0usize; 3];
        let ten_ms = 10 * SAMPLES_PER_MS;
        for ((chunk, buf), len) in pcm
            .chunks_exact(ten_ms)
            .zip(&mut split.frames)
            .zip(&mut lens)
        {
            *len = self.enc.encode_float(chunk, buf)?;
        }
        let [a, b, c] = &split.frames;
        let parts: [&[u8]; 3] = [&a[..lens[0]], &b[..lens[1]], &c[..lens[2]]];
        Ok(split.rp.combine(&parts, out)?)
    }
}

pub(super) struct OpusDecoder {
    /// A mono decoder: libopus downmixes stereo packets itself.
    dec: ::opus::Decoder,
}

impl OpusDecoder {
    pub(super) fn new() -> Result<Self, CodecError> {
        Ok(Self {
            dec: ::opus::Decoder::new(48_000, Channels::Mono)?,
        })
    }

    pub(super) fn reset(&mut self) -> Result<(), CodecError> {
        Ok(self.dec.reset_state()?)
    }

    pub(super) fn decode(&mut self, payload: &[u8], out: &mut [f32]) -> Result<usize, CodecError> {
        if payload.is_empty() {
            // An empty slice means "lost" to libopus; an empty payload on the
            // wire is malformed (RFC 7587 §4.2 requires the TOC byte).
            return Err(CodecError::EmptyPayload);
        }
        let needed = ::opus::packet::get_nb_samples(payload, 48_000)?;
        if needed > out.len() || needed > MAX_PACKET_SAMPLES {
            return Err(CodecError::BufferTooSmall {
                needed,
                got: out.len().min(MAX_PACKET_SAMPLES),
            });
        }
        let n = self.dec.decode_float(payload, out, false)?;
        Ok(rescale(out, n))
    }

    /// `out.len()` was checked to be whole 10 ms frames.
    pub(super) fn conceal(&mut self, out: &mut [f32]) -> Result<usize, CodecError> {
        let n = self.dec.decode_float(&[], out, false)?;
        Ok(rescale(out, n))
    }

    pub(super) fn decode_fec(&mut self, next: &[u8], out: &mut [f32]) -> Result<usize, CodecError> {
        if next.is_empty() {
            return self.conceal(out);
        }
        let n = self.dec.decode_float(next, out, true)?;
        Ok(rescale(out, n))
    }
}

/// Brings `n` decoded samples from ±1.0 to the internal ±32768 scale.
fn rescale(out: &mut [f32], n: usize) -> usize {
    for s in out.iter_mut().take(n) {
        *s *= SCALE;
    }
    n
}
