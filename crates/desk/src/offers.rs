//! Offers and answering (R-OFFER-1..5, R-ANS-1/2, R-STATE-1): ringing,
//! stacking with a ring timer each, answer / answer all / decline, RONA, the
//! caller's cancel, and an INVITE with Replaces taking a call's place.

use crate::calls::Call;
use crate::desk::Desk;
use crate::{
    Action, AgentStatus, CallKind, CallRef, CallState, CommandError, DeskEvent, OfferView, Reply,
};
use std::time::Instant;

impl Desk {
    /// `Offered`: rings when the agent is available (R-STATE-1), is taken at
    /// once when it replaces one of our calls, else is rejected.
    pub(crate) fn input_offered(
        &mut self,
        now: Instant,
        call: CallRef,
        from: String,
        headers: &[(String, String)],
        replaces: Option<CallRef>,
    ) {
        if self.call(call).is_some() {
            return; // a handle already in use: nothing sensible to do
        }
        self.next_call = self.next_call.max(call.0.saturating_add(1));
        if self.stopping {
            self.push(Action::Reject { call, code: 480 });
            return;
        }
        if let Some(old) = replaces {
            if self.call(old).is_some_and(|c| !c.is_offer() && c.leg_up) {
                self.take_over(old, call, from);
                return;
            }
        }
        if self.agent != AgentStatus::Available {
            let code = self.config.unavailable_code;
            self.push(Action::Reject { call, code });
            self.emit(DeskEvent::OfferGone {
                call,
                reason: "unavailable".into(),
            });
            return;
        }
        let mut c = Call::new(
            call,
            CallKind::Inbound,
            CallState::Ringing,
            from,
            crate::RoomRef(0),
        );
        c.variables = crate::variables::extract(&self.config.variables, headers);
        c.ring_deadline = Some(now + self.config.ring_timeout);
        self.calls.push(c);
        self.push(Action::Ring { call });
        if let Some(offer) = self.offer_views(now).into_iter().find(|o| o.call == call) {
            self.emit(DeskEvent::Offer { offer });
        }
        if self.config.auto_answer {
            self.accept(call, true);
        }
    }

    /// R-STATE-1 / RFC 3891: the new call is answered into the old call's
    /// room and takes its place; the old leg is hung up. No ring.
    fn take_over(&mut self, old: CallRef, new: CallRef, from: String) {
        let Some(c) = self.call(old) else { return };
        let room = c.room;
        self.push(Action::Answer { call: new, room });
        self.push(Action::Hangup { call: old });
        if let Some(c) = self.call_mut(old) {
            c.id = new;
            c.peer = from;
            c.established = false;
            c.media_held = false;
            c.pending = None;
            c.remote_held = false;
            c.transfer = None;
        }
        self.rename(old, new);
        self.emit(DeskEvent::Ended {
            call: old,
            reason: format!("replaced by call {new}"),
        });
    }

    /// Every reference to `old` now names `new`.
    fn rename(&mut self, old: CallRef, new: CallRef) {
        let swap = |r: &mut Option<CallRef>| {
            if *r == Some(old) {
                *r = Some(new);
            }
        };
        for c in &mut self.calls {
            swap(&mut c.consult_of);
            swap(&mut c.conference);
            if c.transfer == Some(crate::calls::Xfer::Attended { consult: old }) {
                c.transfer = Some(crate::calls::Xfer::Attended { consult: new });
            }
        }
        for f in &mut self.confs {
            if f.primary == old {
                f.primary = new;
            }
        }
        if self.agent == (AgentStatus::WrapUp { call: old }) {
            self.agent = AgentStatus::WrapUp { call: new };
        }
        for q in &mut self.wrapup_queue {
            if *q == old {
                *q = new;
            }
        }
        for r in &mut self.refers {
            if r.call == old {
                r.call = new;
            }
        }
        self.shown.retain(|(id, _)| *id != old);
    }

    /// The offer a verb applies to: the given one, else the earliest.
    fn pick_offer(
        &self,
        call: Option<CallRef>,
        verb: &'static str,
    ) -> Result<CallRef, CommandError> {
        match call {
            Some(id) => match self.call(id) {
                Some(c) if c.is_offer() => Ok(id),
                Some(_) => Err(CommandError::Invalid(format!("call {id} is not ringing"))),
                None => Err(CommandError::NoSuchCall(id)),
            },
            None => self
                .calls
                .iter()
                .find(|c| c.is_offer())
                .map(|c| c.id)
                .ok_or(CommandError::NoCall(verb)),
        }
    }

    /// `Answer` (R-ANS-1); a talking call is held first (R-HOLD-4).
    pub(crate) fn cmd_answer(&mut self, call: Option<CallRef>) -> Result<Reply, CommandError> {
        let id = self.pick_offer(call, "answer")?;
        self.accept(id, true);
        Ok(Reply::Ok)
    }

    /// `AnswerAll` (R-OFFER-4): the earliest becomes active, the others are
    /// answered and held once established.
    pub(crate) fn cmd_answer_all(&mut self) -> Result<Reply, CommandError> {
        let offers: Vec<CallRef> = self
            .calls
            .iter()
            .filter(|c| c.is_offer())
            .map(|c| c.id)
            .collect();
        if offers.is_empty() {
            return Err(CommandError::NoCall("answer"));
        }
        for (i, id) in offers.into_iter().enumerate() {
            self.accept(id, i == 0);
        }
        Ok(Reply::Ok)
    }

    /// Answers an offer into a new room; `talk`: the agent joins it, else it
    /// is held as soon as it is established.
    pub(crate) fn accept(&mut self, id: CallRef, talk: bool) {
        if talk {
            self.make_way();
        }
        let room = self.new_room();
        self.push(Action::OpenRoom { room });
        self.push(Action::Answer { call: id, room });
        if let Some(c) = self.call_mut(id) {
            c.state = if talk {
                CallState::Connected
            } else {
                CallState::Held
            };
            c.room = room;
            c.room_open = true;
            c.ring_deadline = None;
            c.accepted = true;
        }
        if talk {
            self.push(Action::AgentJoin { room });
            self.agent_room = Some(room);
        }
        self.emit(DeskEvent::OfferGone {
            call: id,
            reason: "accepted".into(),
        });
    }

    /// `Decline` (R-ANS-2).
    pub(crate) fn cmd_decline(&mut self, call: Option<CallRef>) -> Result<Reply, CommandError> {
        let id = self.pick_offer(call, "decline")?;
        let code = self.config.decline_code;
        self.drop_offer(id, Some(code), "declined");
        Ok(Reply::Ok)
    }

    /// Removes an offer, with a final response when `code` is given.
    pub(crate) fn drop_offer(&mut self, id: CallRef, code: Option<u16>, reason: &str) {
        self.calls.retain(|c| c.id != id);
        if let Some(code) = code {
            self.push(Action::Reject { call: id, code });
        }
        self.emit(DeskEvent::OfferGone {
            call: id,
            reason: reason.into(),
        });
    }

    /// `OfferUnusable`: the binary already answered it.
    pub(crate) fn input_offer_unusable(&mut self, call: CallRef) {
        if self.call(call).is_some_and(|c| c.is_offer()) {
            self.drop_offer(call, None, "unusable");
        }
    }

    /// R-OFFER-2: each expired offer is released (RONA) and the agent goes
    /// idle; other offers keep their own timers.
    pub(crate) fn ring_timeouts(&mut self, now: Instant) {
        let expired: Vec<CallRef> = self
            .calls
            .iter()
            .filter(|c| c.ring_deadline.is_some_and(|d| d <= now))
            .map(|c| c.id)
            .collect();
        for id in expired {
            let code = self.config.rona_code;
            self.drop_offer(id, Some(code), "timeout");
            if self.agent == AgentStatus::Available {
                let why = format!(
                    "call {id} was not answered within {} s (R-OFFER-2): choose available or idle",
                    self.config.ring_timeout.as_secs()
                );
                let reason = self.config.rona_reason.clone();
                self.set_agent(AgentStatus::Idle { reason }, Some(why));
            }
        }
    }

    /// Offers as shown, earliest first (R-OFFER-4).
    pub(crate) fn offer_views(&self, now: Instant) -> Vec<OfferView> {
        self.calls
            .iter()
            .filter(|c| c.is_offer())
            .enumerate()
            .map(|(i, c)| OfferView {
                call: c.id,
                position: i + 1,
                caller: self.shown_peer(c),
                variables: c.variables.clone(),
                ring_remaining_ms: c
                    .ring_deadline
                    .map(|d| d.saturating_duration_since(now).as_millis() as u64)
                    .unwrap_or(0),
            })
            .collect()
    }

    /// `Answered`: the dialog is confirmed; the call timer and the recording
    /// start; a call answered held (answer all) is held now.
    pub(crate) fn input_answered(&mut self, now: Instant, id: CallRef) {
        let Some(c) = self.call(id) else { return };
        if c.is_offer() || c.established || !c.leg_up {
            return;
        }
        let kind = c.kind;
        if kind == CallKind::Referred && !c.is_held() {
            // the followed call takes the agent's audio once answered
            self.make_way();
            let room = c_room(self, id);
            self.push(Action::AgentJoin { room });
            self.agent_room = Some(room);
        }
        let Some(c) = self.call_mut(id) else { return };
        c.established = true;
        c.accepted = true;
        c.answered_at = Some(now);
        c.state = match c.state {
            CallState::Dialing => CallState::Connected,
            CallState::ConsultRequested => CallState::Consulting,
            s => s,
        };
        let hold_now = c.is_held() && !c.media_held;
        if hold_now {
            c.media_held = true;
            self.push(Action::Hold { call: id });
        }
        self.start_recording(id);
    }
}

fn c_room(d: &Desk, id: CallRef) -> crate::RoomRef {
    d.call(id).map(|c| c.room).unwrap_or(crate::RoomRef(0))
}
