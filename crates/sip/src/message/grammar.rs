//! RFC 3261 §25 grammar checks that rsipstack's lenient parser skips.
//!
//! Each check takes the unfolded header value (or start-line element) and
//! returns a short fault description on failure; the caller turns it into a
//! `400 Bad Request - <fault>` reason phrase.

/// `token` characters (RFC 3261 §25.1).
pub(crate) fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

/// A non-empty run of token characters.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// `word` characters, used by Call-ID (RFC 3261 §25.1).
fn is_word_char(c: u8) -> bool {
    is_token_char(c) || b"()<>:\\\"/[]?{}".contains(&c)
}

/// Splits `s` at top-level `sep` bytes, skipping quoted strings and `<...>`.
///
/// Errors on an unterminated quoted string or angle bracket, because every
/// caller would otherwise mis-split the rest of the value.
pub(crate) fn split_top_level(s: &str, sep: u8) -> Result<Vec<&str>, &'static str> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut i) = (0, 0);
    let mut in_angle = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' if !in_angle => i = skip_quoted(bytes, i)?,
            b'<' if !in_angle => in_angle = true,
            b'>' if in_angle => in_angle = false,
            c if c == sep && !in_angle => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if in_angle {
        return Err("unterminated '<' in header value");
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// Given the index of an opening quote, returns the index of its closing quote.
fn skip_quoted(bytes: &[u8], open: usize) -> Result<usize, &'static str> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i),
            b'\r' | b'\n' => return Err("control character in quoted string"),
            _ => i += 1,
        }
    }
    Err("unbalanced quotes")
}

/// Checks a Call-ID: `word ["@" word]`.
pub(crate) fn check_call_id(v: &str) -> Result<(), &'static str> {
    let mut halves = v.splitn(2, '@');
    let ok = halves.all(|w| !w.is_empty() && w.bytes().all(is_word_char))
        && v.bytes().filter(|&c| c == b'@').count() <= 1;
    if ok {
        Ok(())
    } else {
        Err("malformed Call-ID")
    }
}

/// Parses a CSeq value into its number and method text.
pub(crate) fn parse_cseq(v: &str) -> Result<(u32, &str), &'static str> {
    let v = v.trim();
    let split = v.find([' ', '\t']).ok_or("malformed CSeq")?;
    let (num, method) = (&v[..split], v[split..].trim());
    if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) || !is_token(method) {
        return Err("malformed CSeq");
    }
    // Leading zeros are legal ("0009"), so compare the value, not the text.
    let digits = num.trim_start_matches('0');
    if digits.len() > 10 {
        return Err("CSeq number exceeds 2**31-1");
    }
    let n: u64 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| "malformed CSeq")?
    };
    if n > (1 << 31) - 1 {
        return Err("CSeq number exceeds 2**31-1");
    }
    Ok((n as u32, method))
}

/// Parses a decimal field made only of digits, saturating at `u32::MAX`
/// (RFC 3261 §20.19 treats overlarge delta-seconds as 2**32-1).
pub(crate) fn parse_saturating_u32(v: &str) -> Option<u32> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u32>().unwrap_or(u32::MAX))
}

/// One parsed `name-addr` / `addr-spec` entry (From, To, Contact, Route...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddrParts<'a> {
    /// Display name without quotes, when present.
    pub display: Option<&'a str>,
    /// The URI text (between `<` `>` for name-addr).
    pub uri: &'a str,
    /// Header parameters after the address.
    pub params: Vec<(&'a str, Option<&'a str>)>,
}

/// Parses one address entry, strictly (RFC 3261 §20.10, §25.1 name-addr).
pub(crate) fn parse_addr(v: &str) -> Result<AddrParts<'_>, &'static str> {
    let v = v.trim_matches(|c: char| c == ' ' || c == '\t');
    let bytes = v.as_bytes();
    let (display, uri, rest) = if let Some(lt) = find_unquoted(bytes, b'<')? {
        let display = check_display_name(v[..lt].trim())?;
        let close = v[lt..].find('>').ok_or("unterminated '<' in address")? + lt;
        let uri = &v[lt + 1..close];
        if uri.starts_with(is_ws_char) || uri.ends_with(is_ws_char) {
            return Err("whitespace inside <> of an address");
        }
        (display, uri, &v[close + 1..])
    } else {
        if bytes.first() == Some(&b'"') {
            return Err("quoted display name without <address>");
        }
        // addr-spec form: header params start at the first ';' and the URI
        // may contain neither '?' nor ',' (RFC 3261 §20.10).
        let end = v.find(';').unwrap_or(v.len());
        let uri = v[..end].trim_end();
        if uri.contains(['?', ',']) {
            return Err("URI with '?' or ',' must be enclosed in <>");
        }
        (None, uri, &v[end..])
    };
    check_uri(uri)?;
    let params = parse_params(rest)?;
    Ok(AddrParts {
        display,
        uri,
        params,
    })
}

fn is_ws_char(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Index of the first `needle` outside quoted strings.
fn find_unquoted(bytes: &[u8], needle: u8) -> Result<Option<usize>, &'static str> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            i = skip_quoted(bytes, i)?;
        } else if bytes[i] == needle {
            return Ok(Some(i));
        }
        i += 1;
    }
    Ok(None)
}

/// Display name: a quoted-string, or tokens separated by LWS.
fn check_display_name(d: &str) -> Result<Option<&str>, &'static str> {
    if d.is_empty() {
        return Ok(None);
    }
    if d.starts_with('"') {
        let close = skip_quoted(d.as_bytes(), 0)?;
        if close != d.len() - 1 {
            return Err("text after quoted display name");
        }
        return Ok(Some(&d[1..close]));
    }
    if d.split(is_ws_char).filter(|t| !t.is_empty()).all(is_token) {
        Ok(Some(d))
    } else {
        Err("display name with non-token characters must be quoted")
    }
}

/// Parses `*( SEMI generic-param )`, allowing LWS around `;` and `=`.
pub(crate) fn parse_params(rest: &str) -> Result<Vec<(&str, Option<&str>)>, &'static str> {
    let rest = rest.trim_matches(is_ws_char);
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let rest = rest.strip_prefix(';').ok_or("junk after address")?;
    let mut out = Vec::new();
    for p in split_top_level(rest, b';')? {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n.trim_matches(is_ws_char), Some(v.trim_matches(is_ws_char))),
            None => (p.trim_matches(is_ws_char), None),
        };
        if !is_token(name) {
            return Err("empty or malformed header parameter");
        }
        if let Some(v) = value {
            check_param_value(v)?;
        }
        out.push((name, value));
    }
    Ok(out)
}

/// gen-value = token / host / quoted-string.
fn check_param_value(v: &str) -> Result<(), &'static str> {
    if v.starts_with('"') {
        let close = skip_quoted(v.as_bytes(), 0)?;
        return if close == v.len() - 1 {
            Ok(())
        } else {
            Err("text after quoted parameter value")
        };
    }
    let host_chars = |c: u8| is_token_char(c) || b"[]:".contains(&c);
    if !v.is_empty() && v.bytes().all(host_chars) {
        Ok(())
    } else {
        Err("malformed parameter value")
    }
}

/// Checks an absolute URI: strictly for sip/sips, loosely for other schemes.
pub(crate) fn check_uri(uri: &str) -> Result<(), &'static str> {
    let (scheme, rest) = uri.split_once(':').ok_or("URI without scheme")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c));
    if !scheme_ok || rest.is_empty() {
        return Err("malformed URI scheme");
    }
    if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        return check_sip_uri_rest(rest);
    }
    if rest
        .bytes()
        .any(|c| c <= b' ' || c == b'<' || c == b'>' || c == b'"')
    {
        return Err("illegal character in URI");
    }
    Ok(())
}

/// Characters allowed unescaped in the SIP URI user part.
fn is_user_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&c)
}

/// Characters allowed unescaped in a SIP URI password.
fn is_password_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,".contains(&c)
}

/// Characters allowed in SIP URI params and headers.
fn is_param_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.!~*'()[]/:&+$=?".contains(&c)
}

fn check_escapes(s: &str, allowed: fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(|c| c.is_ascii_hexdigit());
            if !hex(i + 1) || !hex(i + 2) {
                return false;
            }
            i += 3;
        } else if allowed(b[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// `[userinfo "@"] hostport uri-parameters [headers]` (RFC 3261 §19.1.1).
fn check_sip_uri_rest(rest: &str) -> Result<(), &'static str> {
    // No unescaped '@' may follow the userinfo, so the first one ends it.
    let (userinfo, hostpart) = match rest.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    if let Some(u) = userinfo {
        let (user, password) = match u.split_once(':') {
            Some((user, pw)) => (user, Some(pw)),
            None => (u, None),
        };
        if user.is_empty() || !check_escapes(user, is_user_char) {
            return Err("malformed user part in SIP URI");
        }
        if password.is_some_and(|p| !check_escapes(p, is_password_char)) {
            return Err("malformed password in SIP URI");
        }
    }
    let (before_headers, headers) = match hostpart.split_once('?') {
        Some((b, h)) => (b, Some(h)),
        None => (hostpart, None),
    };
    let mut pieces = before_headers.split(';');
    check_hostport(pieces.next().unwrap_or(""))?;
    for param in pieces {
        let name = param.split('=').next().unwrap_or("");
        if name.is_empty() || !check_escapes(param, is_param_char) {
            return Err("malformed SIP URI parameter");
        }
    }
    if headers.is_some_and(|h| h.is_empty() || !check_escapes(h, is_param_char)) {
        return Err("malformed SIP URI headers");
    }
    Ok(())
}

/// `host [":" port]` where host is a hostname, IPv4 or `[IPv6]`.
pub(crate) fn check_hostport(hp: &str) -> Result<(), &'static str> {
    let (host, port) = if let Some(inner) = hp.strip_prefix('[') {
        let close = inner.find(']').ok_or("unterminated IPv6 reference")?;
        inner[..close]
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| "malformed IPv6 reference")?;
        let after = &inner[close + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after IPv6 reference")?),
        };
        (None, port)
    } else {
        match hp.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(hp), None),
        }
    };
    if let Some(h) = host {
        let ok = !h.is_empty()
            && h.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
            && !h.starts_with(['-', '.']);
        if !ok {
            return Err("malformed host");
        }
    }
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return Err("malformed port");
        }
        if p.parse::<u32>().map_or(true, |n| n > 65535) {
            return Err("port out of range");
        }
    }
    Ok(())
}

/// One Via entry split into its parts (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViaParts<'a> {
    pub protocol: &'a str,
    pub version: &'a str,
    pub transport: &'a str,
    pub sent_by: &'a str,
    pub params: Vec<(&'a str, Option<&'a str>)>,
}

/// Parses one via-parm, allowing LWS around `/`, `;` and `=`.
pub(crate) fn parse_via(v: &str) -> Result<ViaParts<'_>, &'static str> {
    let mut slashes = v.splitn(3, '/');
    let protocol = slashes.next().unwrap_or("").trim_matches(is_ws_char);
    let version = slashes
        .next()
        .ok_or("malformed Via")?
        .trim_matches(is_ws_char);
    let rest = slashes
        .next()
        .ok_or("malformed Via")?
        .trim_start_matches(is_ws_char);
    let t_end = rest.find(is_ws_char).ok_or("Via without sent-by")?;
    let transport = &rest[..t_end];
    let rest = rest[t_end..].trim_start_matches(is_ws_char);
    if !is_token(protocol) || !is_token(version) || !is_token(transport) {
        return Err("malformed Via protocol");
    }
    let end = rest.find(';').unwrap_or(rest.len());
    let sent_by = rest[..end].trim_end_matches(is_ws_char);
    let sent_by_compact: String = sent_by.chars().filter(|c| !is_ws_char(*c)).collect();
    check_hostport(&sent_by_compact).map_err(|_| "malformed Via sent-by")?;
    let params = parse_params(&rest[end..]).map_err(|_| "malformed Via parameter")?;
    Ok(ViaParts {
        protocol,
        version,
        transport,
        sent_by,
        params,
    })
}

/// Checks an RFC 1123 date as SIP requires: must end in "GMT" (§20.17).
pub(crate) fn check_date(v: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    let shape_ok = parts.len() == 6
        && parts[0].ends_with(',')
        && parts[1].bytes().all(|c| c.is_ascii_digit())
        && parts[3].bytes().all(|c| c.is_ascii_digit())
        && parts[4].bytes().filter(|&c| c == b':').count() == 2;
    if !shape_ok {
        return Err("malformed Date");
    }
    if parts[5] != "GMT" {
        return Err("Date time zone must be GMT");
    }
    Ok(())
}

/// `m-type "/" m-subtype *(SEMI m-parameter)`.
pub(crate) fn check_media_type(v: &str) -> Result<(), &'static str> {
    let end = v.find(';').unwrap_or(v.len());
    let (ty, sub) = v[..end].split_once('/').ok_or("malformed Content-Type")?;
    if !is_token(ty.trim()) || !is_token(sub.trim()) {
        return Err("malformed Content-Type");
    }
    parse_params(&v[end..]).map_err(|_| "malformed Content-Type parameter")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_limits_and_leading_zeros() {
        assert_eq!(parse_cseq("0009 INVITE"), Ok((9, "INVITE")));
        assert_eq!(parse_cseq("2147483647 BYE"), Ok((2147483647, "BYE")));
        assert!(parse_cseq("2147483648 BYE").is_err());
        assert!(parse_cseq("36893488147419103232 REGISTER").is_err());
        assert!(parse_cseq("-1 BYE").is_err());
        assert!(parse_cseq("1").is_err());
    }

    #[test]
    fn addresses_strict_forms() {
        let a = parse_addr("\"J R \\\"\" <sip:j@example.com> ;  tag = 98").unwrap();
        assert_eq!(a.display, Some("J R \\\""));
        assert_eq!(a.uri, "sip:j@example.com");
        assert_eq!(a.params, vec![("tag", Some("98"))]);
        assert!(parse_addr("caller<sip:caller@example.com>;tag=323").is_ok());
        assert!(parse_addr("Bell, Alexander <sip:a@example.com>").is_err());
        assert!(parse_addr("\"Mr. J. User <sip:j@example.com>").is_err());
        assert!(parse_addr("\"W\" < sip:t@example.org >").is_err());
        assert!(parse_addr("sip:u@example.com?Route=%3Csip:x%3E").is_err());
        assert!(parse_addr("\"Joe\" <sip:joe@example.org>;;;;").is_err());
        assert!(parse_addr("<sip:[2001:db8::10]:5070>").is_ok());
        assert!(parse_addr("<sip:[2001:db8::10:5070>").is_err());
    }

    #[test]
    fn via_entries() {
        let v = parse_via("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!((v.transport, v.sent_by), ("UDP", "192.0.2.2"));
        let v = parse_via("SIP/2.0/TCP [2001:db8::9:1]:5060;received=2001:db8::9:255").unwrap();
        assert_eq!(v.sent_by, "[2001:db8::9:1]:5060");
        assert!(parse_via("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(parse_via("SIP/2.0/UDP").is_err());
    }

    #[test]
    fn dates_must_be_gmt() {
        assert!(check_date("Sat, 13 Nov 2010 23:29:00 GMT").is_ok());
        assert!(check_date("Fri, 01 Jan 2010 16:00:00 EST").is_err());
    }
}
