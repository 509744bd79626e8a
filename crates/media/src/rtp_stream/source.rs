//! Which address a stream's RTP is taken from ("strict RTP").
//!
//! Latching to the first packet from anywhere lets whoever guesses the port
//! take the stream over or talk into the call (the "RTP bleed" class of bugs,
//! which Asterisk answers with `strictrtp`). Here the address the SDP named
//! is taken at once; any other address is learnt only after a probation of
//! [`PROBATION`] consecutive in-sequence packets of one SSRC, which a NATed
//! peer (symmetric RTP) passes within 80 ms and a blind injector does not.
//! The SDP's address takes the stream from a learnt one at its first packet.
//! Once latched, other sources are refused, unless the latched one has been
//! silent for [`SILENCE_BEFORE_RELEARN`] (a NAT rebinding: learnt again with
//! the same probation). After a move (re-INVITE), the old address is never
//! learnt again: its late packets must not win the race.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Consecutive in-sequence packets from one SSRC before an address that the
/// SDP did not name is believed.
pub const PROBATION: u16 = 4;

/// How long the latched source must have been silent before another one
/// may be learnt.
pub const SILENCE_BEFORE_RELEARN: Duration = Duration::from_secs(2);

/// What to do with a packet from some address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceVerdict {
    /// From the latched source.
    Accept,
    /// The source is latched from this packet on.
    Latched,
    /// From a candidate source still on probation: dropped.
    Probation,
    /// From another source while one is latched (or from the moved-away
    /// address): dropped.
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candidate {
    addr: SocketAddr,
    ssrc: u32,
    seq: u16,
    count: u16,
}

/// The latch of one stream. Plain value: arrivals in, verdicts out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceGuard {
    /// The address the SDP named: taken at once.
    expected: Option<SocketAddr>,
    /// The address media moved away from: never learnt again.
    shunned: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    /// When the latched source last sent.
    last_heard: Option<Instant>,
    candidate: Option<Candidate>,
}

impl SourceGuard {
    /// A guard expecting media from `expected` (the SDP's address), if known.
    pub fn new(expected: Option<SocketAddr>) -> Self {
        SourceGuard {
            expected,
            ..Default::default()
        }
    }

    /// The latched source.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// The SDP's address, once said.
    pub fn expected(&self) -> Option<SocketAddr> {
        self.expected
    }

    /// The SDP now names `addr` (first negotiation, or a re-INVITE moving
    /// the media). A latch to `addr` stays; another latch is dropped and its
    /// address shunned.
    pub fn expect(&mut self, addr: SocketAddr) {
        self.expected = Some(addr);
        self.candidate = None;
        if self.latched.is_some_and(|l| l != addr) {
            self.shunned = self.latched.take();
            self.last_heard = None;
        }
    }

    /// Judges a packet of `ssrc`/`seq` that arrived at `now` from `from`.
    pub fn check(&mut self, now: Instant, from: SocketAddr, ssrc: u32, seq: u16) -> SourceVerdict {
        if self.latched == Some(from) {
            self.last_heard = Some(now);
            return SourceVerdict::Accept;
        }
        // The SDP's address wins over a learnt one: an injector that passed
        // probation before the real peer started (a port sprayed at call
        // set-up) loses the stream at the peer's first packet.
        if self.expected == Some(from) {
            return self.latch(now, from);
        }
        let latch_silent = self
            .last_heard
            .is_none_or(|t| now.saturating_duration_since(t) >= SILENCE_BEFORE_RELEARN);
        if self.latched.is_some() && !latch_silent {
            return SourceVerdict::Refused;
        }
        if self.shunned == Some(from) {
            return SourceVerdict::Refused;
        }
        match &mut self.candidate {
            Some(c) if c.addr == from && c.ssrc == ssrc && seq == c.seq.wrapping_add(1) => {
                c.seq = seq;
                c.count += 1;
                if c.count >= PROBATION {
                    return self.latch(now, from);
                }
            }
            other => {
                *other = Some(Candidate {
                    addr: from,
                    ssrc,
                    seq,
                    count: 1,
                })
            }
        }
        SourceVerdict::Probation
    }

    fn latch(&mut self, now: Instant, from: SocketAddr) -> SourceVerdict {
        self.latched = Some(from);
        self.last_heard = Some(now);
        self.candidate = None;
        self.shunned = None;
        SourceVerdict::Latched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const SDP: &str = "198.51.100.1:4000";
    const NAT: &str = "203.0.113.9:31000";
    const INJECTOR: &str = "192.0.2.66:4000";

    #[test]
    fn the_sdp_address_latches_at_once_and_others_are_refused_then() {
        let t0 = Instant::now();
        let mut g = SourceGuard::new(Some(addr(SDP)));
        assert_eq!(g.check(t0, addr(SDP), 1, 10), SourceVerdict::Latched);
        assert_eq!(g.check(t0, addr(SDP), 1, 11), SourceVerdict::Accept);
        // An injector sending a perfect sequence is still refused while the
        // source talks.
        for (i, ms) in (0..50u16).zip((0..).step_by(20)) {
            let at = t0 + Duration::from_millis(ms);
            assert_eq!(g.check(at, addr(SDP), 1, 12 + i), SourceVerdict::Accept);
            assert_eq!(
                g.check(at, addr(INJECTOR), 9, 500 + i),
                SourceVerdict::Refused
            );
        }
        assert_eq!(g.latched(), Some(addr(SDP)));
    }

    #[test]
    fn a_natted_source_is_learnt_after_its_probation() {
        let t0 = Instant::now();
        let mut g = SourceGuard::new(Some(addr("10.0.0.5:4000")));
        for seq in 100..100 + PROBATION - 1 {
            assert_eq!(g.check(t0, addr(NAT), 7, seq), SourceVerdict::Probation);
        }
        assert_eq!(
            g.check(t0, addr(NAT), 7, 100 + PROBATION - 1),
            SourceVerdict::Latched
        );
        assert_eq!(g.check(t0, addr(INJECTOR), 7, 104), SourceVerdict::Refused);
    }

    #[test]
    fn out_of_sequence_or_interleaved_packets_restart_the_probation() {
        let t0 = Instant::now();
        let mut g = SourceGuard::new(None);
        // An injector racing a real source: neither gets its run.
        for i in 0..20u16 {
            assert_eq!(g.check(t0, addr(NAT), 7, 100 + i), SourceVerdict::Probation);
            assert_eq!(
                g.check(t0, addr(INJECTOR), 9, 900 + i),
                SourceVerdict::Probation
            );
        }
        // A gap in the sequence starts the count again.
        let mut g = SourceGuard::new(None);
        assert_eq!(g.check(t0, addr(NAT), 7, 1), SourceVerdict::Probation);
        assert_eq!(g.check(t0, addr(NAT), 7, 2), SourceVerdict::Probation);
        assert_eq!(g.check(t0, addr(NAT), 7, 5), SourceVerdict::Probation);
        assert_eq!(g.check(t0, addr(NAT), 7, 6), SourceVerdict::Probation);
        assert_eq!(g.check(t0, addr(NAT), 7, 7), SourceVerdict::Probation);
        assert_eq!(g.check(t0, addr(NAT), 7, 8), SourceVerdict::Latched);
    }

    #[test]
    fn the_sdp_address_takes_over_from_a_learnt_source() {
        let t0 = Instant::now();
        let mut g = SourceGuard::new(Some(addr(SDP)));
        for seq in 0..PROBATION {
            g.check(t0, addr(INJECTOR), 9, seq);
        }
        assert_eq!(g.latched(), Some(addr(INJECTOR)));
        assert_eq!(g.check(t0, addr(SDP), 1, 1), SourceVerdict::Latched);
        assert_eq!(
            g.check(t0, addr(INJECTOR), 9, PROBATION),
            SourceVerdict::Refused
        );
    }

    #[test]
    fn a_source_silent_for_two_seconds_can_be_replaced_after_probation() {
        let t0 = Instant::now();
        let mut g = SourceGuard::new(Some(addr(SDP)));
        assert_eq!(g.check(t0, addr(SDP), 1, 1), SourceVerdict::Latched);
        let soon = t0 + Duration::from_millis(500);
        assert_eq!(g.check(soon, addr(NAT), 1, 2), SourceVerdict::Refused);
        let later = t0 + SILENCE_BEFORE_RELEARN;
        for seq in 2..2 + PROBATION - 1 {
            assert_eq!(g.check(later, addr(NAT), 1, seq), SourceVerdict::Probation);
        }
        assert_eq!(g.check(later, addr(NAT), 1, 5), SourceVerdict::Latched);
        assert_eq!(g.check(later, addr(INJECTOR), 1, 6), SourceVerdict::Refused);
    }

    #[test]
    fn after_a_move_the_old_address_is_never_learnt_and_the_new_one_latches_at_once() {
        let t0 = Instant::now();
        let moved = addr("198.51.100.2:5000");
        let mut g = SourceGuard::new(Some(addr(SDP)));
        g.check(t0, addr(SDP), 1, 1);
        g.expect(moved);
        assert_eq!(g.latched(), None);
        for seq in 2..20 {
            assert_eq!(g.check(t0, addr(SDP), 1, seq), SourceVerdict::Refused);
        }
        assert_eq!(g.check(t0, moved, 2, 1), SourceVerdict::Latched);
        // The same address again keeps the latch.
        g.expect(moved);
        assert_eq!(g.check(t0, moved, 2, 2), SourceVerdict::Accept);
    }
}
