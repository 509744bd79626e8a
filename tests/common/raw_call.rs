//! A caller on raw sockets, for tests that must send RTP no installed peer
//! sends (comfort noise, a stream injected from a second port): one INVITE
//! offering the caller's own SDP to `agentphone answer`, the ACK, the BYE,
//! and PCMU packets built by hand. Every wait is bounded.

use agentphone_media::codec::g711::linear_to_ulaw;
use agentphone_media::rtp_stream::{write_rtp, RtpHeader};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// How long a SIP transaction may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// One call set up from a raw SIP socket.
pub struct RawCall {
    sip: UdpSocket,
    listen: String,
    me: SocketAddr,
    call_id: String,
    to_tag: String,
    /// The 200 OK's text.
    pub answer: String,
    /// Where the answerer takes RTP (its `m=audio` port on loopback).
    pub media: SocketAddr,
}

impl RawCall {
    /// INVITEs `sip:bob@listen` offering PCMU (payload types `formats`, with
    /// the `rtpmaps` lines) on `rtp_port`, and ACKs the 200 OK. A final
    /// response other than 200 is the error.
    pub fn invite(
        listen: &str,
        call_id: &str,
        rtp_port: u16,
        formats: &str,
        rtpmaps: &str,
    ) -> Result<Self, String> {
        let sip = UdpSocket::bind("127.0.0.1:0").expect("SIP socket");
        sip.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let me = sip.local_addr().expect("address");
        let mut call = Self {
            sip,
            listen: listen.to_string(),
            me,
            call_id: format!("{call_id}@{me}"),
            to_tag: String::new(),
            answer: String::new(),
            media: me,
        };
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP {formats}\r\n{rtpmaps}a=ptime:20\r\na=sendrecv\r\n"
        );
        let invite = format!(
            "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            call.request("INVITE", 1, "inv1"),
            sdp.len()
        );
        let ok = call.transact(&invite);
        if !ok.starts_with("SIP/2.0 200") {
            return Err(format!("INVITE answered: {ok}"));
        }
        let to = header(&ok, "To");
        call.to_tag = to
            .find(";tag=")
            .map(|i| to[i..].to_string())
            .expect("To tag");
        let port: u16 = ok
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .expect("the answer's m=audio port");
        call.media = SocketAddr::from(([127, 0, 0, 1], port));
        call.answer = ok;
        let ack = format!(
            "{}Content-Length: 0\r\n\r\n",
            call.request("ACK", 1, "ack1")
        );
        call.sip.send_to(ack.as_bytes(), &call.listen).expect("ACK");
        Ok(call)
    }

    /// The answer's `m=audio` line.
    pub fn answer_mline(&self) -> &str {
        self.answer
            .lines()
            .find(|l| l.starts_with("m=audio "))
            .expect("the answer's m=audio")
    }

    /// Hangs up; panics unless the BYE is answered with 200.
    pub fn bye(&self) {
        let bye = format!(
            "{}Content-Length: 0\r\n\r\n",
            self.request("BYE", 2, "bye1")
        );
        let ok = self.transact(&bye);
        assert!(ok.starts_with("SIP/2.0 200"), "BYE answered: {ok}");
    }

    fn request(&self, method: &str, cseq: u32, branch: &str) -> String {
        let (listen, me) = (&self.listen, self.me);
        format!(
            "{method} sip:bob@{listen} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@{me}>;tag=raw1\r\nTo: <sip:bob@{listen}>{}\r\n\
             Call-ID: {}\r\nCSeq: {cseq} {method}\r\nContact: <sip:alice@{me}>\r\n",
            self.to_tag, self.call_id
        )
    }

    /// Sends a request and reads responses until a final one.
    fn transact(&self, request: &str) -> String {
        self.sip
            .send_to(request.as_bytes(), &self.listen)
            .expect("send a request");
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let Ok((n, _)) = self.sip.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("SIP/2.0 ") && !text.starts_with("SIP/2.0 1") {
                return text;
            }
        }
        panic!("no final response within {WAIT:?} to:\n{request}");
    }
}

fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in:\n{msg}"))
}

/// 20 ms of a −10 dBFS `hz` tone in PCMU, packet time `n` of its stream.
pub fn pcmu_tone(n: u32, hz: f64) -> Vec<u8> {
    let amplitude = 32_767.0 * 10f64.powf(-10.0 / 20.0);
    (0..160)
        .map(|i| {
            let t = f64::from(n * 160 + i) / 8000.0;
            linear_to_ulaw((amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16)
        })
        .collect()
}

/// An RTP packet.
pub fn rtp(header: RtpHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 12 + payload.len()];
    let len = write_rtp(&mut out, &header, payload).expect("RTP packet");
    out.truncate(len);
    out
}

/// A numeric `key=value` field of the `media stopped` line in `log`.
pub fn report_field(log: &str, key: &str) -> u64 {
    super::agentphone::media_stopped(log)
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{key}=")[..]))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in the media report:\n{log}"))
}
