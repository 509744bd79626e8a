//! What a `refer` NOTIFY carries (RFC 3515 §2.4.4-2.4.6, RFC 6665 §8.2.3):
//! `Event: refer;id=<REFER CSeq>`, `Subscription-State` and a
//! `message/sipfrag` body (RFC 3420) with the status line of the referred
//! call.

use super::{malformed, ReferError};
use crate::message::grammar;

/// `Subscription-State` value (RFC 6665 §8.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState {
    /// `active`.
    Active,
    /// `pending`.
    Pending,
    /// `terminated`.
    Terminated,
}

/// A parsed `Subscription-State` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// The state.
    pub state: SubState,
    /// `expires` (seconds left), when given.
    pub expires: Option<u32>,
    /// `reason` (`noresource`, `timeout`, `rejected`, ...), when given.
    pub reason: Option<String>,
}

impl SubscriptionState {
    /// Parses a Subscription-State value. Unknown states are refused
    /// (RFC 6665 §8.2.3 lets them be treated as `terminated` only by
    /// packages that say so).
    pub fn parse(value: &str) -> Result<Self, ReferError> {
        let (state, params) = split_token(value, "Subscription-State")?;
        let state = match state.to_ascii_lowercase().as_str() {
            "active" => SubState::Active,
            "pending" => SubState::Pending,
            "terminated" => SubState::Terminated,
            _ => return Err(malformed("Subscription-State", "unknown state")),
        };
        let mut out = SubscriptionState {
            state,
            expires: None,
            reason: None,
        };
        for (name, val) in params {
            if name.eq_ignore_ascii_case("expires") {
                let secs = val
                    .and_then(grammar::parse_saturating_u32)
                    .ok_or_else(|| malformed("Subscription-State", "expires is not a number"))?;
                out.expires = Some(secs);
            } else if name.eq_ignore_ascii_case("reason") {
                out.reason = val.map(str::to_string);
            }
        }
        Ok(out)
    }

    /// The header value, e.g. `active;expires=60`,
    /// `terminated;reason=noresource`.
    pub fn to_header_value(&self) -> String {
        let state = match self.state {
            SubState::Active => "active",
            SubState::Pending => "pending",
            SubState::Terminated => "terminated",
        };
        let mut out = state.to_string();
        if let Some(r) = &self.reason {
            out.push_str(&format!(";reason={r}"));
        }
        if let Some(e) = self.expires {
            out.push_str(&format!(";expires={e}"));
        }
        out
    }
}

/// Header parameters as `(name, value)`.
type Params<'a> = Vec<(&'a str, Option<&'a str>)>;

/// `event-type *(; param)` → the token and its parameters.
fn split_token<'a>(
    value: &'a str,
    header: &'static str,
) -> Result<(&'a str, Params<'a>), ReferError> {
    let value = value.trim();
    let end = value.find(';').unwrap_or(value.len());
    let token = value[..end].trim();
    if !grammar::is_token(token) {
        return Err(malformed(header, "not a token"));
    }
    let params = grammar::parse_params(&value[end..]).map_err(|r| malformed(header, r))?;
    Ok((token, params))
}

/// Parses an Event header: the package name and its `id` parameter
/// (RFC 6665 §8.2.1; RFC 3515 §2.4.6 for `refer;id=`). An `id` that is not
/// a number is refused, as no REFER of ours can have it.
pub fn parse_event(value: &str) -> Result<(String, Option<u32>), ReferError> {
    let (package, params) = split_token(value, "Event")?;
    let id = params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("id"))
        .map(|(_, v)| {
            v.and_then(|v| v.parse::<u32>().ok())
                .ok_or_else(|| malformed("Event", "id is not a REFER CSeq number"))
        })
        .transpose()?;
    Ok((package.to_string(), id))
}

/// A `message/sipfrag` body holding just a status line (RFC 3515 §2.4.5):
/// `SIP/2.0 <code> <reason>` and CRLF.
pub fn sipfrag(code: u16, reason: &str) -> String {
    let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
    format!("SIP/2.0 {code} {reason}\r\n")
}

/// The status code and the status line of a sipfrag body (anything after
/// the first line — headers the notifier chose to include — is ignored).
pub fn parse_sipfrag(body: &[u8]) -> Option<(u16, String)> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?.trim_end_matches('\r').trim();
    let rest = line.strip_prefix("SIP/2.0 ")?;
    let code_text = rest.get(..3)?;
    if !code_text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if rest.len() > 3 && !rest[3..].starts_with(' ') {
        return None;
    }
    let code: u16 = code_text.parse().ok()?;
    (100..=699)
        .contains(&code)
        .then(|| (code, line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6665_8_2_3_subscription_state_parses_and_prints() {
        let s = SubscriptionState::parse("active;expires=60").unwrap();
        assert_eq!(
            (s.state, s.expires, s.reason),
            (SubState::Active, Some(60), None)
        );
        let s = SubscriptionState::parse("Terminated ; reason=noresource").unwrap();
        assert_eq!(s.state, SubState::Terminated);
        assert_eq!(s.reason.as_deref(), Some("noresource"));
        assert_eq!(s.to_header_value(), "terminated;reason=noresource");
        assert!(SubscriptionState::parse("sleeping").is_err());
        assert!(SubscriptionState::parse("active;expires=soon").is_err());
        assert!(SubscriptionState::parse("").is_err());
    }

    #[test]
    fn rfc3515_2_4_6_event_refer_with_and_without_id() {
        assert_eq!(parse_event("refer").unwrap(), ("refer".into(), None));
        assert_eq!(
            parse_event("refer;id=93809824").unwrap(),
            ("refer".into(), Some(93809824))
        );
        assert_eq!(
            parse_event("refer ; ID=7").unwrap(),
            ("refer".into(), Some(7))
        );
        assert!(parse_event("refer;id=abc").is_err());
        assert!(parse_event("re fer").is_err());
    }

    #[test]
    fn rfc3515_2_4_5_sipfrag_status_lines() {
        assert_eq!(sipfrag(100, "Trying"), "SIP/2.0 100 Trying\r\n");
        assert_eq!(
            parse_sipfrag(b"SIP/2.0 200 OK\r\n"),
            Some((200, "SIP/2.0 200 OK".into()))
        );
        assert_eq!(
            parse_sipfrag(b"SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n"),
            Some((486, "SIP/2.0 486 Busy Here".into()))
        );
        assert_eq!(
            parse_sipfrag(b"SIP/2.0 180"),
            Some((180, "SIP/2.0 180".into()))
        );
        assert_eq!(parse_sipfrag(b"SIP/2.0 2000 OK"), None);
        assert_eq!(parse_sipfrag(b"SIP/2.0 099 x"), None);
        assert_eq!(parse_sipfrag(b"INVITE sip:a@b SIP/2.0"), None);
        assert_eq!(parse_sipfrag(b""), None);
        assert_eq!(parse_sipfrag(&[0xff, 0xfe]), None);
    }
}
