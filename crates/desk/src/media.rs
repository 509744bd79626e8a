//! The agent's own audio controls: mute, DTMF (RFC 4733) and noise removal
//! (R-NR-2, through [`NoiseState`](crate::noise::NoiseState)).

use crate::desk::Desk;
use crate::noise::NoiseTarget;
use crate::{Action, CallRef, CommandError, Reply};

impl Desk {
    /// `Mute`.
    pub(crate) fn cmd_mute(&mut self, on: bool) -> Result<Reply, CommandError> {
        self.muted = on;
        self.push(Action::AgentMute { muted: on });
        Ok(Reply::Ok)
    }

    /// `Dtmf`: digits `0-9 * # A-D` on a call whose far end is up.
    pub(crate) fn cmd_dtmf(
        &mut self,
        call: Option<CallRef>,
        digits: &str,
    ) -> Result<Reply, CommandError> {
        let id = self.resolve(call, "send DTMF to")?;
        if !self.live(id)?.leg_up {
            return Err(CommandError::NoSuchCall(id));
        }
        let digits = digits.trim().to_ascii_uppercase();
        let bad = digits
            .chars()
            .find(|c| !(c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')));
        if digits.is_empty() || bad.is_some() {
            return Err(CommandError::Invalid(format!(
                "\"{}\" is not a DTMF digit: use 0-9 * # A-D",
                bad.map(String::from).unwrap_or_default()
            )));
        }
        self.push(Action::Dtmf { call: id, digits });
        Ok(Reply::Ok)
    }

    /// `Denoise` (R-NR-2): refused when the configuration locks it on.
    pub(crate) fn cmd_denoise(
        &mut self,
        on: bool,
        target: Option<NoiseTarget>,
    ) -> Result<Reply, CommandError> {
        let target = target.unwrap_or(NoiseTarget::Inbound);
        self.noise.request(target, on)?;
        self.push(Action::Denoise { target, on });
        Ok(Reply::Ok)
    }
}
