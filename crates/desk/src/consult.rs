//! Consult (R-CONS-1..10): from the active call (or conference), the
//! customer is held (R-HOLD-4), the consult call placed in a room of its own
//! and the agent's audio moved there. Resume, toggle, transfer and
//! conference go from here; a failed consult leaves the customer held
//! (R-CONS-7); the customer leaving makes it `post-call` (R-CONS-10).

use crate::calls::Call;
use crate::desk::Desk;
use crate::dial::{parse_target, target_peer};
use crate::{Action, CallKind, CallRef, CallState, CommandError, DeskEvent, Refused, Reply};

fn refused(rule: &'static str, reason: String) -> CommandError {
    Refused { rule, reason }.into()
}

impl Desk {
    /// Whether a consult may start from `id` (R-CONS-1, R-CONF-4).
    pub(crate) fn check_consult(&self, id: CallRef) -> Result<(), CommandError> {
        let c = self.live(id)?;
        if c.kind == CallKind::Consult && c.conference.is_none() {
            return Err(refused(
                "R-CONS-1",
                "consult from the customer's call, not from a consult call".into(),
            ));
        }
        if let Some(f) = c.conference.and_then(|p| self.conf(p)) {
            if f.customer_gone {
                return Err(refused(
                    "R-CONF-4",
                    "the customer has left: nobody can consult in post-call".into(),
                ));
            }
            if f.left {
                return Err(refused("R-CONF-3", "you left this conference".into()));
            }
        }
        let active =
            matches!(c.state, CallState::Connected | CallState::Conference) && self.is_talking(c);
        if !active {
            return Err(refused(
                "R-CONS-1",
                format!("a consult needs an active call; call {id} is not the one you talk on"),
            ));
        }
        let p = self.primary_of(id);
        if let Some(k) = self.consult_from(p) {
            return Err(refused(
                "R-CONS-1",
                format!(
                    "consult call {} from this call is still up: end it first",
                    k.id
                ),
            ));
        }
        self.check_not_transferring(id)
    }

    /// `Consult`: hold the customer (or the conference, R-CONF-6), open a
    /// room, dial, move the agent there.
    pub(crate) fn cmd_consult(
        &mut self,
        call: Option<CallRef>,
        target: &str,
        hold_conference: bool,
    ) -> Result<Reply, CommandError> {
        let id = self.resolve(call, "consult from")?;
        self.check_consult(id)?;
        let target = parse_target(target, "R-CONS-3")?;
        let p = self.primary_of(id);
        let in_conf = self.call(id).is_some_and(|c| c.conference.is_some());
        if !in_conf || hold_conference {
            for leg in self.group(id) {
                self.hold_one(leg);
            }
        }
        let call = self.new_call_id();
        let room = self.new_room();
        let mut c = Call::new(
            call,
            CallKind::Consult,
            CallState::ConsultRequested,
            target_peer(&target),
            room,
        );
        c.room_open = true;
        c.consult_of = Some(p);
        self.calls.push(c);
        self.push(Action::OpenRoom { room });
        self.push(Action::Dial { call, target, room });
        self.push(Action::AgentJoin { room });
        self.agent_room = Some(room);
        Ok(Reply::Call { call })
    }

    /// The consult the agent is busy with: the talking one, else the one
    /// from the talking call, else the only one.
    pub(crate) fn current_consult(&self) -> Option<&Call> {
        let consults: Vec<&Call> = self
            .calls
            .iter()
            .filter(|c| c.kind == CallKind::Consult && c.consult_of.is_some() && c.leg_up)
            .collect();
        if let Some(c) = consults.iter().find(|c| self.is_talking(c)) {
            return Some(c);
        }
        let talking: Vec<CallRef> = self.talking().iter().map(|t| self.primary_of(*t)).collect();
        if let Some(c) = consults
            .iter()
            .find(|c| c.consult_of.is_some_and(|p| talking.contains(&p)))
        {
            return Some(c);
        }
        match consults.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// A consult call failed before it was answered (R-CONS-7): the agent is
    /// told, the customer stays held until the agent resumes it.
    pub(crate) fn consult_failed(&mut self, id: CallRef, reason: &str) {
        self.emit(DeskEvent::ConsultFailed {
            call: id,
            reason: reason.to_string(),
        });
        self.end_leg(id, reason, false);
    }

    /// The customer (or conference) and its consult that `call` names: a
    /// consult leg, or the call it was placed from; else the current one.
    /// No consult: refused naming `rule`.
    pub(crate) fn consult_pair(
        &self,
        call: Option<CallRef>,
        rule: &'static str,
    ) -> Result<(CallRef, CallRef), CommandError> {
        let none = || refused(rule, "this needs an answered consult: consult first".into());
        let k = match call {
            Some(id) => {
                let c = self.live(id)?;
                if c.kind == CallKind::Consult && c.consult_of.is_some() {
                    c
                } else {
                    self.consult_from(self.primary_of(id)).ok_or_else(none)?
                }
            }
            None => self.current_consult().ok_or_else(none)?,
        };
        let p = k.consult_of.ok_or_else(none)?;
        Ok((p, k.id))
    }
}
