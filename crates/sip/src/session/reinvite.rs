//! The state a call keeps for re-INVITEs (RFC 3261 §14): the one it received
//! and has not answered yet, the one it sent and waits on, and the 2xx it
//! retransmits until the ACK, for the initial INVITE and re-INVITEs alike.

use crate::rsip::{Request, Response};
use crate::transaction::TxKey;
use std::time::{Duration, Instant};

/// UAS 2xx retransmission schedule (§13.3.1.4).
#[derive(Debug, Clone, Copy)]
pub struct Retransmit2xx {
    /// Next retransmission.
    pub next: Instant,
    /// Current interval (T1 doubling up to T2).
    pub interval: Duration,
    /// When to give up and hang up (64·T1 after the first 2xx).
    pub give_up: Instant,
}

/// A 2xx we sent to an INVITE (initial or re-INVITE) and retransmit until the
/// ACK with the same CSeq number arrives.
#[derive(Debug, Clone)]
pub struct Pending2xx {
    /// The INVITE's server transaction.
    pub key: TxKey,
    /// The 2xx, as sent.
    pub resp: Response,
    /// CSeq number of the INVITE, which the ACK repeats.
    pub cseq: u32,
    /// The 2xx carried our offer (the INVITE had none): the ACK brings the answer.
    pub offer_in_2xx: bool,
    /// Retransmission timer.
    pub schedule: Retransmit2xx,
}

/// A re-INVITE the peer sent that the application has not answered yet.
#[derive(Debug, Clone)]
pub struct InboundReInvite {
    /// Its server transaction.
    pub key: TxKey,
    /// The request, to build the answer from.
    pub request: Request,
    /// When the endpoint answers by itself with the current local SDP if the
    /// application has not: a peer must never wait forever on us.
    pub answer_by: Instant,
}

impl InboundReInvite {
    /// The peer's offer, when the re-INVITE carries one.
    pub fn offer(&self) -> Option<&[u8]> {
        (!self.request.body.is_empty()).then_some(self.request.body.as_slice())
    }
}

/// Where our own re-INVITE or UPDATE stands.
#[derive(Debug, Clone)]
pub enum OutboundStep {
    /// Sent on this client transaction, no final response yet.
    Sent(TxKey),
    /// Refused with 491 (glare): sent again at this instant (§14.1).
    Backoff(Instant),
}

/// What our re-INVITE and UPDATE keep alike from the first send until the
/// final response: the send in progress and what the retries used up.
#[derive(Debug, Clone)]
pub struct OutboundAttempt {
    /// Where it stands.
    pub step: OutboundStep,
    /// The request as last sent (for its auth headers and CSeq).
    pub request: Option<Request>,
    /// How many times it was sent (first send, glare retries, auth retry,
    /// deferrals).
    pub attempts: u32,
    /// Nonces answered for it, so refused credentials fail instead of looping.
    pub answered_nonces: Vec<String>,
}

impl OutboundAttempt {
    /// Not sent yet: due at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            step: OutboundStep::Backoff(now),
            request: None,
            attempts: 0,
            answered_nonces: Vec::new(),
        }
    }

    /// The live client transaction, if not in a glare backoff.
    pub fn in_flight(&self) -> Option<TxKey> {
        match self.step {
            OutboundStep::Sent(k) => Some(k),
            OutboundStep::Backoff(_) => None,
        }
    }

    /// In a backoff that has ended by `now`: time to send again.
    pub fn backoff_over(&self, now: Instant) -> bool {
        self.backoff_until().is_some_and(|at| at <= now)
    }

    /// When the glare backoff ends, if in one.
    pub fn backoff_until(&self) -> Option<Instant> {
        match self.step {
            OutboundStep::Backoff(at) => Some(at),
            OutboundStep::Sent(_) => None,
        }
    }
}

/// A re-INVITE we sent, from `Endpoint::reinvite` until its final response.
#[derive(Debug, Clone)]
pub struct OutboundReInvite {
    /// Our SDP offer.
    pub offer: Vec<u8>,
    /// Its sends and retries.
    pub attempt: OutboundAttempt,
}

impl OutboundReInvite {
    /// Whether this re-INVITE's transaction is live (not in a glare backoff).
    pub fn in_flight(&self) -> Option<TxKey> {
        self.attempt.in_flight()
    }
}
