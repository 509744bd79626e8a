//! Non-INVITE server transaction (RFC 3261 §17.2.2, figure 8).
//!
//! Trying --1xx--> Proceeding --200-699--> Completed --J--> gone

use std::time::{Duration, Instant};

use super::{
    Output, RequestDisposition, Step, TimerKind, Timers, Transaction, TxError, TxState, Wire,
};

/// A new request arrived; the TU answers it.
pub(crate) fn start(tx: &mut Transaction) {
    tx.state = TxState::Trying;
}

/// A retransmission of the request: re-send the last response, if any
/// (Trying has none, so the request is simply absorbed).
pub(crate) fn on_request(tx: &mut Transaction, out: &mut Output) -> RequestDisposition {
    tx.resend(out);
    RequestDisposition::Retransmission
}

/// The TU sends a response (already serialized to `wire`) with `code`.
pub(crate) fn respond(
    tx: &mut Transaction,
    now: Instant,
    code: u16,
    wire: Wire,
    timers: &Timers,
    out: &mut Output,
) -> Result<(), TxError> {
    match (tx.state, code) {
        (TxState::Trying | TxState::Proceeding, 100..=199) => {
            tx.state = TxState::Proceeding;
        }
        (TxState::Trying | TxState::Proceeding, 200..=699) => {
            tx.state = TxState::Completed;
            tx.request = None;
            let wait_j = if tx.reliable() {
                Duration::ZERO
            } else {
                timers.t1x64()
            };
            tx.timers.set(TimerKind::J, now + wait_j);
        }
        (state, status) => {
            return Err(TxError::InvalidState {
                key: tx.key,
                state,
                status,
            })
        }
    }
    out.send(tx.peer, &wire);
    tx.resend = Some(wire);
    Ok(())
}

/// A timer of this transaction fired: only J exists, and it ends it.
pub(crate) fn on_timer(kind: TimerKind) -> Step {
    match kind {
        TimerKind::J => Step::Terminate,
        _ => Step::Continue,
    }
}
