//! Report scheduling, building and parsing for one RTCP session.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use rtcp::goodbye::Goodbye;
use rtcp::packet::Packet;
use rtcp::receiver_report::ReceiverReport;
use rtcp::reception_report::ReceptionReport;
use rtcp::sender_report::SenderReport;
use rtcp::source_description::{
    SdesType, SourceDescription, SourceDescriptionChunk, SourceDescriptionItem,
};

use super::ntp::{duration_to_q16, q16_to_duration};
use super::{CallQuality, NtpTime, RtcpError};
use crate::rtp_stream::{ReportBlock, RtpReceiver, RtpSender};

/// Nominal report interval (RFC 3550 §6.2 minimum for a two-party call).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// What the peer last reported about our stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteReport {
    /// Fraction of our packets lost since its previous report, out of 256.
    pub fraction_lost: u8,
    /// Cumulative packets of ours it lost.
    pub cumulative_lost: i32,
    /// Jitter of our stream, in our timestamp units.
    pub jitter: u32,
    /// When the report arrived.
    pub received_at: Instant,
}

/// RTCP state for one call leg.
#[derive(Debug, Clone)]
pub struct RtcpSession {
    cname: Bytes,
    next_report: Instant,
    packets_at_last_report: Option<u32>,
    /// Middle 32 bits of the peer's last SR NTP time and when it arrived.
    last_sr: Option<(u32, Instant)>,
    remote_ssrc: Option<u32>,
    remote_report: Option<RemoteReport>,
    rtt: Option<Duration>,
    remote_bye: bool,
}

/// A randomised interval, 0.5–1.5 × nominal (RFC 3550 §6.3.1), so that many phones
/// started together do not report in lockstep.
fn randomised(interval: Duration) -> Duration {
    interval.mul_f64(rand::rng().random_range(0.5..1.5))
}

/// Splits the first packet off a compound RTCP datagram (RFC 3550 §6.4 header:
/// version 2, length in 32-bit words minus one).
fn split_packet(data: &[u8]) -> Result<(&[u8], &[u8]), RtcpError> {
    if data.len() < 4 {
        return Err(RtcpError::Malformed(format!(
            "{}-byte RTCP header",
            data.len()
        )));
    }
    if data[0] >> 6 != 2 {
        return Err(RtcpError::Malformed(format!(
            "RTCP version {}",
            data[0] >> 6
        )));
    }
    let len = (usize::from(u16::from_be_bytes([data[2], data[3]])) + 1) * 4;
    if len > data.len() {
        return Err(RtcpError::Malformed(format!(
            "RTCP packet of {len} bytes in a {}-byte datagram",
            data.len()
        )));
    }
    Ok(data.split_at(len))
}

impl RtcpSession {
    /// A session whose first report is due about half an interval from `now`
    /// (RFC 3550 §6.2: the first report may go out sooner).
    pub fn new(now: Instant, cname: &str) -> Self {
        RtcpSession {
            cname: Bytes::copy_from_slice(cname.as_bytes()),
            next_report: now + randomised(REPORT_INTERVAL / 2),
            packets_at_last_report: None,
            last_sr: None,
            remote_ssrc: None,
            remote_report: None,
            rtt: None,
            remote_bye: false,
        }
    }

    /// When the next report is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_report
    }

    /// If a report is due at `now`, builds it and schedules the next one.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        ntp: NtpTime,
        sender: &RtpSender,
        receiver: &mut RtpReceiver,
    ) -> Result<Option<Vec<u8>>, RtcpError> {
        if now < self.next_report {
            return Ok(None);
        }
        self.next_report = now + randomised(REPORT_INTERVAL);
        self.build_report(now, ntp, sender, receiver).map(Some)
    }

    /// Builds a compound SR (if we sent RTP since the last report) or RR, with one
    /// report block when we receive, followed by SDES CNAME (RFC 3550 §6.1).
    pub fn build_report(
        &mut self,
        now: Instant,
        ntp: NtpTime,
        sender: &RtpSender,
        receiver: &mut RtpReceiver,
    ) -> Result<Vec<u8>, RtcpError> {
        let reports: Vec<ReceptionReport> = receiver
            .stats_mut()
            .map(|s| self.reception_report(now, s.take_report_block()))
            .into_iter()
            .collect();
        let sent = self.packets_at_last_report != Some(sender.packets_sent())
            && sender.packets_sent() != 0;
        self.packets_at_last_report = Some(sender.packets_sent());
        let first: Box<dyn Packet + Send + Sync> = if sent {
            Box::new(SenderReport {
                ssrc: sender.ssrc(),
                ntp_time: ntp.0,
                // The timestamp the next packet would carry: the media clock "now".
                rtp_time: sender.next_timestamp(),
                packet_count: sender.packets_sent(),
                octet_count: sender.octets_sent(),
                reports,
                profile_extensions: Bytes::new(),
            })
        } else {
            Box::new(ReceiverReport {
                ssrc: sender.ssrc(),
                reports,
                profile_extensions: Bytes::new(),
            })
        };
        let sdes = Box::new(SourceDescription {
            chunks: vec![SourceDescriptionChunk {
                source: sender.ssrc(),
                items: vec![SourceDescriptionItem {
                    sdes_type: SdesType::SdesCname,
                    text: self.cname.clone(),
                }],
            }],
        });
        rtcp::packet::marshal(&[first, sdes])
            .map(|b| b.to_vec())
            .map_err(|e| RtcpError::Build(e.to_string()))
    }

    fn reception_report(&self, now: Instant, block: ReportBlock) -> ReceptionReport {
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) if self.remote_ssrc == Some(block.ssrc) => {
                (lsr, duration_to_q16(now.saturating_duration_since(at)))
            }
            _ => (0, 0),
        };
        ReceptionReport {
            ssrc: block.ssrc,
            fraction_lost: block.fraction_lost,
            // 24-bit two's complement, as the wire field carries it.
            total_lost: (block.cumulative_lost as u32) & 0x00ff_ffff,
            last_sequence_number: block.extended_highest_seq,
            jitter: block.jitter,
            last_sender_report: lsr,
            delay: dlsr,
        }
    }

    /// Handles one RTCP datagram from the peer, arrived at `now` (`ntp` is the same
    /// instant on the wall clock). `local_ssrc` is our RTP SSRC.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        ntp: NtpTime,
        local_ssrc: u32,
        datagram: &[u8],
    ) -> Result<(), RtcpError> {
        let mut rest = datagram;
        if rest.is_empty() {
            return Err(RtcpError::Malformed("empty datagram".into()));
        }
        while !rest.is_empty() {
            let (packet, tail) = split_packet(rest)?;
            rest = tail;
            // Only SR, RR and BYE matter here. Other types (SDES, APP, feedback, XR)
            // are skipped unparsed: fuzzing found the rtcp crate panicking on
            // malformed feedback packets, and we have no use for them.
            if !matches!(packet[1], 200 | 201 | 203) {
                continue;
            }
            let mut buf = packet;
            let parsed = rtcp::packet::unmarshal(&mut buf)
                .map_err(|e| RtcpError::Malformed(e.to_string()))?;
            for p in &parsed {
                self.take_packet(now, ntp, local_ssrc, p.as_any());
            }
        }
        Ok(())
    }

    fn take_packet(
        &mut self,
        now: Instant,
        ntp: NtpTime,
        local_ssrc: u32,
        any: &(dyn std::any::Any + Send + Sync),
    ) {
        if let Some(sr) = any.downcast_ref::<SenderReport>() {
            self.remote_ssrc = Some(sr.ssrc);
            self.last_sr = Some((NtpTime(sr.ntp_time).middle_32(), now));
            self.take_blocks(now, ntp, local_ssrc, &sr.reports);
        } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            self.take_blocks(now, ntp, local_ssrc, &rr.reports);
        } else if let Some(bye) = any.downcast_ref::<Goodbye>() {
            if self.remote_ssrc.is_some_and(|s| bye.sources.contains(&s)) {
                self.remote_bye = true;
            }
        }
    }

    fn take_blocks(
        &mut self,
        now: Instant,
        ntp: NtpTime,
        local_ssrc: u32,
        blocks: &[ReceptionReport],
    ) {
        let Some(b) = blocks.iter().find(|b| b.ssrc == local_ssrc) else {
            return;
        };
        // Sign-extend the 24-bit cumulative loss.
        let cumulative_lost = ((b.total_lost << 8) as i32) >> 8;
        self.remote_report = Some(RemoteReport {
            fraction_lost: b.fraction_lost,
            cumulative_lost,
            jitter: b.jitter,
            received_at: now,
        });
        if b.last_sender_report != 0 {
            // RFC 3550 §6.4.1: RTT = A - LSR - DLSR, all in 16.16 seconds.
            let rtt = ntp
                .middle_32()
                .wrapping_sub(b.last_sender_report)
                .wrapping_sub(b.delay);
            // A "negative" RTT (clock step, bogus report) wraps to a huge value.
            if rtt < 0x8000_0000 {
                self.rtt = Some(q16_to_duration(rtt));
            }
        }
    }

    /// Latest round-trip time.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// Latest report the peer sent about our stream.
    pub fn remote_report(&self) -> Option<RemoteReport> {
        self.remote_report
    }

    /// True once the peer sent BYE for its source.
    pub fn remote_bye(&self) -> bool {
        self.remote_bye
    }

    /// A quality snapshot combining our stream, the peer's and the reports.
    pub fn quality(&self, sender: &RtpSender, receiver: &RtpReceiver) -> CallQuality {
        let stats = receiver.stats();
        let rate = f64::from(sender.clock_rate().max(1));
        CallQuality {
            rtt_ms: self.rtt.map(|d| d.as_secs_f64() * 1000.0),
            local_loss_pct: stats.map_or(0.0, |s| s.loss_percent()),
            remote_loss_pct: self
                .remote_report
                .map(|r| f64::from(r.fraction_lost) * 100.0 / 256.0),
            jitter_ms: stats.map_or(0.0, |s| s.jitter_ms()),
            remote_jitter_ms: self
                .remote_report
                .map(|r| f64::from(r.jitter) * 1000.0 / rate),
            packets_sent: sender.packets_sent(),
            packets_received: stats.map_or(0, |s| s.received()),
            packets_lost: stats.map_or(0, |s| s.cumulative_lost()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_feedback_found_by_fuzzing_is_skipped_not_a_panic() {
        // A payload-specific feedback (FIR) packet that made the rtcp crate panic.
        let data = [0x84, 0xce, 0x00, 0x01, 0, 0, 0, 0];
        let mut s = RtcpSession::new(Instant::now(), "x");
        let now = Instant::now();
        assert!(s.handle_packet(now, NtpTime(0), 1, &data).is_ok());
        assert!(matches!(
            s.handle_packet(now, NtpTime(0), 1, &[0x81, 0xc9, 0x00, 0x07]),
            Err(RtcpError::Malformed(_))
        ));
        assert!(s.handle_packet(now, NtpTime(0), 1, &[]).is_err());
    }
}
