//! Where a request really came from (RFC 3261 §18.2.1, RFC 3581 §4) and where
//! its responses go (§18.2.2). The transport layer knows the source address;
//! the top Via says what the client believes it is. A server notes the
//! difference in that Via (`received`, and `rport` filled in when the client
//! asked for it) so every response tells the client its address as seen from
//! here, and sends responses over UDP to the sent-by port unless the client
//! asked for symmetric response routing with `rport`.

use super::access::top_via;
use super::grammar;
use super::MessageError;
use crate::rsip::{Header, Request};
use std::net::{IpAddr, SocketAddr};

/// Port of a sent-by without one (RFC 3261 §18.2.2, UDP and TCP).
const DEFAULT_PORT: u16 = 5060;

/// Stamps the top Via of `req`, which arrived from `src`: `received=IP` when the
/// sent-by host is not `src`'s address (a name, or another address behind a
/// NAT), `rport=PORT` when the client sent a bare `rport`. Returns where UDP
/// responses go: `src` itself when the client asked for `rport`, else `src`'s
/// address with the sent-by port (5060 when none is written).
pub fn stamp_top_via(req: &mut Request, src: SocketAddr) -> Result<SocketAddr, MessageError> {
    let top = top_via(req)?;
    let reply = match top.rport {
        Some(_) => src,
        None => SocketAddr::new(src.ip(), top.port.unwrap_or(DEFAULT_PORT)),
    };
    let needs_received = top.host.parse::<IpAddr>().ok() != Some(src.ip());
    let needs_rport = top.rport == Some(None);
    if !needs_received && !needs_rport {
        return Ok(reply);
    }
    let Some(header) = req.headers.iter_mut().find(|h| matches!(h, Header::Via(_))) else {
        return Err(MessageError::Missing("Via"));
    };
    let value = header.value().to_string();
    let malformed = |reason| MessageError::Malformed {
        header: "Via",
        value: value.clone(),
        reason,
    };
    let entries = grammar::split_top_level(&value, b',').map_err(malformed)?;
    let first = entries.first().copied().unwrap_or(value.as_str());
    // `first` borrows `value`: its end is where the other entries begin.
    let end = first.as_ptr() as usize - value.as_ptr() as usize + first.len();
    let (sent_by, _) = first.split_once(';').unwrap_or((first, ""));
    let mut stamped = sent_by.trim_end().to_string();
    for (name, v) in &top.params {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        match v {
            _ if is("received") && needs_received => {}
            None if is("rport") => stamped.push_str(&format!(";rport={}", src.port())),
            None => stamped.push_str(&format!(";{name}")),
            Some(v) => stamped.push_str(&format!(";{name}={v}")),
        }
    }
    if needs_received {
        // RFC 3261 §25: received holds a bare address, IPv6 without brackets.
        stamped.push_str(&format!(";received={}", src.ip()));
    }
    stamped.push_str(&value[end..]);
    *header = Header::Via(stamped.into());
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse_datagram, top_via, vias, SipMessage};

    fn request(via: &str) -> Request {
        let text = format!(
            "OPTIONS sip:bob@192.0.2.1 SIP/2.0\r\nVia: {via}\r\n\
             From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
             Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        match parse_datagram(text.as_bytes()) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bare_rport_is_filled_and_responses_go_to_the_source() {
        let mut req = request("SIP/2.0/UDP 192.0.2.7:5080;rport;branch=z9hG4bKa");
        let reply = stamp_top_via(&mut req, addr("192.0.2.7:40000")).unwrap();
        assert_eq!(reply, addr("192.0.2.7:40000"));
        let top = top_via(&req).unwrap();
        assert_eq!(top.rport, Some(Some(40000)));
        assert_eq!(top.received, None);
        assert_eq!(top.branch.as_deref(), Some("z9hG4bKa"));
    }

    #[test]
    fn without_rport_responses_go_to_the_sent_by_port_and_received_is_noted() {
        // RFC 3261 §18.2.2: the source address, the port from sent-by.
        let mut req = request("SIP/2.0/UDP client.example.com:5070;branch=z9hG4bKb");
        let reply = stamp_top_via(&mut req, addr("198.51.100.4:33333")).unwrap();
        assert_eq!(reply, addr("198.51.100.4:5070"));
        let top = top_via(&req).unwrap();
        assert_eq!(top.received.as_deref(), Some("198.51.100.4"));
        assert_eq!(top.rport, None);
        let mut req = request("SIP/2.0/UDP 10.0.0.8;branch=z9hG4bKc");
        let reply = stamp_top_via(&mut req, addr("203.0.113.9:1024")).unwrap();
        assert_eq!(reply, addr("203.0.113.9:5060"));
        assert_eq!(
            top_via(&req).unwrap().received.as_deref(),
            Some("203.0.113.9")
        );
    }

    #[test]
    fn only_the_top_entry_changes_and_a_matching_via_is_left_alone() {
        let via = "SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKd;received=192.0.2.1;rport, \
                   SIP/2.0/UDP 192.0.2.7:5080;branch=z9hG4bKe;rport";
        let mut req = request(via);
        let reply = stamp_top_via(&mut req, addr("[2001:db8::99]:5062")).unwrap();
        assert_eq!(reply, addr("[2001:db8::99]:5062"));
        let all = vias(&req).unwrap();
        assert_eq!(all[0].received.as_deref(), Some("2001:db8::99"));
        assert_eq!(all[0].rport, Some(Some(5062)));
        assert_eq!(all[1].rport, Some(None), "a lower Via is not ours to touch");
        let untouched = "SIP/2.0/UDP 192.0.2.7:5080;branch=z9hG4bKf";
        let mut req = request(untouched);
        stamp_top_via(&mut req, addr("192.0.2.7:5080")).unwrap();
        assert_eq!(crate::message::header(&req, "Via"), Some(untouched));
    }
}
