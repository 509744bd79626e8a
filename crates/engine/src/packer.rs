//! The send side of a leg's audio half: gathers 10 ms frames into the
//! negotiated packet time and encodes them. Built off the audio thread (an
//! encoder allocates) and swapped in when the codec changes.

use crate::packet::OutboundPacket;
use agentphone_audio::{Frame, FRAME_SAMPLES};
use agentphone_media::codec::{CodecError, CodecKind, Encoder};

/// Encoder for one negotiated send format.
pub struct Packer {
    encoder: Encoder,
    payload_type: u8,
    step: u32,
    pcm: Vec<f32>,
    filled: usize,
    errors: u64,
}

impl Packer {
    /// Encodes `kind` at `payload_type` in packets of `ptime_ms`.
    pub fn new(kind: CodecKind, payload_type: u8, ptime_ms: u32) -> Result<Self, CodecError> {
        let encoder = Encoder::new(kind, ptime_ms)?;
        Ok(Packer {
            pcm: vec![0.0; encoder.samples_per_packet()],
            encoder,
            payload_type,
            step: kind.timestamp_step(ptime_ms),
            filled: 0,
            errors: 0,
        })
    }

    /// The payload type it encodes for.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// The codec it encodes.
    pub fn kind(&self) -> CodecKind {
        self.encoder.kind()
    }

    /// Sets the encoder's complexity (Opus; see [`Encoder::set_complexity`]).
    pub fn set_complexity(&mut self, complexity: i32) {
        let _ = self.encoder.set_complexity(complexity);
    }

    /// Frames that would not encode (counted, the packet is skipped).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Adds one frame; when a packet time is complete, returns it encoded.
    pub fn push(&mut self, frame: &Frame) -> Option<OutboundPacket> {
        let end = self.filled + FRAME_SAMPLES;
        if end > self.pcm.len() {
            // Packet times are whole multiples of 10 ms; never reached.
            self.filled = 0;
            return None;
        }
        self.pcm[self.filled..end].copy_from_slice(frame);
        self.filled = end;
        if self.filled < self.pcm.len() {
            return None;
        }
        self.filled = 0;
        let mut out = OutboundPacket::new(self.payload_type, self.step);
        match self.encoder.encode(&self.pcm, out.buffer_mut()) {
            Ok(n) => {
                out.set_len(n);
                Some(out)
            }
            Err(_) => {
                self.errors += 1;
                None
            }
        }
    }
}
