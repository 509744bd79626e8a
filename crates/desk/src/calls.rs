//! The call table: every offer and call of the agent's, in arrival order,
//! with what the rules need to know about each (R-STATE-2), and the helpers
//! the rule families share: finding calls, the agent's talking call, the
//! view of a call and the verbs it allows (one source of truth with the
//! refusals).

use crate::desk::Desk;
use crate::{
    Action, CallKind, CallRef, CallState, CallView, CommandError, DeskEvent, RoomRef, Variable,
};
use std::time::Instant;

/// A call's recording (R-REC-1/2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rec {
    /// Not recorded.
    Off,
    /// Recording.
    On,
    /// Paused; resumes by itself at `until` (R-REC-2).
    Paused { until: Instant },
}

/// A hold or resume re-INVITE under way, to revert on `HoldFailed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    Hold { prev: CallState },
    Resume { prev: CallState },
}

/// A transfer we asked for on a call (R-XFER-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Xfer {
    Blind,
    Attended { consult: CallRef },
}

/// One entry of the table.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub id: CallRef,
    pub kind: CallKind,
    pub state: CallState,
    /// The far end as given (From of an offer, the target dialled).
    pub peer: String,
    /// The room its leg is in now (its own, or the conference's).
    pub room: RoomRef,
    /// This call opened `room` and closes it when it ends.
    pub room_open: bool,
    pub consult_of: Option<CallRef>,
    pub conference: Option<CallRef>,
    pub remote_held: bool,
    /// The dialog is confirmed (`Answered`).
    pub established: bool,
    /// The agent took it (answered an offer, or the far end answered ours):
    /// a primary call gets wrap-up when it ends.
    pub accepted: bool,
    /// The customer interaction (R-END-2: consult legs get no wrap-up).
    pub primary: bool,
    /// Wrap-up already asked for (a conference the agent left).
    pub wrapped: bool,
    /// The far end's leg is up (false: the customer left, `post-call`).
    pub leg_up: bool,
    /// We sent Hold and no Resume since.
    pub media_held: bool,
    pub pending: Option<Pending>,
    pub transfer: Option<Xfer>,
    pub answered_at: Option<Instant>,
    pub ring_deadline: Option<Instant>,
    pub rec: Rec,
    pub variables: Vec<Variable>,
}

impl Call {
    pub fn new(id: CallRef, kind: CallKind, state: CallState, peer: String, room: RoomRef) -> Self {
        Call {
            id,
            kind,
            state,
            peer,
            room,
            room_open: false,
            consult_of: None,
            conference: None,
            remote_held: false,
            established: false,
            accepted: false,
            primary: kind != CallKind::Consult,
            wrapped: false,
            leg_up: true,
            media_held: false,
            pending: None,
            transfer: None,
            answered_at: None,
            ring_deadline: None,
            rec: Rec::Off,
            variables: Vec::new(),
        }
    }

    /// Held by the agent.
    pub fn is_held(&self) -> bool {
        matches!(self.state, CallState::Held | CallState::ConsultHeld)
    }

    /// An offer still ringing.
    pub fn is_offer(&self) -> bool {
        self.state == CallState::Ringing
    }
}

/// The verbs of `CallView::allowed`, in the order shown.
const VERBS: [&str; 9] = [
    "hold",
    "resume",
    "hangup",
    "consult",
    "transfer",
    "conference",
    "leave",
    "remove",
    "record",
];

impl Desk {
    pub(crate) fn call(&self, id: CallRef) -> Option<&Call> {
        self.calls.iter().find(|c| c.id == id)
    }

    pub(crate) fn call_mut(&mut self, id: CallRef) -> Option<&mut Call> {
        self.calls.iter_mut().find(|c| c.id == id)
    }

    /// A call that is not an offer (NoSuchCall otherwise).
    pub(crate) fn live(&self, id: CallRef) -> Result<&Call, CommandError> {
        match self.call(id) {
            Some(c) if !c.is_offer() => Ok(c),
            _ => Err(CommandError::NoSuchCall(id)),
        }
    }

    pub(crate) fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    pub(crate) fn emit(&mut self, e: DeskEvent) {
        self.events.push_back(e);
    }

    pub(crate) fn new_call_id(&mut self) -> CallRef {
        self.next_call_ref()
    }

    pub(crate) fn new_room(&mut self) -> RoomRef {
        let r = RoomRef(self.next_room);
        self.next_room += 1;
        r
    }

    /// The agent talks on this call now.
    pub(crate) fn is_talking(&self, c: &Call) -> bool {
        c.leg_up
            && self.agent_room == Some(c.room)
            && !c.is_held()
            && !c.is_offer()
            && c.state != CallState::Ended
    }

    /// The calls the agent talks on (one, or the legs of a conference).
    pub(crate) fn talking(&self) -> Vec<CallRef> {
        self.calls
            .iter()
            .filter(|c| self.is_talking(c))
            .map(|c| c.id)
            .collect()
    }

    /// The calls that go together with `id`: the live legs of its
    /// conference, else itself.
    pub(crate) fn group(&self, id: CallRef) -> Vec<CallRef> {
        match self.call(id).and_then(|c| c.conference) {
            Some(p) => self
                .calls
                .iter()
                .filter(|c| c.conference == Some(p) && c.leg_up)
                .map(|c| c.id)
                .collect(),
            None => vec![id],
        }
    }

    /// The primary of `id`'s group: its conference, else itself.
    pub(crate) fn primary_of(&self, id: CallRef) -> CallRef {
        self.call(id).and_then(|c| c.conference).unwrap_or(id)
    }

    /// The live consult placed from `p` (a customer call or a conference).
    pub(crate) fn consult_from(&self, p: CallRef) -> Option<&Call> {
        self.calls
            .iter()
            .find(|c| c.kind == CallKind::Consult && c.consult_of == Some(p) && c.leg_up)
    }

    /// The call a verb applies to: the given one, else the one the agent
    /// talks on, else the only call there is.
    pub(crate) fn resolve(
        &self,
        call: Option<CallRef>,
        verb: &'static str,
    ) -> Result<CallRef, CommandError> {
        if let Some(id) = call {
            return self.live(id).map(|c| c.id);
        }
        let talking = self.talking();
        if let Some(first) = talking.first() {
            return Ok(self.primary_of(*first));
        }
        let mut live = self.calls.iter().filter(|c| !c.is_offer() && c.leg_up);
        match (live.next(), live.next()) {
            (Some(c), None) => Ok(c.id),
            _ => Err(CommandError::NoCall(verb)),
        }
    }

    /// The verbs a call allows now, from the same checks that refuse them.
    pub(crate) fn allowed(&self, id: CallRef) -> Vec<String> {
        let paused = matches!(self.call(id).map(|c| c.rec), Some(Rec::Paused { .. }));
        VERBS
            .iter()
            .filter(|v| match **v {
                "hold" => self.check_hold(id).is_ok(),
                "resume" => self.check_resume(id).is_ok(),
                "hangup" => self.check_hangup(id).is_ok(),
                "consult" => self.check_consult(id).is_ok(),
                "transfer" => {
                    self.check_transfer_blind(id).is_ok()
                        || self.check_transfer_consult(Some(id)).is_ok()
                }
                "conference" => self.check_conference(Some(id)).is_ok(),
                "leave" => self.check_leave(Some(id)).is_ok(),
                "remove" => self.check_remove(id).is_ok(),
                "record" => self.check_record(id, !paused).is_ok(),
                _ => false,
            })
            .map(|v| v.to_string())
            .collect()
    }

    /// A call as the controls see it.
    pub(crate) fn view(&self, c: &Call, now: Instant) -> CallView {
        CallView {
            call: c.id,
            kind: c.kind,
            state: c.state,
            peer: self.shown_peer(c),
            consult_of: c.consult_of,
            conference: c.conference,
            room: c.room,
            remote_held: c.remote_held,
            active: self.is_talking(c),
            connected_ms: c
                .answered_at
                .map(|t| now.saturating_duration_since(t).as_millis() as u64),
            recording: match c.rec {
                Rec::Off => "off",
                Rec::On => "on",
                Rec::Paused { .. } => "paused",
            }
            .to_string(),
            variables: c.variables.clone(),
            allowed: self.allowed(c.id),
        }
    }

    /// Emits a `Call` event for every call whose view changed since the last
    /// one (the call timer aside): every state change is told, once.
    pub(crate) fn flush(&mut self, now: Instant) {
        let mut fresh = Vec::new();
        for c in self.calls.iter().filter(|c| !c.is_offer()) {
            let v = self.view(c, now);
            let mut key = v.clone();
            key.connected_ms = None;
            let old = self.shown.iter().find(|(id, _)| *id == c.id);
            if old.map(|(_, k)| k) != Some(&key) {
                self.events.push_back(DeskEvent::Call { call: v });
            }
            fresh.push((c.id, key));
        }
        self.shown = fresh;
    }
}
