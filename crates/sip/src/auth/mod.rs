//! HTTP Digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760).
//!
//! Parse a challenge from a 401/407 with [`Challenge::parse`] or
//! [`Challenge::from_response`], then build the answer header value with
//! [`authorization`]. The caller supplies the cnonce and nonce count, so the
//! output is deterministic and testable.

mod challenge;
mod digest;

pub use challenge::{Algorithm, Challenge, ChallengeOrigin};
pub use digest::{authorization, verify, DigestInput};

/// Why a challenge could not be parsed or answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header uses a scheme other than Digest.
    #[error("authentication scheme {0:?} is not Digest")]
    NotDigest(String),
    /// The algorithm is not MD5, MD5-sess, SHA-256 or SHA-256-sess.
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The server offers only qop values other than auth / auth-int.
    #[error("unsupported qop {0:?}")]
    UnsupportedQop(String),
    /// A required parameter is absent.
    #[error("digest parameter {0} missing")]
    MissingParam(&'static str),
    /// A -sess algorithm needs a cnonce, which only exists with qop.
    #[error("session algorithm offered without qop")]
    SessionWithoutQop,
    /// The header value is not well-formed.
    #[error("malformed digest header: {0}")]
    Malformed(String),
}

#[cfg(test)]
mod tests;
