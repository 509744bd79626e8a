//! A call leg's audio half, and the ring ends its network half keeps.

use crate::chain::Recovery;
use crate::clean::Cleaner;
use crate::listen::{Heard, Listener};
use crate::packer::Packer;
use crate::rings::{
    inbound_ring, inbound_ring_sized, outbound_ring, InboundReceiver, InboundSender, InboundSize,
    OutboundReceiver, OutboundSender, Received,
};
use agentphone_audio::Frame;
use agentphone_media::jitter::JitterStats;
use std::time::Instant;

/// Items the inbound ring holds: 1.28 s of 10 ms packets, well above the largest
/// jitter-buffer delay, so a stalled audio thread loses packets only after that.
pub const INBOUND_SLOTS: usize = 128;
/// Encoded packets waiting for the network half: 320 ms of 20 ms packets.
pub const OUTBOUND_SLOTS: usize = 16;

/// The network half's ends of a leg's rings.
pub struct LegRings {
    /// Received payloads (and receive chains) toward the audio thread.
    pub inbound: InboundSender,
    /// Encoded payloads from the audio thread, to packetise and send.
    pub outbound: OutboundReceiver,
}

impl Drop for LegAudio {
    fn drop(&mut self) {
        if let Some(w) = &self.waker {
            w();
        }
    }
}

/// The audio half of a leg: receive chain, noise removal, encoder.
pub struct LegAudio {
    inbound: InboundReceiver,
    outbound: OutboundSender,
    listener: Listener,
    cleaner: Cleaner,
    packer: Box<Packer>,
    /// Encoded packets the network half did not take in time (dropped).
    send_overflow: u64,
    /// Tells the network half that packets wait (see [`LegAudio::with_waker`]).
    waker: Option<Box<dyn Fn() + Send>>,
    /// A packet went out since the last [`LegAudio::wake`].
    produced: bool,
}

/// What the audio half counted over the leg's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegFigures {
    /// Jitter buffer figures (None when no audio arrived).
    pub jitter: Option<JitterStats>,
    /// FEC rebuilds, concealment and time stretching of what was heard.
    pub recovery: Recovery,
    /// Payloads that would not decode.
    pub decode_errors: u64,
    /// Frames that would not encode.
    pub encode_errors: u64,
    /// Noise removal: (frames cleaned, of those speech), None when never on.
    pub cleaned: Option<(u64, u64)>,
    /// Encoded packets dropped because the network half fell behind.
    pub send_overflow: u64,
}

impl LegAudio {
    /// A leg that encodes with `packer` and cleans what it hears with `cleaner`
    /// (switched on or off later by [`crate::Command::Denoise`]).
    pub fn new(packer: Packer, cleaner: Cleaner) -> (LegAudio, LegRings) {
        Self::with_rings(packer, cleaner, inbound_ring(INBOUND_SLOTS))
    }

    /// Like [`LegAudio::new`] with an inbound ring of `size` (sized for the
    /// negotiated codecs: see [`InboundSize::for_stream`]).
    pub fn with_inbound(
        packer: Packer,
        cleaner: Cleaner,
        size: InboundSize,
    ) -> (LegAudio, LegRings) {
        Self::with_rings(packer, cleaner, inbound_ring_sized(size))
    }

    fn with_rings(
        packer: Packer,
        cleaner: Cleaner,
        (in_tx, in_rx): (InboundSender, InboundReceiver),
    ) -> (LegAudio, LegRings) {
        let (out_tx, out_rx) = outbound_ring(OUTBOUND_SLOTS);
        (
            LegAudio {
                inbound: in_rx,
                outbound: out_tx,
                listener: Listener::new(),
                cleaner,
                packer: Box::new(packer),
                send_overflow: 0,
                waker: None,
                produced: false,
            },
            LegRings {
                inbound: in_tx,
                outbound: out_rx,
            },
        )
    }

    /// Calls `waker` after a tick that gave the network half a packet (and once
    /// when the audio half is dropped, so the network half learns it is gone),
    /// instead of the network half waking every tick to look.
    pub fn with_waker(mut self, waker: Box<dyn Fn() + Send>) -> Self {
        self.waker = Some(waker);
        self
    }

    /// Wakes the network half when this tick gave it a packet.
    pub(crate) fn wake(&mut self) {
        if std::mem::take(&mut self.produced) {
            if let Some(w) = &self.waker {
                w();
            }
        }
    }

    /// Drains the inbound ring into the jitter buffer, then fills `frame` with
    /// what the peer says now, cleaned when the policy says so. Returns whether
    /// real audio played, and a chain replaced by a codec change (to drop off
    /// the audio thread; draining stops after one, the rest waits a tick).
    pub(crate) fn hear(
        &mut self,
        now: Instant,
        frame: &mut Frame,
        scratch: &mut [f32],
    ) -> (bool, Option<Box<crate::chain::Chain>>) {
        let mut retired = None;
        let (listener, packer) = (&mut self.listener, &mut self.packer);
        while let Ok(replaced) = self.inbound.pop_with(|item| {
            if let Received::PeerLoss { fraction_lost } = item {
                packer.on_peer_loss(fraction_lost);
                return None;
            }
            listener.accept(item)
        }) {
            if replaced.is_some() {
                retired = replaced;
                break;
            }
        }
        let heard = self.listener.play(now, frame, scratch);
        self.cleaner.process(frame);
        (heard == Heard::Audio, retired)
    }

    /// Encodes what the peer should hear at audio tick `tick`; a complete
    /// packet goes to the network half.
    pub(crate) fn say(&mut self, now: Instant, tick: u64, frame: &Frame) {
        if let Some(mut packet) = self.packer.push_at(tick, frame) {
            packet.made = Some(now);
            if !self.outbound.push(&packet) {
                self.send_overflow += 1;
            } else {
                self.produced = true;
            }
        }
    }

    pub(crate) fn packer_kind(&self) -> agentphone_media::codec::CodecKind {
        self.packer.kind()
    }

    pub(crate) fn packer_mut(&mut self) -> &mut Packer {
        &mut self.packer
    }

    pub(crate) fn cleaner_mut(&mut self) -> &mut Cleaner {
        &mut self.cleaner
    }

    /// Swaps the encoder (codec change); returns the old one.
    pub(crate) fn swap_packer(&mut self, packer: Box<Packer>) -> Box<Packer> {
        std::mem::replace(&mut self.packer, packer)
    }

    /// What was counted so far.
    pub fn figures(&self) -> LegFigures {
        LegFigures {
            jitter: self.listener.stats(),
            recovery: self.listener.recovery(),
            decode_errors: self.listener.decode_errors,
            encode_errors: self.packer.errors(),
            cleaned: self.cleaner.figures(),
            send_overflow: self.send_overflow,
        }
    }
}
