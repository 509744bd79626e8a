//! REGISTER usage (RFC 3261 §10): bind our Contact to an address of record,
//! keep the binding refreshed before it expires, remove it on the way out.
//!
//! This module keeps the per-registration state and decides what to do with each
//! response; the endpoint builds and sends the requests.

use crate::endpoint::Credentials;
use crate::transport::Destination;
use std::time::{Duration, Instant};

/// Handle of a registration inside an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegId(pub u64);

/// What the user asks for.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    /// Where REGISTER requests are sent.
    pub registrar: Destination,
    /// The registrar's domain, used as Request-URI (`sip:DOMAIN`).
    pub domain: String,
    /// The user part of the address of record (`sip:USER@DOMAIN`).
    pub user: String,
    /// Digest credentials, if the registrar challenges.
    pub credentials: Option<Credentials>,
    /// Requested binding lifetime in seconds.
    pub expires: u32,
    /// Other registrars for the same domain, in the order RFC 3263 gives
    /// (SRV priority and weight): when `registrar` does not answer at all
    /// (Timer F, or the transport failed) the REGISTER goes to the next.
    pub alternates: Vec<Destination>,
}

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegState {
    /// REGISTER sent, no final answer yet.
    Registering,
    /// Bound until the given instant; refreshed before that.
    Registered {
        /// When the registrar drops the binding unless refreshed.
        expires_at: Instant,
    },
    /// Unregister (Expires: 0) sent.
    Unregistering,
    /// Finished (unregistered or failed); the endpoint forgets it.
    Done,
}

/// Why a registration failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The registrar refused our credentials.
    #[error(
        "registrar refused the credentials for '{user}' ({code} {phrase}): wrong user or password"
    )]
    AuthRejected {
        /// User we authenticated as.
        user: String,
        /// Status code of the final refusal.
        code: u16,
        /// Reason phrase.
        phrase: String,
    },
    /// The registrar challenged us but no credentials were configured.
    #[error("registrar requires authentication ({code}) but no password is configured")]
    NoCredentials {
        /// 401 or 407.
        code: u16,
    },
    /// Any other final failure.
    #[error("registrar answered {code} {phrase}")]
    Refused {
        /// Status code.
        code: u16,
        /// Reason phrase.
        phrase: String,
    },
    /// The registrar could not be reached (connection refused, TLS
    /// certificate refused, ...), as the I/O layer explained it.
    #[error("cannot reach the registrar: {0}")]
    Transport(String),
    /// No answer (Timer F).
    #[error("registrar did not answer (timeout after {0:?})")]
    Timeout(Duration),
    /// The challenge could not be answered.
    #[error("cannot answer the registrar's challenge: {0}")]
    Challenge(String),
}

/// One registration.
#[derive(Debug)]
pub struct Registration {
    /// What was asked for.
    pub req: RegisterRequest,
    /// Current state.
    pub state: RegState,
    /// Call-ID kept for every REGISTER of this binding (§10.2.4).
    pub call_id: String,
    /// From tag kept likewise.
    pub from_tag: String,
    /// Last CSeq used.
    pub cseq: u32,
    /// Nonces answered since the last success, to detect refused
    /// credentials instead of looping on fresh challenges.
    pub answered_nonces: Vec<String>,
    /// When to send the next refresh.
    pub refresh_at: Option<Instant>,
    /// When to send the next keep-alive (RFC 5626 §4.4.1), while bound.
    pub keepalive_at: Option<Instant>,
    /// Contact header value we register.
    pub contact: String,
    /// Every registrar to try: `req.registrar` first, then its alternates.
    pub targets: Vec<Destination>,
    /// The one in use (`req.registrar` is `targets[at]`).
    pub at: usize,
    /// Registrars that failed to answer since the last success, so a round
    /// through the list ends instead of cycling.
    pub unanswered: usize,
}

impl Registration {
    /// A new registration in state `Registering`.
    pub fn new(req: RegisterRequest, call_id: String, from_tag: String, contact: String) -> Self {
        let targets = std::iter::once(req.registrar)
            .chain(req.alternates.iter().copied())
            .collect();
        Registration {
            targets,
            at: 0,
            unanswered: 0,
            req,
            state: RegState::Registering,
            call_id,
            from_tag,
            cseq: 0,
            answered_nonces: Vec::new(),
            refresh_at: None,
            keepalive_at: None,
            contact,
        }
    }

    /// The registrar in use did not answer: moves to the next one not yet
    /// tried since the last success and returns it, or `None` once every
    /// one has failed.
    pub fn next_target(&mut self) -> Option<Destination> {
        if self.unanswered + 1 >= self.targets.len() {
            return None;
        }
        self.unanswered += 1;
        self.at = (self.at + 1) % self.targets.len();
        self.req.registrar = self.targets[self.at];
        self.answered_nonces.clear();
        Some(self.req.registrar)
    }

    /// Records a successful (re-)registration granted for `granted` seconds and
    /// schedules the refresh. Refreshing at half the lifetime, capped at 5 min
    /// early, mirrors what baresip and pjsua do and survives a lost refresh.
    pub fn registered(&mut self, now: Instant, granted: u32) -> Instant {
        let lifetime = Duration::from_secs(u64::from(granted.max(1)));
        let margin = (lifetime / 2).min(Duration::from_secs(300));
        let expires_at = now + lifetime;
        self.state = RegState::Registered { expires_at };
        self.refresh_at = Some(now + lifetime - margin);
        self.answered_nonces.clear();
        self.unanswered = 0;
        expires_at
    }
}

/// The lifetime the registrar granted us: our Contact's `expires` parameter in
/// the 200 (the registrar lists all bindings of the AoR; ours is the one whose
/// URI matches), else the Expires header, else what we asked for.
pub fn granted_expires(
    contacts: &[(String, Option<u32>)],
    our_contact_uri: &str,
    expires_header: Option<u32>,
    asked: u32,
) -> u32 {
    contacts
        .iter()
        .find(|(uri, _)| uri_matches(uri, our_contact_uri))
        .and_then(|(_, e)| *e)
        .or(expires_header)
        .unwrap_or(asked)
}

fn uri_matches(a: &str, b: &str) -> bool {
    let strip = |s: &str| {
        let s = s.trim().trim_start_matches('<').trim_end_matches('>');
        let s = s.split(';').next().unwrap_or(s);
        s.to_ascii_lowercase()
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granted_lifetime_prefers_our_contact() {
        let c = vec![
            ("<sip:other@1.2.3.4>".to_string(), Some(10)),
            ("<sip:agentphone@127.0.0.1:5060>".to_string(), Some(120)),
        ];
        assert_eq!(
            granted_expires(&c, "<sip:agentphone@127.0.0.1:5060>", Some(3600), 600),
            120
        );
        assert_eq!(granted_expires(&[], "<sip:x@y>", Some(300), 600), 300);
        assert_eq!(granted_expires(&[], "<sip:x@y>", None, 600), 600);
    }

    #[test]
    fn refresh_is_scheduled_before_expiry() {
        let now = Instant::now();
        let req = RegisterRequest {
            registrar: Destination::udp("127.0.0.1:5060".parse().unwrap()),
            domain: "example.org".into(),
            user: "alice".into(),
            credentials: None,
            expires: 3600,
            alternates: Vec::new(),
        };
        let mut r = Registration::new(req, "c".into(), "t".into(), "<sip:a@b>".into());
        let exp = r.registered(now, 3600);
        assert_eq!(exp, now + Duration::from_secs(3600));
        assert_eq!(r.refresh_at, Some(now + Duration::from_secs(3300)));
        r.registered(now, 60);
        assert_eq!(r.refresh_at, Some(now + Duration::from_secs(30)));
    }

    #[test]
    fn unanswered_registrars_are_tried_once_each_per_round() {
        let at = |p: u16| Destination::udp(format!("127.0.0.1:{p}").parse().unwrap());
        let req = RegisterRequest {
            registrar: at(1),
            domain: "example.org".into(),
            user: "alice".into(),
            credentials: None,
            expires: 600,
            alternates: vec![at(2), at(3)],
        };
        let mut r = Registration::new(req, "c".into(), "t".into(), "<sip:a@b>".into());
        assert_eq!(r.next_target(), Some(at(2)));
        assert_eq!(r.next_target(), Some(at(3)));
        assert_eq!(
            r.next_target(),
            None,
            "every registrar failed: the round ends"
        );
        assert_eq!(r.req.registrar, at(3));
        // Bound at 3; when it stops answering, 1 and 2 come next.
        r.registered(Instant::now(), 600);
        assert_eq!(r.next_target(), Some(at(1)));
        assert_eq!(r.next_target(), Some(at(2)));
        assert_eq!(r.next_target(), None);
    }
}
