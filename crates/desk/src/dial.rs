//! Dial targets (R-CONS-3, R-XFER-6) and calls the agent places.
//!
//! A `sip:` / `sips:` URI is taken as given. Anything else is a dial number:
//! the digits and `+ # * :` are kept, every other character is dropped, and
//! 3 to 18 characters must remain, else the number is refused before
//! anything is dialled.

use crate::calls::Call;
use crate::desk::Desk;
use crate::{Action, CallKind, CallState, CommandError, DialTarget, Refused, Reply};

/// The shortest and longest dial number (R-CONS-3).
const NUMBER_LEN: std::ops::RangeInclusive<usize> = 3..=18;

/// Parses what the agent typed or pasted; refusals name `rule`.
pub(crate) fn parse_target(input: &str, rule: &'static str) -> Result<DialTarget, Refused> {
    let t = input.trim();
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        let rest = &t[t.find(':').map(|i| i + 1).unwrap_or(0)..];
        if rest.is_empty() || rest.chars().any(char::is_whitespace) {
            return Err(Refused {
                rule,
                reason: format!("\"{t}\" is not a valid SIP address"),
            });
        }
        return Ok(DialTarget::Uri(t.to_string()));
    }
    let number: String = t
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '+' | '#' | '*' | ':'))
        .collect();
    let n = number.chars().count();
    if !NUMBER_LEN.contains(&n) {
        return Err(Refused {
            rule,
            reason: format!(
                "\"{t}\" is not a dial number: it keeps {n} digits or + # * : \
                 and needs 3 to 18 (letters, spaces, brackets and dashes are dropped)"
            ),
        });
    }
    Ok(DialTarget::Number(number))
}

/// The far end as shown for a call we place.
pub(crate) fn target_peer(t: &DialTarget) -> String {
    match t {
        DialTarget::Uri(u) | DialTarget::Number(u) => u.clone(),
    }
}

impl Desk {
    /// `Dial`: a call of the agent's own; a talking call is held first.
    pub(crate) fn cmd_dial(&mut self, target: &str) -> Result<Reply, CommandError> {
        let target = parse_target(target, "R-CONS-3")?;
        self.make_way();
        let call = self.new_call_id();
        let room = self.new_room();
        let mut c = Call::new(
            call,
            CallKind::Outbound,
            CallState::Dialing,
            target_peer(&target),
            room,
        );
        c.room_open = true;
        self.calls.push(c);
        self.push(Action::OpenRoom { room });
        self.push(Action::Dial { call, target, room });
        self.push(Action::AgentJoin { room });
        self.agent_room = Some(room);
        Ok(Reply::Call { call })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_numbers_keep_digits_and_the_four_specials() {
        let ok = |s: &str| parse_target(s, "R-CONS-3").unwrap();
        assert_eq!(
            ok("+1 (201) 553-2447"),
            DialTarget::Number("+12015532447".into())
        );
        assert_eq!(
            ok("01161123456789"),
            DialTarget::Number("01161123456789".into())
        );
        assert_eq!(ok("*72#"), DialTarget::Number("*72#".into()));
        assert_eq!(
            ok("SIP:bob@example.com"),
            DialTarget::Uri("SIP:bob@example.com".into())
        );
    }

    #[test]
    fn too_short_or_too_long_is_refused_naming_the_rule() {
        for bad in ["12", "abc", "1234567890123456789", "", "sip:"] {
            let e = parse_target(bad, "R-XFER-6").unwrap_err();
            assert_eq!(e.rule, "R-XFER-6", "{bad}");
        }
    }
}
