//! What crosses the rings between a leg's network half and its audio half.
//! A received packet's payload goes into the inbound byte ring as it is
//! (`InboundSender::push_packet`); these are the other items, and the
//! outbound packet, whose payload is a fixed array so encoding never
//! allocates.

use crate::chain::Chain;
use std::time::Instant;

/// Largest RTP payload carried (an Opus packet is at most 1275 bytes; 120 ms of
/// G.711 is 960).
pub const MAX_PAYLOAD: usize = 1_500;

/// From the network half to the audio half, besides packets.
pub enum Inbound {
    /// The receive chain for a new payload type (first packet, or the peer
    /// switched codec), built by the network half off the audio thread. Packets
    /// after it belong to it; the one it replaces is handed back.
    Chain(Box<Chain>),
    /// A new stream (SSRC changed, sequence restarted): the jitter buffer and the
    /// decoder start over.
    Restart,
    /// The far end's latest RTCP report about our stream: the fraction of our
    /// packets it lost (out of 256), for the encoder to adapt to.
    PeerLoss {
        /// RFC 3550 §6.4.1 fraction lost.
        fraction_lost: u8,
    },
}

/// What a received payload is to the receive chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PacketKind {
    /// Audio in the chain's codec.
    #[default]
    Audio,
    /// An RFC 3389 comfort noise payload.
    ComfortNoise,
    /// An RFC 2198 redundant copy of an earlier packet, taken out of a later
    /// one: it only fills that packet's place if the packet itself is lost.
    Redundant,
}

/// From the audio half to the network half: one packet time of encoded audio.
pub struct OutboundPacket {
    /// RTP payload type the encoder was built for.
    pub payload_type: u8,
    /// RTP timestamp units this payload covers.
    pub step: u32,
    /// RTP timestamp units of time that passed before this payload without
    /// being sent (the audio clock stalled and skipped ticks): the network half
    /// moves its timestamp on by this much and starts a talk spurt, so the far
    /// end's jitter buffer sees the gap as time, not as delay.
    pub skipped: u32,
    /// The tick that encoded it (stamped by the engine). A packet the network
    /// half gets much later (its thread was stalled) is stale: sent now it
    /// would read to the far end as network delay.
    pub made: Option<Instant>,
    len: u16,
    data: [u8; MAX_PAYLOAD],
}

impl OutboundPacket {
    /// An empty packet for `payload_type` covering `step` timestamp units.
    pub fn new(payload_type: u8, step: u32) -> Self {
        OutboundPacket {
            payload_type,
            step,
            skipped: 0,
            made: None,
            len: 0,
            data: [0; MAX_PAYLOAD],
        }
    }

    /// The encoded payload.
    pub fn payload(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }

    /// The buffer an encoder writes into; then [`set_len`](Self::set_len).
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// How many bytes of the buffer the encoder wrote.
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(MAX_PAYLOAD) as u16;
    }
}
