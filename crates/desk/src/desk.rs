//! The [`Desk`] value: owns the agent state, offers and calls, and routes
//! each request and input to the rule family that handles it.
//! (Surface only: the rule families fill it in.)

use crate::{
    Action, AgentCommand, CallInput, CallRef, CommandError, DeskConfig, DeskEvent, Reply, Status,
};
use std::time::Instant;

/// The agent's desk. See the crate documentation.
pub struct Desk {
    #[allow(dead_code)]
    config: DeskConfig,
    next_call: u64,
}

impl Desk {
    /// A desk with the administrator's settings; the agent starts available
    /// (or idle when `start_idle` says so).
    pub fn new(config: DeskConfig, _now: Instant) -> Self {
        Desk {
            config,
            next_call: 1,
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
        _now: Instant,
        _cmd: AgentCommand,
    ) -> Result<Reply, CommandError> {
        Err(CommandError::Invalid("not built yet".into()))
    }

    /// One thing that happened on the calls.
    pub fn handle_input(&mut self, _now: Instant, _input: CallInput) {}

    /// Time passed: ring timers, recording auto-resume, REFER prompts.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// The next instant `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// The next action for the binary.
    pub fn poll_action(&mut self) -> Option<Action> {
        None
    }

    /// The next event for the controls.
    pub fn poll_event(&mut self) -> Option<DeskEvent> {
        None
    }

    /// Everything the controls show, at `now`.
    pub fn status(&self, _now: Instant) -> Status {
        todo!()
    }
}

impl Desk {
    /// Wrap-up reasons matching `query` (case-insensitive substring).
    pub fn wrapup_reasons(&self, query: &str) -> Vec<String> {
        let q = query.to_lowercase();
        self.config
            .wrapup_reasons
            .iter()
            .filter(|r| r.to_lowercase().contains(&q))
            .cloned()
            .collect()
    }
}
