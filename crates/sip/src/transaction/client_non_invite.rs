//! Non-INVITE client transaction (RFC 3261 §17.1.2, figure 6).
//!
//! Trying --1xx--> Proceeding --200-699--> Completed --K--> gone
//! (either of the first two) --F--> Timeout (408 for the TU)

use std::time::{Duration, Instant};

use tracing::debug;

use crate::rsip::Response;

use super::{
    Output, ResponseDisposition, Step, TimeoutKind, TimerKind, Timers, Transaction, TxEvent,
    TxState,
};

/// Send the request and arm E (UDP only) and F.
pub(crate) fn start(tx: &mut Transaction, now: Instant, timers: &Timers, out: &mut Output) {
    tx.state = TxState::Trying;
    out.send(tx.peer, &tx.request_wire);
    if !tx.reliable() {
        tx.interval = timers.t1;
        tx.timers.set(TimerKind::E, now + timers.t1);
    }
    tx.timers.set(TimerKind::F, now + timers.t1x64());
}

/// A response matched this transaction.
pub(crate) fn on_response(
    tx: &mut Transaction,
    now: Instant,
    resp: Response,
    timers: &Timers,
) -> ResponseDisposition {
    let code = resp.status_code.code();
    match (tx.state, code) {
        (TxState::Trying | TxState::Proceeding, 100..=199) => {
            // E keeps running; from its next firing on it waits T2 (§17.1.2.2).
            tx.state = TxState::Proceeding;
            ResponseDisposition::Deliver(tx.key, resp)
        }
        (TxState::Trying | TxState::Proceeding, _) => {
            tx.timers.stop(TimerKind::E);
            tx.timers.stop(TimerKind::F);
            tx.state = TxState::Completed;
            let wait_k = if tx.reliable() {
                Duration::ZERO
            } else {
                timers.t4
            };
            tx.timers.set(TimerKind::K, now + wait_k);
            ResponseDisposition::Deliver(tx.key, resp)
        }
        _ => {
            debug!(key = %tx.key, code, "retransmitted response absorbed");
            ResponseDisposition::Absorbed
        }
    }
}

/// A timer of this transaction fired.
pub(crate) fn on_timer(
    tx: &mut Transaction,
    kind: TimerKind,
    now: Instant,
    timers: &Timers,
    out: &mut Output,
) -> Step {
    match (kind, tx.state) {
        (TimerKind::E, TxState::Trying | TxState::Proceeding) => {
            out.send(tx.peer, &tx.request_wire);
            tx.interval = if tx.state == TxState::Proceeding {
                timers.t2
            } else {
                tx.interval.saturating_mul(2).min(timers.t2)
            };
            tx.timers.set(TimerKind::E, now + tx.interval);
            Step::Continue
        }
        (TimerKind::F, TxState::Trying | TxState::Proceeding) => {
            out.event(TxEvent::Timeout {
                key: tx.key,
                kind: TimeoutKind::TimerF,
            });
            Step::Terminate
        }
        (TimerKind::K, _) => Step::Terminate,
        _ => Step::Continue,
    }
}
