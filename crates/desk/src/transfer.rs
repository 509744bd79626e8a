//! Transfer (R-XFER-1..6): blind (REFER), attended (REFER with Replaces,
//! only once the consult is answered, R-CONS-5), their outcome, and REFERs
//! the far end sends us, by the configured policy.

use crate::calls::{Call, Xfer};
use crate::desk::Desk;
use crate::dial::parse_target;
use crate::{
    Action, CallKind, CallRef, CallState, CommandError, DeskEvent, ReferPolicy, ReferRef, Refused,
    Reply,
};
use std::time::Instant;

/// An incoming REFER waiting for the agent (policy `ask`).
#[derive(Debug, Clone)]
pub(crate) struct PendingRefer {
    pub refer: ReferRef,
    pub call: CallRef,
    pub target: String,
    /// Refused by itself then (`refer_ask_timeout`).
    pub deadline: Instant,
}

fn refused(rule: &'static str, reason: String) -> CommandError {
    Refused { rule, reason }.into()
}

/// The host part of a SIP URI (or name-addr), lower-cased.
fn uri_host(target: &str) -> String {
    let t = target.trim().trim_start_matches('<');
    let t = t.find(':').map(|i| &t[i + 1..]).unwrap_or(t);
    let t = t.rfind('@').map(|i| &t[i + 1..]).unwrap_or(t);
    let end = t.find([';', '>', ':', '?']).unwrap_or(t.len());
    t[..end].to_ascii_lowercase()
}

impl Desk {
    /// Whether `id` may be transferred blind (R-XFER-1, R-CONF-3, R-CONS-5).
    pub(crate) fn check_transfer_blind(&self, id: CallRef) -> Result<(), CommandError> {
        let c = self.live(id)?;
        if c.conference.is_some() {
            return Err(refused(
                "R-CONF-3",
                "in a conference there is no transfer: Leave instead".into(),
            ));
        }
        if !c.leg_up {
            return Err(refused("R-CONS-10", "the customer has already left".into()));
        }
        if !c.established {
            return Err(refused(
                "R-XFER-1",
                format!("call {id} is not answered yet: only an answered call can be transferred"),
            ));
        }
        if let Some(k) = self.consult_from(id) {
            if k.state == CallState::ConsultRequested {
                return Err(refused(
                    "R-CONS-5",
                    "the consulted party has not answered yet: transfer waits for the answer"
                        .into(),
                ));
            }
        }
        self.check_not_transferring(id)
    }

    /// `TransferBlind`: the call is held, then REFERred.
    pub(crate) fn cmd_transfer_blind(
        &mut self,
        call: Option<CallRef>,
        target: &str,
    ) -> Result<Reply, CommandError> {
        let id = self.resolve(call, "transfer")?;
        self.check_transfer_blind(id)?;
        let target = parse_target(target, "R-XFER-6")?;
        let Some(c) = self.call(id) else {
            return Err(CommandError::NoSuchCall(id));
        };
        let (held, room) = (c.is_held(), c.room);
        if !held {
            self.hold_one(id);
            if self.agent_room == Some(room) {
                self.agent_room = None;
                self.push(Action::AgentLeave);
            }
        }
        self.push(Action::TransferBlind { call: id, target });
        if let Some(c) = self.call_mut(id) {
            c.transfer = Some(Xfer::Blind);
        }
        Ok(Reply::Ok)
    }

    /// Whether an attended transfer is allowed now (R-CONS-5, R-CONF-3).
    pub(crate) fn check_transfer_consult(&self, call: Option<CallRef>) -> Result<(), CommandError> {
        let (p, k) = self.consult_pair(call, "R-CONS-5")?;
        let pc = self.live(p)?;
        if pc.conference.is_some() {
            return Err(refused(
                "R-CONF-3",
                "in a conference there is no transfer: Leave instead".into(),
            ));
        }
        if !pc.leg_up {
            return Err(refused("R-CONS-10", "the customer has already left".into()));
        }
        if self.live(k)?.state == CallState::ConsultRequested {
            return Err(refused(
                "R-CONS-5",
                "the consulted party has not answered yet: transfer waits for the answer".into(),
            ));
        }
        self.check_not_transferring(p)
    }

    /// `TransferConsult`: REFER the customer to the consultee with Replaces.
    pub(crate) fn cmd_transfer_consult(
        &mut self,
        call: Option<CallRef>,
    ) -> Result<Reply, CommandError> {
        self.check_transfer_consult(call)?;
        let (p, k) = self.consult_pair(call, "R-CONS-5")?;
        self.push(Action::TransferAttended {
            call: p,
            consult: k,
        });
        if let Some(c) = self.call_mut(p) {
            c.transfer = Some(Xfer::Attended { consult: k });
        }
        Ok(Reply::Ok)
    }

    /// `TransferProgress`: told as it comes.
    pub(crate) fn input_transfer_progress(&mut self, id: CallRef, status: String) {
        if self.call(id).is_some() {
            self.emit(DeskEvent::Transfer {
                call: id,
                outcome: "progress".into(),
                detail: status,
            });
        }
    }

    /// `TransferSucceeded`: our legs end, wrap-up follows (R-XFER-5).
    pub(crate) fn input_transfer_succeeded(&mut self, id: CallRef) {
        let Some(x) = self.call(id).and_then(|c| c.transfer) else {
            return;
        };
        self.emit(DeskEvent::Transfer {
            call: id,
            outcome: "succeeded".into(),
            detail: String::new(),
        });
        if let Xfer::Attended { consult } = x {
            self.end_leg(consult, "transferred", true);
        }
        self.end_leg(id, "transferred", true);
    }

    /// `TransferFailed`: the call is back, held, with the reason.
    pub(crate) fn input_transfer_failed(&mut self, id: CallRef, reason: String) {
        let Some(c) = self.call_mut(id) else { return };
        if c.transfer.take().is_none() {
            return;
        }
        self.emit(DeskEvent::Transfer {
            call: id,
            outcome: "failed".into(),
            detail: reason,
        });
    }

    /// `ReferReceived`: answered by `refer_policy`.
    pub(crate) fn input_refer(
        &mut self,
        now: Instant,
        call: CallRef,
        refer: ReferRef,
        target: String,
    ) {
        if self.refers.iter().any(|r| r.refer == refer) {
            return;
        }
        let known = self.call(call).is_some_and(|c| !c.is_offer());
        if self.stopping || !known || self.config.refer_policy == ReferPolicy::Reject {
            self.push(Action::RejectRefer { refer, code: 603 });
            return;
        }
        self.push(Action::AcceptRefer { refer });
        let host = uri_host(&target);
        let allowed = self
            .config
            .refer_allow
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host));
        if self.config.refer_policy == ReferPolicy::Accept && allowed {
            self.follow_refer(refer, target);
            return;
        }
        let deadline = now + self.config.refer_ask_timeout;
        self.refers.push(PendingRefer {
            refer,
            call,
            target: target.clone(),
            deadline,
        });
        self.emit(DeskEvent::ReferAsk {
            refer,
            call,
            target,
        });
    }

    /// Places the call a REFER asks for; it takes the agent's audio once
    /// answered.
    fn follow_refer(&mut self, refer: ReferRef, target: String) -> CallRef {
        let call = self.new_call_id();
        let room = self.new_room();
        let mut c = Call::new(call, CallKind::Referred, CallState::Dialing, target, room);
        c.room_open = true;
        self.calls.push(c);
        self.push(Action::OpenRoom { room });
        self.push(Action::FollowRefer { refer, call, room });
        call
    }

    /// `Refer`: the agent's answer to a REFER prompt.
    pub(crate) fn cmd_refer(
        &mut self,
        refer: ReferRef,
        accept: bool,
    ) -> Result<Reply, CommandError> {
        let Some(pos) = self.refers.iter().position(|r| r.refer == refer) else {
            return Err(CommandError::Invalid(format!(
                "no REFER {refer} is waiting"
            )));
        };
        let r = self.refers.remove(pos);
        if accept {
            let call = self.follow_refer(refer, r.target);
            return Ok(Reply::Call { call });
        }
        self.push(Action::RejectRefer { refer, code: 603 });
        Ok(Reply::Ok)
    }

    /// REFER prompts nobody answered in time are refused.
    pub(crate) fn refer_timeouts(&mut self, now: Instant) {
        let (expired, kept): (Vec<PendingRefer>, Vec<PendingRefer>) =
            std::mem::take(&mut self.refers)
                .into_iter()
                .partition(|r| r.deadline <= now);
        self.refers = kept;
        for r in expired {
            self.push(Action::RejectRefer {
                refer: r.refer,
                code: 603,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::uri_host;

    #[test]
    fn host_of_a_refer_target() {
        assert_eq!(uri_host("sip:bob@Example.COM;transport=tcp"), "example.com");
        assert_eq!(
            uri_host("<sips:alice@pbx.example:5061?Replaces=x>"),
            "pbx.example"
        );
        assert_eq!(uri_host("sip:pbx.example"), "pbx.example");
    }
}
