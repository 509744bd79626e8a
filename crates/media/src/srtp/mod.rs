//! SRTP and SRTCP (RFC 3711; AEAD AES-GCM per RFC 7714) for one leg, keyed
//! by SDES (RFC 4568 `a=crypto`).
//!
//! - [`SrtpSuite`]: the crypto suites we speak, by their SDES names.
//! - [`SrtpKey`]: a master key and salt, made at random for what we send or
//!   read from the peer's `inline:` key parameter.
//! - [`SrtpSender`] / [`SrtpReceiver`]: one direction's cryptographic
//!   context; protect what we send, authenticate and decrypt what arrives.
//!
//! The transforms are the `webrtc-srtp` crate's (the same family as the `rtp`
//! and `rtcp` crates used here); this module only chooses the suite, owns the
//! keys, guards lengths before handing datagrams over, and classifies what it
//! refuses so the network half can count it.

mod context;
mod key;

pub use context::{Protected, SrtpReceiver, SrtpSender, Unprotected};
pub use key::SrtpKey;

use std::fmt;

use webrtc_srtp::protection_profile::ProtectionProfile;

/// Why a packet or a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// The authentication tag (or the AEAD tag) did not verify: tampered,
    /// forged, or sent with another key.
    #[error("SRTP authentication failed")]
    AuthFailed,
    /// The packet's index was already received (RFC 3711 §3.3.2).
    #[error("SRTP replayed packet (SSRC {ssrc:#010x}, index {index})")]
    Replayed {
        /// The packet's SSRC.
        ssrc: u32,
        /// Its sequence number (SRTP) or SRTCP index.
        index: u64,
    },
    /// Too short or not RTP/RTCP at all.
    #[error("malformed SRTP/SRTCP packet: {0}")]
    Malformed(String),
    /// An SRTCP packet without the encryption flag: we never negotiate
    /// UNENCRYPTED_SRTCP, and such a packet would skip authentication.
    #[error("SRTCP packet without the E flag (unencrypted SRTCP is not negotiated)")]
    Unencrypted,
    /// A key of the wrong length for its suite, or bad base64.
    #[error("bad SRTP key for {suite}: {reason}")]
    BadKey {
        /// The suite the key was for.
        suite: SrtpSuite,
        /// What is wrong.
        reason: String,
    },
    /// The transform itself failed (packet limit of one key reached ...).
    #[error("SRTP transform failed: {0}")]
    Transform(String),
}

/// A crypto suite (RFC 4568 §6.2, RFC 7714 §14.2), in SDES naming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpSuite {
    /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag (RFC 3711's default).
    AesCm128HmacSha1_80,
    /// The same with a 32-bit RTP tag (SRTCP keeps 80 bits).
    AesCm128HmacSha1_32,
    /// AES-128 GCM with a 16-octet tag (RFC 7714).
    AeadAes128Gcm,
}

impl SrtpSuite {
    /// Every suite we speak, in our default order of preference: the one every
    /// SDES peer has first, GCM last since older peers lack it.
    pub const ALL: [SrtpSuite; 3] = [
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32,
        SrtpSuite::AeadAes128Gcm,
    ];

    /// The suite's name in `a=crypto` lines.
    pub fn sdes_name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            SrtpSuite::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }

    /// The suite for an SDES name (case as written by RFC 4568; peers write it so).
    pub fn from_sdes_name(name: &str) -> Option<SrtpSuite> {
        SrtpSuite::ALL
            .into_iter()
            .find(|s| s.sdes_name().eq_ignore_ascii_case(name))
    }

    /// Master key length in octets.
    pub fn key_len(self) -> usize {
        16
    }

    /// Master salt length in octets: 112 bits for AES-CM, 96 for GCM.
    pub fn salt_len(self) -> usize {
        match self {
            SrtpSuite::AeadAes128Gcm => 12,
            _ => 14,
        }
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
            SrtpSuite::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        }
    }

    /// Octets SRTP adds to an RTP packet (tag).
    pub fn rtp_overhead(self) -> usize {
        let p = self.profile();
        p.rtp_auth_tag_len() + p.aead_auth_tag_len()
    }

    /// Octets SRTCP adds to an RTCP packet (E flag and index, tag).
    pub fn rtcp_overhead(self) -> usize {
        let p = self.profile();
        4 + p.rtcp_auth_tag_len() + p.aead_auth_tag_len()
    }
}

impl fmt::Display for SrtpSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sdes_name())
    }
}

/// Whether a call uses SRTP (`[media] srtp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SrtpPolicy {
    /// Plain RTP only; an RTP/SAVP offer is refused.
    #[default]
    Off,
    /// Offer RTP/AVP with `a=crypto` (best effort); use SRTP when the other
    /// side takes it, plain RTP otherwise.
    Optional,
    /// Offer RTP/SAVP; refuse any offer or answer without SRTP.
    Mandatory,
}

impl SrtpPolicy {
    /// Parses `off`, `optional` or `mandatory` (any case).
    pub fn parse(text: &str) -> Option<SrtpPolicy> {
        match text.to_ascii_lowercase().as_str() {
            "off" => Some(SrtpPolicy::Off),
            "optional" => Some(SrtpPolicy::Optional),
            "mandatory" => Some(SrtpPolicy::Mandatory),
            _ => None,
        }
    }

    /// True unless `Off`.
    pub fn enabled(self) -> bool {
        self != SrtpPolicy::Off
    }
}

/// The keys of one negotiated SRTP stream: ours protect what we send, the
/// peer's authenticate and decrypt what we receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The suite both sides use.
    pub suite: SrtpSuite,
    /// Our master key and salt (sent in our `a=crypto`).
    pub local: SrtpKey,
    /// The peer's master key and salt (from its `a=crypto`).
    pub remote: SrtpKey,
}
