//! Ending and wrap-up (R-END-1/2): a call ends by the agent's `Hangup` (not
//! while held, R-HOLD-3; consult legs always, R-CONS-8) or by the far end;
//! a customer interaction that ends asks the agent for a wrap-up reason
//! (consult and conference legs get none), then the agent returns to the
//! configured state.

use crate::calls::Rec;
use crate::desk::Desk;
use crate::{
    Action, AgentStatus, CallKind, CallRef, CallState, CommandError, DeskEvent, Refused, Reply,
};

impl Desk {
    /// Whether the agent may end `id` (R-END-1, R-HOLD-3, R-CONS-8).
    pub(crate) fn check_hangup(&self, id: CallRef) -> Result<(), CommandError> {
        let c = self.live(id)?;
        if !c.leg_up {
            return Err(Refused {
                rule: "R-CONS-10",
                reason: format!("the customer of call {id} has already left"),
            }
            .into());
        }
        if c.is_held() && c.kind != CallKind::Consult {
            return Err(Refused {
                rule: "R-HOLD-3",
                reason: format!("call {id} is on hold: resume it before ending it"),
            }
            .into());
        }
        Ok(())
    }

    /// `Hangup` (R-END-1).
    pub(crate) fn cmd_hangup(&mut self, call: Option<CallRef>) -> Result<Reply, CommandError> {
        let id = self.resolve(call, "hang up")?;
        self.check_hangup(id)?;
        self.end_leg(id, "ended by the agent", true);
        Ok(Reply::Ok)
    }

    /// `Ended` from the far end (or the caller's cancel of an offer).
    pub(crate) fn input_ended(&mut self, id: CallRef, reason: &str) {
        match self.call(id) {
            Some(c) if c.is_offer() => self.drop_offer(id, None, "cancelled"),
            Some(_) => self.end_leg(id, reason, false),
            None => {}
        }
    }

    /// `Failed`: a call we placed was not answered (R-CONS-7 for a consult).
    pub(crate) fn input_failed(&mut self, id: CallRef, reason: &str) {
        match self.call(id) {
            Some(c) if c.is_offer() => self.drop_offer(id, None, "cancelled"),
            Some(c) if c.kind == CallKind::Consult && !c.established => {
                self.consult_failed(id, reason)
            }
            Some(_) => self.end_leg(id, reason, false),
            None => {}
        }
    }

    /// One leg is over (`hangup`: we send the BYE). A customer with a consult
    /// up goes to `post-call` (R-CONS-10); a conference leg goes by
    /// R-CONF-4; anything else ends.
    pub(crate) fn end_leg(&mut self, id: CallRef, reason: &str, hangup: bool) {
        let Some(c) = self.call(id) else { return };
        if c.is_offer() {
            self.drop_offer(id, None, "cancelled");
            return;
        }
        let (leg_up, conference, primary) = (c.leg_up, c.conference, c.primary);
        if hangup && leg_up {
            self.push(Action::Hangup { call: id });
        }
        if let Some(p) = conference {
            self.conference_leg_gone(id, p, reason);
            return;
        }
        if primary && leg_up && self.consult_from(id).is_some() {
            self.enter_post_call(id);
            return;
        }
        self.finish(id, reason);
    }

    /// The customer's leg is gone but the interaction goes on (R-CONS-10,
    /// R-CONF-4).
    pub(crate) fn enter_post_call(&mut self, id: CallRef) {
        let Some(c) = self.call_mut(id) else { return };
        c.leg_up = false;
        c.state = CallState::PostCall;
        c.transfer = None;
        c.pending = None;
        let (room, open, rec) = (c.room, c.room_open, c.rec);
        if c.conference.is_some() {
            return; // its room is the conference's: it stays
        }
        c.room_open = false;
        c.rec = Rec::Off;
        if rec != Rec::Off {
            self.push(Action::RecordStop { room });
        }
        if open {
            self.push(Action::CloseRoom { room });
        }
        if self.agent_room == Some(room) {
            self.agent_room = None;
        }
    }

    /// Removes a call: its room closes, `Ended` is told, a ghost customer
    /// whose last consult this was ends too, and a customer interaction
    /// asks for wrap-up.
    pub(crate) fn finish(&mut self, id: CallRef, reason: &str) {
        let Some(pos) = self.calls.iter().position(|c| c.id == id) else {
            return;
        };
        let c = self.calls.remove(pos);
        if c.room_open {
            if c.rec != Rec::Off {
                self.push(Action::RecordStop { room: c.room });
            }
            self.push(Action::CloseRoom { room: c.room });
        }
        let shared = self.calls.iter().any(|o| o.room == c.room && o.leg_up);
        if self.agent_room == Some(c.room) && !shared {
            self.agent_room = None;
        }
        self.emit(DeskEvent::Ended {
            call: id,
            reason: reason.to_string(),
        });
        if let Some(p) = c.consult_of {
            let ghost = self
                .call(p)
                .is_some_and(|g| !g.leg_up && g.conference.is_none());
            if ghost && self.consult_from(p).is_none() {
                self.finish(p, "the customer had left; the consult ended");
            }
        }
        if c.primary && c.accepted && !c.wrapped {
            self.begin_wrapup(id);
        }
    }

    /// R-END-2: the agent owes a wrap-up reason for `id` (queued behind one
    /// already asked); with no reasons configured, straight to the
    /// after-state.
    pub(crate) fn begin_wrapup(&mut self, id: CallRef) {
        if let Some(c) = self.call_mut(id) {
            c.wrapped = true;
        }
        if self.config.wrapup_reasons.is_empty() {
            if let Some(reason) = self.config.after_wrapup_idle.clone() {
                if self.agent == AgentStatus::Available {
                    self.set_agent(AgentStatus::Idle { reason }, None);
                }
            }
            return;
        }
        if matches!(self.agent, AgentStatus::WrapUp { .. }) {
            self.wrapup_queue.push(id);
            return;
        }
        self.set_agent(AgentStatus::WrapUp { call: id }, None);
        self.emit(DeskEvent::WrapUp {
            call: id,
            reasons: self.config.wrapup_reasons.clone(),
        });
    }

    /// `WrapUp` (R-END-2): the reason must be a configured one.
    pub(crate) fn cmd_wrapup(
        &mut self,
        call: Option<CallRef>,
        reason: &str,
    ) -> Result<Reply, CommandError> {
        let AgentStatus::WrapUp { call: current } = self.agent else {
            return Err(CommandError::Invalid(
                "no call is waiting for wrap-up".into(),
            ));
        };
        let id = call.unwrap_or(current);
        if id != current && !self.wrapup_queue.contains(&id) {
            return Err(CommandError::Invalid(format!(
                "call {id} is not waiting for wrap-up"
            )));
        }
        let reasons = &self.config.wrapup_reasons;
        if !reasons
            .iter()
            .any(|r| r.eq_ignore_ascii_case(reason.trim()))
        {
            return Err(CommandError::Invalid(format!(
                "unknown wrap-up reason \"{reason}\"; valid reasons: {}",
                reasons.join(", ")
            )));
        }
        if id != current {
            self.wrapup_queue.retain(|q| *q != id);
            return Ok(Reply::Ok);
        }
        if self.wrapup_queue.is_empty() {
            let after = match self.config.after_wrapup_idle.clone() {
                Some(reason) => AgentStatus::Idle { reason },
                None => AgentStatus::Available,
            };
            self.set_agent(after, None);
        } else {
            let next = self.wrapup_queue.remove(0);
            self.set_agent(AgentStatus::WrapUp { call: next }, None);
            self.emit(DeskEvent::WrapUp {
                call: next,
                reasons: self.config.wrapup_reasons.clone(),
            });
        }
        Ok(Reply::Ok)
    }

    /// The configured wrap-up reasons containing `query`, case-insensitive,
    /// in configured order (R-END-2: the list is searchable). An empty query
    /// gives them all.
    pub fn wrapup_reasons(&self, query: &str) -> Vec<String> {
        let q = query.trim().to_lowercase();
        self.config
            .wrapup_reasons
            .iter()
            .filter(|r| r.to_lowercase().contains(&q))
            .cloned()
            .collect()
    }
}
