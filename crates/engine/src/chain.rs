//! The receive chain of one payload type: its jitter buffer and decoder. The
//! network half builds one when a payload type first arrives (allocation happens
//! there); the audio half pops and decodes from it on the audio clock.

use agentphone_media::codec::{CodecError, CodecKind, Decoder};
use agentphone_media::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use std::time::{Duration, Instant};

/// Jitter buffer and decoder for one payload type.
pub struct Chain {
    payload_type: u8,
    jitter: JitterBuffer,
    decoder: Decoder,
    /// 48 kHz samples in one of the peer's packets (its packet time, which need
    /// not be ours).
    packet_samples: usize,
}

/// What one pull out of the chain gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pulled {
    /// Not playing yet (still filling to the target delay): nothing written.
    Nothing,
    /// A packet decoded: this many samples.
    Audio(usize),
    /// A gap filled by FEC or concealment: this many samples.
    Concealed(usize),
}

impl Chain {
    /// A chain for `kind` at `payload_type` whose packets hold `packet_samples`
    /// at 48 kHz; the jitter buffer stays between `min_delay` and `max_delay`.
    pub fn new(
        payload_type: u8,
        kind: CodecKind,
        packet_samples: usize,
        (min_delay, max_delay): (Duration, Duration),
    ) -> Result<Self, CodecError> {
        let clock = kind.info().clock_rate;
        // The jitter buffer counts in whole milliseconds; Opus's 2.5 ms frames
        // round up, which only makes its pacing slightly conservative.
        let packet_ms = (packet_samples as u32).div_ceil(48).max(1);
        // Room for the largest delay twice over (a burst arriving at once).
        let capacity = (2 * max_delay.as_millis() as usize / packet_ms as usize + 16).max(64);
        Ok(Chain {
            payload_type,
            jitter: JitterBuffer::new(JitterConfig {
                silence: Some(kind.silence_detector()),
                min_delay,
                max_delay,
                capacity,
                ..JitterConfig::new(clock, packet_ms)
            }),
            decoder: Decoder::new(kind)?,
            packet_samples,
        })
    }

    /// The payload type this chain decodes.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// The jitter buffer's figures.
    pub fn stats(&self) -> JitterStats {
        self.jitter.stats()
    }

    /// Hands a payload that arrived at `arrival` to the jitter buffer.
    pub fn push(&mut self, arrival: Instant, seq: u16, ts: u32, payload: &[u8]) {
        self.jitter.push(arrival, seq, ts, payload);
    }

    /// A new stream: forget the old one's history.
    pub fn restart(&mut self) {
        self.jitter.reset();
        let _ = self.decoder.reset();
    }

    /// Takes the next packet time out of the jitter buffer into `pcm`: the
    /// decoded packet, its FEC rebuild, or concealment. `errors` counts payloads
    /// that would not decode (heard as silence of the packet's length).
    pub fn pull(&mut self, now: Instant, pcm: &mut [f32], errors: &mut u64) -> Pulled {
        let n = self.packet_samples.min(pcm.len());
        let (decoded, real) = match self.jitter.pop(now) {
            Playout::Packet { payload, .. } => (self.decoder.decode(payload, pcm), true),
            // Opus carries the lost packet's audio inside the next one (in-band
            // FEC); G.711 falls back to concealment there too.
            Playout::Missing {
                next: Some(next), ..
            } => (self.decoder.decode_fec(next, &mut pcm[..n]), false),
            Playout::Missing { next: None, .. } => (self.decoder.conceal(&mut pcm[..n]), false),
            Playout::Empty => return Pulled::Nothing,
        };
        let got = match decoded {
            Ok(got) if got > 0 => got.min(pcm.len()),
            Ok(_) | Err(_) => {
                *errors += 1;
                pcm[..n].fill(0.0);
                n
            }
        };
        if real {
            Pulled::Audio(got)
        } else {
            Pulled::Concealed(got)
        }
    }
}
