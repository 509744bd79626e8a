//! Our incoming RTP stream: strict source latching (see [`super::source`]),
//! payload type filtering, SSRC change detection and receive statistics.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::header::{parse_rtp, RtpError, RtpPacket};
use super::source::{SourceGuard, SourceVerdict};
use super::stats::{ReceiveStats, SeqVerdict};
use crate::offer_answer::PayloadFormat;

/// How often at most a warning about packets from an unexpected address is logged.
const IGNORED_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// Why a received datagram was not handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpDrop {
    /// Not a valid RTP packet.
    #[error(transparent)]
    Malformed(#[from] RtpError),
    /// Came from an address other than the stream's source.
    #[error("RTP from {from}, which is not the stream's source")]
    OtherSource {
        /// Sender of the dropped packet.
        from: SocketAddr,
    },
    /// From an address the SDP did not name, still on probation.
    #[error("RTP from {from}, on probation as a new source")]
    Probation {
        /// Sender of the dropped packet.
        from: SocketAddr,
    },
    /// A payload type that was not negotiated.
    #[error("payload type {0} was not negotiated")]
    UnknownPayloadType(u8),
    /// A sequence jump RFC 3550 A.1 holds back until the next packet confirms it.
    #[error("sequence number {0} jumps too far; waiting for confirmation")]
    SequenceJump(u16),
}

/// A packet accepted by [`RtpReceiver::receive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    /// The packet, payload borrowed from the datagram.
    pub packet: RtpPacket<'a>,
    /// Clock rate of its payload type.
    pub clock_rate: u32,
    /// True if the payload type is telephone-event.
    pub is_event: bool,
    /// The source changed SSRC (restart, transfer, re-INVITE to another media
    /// server): the caller resets its jitter buffer.
    pub ssrc_changed: bool,
    /// The source restarted its sequence numbers within the same SSRC.
    pub sequence_restarted: bool,
}

/// Counts of dropped packets, for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Malformed datagrams.
    pub malformed: u64,
    /// Packets from another address than the stream's source (an injector,
    /// or the old address after a move).
    pub other_source: u64,
    /// Packets from a new address during its probation.
    pub probation: u64,
    /// Packets with a payload type that was not negotiated.
    pub unknown_payload_type: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct PtInfo {
    clock_rate: u32,
    is_event: bool,
}

/// Receiver for one RTP stream. Plain value: datagrams and their arrival instants in,
/// typed results out; no clock reads, no allocation.
#[derive(Debug, Clone)]
pub struct RtpReceiver {
    payload_types: [Option<PtInfo>; 128],
    source: SourceGuard,
    stats: Option<ReceiveStats>,
    /// Origin of arrival times converted to timestamp units for jitter.
    epoch: Option<Instant>,
    drops: DropCounters,
    last_ignored_log: Option<Instant>,
    last_arrival: Option<Instant>,
}

impl RtpReceiver {
    /// A receiver accepting the given negotiated formats, from no address
    /// known yet: every source goes through probation until
    /// [`expect`](Self::expect) names the SDP's.
    pub fn new(formats: &[PayloadFormat]) -> Self {
        let mut r = RtpReceiver {
            payload_types: [None; 128],
            source: SourceGuard::default(),
            stats: None,
            epoch: None,
            drops: DropCounters::default(),
            last_ignored_log: None,
            last_arrival: None,
        };
        r.set_payload_types(formats);
        r
    }

    /// Replaces the accepted payload types (after a re-negotiation).
    pub fn set_payload_types(&mut self, formats: &[PayloadFormat]) {
        self.payload_types = [None; 128];
        for f in formats {
            if let Some(slot) = self.payload_types.get_mut(usize::from(f.payload_type)) {
                *slot = Some(PtInfo {
                    clock_rate: f.clock_rate.max(1),
                    is_event: f.codec == crate::offer_answer::Codec::TelephoneEvent,
                });
            }
        }
    }

    /// The SDP names `addr` as the peer's media address (first negotiation
    /// or a re-INVITE): packets from it are taken at once. When media moved,
    /// the old latch is dropped and its address is not learnt again.
    pub fn expect(&mut self, addr: SocketAddr) {
        self.source.expect(addr);
    }

    /// The address media is accepted from, once latched. Send our RTP there.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.source.latched()
    }

    /// Statistics for the current source, once a packet arrived.
    pub fn stats(&self) -> Option<&ReceiveStats> {
        self.stats.as_ref()
    }

    /// Mutable statistics (the RTCP report takes its interval counters from here).
    pub fn stats_mut(&mut self) -> Option<&mut ReceiveStats> {
        self.stats.as_mut()
    }

    /// Drop counters.
    pub fn drops(&self) -> DropCounters {
        self.drops
    }

    /// Arrival time of the last accepted packet (for media-timeout detection).
    pub fn last_arrival(&self) -> Option<Instant> {
        self.last_arrival
    }

    /// Handles one datagram that arrived at `now` from `from`.
    pub fn receive<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'a [u8],
    ) -> Result<Received<'a>, RtpDrop> {
        let packet = parse_rtp(datagram).inspect_err(|_| self.drops.malformed += 1)?;
        let pt = packet.header.payload_type;
        let Some(info) = self.payload_types[usize::from(pt)] else {
            self.drops.unknown_payload_type += 1;
            return Err(RtpDrop::UnknownPayloadType(pt));
        };
        self.check_source(now, from, &packet)?;
        let ssrc = packet.header.ssrc;
        let (ssrc_changed, verdict) = match &mut self.stats {
            Some(s) if s.ssrc() == ssrc => (false, s.update_seq(packet.header.sequence)),
            previous => {
                let changed = previous.is_some();
                if changed {
                    tracing::info!(ssrc, "remote RTP SSRC changed");
                }
                *previous = Some(ReceiveStats::new(ssrc, packet.header.sequence));
                (changed, SeqVerdict::Counted)
            }
        };
        if verdict == SeqVerdict::Jump {
            return Err(RtpDrop::SequenceJump(packet.header.sequence));
        }
        if !info.is_event {
            let arrival = self.arrival_units(now, info.clock_rate);
            if let Some(s) = &mut self.stats {
                s.update_jitter(arrival, packet.header.timestamp, info.clock_rate);
            }
        }
        self.last_arrival = Some(now);
        Ok(Received {
            packet,
            clock_rate: info.clock_rate,
            is_event: info.is_event,
            ssrc_changed,
            sequence_restarted: verdict == SeqVerdict::Restarted,
        })
    }

    fn check_source(
        &mut self,
        now: Instant,
        from: SocketAddr,
        packet: &RtpPacket<'_>,
    ) -> Result<(), RtpDrop> {
        let h = &packet.header;
        match self.source.check(now, from, h.ssrc, h.sequence) {
            SourceVerdict::Accept => Ok(()),
            SourceVerdict::Latched => {
                tracing::debug!(%from, "RTP source latched");
                Ok(())
            }
            SourceVerdict::Probation => {
                self.drops.probation += 1;
                Err(RtpDrop::Probation { from })
            }
            SourceVerdict::Refused => {
                self.drops.other_source += 1;
                let due = self
                    .last_ignored_log
                    .is_none_or(|t| now.saturating_duration_since(t) >= IGNORED_LOG_INTERVAL);
                if due {
                    self.last_ignored_log = Some(now);
                    tracing::warn!(
                        %from,
                        source = ?self.source.latched(),
                        total = self.drops.other_source,
                        "ignoring RTP from an address that is not the stream's source"
                    );
                }
                Err(RtpDrop::OtherSource { from })
            }
        }
    }

    /// Arrival time in `clock_rate` units since the first packet (A.8's "arrival").
    fn arrival_units(&mut self, now: Instant, clock_rate: u32) -> u32 {
        let epoch = *self.epoch.get_or_insert(now);
        let nanos = now.saturating_duration_since(epoch).as_nanos();
        // Wrapping to 32 bits is harmless: A.8 only uses differences.
        (nanos * u128::from(clock_rate) / 1_000_000_000) as u32
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever arrives, from wherever, the receiver answers with a typed result.
        #[test]
        fn arbitrary_datagrams_never_panic(
            datagrams in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..64), 0u8..3, 0u64..10_000),
                1..40,
            )
        ) {
            let t0 = Instant::now();
            let mut rx = RtpReceiver::new(&[PayloadFormat::pcmu(), PayloadFormat::telephone_event(101, 8000)]);
            for (bytes, who, ms) in datagrams {
                let from = SocketAddr::from(([192, 0, 2, who], 4000));
                let mut data = bytes;
                // Bias half the inputs towards valid-looking headers to reach the stats code.
                if data.len() >= 2 && data[0] & 1 == 0 {
                    data[0] = 0x80 | (data[0] & 0x3f);
                    data[1] &= 0x80;
                }
                let _ = rx.receive(t0 + Duration::from_millis(ms), from, &data);
            }
            if let Some(s) = rx.stats_mut() {
                let _ = s.take_report_block();
            }
        }
    }
}
