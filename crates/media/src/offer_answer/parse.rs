//! Reading a peer's SDP into the few facts offer/answer needs.
//!
//! The `sdp` crate follows RFC 4566's line order to the letter. Real peers do not
//! always: some put session `a=` lines before `c=`/`t=`, omit `t=`, add private line
//! types, or offer transports the crate does not know (`TCP/MSRP`). A call must not be
//! refused for that, so a text the crate rejects is normalised (reordered, missing
//! mandatory lines filled in, unknown lines dropped) and parsed again.

use std::io::Cursor;
use std::net::IpAddr;

use ::sdp::description::session::SessionDescription;

use super::{Direction, OfferAnswerError};

/// A peer's session description, reduced to what offer/answer uses.
#[derive(Debug, Clone)]
pub(crate) struct RemoteSdp {
    /// Session-level `c=` address text, if any.
    pub session_addr: Option<String>,
    /// Session-level direction attribute, if any.
    pub session_direction: Option<Direction>,
    /// Every m-line, in order.
    pub media: Vec<RemoteMedia>,
}

/// One m-line of a peer's SDP.
#[derive(Debug, Clone)]
pub(crate) struct RemoteMedia {
    /// Media type as written (`audio`, `video`, `message` ...).
    pub media: String,
    /// Port; 0 means the stream is disabled.
    pub port: u16,
    /// Transport protocol as written (`RTP/AVP` ...).
    pub proto: String,
    /// Format list as written.
    pub formats: Vec<String>,
    /// Media-level `c=` address text, if any.
    pub addr: Option<String>,
    /// Attributes as (key, value).
    pub attributes: Vec<(String, Option<String>)>,
}

impl RemoteMedia {
    /// Value of the first attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.as_deref())
    }

    /// All values of attributes named `key`.
    pub fn attributes_named<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .filter_map(|(_, v)| v.as_deref())
    }

    /// The media-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        self.attributes
            .iter()
            .rev()
            .find_map(|(k, v)| v.is_none().then(|| Direction::from_attribute(k)).flatten())
    }

    /// True for an RTP audio stream we could carry: RTP/AVP(F), or
    /// RTP/SAVP(F) keyed by SDES (not DTLS: `UDP/TLS/RTP/SAVPF`).
    pub fn is_rtp_audio(&self) -> bool {
        self.media.eq_ignore_ascii_case("audio")
            && ["RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF"]
                .iter()
                .any(|p| self.proto.eq_ignore_ascii_case(p))
    }

    /// True for RTP/SAVP(F): the stream must be SRTP.
    pub fn is_savp(&self) -> bool {
        self.proto.to_ascii_uppercase().starts_with("RTP/SAVP")
    }
}

/// Largest SDP body we look at; SIP over UDP cannot carry much more anyway.
const MAX_SDP_LEN: usize = 64 * 1024;

/// Parses SDP text, normalising it when the strict parser refuses it.
pub(crate) fn parse(text: &str) -> Result<RemoteSdp, OfferAnswerError> {
    if text.len() > MAX_SDP_LEN {
        return Err(OfferAnswerError::Malformed(format!(
            "SDP of {} bytes is larger than {MAX_SDP_LEN}",
            text.len()
        )));
    }
    let raw_mlines = raw_media_lines(text);
    let desc = match unmarshal(text) {
        Ok(desc) => desc,
        Err(strict) => {
            let normalised = normalise(text);
            unmarshal(&normalised).map_err(|lenient| {
                tracing::debug!(%strict, %lenient, "SDP refused even after normalising");
                OfferAnswerError::Malformed(lenient.to_string())
            })?
        }
    };
    convert(desc, &raw_mlines)
}

fn unmarshal(text: &str) -> Result<SessionDescription, ::sdp::Error> {
    SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
}

/// The m-lines as the peer wrote them: the normaliser may have replaced ones the crate
/// does not know, and a rejected m-line must be echoed unchanged (RFC 3264 §6).
fn raw_media_lines(text: &str) -> Vec<(String, String, Vec<String>)> {
    text.lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("m="))
        .map(|v| {
            let mut f = v.split_whitespace();
            let media = f.next().unwrap_or_default().to_owned();
            let _port = f.next();
            let proto = f.next().unwrap_or_default().to_owned();
            (media, proto, f.map(str::to_owned).collect())
        })
        .collect()
}

/// Rank of a session-level line type in RFC 4566 §5 order; `None` for unknown types.
fn session_rank(kind: u8) -> Option<u8> {
    let order = b"vosiuepcbtrzka";
    let rank = order.iter().position(|&k| k == kind)? as u8;
    // `r=` belongs to the `t=` before it: give it the same rank so the stable sort keeps it there.
    Some(if kind == b'r' { rank - 1 } else { rank })
}

/// Rewrites SDP into the strict order the `sdp` crate accepts.
fn normalise(text: &str) -> String {
    let mut session: Vec<(u8, String)> = Vec::new();
    let mut media: Vec<Vec<String>> = Vec::new();
    for line in text.lines().map(str::trim) {
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
            continue;
        }
        let kind = bytes[0];
        if kind == b'm' {
            media.push(vec![sanitise_mline(line)]);
        } else if let Some(section) = media.last_mut() {
            if b"icbka".contains(&kind) {
                section.push(line.to_owned());
            }
        } else if let Some(rank) = session_rank(kind) {
            let line = if kind == b'o' {
                sanitise_origin(line)
            } else {
                line.to_owned()
            };
            session.push((rank, line));
        }
    }
    for (kind, default) in [(b'v', "v=0"), (b'o', "o=- 0 0 IN IP4 0.0.0.0")] {
        if !session.iter().any(|(_, l)| l.as_bytes()[0] == kind) {
            session.push((session_rank(kind).unwrap_or(0), default.to_owned()));
        }
    }
    for (kind, default) in [(b's', "s=-"), (b't', "t=0 0")] {
        if !session.iter().any(|(_, l)| l.as_bytes()[0] == kind) {
            session.push((session_rank(kind).unwrap_or(0), default.to_owned()));
        }
    }
    session.sort_by_key(|(rank, _)| *rank);
    // Only one of each single-valued line survives: the sdp crate refuses repeats.
    let mut seen = Vec::new();
    session.retain(|(_, l)| {
        let k = l.as_bytes()[0];
        if b"vosiuepcz".contains(&k) {
            if seen.contains(&k) {
                return false;
            }
            seen.push(k);
        }
        true
    });
    let mut out = String::with_capacity(text.len() + 32);
    for line in session.iter().map(|(_, l)| l).chain(media.iter().flatten()) {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// Keeps an m-line the crate understands; replaces others with a disabled placeholder
/// (the original text is kept separately for the answer).
fn sanitise_mline(line: &str) -> String {
    const MEDIA: [&str; 6] = ["audio", "video", "text", "application", "message", "image"];
    const PROTOS: [&str; 10] = [
        "UDP", "RTP", "AVP", "SAVP", "SAVPF", "TLS", "DTLS", "SCTP", "AVPF", "udptl",
    ];
    let fields: Vec<&str> = line[2..].split_whitespace().collect();
    let known = fields.len() >= 4
        && MEDIA.contains(&fields[0])
        && fields[1].split('/').all(|p| p.parse::<u16>().is_ok())
        && fields[2].split('/').all(|p| PROTOS.contains(&p));
    if known {
        line.to_owned()
    } else {
        "m=application 0 UDP 0".to_owned()
    }
}

/// Session ids beyond u64 or non-numeric ones occur in the wild; they only matter to
/// their owner, so the normaliser replaces what the crate cannot store.
fn sanitise_origin(line: &str) -> String {
    let f: Vec<&str> = line[2..].split_whitespace().collect();
    if f.len() != 6 {
        return "o=- 0 0 IN IP4 0.0.0.0".to_owned();
    }
    let num = |s: &str| s.parse::<u64>().unwrap_or(0);
    let addr_type = if f[4].eq_ignore_ascii_case("IP6") {
        "IP6"
    } else {
        "IP4"
    };
    format!(
        "o={} {} {} IN {addr_type} {}",
        f[0],
        num(f[1]),
        num(f[2]),
        f[5]
    )
}

type RawMLine = (String, String, Vec<String>);

fn convert(desc: SessionDescription, raw: &[RawMLine]) -> Result<RemoteSdp, OfferAnswerError> {
    let session_direction = desc.attributes.iter().rev().find_map(|a| {
        a.value
            .is_none()
            .then(|| Direction::from_attribute(&a.key))
            .flatten()
    });
    let session_addr = desc
        .connection_information
        .as_ref()
        .and_then(|c| c.address.as_ref())
        .map(|a| a.address.clone());
    let mut media = Vec::with_capacity(desc.media_descriptions.len());
    for (i, md) in desc.media_descriptions.into_iter().enumerate() {
        let port = u16::try_from(md.media_name.port.value)
            .map_err(|_| OfferAnswerError::Malformed("m-line port out of range".into()))?;
        let (name, proto, formats) = match raw.get(i) {
            Some((m, p, f)) => (m.clone(), p.clone(), f.clone()),
            None => (
                md.media_name.media.clone(),
                md.media_name.protos.join("/"),
                md.media_name.formats.clone(),
            ),
        };
        media.push(RemoteMedia {
            media: name,
            port,
            proto,
            formats,
            addr: md
                .connection_information
                .and_then(|c| c.address)
                .map(|a| a.address),
            attributes: md
                .attributes
                .into_iter()
                .map(|a| (a.key, a.value))
                .collect(),
        });
    }
    Ok(RemoteSdp {
        session_addr,
        session_direction,
        media,
    })
}

/// Parses a `c=` address (strips a multicast `/ttl` suffix).
pub(crate) fn parse_addr(text: &str) -> Result<IpAddr, OfferAnswerError> {
    let host = text.split('/').next().unwrap_or(text);
    host.parse()
        .map_err(|_| OfferAnswerError::BadAddress(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_order_parses_directly() {
        let s = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                 m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";
        let r = parse(s).expect("parses");
        assert_eq!(r.media.len(), 1);
        assert_eq!(r.media[0].port, 4000);
        assert_eq!(r.media[0].direction(), Some(Direction::SendOnly));
        assert_eq!(r.session_addr.as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn out_of_order_and_missing_lines_are_normalised() {
        // Session attribute before c=, no t=, a private line type and LF endings.
        let s = "v=0\no=- 1 2 IN IP4 192.0.2.1\ns=x\na=sendrecv\nc=IN IP4 192.0.2.1\n\
                 y=private\nm=audio 4000 RTP/AVP 8\n";
        let r = parse(s).expect("lenient parse");
        assert_eq!(r.session_direction, Some(Direction::SendRecv));
        assert_eq!(r.media[0].formats, vec!["8".to_owned()]);
    }

    #[test]
    fn unknown_transport_keeps_its_text_for_the_answer() {
        let s = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                 m=audio 4000 RTP/AVP 0\r\nm=message 7394 TCP/MSRP *\r\n";
        let r = parse(s).expect("lenient parse");
        assert_eq!(r.media.len(), 2);
        assert_eq!(r.media[1].media, "message");
        assert_eq!(r.media[1].proto, "TCP/MSRP");
        assert_eq!(r.media[1].formats, vec!["*".to_owned()]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        // A panic inside the parser fails this test; the results themselves vary.
        for s in [
            "",
            "hello",
            "v=1\r\n",
            "m=audio x RTP/AVP\r\n",
            "\u{0}=\u{0}",
            "o=\r\nm=",
        ] {
            let _ = parse(s);
        }
        // An m-line with an impossible port is kept (for the echo) but disabled.
        let r = parse("v=0\r\nm=audio 70000 RTP/AVP 0\r\n").expect("lenient parse");
        assert_eq!((r.media[0].media.as_str(), r.media[0].port), ("audio", 0));
    }
}
