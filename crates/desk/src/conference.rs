//! Conference (R-CONF-1..6): an answered consult merged into the customer's
//! room, more parties by consult-and-merge up to `max_participants` (agent
//! and customer counted), removing a party, leaving (the bridge goes on), and
//! the end when one participant is left. Transfer has no place here (R-CONF-3:
//! Leave instead, refused in `transfer`).

use crate::calls::Rec;
use crate::desk::{Conf, Desk};
use crate::{Action, CallRef, CallState, CommandError, Refused, Reply};

fn refused(rule: &'static str, reason: String) -> CommandError {
    Refused { rule, reason }.into()
}

impl Desk {
    /// Whether the consult of `call` may be merged now (R-CONF-1/2/4,
    /// R-CONS-5).
    pub(crate) fn check_conference(&self, call: Option<CallRef>) -> Result<(), CommandError> {
        let (p, k) = self.consult_pair(call, "R-CONF-1")?;
        let pc = self.live(p)?;
        let f = self.conf(p);
        if !pc.leg_up || f.is_some_and(|f| f.customer_gone) {
            return Err(refused(
                "R-CONF-4",
                "the customer has left: nobody can be added in post-call".into(),
            ));
        }
        if f.is_some_and(|f| f.left) {
            return Err(refused("R-CONF-3", "you left this conference".into()));
        }
        if self.live(k)?.state == CallState::ConsultRequested {
            return Err(refused(
                "R-CONS-5",
                "the consulted party has not answered yet: the conference waits for the answer"
                    .into(),
            ));
        }
        self.check_not_transferring(p)?;
        let max = self.config.max_participants;
        let count = 1 + self.group(p).len() + 1;
        if count > max {
            return Err(refused(
                "R-CONF-2",
                format!(
                    "a conference holds at most {max} participants, you and the customer included"
                ),
            ));
        }
        Ok(())
    }

    /// `Conference` (R-CONF-1): the consult leg moves into the customer's
    /// room, held legs are taken back, the agent joins.
    pub(crate) fn cmd_conference(&mut self, call: Option<CallRef>) -> Result<Reply, CommandError> {
        self.check_conference(call)?;
        let (p, k) = self.consult_pair(call, "R-CONF-1")?;
        let Some(room) = self.call(p).map(|c| c.room) else {
            return Err(CommandError::NoSuchCall(p));
        };
        if self.conf(p).is_none() {
            self.confs.push(Conf {
                primary: p,
                room,
                left: false,
                customer_gone: false,
            });
            if let Some(c) = self.call_mut(p) {
                c.conference = Some(p);
            }
        }
        self.push(Action::MoveLeg { call: k, room });
        let Some(kc) = self.call_mut(k) else {
            return Err(CommandError::NoSuchCall(k));
        };
        let (old_room, old_open, old_rec) = (kc.room, kc.room_open, kc.rec);
        kc.room = room;
        kc.conference = Some(p);
        kc.consult_of = None;
        kc.room_open = false;
        kc.rec = Rec::Off;
        for leg in self.group(p) {
            self.resume_one(leg);
        }
        self.push(Action::AgentJoin { room });
        self.agent_room = Some(room);
        if old_rec != Rec::Off {
            self.push(Action::RecordStop { room: old_room });
        }
        if old_open {
            self.push(Action::CloseRoom { room: old_room });
        }
        Ok(Reply::Ok)
    }

    /// Whether `party` may be removed from its conference.
    pub(crate) fn check_remove(&self, party: CallRef) -> Result<(), CommandError> {
        let c = self.live(party)?;
        if c.conference.is_none() {
            return Err(CommandError::Invalid(format!(
                "call {party} is not in a conference"
            )));
        }
        self.check_hangup(party)
    }

    /// `Remove`: hangs up one party.
    pub(crate) fn cmd_remove(&mut self, party: CallRef) -> Result<Reply, CommandError> {
        self.check_remove(party)?;
        self.end_leg(party, "removed by the agent", true);
        Ok(Reply::Ok)
    }

    /// Whether the agent may leave the conference of `call` (R-CONF-3).
    pub(crate) fn check_leave(&self, call: Option<CallRef>) -> Result<(), CommandError> {
        let id = match call {
            Some(id) => id,
            None => self.conference_to_leave()?,
        };
        let c = self.live(id)?;
        let Some(f) = c.conference.and_then(|p| self.conf(p)) else {
            return Err(refused(
                "R-CONF-3",
                format!("call {id} is not in a conference"),
            ));
        };
        if f.left {
            return Err(CommandError::Invalid(
                "you already left this conference".into(),
            ));
        }
        if self.consult_from(f.primary).is_some() {
            return Err(CommandError::Invalid(
                "end or merge the consult before leaving".into(),
            ));
        }
        if self.group_of_conf(f.primary).len() < 2 {
            return Err(refused(
                "R-CONF-3",
                "only one party is left: leaving would end the call, hang up instead".into(),
            ));
        }
        Ok(())
    }

    /// The conference `Leave` without `--call` means.
    fn conference_to_leave(&self) -> Result<CallRef, CommandError> {
        let open: Vec<&Conf> = self.confs.iter().filter(|f| !f.left).collect();
        if let Some(f) = open.iter().find(|f| self.agent_room == Some(f.room)) {
            return Ok(f.primary);
        }
        match open.as_slice() {
            [only] => Ok(only.primary),
            _ => Err(CommandError::NoCall("leave")),
        }
    }

    /// `Leave` (R-CONF-3): the agent's audio leaves, the bridge goes on, the
    /// customer interaction gets its wrap-up (R-CONF-5).
    pub(crate) fn cmd_leave(&mut self, call: Option<CallRef>) -> Result<Reply, CommandError> {
        self.check_leave(call)?;
        let id = match call {
            Some(id) => id,
            None => self.conference_to_leave()?,
        };
        let p = self.primary_of(id);
        let Some(f) = self.conf_mut(p) else {
            return Err(CommandError::NoSuchCall(id));
        };
        f.left = true;
        let room = f.room;
        if self.agent_room == Some(room) {
            self.agent_room = None;
            self.push(Action::AgentLeave);
        }
        for leg in self.group(p) {
            if self.call(leg).is_some_and(|c| c.is_held()) {
                self.resume_one(leg);
            }
        }
        if self
            .call(p)
            .is_some_and(|c| c.primary && c.accepted && !c.wrapped)
        {
            self.begin_wrapup(p);
        }
        self.conference_check(p);
        Ok(Reply::Ok)
    }

    /// A conference leg is gone: the customer leaving makes the others
    /// `post-call` (R-CONF-4); then the end check.
    pub(crate) fn conference_leg_gone(&mut self, id: CallRef, p: CallRef, reason: &str) {
        if id == p {
            self.enter_post_call(p);
            if let Some(f) = self.conf_mut(p) {
                f.customer_gone = true;
            }
            for leg in self.group(p) {
                self.resume_one(leg);
                if let Some(c) = self.call_mut(leg) {
                    c.state = CallState::PostCall;
                }
            }
        } else {
            self.finish(id, reason);
        }
        self.conference_check(p);
    }

    /// R-CONF-4: the conference ends when one participant is left (the
    /// agent counts while in it): the last leg is hung up.
    pub(crate) fn conference_check(&mut self, p: CallRef) {
        let Some(f) = self.conf(p) else { return };
        let agent = usize::from(!f.left);
        let mut live = self.group_of_conf(p);
        if live.len() + agent > 1 {
            return;
        }
        live.sort_by_key(|l| *l == p);
        for leg in &live {
            self.push(Action::Hangup { call: *leg });
            if *leg != p {
                self.finish(*leg, "the conference ended");
            }
        }
        self.confs.retain(|f| f.primary != p);
        if let Some(c) = self.call_mut(p) {
            c.conference = None;
            c.leg_up = false;
        }
        self.finish(p, "the conference ended");
    }

    /// The live legs of conference `p`.
    fn group_of_conf(&self, p: CallRef) -> Vec<CallRef> {
        self.calls
            .iter()
            .filter(|c| c.conference == Some(p) && c.leg_up)
            .map(|c| c.id)
            .collect()
    }
}
