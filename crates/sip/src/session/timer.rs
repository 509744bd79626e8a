//! Session timers (RFC 4028): the negotiated interval, who refreshes, and
//! the two instants that follow from them — the refresh at half the
//! interval (§10, when we refresh) and the BYE when no refresh came.

use std::time::{Duration, Instant};

/// Session-timer settings of an endpoint (RFC 4028).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// Offer and honour session timers: `Supported: timer`, Session-Expires
    /// and Min-SE on our INVITEs, refreshes, BYE on expiry. Off: the
    /// `timer` option tag is unsupported (a `Require: timer` gets 420) and
    /// Session-Expires is ignored.
    pub enabled: bool,
    /// The session interval we ask for (Session-Expires), and the largest we
    /// grant a peer that asks for more (§9 lets the UAS reduce it).
    pub session_expires: Duration,
    /// The smallest interval we accept (our Min-SE, §5): a request asking
    /// for less gets 422. RFC 4028 forbids less than 90 s.
    pub min_se: Duration,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            enabled: true,
            session_expires: Duration::from_secs(1800),
            min_se: Duration::from_secs(90),
        }
    }
}

impl SessionTimerConfig {
    /// Our Min-SE in whole seconds, never below the RFC floor of 90.
    pub fn min_se_secs(&self) -> u32 {
        secs(self.min_se).max(90)
    }

    /// The Session-Expires we ask for, in whole seconds, never below Min-SE.
    pub fn session_expires_secs(&self) -> u32 {
        secs(self.session_expires).max(self.min_se_secs())
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// The `refresher` parameter of Session-Expires (§4): which side of the
/// request or response carrying it refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The UAC of the transaction.
    Uac,
    /// The UAS of the transaction.
    Uas,
}

impl Refresher {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// A parsed Session-Expires value: `delta-seconds [;refresher=uac|uas]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    /// The interval in seconds.
    pub secs: u32,
    /// Who refreshes, when said.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Parses a Session-Expires header value; `None` when malformed.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split(';');
        let secs = parse_delta(parts.next()?)?;
        let mut refresher = None;
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            if k.trim().eq_ignore_ascii_case("refresher") {
                refresher = match v.trim().to_ascii_lowercase().as_str() {
                    "uac" => Some(Refresher::Uac),
                    "uas" => Some(Refresher::Uas),
                    _ => None,
                };
            }
        }
        Some(SessionExpires { secs, refresher })
    }
}

/// Parses delta-seconds (Session-Expires, Min-SE), ignoring parameters.
pub fn parse_delta(value: &str) -> Option<u32> {
    let v = value.split(';').next()?.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        v.parse::<u64>()
            .map_or(u32::MAX, |n| n.min(u64::from(u32::MAX)) as u32),
    )
}

/// The session timer of one call, once a 2xx set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    /// The negotiated session interval.
    pub interval: Duration,
    /// We are the refresher.
    pub we_refresh: bool,
    /// When the last successful refresh (or the 2xx that set the timer) was.
    pub since: Instant,
    /// Our refresh for this interval went out (or another exchange stands
    /// in for it): no second one until the timer restarts.
    pub refresh_sent: bool,
}

impl SessionTimer {
    /// A timer starting now.
    pub fn new(now: Instant, secs: u32, we_refresh: bool) -> Self {
        SessionTimer {
            interval: Duration::from_secs(u64::from(secs)),
            we_refresh,
            since: now,
            refresh_sent: false,
        }
    }

    /// When we send the refresh: half the interval (§10), if we refresh.
    pub fn refresh_at(&self) -> Option<Instant> {
        (self.we_refresh && !self.refresh_sent).then(|| self.since + self.interval / 2)
    }

    /// When the session is over without a refresh: the refresher gives up
    /// at expiry; the other side sends BYE the minimum of 32 s and a third
    /// of the interval before it (§10).
    pub fn expires_at(&self) -> Instant {
        if self.we_refresh {
            self.since + self.interval
        } else {
            let margin = (self.interval / 3).min(Duration::from_secs(32));
            self.since + self.interval - margin
        }
    }

    /// The earliest of the two.
    pub fn next_deadline(&self) -> Instant {
        self.refresh_at()
            .map_or(self.expires_at(), |r| r.min(self.expires_at()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_expires_values_parse() {
        assert_eq!(
            SessionExpires::parse("1800;refresher=uac"),
            Some(SessionExpires {
                secs: 1800,
                refresher: Some(Refresher::Uac)
            })
        );
        assert_eq!(
            SessionExpires::parse(" 90 ; Refresher = UAS"),
            Some(SessionExpires {
                secs: 90,
                refresher: Some(Refresher::Uas)
            })
        );
        assert_eq!(SessionExpires::parse("4000").unwrap().refresher, None);
        assert_eq!(SessionExpires::parse("x;refresher=uac"), None);
        assert_eq!(SessionExpires::parse(""), None);
        assert_eq!(parse_delta("99999999999"), Some(u32::MAX));
    }

    #[test]
    fn deadlines_follow_rfc4028_section_10() {
        let t0 = Instant::now();
        let us = SessionTimer::new(t0, 1800, true);
        assert_eq!(us.refresh_at(), Some(t0 + Duration::from_secs(900)));
        assert_eq!(us.next_deadline(), t0 + Duration::from_secs(900));
        let them = SessionTimer::new(t0, 1800, false);
        assert_eq!(them.refresh_at(), None);
        assert_eq!(them.expires_at(), t0 + Duration::from_secs(1800 - 32));
        let short = SessionTimer::new(t0, 90, false);
        assert_eq!(short.expires_at(), t0 + Duration::from_secs(60));
    }
}
