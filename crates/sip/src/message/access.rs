//! Typed accessors for the headers the SIP core reads all the time.
//!
//! Values are parsed with this module's grammar code rather than rsipstack's
//! typed headers, so malformed input is an error, never a panic.

use super::grammar;
use super::lexer::canonical_name;
use super::MessageError;
use crate::rsip::{HasHeaders, Method, Uri};

/// One Via entry (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViaInfo {
    /// Transport token as written, e.g. `UDP`, `TCP`, `TLS`.
    pub transport: String,
    /// sent-by host; IPv6 without brackets.
    pub host: String,
    /// sent-by port, when given.
    pub port: Option<u16>,
    /// `branch` parameter.
    pub branch: Option<String>,
    /// `received` parameter.
    pub received: Option<String>,
    /// `rport`: `Some(None)` when present without value (RFC 3581).
    pub rport: Option<Option<u16>>,
    /// All parameters in order, names as written.
    pub params: Vec<(String, Option<String>)>,
}

/// A name-addr / addr-spec with its header parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, quotes removed.
    pub display: Option<String>,
    /// The URI text as received.
    pub uri_text: String,
    /// The URI parsed by rsipstack.
    pub uri: Uri,
    /// Header parameters (`tag`, `expires`, `lr`...), in order.
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    /// Value of a parameter by case-insensitive name; `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }
}

/// Values of every header called `name` (case-insensitive, compact-form
/// aware: `header_values(m, "i")` finds Call-ID), in wire order.
pub fn header_values<'a>(msg: &'a impl HasHeaders, name: &str) -> Vec<&'a str> {
    let wanted = canonical_name(name);
    msg.headers()
        .iter()
        .filter(|h| canonical_name(h.name()).eq_ignore_ascii_case(wanted))
        .map(|h| h.value())
        .collect()
}

/// First value of the header called `name` (see [`header_values`]).
pub fn header<'a>(msg: &'a impl HasHeaders, name: &str) -> Option<&'a str> {
    header_values(msg, name).into_iter().next()
}

fn required<'a>(msg: &'a impl HasHeaders, name: &'static str) -> Result<&'a str, MessageError> {
    header(msg, name).ok_or(MessageError::Missing(name))
}

fn malformed(header: &'static str, value: &str, reason: &'static str) -> MessageError {
    MessageError::Malformed {
        header,
        value: value.to_string(),
        reason,
    }
}

/// The Call-ID.
pub fn call_id(msg: &impl HasHeaders) -> Result<&str, MessageError> {
    let v = required(msg, "Call-ID")?;
    grammar::check_call_id(v).map_err(|r| malformed("Call-ID", v, r))?;
    Ok(v)
}

/// CSeq number and method.
pub fn cseq(msg: &impl HasHeaders) -> Result<(u32, Method), MessageError> {
    let v = required(msg, "CSeq")?;
    let (n, m) = grammar::parse_cseq(v).map_err(|r| malformed("CSeq", v, r))?;
    let method = Method::all()
        .into_iter()
        .find(|k| k.to_string() == m)
        .ok_or_else(|| malformed("CSeq", v, "unknown method"))?;
    Ok((n, method))
}

/// Every Via entry, top first, across all Via headers.
pub fn vias(msg: &impl HasHeaders) -> Result<Vec<ViaInfo>, MessageError> {
    let mut out = Vec::new();
    for v in header_values(msg, "Via") {
        let entries = grammar::split_top_level(v, b',').map_err(|r| malformed("Via", v, r))?;
        for e in entries {
            out.push(via_info(e).map_err(|r| malformed("Via", v, r))?);
        }
    }
    if out.is_empty() {
        return Err(MessageError::Missing("Via"));
    }
    Ok(out)
}

/// The topmost Via entry.
pub fn top_via(msg: &impl HasHeaders) -> Result<ViaInfo, MessageError> {
    let v = required(msg, "Via")?;
    let first = grammar::split_top_level(v, b',').map_err(|r| malformed("Via", v, r))?;
    via_info(first.first().copied().unwrap_or(v)).map_err(|r| malformed("Via", v, r))
}

fn via_info(entry: &str) -> Result<ViaInfo, &'static str> {
    let parts = grammar::parse_via(entry.trim())?;
    let sent_by: String = parts
        .sent_by
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let (host, port) = split_host_port(&sent_by)?;
    let params: Vec<(String, Option<String>)> = parts
        .params
        .iter()
        .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
        .collect();
    let find = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let rport = match find("rport") {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) => Some(Some(p.parse().map_err(|_| "malformed rport")?)),
    };
    Ok(ViaInfo {
        transport: parts.transport.to_string(),
        host,
        port,
        branch: find("branch").flatten(),
        received: find("received").flatten(),
        rport,
        params,
    })
}

/// Splits a checked `host[:port]`, removing IPv6 brackets.
fn split_host_port(hp: &str) -> Result<(String, Option<u16>), &'static str> {
    grammar::check_hostport(hp)?;
    let (host, port) = match hp.strip_prefix('[') {
        Some(inner) => {
            let (h, after) = inner.split_once(']').ok_or("unterminated IPv6 reference")?;
            (h, after.strip_prefix(':'))
        }
        None => match hp.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        },
    };
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| "port out of range"))
        .transpose()?;
    Ok((host.to_string(), port))
}

fn name_addr(header: &'static str, entry: &str) -> Result<NameAddr, MessageError> {
    let parts = grammar::parse_addr(entry).map_err(|r| malformed(header, entry, r))?;
    let uri = crate::rsip::parse_uri(parts.uri).map_err(|_| malformed(header, entry, "bad URI"))?;
    Ok(NameAddr {
        display: parts.display.map(str::to_string),
        uri_text: parts.uri.to_string(),
        uri,
        params: parts
            .params
            .iter()
            .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
            .collect(),
    })
}

/// Every entry of every header `name`, in order.
fn name_addr_list(
    msg: &impl HasHeaders,
    name: &'static str,
) -> Result<Vec<NameAddr>, MessageError> {
    let mut out = Vec::new();
    for v in header_values(msg, name) {
        if v.trim() == "*" {
            return Err(malformed(name, v, "wildcard where an address is needed"));
        }
        for e in grammar::split_top_level(v, b',').map_err(|r| malformed(name, v, r))? {
            out.push(name_addr(name, e)?);
        }
    }
    Ok(out)
}

/// The From address.
pub fn from_addr(msg: &impl HasHeaders) -> Result<NameAddr, MessageError> {
    name_addr("From", required(msg, "From")?)
}

/// The To address.
pub fn to_addr(msg: &impl HasHeaders) -> Result<NameAddr, MessageError> {
    name_addr("To", required(msg, "To")?)
}

/// The From tag, if any.
pub fn from_tag(msg: &impl HasHeaders) -> Result<Option<String>, MessageError> {
    Ok(from_addr(msg)?.tag().map(str::to_string))
}

/// The To tag, if any.
pub fn to_tag(msg: &impl HasHeaders) -> Result<Option<String>, MessageError> {
    Ok(to_addr(msg)?.tag().map(str::to_string))
}

/// Every Contact entry; empty when there is no Contact header.
pub fn contacts(msg: &impl HasHeaders) -> Result<Vec<NameAddr>, MessageError> {
    name_addr_list(msg, "Contact")
}

/// URI of the first Contact.
pub fn contact_uri(msg: &impl HasHeaders) -> Result<Uri, MessageError> {
    contacts(msg)?
        .into_iter()
        .next()
        .map(|c| c.uri)
        .ok_or(MessageError::Missing("Contact"))
}

/// Record-Route entries in wire order (RFC 3261 §12.1.1 reverses them for
/// a UAC's route set; that is the dialog layer's job).
pub fn record_route(msg: &impl HasHeaders) -> Result<Vec<NameAddr>, MessageError> {
    name_addr_list(msg, "Record-Route")
}

/// Expires header in seconds (overlarge values saturate, RFC 3261 §20.19).
pub fn expires(msg: &impl HasHeaders) -> Result<Option<u32>, MessageError> {
    header(msg, "Expires")
        .map(|v| {
            grammar::parse_saturating_u32(v).ok_or_else(|| malformed("Expires", v, "not a number"))
        })
        .transpose()
}

/// Content-Type as lowercase `type/subtype`, parameters dropped.
pub fn content_type(msg: &impl HasHeaders) -> Result<Option<String>, MessageError> {
    let Some(v) = header(msg, "Content-Type") else {
        return Ok(None);
    };
    grammar::check_media_type(v).map_err(|r| malformed("Content-Type", v, r))?;
    let mime = v.split(';').next().unwrap_or(v);
    Ok(Some(
        mime.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase(),
    ))
}
