//! Splits raw bytes into start line, unfolded header fields and body.
//!
//! This is the layer rsipstack's parser is lenient in: it drops lines without
//! a colon and reads a bad Content-Length as 0. Here every such fault is an
//! error, and header names are canonicalised (compact forms expanded) so later
//! checks only ever see one spelling.

/// One header field, unfolded, with its canonical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawHeader {
    /// Canonical (long-form) name, e.g. `Call-ID` for `i` or `call-id`.
    pub name: String,
    /// Value with folding replaced by single spaces and outer LWS trimmed.
    pub value: String,
}

/// A message split into its parts, before any semantic check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawMessage<'a> {
    /// The start line, without its CRLF.
    pub start_line: &'a str,
    /// Header fields in wire order.
    pub headers: Vec<RawHeader>,
    /// Everything after the blank line, before Content-Length is applied.
    pub rest: &'a [u8],
    /// First malformed header line, if any. Lexing goes on past it so that
    /// Via/From/To/Call-ID/CSeq are still found for the error response.
    pub fault: Option<&'static str>,
    /// The blank line ending the headers is missing: the headers ran to the
    /// end of the bytes. Reported after more specific faults.
    pub unterminated: bool,
}

/// Why bytes could not be split into a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LexError {
    /// No start line before the header block.
    Empty,
    /// The start line is not UTF-8 or holds control characters.
    Encoding,
}

/// Compact forms (RFC 3261 §7.3.3 and the RFCs that registered the others).
const COMPACT: &[(&str, &str)] = &[
    ("a", "Accept-Contact"),
    ("b", "Referred-By"),
    ("c", "Content-Type"),
    ("d", "Request-Disposition"),
    ("e", "Content-Encoding"),
    ("f", "From"),
    ("i", "Call-ID"),
    ("j", "Reject-Contact"),
    ("k", "Supported"),
    ("l", "Content-Length"),
    ("m", "Contact"),
    ("n", "Identity-Info"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("s", "Subject"),
    ("t", "To"),
    ("u", "Allow-Events"),
    ("v", "Via"),
    ("x", "Session-Expires"),
    ("y", "Identity"),
];

/// Long names whose canonical spelling the core matches on.
const CANONICAL: &[&str] = &[
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Contact",
    "Content-Length",
    "Content-Type",
    "Content-Encoding",
    "Record-Route",
    "Route",
    "Expires",
    "Date",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Authorization",
    "Proxy-Authorization",
    "Refer-To",
    "Referred-By",
    "Session-Expires",
    "Allow-Events",
    "Event",
    "Supported",
    "Require",
    "Subject",
];

/// Maps a header name to its canonical spelling; unknown names are kept.
pub(crate) fn canonical_name(name: &str) -> &str {
    // Borrowed, not allocated: header lookups call this for every header
    // of the message they search.
    if name.len() == 1 {
        if let Some((_, long)) = COMPACT.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)) {
            return long;
        }
    }
    CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .map_or(name, |c| c)
}

/// Lines of the header block: split on LF, dropping one preceding CR.
fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    block
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// Finds the end of the header block: returns (block length, body start).
fn header_end(data: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = data[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        let next = nl + 1;
        if data[next..].starts_with(b"\r\n") {
            return Some((nl + 1, next + 2));
        }
        if data[next..].starts_with(b"\n") {
            return Some((nl + 1, next + 1));
        }
        i = next;
    }
    None
}

/// Splits one datagram or framed stream message.
pub(crate) fn lex(data: &[u8]) -> Result<RawMessage<'_>, LexError> {
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    let start = data.iter().position(|&b| b != b'\r' && b != b'\n');
    let data = &data[start.ok_or(LexError::Empty)?..];
    let (block_len, body_start, unterminated) = match header_end(data) {
        Some((block, body)) => (block, body, false),
        None => (data.len(), data.len(), true),
    };
    let mut it = lines(&data[..block_len]);
    let start_line = it.next().ok_or(LexError::Empty)?;
    let start_line = to_text(start_line).map_err(|_| LexError::Encoding)?;
    let mut headers: Vec<RawHeader> = Vec::new();
    let mut fault = None;
    // After a bad line, its continuation lines must not glue onto the
    // previous good header.
    let mut skipping = false;
    for line in it.filter(|l| !l.is_empty()) {
        let folded = line.starts_with(b" ") || line.starts_with(b"\t");
        if folded && skipping {
            continue;
        }
        skipping = false;
        match lex_line(line, folded, &mut headers) {
            Ok(()) => {}
            Err(reason) => {
                fault = fault.or(Some(reason));
                skipping = true;
            }
        }
    }
    Ok(RawMessage {
        start_line,
        headers,
        rest: &data[body_start..],
        fault,
        unterminated,
    })
}

/// Adds one header line (or continuation) to `headers`.
fn lex_line(line: &[u8], folded: bool, headers: &mut Vec<RawHeader>) -> Result<(), &'static str> {
    let text = to_text(line)?;
    if folded {
        let last = headers
            .last_mut()
            .ok_or("continuation line before any header")?;
        let more = text.trim_matches([' ', '\t']);
        if !more.is_empty() {
            if !last.value.is_empty() {
                last.value.push(' ');
            }
            last.value.push_str(more);
        }
        return Ok(());
    }
    let (name, value) = text.split_once(':').ok_or("header line without a colon")?;
    let name = name.trim_end_matches([' ', '\t']);
    if !super::grammar::is_token(name) {
        return Err("malformed header name");
    }
    headers.push(RawHeader {
        name: canonical_name(name).to_string(),
        value: value.trim_matches([' ', '\t']).to_string(),
    });
    Ok(())
}

/// UTF-8 text without bare CR or other control characters except HTAB.
fn to_text(line: &[u8]) -> Result<&str, &'static str> {
    let s = std::str::from_utf8(line).map_err(|_| "header line is not UTF-8")?;
    if s.bytes().any(|c| (c < 0x20 && c != b'\t') || c == 0x7f) {
        // Quoted strings may carry escaped controls (RFC 3261 quoted-pair);
        // only a backslash-escaped control is allowed.
        let b = s.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            if ((c < 0x20 && c != b'\t') || c == 0x7f) && (i == 0 || b[i - 1] != b'\\') {
                return Err("control character in header");
            }
            if c == b'\r' || c == b'\n' {
                return Err("bare CR in header");
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_and_canonicalises() {
        let m = lex(b"\r\nOPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\n ;branch=z9hG4bK1\r\ni: x\r\nNew: a\r\n\tb\r\n\r\nBODY").unwrap();
        assert_eq!(m.start_line, "OPTIONS sip:a@b SIP/2.0");
        assert_eq!(m.headers[0].name, "Via");
        assert_eq!(m.headers[0].value, "SIP/2.0/UDP h ;branch=z9hG4bK1");
        assert_eq!(m.headers[1].name, "Call-ID");
        assert_eq!(m.headers[2].value, "a b");
        assert_eq!(m.rest, b"BODY");
    }

    #[test]
    fn rejects_colonless_lines_and_missing_blank_line() {
        let m = lex(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\nGarbage\r\n  more\r\nTo: y\r\n\r\n")
            .unwrap();
        assert_eq!(m.fault, Some("header line without a colon"));
        assert_eq!(m.headers.len(), 2);
        assert_eq!(m.headers[0].value, "x");
        assert!(
            lex(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n")
                .unwrap()
                .unterminated
        );
        assert_eq!(lex(b"\r\n\r\n"), Err(LexError::Empty));
    }

    #[test]
    fn compact_u_is_allow_events() {
        assert_eq!(canonical_name("u"), "Allow-Events");
        assert_eq!(canonical_name("call-id"), "Call-ID");
        assert_eq!(canonical_name("X-Custom"), "X-Custom");
    }
}
