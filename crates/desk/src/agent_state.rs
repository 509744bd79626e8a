//! The agent state (R-STATE-1/2): available, idle with a configured reason,
//! wrap-up; logout (R-OFFER-3) and the system's shutdown.

use crate::desk::Desk;
use crate::{Action, AgentStatus, CommandError, DeskEvent, Refused, Reply, RequestedState};

impl Desk {
    /// Changes the agent state and tells the controls.
    pub(crate) fn set_agent(&mut self, agent: AgentStatus, why: Option<String>) {
        if self.agent == agent {
            return;
        }
        self.agent = agent.clone();
        self.emit(DeskEvent::Agent { agent, why });
    }

    /// The configured idle reason matching `reason` (case-insensitive).
    fn idle_reason(&self, reason: &str) -> Result<String, CommandError> {
        self.config
            .idle_reasons
            .iter()
            .find(|r| r.eq_ignore_ascii_case(reason.trim()))
            .cloned()
            .ok_or_else(|| {
                CommandError::Invalid(format!(
                    "unknown idle reason \"{reason}\"; valid reasons: {}",
                    self.config.idle_reasons.join(", ")
                ))
            })
    }

    /// `State`: available or idle with a reason (R-STATE-2). Not while a
    /// wrap-up reason is due (R-END-2).
    pub(crate) fn cmd_state(&mut self, s: RequestedState) -> Result<Reply, CommandError> {
        let next = match s {
            RequestedState::Available => AgentStatus::Available,
            RequestedState::Idle { reason } => AgentStatus::Idle {
                reason: self.idle_reason(&reason)?,
            },
        };
        if let AgentStatus::WrapUp { call } = self.agent {
            return Err(Refused {
                rule: "R-END-2",
                reason: format!("submit a wrap-up reason for call {call} first"),
            }
            .into());
        }
        self.set_agent(next, None);
        Ok(Reply::Ok)
    }

    /// `Logout`: refused while an offer is shown (R-OFFER-3) or a call is up.
    pub(crate) fn cmd_logout(&mut self) -> Result<Reply, CommandError> {
        if self.calls.iter().any(|c| c.is_offer()) {
            return Err(Refused {
                rule: "R-OFFER-3",
                reason: "an offer is waiting: accept or decline it before logging out".into(),
            }
            .into());
        }
        if !self.calls.is_empty() {
            return Err(CommandError::Invalid("end the calls first".into()));
        }
        self.stopping = true;
        for r in std::mem::take(&mut self.refers) {
            self.push(Action::RejectRefer {
                refer: r.refer,
                code: 603,
            });
        }
        self.push(Action::Unregister);
        self.emit(DeskEvent::Stopping {
            reason: "logout".into(),
        });
        self.push(Action::Exit);
        Ok(Reply::Ok)
    }

    /// `Shutdown` (R-OFFER-3): offers declined with 480, every call ended
    /// (held or not), REFER prompts refused, registrations removed.
    pub(crate) fn input_shutdown(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.emit(DeskEvent::Stopping {
            reason: "shutdown".into(),
        });
        for c in std::mem::take(&mut self.calls) {
            if c.is_offer() {
                self.push(Action::Reject {
                    call: c.id,
                    code: 480,
                });
                self.emit(DeskEvent::OfferGone {
                    call: c.id,
                    reason: "shutdown".into(),
                });
                continue;
            }
            if c.leg_up {
                self.push(Action::Hangup { call: c.id });
            }
            if c.room_open {
                if c.rec != crate::calls::Rec::Off {
                    self.push(Action::RecordStop { room: c.room });
                }
                self.push(Action::CloseRoom { room: c.room });
            }
            self.emit(DeskEvent::Ended {
                call: c.id,
                reason: "shutdown".into(),
            });
        }
        self.confs.clear();
        self.agent_room = None;
        for r in std::mem::take(&mut self.refers) {
            self.push(Action::RejectRefer {
                refer: r.refer,
                code: 603,
            });
        }
        self.push(Action::Unregister);
        self.push(Action::Exit);
    }
}
