//! The receive side of a leg's network half: RTP in → latching and SSRC
//! tracking → RFC 4733 digits here, audio payloads onto the ring to the audio
//! thread (with a receive chain built here whenever a payload type starts).
//! RFC 2198 RED packets are split here: their primary block goes on as the
//! packet, each redundant copy of an earlier packet after it, marked so.
//! Nothing is decoded here: decoding runs on the audio clock.

use agentphone_engine::chain::Chain;
use agentphone_engine::packet::{Inbound, PacketKind};
use agentphone_engine::rings::{InboundSender, PacketRefused};
use agentphone_media::codec::CodecKind;
use agentphone_media::dtmf::DtmfReceiver;
use agentphone_media::offer_answer::{Codec, NegotiatedMedia, PayloadFormat};
use agentphone_media::red;
use agentphone_media::rtp_stream::{RtpDrop, RtpReceiver};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Digits kept for the call report; a peer sending more is not stored further.
const MAX_DIGITS: usize = 256;
/// Redundant copies further back than this many packets are not used: a
/// jitter buffer that still waits for a packet that old has given up on it.
const MAX_RED_DISTANCE: u32 = 3;

/// The codec kind of a negotiated payload format (None for telephone-event).
pub(super) fn kind_of(format: &PayloadFormat) -> Option<CodecKind> {
    CodecKind::from_rtpmap(format.codec.encoding_name(), format.clock_rate)
}

/// The payload type of RFC 2198 RED among the accepted formats.
pub(super) fn red_pt(accepted: &[PayloadFormat]) -> Option<u8> {
    accepted
        .iter()
        .find(|f| f.codec == Codec::Red)
        .map(|f| f.payload_type)
}

pub(super) struct NetReceive {
    receiver: RtpReceiver,
    accepted: Vec<PayloadFormat>,
    /// RFC 2198 RED's payload type, when negotiated.
    red_pt: Option<u8>,
    ring: InboundSender,
    /// Payload type of the chain the audio half decodes with, and the longest
    /// packet (48 kHz samples) it was built for.
    chain_pt: Option<u8>,
    chain_samples: usize,
    jitter: (Duration, Duration),
    dtmf: DtmfReceiver,
    digits: String,
    /// Payloads whose length no codec frame fits (never queued).
    pub(super) malformed_payloads: u64,
    /// Packets lost because the audio thread did not drain its ring.
    pub(super) ring_overflow: u64,
}

impl NetReceive {
    pub(super) fn new(
        negotiated: &NegotiatedMedia,
        ring: InboundSender,
        jitter: (Duration, Duration),
    ) -> Self {
        let mut receiver = RtpReceiver::new(&negotiated.accepted);
        receiver.expect(negotiated.remote_rtp);
        NetReceive {
            receiver,
            red_pt: red_pt(&negotiated.accepted),
            accepted: negotiated.accepted.clone(),
            ring,
            chain_pt: None,
            chain_samples: 0,
            jitter,
            dtmf: DtmfReceiver::new(),
            digits: String::with_capacity(MAX_DIGITS),
            malformed_payloads: 0,
            ring_overflow: 0,
        }
    }

    /// A re-negotiation: new payload types, and the SDP's address to take
    /// media from (a new latch when the peer's media moved).
    pub(super) fn update(&mut self, negotiated: &NegotiatedMedia) {
        self.receiver.set_payload_types(&negotiated.accepted);
        self.accepted = negotiated.accepted.clone();
        self.red_pt = red_pt(&negotiated.accepted);
        self.receiver.expect(negotiated.remote_rtp);
    }

    pub(super) fn receiver(&self) -> &RtpReceiver {
        &self.receiver
    }

    pub(super) fn receiver_mut(&mut self) -> &mut RtpReceiver {
        &mut self.receiver
    }

    pub(super) fn digits(&self) -> &str {
        &self.digits
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
            if self.chain_pt.is_some() {
                self.send(Inbound::Restart);
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
        let (seq, ts, payload) = (header.sequence, header.timestamp, got.packet.payload);
        if Some(header.payload_type) == self.red_pt {
            self.on_red(now, seq, ts, payload);
        } else {
            self.on_payload(now, seq, ts, header.payload_type, payload);
        }
        None
    }

    /// An RFC 2198 packet: its primary block as the packet itself, then the
    /// copies it carries of packets before it, for the jitter buffer to use
    /// where those were lost.
    fn on_red(&mut self, now: Instant, seq: u16, ts: u32, payload: &[u8]) {
        let red = match red::parse(payload) {
            Ok(red) => red,
            Err(e) => {
                tracing::trace!("RED payload dropped: {e}");
                self.malformed_payloads += 1;
                return;
            }
        };
        let primary = red.primary();
        self.on_payload(now, seq, ts, primary.payload_type, primary.data);
        let Some(kind) = self.chain_pt.and_then(|pt| self.kind_of_pt(pt)) else {
            return;
        };
        for block in red.redundant() {
            // Which packet it copies: its offset counted in packets of its
            // own length (an offset that is no whole number of them says
            // the sender paused in between, and is not used).
            let units = kind
                .packet_samples(block.data)
                .map(|n| n as u64 * u64::from(kind.info().clock_rate) / 48_000);
            let back = match units {
                Some(u) if u > 0 && u64::from(block.ts_offset) % u == 0 => {
                    u64::from(block.ts_offset) / u
                }
                _ => continue,
            };
            if Some(block.payload_type) != self.chain_pt
                || !(1..=u64::from(MAX_RED_DISTANCE)).contains(&back)
            {
                continue;
            }
            let at = (
                seq.wrapping_sub(back as u16),
                ts.wrapping_sub(block.ts_offset),
            );
            self.send_packet(now, at, PacketKind::Redundant, block.data);
        }
    }

    fn kind_of_pt(&self, pt: u8) -> Option<CodecKind> {
        self.accepted
            .iter()
            .find(|f| f.payload_type == pt)
            .and_then(kind_of)
    }

    /// One audio (or comfort noise) payload of `pt`.
    fn on_payload(&mut self, now: Instant, seq: u16, ts: u32, pt: u8, payload: &[u8]) {
        let comfort_noise = self
            .accepted
            .iter()
            .any(|f| f.payload_type == pt && f.codec == Codec::ComfortNoise);
        if comfort_noise {
            // RFC 3389: the peer's noise for the pause it starts, in sequence
            // with its audio, so it goes to the audio's chain (which plays it
            // if it is G.711). Before any audio there is nothing to fill.
            if self.chain_pt.is_some() {
                self.send_packet(now, (seq, ts), PacketKind::ComfortNoise, payload);
            }
            return;
        }
        // A chain is sized for its first packet's length; a longer packet (the
        // peer moved to a longer packet time) gets a new one.
        let longer = || {
            self.kind_of_pt(pt)
                .and_then(|kind| kind.packet_samples(payload))
                .is_some_and(|samples| samples > self.chain_samples)
        };
        if (self.chain_pt != Some(pt) || longer()) && !self.start_chain(pt, payload) {
            return;
        }
        self.send_packet(now, (seq, ts), PacketKind::Audio, payload);
    }

    /// First packet, or the peer switched codec: a fresh chain for it, built
    /// here so the audio thread never allocates.
    fn start_chain(&mut self, pt: u8, payload: &[u8]) -> bool {
        let Some(kind) = self
            .accepted
            .iter()
            .find(|f| f.payload_type == pt)
            .and_then(kind_of)
        else {
            return false;
        };
        let Some(samples) = kind.packet_samples(payload) else {
            self.malformed_payloads += 1;
            return false;
        };
        match Chain::new(pt, kind, samples, self.jitter) {
            Ok(chain) => {
                self.chain_pt = Some(pt);
                self.chain_samples = samples;
                self.send(Inbound::Chain(Box::new(chain)));
                true
            }
            Err(e) => {
                tracing::warn!("cannot decode payload type {pt}: {e}");
                false
            }
        }
    }

    /// Passes the far end's latest loss report on to the audio half's encoder.
    pub(super) fn peer_loss(&mut self, fraction_lost: u8) {
        self.send(Inbound::PeerLoss { fraction_lost });
    }

    /// Queues a payload for the audio half, copied once, into the ring.
    fn send_packet(&mut self, now: Instant, at: (u16, u32), kind: PacketKind, payload: &[u8]) {
        match self.ring.push_packet(now, at, kind, payload) {
            Ok(()) => {}
            Err(PacketRefused::Full) => self.ring_overflow += 1,
            Err(PacketRefused::TooLong) => self.malformed_payloads += 1,
        }
    }

    fn send(&mut self, item: Inbound) {
        if let Err(rtrb::PushError::Full(item)) = self.ring.push(item) {
            self.ring_overflow += 1;
            if matches!(item, Inbound::Chain(_)) {
                // Without its chain the audio half would feed these packets to
                // the old codec: try again with the next packet.
                self.chain_pt = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentphone_engine::rings::{inbound_ring_sized, InboundSize, Received};

    fn pcmu_call() -> NegotiatedMedia {
        call_offering("0")
    }

    fn call_offering(formats: &str) -> NegotiatedMedia {
        super::super::offered::negotiated(formats, "")
    }

    fn rtp(seq: u16, ts: u32, payload_len: usize) -> Vec<u8> {
        rtp_pt(0, seq, ts, payload_len)
    }

    fn rtp_pt(pt: u8, seq: u16, ts: u32, payload_len: usize) -> Vec<u8> {
        let mut p = vec![0x80, pt];
        p.extend(seq.to_be_bytes());
        p.extend(ts.to_be_bytes());
        p.extend(0x1234_5678u32.to_be_bytes());
        p.extend(std::iter::repeat_n(0xffu8, payload_len));
        p
    }

    /// What the network half queued for the audio half, in order.
    fn queued(rx: &mut agentphone_engine::rings::InboundReceiver) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(item) = rx.pop_with(|item| match item {
            Received::Chain(_) => "chain".to_string(),
            Received::Packet { kind, seq, ts, .. } => match kind {
                PacketKind::Audio => format!("packet {seq}"),
                PacketKind::ComfortNoise => format!("CN {seq}"),
                PacketKind::Redundant => format!("copy {seq} ts {ts}"),
            },
            _ => "other".to_string(),
        }) {
            seen.push(item);
        }
        seen
    }

    #[test]
    fn comfort_noise_goes_to_the_audio_chain_when_negotiated() {
        for (formats, expect) in [
            ("0 13", vec!["chain", "packet 1", "CN 2", "packet 3"]),
            // Not offered, not answered: payload type 13 is refused.
            ("0", vec!["chain", "packet 1", "packet 3"]),
        ] {
            let negotiated = call_offering(formats);
            let size = InboundSize::for_stream(8, Duration::from_secs(1));
            let (tx, mut rx) = inbound_ring_sized(size);
            let mut receive = NetReceive::new(&negotiated, tx, (Duration::ZERO, Duration::ZERO));
            let from = negotiated.remote_rtp;
            let now = Instant::now();
            // A CN packet before any audio has no chain to go to.
            receive.on_datagram(now, from, &rtp_pt(13, 0, 0, 1));
            receive.on_datagram(now, from, &rtp(1, 160, 160));
            receive.on_datagram(now, from, &rtp_pt(13, 2, 320, 3));
            receive.on_datagram(now, from, &rtp(3, 8_000, 160));
            assert_eq!(queued(&mut rx), expect, "offer {formats}");
        }
    }

    /// One 20 ms Opus frame (CELT, full band: TOC 0xF8) of `len` bytes.
    fn opus_frame(len: usize) -> Vec<u8> {
        let mut f = vec![0x5a; len];
        f[0] = 0xf8;
        f
    }

    /// An RTP packet of RED (63) around Opus (111) frames.
    fn red_rtp(seq: u16, ts: u32, copies: &[(u8, u32, &[u8])], primary: &[u8]) -> Vec<u8> {
        let blocks: Vec<red::RedBlock<'_>> = copies
            .iter()
            .map(|&(payload_type, ts_offset, data)| red::RedBlock {
                payload_type,
                ts_offset,
                data,
            })
            .collect();
        let own = red::RedBlock {
            payload_type: 111,
            ts_offset: 0,
            data: primary,
        };
        let mut payload = [0; 1_500];
        let n = red::write(&blocks, own, &mut payload).expect("fits");
        let mut p = rtp_pt(63, seq, ts, 0);
        p.extend_from_slice(&payload[..n]);
        p
    }

    #[test]
    fn red_packets_give_their_primary_then_the_copies_they_carry() {
        let negotiated = super::super::offered::negotiated(
            "111 63",
            "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n",
        );
        assert_eq!(negotiated.red, Some(63));
        let (tx, mut rx) = inbound_ring_sized(InboundSize::for_stream(16, Duration::from_secs(1)));
        let mut receive = NetReceive::new(&negotiated, tx, (Duration::ZERO, Duration::ZERO));
        let from = negotiated.remote_rtp;
        let now = Instant::now();
        let (frame, other) = (opus_frame(60), opus_frame(61));
        // Alone (a sender's first packet), then carrying the packet before.
        receive.on_datagram(now, from, &red_rtp(9, 8_640, &[], &other));
        receive.on_datagram(
            now,
            from,
            &red_rtp(10, 9_600, &[(111, 960, &other)], &frame),
        );
        // Copies that are not used: half a packet back (the sender paused),
        // five packets back, and one of another payload type.
        for (seq, copy) in [(11, (111, 480)), (12, (111, 4_800)), (13, (0, 960))] {
            let (pt, offset) = copy;
            let ts = 9_600 + 960 * u32::from(seq - 10);
            receive.on_datagram(
                now,
                from,
                &red_rtp(seq, ts, &[(pt, offset, &other)], &frame),
            );
        }
        // Three packets back is still used.
        receive.on_datagram(
            now,
            from,
            &red_rtp(14, 13_440, &[(111, 2_880, &other)], &frame),
        );
        assert_eq!(
            queued(&mut rx),
            [
                "chain",
                "packet 9",
                "packet 10",
                "copy 9 ts 8640",
                "packet 11",
                "packet 12",
                "packet 13",
                "packet 14",
                "copy 11 ts 10560"
            ]
        );
        // A RED payload that ends inside its headers is counted, not queued.
        receive.on_datagram(
            now,
            from,
            &[rtp_pt(63, 15, 14_400, 0), vec![0x80 | 111]].concat(),
        );
        assert!(queued(&mut rx).is_empty());
        assert_eq!(receive.malformed_payloads, 1);
    }

    #[test]
    fn a_longer_packet_gets_a_chain_sized_for_it() {
        let negotiated = pcmu_call();
        let (tx, mut rx) = inbound_ring_sized(InboundSize::for_stream(8, Duration::from_secs(1)));
        let mut receive = NetReceive::new(&negotiated, tx, (Duration::ZERO, Duration::ZERO));
        let from = negotiated.remote_rtp;
        let now = Instant::now();
        // Two 20 ms packets, a 40 ms one, then 20 ms again.
        for (seq, ts, len) in [(1, 0, 160), (2, 160, 160), (3, 320, 320), (4, 640, 160)] {
            receive.on_datagram(now, from, &rtp(seq, ts, len));
        }
        let mut seen = Vec::new();
        while let Ok(item) = rx.pop_with(|item| match item {
            Received::Chain(c) => format!("chain fits 40 ms: {}", c.fits(1920)),
            Received::Packet { seq, .. } => format!("packet {seq}"),
            _ => "other".to_string(),
        }) {
            seen.push(item);
        }
        assert_eq!(
            seen,
            [
                "chain fits 40 ms: false",
                "packet 1",
                "packet 2",
                "chain fits 40 ms: true",
                "packet 3",
                "packet 4"
            ]
        );
        assert_eq!(receive.malformed_payloads, 0);
    }
}
