//! The send side of a leg's network half: encoded payloads from the audio
//! thread → RTP packets, with RFC 4733 digits replacing the audio while they
//! play, and nothing sent (the media clock still running) while the peer must
//! not receive. When the peer takes RFC 2198 RED for our Opus, each packet
//! also carries the one sent before it.

use agentphone_engine::packet::OutboundPacket;
use agentphone_media::dtmf::{DtmfConfig, DtmfEncoder, DtmfPacket};
use agentphone_media::offer_answer::NegotiatedMedia;
use agentphone_media::red::{self, RedBlock, MAX_BLOCK_LEN, MAX_TS_OFFSET};
use agentphone_media::rtp_stream::{RtpSender, RTP_HEADER_LEN};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Largest datagram we write.
const MAX_DATAGRAM: usize = 1_500;
/// A packet the network half gets this long after the tick that encoded it
/// is not sent: this thread was stalled, and sent now it would tell the far
/// end's jitter buffer the network delays packets by that much, which it
/// then keeps for seconds. Its time is skipped instead, as the audio clock
/// skips ticks it fell this far behind on (`audio_io`).
pub(super) const STALE_AFTER: Duration = Duration::from_millis(100);

/// Digits being sent: the packets still due, relative to `base`.
struct DigitsPlaying {
    payload_type: u8,
    /// RTP timestamp the string started at.
    base: u32,
    /// Clock units since `base` at the current packet time.
    elapsed: u32,
    /// Clock units the whole string occupies; audio resumes after it.
    span: u32,
    /// Packet time the events are spaced by.
    ptime_ms: u32,
    packets: VecDeque<DtmfPacket>,
}

/// The last audio packet sent, for the next RED packet to carry.
#[derive(Clone, Copy)]
struct Sent {
    payload_type: u8,
    ts: u32,
    step: u32,
    len: usize,
}

pub(super) struct NetSend {
    sender: RtpSender,
    /// RED's payload type and the codec payload type it wraps.
    red: Option<(u8, u8)>,
    /// The last audio packet sent (its payload in `last_payload`).
    last: Option<Sent>,
    last_payload: Vec<u8>,
    red_payload: Vec<u8>,
    /// Clock rate of each payload type we may send (the audio thread's packets
    /// name theirs).
    clock_of: Vec<(u8, u32)>,
    ptime_ms: u32,
    remote: SocketAddr,
    sends: bool,
    telephone_event: Option<(u8, u32)>,
    playing: Option<DigitsPlaying>,
    queued: VecDeque<String>,
    pub(super) digits_sent: usize,
    /// Packets not sent because they were stale (see [`STALE_AFTER`]).
    pub(super) stale: u64,
    packet: Vec<u8>,
}

impl NetSend {
    pub(super) fn new(negotiated: &NegotiatedMedia) -> Self {
        let format = &negotiated.send_codec;
        let mut s = NetSend {
            sender: RtpSender::new(format.payload_type, format.clock_rate),
            red: None,
            last: None,
            last_payload: vec![0; MAX_DATAGRAM],
            // Room for the RTP header in the datagram.
            red_payload: vec![0; MAX_DATAGRAM - RTP_HEADER_LEN],
            clock_of: Vec::new(),
            ptime_ms: negotiated.ptime_ms,
            remote: negotiated.remote_rtp,
            sends: false,
            telephone_event: None,
            playing: None,
            queued: VecDeque::new(),
            digits_sent: 0,
            stale: 0,
            packet: vec![0; MAX_DATAGRAM],
        };
        s.update(negotiated);
        s
    }

    /// A re-negotiation: another address, hold or resume; a new codec arrives
    /// with the audio thread's packets (sequence and timestamps continue).
    pub(super) fn update(&mut self, negotiated: &NegotiatedMedia) {
        self.clock_of = std::iter::once(&negotiated.send_codec)
            .chain(negotiated.accepted.iter())
            .map(|f| (f.payload_type, f.clock_rate))
            .collect();
        if negotiated.ptime_ms != self.ptime_ms {
            // A digit string timed in the old packet time cannot continue.
            self.playing = None;
            self.ptime_ms = negotiated.ptime_ms;
        }
        self.remote = negotiated.remote_rtp;
        self.sends = negotiated.direction.sends() && !negotiated.remote_rtp.ip().is_unspecified();
        self.telephone_event = negotiated
            .telephone_event
            .as_ref()
            .map(|f| (f.payload_type, negotiated.send_codec.clock_rate));
        self.red = negotiated
            .red
            .map(|pt| (pt, negotiated.send_codec.payload_type));
    }

    pub(super) fn sender(&self) -> &RtpSender {
        &self.sender
    }

    /// Queues digits to send as RFC 4733 events after any already queued.
    pub(super) fn queue_digits(&mut self, digits: String) {
        self.queued.push_back(digits);
    }

    /// One packet time of encoded audio from the audio thread, taken at
    /// `now`: sends it, or the digit events due instead, or nothing (the clock
    /// runs on).
    pub(super) fn on_packet(
        &mut self,
        p: &OutboundPacket,
        now: Instant,
        mut transmit: impl FnMut(&[u8], SocketAddr),
    ) {
        if p.payload_type != self.sender.payload_type() {
            let clock = self
                .clock_of
                .iter()
                .find(|(pt, _)| *pt == p.payload_type)
                .map_or(self.sender.clock_rate(), |(_, c)| *c);
            self.sender.set_codec(p.payload_type, clock);
            self.playing = None;
        }
        let elapsed = self.duration_of(p.step);
        if p.skipped > 0 {
            // The audio clock skipped that much time: the timestamp jumps with
            // it and the marker starts a talk spurt, as after silence.
            let gap = self.duration_of(p.skipped);
            tracing::info!(
                gap_ms = gap.as_millis() as u64,
                "the audio clock stalled; the RTP clock moves on by the gap"
            );
            self.sender.advance(gap);
        }
        let stale = p
            .made
            .is_some_and(|m| now.saturating_duration_since(m) > STALE_AFTER);
        self.stale += u64::from(stale);
        if stale || !self.sends {
            // Keep the timestamp running so a later packet is not a jump back.
            self.sender.advance(elapsed);
            return;
        }
        if self.playing.is_none() {
            self.start_next_digits();
        }
        if self.playing.is_some() {
            self.send_digit_packets(p.step, elapsed, &mut transmit);
            return;
        }
        let built = match self.red {
            Some((red_pt, audio_pt)) if p.payload_type == audio_pt => self.packetize_red(red_pt, p),
            _ => self
                .sender
                .packetize(p.payload(), p.step, false, &mut self.packet),
        };
        match built {
            Ok(len) => transmit(&self.packet[..len], self.remote),
            Err(e) => tracing::debug!("RTP packet not built: {e}"),
        }
    }

    /// An RFC 2198 packet of `p` carrying the packet sent just before it, if
    /// that one directly precedes it (no pause, digits or stall between)
    /// and fits a block header; else `p` alone in a RED payload.
    fn packetize_red(
        &mut self,
        red_pt: u8,
        p: &OutboundPacket,
    ) -> Result<usize, agentphone_media::rtp_stream::RtpError> {
        let ts = self.sender.next_timestamp();
        let earlier = self.last.filter(|l| {
            l.payload_type == p.payload_type
                && l.ts.wrapping_add(l.step) == ts
                && l.len <= MAX_BLOCK_LEN
                && l.step <= MAX_TS_OFFSET
        });
        let primary = RedBlock {
            payload_type: p.payload_type,
            ts_offset: 0,
            data: p.payload(),
        };
        let copy = earlier.map(|l| RedBlock {
            payload_type: l.payload_type,
            ts_offset: l.step,
            data: &self.last_payload[..l.len],
        });
        let written = red::write(copy.as_slice(), primary, &mut self.red_payload)
            .or_else(|_| red::write(&[], primary, &mut self.red_payload));
        let n = p.payload().len();
        self.last_payload[..n].copy_from_slice(p.payload());
        self.last = Some(Sent {
            payload_type: p.payload_type,
            ts,
            step: p.step,
            len: n,
        });
        match written {
            Ok(len) => self.sender.packetize_as(
                red_pt,
                &self.red_payload[..len],
                p.step,
                false,
                &mut self.packet,
            ),
            // Too large even alone for a RED payload: sent plain.
            Err(_) => self
                .sender
                .packetize(p.payload(), p.step, false, &mut self.packet),
        }
    }

    /// How long `units` of the current RTP clock last.
    fn duration_of(&self, units: u32) -> Duration {
        Duration::from_micros(
            u64::from(units) * 1_000_000 / u64::from(self.sender.clock_rate().max(1)),
        )
    }

    fn start_next_digits(&mut self) {
        let Some(digits) = self.queued.pop_front() else {
            return;
        };
        let Some((payload_type, clock_rate)) = self.telephone_event else {
            // A re-negotiation dropped telephone-event after the digits were queued.
            tracing::warn!(
                "digits '{digits}' not sent: the peer no longer accepts telephone-event"
            );
            return;
        };
        let encoder = DtmfEncoder::new(DtmfConfig {
            clock_rate,
            ptime_ms: self.ptime_ms,
            ..DtmfConfig::default()
        });
        let built = encoder.and_then(|e| {
            let span = e.span(digits.chars().count());
            e.packets(&digits)
                .map(|p| (span, p.collect::<VecDeque<_>>()))
        });
        let (span, packets) = match built {
            Ok(b) => b,
            Err(err) => {
                tracing::warn!("digits '{digits}' not sent: {err}");
                return;
            }
        };
        tracing::info!(digits = %digits, "sending DTMF (RFC 4733)");
        self.playing = Some(DigitsPlaying {
            payload_type,
            base: self.sender.next_timestamp(),
            elapsed: 0,
            span,
            ptime_ms: self.ptime_ms,
            packets,
        });
    }

    /// Sends the event packets due by the end of this packet time, then lets the
    /// media clock run on; audio resumes once the whole string has played.
    fn send_digit_packets(
        &mut self,
        step: u32,
        elapsed: Duration,
        transmit: &mut impl FnMut(&[u8], SocketAddr),
    ) {
        let Some(playing) = &mut self.playing else {
            return;
        };
        let _ = playing.ptime_ms;
        playing.elapsed = playing.elapsed.saturating_add(step);
        while let Some(p) = playing.packets.front().copied() {
            if p.send_at > playing.elapsed {
                break;
            }
            playing.packets.pop_front();
            if p.marker {
                self.digits_sent += 1;
            }
            let built = self.sender.packetize_event(
                playing.payload_type,
                &p.payload,
                playing.base.wrapping_add(p.timestamp),
                p.marker,
                &mut self.packet,
            );
            match built {
                Ok(len) => transmit(&self.packet[..len], self.remote),
                Err(e) => tracing::debug!("DTMF packet not built: {e}"),
            }
        }
        let done = playing.packets.is_empty() && playing.elapsed >= playing.span;
        self.sender.advance(elapsed);
        if done {
            self.playing = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcmu_call() -> NegotiatedMedia {
        super::super::offered::negotiated("0", "")
    }

    fn packet(made: Instant, skipped: u32) -> OutboundPacket {
        let mut p = OutboundPacket::new(0, 160);
        p.buffer_mut()[..160].fill(0xff);
        p.set_len(160);
        p.made = Some(made);
        p.skipped = skipped;
        p
    }

    /// Sends `p` at `now`; the (timestamp, marker) of what went out, if anything.
    fn send(tx: &mut NetSend, p: &OutboundPacket, now: Instant) -> Option<(u32, bool)> {
        let mut out = None;
        tx.on_packet(p, now, |bytes, _| {
            let ts = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            out = Some((ts, bytes[1] & 0x80 != 0));
        });
        out
    }

    #[test]
    fn skipped_time_moves_the_timestamp_on_and_starts_a_talk_spurt() {
        let mut tx = NetSend::new(&pcmu_call());
        let t0 = Instant::now();
        let (first, _) = send(&mut tx, &packet(t0, 0), t0).expect("sent");
        let (second, marker) = send(&mut tx, &packet(t0, 0), t0).expect("sent");
        assert_eq!((second.wrapping_sub(first), marker), (160, false));
        let (after, marker) = send(&mut tx, &packet(t0, 2_000), t0).expect("sent");
        assert_eq!((after.wrapping_sub(second), marker), (160 + 2_000, true));
    }

    /// 20 ms of Opus (111) made at `made`, its bytes all `fill`.
    fn opus_packet(made: Instant, fill: u8) -> OutboundPacket {
        let mut p = OutboundPacket::new(111, 960);
        p.buffer_mut()[..40].fill(fill);
        p.set_len(40);
        p.made = Some(made);
        p
    }

    /// Sends `p`; the payload type and RED blocks (payload type, offset,
    /// first byte) of what went out, primary last.
    fn send_red(tx: &mut NetSend, p: &OutboundPacket, now: Instant) -> (u8, Vec<(u8, u32, u8)>) {
        let mut out = None;
        tx.on_packet(p, now, |bytes, _| {
            let pt = bytes[1] & 0x7f;
            let blocks = match red::parse(&bytes[12..]) {
                Ok(r) if pt == 63 => r
                    .redundant()
                    .chain([r.primary()])
                    .map(|b| (b.payload_type, b.ts_offset, b.data[0]))
                    .collect(),
                _ => vec![(pt, 0, bytes[12])],
            };
            out = Some((pt, blocks));
        });
        out.expect("sent")
    }

    #[test]
    fn red_packets_carry_the_packet_sent_just_before() {
        let red_call = super::super::offered::negotiated(
            "111 63",
            "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n",
        );
        let mut tx = NetSend::new(&red_call);
        let t0 = Instant::now();
        assert_eq!(
            send_red(&mut tx, &opus_packet(t0, 1), t0),
            (63, vec![(111, 0, 1)])
        );
        assert_eq!(
            send_red(&mut tx, &opus_packet(t0, 2), t0),
            (63, vec![(111, 960, 1), (111, 0, 2)])
        );
        // Time skipped between two packets: the earlier one is no longer
        // the packet before, so it is not carried.
        let mut after_stall = opus_packet(t0, 3);
        after_stall.skipped = 960;
        assert_eq!(send_red(&mut tx, &after_stall, t0), (63, vec![(111, 0, 3)]));
        assert_eq!(
            send_red(&mut tx, &opus_packet(t0, 4), t0),
            (63, vec![(111, 960, 3), (111, 0, 4)])
        );
        // A peer that did not list red gets plain Opus.
        let plain = super::super::offered::negotiated("111", "a=rtpmap:111 opus/48000/2\r\n");
        let mut tx = NetSend::new(&plain);
        assert_eq!(
            send_red(&mut tx, &opus_packet(t0, 5), t0),
            (111, vec![(111, 0, 5)])
        );
        assert_eq!(
            send_red(&mut tx, &opus_packet(t0, 6), t0),
            (111, vec![(111, 0, 6)])
        );
    }

    #[test]
    fn a_packet_the_network_half_gets_too_late_is_skipped_not_sent() {
        let mut tx = NetSend::new(&pcmu_call());
        let t0 = Instant::now();
        let (first, _) = send(&mut tx, &packet(t0, 0), t0).expect("sent");
        // This thread stalled for 250 ms: the packet made before it is stale.
        let late = t0 + Duration::from_millis(250);
        assert_eq!(send(&mut tx, &packet(t0, 0), late), None);
        assert_eq!(tx.stale, 1);
        // One made just now goes out where the stale one's time ended.
        let (next, marker) = send(&mut tx, &packet(late, 0), late).expect("sent");
        assert_eq!((next.wrapping_sub(first), marker), (320, true));
        // A packet a few ticks late (a busy machine) is still sent.
        let busy = late + Duration::from_millis(60);
        assert!(send(&mut tx, &packet(late, 0), busy).is_some());
        assert_eq!(tx.stale, 1);
    }
}
