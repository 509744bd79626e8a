//! SDES `a=crypto` (RFC 4568): reading a peer's lines, writing ours, and
//! picking the line an answer takes.
//!
//! `a=crypto:<tag> <suite> inline:<base64 key‖salt>[|<lifetime>][|<MKI>:<len>] [<session params>]`
//!
//! We take one key per line, no MKI (the transform has none) and no session
//! parameter that changes the transform (UNENCRYPTED_SRTP, KDR≠0, FEC_ORDER
//! ...); such a line is skipped, as RFC 4568 §7.1.2 lets an answerer do, and
//! the next one is tried.

use std::fmt::Write as _;

use crate::srtp::{SrtpKey, SrtpSuite};

/// One `a=crypto` line we can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    /// The line's tag, echoed in the answer.
    pub tag: u32,
    /// Its suite.
    pub suite: SrtpSuite,
    /// Its master key and salt.
    pub key: SrtpKey,
}

/// Why a line cannot be used (it is skipped, not an error of the whole SDP).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoSkip {
    /// Not `<tag> <suite> <key-params>`.
    #[error("malformed a=crypto: {0}")]
    Malformed(String),
    /// A suite we do not speak (AES_256_CM ..., F8, NULL).
    #[error("crypto suite {0} not supported")]
    UnknownSuite(String),
    /// Not `inline:`, several keys, an MKI, or a bad key.
    #[error("key parameter not usable: {0}")]
    Key(String),
    /// A session parameter that changes the transform.
    #[error("session parameter {0} not supported")]
    SessionParam(String),
}

/// Parses the value of an `a=crypto` attribute (after `crypto:`).
pub fn parse_crypto(value: &str) -> Result<CryptoAttribute, CryptoSkip> {
    let mut fields = value.split_whitespace();
    let (Some(tag), Some(suite), Some(key_params)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(CryptoSkip::Malformed(value.chars().take(80).collect()));
    };
    // RFC 4568 §9.1: tag = 1*9DIGIT.
    let tag: u32 = (tag.len() <= 9 && tag.bytes().all(|b| b.is_ascii_digit()))
        .then(|| tag.parse().ok())
        .flatten()
        .ok_or_else(|| CryptoSkip::Malformed(format!("tag {tag:?}")))?;
    let suite =
        SrtpSuite::from_sdes_name(suite).ok_or_else(|| CryptoSkip::UnknownSuite(suite.into()))?;
    for param in fields {
        session_param_ok(param)?;
    }
    if key_params.contains(';') {
        return Err(CryptoSkip::Key("several keys (needs MKI)".into()));
    }
    let info = key_params
        .strip_prefix("inline:")
        .ok_or_else(|| CryptoSkip::Key("not an inline: key".into()))?;
    let mut parts = info.split('|');
    let base64 = parts.next().unwrap_or_default();
    for extra in parts {
        // Lifetime (`2^31` or decimal) is only a bound on packets, far beyond a
        // call; an MKI (`1:4`) would prefix every packet, which we cannot do.
        if extra.contains(':') {
            return Err(CryptoSkip::Key(format!("MKI {extra}")));
        }
        let lifetime_ok = match extra.strip_prefix("2^") {
            Some(exp) => exp.parse::<u32>().is_ok(),
            None => extra.parse::<u64>().is_ok(),
        };
        if !lifetime_ok {
            return Err(CryptoSkip::Key(format!("lifetime {extra:?}")));
        }
    }
    let key = SrtpKey::from_inline(suite, base64).map_err(|e| CryptoSkip::Key(e.to_string()))?;
    Ok(CryptoAttribute { tag, suite, key })
}

/// Session parameters (RFC 4568 §6.3) that leave the transform as we run it.
fn session_param_ok(param: &str) -> Result<(), CryptoSkip> {
    let harmless = param.starts_with("WSH=") || param == "KDR=0";
    if harmless {
        Ok(())
    } else {
        Err(CryptoSkip::SessionParam(param.chars().take(40).collect()))
    }
}

/// Our `a=crypto` line.
pub(crate) fn render_crypto(s: &mut String, tag: u32, key: &SrtpKey) {
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "a=crypto:{tag} {} inline:{}\r\n",
        key.suite().sdes_name(),
        key.inline()
    );
}

/// The first of the peer's lines (in its order of preference) whose suite we
/// have a key for: the line, and our key for it.
pub(crate) fn pick<'a>(
    lines: impl Iterator<Item = &'a str>,
    ours: &[SrtpKey],
) -> Option<(CryptoAttribute, SrtpKey)> {
    lines.filter_map(|l| parse_crypto(l).ok()).find_map(|c| {
        let key = ours.iter().find(|k| k.suite() == c.suite)?.clone();
        Some((c, key))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4568_examples_parse() {
        let c = parse_crypto(
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20",
        )
        .unwrap();
        assert_eq!((c.tag, c.suite), (1, SrtpSuite::AesCm128HmacSha1_80));
        let c = parse_crypto(
            "2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20",
        )
        .unwrap();
        assert_eq!((c.tag, c.suite), (2, SrtpSuite::AesCm128HmacSha1_32));
        // baresip/PJSIP write no lifetime.
        let k = SrtpKey::random(SrtpSuite::AeadAes128Gcm);
        let c = parse_crypto(&format!("3 AEAD_AES_128_GCM inline:{}", k.inline())).unwrap();
        assert_eq!((c.tag, c.suite, c.key), (3, SrtpSuite::AeadAes128Gcm, k));
    }

    #[test]
    fn lines_we_cannot_run_are_skipped_with_a_reason() {
        let key = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
        let cases = [
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^20|1:4"),
                "MKI",
            ),
            (format!("1 AES_256_CM_HMAC_SHA1_80 inline:{key}"), "AES_256"),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key} UNENCRYPTED_SRTP"),
                "UNENC",
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key};inline:{key}"),
                "several",
            ),
            (format!("x AES_CM_128_HMAC_SHA1_80 inline:{key}"), "tag"),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=".to_owned(),
                "octets",
            ),
            ("1 AES_CM_128_HMAC_SHA1_80".to_owned(), "malformed"),
            (format!("1 AES_CM_128_HMAC_SHA1_80 uri:{key}"), "inline"),
        ];
        for (line, why) in cases {
            let err = parse_crypto(&line).unwrap_err().to_string();
            assert!(err.contains(why), "{line}: {err}");
        }
        assert!(parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key} WSH=64")).is_ok());
    }

    #[test]
    fn pick_takes_the_peers_first_line_we_have_a_key_for() {
        let ours = [
            SrtpKey::random(SrtpSuite::AesCm128HmacSha1_32),
            SrtpKey::random(SrtpSuite::AeadAes128Gcm),
        ];
        let theirs = [
            SrtpKey::random(SrtpSuite::AesCm128HmacSha1_80),
            SrtpKey::random(SrtpSuite::AeadAes128Gcm),
            SrtpKey::random(SrtpSuite::AesCm128HmacSha1_32),
        ];
        let lines: Vec<String> = theirs
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{} {} inline:{}", i + 1, k.suite(), k.inline()))
            .collect();
        let (c, mine) = pick(lines.iter().map(String::as_str), &ours).unwrap();
        assert_eq!((c.tag, c.suite), (2, SrtpSuite::AeadAes128Gcm));
        assert_eq!(c.key, theirs[1]);
        assert_eq!(mine, ours[1]);
        assert!(pick(lines[..1].iter().map(String::as_str), &ours).is_none());
    }

    #[test]
    fn our_line_reads_back() {
        let k = SrtpKey::random(SrtpSuite::AesCm128HmacSha1_80);
        let mut s = String::new();
        render_crypto(&mut s, 7, &k);
        let value = s.trim_end().strip_prefix("a=crypto:").unwrap();
        let c = parse_crypto(value).unwrap();
        assert_eq!((c.tag, c.suite, c.key), (7, k.suite(), k));
    }
}
