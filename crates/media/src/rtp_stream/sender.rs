//! Our outgoing RTP stream (RFC 3550 §5.1): one SSRC, continuous sequence numbers
//! and a media clock that keeps running across codec changes, DTMF and hold.

use std::time::Duration;

use super::header::{write_rtp, RtpError, RtpHeader};

/// Packetiser for our one outgoing RTP stream.
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    seq: u16,
    next_ts: u32,
    payload_type: u8,
    clock_rate: u32,
    /// Nanoseconds × clock rate not yet worth one tick, so `advance` never drifts.
    advance_remainder: u128,
    talk_spurt_start: bool,
    packets_sent: u32,
    octets_sent: u32,
}

impl RtpSender {
    /// A sender with random SSRC, first sequence number and first timestamp
    /// (RFC 3550 §5.1: random starts defeat known-plaintext attacks and collisions).
    pub fn new(payload_type: u8, clock_rate: u32) -> Self {
        Self::with_start(
            rand::random(),
            rand::random(),
            rand::random(),
            payload_type,
            clock_rate,
        )
    }

    /// A sender with given starting values (tests, deterministic replays).
    pub fn with_start(ssrc: u32, seq: u16, ts: u32, payload_type: u8, clock_rate: u32) -> Self {
        RtpSender {
            ssrc,
            seq,
            next_ts: ts,
            payload_type,
            clock_rate: clock_rate.max(1),
            advance_remainder: 0,
            talk_spurt_start: true,
            packets_sent: 0,
            octets_sent: 0,
        }
    }

    /// Switches codec (re-INVITE). Sequence numbers and timestamps continue; from now
    /// on samples count in the new clock.
    pub fn set_codec(&mut self, payload_type: u8, clock_rate: u32) {
        self.payload_type = payload_type;
        self.clock_rate = clock_rate.max(1);
        self.advance_remainder = 0;
    }

    /// Writes one audio packet of `samples` (in clock-rate units) into `out`.
    /// The marker is set when `marker` asks for it or at the first packet after a
    /// gap (start, [`advance`](Self::advance)), i.e. at talk-spurt start.
    pub fn packetize(
        &mut self,
        payload: &[u8],
        samples: u32,
        marker: bool,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        self.packetize_as(self.payload_type, payload, samples, marker, out)
    }

    /// As [`packetize`](Self::packetize), under another payload type that
    /// wraps the codec's (RFC 2198 RED): same clock, same timeline.
    pub fn packetize_as(
        &mut self,
        payload_type: u8,
        payload: &[u8],
        samples: u32,
        marker: bool,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let header = RtpHeader {
            marker: marker || self.talk_spurt_start,
            payload_type,
            sequence: self.seq,
            timestamp: self.next_ts,
            ssrc: self.ssrc,
        };
        let n = write_rtp(out, &header, payload)?;
        self.talk_spurt_start = false;
        self.next_ts = self.next_ts.wrapping_add(samples);
        self.count(payload.len());
        Ok(n)
    }

    /// Writes one RFC 4733 event packet. `timestamp` is the event's start (taken from
    /// [`next_timestamp`](Self::next_timestamp) when the event began) and stays the
    /// same for all its packets; keep calling [`advance`](Self::advance) each packet
    /// interval so audio after the event resumes at the right time.
    pub fn packetize_event(
        &mut self,
        payload_type: u8,
        payload: &[u8],
        timestamp: u32,
        marker: bool,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let header = RtpHeader {
            marker,
            payload_type,
            sequence: self.seq,
            timestamp,
            ssrc: self.ssrc,
        };
        let n = write_rtp(out, &header, payload)?;
        self.count(payload.len());
        Ok(n)
    }

    /// Lets the media clock run for `elapsed` without sending audio (hold, silence,
    /// DTMF). The next audio packet starts a talk spurt.
    pub fn advance(&mut self, elapsed: Duration) {
        let scaled = elapsed.as_nanos() * u128::from(self.clock_rate) + self.advance_remainder;
        let ticks = scaled / 1_000_000_000;
        self.advance_remainder = scaled % 1_000_000_000;
        // Truncation to 32 bits is the wrap-around RTP timestamps are defined with.
        self.next_ts = self.next_ts.wrapping_add(ticks as u32);
        self.talk_spurt_start = true;
    }

    fn count(&mut self, payload_len: usize) {
        self.seq = self.seq.wrapping_add(1);
        self.packets_sent = self.packets_sent.wrapping_add(1);
        // RFC 3550 §6.4.1: the octet count wraps like the packet count.
        self.octets_sent = self.octets_sent.wrapping_add(payload_len as u32);
    }

    /// Timestamp the next audio packet will carry.
    pub fn next_timestamp(&self) -> u32 {
        self.next_ts
    }

    /// Sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.seq
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Current payload type.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// Current clock rate.
    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// Packets sent so far (wrapping, for the SR).
    pub fn packets_sent(&self) -> u32 {
        self.packets_sent
    }

    /// Payload octets sent so far (wrapping, for the SR).
    pub fn octets_sent(&self) -> u32 {
        self.octets_sent
    }
}
