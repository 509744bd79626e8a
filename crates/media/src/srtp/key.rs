//! A master key and salt (RFC 3711 §8.1) and their SDES `inline:` form
//! (RFC 4568 §6.1: base64 of key ‖ salt).

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use rand::Rng as _;

use super::{SrtpError, SrtpSuite};

/// Master key ‖ master salt for one suite. `Debug` never shows the bytes: keys
/// must not reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey {
    suite: SrtpSuite,
    material: Vec<u8>,
}

impl SrtpKey {
    /// A fresh key from the thread's CSPRNG (ChaCha, seeded by the OS).
    pub fn random(suite: SrtpSuite) -> SrtpKey {
        let mut material = vec![0u8; suite.key_len() + suite.salt_len()];
        rand::rng().fill(&mut material[..]);
        SrtpKey { suite, material }
    }

    /// Key ‖ salt as raw octets, checked against the suite's lengths.
    pub fn from_bytes(suite: SrtpSuite, material: &[u8]) -> Result<SrtpKey, SrtpError> {
        let want = suite.key_len() + suite.salt_len();
        if material.len() != want {
            return Err(SrtpError::BadKey {
                suite,
                reason: format!("{} octets of key and salt, {want} expected", material.len()),
            });
        }
        Ok(SrtpKey {
            suite,
            material: material.to_vec(),
        })
    }

    /// The base64 of an `inline:` key parameter (padding optional, as some
    /// peers leave it off).
    pub fn from_inline(suite: SrtpSuite, base64: &str) -> Result<SrtpKey, SrtpError> {
        let trimmed = base64.trim();
        let decoded = STANDARD
            .decode(trimmed)
            .or_else(|_| STANDARD_NO_PAD.decode(trimmed.trim_end_matches('=')))
            .map_err(|e| SrtpError::BadKey {
                suite,
                reason: format!("inline key is not base64: {e}"),
            })?;
        SrtpKey::from_bytes(suite, &decoded)
    }

    /// The base64 for our `inline:` key parameter.
    pub fn inline(&self) -> String {
        STANDARD.encode(&self.material)
    }

    /// The suite this key is for.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    pub(super) fn master_key(&self) -> &[u8] {
        &self.material[..self.suite.key_len()]
    }

    pub(super) fn master_salt(&self) -> &[u8] {
        &self.material[self.suite.key_len()..]
    }
}

impl fmt::Debug for SrtpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SrtpKey({}, <redacted>)", self.suite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_round_trips_and_lengths_are_checked() {
        for suite in SrtpSuite::ALL {
            let key = SrtpKey::random(suite);
            let text = key.inline();
            assert_eq!(SrtpKey::from_inline(suite, &text).unwrap(), key);
            let unpadded = text.trim_end_matches('=');
            assert_eq!(SrtpKey::from_inline(suite, unpadded).unwrap(), key);
        }
        // RFC 4568 §6.1's example key: 30 octets, AES_CM_128_HMAC_SHA1_80.
        let example = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
        assert!(SrtpKey::from_inline(SrtpSuite::AesCm128HmacSha1_80, example).is_ok());
        // ... which is two octets too long for GCM's 28.
        assert!(matches!(
            SrtpKey::from_inline(SrtpSuite::AeadAes128Gcm, example),
            Err(SrtpError::BadKey { .. })
        ));
        assert!(SrtpKey::from_inline(SrtpSuite::AesCm128HmacSha1_80, "not base64!").is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let key = SrtpKey::random(SrtpSuite::AesCm128HmacSha1_80);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.inline()), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn random_keys_differ() {
        let a = SrtpKey::random(SrtpSuite::AeadAes128Gcm);
        let b = SrtpKey::random(SrtpSuite::AeadAes128Gcm);
        assert_ne!(a, b);
    }
}
