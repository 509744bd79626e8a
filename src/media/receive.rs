//! Receive path of one call: RTP in → latching and SSRC tracking → the codec's
//! jitter buffer and decoder (Opus FEC or concealment for gaps) → noise removal
//! (R-NR-3, inbound) → what the agent hears. RFC 4733 events become digits.
//!
//! Buffers are allocated when the call starts; the per-packet path does not
//! allocate (the received-digit string has a fixed capacity).

use super::clean::Cleaner;
use agentphone_audio::frame::FRAME_SAMPLES;
use agentphone_media::codec::{CodecKind, Decoder, MAX_PACKET_SAMPLES};
use agentphone_media::dtmf::DtmfReceiver;
use agentphone_media::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use agentphone_media::offer_answer::{NegotiatedMedia, PayloadFormat};
use agentphone_media::rtp_stream::{RtpDrop, RtpReceiver};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Digits kept for the call report; a peer sending more is not stored further.
const MAX_DIGITS: usize = 256;

/// The codec kind of a negotiated payload format (None for telephone-event).
pub(super) fn kind_of(format: &PayloadFormat) -> Option<CodecKind> {
    CodecKind::from_rtpmap(format.codec.encoding_name(), format.clock_rate)
}

/// Receive side for one codec: its payload type, jitter buffer and decoder.
struct Chain {
    payload_type: u8,
    jitter: JitterBuffer,
    decoder: Decoder,
    /// 48 kHz samples in one of the peer's packets (its packet time, which
    /// need not be ours).
    packet_samples: usize,
}

impl Chain {
    fn new(
        payload_type: u8,
        kind: CodecKind,
        packet_samples: usize,
        (min_delay, max_delay): (Duration, Duration),
    ) -> Result<Self> {
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
            decoder: Decoder::new(kind).context("create decoder")?,
            packet_samples,
        })
    }

    /// Takes the next packet time out of the jitter buffer into `pcm`: the
    /// decoded packet, its FEC rebuild, or concealment. Returns the samples
    /// written, 0 while the buffer is not playing yet; `errors` counts payloads
    /// that would not decode (heard as silence of the packet's length).
    fn pull(&mut self, now: Instant, pcm: &mut [f32], errors: &mut u64) -> usize {
        let n = self.packet_samples.min(pcm.len());
        let decoded = match self.jitter.pop(now) {
            Playout::Packet { payload, .. } => self.decoder.decode(payload, pcm),
            // Opus carries the lost packet's audio inside the next one
            // (in-band FEC); G.711 falls back to concealment there too.
            Playout::Missing {
                next: Some(next), ..
            } => self.decoder.decode_fec(next, &mut pcm[..n]),
            Playout::Missing { next: None, .. } => self.decoder.conceal(&mut pcm[..n]),
            Playout::Empty => return 0,
        };
        match decoded {
            Ok(got) if got > 0 => got.min(pcm.len()),
            Ok(_) | Err(_) => {
                *errors += 1;
                pcm[..n].fill(0.0);
                n
            }
        }
    }
}

/// Everything between the RTP socket and what the agent hears.
pub(super) struct ReceivePath {
    receiver: RtpReceiver,
    accepted: Vec<PayloadFormat>,
    chain: Option<Chain>,
    /// Jitter figures of chains replaced by a codec change, so the report
    /// covers the whole call.
    earlier: Option<JitterStats>,
    dtmf: DtmfReceiver,
    digits: String,
    cleaner: Option<Cleaner>,
    /// Jitter-buffer delay bounds for each codec's chain.
    jitter: (Duration, Duration),
    /// Decoded audio not played yet: a packet longer than our packet time
    /// leaves its tail here for the next tick.
    pending: Vec<f32>,
    pending_len: usize,
    decode_errors: u64,
}

impl ReceivePath {
    /// `cleaner`: clean what is heard (R-NR-3); `jitter`: the jitter
    /// buffer's smallest and largest delay.
    pub(super) fn new(
        negotiated: &NegotiatedMedia,
        cleaner: Option<Cleaner>,
        jitter: (Duration, Duration),
    ) -> Self {
        ReceivePath {
            receiver: RtpReceiver::new(&negotiated.accepted),
            accepted: negotiated.accepted.clone(),
            chain: None,
            earlier: None,
            dtmf: DtmfReceiver::new(),
            digits: String::with_capacity(MAX_DIGITS),
            cleaner,
            jitter,
            pending: vec![0.0; MAX_PACKET_SAMPLES],
            pending_len: 0,
            decode_errors: 0,
        }
    }

    /// A re-negotiation (re-INVITE, or the final answer after early media): new
    /// payload types, and a new latch when the peer's media moved.
    pub(super) fn update(&mut self, negotiated: &NegotiatedMedia) {
        self.receiver.set_payload_types(&negotiated.accepted);
        self.accepted = negotiated.accepted.clone();
        if self
            .receiver
            .latched()
            .is_some_and(|a| a != negotiated.remote_rtp)
        {
            self.receiver.relatch(negotiated.remote_rtp);
        }
    }

    /// The RTP receiver (RTCP reads and resets its statistics).
    pub(super) fn receiver_mut(&mut self) -> &mut RtpReceiver {
        &mut self.receiver
    }

    /// The RTP receiver, read-only.
    pub(super) fn receiver(&self) -> &RtpReceiver {
        &self.receiver
    }

    /// Handles one datagram from the RTP socket; returns a newly pressed digit.
    pub(super) fn on_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Option<char> {
        let got = match self.receiver.receive(now, from, datagram) {
            Ok(got) => got,
            Err(drop) => {
                // The first packet from a stranger is worth a line (a PBX moving
                // media without a re-INVITE, or someone probing); the rest are
                // counted in the call's report.
                let first_stranger = matches!(drop, RtpDrop::OtherSource { .. })
                    && self.receiver.drops().other_source == 1;
                if first_stranger {
                    tracing::info!("ignoring {drop} (counted from now on)");
                } else {
                    tracing::trace!(%from, "RTP dropped: {drop}");
                }
                return None;
            }
        };
        let header = got.packet.header;
        if got.ssrc_changed || got.sequence_restarted {
            // A new stream (PBX bridge, transfer): old history would only
            // confuse the buffer, the decoder and the event de-duplication.
            self.dtmf.reset();
            if let Some(chain) = &mut self.chain {
                chain.jitter.reset();
                let _ = chain.decoder.reset();
            }
        }
        if got.is_event {
            let digit = match self.dtmf.on_payload(header.timestamp, got.packet.payload) {
                Ok(d) => d?.digit,
                Err(e) => {
                    tracing::debug!("bad telephone-event payload: {e}");
                    return None;
                }
            };
            if self.digits.len() < MAX_DIGITS {
                self.digits.push(digit);
            }
            return Some(digit);
        }
        let pt = header.payload_type;
        if self.chain.as_ref().is_none_or(|c| c.payload_type != pt) {
            // First packet, or the peer switched codec: a fresh chain for it.
            let kind = self
                .accepted
                .iter()
                .find(|f| f.payload_type == pt)
                .and_then(kind_of)?;
            let Some(samples) = kind.packet_samples(got.packet.payload) else {
                self.decode_errors += 1;
                return None;
            };
            match Chain::new(pt, kind, samples, self.jitter) {
                Ok(chain) => {
                    if let Some(old) = self.chain.replace(chain) {
                        self.earlier = Some(merge(self.earlier, old.jitter.stats()));
                    }
                    self.pending_len = 0;
                }
                Err(e) => {
                    tracing::warn!("cannot decode payload type {pt}: {e:#}");
                    return None;
                }
            }
        }
        if let Some(chain) = &mut self.chain {
            chain
                .jitter
                .push(now, header.sequence, header.timestamp, got.packet.payload);
        }
        None
    }

    /// Fills `out` (one packet time at 48 kHz, a whole number of 10 ms frames)
    /// with what the agent hears now: decoded, concealed or silence, then cleaned.
    /// The peer's packets may be longer or shorter than ours: packets are taken
    /// out of the jitter buffer as the audio is needed.
    pub(super) fn play(&mut self, now: Instant, out: &mut [f32]) {
        let mut filled = 0;
        while filled < out.len() {
            if self.pending_len == 0 {
                let got = match &mut self.chain {
                    Some(chain) => chain.pull(now, &mut self.pending, &mut self.decode_errors),
                    None => 0,
                };
                if got == 0 {
                    // Not playing yet (or no stream): silence for the rest.
                    out[filled..].fill(0.0);
                    break;
                }
                self.pending_len = got;
            }
            let take = self.pending_len.min(out.len() - filled);
            out[filled..filled + take].copy_from_slice(&self.pending[..take]);
            self.pending.copy_within(take..self.pending_len, 0);
            self.pending_len -= take;
            filled += take;
        }
        if let Some(cleaner) = &mut self.cleaner {
            for frame in out.chunks_exact_mut(FRAME_SAMPLES) {
                cleaner.process(frame);
            }
        }
    }

    /// Payloads that would not decode (each heard as silence).
    pub(super) fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Digits received so far.
    pub(super) fn digits(&self) -> &str {
        &self.digits
    }

    /// Jitter buffer figures over the whole call (None before any audio).
    pub(super) fn jitter_stats(&self) -> Option<JitterStats> {
        match (&self.chain, self.earlier) {
            (Some(c), Some(e)) => Some(merge(Some(e), c.jitter.stats())),
            (Some(c), None) => Some(c.jitter.stats()),
            (None, e) => e,
        }
    }

    /// Noise removal figures, when it is on.
    pub(super) fn cleaner(&self) -> Option<&Cleaner> {
        self.cleaner.as_ref()
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
