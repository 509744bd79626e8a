//! Call variables and what the controls may see of the caller (R-OFFER-6/8,
//! R-CAD-2): configured INVITE headers become labelled variables (secure
//! ones never shown, at most six, values at most 256 characters); with
//! sensitive-data protection the caller shows only the last four digits of
//! its number, the others as `*` (`sip:+12015532447@host` shows
//! `*******2447`).

use crate::calls::Call;
use crate::desk::Desk;
use crate::{CallKind, CallRef, Variable, VariableSpec};

/// The most variables an offer shows (R-OFFER-6).
pub(crate) const MAX_SHOWN: usize = 6;
/// The longest value (R-CAD-2).
pub(crate) const MAX_VALUE: usize = 256;
/// How many trailing digits stay visible (R-OFFER-8).
const VISIBLE_DIGITS: usize = 4;

/// The configured variables found in `headers`, in configured order.
pub(crate) fn extract(specs: &[VariableSpec], headers: &[(String, String)]) -> Vec<Variable> {
    specs
        .iter()
        .filter(|s| !s.secure)
        .filter_map(|s| {
            headers
                .iter()
                .find(|(name, _)| name.trim().eq_ignore_ascii_case(s.header.trim()))
                .map(|(_, value)| Variable {
                    label: s.label.clone(),
                    value: value.chars().take(MAX_VALUE).collect(),
                })
        })
        .take(MAX_SHOWN)
        .collect()
}

/// The user part of the first SIP or tel URI in a From value, else the
/// value itself up to an `@`.
pub(crate) fn uri_user(from: &str) -> &str {
    let lower = from.to_ascii_lowercase();
    let start = ["sips:", "sip:", "tel:"]
        .iter()
        .filter_map(|s| lower.find(s).map(|i| i + s.len()))
        .min()
        .unwrap_or(0);
    let rest = from.get(start..).unwrap_or("");
    let end = rest.find(['@', ';', '>', '?']).unwrap_or(rest.len());
    rest[..end].trim()
}

/// R-OFFER-8: the caller's digits, all but the last four as `*`;
/// `****` when the caller has no number.
pub(crate) fn mask_caller(from: &str) -> String {
    let digits: Vec<char> = uri_user(from)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if digits.is_empty() {
        return "****".into();
    }
    let hidden = digits.len().saturating_sub(VISIBLE_DIGITS);
    let mut shown = "*".repeat(hidden);
    shown.extend(&digits[hidden..]);
    shown
}

/// A recording's file-name stem from time-free data: `call-<id>-<user>`,
/// only `[A-Za-z0-9._-]`; the user is masked to its last four digits under
/// sensitive-data protection.
pub(crate) fn file_stem(id: CallRef, peer: &str, sensitive: bool) -> String {
    let user: String = if sensitive {
        let m = mask_caller(peer);
        m.chars().filter(char::is_ascii_digit).collect()
    } else {
        uri_user(peer).to_string()
    };
    let safe: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(48)
        .collect();
    let safe = safe.trim_start_matches('.');
    match safe.is_empty() {
        true => format!("call-{id}"),
        false => format!("call-{id}-{safe}"),
    }
}

impl Desk {
    /// The far end as the controls may see it (R-OFFER-8 on inbound calls).
    pub(crate) fn shown_peer(&self, c: &Call) -> String {
        if self.config.sensitive_data && c.kind == CallKind::Inbound {
            mask_caller(&c.peer)
        } else {
            c.peer.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_all_but_the_last_four_digits() {
        assert_eq!(mask_caller("sip:+12015532447@host"), "*******2447");
        assert_eq!(
            mask_caller("\"Bob 555\" <sip:+12015532447@host>;tag=1"),
            "*******2447"
        );
        assert_eq!(mask_caller("tel:2001"), "2001");
        assert_eq!(mask_caller("sip:alice@host"), "****");
    }

    #[test]
    fn file_stem_is_safe() {
        assert_eq!(
            file_stem(CallRef(3), "sip:+1201/../x@h", false),
            "call-3-1201..x"
        );
        assert_eq!(
            file_stem(CallRef(3), "sip:+12015532447@h", true),
            "call-3-2447"
        );
        assert_eq!(file_stem(CallRef(4), "sip:@h", false), "call-4");
    }
}
