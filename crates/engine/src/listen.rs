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
    /// `now` is when the frame's first sample plays.
    pub(crate) fn play(&mut self, now: Instant, out: &mut Frame) -> Heard {
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
                match chain.pull_decoded(at, &mut self.decode_errors) {
                    Pulled::Nothing | Pulled::Audio(0) | Pulled::Concealed(0) => {
                        out[filled..].fill(0.0);
                        break;
                    }
                    Pulled::Audio(n) => (self.pending_len, self.pending_real) = (n, true),
                    Pulled::Concealed(n) => (self.pending_len, self.pending_real) = (n, false),
                }
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
