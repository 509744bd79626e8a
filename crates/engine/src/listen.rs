//! The receive side of a leg's audio half: drains the inbound ring into the
//! current chain and turns the peer's packets (whatever their length) into
//! 10 ms frames on the audio clock.

use crate::chain::{Chain, Pulled, Recovery};
use crate::packet::PacketKind;
use crate::rings::Received;
use agentphone_audio::{Frame, FRAME_SAMPLES};
use agentphone_media::jitter::JitterStats;
use std::time::{Duration, Instant};

/// What one frame of a leg held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    /// At least part of the frame came from a received packet.
    Audio,
    /// Concealment or silence only.
    Nothing,
}

pub(crate) struct Listener {
    chain: Option<Box<Chain>>,
    /// Figures of chains replaced by a codec change, so the report covers the
    /// whole call.
    earlier: Option<JitterStats>,
    earlier_recovery: Recovery,
    /// Decoded audio not played yet, at the start of the chain's buffer: a
    /// packet longer than a tick leaves its tail there for the next ones.
    pending_len: usize,
    pending_real: bool,
    pub(crate) decode_errors: u64,
}

impl Listener {
    pub(crate) fn new() -> Self {
        Listener {
            chain: None,
            earlier: None,
            earlier_recovery: Recovery::default(),
            pending_len: 0,
            pending_real: false,
            decode_errors: 0,
        }
    }

    /// Takes one item off the inbound ring; returns a chain that was replaced
    /// (to be dropped off the audio thread).
    pub(crate) fn accept(&mut self, item: Received<'_>) -> Option<Box<Chain>> {
        match item {
            Received::Packet {
                arrival: at,
                seq,
                ts,
                kind,
                payload,
            } => {
                if let Some(chain) = &mut self.chain {
                    match kind {
                        PacketKind::Audio => chain.push(at, seq, ts, payload),
                        PacketKind::ComfortNoise => chain.push_comfort_noise(at, seq, ts, payload),
                        PacketKind::Redundant => chain.push_redundant(at, seq, ts, payload),
                    }
                }
                None
            }
            Received::Chain(chain) => {
                self.pending_len = 0;
                let old = self.chain.replace(chain)?;
                self.earlier = Some(merge(self.earlier, old.stats()));
                self.earlier_recovery = self.earlier_recovery.plus(old.recovery());
                Some(old)
            }
            // The send side's business (see `LegAudio::hear`).
            Received::PeerLoss { .. } => None,
            Received::Restart => {
                if let Some(chain) = &mut self.chain {
                    chain.restart();
                }
                self.pending_len = 0;
                None
            }
        }
    }

    /// Fills `out` with what the peer says now: decoded, concealed or silence.
    /// `now` is when the frame's first sample plays. A packet is decoded into
    /// `scratch`, which every leg shares and so finds in the cache, and only
    /// what this frame does not take is kept in the chain's own buffer for
    /// the next ticks: decoding into that buffer wrote a whole packet to
    /// memory that had gone cold since the last one.
    pub(crate) fn play(&mut self, now: Instant, out: &mut Frame, scratch: &mut [f32]) -> Heard {
        let mut filled = 0;
        let mut heard = Heard::Nothing;
        while filled < FRAME_SAMPLES {
            let Some(chain) = self.chain.as_deref_mut() else {
                out[filled..].fill(0.0);
                break;
            };
            if self.pending_len == 0 {
                // A packet taken mid-frame starts playing that much later.
                let at = now + Duration::from_micros(filled as u64 * 1_000 / 48);
                // The chain's buffer bounds the packet (and its lengthening)
                // as when it was decoded there.
                let room = chain.decoded_mut().len().min(scratch.len());
                let decoded = &mut scratch[..room];
                let (n, real) = match chain.pull(at, decoded, &mut self.decode_errors) {
                    Pulled::Nothing | Pulled::Audio(0) | Pulled::Concealed(0) => {
                        out[filled..].fill(0.0);
                        break;
                    }
                    Pulled::Audio(n) => (n.min(room), true),
                    Pulled::Concealed(n) => (n.min(room), false),
                };
                self.pending_real = real;
                if real {
                    heard = Heard::Audio;
                }
                let take = n.min(FRAME_SAMPLES - filled);
                out[filled..filled + take].copy_from_slice(&decoded[..take]);
                chain.decoded_mut()[..n - take].copy_from_slice(&decoded[take..n]);
                self.pending_len = n - take;
                filled += take;
                continue;
            }
            if self.pending_real {
                heard = Heard::Audio;
            }
            let take = self.pending_len.min(FRAME_SAMPLES - filled);
            let pending = chain.decoded_mut();
            out[filled..filled + take].copy_from_slice(&pending[..take]);
            pending.copy_within(take..self.pending_len, 0);
            self.pending_len -= take;
            filled += take;
        }
        heard
    }

    /// Gap and delay-move figures over the whole call.
    pub(crate) fn recovery(&self) -> Recovery {
        match &self.chain {
            Some(c) => self.earlier_recovery.plus(c.recovery()),
            None => self.earlier_recovery,
        }
    }

    /// Jitter buffer figures over the whole call (None before any audio).
    pub(crate) fn stats(&self) -> Option<JitterStats> {
        match (&self.chain, self.earlier) {
            (Some(c), e) => Some(merge(e, c.stats())),
            (None, e) => e,
        }
    }
}

/// Adds a finished chain's counters to the running total; the delay figures are
/// the newer chain's.
fn merge(total: Option<JitterStats>, next: JitterStats) -> JitterStats {
    let Some(t) = total else { return next };
    JitterStats {
        received: t.received + next.received,
        played: t.played + next.played,
        late: t.late + next.late,
        lost: t.lost + next.lost,
        duplicates: t.duplicates + next.duplicates,
        reordered: t.reordered + next.reordered,
        concealed: t.concealed + next.concealed,
        dropped: t.dropped + next.dropped,
        resyncs: t.resyncs + next.resyncs,
        ..next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentphone_media::codec::{CodecKind, Encoder};

    const PACKET: usize = 1_440; // 30 ms: a packet's audio spans two ticks
    const DELAYS: (Duration, Duration) = (Duration::from_millis(40), Duration::from_millis(200));

    /// 30 ms PCMU packets of a gliding tone, with one lost, each arriving
    /// on time at `t0 + 30 ms · k`.
    fn packets() -> Vec<(u16, u32, Vec<u8>)> {
        let mut enc = Encoder::new(CodecKind::Pcmu, 30).expect("encoder");
        let mut phase = 0.0f64;
        (0..40u16)
            .filter(|&k| k != 17)
            .map(|k| {
                let pcm: Vec<f32> = (0..PACKET)
                    .map(|i| {
                        let f = 200.0 + 2.0 * f64::from(k) + i as f64 * 0.01;
                        phase += 2.0 * std::f64::consts::PI * f / 48_000.0;
                        (8_000.0 * phase.sin()) as f32
                    })
                    .collect();
                let mut out = [0u8; 1_500];
                let n = enc.encode(&pcm, &mut out).expect("encode");
                (k, u32::from(k) * 240, out[..n].to_vec())
            })
            .collect()
    }

    /// What a listener plays over `ticks` frames, with `scratch` filled with
    /// `poison` before every frame.
    fn listen(ticks: u32, poison: f32) -> Vec<f32> {
        let mut l = Listener::new();
        let chain = Chain::new(0, CodecKind::Pcmu, PACKET, DELAYS).expect("chain");
        assert!(l.accept(Received::Chain(Box::new(chain))).is_none());
        let t0 = Instant::now();
        let packets = packets();
        let mut next = packets.iter().peekable();
        let mut scratch = vec![0.0f32; 8_640];
        let mut played = Vec::new();
        for tick in 0..ticks {
            let now = t0 + Duration::from_millis(10 * u64::from(tick));
            while let Some((seq, ts, payload)) =
                next.next_if(|(seq, _, _)| t0 + Duration::from_millis(30 * u64::from(*seq)) <= now)
            {
                let _ = l.accept(Received::Packet {
                    arrival: now,
                    seq: *seq,
                    ts: *ts,
                    kind: PacketKind::Audio,
                    payload,
                });
            }
            scratch.fill(poison);
            let mut frame = [0.0f32; FRAME_SAMPLES];
            l.play(now, &mut frame, &mut scratch);
            played.extend_from_slice(&frame);
        }
        played
    }

    /// The same packets pulled from a chain directly, packet after packet.
    fn pulled(ticks: u32) -> Vec<f32> {
        let mut chain = Chain::new(0, CodecKind::Pcmu, PACKET, DELAYS).expect("chain");
        let t0 = Instant::now();
        let packets = packets();
        let mut next = packets.iter().peekable();
        let mut out: Vec<f32> = Vec::new();
        let mut errors = 0;
        let mut tick = 0u32;
        while tick < ticks {
            let now = t0 + Duration::from_millis(10 * u64::from(tick));
            while let Some((seq, ts, payload)) =
                next.next_if(|(seq, _, _)| t0 + Duration::from_millis(30 * u64::from(*seq)) <= now)
            {
                chain.push(now, *seq, *ts, payload);
            }
            // A packet is pulled when this frame needs more than is decoded,
            // to start playing where the audio so far ends.
            let start = tick as usize * FRAME_SAMPLES;
            if out.len() < start + FRAME_SAMPLES {
                let into = out.len().saturating_sub(start) as u64;
                let at = now + Duration::from_micros(into * 1_000 / 48);
                match chain.pull_decoded(at, &mut errors) {
                    Pulled::Audio(n) | Pulled::Concealed(n) if n > 0 => {
                        out.extend_from_slice(&chain.decoded_mut()[..n]);
                        continue;
                    }
                    _ => out.resize((tick as usize + 1) * FRAME_SAMPLES, 0.0),
                }
            }
            tick += 1;
        }
        out.truncate(ticks as usize * FRAME_SAMPLES);
        out
    }

    #[test]
    fn frames_carry_the_decoded_stream_unchanged_whatever_the_scratch_held() {
        let clean = listen(150, 0.0);
        assert!(clean.iter().any(|s| s.abs() > 1_000.0), "the tone plays");
        let bits = |x: &[f32]| x.iter().map(|s| s.to_bits()).collect::<Vec<u32>>();
        assert!(
            bits(&clean) == bits(&listen(150, f32::NAN)),
            "what the scratch held before a packet leaked into the frames"
        );
        let reference = pulled(150);
        let first = reference.iter().position(|s| *s != 0.0).expect("audio");
        assert_eq!(clean.iter().position(|s| *s != 0.0), Some(first));
        assert!(
            bits(&clean) == bits(&reference),
            "the frames are not the chain's stream cut in 10 ms pieces"
        );
    }
}
