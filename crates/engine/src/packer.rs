//! The send side of a leg's audio half: gathers 10 ms frames into the
//! negotiated packet time and encodes them. Built off the audio thread (an
//! encoder allocates) and swapped in when the codec changes.

use crate::packet::OutboundPacket;
use agentphone_audio::{Frame, FRAME_SAMPLES};
use agentphone_media::codec::adapt::{AdaptConfig, LossAdapter};
use agentphone_media::codec::{CodecError, CodecKind, Encoder, OpusEffort};

/// Encoder for one negotiated send format.
pub struct Packer {
    encoder: Encoder,
    payload_type: u8,
    step: u32,
    /// Timestamp units of one 10 ms tick.
    tick_step: u32,
    /// Timestamp units skipped since the last packet (see [`Packer::skip`]).
    skipped: u32,
    // The frames of the packet being built are in the encoder (its 8 kHz
    // samples, for G.711), not in a 48 kHz buffer here: see
    // `Encoder::push_frame`.
    errors: u64,
    /// Opus settings from the far end's loss reports.
    adapter: LossAdapter,
}

impl Packer {
    /// Encodes `kind` at `payload_type` in packets of `ptime_ms`.
    pub fn new(kind: CodecKind, payload_type: u8, ptime_ms: u32) -> Result<Self, CodecError> {
        let encoder = Encoder::new(kind, ptime_ms)?;
        Ok(Packer {
            encoder,
            payload_type,
            step: kind.timestamp_step(ptime_ms),
            tick_step: kind.timestamp_step(10),
            skipped: 0,
            errors: 0,
            adapter: LossAdapter::new(AdaptConfig::default()),
        })
    }

    /// Adapts the encoder to loss reports within `cfg` (Opus bit rate bounds,
    /// expected-loss floor, DTX) instead of the defaults, starting at once
    /// from `cfg`'s clean-link settings. Built off the audio thread, like
    /// [`Packer::new`].
    pub fn with_adaptation(mut self, cfg: AdaptConfig) -> Result<Self, CodecError> {
        self.adapter = LossAdapter::new(cfg);
        self.encoder.apply(self.adapter.settings())?;
        Ok(self)
    }

    /// The payload type it encodes for.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// The codec it encodes.
    pub fn kind(&self) -> CodecKind {
        self.encoder.kind()
    }

    /// Sets how much the encoder may spend (Opus; see [`Encoder::set_effort`]).
    pub fn set_effort(&mut self, effort: OpusEffort) {
        let _ = self.encoder.set_effort(effort);
    }

    /// The far end reported losing `fraction_lost`/256 of our packets: tell
    /// the encoder (Opus: expected loss, FEC, bit rate; G.711 has nothing to
    /// set).
    pub fn on_peer_loss(&mut self, fraction_lost: u8) {
        let settings = self.adapter.on_fraction_lost(fraction_lost);
        if self.encoder.apply(settings).is_err() {
            self.errors += 1;
        }
    }

    /// Frames that would not encode (counted, the packet is skipped).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The audio clock skipped `ticks` ticks (it fell far behind and restarted):
    /// the next packet carries that time, plus the frames of a packet left
    /// half full, as [`OutboundPacket::skipped`]. Those frames are dropped:
    /// sent after the gap they would play a stall's length late.
    pub fn skip(&mut self, ticks: u32) {
        let pending = ticks.saturating_add(self.encoder.pending_frames() as u32);
        self.skipped = self
            .skipped
            .saturating_add(pending.saturating_mul(self.tick_step));
        self.encoder.discard_pending();
    }

    /// As [`Packer::push`], for the frame of audio tick `tick`: a packet that
    /// would start mid-way through a packet time of the tick count starts
    /// with that much silence instead, so every leg's packets end on the same
    /// ticks. The network thread is then woken for sends on those ticks only
    /// (with 20 ms packets every other tick, however many legs there are and
    /// whenever they joined), and a leg's first packet carries at most one
    /// packet time less one tick of silence.
    pub fn push_at(&mut self, tick: u64, frame: &Frame) -> Option<OutboundPacket> {
        let frames = (self.encoder.samples_per_packet() / FRAME_SAMPLES).max(1) as u64;
        if self.encoder.pending_frames() == 0 {
            const SILENCE: Frame = [0.0; FRAME_SAMPLES];
            for _ in 0..tick % frames {
                if self.encoder.push_frame(&SILENCE).is_err() {
                    self.errors += 1;
                }
            }
        }
        self.push(frame)
    }

    /// Adds one frame; when a packet time is complete, returns it encoded.
    pub fn push(&mut self, frame: &Frame) -> Option<OutboundPacket> {
        match self.encoder.push_frame(frame) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(_) => {
                self.errors += 1;
                return None;
            }
        }
        let mut out = OutboundPacket::new(self.payload_type, self.step);
        match self.encoder.finish(out.buffer_mut()) {
            Ok(n) => {
                out.set_len(n);
                out.skipped = std::mem::take(&mut self.skipped);
                Some(out)
            }
            Err(_) => {
                self.errors += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes sent for 2 s of a harmonic voice-like signal.
    fn bytes_for_two_seconds(p: &mut Packer, t0: usize) -> usize {
        let mut total = 0;
        for f in 0..200 {
            let mut frame = [0.0f32; FRAME_SAMPLES];
            for (i, s) in frame.iter_mut().enumerate() {
                let t = (t0 + f * FRAME_SAMPLES + i) as f32 / 48_000.0;
                let ph = 2.0 * std::f32::consts::PI * 140.0 * t;
                *s = 6_000.0 * ph.sin() + 3_000.0 * (3.0 * ph).sin() + 1_500.0 * (7.0 * ph).sin();
            }
            if let Some(out) = p.push(&frame) {
                total += out.payload().len();
            }
        }
        total
    }

    #[test]
    fn heavy_reported_loss_lowers_the_opus_rate() {
        let mut p = Packer::new(CodecKind::Opus, 111, 20).expect("opus");
        let _ = bytes_for_two_seconds(&mut p, 0);
        let before = bytes_for_two_seconds(&mut p, 96_000);
        for _ in 0..5 {
            p.on_peer_loss(255);
        }
        let _ = bytes_for_two_seconds(&mut p, 192_000);
        let after = bytes_for_two_seconds(&mut p, 288_000);
        assert_eq!(p.errors(), 0);
        assert!(
            (after as f64) < 0.8 * before as f64,
            "{before} bytes before, {after} after the reports"
        );
    }

    #[test]
    fn skipped_ticks_and_a_half_packet_travel_with_the_next_packet() {
        let mut p = Packer::new(CodecKind::Pcmu, 0, 20).expect("pcmu");
        let frame = [0.0f32; FRAME_SAMPLES];
        assert!(p.push(&frame).is_none());
        let whole = p.push(&frame).expect("a 20 ms packet");
        assert_eq!(whole.skipped, 0);
        // One frame into the next packet, then the clock skips 30 ticks.
        assert!(p.push(&frame).is_none());
        p.skip(30);
        assert!(p.push(&frame).is_none(), "the half packet was dropped");
        let after = p.push(&frame).expect("the first packet after the gap");
        assert_eq!(after.skipped, 31 * 80, "30 ticks and the dropped frame");
        assert_eq!(after.step, 160);
        assert!(p.push(&frame).is_none());
        assert_eq!(p.push(&frame).expect("next").skipped, 0, "told once");
    }

    #[test]
    fn g711_ignores_loss_reports() {
        let mut p = Packer::new(CodecKind::Pcmu, 0, 20).expect("pcmu");
        p.on_peer_loss(200);
        assert_eq!(bytes_for_two_seconds(&mut p, 0), 16_000);
        assert_eq!(p.errors(), 0);
    }
}
