//! Fake-clock harness: feeds commands and inputs to a `Desk` at a time the
//! test moves, and drains what comes out.
#![allow(dead_code)]

use agentphone_desk::*;
use std::time::{Duration, Instant};

pub const CUSTOMER: &str = "sip:+12015532447@carrier.example";

pub struct H {
    pub desk: Desk,
    pub now: Instant,
}

impl H {
    pub fn new(config: DeskConfig) -> H {
        let now = Instant::now();
        H {
            desk: Desk::new(config, now),
            now,
        }
    }

    pub fn default() -> H {
        H::new(DeskConfig::default())
    }

    /// A desk with wrap-up reasons configured.
    pub fn with_wrapup() -> H {
        H::new(DeskConfig {
            wrapup_reasons: vec!["Sale".into(), "No sale".into(), "Callback needed".into()],
            ..DeskConfig::default()
        })
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        if self.desk.poll_timeout().is_some_and(|t| t <= self.now) {
            self.desk.handle_timeout(self.now);
        }
    }

    pub fn cmd(&mut self, c: AgentCommand) -> Result<Reply, CommandError> {
        self.desk.handle_command(self.now, c)
    }

    /// A command that must succeed.
    pub fn ok(&mut self, c: AgentCommand) -> Reply {
        let what = format!("{c:?}");
        self.cmd(c)
            .unwrap_or_else(|e| panic!("{what} refused: {e}"))
    }

    /// A command that must be refused by `rule`, changing nothing and
    /// emitting nothing.
    pub fn refused(&mut self, c: AgentCommand, rule: &str) -> String {
        self.drain();
        let before = self.status();
        let what = format!("{c:?}");
        match self.cmd(c) {
            Err(CommandError::Refused(r)) => {
                assert_eq!(r.rule, rule, "{what}: {r}");
                assert_eq!(self.actions(), vec![], "{what}: a refusal emits no action");
                assert_eq!(self.events(), vec![], "{what}: a refusal emits no event");
                assert_eq!(self.status(), before, "{what}: a refusal changes nothing");
                r.reason
            }
            other => panic!("{what}: expected a refusal by {rule}, got {other:?}"),
        }
    }

    /// A command that must fail as `Invalid`, changing nothing.
    pub fn invalid(&mut self, c: AgentCommand) -> String {
        self.drain();
        let before = self.status();
        match self.cmd(c) {
            Err(CommandError::Invalid(m)) => {
                assert_eq!(self.actions(), vec![]);
                assert_eq!(self.events(), vec![]);
                assert_eq!(self.status(), before);
                m
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    pub fn input(&mut self, i: CallInput) {
        self.desk.handle_input(self.now, i)
    }

    pub fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.desk.poll_action()).collect()
    }

    pub fn events(&mut self) -> Vec<DeskEvent> {
        std::iter::from_fn(|| self.desk.poll_event()).collect()
    }

    pub fn drain(&mut self) {
        self.actions();
        self.events();
    }

    pub fn status(&self) -> Status {
        self.desk.status(self.now)
    }

    pub fn view(&self, call: CallRef) -> CallView {
        self.status()
            .calls
            .into_iter()
            .find(|c| c.call == call)
            .unwrap_or_else(|| panic!("call {call} not in status"))
    }

    pub fn state(&self, call: CallRef) -> CallState {
        self.view(call).state
    }

    pub fn has_call(&self, call: CallRef) -> bool {
        self.status().calls.iter().any(|c| c.call == call)
    }

    pub fn offered_with(
        &mut self,
        from: &str,
        headers: Vec<(&str, &str)>,
        replaces: Option<CallRef>,
    ) -> CallRef {
        let call = self.desk.next_call_ref();
        self.input(CallInput::Offered {
            call,
            from: from.into(),
            to: "sip:agent@pbx.example".into(),
            headers: headers
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            replaces,
        });
        call
    }

    /// A new offer from `from`.
    pub fn offer(&mut self, from: &str) -> CallRef {
        self.offered_with(from, vec![], None)
    }

    /// A customer call answered and established; everything drained.
    pub fn customer(&mut self) -> CallRef {
        let c = self.offer(CUSTOMER);
        self.ok(AgentCommand::Answer { call: Some(c) });
        self.input(CallInput::Answered { call: c });
        self.drain();
        c
    }

    /// A consult from `customer` to `target`, not answered; drained.
    pub fn consult(&mut self, customer: CallRef, target: &str) -> CallRef {
        match self.ok(AgentCommand::Consult {
            call: Some(customer),
            target: target.into(),
            hold_conference: None,
        }) {
            Reply::Call { call } => {
                self.drain();
                call
            }
            r => panic!("consult gave {r:?}"),
        }
    }

    /// A consult from `customer`, answered; drained.
    pub fn answered_consult(&mut self, customer: CallRef, target: &str) -> CallRef {
        let k = self.consult(customer, target);
        self.input(CallInput::Answered { call: k });
        self.drain();
        k
    }

    pub fn room(&self, call: CallRef) -> RoomRef {
        self.view(call).room
    }

    pub fn hangup(&mut self, call: CallRef) -> Result<Reply, CommandError> {
        self.cmd(AgentCommand::Hangup { call: Some(call) })
    }

    pub fn ended(&mut self, call: CallRef) {
        self.input(CallInput::Ended {
            call,
            reason: "BYE".into(),
        });
    }
}

/// The `Call` events among `events`, by call.
pub fn call_events(events: &[DeskEvent], call: CallRef) -> Vec<CallView> {
    events
        .iter()
        .filter_map(|e| match e {
            DeskEvent::Call { call: v } if v.call == call => Some(v.clone()),
            _ => None,
        })
        .collect()
}

pub fn has_verb(v: &CallView, verb: &str) -> bool {
    v.allowed.iter().any(|a| a == verb)
}
