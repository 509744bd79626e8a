//! Computing and verifying Digest responses (RFC 7616 §3.4.1, RFC 2617
//! §3.2.2, RFC 2069 when no qop is offered).

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::challenge::{digest_params, Algorithm, Challenge};
use super::AuthError;

/// Who is answering and for which request.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    /// User name.
    pub username: &'a str,
    /// Password.
    pub password: &'a str,
    /// Request method, e.g. `REGISTER`.
    pub method: &'a str,
    /// digest-uri: the Request-URI as sent.
    pub uri: &'a str,
    /// Client nonce, chosen by the caller (no RNG here, for determinism).
    pub cnonce: &'a str,
    /// Nonce count: how many requests this nonce has been used for, from 1.
    pub nc: u32,
    /// Request body, only needed when the server offers only `auth-int`.
    pub body: &'a [u8],
}

fn hex_hash(alg: Algorithm, data: &str) -> String {
    let bytes: Vec<u8> = match alg {
        Algorithm::Md5 | Algorithm::Md5Sess => Md5::digest(data.as_bytes()).to_vec(),
        Algorithm::Sha256 | Algorithm::Sha256Sess => Sha256::digest(data.as_bytes()).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_hash_bytes(alg: Algorithm, data: &[u8]) -> String {
    let bytes: Vec<u8> = match alg {
        Algorithm::Md5 | Algorithm::Md5Sess => Md5::digest(data).to_vec(),
        Algorithm::Sha256 | Algorithm::Sha256Sess => Sha256::digest(data).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The qop this client uses for a challenge: `auth` when offered, else
/// `auth-int`, else none (RFC 2069 compatibility).
fn choose_qop(c: &Challenge) -> Result<Option<&'static str>, AuthError> {
    if c.qop.is_empty() {
        return Ok(None);
    }
    if c.qop.iter().any(|q| q == "auth") {
        return Ok(Some("auth"));
    }
    if c.qop.iter().any(|q| q == "auth-int") {
        return Ok(Some("auth-int"));
    }
    Err(AuthError::UnsupportedQop(c.qop.join(",")))
}

/// The `response` value (request-digest).
fn request_digest(
    c: &Challenge,
    input: &DigestInput<'_>,
    qop: Option<&str>,
) -> Result<String, AuthError> {
    let alg = c.algorithm;
    let mut ha1 = hex_hash(
        alg,
        &format!("{}:{}:{}", input.username, c.realm, input.password),
    );
    if alg.is_session() {
        ha1 = hex_hash(alg, &format!("{ha1}:{}:{}", c.nonce, input.cnonce));
    }
    let ha2 = match qop {
        Some("auth-int") => {
            let body = hex_hash_bytes(alg, input.body);
            hex_hash(alg, &format!("{}:{}:{body}", input.method, input.uri))
        }
        _ => hex_hash(alg, &format!("{}:{}", input.method, input.uri)),
    };
    Ok(match qop {
        Some(q) => hex_hash(
            alg,
            &format!(
                "{ha1}:{}:{:08x}:{}:{q}:{ha2}",
                c.nonce, input.nc, input.cnonce
            ),
        ),
        None if alg.is_session() => return Err(AuthError::SessionWithoutQop),
        None => hex_hash(alg, &format!("{ha1}:{}:{ha2}", c.nonce)),
    })
}

/// Quotes a value for a header parameter.
fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The `Authorization` / `Proxy-Authorization` header value answering `c`.
pub fn authorization(c: &Challenge, input: &DigestInput<'_>) -> Result<String, AuthError> {
    if input.nc == 0 {
        return Err(AuthError::Malformed("nonce count starts at 1".into()));
    }
    let qop = choose_qop(c)?;
    let response = request_digest(c, input, qop)?;
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response=\"{response}\", algorithm={}",
        quoted(input.username),
        quoted(&c.realm),
        quoted(&c.nonce),
        quoted(input.uri),
        c.algorithm.as_str()
    );
    if let Some(q) = qop {
        out.push_str(&format!(
            ", cnonce={}, qop={q}, nc={:08x}",
            quoted(input.cnonce),
            input.nc
        ));
    }
    if let Some(o) = &c.opaque {
        out.push_str(&format!(", opaque={}", quoted(o)));
    }
    Ok(out)
}

/// Server side: checks an Authorization value against the password, for the
/// challenge `c` that was issued. Used in tests and by a registrar double.
pub fn verify(
    c: &Challenge,
    authorization_value: &str,
    method: &str,
    password: &str,
    body: &[u8],
) -> Result<bool, AuthError> {
    let params = digest_params(authorization_value)?;
    let get = |name: &'static str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .ok_or(AuthError::MissingParam(name))
    };
    if get("realm")? != c.realm || get("nonce")? != c.nonce {
        return Ok(false);
    }
    let qop = get("qop").ok();
    let (cnonce, nc) = match qop {
        Some(_) => (
            get("cnonce")?,
            u32::from_str_radix(get("nc")?, 16)
                .map_err(|_| AuthError::Malformed("nc is not hex".into()))?,
        ),
        None => ("", 1),
    };
    let input = DigestInput {
        username: get("username")?,
        password,
        method,
        uri: get("uri")?,
        cnonce,
        nc,
        body,
    };
    let qop = match qop {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => Some("auth"),
        Some(q) if q.eq_ignore_ascii_case("auth-int") => Some("auth-int"),
        Some(q) => return Err(AuthError::UnsupportedQop(q.to_string())),
    };
    let expected = request_digest(c, &input, qop)?;
    Ok(expected.eq_ignore_ascii_case(get("response")?))
}
