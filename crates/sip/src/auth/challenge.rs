//! Parsing `WWW-Authenticate` / `Proxy-Authenticate` and `Authorization`
//! header values (RFC 7616 §3.3, §3.4; RFC 3261 §22.4).

use super::AuthError;
use crate::message::{header_values, HasHeaders};

/// Digest hash algorithm (RFC 7616 §3.3, RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5, the default when the challenge names none.
    Md5,
    /// MD5-sess.
    Md5Sess,
    /// SHA-256.
    Sha256,
    /// SHA-256-sess.
    Sha256Sess,
}

impl Algorithm {
    /// Parses the `algorithm` token, case-insensitively.
    pub fn parse(token: &str) -> Result<Self, AuthError> {
        match token.to_ascii_uppercase().as_str() {
            "MD5" => Ok(Self::Md5),
            "MD5-SESS" => Ok(Self::Md5Sess),
            "SHA-256" => Ok(Self::Sha256),
            "SHA-256-SESS" => Ok(Self::Sha256Sess),
            _ => Err(AuthError::UnsupportedAlgorithm(token.to_string())),
        }
    }

    /// The token as written in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    /// True for the `-sess` variants.
    pub fn is_session(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }
}

/// Which header carried the challenge, which decides the answer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeOrigin {
    /// `WWW-Authenticate` in a 401: answer with `Authorization`.
    Server,
    /// `Proxy-Authenticate` in a 407: answer with `Proxy-Authorization`.
    Proxy,
}

impl ChallengeOrigin {
    /// Name of the header that answers this challenge.
    pub fn answer_header(self) -> &'static str {
        match self {
            Self::Server => "Authorization",
            Self::Proxy => "Proxy-Authorization",
        }
    }
}

/// A parsed Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque value to echo back.
    pub opaque: Option<String>,
    /// Hash algorithm.
    pub algorithm: Algorithm,
    /// Offered qop values (`auth`, `auth-int`), lowercased; empty means the
    /// RFC 2069 form.
    pub qop: Vec<String>,
    /// The previous nonce was stale: retry with the same credentials.
    pub stale: bool,
}

impl Challenge {
    /// Parses a `Digest ...` challenge header value.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let params = digest_params(value)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let algorithm = match get("algorithm") {
            Some(a) => Algorithm::parse(&a)?,
            None => Algorithm::Md5,
        };
        let qop = get("qop")
            .map(|q| {
                q.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            realm: get("realm").ok_or(AuthError::MissingParam("realm"))?,
            nonce: get("nonce").ok_or(AuthError::MissingParam("nonce"))?,
            opaque: get("opaque"),
            algorithm,
            qop,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// Every Digest challenge in a 401/407, with its origin; challenges in
    /// other schemes or with unsupported algorithms are skipped, since RFC
    /// 7616 §3.7 lets the client pick the one it supports.
    pub fn from_response(msg: &impl HasHeaders) -> Vec<(ChallengeOrigin, Challenge)> {
        let sources = [
            ("WWW-Authenticate", ChallengeOrigin::Server),
            ("Proxy-Authenticate", ChallengeOrigin::Proxy),
        ];
        let mut out = Vec::new();
        for (name, origin) in sources {
            for v in header_values(msg, name) {
                match Self::parse(v) {
                    Ok(c) => out.push((origin, c)),
                    Err(e) => tracing::debug!(error = %e, "skipping challenge"),
                }
            }
        }
        out
    }
}

/// Splits `Digest k=v, k="v"` into unquoted pairs.
pub(crate) fn digest_params(value: &str) -> Result<Vec<(String, String)>, AuthError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(AuthError::NotDigest(scheme.to_string()));
    }
    let parts = crate::message::grammar::split_top_level(rest, b',')
        .map_err(|r| AuthError::Malformed(r.to_string()))?;
    let mut out = Vec::new();
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let (name, raw) = part
            .split_once('=')
            .ok_or_else(|| AuthError::Malformed(format!("parameter without value: {part}")))?;
        out.push((name.trim().to_string(), unquote(raw.trim())?));
    }
    Ok(out)
}

/// Removes quotes and quoted-pair escapes.
fn unquote(raw: &str) -> Result<String, AuthError> {
    let Some(inner) = raw.strip_prefix('"') else {
        return Ok(raw.to_string());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or_else(|| AuthError::Malformed(format!("unbalanced quotes: {raw}")))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    Ok(out)
}
