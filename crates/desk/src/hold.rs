//! Hold and resume (R-HOLD-1..5): the agent talks on one call (or one
//! conference) at a time; taking another call holds the talking one first
//! (R-HOLD-4); the far end's hold is shown (R-HOLD-5); a refused re-INVITE
//! puts the state back.

use crate::calls::Pending;
use crate::desk::Desk;
use crate::{Action, CallKind, CallRef, CallState, CommandError, Refused, Reply};

fn refused(rule: &'static str, reason: String) -> CommandError {
    Refused { rule, reason }.into()
}

impl Desk {
    /// Frees the agent's audio for another call (R-HOLD-4): talking calls
    /// are held; a call not answered yet (dialling, consult requested,
    /// R-CONS-5) is ended. The agent's audio is then in no room.
    pub(crate) fn make_way(&mut self) {
        for id in self.talking() {
            let Some(c) = self.call(id) else { continue };
            match c.state {
                CallState::Dialing | CallState::ConsultRequested => {
                    self.end_leg(id, "ended by the agent", true);
                }
                CallState::Connected | CallState::Consulting | CallState::Conference => {
                    self.hold_one(id);
                }
                _ => {}
            }
        }
        self.agent_room = None;
    }

    /// Holds one leg: `Hold` now when established, else once it is.
    pub(crate) fn hold_one(&mut self, id: CallRef) {
        let Some(c) = self.call_mut(id) else { return };
        let prev = c.state;
        c.state = if c.kind == CallKind::Consult && c.conference.is_none() {
            CallState::ConsultHeld
        } else {
            CallState::Held
        };
        if c.established && !c.media_held {
            c.media_held = true;
            c.pending = Some(Pending::Hold { prev });
            self.push(Action::Hold { call: id });
        }
    }

    /// Takes one leg back.
    pub(crate) fn resume_one(&mut self, id: CallRef) {
        let Some(c) = self.call_mut(id) else { return };
        let prev = c.state;
        c.state = if c.conference.is_some() {
            CallState::Conference
        } else if c.kind == CallKind::Consult {
            CallState::Consulting
        } else {
            CallState::Connected
        };
        if c.media_held {
            c.media_held = false;
            c.pending = Some(Pending::Resume { prev });
            self.push(Action::Resume { call: id });
        }
    }

    /// Whether `Hold` is allowed on `id` (R-HOLD-1, R-CONF-4).
    pub(crate) fn check_hold(&self, id: CallRef) -> Result<(), CommandError> {
        let c = self.live(id)?;
        match c.state {
            CallState::Held | CallState::ConsultHeld => {
                Err(refused("R-HOLD-1", format!("call {id} is already on hold")))
            }
            CallState::PostCall => Err(refused(
                "R-CONF-4",
                "the customer has left: nobody can hold in post-call".into(),
            )),
            CallState::Connected | CallState::Consulting | CallState::Conference => {
                self.check_not_transferring(id)?;
                if let Some(f) = c.conference.and_then(|p| self.conf(p)) {
                    if f.left {
                        return Err(refused("R-CONF-3", "you left this conference".into()));
                    }
                }
                Ok(())
            }
            _ => Err(refused(
                "R-HOLD-1",
                format!("call {id} is not answered yet: it cannot be held"),
            )),
        }
    }

    /// No transfer of `id` under way (R-XFER-1).
    pub(crate) fn check_not_transferring(&self, id: CallRef) -> Result<(), CommandError> {
        let p = self.primary_of(id);
        if self.call(p).is_some_and(|c| c.transfer.is_some()) {
            return Err(refused(
                "R-XFER-1",
                format!("a transfer of call {p} is under way"),
            ));
        }
        Ok(())
    }

    /// `Hold` (R-HOLD-1): the call (or the whole conference) is held.
    pub(crate) fn cmd_hold(&mut self, call: Option<CallRef>) -> Result<Reply, CommandError> {
        let id = self.resolve(call, "hold")?;
        self.check_hold(id)?;
        let room = self.call(id).map(|c| c.room);
        for leg in self.group(id) {
            self.hold_one(leg);
        }
        if room.is_some() && self.agent_room == room {
            self.agent_room = None;
            self.push(Action::AgentLeave);
        }
        Ok(Reply::Ok)
    }

    /// Whether `Resume` is allowed on `id` (R-HOLD-1, R-CONS-5: always for a
    /// held call; a conference the agent stepped out of to consult).
    pub(crate) fn check_resume(&self, id: CallRef) -> Result<(), CommandError> {
        let c = self.live(id)?;
        if !c.leg_up {
            return Err(refused(
                "R-CONS-10",
                "the customer has left: there is nothing to take back".into(),
            ));
        }
        if let Some(f) = c.conference.and_then(|p| self.conf(p)) {
            if f.left {
                return Err(refused("R-CONF-3", "you left this conference".into()));
            }
            let away = self.agent_room != Some(c.room);
            if c.state == CallState::Conference && away {
                return Ok(());
            }
        }
        if !c.is_held() {
            return Err(refused("R-HOLD-1", format!("call {id} is not on hold")));
        }
        self.check_not_transferring(id)
    }

    /// `Resume`: the talking call is held first (or ended when not answered
    /// yet, R-CONS-5), then this call (or conference) takes the agent back.
    pub(crate) fn cmd_resume(&mut self, call: Option<CallRef>) -> Result<Reply, CommandError> {
        let id = match call {
            Some(id) => id,
            None => self.held_to_resume()?,
        };
        self.check_resume(id)?;
        self.take_back(id);
        Ok(Reply::Ok)
    }

    /// Makes `id`'s group the talking one.
    pub(crate) fn take_back(&mut self, id: CallRef) {
        self.make_way();
        for leg in self.group(id) {
            self.resume_one(leg);
        }
        if let Some(room) = self.call(id).map(|c| c.room) {
            self.push(Action::AgentJoin { room });
            self.agent_room = Some(room);
        }
    }

    /// The call `Resume` without `--call` means: the only held one.
    fn held_to_resume(&self) -> Result<CallRef, CommandError> {
        let mut held = self
            .calls
            .iter()
            .filter(|c| self.check_resume(c.id).is_ok())
            .map(|c| self.primary_of(c.id));
        let first = held.next().ok_or(CommandError::NoCall("resume"))?;
        match held.all(|h| h == first) {
            true => Ok(first),
            false => Err(CommandError::NoCall("resume")),
        }
    }

    /// `Toggle` (R-CONS-8, R-HOLD-4): swaps between the customer and the
    /// answered consult.
    pub(crate) fn cmd_toggle(&mut self) -> Result<Reply, CommandError> {
        let Some(c) = self.current_consult() else {
            return Err(refused(
                "R-CONS-8",
                "there is no consult to toggle with".into(),
            ));
        };
        let (cid, p, state, talking) = (c.id, c.consult_of, c.state, self.is_talking(c));
        if state == CallState::ConsultRequested {
            return Err(refused(
                "R-CONS-5",
                "the consulted party has not answered yet; Resume takes the customer back".into(),
            ));
        }
        let other = match (talking, p) {
            (true, Some(p)) => p,
            (true, None) => cid,
            (false, _) => cid,
        };
        self.check_resume(other)?;
        self.take_back(other);
        Ok(Reply::Ok)
    }

    /// `RemoteHold` (R-HOLD-5): shown in the view.
    pub(crate) fn input_remote_hold(&mut self, id: CallRef, held: bool) {
        if let Some(c) = self.call_mut(id) {
            c.remote_held = held;
        }
    }

    /// `HoldFailed`: the re-INVITE was refused, the call is as it was.
    pub(crate) fn input_hold_failed(&mut self, id: CallRef, _code: u16) {
        let Some(c) = self.call_mut(id) else { return };
        let room = c.room;
        match c.pending.take() {
            Some(Pending::Hold { prev }) => {
                c.state = prev;
                c.media_held = false;
                if self.agent_room.is_none() {
                    self.push(Action::AgentJoin { room });
                    self.agent_room = Some(room);
                }
            }
            Some(Pending::Resume { prev }) => {
                c.state = prev;
                c.media_held = true;
                if self.agent_room == Some(room) && self.group(id).len() <= 1 {
                    self.push(Action::AgentLeave);
                    self.agent_room = None;
                }
            }
            None => {}
        }
    }
}
