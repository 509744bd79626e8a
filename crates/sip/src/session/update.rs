//! The state a call keeps for UPDATE (RFC 3311): the one it received and
//! has not answered yet, and the one it sent and waits on.

use super::OutboundAttempt;
use crate::rsip::Request;
use crate::transaction::TxKey;
use std::time::Instant;

/// An UPDATE with an offer from the peer, waiting for the application's
/// answer.
#[derive(Debug, Clone)]
pub struct InboundUpdate {
    /// Its server transaction.
    pub key: TxKey,
    /// The request, to build the answer from.
    pub request: Request,
    /// When the endpoint answers by itself with the current local SDP.
    pub answer_by: Instant,
}

/// An UPDATE we sent, until its final response.
#[derive(Debug, Clone)]
pub struct OutboundUpdate {
    /// Our SDP offer; `None` for a session refresh.
    pub offer: Option<Vec<u8>>,
    /// Its sends and retries.
    pub attempt: OutboundAttempt,
    /// Sent by the session timer, not the application: no events on its
    /// outcome, only on a dead dialog.
    pub internal: bool,
}

impl OutboundUpdate {
    /// The live client transaction, if not backing off.
    pub fn in_flight(&self) -> Option<TxKey> {
        self.attempt.in_flight()
    }

    /// Whether it carries an offer still waiting for its answer (§5.2).
    pub fn offer_outstanding(&self) -> bool {
        self.offer.is_some()
    }
}
