//! A minimal REGISTER-with-digest client over UDP, independent of agentphone's SIP
//! stack, to check the Kamailio fixture for both MD5 and SHA-256 (SIPp 3.6 only
//! does MD5). Hashes come from coreutils `md5sum` / `sha256sum`, so the check shares
//! no digest code with the code under test.

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::kamailio::Algorithm;

/// Status codes of the two REGISTERs: the unauthenticated one and the one with
/// credentials.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Response to the first REGISTER (a challenge: 401).
    pub challenge: u16,
    /// Response to the REGISTER with credentials.
    pub answer: u16,
    /// The `algorithm` of the challenge.
    pub algorithm: String,
}

/// Registers `user@domain` at 127.0.0.1:`port` with `password` for 60 s.
pub fn register(port: u16, user: &str, domain: &str, password: &str, alg: Algorithm) -> Outcome {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on loopback");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("set a read timeout");
    let local = socket.local_addr().expect("local address");
    let send = |cseq: u32, authorization: &str| -> String {
        let request = format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-raw{cseq}-{};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{domain}>;tag=raw{port}\r\n\
             To: <sip:{user}@{domain}>\r\n\
             Call-ID: raw-{port}-{}@127.0.0.1\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{local}>\r\n\
             {authorization}Expires: 60\r\n\
             Content-Length: 0\r\n\r\n",
            std::process::id(),
            std::process::id()
        );
        socket
            .send_to(request.as_bytes(), ("127.0.0.1", port))
            .expect("send REGISTER");
        let mut buf = [0u8; 4096];
        let n = socket
            .recv(&mut buf)
            .expect("a response to REGISTER within 2 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = send(1, "");
    let nonce = param(&first, "nonce").unwrap_or_default();
    let realm = param(&first, "realm").unwrap_or_default();
    let uri = format!("sip:{domain}");
    let ha1 = hash(alg, &format!("{user}:{realm}:{password}"));
    let ha2 = hash(alg, &format!("REGISTER:{uri}"));
    let (nc, cnonce) = ("00000001", "0a4f113b");
    let response = hash(alg, &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    let authorization = format!(
        "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm={}, qop=auth, nc={nc}, \
         cnonce=\"{cnonce}\"\r\n",
        alg.name()
    );
    let second = send(2, &authorization);
    Outcome {
        challenge: status(&first),
        answer: status(&second),
        algorithm: param(&first, "algorithm").unwrap_or_default(),
    }
}

fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// A `name="value"` or `name=token` parameter of the WWW-Authenticate header.
fn param(response: &str, name: &str) -> Option<String> {
    let header = response
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))?;
    let start = header.find(&format!("{name}="))? + name.len() + 1;
    let value = &header[start..];
    let value = match value.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => value.split([',', ' ']).next()?,
    };
    Some(value.to_string())
}

/// Lower-case hex digest of `input` from coreutils.
fn hash(alg: Algorithm, input: &str) -> String {
    let program = match alg {
        Algorithm::Md5 => "md5sum",
        Algorithm::Sha256 => "sha256sum",
    };
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .unwrap_or_else(|e| panic!("write to {program}: {e}"));
    let out = child.wait_with_output().expect("hash output");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
