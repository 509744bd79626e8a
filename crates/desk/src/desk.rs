//! The [`Desk`] value: owns the agent state, offers and calls, and routes
//! each request and input to the rule family that handles it.

use crate::calls::{Call, Rec};
use crate::noise::NoiseState;
use crate::transfer::PendingRefer;
use crate::{
    Action, AgentCommand, AgentStatus, CallInput, CallRef, CallView, CommandError, DenoiseView,
    DeskConfig, DeskEvent, Reply, RoomRef, Status,
};
use std::collections::VecDeque;
use std::time::Instant;

/// A conference the agent hosts (R-CONF-1): its legs are the calls whose
/// `conference` is `primary`.
#[derive(Debug, Clone)]
pub(crate) struct Conf {
    /// The customer call it grew from; its id names the conference.
    pub primary: CallRef,
    /// The mixing room (the customer's).
    pub room: RoomRef,
    /// The agent left (R-CONF-3): the bridge goes on without them.
    pub left: bool,
    /// The customer left (R-CONF-4): the others are `post-call`.
    pub customer_gone: bool,
}

/// The agent's desk. See the crate documentation.
pub struct Desk {
    pub(crate) config: DeskConfig,
    pub(crate) next_call: u64,
    pub(crate) next_room: u64,
    pub(crate) agent: AgentStatus,
    /// Calls that ended while another wrap-up was open (R-END-2).
    pub(crate) wrapup_queue: Vec<CallRef>,
    /// Offers and calls, in arrival order.
    pub(crate) calls: Vec<Call>,
    pub(crate) confs: Vec<Conf>,
    pub(crate) refers: Vec<PendingRefer>,
    /// The room the agent's audio end is in.
    pub(crate) agent_room: Option<RoomRef>,
    pub(crate) muted: bool,
    pub(crate) noise: NoiseState,
    /// Logout or shutdown under way.
    pub(crate) stopping: bool,
    pub(crate) actions: VecDeque<Action>,
    pub(crate) events: VecDeque<DeskEvent>,
    /// The last view told of each call (call timer cleared).
    pub(crate) shown: Vec<(CallRef, CallView)>,
}

impl Desk {
    /// A desk with the administrator's settings; the agent starts available
    /// (or idle when `start_idle` says so).
    pub fn new(config: DeskConfig, _now: Instant) -> Self {
        let agent = match &config.start_idle {
            None => AgentStatus::Available,
            Some(reason) => AgentStatus::Idle {
                reason: reason.clone(),
            },
        };
        Desk {
            noise: NoiseState::new(config.noise),
            config,
            next_call: 1,
            next_room: 1,
            agent,
            wrapup_queue: Vec::new(),
            calls: Vec::new(),
            confs: Vec::new(),
            refers: Vec::new(),
            agent_room: None,
            muted: false,
            stopping: false,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            shown: Vec::new(),
        }
    }

    /// A fresh handle for a call the binary reports ([`CallInput::Offered`]).
    pub fn next_call_ref(&mut self) -> CallRef {
        let c = CallRef(self.next_call);
        self.next_call += 1;
        c
    }

    /// One request of the agent's. Refusals change nothing.
    pub fn handle_command(
        &mut self,
        now: Instant,
        cmd: AgentCommand,
    ) -> Result<Reply, CommandError> {
        if self.stopping {
            return Err(CommandError::Invalid("the desk is stopping".into()));
        }
        let r = self.route_command(now, cmd);
        self.flush(now);
        r
    }

    fn route_command(&mut self, now: Instant, cmd: AgentCommand) -> Result<Reply, CommandError> {
        use AgentCommand as C;
        match cmd {
            C::State(s) => self.cmd_state(s),
            C::Answer { call } => self.cmd_answer(call),
            C::AnswerAll => self.cmd_answer_all(),
            C::Decline { call } => self.cmd_decline(call),
            C::Dial { target } => self.cmd_dial(&target),
            C::Hold { call } => self.cmd_hold(call),
            C::Resume { call } => self.cmd_resume(call),
            C::Consult {
                call,
                target,
                hold_conference,
            } => self.cmd_consult(call, &target, hold_conference.unwrap_or(true)),
            C::Toggle => self.cmd_toggle(),
            C::TransferBlind { call, target } => self.cmd_transfer_blind(call, &target),
            C::TransferConsult { call } => self.cmd_transfer_consult(call),
            C::Conference { call } => self.cmd_conference(call),
            C::Remove { party } => self.cmd_remove(party),
            C::Mute { on } => self.cmd_mute(on),
            C::Leave { call } => self.cmd_leave(call),
            C::Hangup { call } => self.cmd_hangup(call),
            C::WrapUp { call, reason } => self.cmd_wrapup(call, &reason),
            C::Record { call, pause } => self.cmd_record(now, call, pause),
            C::Dtmf { call, digits } => self.cmd_dtmf(call, &digits),
            C::Denoise { on, target } => self.cmd_denoise(on, target),
            C::Refer { refer, accept } => self.cmd_refer(refer, accept),
            C::Logout => self.cmd_logout(),
        }
    }

    /// One thing that happened on the calls.
    pub fn handle_input(&mut self, now: Instant, input: CallInput) {
        use CallInput as I;
        match input {
            I::Offered {
                call,
                from,
                to: _,
                headers,
                replaces,
            } => self.input_offered(now, call, from, &headers, replaces),
            I::OfferUnusable { call, code: _ } => self.input_offer_unusable(call),
            I::Progress { .. } => {}
            I::Answered { call } => self.input_answered(now, call),
            I::Failed { call, reason, .. } => self.input_failed(call, &reason),
            I::Ended { call, reason } => self.input_ended(call, &reason),
            I::RemoteHold { call, held } => self.input_remote_hold(call, held),
            I::HoldFailed { call, code } => self.input_hold_failed(call, code),
            I::TransferProgress { call, status } => self.input_transfer_progress(call, status),
            I::TransferSucceeded { call } => self.input_transfer_succeeded(call),
            I::TransferFailed { call, reason } => self.input_transfer_failed(call, reason),
            I::ReferReceived {
                call,
                refer,
                target,
                replaces: _,
            } => self.input_refer(now, call, refer, target),
            I::Shutdown => self.input_shutdown(),
        }
        self.flush(now);
    }

    /// Time passed: ring timers, recording auto-resume, REFER prompts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ring_timeouts(now);
        self.record_timeouts(now);
        self.refer_timeouts(now);
        self.flush(now);
    }

    /// The next instant `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let rings = self.calls.iter().filter_map(|c| c.ring_deadline);
        let recs = self.calls.iter().filter_map(|c| match c.rec {
            Rec::Paused { until } => Some(until),
            _ => None,
        });
        let refers = self.refers.iter().map(|r| r.deadline);
        rings.chain(recs).chain(refers).min()
    }

    /// The next action for the binary.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the controls.
    pub fn poll_event(&mut self) -> Option<DeskEvent> {
        self.events.pop_front()
    }

    /// Everything the controls show, at `now`.
    pub fn status(&self, now: Instant) -> Status {
        Status {
            agent: self.agent.clone(),
            offers: self.offer_views(now),
            calls: self
                .calls
                .iter()
                .filter(|c| !c.is_offer())
                .map(|c| self.view(c, now))
                .collect(),
            muted: self.muted,
            denoise: DenoiseView {
                inbound: self.noise.inbound(),
                microphone: self.noise.microphone(),
                locked: self.config.noise.locked,
            },
            refers: self.refers.iter().map(|r| r.refer).collect(),
            idle_reasons: self.config.idle_reasons.clone(),
        }
    }

    /// The conference named by its primary call.
    pub(crate) fn conf(&self, p: CallRef) -> Option<&Conf> {
        self.confs.iter().find(|c| c.primary == p)
    }

    pub(crate) fn conf_mut(&mut self, p: CallRef) -> Option<&mut Conf> {
        self.confs.iter_mut().find(|c| c.primary == p)
    }
}
