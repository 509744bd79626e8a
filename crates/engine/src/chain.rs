//! The receive chain of one payload type: its jitter buffer and decoder. The
//! network half builds one when a payload type first arrives (allocation happens
//! there); the audio half pops and decodes from it on the audio clock.

use agentphone_media::codec::{CodecError, CodecKind, Decoder, MAX_PAYLOAD_BYTES};
use agentphone_media::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use agentphone_media::stretch::{room_to_lengthen, Stretch, TimeStretcher};

/// Payload bytes a millisecond of `kind` is given room for in the jitter
/// buffer and the inbound ring: G.711 takes exactly 8; Opus is given 16
/// (128 kbit/s, four times what a voice call sends); a faster Opus stream
/// fills them sooner and holds less delay (at 256 kbit/s still twice the
/// 200 ms default).
pub fn payload_bytes_per_ms(kind: CodecKind) -> usize {
    match kind {
        CodecKind::Pcmu | CodecKind::Pcma => 8,
        CodecKind::Opus => 16,
    }
}
use std::time::{Duration, Instant};

/// How the gaps and delay moves of a stream were played, for the media report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Lost packets rebuilt from the next packet's in-band FEC (Opus).
    pub fec_frames: u64,
    /// Lost packets played from the RFC 2198 redundant copy a later packet
    /// carried (whole packets, not FEC's lower-rate rebuild).
    pub red_frames: u64,
    /// Lost or late packets concealed (PLC) instead.
    pub concealed_frames: u64,
    /// Of those, the ones bridged into the packet after them, which was
    /// already here (G.711: see `plc::G711Plc::conceal_before`).
    pub bridged_frames: u64,
    /// 48 kHz samples added by lengthening speech (the buffer growing).
    pub lengthened_samples: u64,
    /// 48 kHz samples removed by shortening speech (the buffer shrinking).
    pub shortened_samples: u64,
    /// Packet times played as the peer's RFC 3389 comfort noise (its CN
    /// packets and the pauses in transmission after them), not concealed.
    pub comfort_noise_frames: u64,
}

impl Recovery {
    /// Sum of two streams' figures (a codec change mid-call).
    pub fn plus(self, o: Recovery) -> Recovery {
        Recovery {
            fec_frames: self.fec_frames + o.fec_frames,
            red_frames: self.red_frames + o.red_frames,
            concealed_frames: self.concealed_frames + o.concealed_frames,
            bridged_frames: self.bridged_frames + o.bridged_frames,
            lengthened_samples: self.lengthened_samples + o.lengthened_samples,
            shortened_samples: self.shortened_samples + o.shortened_samples,
            comfort_noise_frames: self.comfort_noise_frames + o.comfort_noise_frames,
        }
    }

    /// Milliseconds added by lengthening.
    pub fn lengthened_ms(&self) -> u64 {
        self.lengthened_samples / 48
    }

    /// Milliseconds removed by shortening.
    pub fn shortened_ms(&self) -> u64 {
        self.shortened_samples / 48
    }
}

/// Jitter buffer and decoder for one payload type.
pub struct Chain {
    payload_type: u8,
    jitter: JitterBuffer,
    decoder: Decoder,
    stretcher: TimeStretcher,
    recovery: Recovery,
    /// 48 kHz samples in one of the peer's packets (its packet time, which need
    /// not be ours). Longer packets need a new chain (see [`Chain::fits`]).
    packet_samples: usize,
    /// Decoded audio of the packet being played, with room to lengthen it.
    decoded: Box<[f32]>,
    /// (sequence number, timestamp) of the latest CN packets pushed: they
    /// share the jitter buffer (and the sequence numbers) with the audio.
    cn_marks: [Option<(u16, u32)>; CN_MARKS],
    cn_next: usize,
}

/// CN packets remembered: a peer sends one at the start of each pause and
/// a few updates, far fewer than a jitter buffer holds at once.
const CN_MARKS: usize = 8;

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
        // Each slot holds a whole payload, so slots are most of a call's
        // memory: no more than that.
        let capacity = (2 * max_delay.as_millis() as usize / packet_ms as usize + 16).max(32);
        // Payload bytes come from one arena sized by the packet time: a G.711
        // payload is exactly 8 bytes a millisecond (a longer packet gets a new
        // chain); an Opus one varies with the bit rate, up to what fits a
        // datagram.
        let bytes_per_ms = payload_bytes_per_ms(kind);
        let max_payload = match kind {
            CodecKind::Pcmu | CodecKind::Pcma => bytes_per_ms * packet_samples.div_ceil(48),
            CodecKind::Opus => MAX_PAYLOAD_BYTES,
        };
        Ok(Chain {
            payload_type,
            jitter: JitterBuffer::new(JitterConfig {
                silence: Some(kind.silence_detector()),
                min_delay,
                max_delay,
                capacity,
                max_payload,
                payload_bytes: Some(capacity * packet_ms as usize * bytes_per_ms),
                fec: kind == CodecKind::Opus,
                stretch: true,
                ..JitterConfig::new(clock, packet_ms)
            }),
            decoder: Decoder::new(kind)?,
            stretcher: TimeStretcher::for_packets(packet_samples),
            recovery: Recovery::default(),
            packet_samples,
            decoded: vec![0.0; room_to_lengthen(packet_samples)].into_boxed_slice(),
            cn_marks: [None; CN_MARKS],
            cn_next: 0,
        })
    }

    /// Whether packets of `samples` (48 kHz) fit this chain; a longer one
    /// (the peer lengthened its packet time) needs a new chain.
    pub fn fits(&self, samples: usize) -> bool {
        samples <= self.packet_samples
    }

    /// Like [`Chain::pull`] into the chain's own buffer, read back with
    /// [`Chain::decoded_mut`].
    pub fn pull_decoded(&mut self, now: Instant, errors: &mut u64) -> Pulled {
        // Taking an empty slice's place allocates nothing.
        let mut decoded = std::mem::take(&mut self.decoded);
        let pulled = self.pull(now, &mut decoded, errors);
        self.decoded = decoded;
        pulled
    }

    /// What the last [`Chain::pull_decoded`] wrote.
    pub fn decoded_mut(&mut self) -> &mut [f32] {
        &mut self.decoded
    }

    /// The payload type this chain decodes.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// The jitter buffer's figures.
    pub fn stats(&self) -> JitterStats {
        self.jitter.stats()
    }

    /// How gaps and delay moves were played.
    pub fn recovery(&self) -> Recovery {
        Recovery {
            red_frames: self.jitter.stats().redundant,
            ..self.recovery
        }
    }

    /// Hands a payload that arrived at `arrival` to the jitter buffer.
    pub fn push(&mut self, arrival: Instant, seq: u16, ts: u32, payload: &[u8]) {
        self.jitter.push(arrival, seq, ts, payload);
    }

    /// Hands an RFC 2198 redundant copy of packet `seq` to the jitter
    /// buffer: it takes the packet's place only if that was lost.
    pub fn push_redundant(&mut self, arrival: Instant, seq: u16, ts: u32, payload: &[u8]) {
        self.jitter.push_redundant(arrival, seq, ts, payload);
    }

    /// Hands an RFC 3389 comfort noise payload (CN/8000) to the jitter
    /// buffer, in sequence with the audio; dropped unless this chain decodes
    /// G.711 (the only codec at CN's 8 kHz clock we take).
    pub fn push_comfort_noise(&mut self, arrival: Instant, seq: u16, ts: u32, payload: &[u8]) {
        if !matches!(self.decoder.kind(), CodecKind::Pcmu | CodecKind::Pcma) {
            return;
        }
        self.cn_marks[self.cn_next] = Some((seq, ts));
        self.cn_next = (self.cn_next + 1) % CN_MARKS;
        self.jitter.push(arrival, seq, ts, payload);
    }

    /// A new stream: forget the old one's history.
    pub fn restart(&mut self) {
        self.jitter.reset();
        self.cn_marks = [None; CN_MARKS];
        let _ = self.decoder.reset();
    }

    /// Takes the next packet time out of the jitter buffer into `pcm`: the
    /// decoded packet (time-stretched when the buffer moves its delay), its FEC
    /// rebuild, or concealment. `now` is when its first sample will be heard.
    /// `errors` counts payloads that would not decode (heard as silence of the
    /// packet's length).
    pub fn pull(&mut self, now: Instant, pcm: &mut [f32], errors: &mut u64) -> Pulled {
        let n = self.packet_samples.min(pcm.len());
        let (decoded, stretch) = match self.jitter.pop(now) {
            // The peer's comfort noise, then its pause in transmission: noise
            // at the level it asked for, and no concealment.
            Playout::Packet {
                payload, seq, ts, ..
            } if self.cn_marks.contains(&Some((seq, ts))) => {
                self.recovery.comfort_noise_frames += 1;
                (
                    self.decoder.decode_comfort_noise(payload, &mut pcm[..n]),
                    None,
                )
            }
            Playout::Missing { .. } if self.decoder.in_comfort_noise() => {
                self.recovery.comfort_noise_frames += 1;
                (self.decoder.conceal(&mut pcm[..n]), None)
            }
            Playout::Packet {
                payload, stretch, ..
            } => (self.decoder.decode(payload, pcm), Some(stretch)),
            // Opus carries the lost packet's audio inside the next one (in-band
            // FEC); G.711 conceals, bridging the gap into the next packet.
            Playout::Missing {
                next: Some(next), ..
            } => {
                if self.decoder.kind() == CodecKind::Opus {
                    self.recovery.fec_frames += 1;
                } else {
                    self.recovery.concealed_frames += 1;
                    self.recovery.bridged_frames += 1;
                }
                (self.decoder.decode_fec(next, &mut pcm[..n]), None)
            }
            Playout::Missing { .. } => {
                self.recovery.concealed_frames += 1;
                (self.decoder.conceal(&mut pcm[..n]), None)
            }
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
        match stretch {
            Some(how) => {
                let played = self.stretcher.apply(how, pcm, got);
                match how {
                    Stretch::Lengthen => {
                        self.recovery.lengthened_samples += played.saturating_sub(got) as u64
                    }
                    Stretch::Shorten => {
                        self.recovery.shortened_samples += got.saturating_sub(played) as u64
                    }
                    Stretch::None => {}
                }
                Pulled::Audio(played)
            }
            None => Pulled::Concealed(got),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentphone_media::codec::{Encoder, MAX_PACKET_SAMPLES};

    const PACKET: usize = 960;

    /// PCMU packets (20 ms) of a voiced-like tone whose pitch glides, so the
    /// waveform after a gap differs from the one before it.
    fn packets(count: usize) -> Vec<Vec<u8>> {
        let mut enc = Encoder::new(CodecKind::Pcmu, 20).expect("PCMU encoder");
        let mut phase = 0.0f32;
        (0..count)
            .map(|k| {
                let pcm: Vec<f32> = (0..PACKET)
                    .map(|i| {
                        let f = 140.0 + 60.0 * ((k * PACKET + i) as f32 / 48_000.0);
                        phase += 2.0 * std::f32::consts::PI * f / 48_000.0;
                        8_000.0 * phase.sin() + 3_000.0 * (2.0 * phase).sin()
                    })
                    .collect();
                let mut out = [0u8; 160];
                let n = enc.encode(&pcm, &mut out).expect("encode");
                out[..n].to_vec()
            })
            .collect()
    }

    /// Plays `packets` through a PCMU chain on a fake clock, packet `k`
    /// arriving at `k` × 20 ms unless `lost(k)`, slot `k` played 30 ms later.
    /// Returns each pull's samples and the chain's figures.
    fn play(packets: &[Vec<u8>], lost: impl Fn(usize) -> bool) -> (Vec<Vec<f32>>, Recovery, u64) {
        let ms = |m: u64| Duration::from_millis(m);
        let mut chain =
            Chain::new(0, CodecKind::Pcmu, PACKET, (ms(20), ms(200))).expect("PCMU chain");
        let t0 = Instant::now();
        let mut pcm = vec![0.0f32; MAX_PACKET_SAMPLES];
        let mut errors = 0;
        let mut pulls = Vec::new();
        for (k, p) in packets.iter().enumerate() {
            let at = t0 + ms(20 * k as u64);
            if !lost(k) {
                chain.push(at, k as u16, (160 * k) as u32, p);
            }
            match chain.pull(at + ms(10), &mut pcm, &mut errors) {
                Pulled::Audio(n) | Pulled::Concealed(n) => pulls.push(pcm[..n].to_vec()),
                Pulled::Nothing => {}
            }
        }
        assert_eq!(errors, 0);
        (pulls, chain.recovery(), chain.stats().lost)
    }

    #[test]
    fn a_lost_pcmu_packet_is_concealed_once_and_bridged_into_the_next() {
        let p = packets(40);
        let (clean, r, lost) = play(&p, |_| false);
        assert_eq!((r.concealed_frames, r.bridged_frames, lost), (0, 0, 0));
        let (lossy, r, lost) = play(&p, |k| k == 20);
        assert_eq!(clean.len(), lossy.len());
        assert_eq!(
            (r.concealed_frames, r.bridged_frames, r.fec_frames),
            (1, 1, 0)
        );
        assert_eq!(lost, 1);
        // The gap is one pull of exactly one packet, at the lost packet's place.
        let first_diff = (0..clean.len())
            .find(|&i| clean[i] != lossy[i])
            .expect("a gap");
        assert_eq!(lossy[first_diff].len(), PACKET);
        // Two packets on, nothing of the gap is left; the packet after it
        // starts with the concealment's last 3.75 ms (the PLC's delay) and the
        // resampler's memory of it, then plays as decoded: no merge with a
        // synthetic continuation (which would last 4 ms + 4 ms per lost frame
        // beyond that).
        for i in first_diff + 2..clean.len() {
            assert_eq!(clean[i], lossy[i], "pull {i}");
        }
        let after = &lossy[first_diff + 1];
        let last = after
            .iter()
            .zip(&clean[first_diff + 1])
            .rposition(|(a, b)| (a - b).abs() > 1.0);
        assert!(last.is_some_and(|l| l < 400), "differs up to {last:?}");
    }

    #[test]
    fn a_cn_packet_and_the_pause_after_it_play_comfort_noise_not_concealment() {
        // 20 packets of speech, a CN packet (−45 dBov, low-pass) at the
        // 21st's sequence number and timestamp, then nothing for 30 packet
        // times (the peer's DTX), then speech again: its sequence numbers
        // carry on from the CN packet's, its timestamps from the real time.
        let p = packets(60);
        let ms = |m: u64| Duration::from_millis(m);
        let mut chain =
            Chain::new(0, CodecKind::Pcmu, PACKET, (ms(20), ms(200))).expect("PCMU chain");
        let t0 = Instant::now();
        let mut pcm = vec![0.0f32; MAX_PACKET_SAMPLES];
        let mut errors = 0;
        let mut pulls = Vec::new();
        let mut seq = 0u16;
        for (k, packet) in p.iter().enumerate() {
            let at = t0 + ms(20 * k as u64);
            let ts = (160 * k) as u32;
            if !(20..51).contains(&k) {
                chain.push(at, seq, ts, packet);
                seq += 1;
            } else if k == 20 {
                chain.push_comfort_noise(at, seq, ts, &[45, 127 - 64]);
                seq += 1;
            }
            match chain.pull(at + ms(10), &mut pcm, &mut errors) {
                Pulled::Audio(n) => pulls.push((true, pcm[..n].to_vec())),
                Pulled::Concealed(n) => pulls.push((false, pcm[..n].to_vec())),
                Pulled::Nothing => {}
            }
        }
        assert_eq!(errors, 0);
        let r = chain.recovery();
        assert_eq!(
            r.concealed_frames, 0,
            "no PLC for a pause the peer announced"
        );
        assert_eq!(r.comfort_noise_frames, 31);
        let stats = chain.stats();
        assert_eq!((stats.lost, stats.late), (0, 0));
        // Nor did the pause grow the buffer: still at its 20 ms minimum.
        assert_eq!(stats.target_ms, 20);
        // The noise is heard at the packet's level (not silence, not the
        // speech before it), and it is not counted as the peer talking.
        let noise: Vec<f32> = pulls
            .iter()
            .filter(|(real, _)| !real)
            .skip(3)
            .take(25)
            .flat_map(|(_, x)| x.iter().copied())
            .collect();
        let rms = (noise.iter().map(|v| v * v).sum::<f32>() / noise.len() as f32).sqrt();
        let want = agentphone_media::cn::rms_of_level(45);
        let db = 20.0 * (rms / want).log10();
        assert!(
            db.abs() < 1.5,
            "comfort noise at {db:.1} dB from the CN level"
        );
        // Speech comes back after it.
        let last = &pulls.last().expect("pulls").1;
        let speech = (last.iter().map(|v| v * v).sum::<f32>() / last.len() as f32).sqrt();
        assert!(speech > 3_000.0, "speech after the pause: {speech}");
    }

    #[test]
    fn cn_is_ignored_by_a_chain_that_is_not_g711() {
        let ms = |m: u64| Duration::from_millis(m);
        let mut chain =
            Chain::new(111, CodecKind::Opus, PACKET, (ms(20), ms(200))).expect("Opus chain");
        chain.push_comfort_noise(Instant::now(), 1, 0, &[40]);
        assert_eq!(chain.stats().received, 0);
    }

    #[test]
    fn two_lost_packets_in_a_row_bridge_only_the_second() {
        let p = packets(40);
        let (_, r, lost) = play(&p, |k| k == 20 || k == 21);
        // The first has no next packet to bridge into; the second does.
        assert_eq!((r.concealed_frames, r.bridged_frames), (2, 1));
        assert_eq!(lost, 2);
    }
}
