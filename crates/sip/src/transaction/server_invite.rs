//! INVITE server transaction (RFC 3261 §17.2.1, figure 7; RFC 6026 §8.5-8.7).
//!
//! Proceeding --300-699--> Completed --ACK--> Confirmed --I--> gone
//!      \                      \--H--> Timeout (no ACK)
//!       \--2xx--> Accepted --L--> gone

use std::time::{Duration, Instant};

use crate::rsip::Request;

use super::{
    build, Output, RequestDisposition, Step, TimeoutKind, TimerKind, Timers, Transaction, TxError,
    TxEvent, TxState, Wire, TRYING_DELAY,
};

/// A new INVITE arrived: wait up to 200 ms for the TU before answering 100.
pub(crate) fn start(tx: &mut Transaction, now: Instant) {
    tx.state = TxState::Proceeding;
    tx.timers.set(TimerKind::Trying, now + TRYING_DELAY);
}

/// A retransmitted INVITE, or an ACK, matched this transaction.
pub(crate) fn on_request(
    tx: &mut Transaction,
    now: Instant,
    req: Request,
    timers: &Timers,
    out: &mut Output,
) -> RequestDisposition {
    if req.method == crate::rsip::Method::Ack {
        return on_ack(tx, now, req, timers);
    }
    match tx.state {
        // §17.2.1: resend the last provisional (or final) response. In
        // Accepted the 2xx is the TU's to retransmit (RFC 6026 §8.7), and in
        // Confirmed the ACK already arrived: absorb.
        TxState::Proceeding | TxState::Completed => tx.resend(out),
        _ => {}
    }
    RequestDisposition::Retransmission
}

fn on_ack(tx: &mut Transaction, now: Instant, req: Request, timers: &Timers) -> RequestDisposition {
    match tx.state {
        TxState::Completed => {
            tx.timers.stop(TimerKind::G);
            tx.timers.stop(TimerKind::H);
            tx.state = TxState::Confirmed;
            let wait_i = if tx.reliable() {
                Duration::ZERO
            } else {
                timers.t4
            };
            tx.timers.set(TimerKind::I, now + wait_i);
            RequestDisposition::AckForNon2xx
        }
        TxState::Confirmed => RequestDisposition::Retransmission,
        // An ACK in Accepted acknowledges the 2xx: the dialog's business.
        _ => RequestDisposition::Ack2xxOrStray(req),
    }
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
        (TxState::Proceeding, 100..=199) => {
            tx.timers.stop(TimerKind::Trying);
            out.send(tx.peer, &wire);
            tx.resend = Some(wire);
        }
        (TxState::Proceeding | TxState::Accepted, 200..=299) => {
            tx.timers.stop(TimerKind::Trying);
            out.send_owned(tx.peer, wire);
            if tx.state == TxState::Proceeding {
                tx.state = TxState::Accepted;
                tx.resend = None;
                tx.request = None;
                tx.timers.set(TimerKind::L, now + timers.t1x64());
            }
        }
        (TxState::Proceeding, 300..=699) => {
            tx.timers.stop(TimerKind::Trying);
            out.send(tx.peer, &wire);
            tx.resend = Some(wire);
            tx.request = None;
            tx.state = TxState::Completed;
            if !tx.reliable() {
                tx.interval = timers.t1;
                tx.timers.set(TimerKind::G, now + timers.t1);
            }
            tx.timers.set(TimerKind::H, now + timers.t1x64());
        }
        (state, status) => {
            return Err(TxError::InvalidState {
                key: tx.key,
                state,
                status,
            })
        }
    }
    Ok(())
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
        (TimerKind::Trying, TxState::Proceeding) if tx.resend.is_none() => {
            let Some(request) = &tx.request else {
                return Step::Continue;
            };
            let wire = Wire::response(&build::trying(request));
            out.send(tx.peer, &wire);
            tx.resend = Some(wire);
            Step::Continue
        }
        (TimerKind::G, TxState::Completed) => {
            tx.resend(out);
            tx.interval = tx.interval.saturating_mul(2).min(timers.t2);
            tx.timers.set(TimerKind::G, now + tx.interval);
            Step::Continue
        }
        (TimerKind::H, TxState::Completed) => {
            out.event(TxEvent::Timeout {
                key: tx.key,
                kind: TimeoutKind::TimerH,
            });
            Step::Terminate
        }
        (TimerKind::I | TimerKind::L, _) => Step::Terminate,
        _ => Step::Continue,
    }
}
