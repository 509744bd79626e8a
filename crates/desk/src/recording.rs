//! Recording (R-REC-1..3): every answered call's room is recorded when the
//! configuration says so; the agent may pause it (not during a consult or a
//! conference) and a pause ends by itself after `record_pause_max`.

use crate::calls::Rec;
use crate::desk::Desk;
use crate::variables::file_stem;
use crate::{Action, CallKind, CallRef, CommandError, DeskEvent, Refused, Reply};
use std::time::Instant;

impl Desk {
    /// R-REC-1: starts recording `id`'s room once it is answered.
    pub(crate) fn start_recording(&mut self, id: CallRef) {
        if !self.config.record {
            return;
        }
        let sensitive = self.config.sensitive_data;
        let Some(c) = self.call_mut(id) else { return };
        if c.rec != Rec::Off || !c.room_open {
            return;
        }
        c.rec = Rec::On;
        let (room, name) = (c.room, file_stem(c.id, &c.peer, sensitive));
        self.push(Action::RecordStart { room, name });
    }

    /// Whether the recording of `id` may be paused or resumed (R-REC-1/3).
    pub(crate) fn check_record(&self, id: CallRef, _pause: bool) -> Result<(), CommandError> {
        let c = self.live(id)?;
        if c.rec == Rec::Off {
            return Err(Refused {
                rule: "R-REC-1",
                reason: format!("call {id} is not being recorded"),
            }
            .into());
        }
        let consult = c.kind == CallKind::Consult || self.consult_from(id).is_some();
        if consult || c.conference.is_some() {
            return Err(Refused {
                rule: "R-REC-3",
                reason:
                    "the recording cannot be paused or resumed during a consult or a conference"
                        .into(),
            }
            .into());
        }
        Ok(())
    }

    /// `Record` (R-REC-2): pause (with its auto-resume timer) or resume.
    pub(crate) fn cmd_record(
        &mut self,
        now: Instant,
        call: Option<CallRef>,
        pause: bool,
    ) -> Result<Reply, CommandError> {
        let id = self.resolve(call, "record")?;
        self.check_record(id, pause)?;
        let max = self.config.record_pause_max;
        let Some(c) = self.call_mut(id) else {
            return Err(CommandError::NoSuchCall(id));
        };
        let room = c.room;
        match (c.rec, pause) {
            (Rec::On, true) => {
                c.rec = Rec::Paused { until: now + max };
                self.push(Action::RecordPause { room, paused: true });
                self.emit(DeskEvent::Recording {
                    call: id,
                    paused: true,
                    resumes_in_ms: Some(max.as_millis() as u64),
                });
            }
            (Rec::Paused { .. }, false) => self.record_resume(id),
            _ => {}
        }
        Ok(Reply::Ok)
    }

    fn record_resume(&mut self, id: CallRef) {
        let Some(c) = self.call_mut(id) else { return };
        c.rec = Rec::On;
        let room = c.room;
        self.push(Action::RecordPause {
            room,
            paused: false,
        });
        self.emit(DeskEvent::Recording {
            call: id,
            paused: false,
            resumes_in_ms: None,
        });
    }

    /// R-REC-2: pauses that ran out resume by themselves.
    pub(crate) fn record_timeouts(&mut self, now: Instant) {
        let due: Vec<CallRef> = self
            .calls
            .iter()
            .filter(|c| matches!(c.rec, Rec::Paused { until } if until <= now))
            .map(|c| c.id)
            .collect();
        for id in due {
            self.record_resume(id);
        }
    }
}
