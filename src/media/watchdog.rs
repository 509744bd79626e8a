//! Dead-call detection (`[media] rtp_timeout_s`): a far end that vanished
//! without a BYE (crashed phone, lost network) leaves a call up forever, tying
//! up the agent. Once the call is answered (early media may legitimately stay
//! silent while it rings), when the peer should be sending (its direction
//! includes sending: not while it holds us with `inactive`, nor while we hold
//! it) and no RTP arrived for the limit, the call is told once, and hangs up.

use agentphone_media::offer_answer::NegotiatedMedia;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The peer's RTP stopped for longer than the configured limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpTimeout {
    /// The key the call gave with [`super::MediaLeg::alert_on_rtp_timeout`].
    pub leg: u64,
    /// How long nothing arrived.
    pub silent_for: Duration,
}

/// Where a leg's timeout goes: its key and the call's channel.
pub(super) type AlertTo = (u64, mpsc::UnboundedSender<RtpTimeout>);

/// Watches one leg's RTP arrivals.
pub(super) struct RtpWatchdog {
    limit: Option<Duration>,
    alert: Option<AlertTo>,
    /// The call is answered: from then on silence counts.
    armed: bool,
    /// The peer's direction includes sending.
    expecting: bool,
    /// Start of the current expectation: media start or the last negotiation,
    /// so a resume after a long hold gets a fresh window.
    since: Instant,
}

impl RtpWatchdog {
    /// `armed`: the call is already answered (else see [`Self::answered`]).
    pub(super) fn new(
        limit: Option<Duration>,
        alert: Option<AlertTo>,
        negotiated: &NegotiatedMedia,
        (now, armed): (Instant, bool),
    ) -> Self {
        RtpWatchdog {
            limit,
            alert,
            armed,
            expecting: negotiated.remote_direction.sends(),
            since: now,
        }
    }

    /// The call was answered at `now` (after early media): start counting.
    pub(super) fn answered(&mut self, now: Instant) {
        if !self.armed {
            self.armed = true;
            self.since = now;
        }
    }

    /// A re-negotiation: the peer may have put us on hold, or resumed.
    pub(super) fn renegotiated(&mut self, negotiated: &NegotiatedMedia, now: Instant) {
        self.expecting = negotiated.remote_direction.sends();
        self.since = now;
    }

    /// Called every packet time with the last RTP arrival; alerts once.
    pub(super) fn check(&mut self, now: Instant, last_arrival: Option<Instant>) {
        let Some(limit) = self.limit else {
            return;
        };
        if !self.armed || !self.expecting || self.alert.is_none() {
            return;
        }
        let heard = last_arrival.map_or(self.since, |t| t.max(self.since));
        let silent_for = now.saturating_duration_since(heard);
        if silent_for < limit {
            return;
        }
        if let Some((leg, to)) = self.alert.take() {
            tracing::warn!(
                silent_s = silent_for.as_secs_f64(),
                "no RTP from the peer: the call looks dead"
            );
            let _ = to.send(RtpTimeout { leg, silent_for });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentphone_media::offer_answer::Direction;

    /// What an offer from a peer with `direction` negotiates.
    fn negotiated(direction: &str) -> NegotiatedMedia {
        super::super::offered::negotiated("0", &format!("a={direction}\r\n"))
    }

    fn watchdog(
        limit_s: u64,
        direction: &str,
        t0: Instant,
    ) -> (RtpWatchdog, mpsc::UnboundedReceiver<RtpTimeout>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let w = RtpWatchdog::new(
            Some(Duration::from_secs(limit_s)),
            Some((7, tx)),
            &negotiated(direction),
            (t0, true),
        );
        (w, rx)
    }

    #[test]
    fn silence_past_the_limit_alerts_once() {
        let t0 = Instant::now();
        let (mut w, mut rx) = watchdog(5, "sendrecv", t0);
        w.check(
            t0 + Duration::from_secs(3),
            Some(t0 + Duration::from_secs(1)),
        );
        assert!(
            rx.try_recv().is_err(),
            "6 s without RTP is not yet due at 3 s"
        );
        w.check(
            t0 + Duration::from_secs(6),
            Some(t0 + Duration::from_secs(1)),
        );
        let alert = rx.try_recv().expect("alerted");
        assert_eq!(alert.leg, 7);
        assert_eq!(alert.silent_for, Duration::from_secs(5));
        w.check(
            t0 + Duration::from_secs(20),
            Some(t0 + Duration::from_secs(1)),
        );
        assert!(rx.try_recv().is_err(), "one alert per call");
    }

    #[test]
    fn no_packet_at_all_counts_from_the_start() {
        let t0 = Instant::now();
        let (mut w, mut rx) = watchdog(5, "sendrecv", t0);
        w.check(t0 + Duration::from_secs(4), None);
        assert!(rx.try_recv().is_err());
        w.check(t0 + Duration::from_secs(5), None);
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn a_peer_that_sends_nothing_by_its_own_sdp_is_not_dead() {
        let t0 = Instant::now();
        // It holds us with `inactive`, or we hold it (it only receives).
        for direction in ["inactive", "recvonly"] {
            let (mut w, mut rx) = watchdog(5, direction, t0);
            w.check(t0 + Duration::from_secs(60), None);
            assert!(rx.try_recv().is_err(), "{direction}");
        }
        // Resumed after a long hold: a fresh window from the re-negotiation.
        let (mut w, mut rx) = watchdog(5, "inactive", t0);
        let resumed = t0 + Duration::from_secs(100);
        w.renegotiated(&negotiated("sendrecv"), resumed);
        assert_eq!(negotiated("sendrecv").remote_direction, Direction::SendRecv);
        w.check(resumed + Duration::from_secs(4), Some(t0));
        assert!(rx.try_recv().is_err());
        w.check(resumed + Duration::from_secs(5), Some(t0));
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn silent_early_media_does_not_count_until_the_answer() {
        let t0 = Instant::now();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let limit = Some(Duration::from_secs(5));
        let mut w = RtpWatchdog::new(limit, Some((1, tx)), &negotiated("sendrecv"), (t0, false));
        w.check(t0 + Duration::from_secs(40), None);
        assert!(
            rx.try_recv().is_err(),
            "40 s of silent ringing is no dead call"
        );
        let answered = t0 + Duration::from_secs(40);
        w.answered(answered);
        w.check(answered + Duration::from_secs(4), None);
        assert!(rx.try_recv().is_err());
        w.check(answered + Duration::from_secs(5), None);
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn without_a_limit_nothing_is_watched() {
        let t0 = Instant::now();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut w = RtpWatchdog::new(None, Some((1, tx)), &negotiated("sendrecv"), (t0, true));
        w.check(t0 + Duration::from_secs(3600), None);
        assert!(rx.try_recv().is_err());
    }
}
