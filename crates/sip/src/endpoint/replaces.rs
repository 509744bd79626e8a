//! An INVITE with Replaces (RFC 3891 §3): which of our calls it replaces,
//! or the status that refuses it.

use super::Endpoint;
use crate::message;
use crate::refer::Replaces;
use crate::rsip::Request;
use crate::session::{CallId, CallState, Role};

impl Endpoint {
    /// The call a new INVITE's Replaces header names, `None` without one,
    /// or the refusal (RFC 3891 §3):
    /// - 400: several Replaces headers or a malformed one;
    /// - 481: no dialog matches, or it matches an early dialog we did not
    ///   initiate (an INVITE we received and have not answered);
    /// - 486: `early-only` and the dialog is confirmed;
    /// - 603: the dialog has ended (or is ending: our BYE or CANCEL is out).
    ///
    /// The tags are the sender's view of our dialog: `to-tag` is our tag,
    /// `from-tag` our peer's, whether we placed or received that call. An
    /// early dialog we initiated has no remote tag here (the endpoint keeps
    /// none before the 2xx), so it matches on Call-ID and our tag.
    pub(super) fn replaced_call(&self, invite: &Request) -> Result<Option<CallId>, u16> {
        let r = match message::header_values(invite, "Replaces")[..] {
            [] => return Ok(None),
            [one] => Replaces::parse(one).map_err(|_| 400u16)?,
            _ => return Err(400),
        };
        for (id, c) in self.calls.with_call_id(&r.call_id) {
            let matches = match &c.dialog {
                Some(d) => {
                    d.id.call_id == r.call_id
                        && d.id.local_tag == r.to_tag
                        && d.id.remote_tag == r.from_tag
                }
                None => {
                    message::call_id(&c.invite).unwrap_or_default() == r.call_id
                        && c.local_tag == r.to_tag
                }
            };
            if !matches {
                continue;
            }
            // A call may hold an early dialog (a reliable 18x): only a 2xx
            // confirms it (sent: Answered, or received: Confirmed).
            let confirmed = matches!(c.state, CallState::Confirmed | CallState::Answered);
            return match c.state {
                CallState::Terminating | CallState::Ended => Err(603),
                // RFC 3891 §3: an early dialog not initiated by us.
                _ if !confirmed && c.role == Role::Uas => Err(481),
                _ if confirmed && r.early_only => Err(486),
                _ => Ok(Some(id)),
            };
        }
        if self
            .transfers
            .ended_lately(&r.call_id, &r.to_tag, &r.from_tag)
        {
            return Err(603);
        }
        Err(481)
    }
}
