//! Which new INVITEs may ring: from where, for whom, and how many at once.
//!
//! A phone registered at a proxy takes calls only from that proxy and only
//! for its own user: SIP scanners send INVITEs straight to the port with
//! made-up users ("ghost calls"), which get 403 or 404 and never ring. Beyond
//! `max_calls` concurrent calls a new INVITE gets 503 with Retry-After
//! (RFC 3261 §21.5.4). An INVITE with Replaces takes an existing call's
//! place, so the cap does not apply to it. Each limit reached is logged once
//! a minute, however many requests hit it, and counted. Beyond
//! `max_transactions` live server transactions (a flood: each refused INVITE
//! is kept 32 s for its ACK) new requests get a stateless 503 and leave no
//! state behind.

use super::Endpoint;
use crate::rsip::{Header, Request};
use crate::transaction::TxKey;
use crate::transport::Destination;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The policy for new INVITEs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// Accept new calls only from these addresses (the registrar/outbound
    /// proxy's); `None` accepts from anyone.
    pub accept_from: Option<Vec<IpAddr>>,
    /// Accept new calls only for this Request-URI user (our Contact user);
    /// `None` accepts any.
    pub for_user: Option<String>,
    /// Concurrent calls at most; beyond, 503 with Retry-After.
    pub max_calls: usize,
    /// The Retry-After of that 503, seconds.
    pub retry_after_s: u32,
    /// Live server transactions at most; new requests beyond get a
    /// stateless 503.
    pub max_transactions: usize,
}

impl Default for Admission {
    /// From anyone, for anyone, no cap: a test tool's behaviour; the binary
    /// sets the real policy.
    fn default() -> Self {
        Admission {
            accept_from: None,
            for_user: None,
            max_calls: usize::MAX,
            retry_after_s: 30,
            max_transactions: usize::MAX,
        }
    }
}

/// New INVITEs refused so far, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refusals {
    /// From an address that is not the proxy's (403).
    pub foreign_source: u64,
    /// For a user that is not ours (404).
    pub unknown_user: u64,
    /// Beyond the concurrent-call cap (503).
    pub over_capacity: u64,
    /// Any new request beyond the server-transaction cap (stateless 503).
    pub overloaded: u64,
}

/// A limit is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub(super) struct AdmissionState {
    policy: Admission,
    refused: Refusals,
    /// When each limit was last logged: source, user, capacity, transactions.
    logged: [Option<Instant>; 4],
}

impl Endpoint {
    /// Sets the policy for new INVITEs (see [`Admission`]).
    pub fn set_admission(&mut self, policy: Admission) {
        self.tx.set_server_limit(policy.max_transactions);
        self.admission.policy = policy;
    }

    /// The policy in force.
    pub fn admission(&self) -> &Admission {
        &self.admission.policy
    }

    /// New INVITEs refused so far.
    pub fn refusals(&self) -> Refusals {
        self.admission.refused
    }

    /// Checks a new INVITE; answers and returns false when it may not ring.
    pub(super) fn admit(
        &mut self,
        now: Instant,
        (src, key): (&Destination, TxKey),
        req: &Request,
    ) -> bool {
        let replaces = req.headers.iter().any(|h| {
            let line = h.to_string();
            line.get(..9)
                .is_some_and(|n| n.eq_ignore_ascii_case("replaces:"))
        });
        let policy = &self.admission.policy;
        let foreign = policy
            .accept_from
            .as_ref()
            .is_some_and(|ok| !ok.contains(&src.addr.ip()));
        let user = req.uri.auth.as_ref().map(|a| a.user.as_str());
        let stranger = policy
            .for_user
            .as_deref()
            .is_some_and(|ours| user != Some(ours));
        let full = !replaces && self.calls.len() >= policy.max_calls;
        let (slot, code, what) = if foreign {
            self.admission.refused.foreign_source += 1;
            (0, 403, "a new call from an address that is not the proxy's")
        } else if stranger {
            self.admission.refused.unknown_user += 1;
            (1, 404, "a new call for a user that is not ours")
        } else if full {
            self.admission.refused.over_capacity += 1;
            (2, 503, "a new call beyond max_concurrent_calls")
        } else {
            return true;
        };
        self.log_refusal(now, slot, src, code, what);
        if code == 503 {
            let retry = self.admission.policy.retry_after_s;
            let mut resp = self.response(req, 503, None, crate::transport::Transport::Udp, None);
            resp.headers
                .push(Header::Other("Retry-After".into(), retry.to_string()));
            self.respond_or_log(now, key, resp);
        } else {
            self.respond_code(now, key, req, code);
        }
        false
    }

    /// A new request found the server-transaction table full: a stateless
    /// 503 with Retry-After (none to an ACK, which is never answered).
    pub(super) fn overloaded(&mut self, now: Instant, reply_to: Destination, req: &Request) {
        self.admission.refused.overloaded += 1;
        let what = "a new request beyond max_server_transactions";
        self.log_refusal(now, 3, &reply_to, 503, what);
        if req.method == crate::rsip::Method::Ack {
            return;
        }
        let tag = self.token(10);
        let mut resp = self.response(req, 503, Some(&tag), crate::transport::Transport::Udp, None);
        let retry = self.admission.policy.retry_after_s;
        resp.headers
            .push(Header::Other("Retry-After".into(), retry.to_string()));
        self.tx
            .send_stateless(&crate::rsip::SipMessage::Response(resp), reply_to);
    }

    fn log_refusal(&mut self, now: Instant, slot: usize, src: &Destination, code: u16, what: &str) {
        let last = &mut self.admission.logged[slot];
        if last.is_none_or(|t| now.duration_since(t) >= LOG_EVERY) {
            *last = Some(now);
            tracing::warn!(
                from = %src,
                code,
                refused = ?self.admission.refused,
                "refused {what} (logged once a minute)"
            );
        }
    }
}
