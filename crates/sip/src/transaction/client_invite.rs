//! INVITE client transaction (RFC 3261 §17.1.1, figure 5; RFC 6026 §8.4).
//!
//! Calling --1xx--> Proceeding --300-699--> Completed --D--> gone
//!    \                 \--2xx--> Accepted --M--> gone
//!     \--B--> Timeout (408 for the TU)

use std::time::Instant;

use tracing::debug;

use crate::rsip::Response;

use super::{
    build, Output, ResponseDisposition, Step, TimeoutKind, TimerKind, Timers, Transaction, TxEvent,
    TxState, Wire,
};

/// Send the INVITE and arm A (UDP only) and B.
pub(crate) fn start(tx: &mut Transaction, now: Instant, timers: &Timers, out: &mut Output) {
    tx.state = TxState::Calling;
    out.send(tx.peer, &tx.request_wire);
    if !tx.reliable() {
        tx.interval = timers.t1;
        tx.timers.set(TimerKind::A, now + timers.t1);
    }
    tx.timers.set(TimerKind::B, now + timers.t1x64());
}

/// A response matched this transaction.
pub(crate) fn on_response(
    tx: &mut Transaction,
    now: Instant,
    resp: Response,
    timers: &Timers,
    out: &mut Output,
) -> ResponseDisposition {
    let code = resp.status_code.code();
    match (tx.state, code) {
        (TxState::Calling | TxState::Proceeding, 100..=199) => {
            // Figure 5: no more retransmissions, and B only runs in Calling;
            // a ringing call waits for the user, not for a timer.
            tx.timers.stop(TimerKind::A);
            tx.timers.stop(TimerKind::B);
            tx.state = TxState::Proceeding;
            ResponseDisposition::Deliver(tx.key, resp)
        }
        (TxState::Calling | TxState::Proceeding, 200..=299) => {
            tx.timers.stop(TimerKind::A);
            tx.timers.stop(TimerKind::B);
            tx.state = TxState::Accepted;
            tx.timers.set(TimerKind::M, now + timers.t1x64());
            ResponseDisposition::Deliver(tx.key, resp)
        }
        (TxState::Calling | TxState::Proceeding, _) => complete(tx, now, resp, timers, out),
        // RFC 6026 §8.4: every 2xx in Accepted goes up, so the TU re-ACKs
        // retransmissions and sees forked 2xx from other UASs.
        (TxState::Accepted, 200..=299) => ResponseDisposition::Deliver(tx.key, resp),
        (TxState::Completed, 300..=699) => {
            tx.resend(out);
            ResponseDisposition::Absorbed
        }
        _ => {
            debug!(key = %tx.key, code, state = ?tx.state, "response ignored");
            ResponseDisposition::Absorbed
        }
    }
}

/// A 300-699 final response in Calling or Proceeding: ACK it, wait in
/// Completed for retransmissions (D: 32 s over UDP, 0 over TCP).
fn complete(
    tx: &mut Transaction,
    now: Instant,
    resp: Response,
    timers: &Timers,
    out: &mut Output,
) -> ResponseDisposition {
    tx.timers.stop(TimerKind::A);
    tx.timers.stop(TimerKind::B);
    tx.state = TxState::Completed;
    // A client transaction keeps its request to the end.
    let ack = tx
        .request
        .as_ref()
        .and_then(|request| build::ack_for_non2xx(request, &resp));
    match ack {
        Some(ack) => {
            tx.resend = Some(Wire::request(&ack));
            tx.resend(out);
        }
        // The request was validated when the transaction started and the
        // response has a To (it matched on Via/CSeq); a missing To is logged.
        None => debug!(key = %tx.key, "cannot build ACK: response lacks To"),
    }
    let wait_d = if tx.reliable() {
        std::time::Duration::ZERO
    } else {
        timers.t1x64().max(std::time::Duration::from_secs(32))
    };
    tx.timers.set(TimerKind::D, now + wait_d);
    ResponseDisposition::Deliver(tx.key, resp)
}

/// A timer of this transaction fired.
pub(crate) fn on_timer(
    tx: &mut Transaction,
    kind: TimerKind,
    now: Instant,
    out: &mut Output,
) -> Step {
    match kind {
        TimerKind::A if tx.state == TxState::Calling => {
            out.send(tx.peer, &tx.request_wire);
            tx.interval = tx.interval.saturating_mul(2);
            tx.timers.set(TimerKind::A, now + tx.interval);
            Step::Continue
        }
        TimerKind::B if tx.state == TxState::Calling => {
            out.event(TxEvent::Timeout {
                key: tx.key,
                kind: TimeoutKind::TimerB,
            });
            Step::Terminate
        }
        TimerKind::D | TimerKind::M => Step::Terminate,
        _ => Step::Continue,
    }
}
