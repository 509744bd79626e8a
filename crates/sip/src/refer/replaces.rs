//! The Replaces header (RFC 3891 §6.1) and the Refer-To URI that carries it
//! as a URI header (`<sip:carol@host?Replaces=call%40id%3Bto-tag%3D..>`,
//! RFC 3891 §3 example, RFC 3261 §19.1.1 escaping).

use super::{malformed, ReferError};
use crate::message::grammar;
use crate::rsip::{self, Uri};

/// The dialog an INVITE asks to replace: `call-id;to-tag=..;from-tag=..`
/// with the optional `early-only` flag (RFC 3891 §6.1).
///
/// The tags are written from the point of view of the UA that receives the
/// INVITE with Replaces: `to_tag` is *its* tag in the replaced dialog (the
/// local tag when it matches), `from_tag` the tag of the other end (its
/// remote tag). The transferor, which built the value from its own consult
/// dialog with that UA, therefore puts the consultee's (remote) tag in
/// `to_tag` and its own tag in `from_tag`, whichever side sent the INVITE
/// of that dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    /// Call-ID of the dialog to replace.
    pub call_id: String,
    /// Tag of the UA receiving the INVITE with Replaces.
    pub to_tag: String,
    /// Tag of the other party of the replaced dialog.
    pub from_tag: String,
    /// `early-only`: replace only a dialog that is still early (RFC 3891 §3:
    /// a confirmed match is answered 486).
    pub early_only: bool,
}

impl Replaces {
    /// Parses a Replaces header value (or the unescaped `?Replaces=` URI
    /// header). Unknown parameters are ignored; `to-tag` and `from-tag` are
    /// required.
    pub fn parse(value: &str) -> Result<Self, ReferError> {
        let mut parts = value.split(';');
        let call_id = parts.next().unwrap_or("").trim();
        grammar::check_call_id(call_id).map_err(|r| malformed("Replaces", r))?;
        let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
        for p in parts {
            let (name, val) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (p.trim(), None),
            };
            let tag = |v: Option<&str>| match v {
                Some(t) if grammar::is_token(t) => Ok(t.to_string()),
                _ => Err(malformed("Replaces", format!("{name} is not a token"))),
            };
            if name.eq_ignore_ascii_case("to-tag") {
                to_tag = Some(tag(val)?);
            } else if name.eq_ignore_ascii_case("from-tag") {
                from_tag = Some(tag(val)?);
            } else if name.eq_ignore_ascii_case("early-only") {
                early_only = true;
            } else if !grammar::is_token(name) {
                return Err(malformed("Replaces", "malformed parameter"));
            }
        }
        Ok(Replaces {
            call_id: call_id.to_string(),
            to_tag: to_tag.ok_or_else(|| malformed("Replaces", "no to-tag"))?,
            from_tag: from_tag.ok_or_else(|| malformed("Replaces", "no from-tag"))?,
            early_only,
        })
    }

    /// The header value: `call-id;to-tag=..;from-tag=..[;early-only]`.
    pub fn to_header_value(&self) -> String {
        format!(
            "{};to-tag={};from-tag={}{}",
            self.call_id,
            self.to_tag,
            self.from_tag,
            if self.early_only { ";early-only" } else { "" }
        )
    }
}

/// Characters an `hvalue` may carry unescaped (RFC 3261 §25.1: unreserved
/// and hnv-unreserved).
fn is_hvalue_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.!~*'()[]/?:+$".contains(&c)
}

/// Escapes a SIP URI header value (RFC 3261 §19.1.1, §25.1 `hvalue`):
/// `@` → `%40`, `;` → `%3B`, `=` → `%3D`, `%` → `%25`, `&`, `,`, spaces and
/// every other byte outside the allowed set as `%XX`.
pub fn escape_uri_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for &b in value.as_bytes() {
        if is_hvalue_char(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes `%XX` escapes; the result must be UTF-8.
pub fn unescape(value: &str) -> Result<String, ReferError> {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| malformed("Refer-To", "bad %-escape in URI header"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| malformed("Refer-To", "URI header is not UTF-8"))
}

/// Where a REFER sends the transferee: the Refer-To URI without its URI
/// headers, the Replaces it carries (attended transfer) and any other URI
/// headers, unescaped.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferTarget {
    /// The URI to send the new INVITE to (no `?headers`).
    pub uri: Uri,
    /// The dialog the new call replaces (`?Replaces=`), for attended transfer.
    pub replaces: Option<Replaces>,
    /// The other URI headers `(name, value)`, unescaped, in order. Not
    /// copied into the new INVITE by [`ReferTarget::invite_headers`].
    pub other_headers: Vec<(String, String)>,
}

impl ReferTarget {
    /// A target without URI headers.
    pub fn new(uri: Uri, replaces: Option<Replaces>) -> Self {
        ReferTarget {
            uri,
            replaces,
            other_headers: Vec::new(),
        }
    }

    /// Parses a Refer-To header value (name-addr or addr-spec, RFC 3515
    /// §2.1). Only `sip:`/`sips:` targets are accepted: this user agent
    /// cannot place a call to anything else.
    pub fn parse_refer_to(value: &str) -> Result<Self, ReferError> {
        let addr = grammar::parse_addr(value).map_err(|r| malformed("Refer-To", r))?;
        let text = addr.uri;
        let (scheme, rest) = text
            .split_once(':')
            .ok_or_else(|| malformed("Refer-To", "URI without scheme"))?;
        if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
            return Err(malformed(
                "Refer-To",
                format!("cannot call a {scheme}: URI"),
            ));
        }
        // The userinfo may contain '?', the host part may not: URI headers
        // start at the first '?' after the '@' (RFC 3261 §19.1.1).
        let host_at = rest.find('@').map_or(0, |i| i + 1);
        let (base, headers) = match rest[host_at..].find('?') {
            Some(q) => (
                &text[..scheme.len() + 1 + host_at + q],
                Some(&rest[host_at + q + 1..]),
            ),
            None => (text, None),
        };
        let uri = rsip::parse_uri(base).map_err(|_| malformed("Refer-To", "bad URI"))?;
        let mut target = ReferTarget::new(uri, None);
        for h in headers.into_iter().flat_map(|h| h.split('&')) {
            let (name, value) = h
                .split_once('=')
                .ok_or_else(|| malformed("Refer-To", "URI header without '='"))?;
            let (name, value) = (unescape(name)?, unescape(value)?);
            if name.eq_ignore_ascii_case("Replaces") {
                if target.replaces.is_some() {
                    return Err(malformed("Refer-To", "two Replaces URI headers"));
                }
                target.replaces = Some(Replaces::parse(&value)?);
            } else {
                target.other_headers.push((name, value));
            }
        }
        Ok(target)
    }

    /// The Refer-To header value: `<uri?Replaces=escaped&...>`.
    pub fn to_refer_to(&self) -> String {
        let mut headers: Vec<String> = Vec::new();
        if let Some(r) = &self.replaces {
            headers.push(format!(
                "Replaces={}",
                escape_uri_header_value(&r.to_header_value())
            ));
        }
        for (n, v) in &self.other_headers {
            headers.push(format!(
                "{}={}",
                escape_uri_header_value(n),
                escape_uri_header_value(v)
            ));
        }
        if headers.is_empty() {
            format!("<{}>", self.uri)
        } else {
            format!("<{}?{}>", self.uri, headers.join("&"))
        }
    }

    /// The headers a transferee puts in the INVITE it sends to
    /// [`ReferTarget::uri`] (as `CallRequest::extra_headers`): `Replaces`
    /// when the target carries one (RFC 3891), and the REFER's
    /// `Referred-By` copied unchanged (RFC 3892 §3).
    pub fn invite_headers(&self, referred_by: Option<&str>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(r) = &self.replaces {
            out.push(("Replaces".to_string(), r.to_header_value()));
        }
        if let Some(by) = referred_by {
            out.push(("Referred-By".to_string(), by.to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replaces(call_id: &str) -> Replaces {
        Replaces {
            call_id: call_id.into(),
            to_tag: "c-7%x".into(),
            from_tag: "a.1~".into(),
            early_only: false,
        }
    }

    #[test]
    fn rfc3891_6_1_replaces_header_parses_with_params_in_any_order() {
        let r = Replaces::parse("425928@bobster.example.org;to-tag=7743;from-tag=6472").unwrap();
        assert_eq!(r.call_id, "425928@bobster.example.org");
        assert_eq!((r.to_tag.as_str(), r.from_tag.as_str()), ("7743", "6472"));
        assert!(!r.early_only);
        let r = Replaces::parse("x ; from-tag = 1 ;early-only; to-tag=2;foo=bar").unwrap();
        assert_eq!((r.to_tag.as_str(), r.from_tag.as_str()), ("2", "1"));
        assert!(r.early_only);
        assert_eq!(r.to_header_value(), "x;to-tag=2;from-tag=1;early-only");
    }

    #[test]
    fn rfc3891_6_1_replaces_without_both_tags_or_with_a_bad_call_id_is_refused() {
        assert!(Replaces::parse("abc;to-tag=1").is_err());
        assert!(Replaces::parse("abc;from-tag=1").is_err());
        assert!(Replaces::parse(";to-tag=1;from-tag=2").is_err());
        assert!(Replaces::parse("a@b@c;to-tag=1;from-tag=2").is_err());
        assert!(Replaces::parse("abc;to-tag=;from-tag=2").is_err());
        assert!(Replaces::parse("abc;to-tag=a b;from-tag=2").is_err());
    }

    #[test]
    fn rfc3261_19_1_1_uri_header_escaping_of_call_ids_and_tags() {
        assert_eq!(
            escape_uri_header_value("12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994"),
            "12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994",
            "the RFC 3891 §3 example"
        );
        assert_eq!(
            escape_uri_header_value("a%b c&d,e\"f"),
            "a%25b%20c%26d%2Ce%22f"
        );
        assert_eq!(escape_uri_header_value("[x]/y?z:+$"), "[x]/y?z:+$");
    }

    #[test]
    fn rfc3891_3_refer_to_with_replaces_round_trips_through_the_parser() {
        let uri = rsip::parse_uri("sip:carol@127.0.0.1:5063;transport=tcp").unwrap();
        // Call-IDs are `word [@ word]`: '%', '<', '"', '{', '\' and '@' all
        // need escaping in a URI header; ';' and '=' appear through the params.
        for call_id in [
            "abc@127.0.0.1",
            "a%41b@host",
            "<x>:\"y\"/[z]?{w}@h",
            "q\\r`s'~*()@x",
            "plain",
        ] {
            let target = ReferTarget::new(uri.clone(), Some(replaces(call_id)));
            let text = target.to_refer_to();
            let inner = text.trim_start_matches('<').trim_end_matches('>');
            let headers = inner.split_once('?').unwrap().1;
            assert!(
                !headers.contains(['@', ';', '<', '"', '{', '\\', ' ', '`']),
                "{text}"
            );
            assert_eq!(headers.matches('=').count(), 1, "{text}");
            let back = ReferTarget::parse_refer_to(&text).unwrap();
            assert_eq!(back, target, "{text}");
        }
    }

    #[test]
    fn rfc3515_2_1_refer_to_forms_and_refusals() {
        let t = ReferTarget::parse_refer_to("sip:bob@example.org").unwrap();
        assert_eq!(t.uri.to_string(), "sip:bob@example.org");
        assert_eq!(t.replaces, None);
        let t = ReferTarget::parse_refer_to(
            "\"Carol\" <sip:c?x@example.org;user=phone?Replaces=1%402%3Bto-tag%3Da%3Bfrom-tag%3Db&Subject=hi%20there>;foo",
        )
        .unwrap();
        assert_eq!(t.uri.to_string(), "sip:c?x@example.org;user=phone");
        assert_eq!(t.replaces.as_ref().unwrap().call_id, "1@2");
        assert_eq!(t.other_headers, [("Subject".into(), "hi there".into())]);
        assert!(ReferTarget::parse_refer_to("<tel:+123>").is_err());
        assert!(ReferTarget::parse_refer_to("<sip:a@b?Replaces=x%3Bto-tag%3D1>").is_err());
        assert!(ReferTarget::parse_refer_to("<sip:a@b?Replaces=%ZZ>").is_err());
        assert!(ReferTarget::parse_refer_to("<sip:a@b?novalue>").is_err());
        assert!(ReferTarget::parse_refer_to("sip:a@b?Replaces=1").is_err());
    }

    #[test]
    fn rfc3892_3_invite_headers_carry_replaces_and_referred_by() {
        let uri = rsip::parse_uri("sip:carol@h").unwrap();
        let t = ReferTarget::new(uri, Some(replaces("c@h")));
        assert_eq!(
            t.invite_headers(Some("<sip:alice@h>")),
            [
                ("Replaces".into(), "c@h;to-tag=c-7%x;from-tag=a.1~".into()),
                ("Referred-By".into(), "<sip:alice@h>".into())
            ]
        );
    }
}
