//! Receive statistics for one source, as RFC 3550 appendix A computes them:
//! A.1 sequence tracking, A.3 loss, A.8 interarrival jitter.

/// RFC 3550 A.1 constants.
const RTP_SEQ_MOD: u32 = 1 << 16;
const MAX_DROPOUT: u32 = 3000;
const MAX_MISORDER: u32 = 100;

/// What a sequence number did to the stream (RFC 3550 A.1 `update_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In order, a small gap, a duplicate or a slightly late packet: counted.
    Counted,
    /// A jump too large to be loss: not counted until the next packet confirms it.
    Jump,
    /// The jump was confirmed by the next packet: the stream was restarted.
    Restarted,
}

/// One RTCP report block's worth of receive statistics (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// SSRC of the source reported on.
    pub ssrc: u32,
    /// Packets lost since the previous report, as a fraction of 256.
    pub fraction_lost: u8,
    /// Cumulative packets lost, clamped to 24-bit signed.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
}

/// Receive statistics for the current remote SSRC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveStats {
    ssrc: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Last transit time and the clock rate it was measured in.
    transit: Option<(u32, u32)>,
    /// Jitter scaled by 16, as in A.8's integer version.
    jitter_q4: u32,
    clock_rate: u32,
}

impl ReceiveStats {
    /// Starts statistics at the first packet of `ssrc` (A.1 `init_seq`).
    pub fn new(ssrc: u32, first_seq: u16) -> Self {
        let mut s = ReceiveStats {
            ssrc,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
            clock_rate: 0,
        };
        s.init_seq(first_seq);
        s.received = 1;
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// The SSRC these statistics are about.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// A.1 `update_seq` without probation (the receiver latches sources itself).
    pub fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        let udelta = u32::from(seq.wrapping_sub(self.max_seq));
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if udelta <= RTP_SEQ_MOD - MAX_MISORDER {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a jump: the source restarted.
                self.init_seq(seq);
                self.received = 1;
                return SeqVerdict::Restarted;
            }
            self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
            return SeqVerdict::Jump;
        }
        // Else a duplicate or reordered packet: counted, max_seq unchanged.
        self.received = self.received.wrapping_add(1);
        SeqVerdict::Counted
    }

    /// A.8: updates jitter with a packet's arrival (in `clock_rate` units on any
    /// fixed origin) and its RTP timestamp.
    pub fn update_jitter(&mut self, arrival: u32, rtp_ts: u32, clock_rate: u32) {
        let transit = arrival.wrapping_sub(rtp_ts);
        match self.transit {
            Some((last, rate)) if rate == clock_rate => {
                let d = (transit.wrapping_sub(last) as i32).unsigned_abs();
                // J += (|D| - J) / 16, in A.8's integer form with J scaled by 16.
                self.jitter_q4 = self
                    .jitter_q4
                    .wrapping_add(d)
                    .wrapping_sub((self.jitter_q4 + 8) >> 4);
            }
            // A new clock (codec change) makes transit times incomparable.
            _ => {}
        }
        self.transit = Some((transit, clock_rate));
        self.clock_rate = clock_rate;
    }

    /// Extended highest sequence number received (cycles + max).
    pub fn extended_highest_seq(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected since the first (A.3).
    pub fn expected(&self) -> u32 {
        self.extended_highest_seq()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Packets counted as received (duplicates included, as A.3 counts them).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Cumulative number lost, clamped to the 24-bit signed field of a report block.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = i64::from(self.expected()) - i64::from(self.received);
        lost.clamp(-0x80_0000, 0x7f_ffff) as i32
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// Jitter in milliseconds, using the clock of the last packet.
    pub fn jitter_ms(&self) -> f64 {
        if self.clock_rate == 0 {
            return 0.0;
        }
        f64::from(self.jitter()) * 1000.0 / f64::from(self.clock_rate)
    }

    /// Loss over the whole stream in percent.
    pub fn loss_percent(&self) -> f64 {
        let expected = self.expected();
        if expected == 0 {
            return 0.0;
        }
        f64::from(self.cumulative_lost().max(0)) * 100.0 / f64::from(expected)
    }

    /// A report block; the fraction lost covers the packets since the previous call,
    /// so call this once per RTCP report (A.3).
    pub fn take_report_block(&mut self) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            extended_highest_seq: self.extended_highest_seq(),
            jitter: self.jitter(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_counts_a_cycle() {
        let mut s = ReceiveStats::new(1, 65534);
        assert_eq!(s.update_seq(65535), SeqVerdict::Counted);
        assert_eq!(s.update_seq(0), SeqVerdict::Counted);
        assert_eq!(s.update_seq(1), SeqVerdict::Counted);
        assert_eq!(s.extended_highest_seq(), 65536 + 1);
        assert_eq!(s.expected(), 4);
        assert_eq!(s.cumulative_lost(), 0);
    }

    #[test]
    fn a_large_jump_needs_confirmation() {
        let mut s = ReceiveStats::new(1, 100);
        assert_eq!(s.update_seq(20000), SeqVerdict::Jump);
        assert_eq!(s.update_seq(20001), SeqVerdict::Restarted);
        assert_eq!(s.update_seq(20002), SeqVerdict::Counted);
        assert_eq!(s.expected(), 2);
        assert_eq!(s.received(), 2);
    }

    #[test]
    fn duplicates_make_loss_negative_as_a3_says() {
        let mut s = ReceiveStats::new(1, 10);
        s.update_seq(10);
        assert_eq!(s.cumulative_lost(), -1);
        assert_eq!(s.take_report_block().fraction_lost, 0);
    }
}
