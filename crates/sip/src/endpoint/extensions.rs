//! Where the extension modules (UPDATE, session timers, PRACK) plug into
//! the core: responses and timeouts of their client transactions, their
//! timers, and the end of a call.

use super::Endpoint;
use crate::rsip::Response;
use crate::session::{Call, CallId};
use crate::transaction::TxKey;
use std::time::Instant;

impl Endpoint {
    /// A response on one of `call`'s extension transactions (UPDATE,
    /// PRACK). False when `key` is none of them.
    pub(super) fn ext_response(
        &mut self,
        now: Instant,
        call: CallId,
        key: TxKey,
        code: u16,
        resp: &Response,
    ) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        if c.ext.prack_txs.contains(&key) {
            if code >= 200 {
                self.prack_done(call, key, Some(code));
            }
            return true;
        }
        if c.ext.update_out.as_ref().and_then(|u| u.in_flight()) == Some(key) {
            self.update_response(now, call, code, resp.clone());
            return true;
        }
        false
    }

    /// One of `call`'s extension transactions timed out. False when `key`
    /// is none of them.
    pub(super) fn ext_timeout(&mut self, now: Instant, call: CallId, key: TxKey) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        if c.ext.prack_txs.contains(&key) {
            self.prack_done(call, key, None);
            return true;
        }
        if c.ext.update_out.as_ref().and_then(|u| u.in_flight()) == Some(key) {
            // No answer to our UPDATE: the peer is gone (RFC 3261 §12.2.1.2).
            self.reinvite_timed_out(now, call);
            return true;
        }
        false
    }

    /// Fires the extension timers of `call` that are due.
    pub(super) fn ext_timers(&mut self, now: Instant, call: CallId) {
        self.update_auto_answer(now, call);
        self.update_backoff_over(now, call);
        self.reliable_provisional_due(now, call);
        self.session_timer_due(now, call);
    }

    /// `c` has ended: answer what it left pending.
    pub(super) fn ext_call_ended(&mut self, now: Instant, c: &mut Call) {
        self.update_in_dropped(now, c.ext.update_in.take());
    }
}
