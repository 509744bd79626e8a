//! SRTP in a leg's network half: every datagram leaving the RTP and RTCP
//! sockets is protected and every one arriving is authenticated and
//! decrypted here, before latching, jitter buffer or RTCP statistics see it;
//! the audio thread only ever gets plaintext that passed. Plain RTP passes
//! through untouched when the call has no SRTP.

use agentphone_media::srtp::{
    Protected, SrtpError, SrtpKeys, SrtpReceiver, SrtpSender, SrtpSuite, Unprotected,
};
use std::borrow::Cow;

/// What SRTP refused over the call, for the media report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SrtpCounts {
    /// SRTP/SRTCP packets whose authentication failed (tampered, forged, the
    /// wrong key, or plain RTP where SRTP was agreed): dropped, never played.
    pub auth_failed: u64,
    /// Packets received twice (replay window).
    pub replayed: u64,
    /// Datagrams too short or malformed to be SRTP/SRTCP.
    pub malformed: u64,
}

pub(super) struct NetSrtp {
    keys: Option<SrtpKeys>,
    /// None with keys set: the context could not be built, and nothing is
    /// sent (never plain RTP where SRTP was agreed).
    tx: Option<SrtpSender>,
    rx: Option<SrtpReceiver>,
    /// The peer's previous key after a re-key, for packets it sent before
    /// our answer reached it; dropped once the new key authenticates one.
    previous_rx: Option<SrtpReceiver>,
    pub(super) counts: SrtpCounts,
}

impl NetSrtp {
    pub(super) fn new(keys: Option<&SrtpKeys>) -> Self {
        let mut s = NetSrtp {
            keys: None,
            tx: None,
            rx: None,
            previous_rx: None,
            counts: SrtpCounts::default(),
        };
        s.update(keys);
        s
    }

    /// The suite in use, if any.
    pub(super) fn suite(&self) -> Option<SrtpSuite> {
        self.keys.as_ref().map(|k| k.suite)
    }

    /// A new negotiation: a changed key gets a fresh context (RFC 4568
    /// §7.1.4), an unchanged one keeps its rollover and replay state.
    pub(super) fn update(&mut self, keys: Option<&SrtpKeys>) {
        if self.keys.as_ref() == keys {
            return;
        }
        let Some(keys) = keys else {
            tracing::info!("SRTP off after re-negotiation: plain RTP");
            *self = NetSrtp {
                counts: self.counts,
                ..NetSrtp::new(None)
            };
            return;
        };
        let old = self.keys.take();
        let local_changed = old.as_ref().is_none_or(|o| o.local != keys.local);
        let remote_changed = old.as_ref().is_none_or(|o| o.remote != keys.remote);
        if local_changed {
            self.tx = SrtpSender::new(&keys.local)
                .inspect_err(|e| tracing::error!("SRTP send context: {e}; sending nothing"))
                .ok();
        }
        if remote_changed {
            let new_rx = SrtpReceiver::new(&keys.remote)
                .inspect_err(|e| tracing::error!("SRTP receive context: {e}; dropping all"))
                .ok();
            self.previous_rx = std::mem::replace(&mut self.rx, new_rx);
        }
        match old {
            None => tracing::info!(suite = %keys.suite, "SRTP on"),
            Some(_) => tracing::info!(
                suite = %keys.suite,
                our_key_changed = local_changed,
                their_key_changed = remote_changed,
                "SRTP re-keyed"
            ),
        }
        self.keys = Some(keys.clone());
    }

    /// An RTP packet to send: protected, or as is without SRTP; None when it
    /// must not leave.
    pub(super) fn outgoing_rtp<'a>(&mut self, packet: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        self.outgoing(packet, SrtpSender::protect_rtp)
    }

    /// The same for an RTCP compound packet (SRTCP).
    pub(super) fn outgoing_rtcp<'a>(&mut self, packet: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        self.outgoing(packet, SrtpSender::protect_rtcp)
    }

    fn outgoing<'a>(
        &mut self,
        packet: &'a [u8],
        protect: fn(&mut SrtpSender, &[u8]) -> Protected,
    ) -> Option<Cow<'a, [u8]>> {
        if self.keys.is_none() {
            return Some(Cow::Borrowed(packet));
        }
        let tx = self.tx.as_mut()?;
        match protect(tx, packet) {
            Ok(p) => Some(Cow::Owned(p.to_vec())),
            Err(e) => {
                tracing::debug!("not sent: {e}");
                None
            }
        }
    }

    /// A received RTP datagram as plaintext, or None (counted) when it fails.
    pub(super) fn incoming_rtp<'a>(&mut self, datagram: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        self.incoming(datagram, SrtpReceiver::unprotect_rtp)
    }

    /// The same for SRTCP.
    pub(super) fn incoming_rtcp<'a>(&mut self, datagram: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        self.incoming(datagram, SrtpReceiver::unprotect_rtcp)
    }

    fn incoming<'a>(
        &mut self,
        datagram: &'a [u8],
        unprotect: fn(&mut SrtpReceiver, &[u8]) -> Unprotected,
    ) -> Option<Cow<'a, [u8]>> {
        if self.keys.is_none() {
            return Some(Cow::Borrowed(datagram));
        }
        let Some(rx) = self.rx.as_mut() else {
            self.counts.auth_failed += 1;
            return None;
        };
        let mut got = unprotect(rx, datagram);
        if got.is_ok() {
            self.previous_rx = None;
        } else if let Some(old) = self.previous_rx.as_mut() {
            if let Ok(p) = unprotect(old, datagram) {
                got = Ok(p);
            }
        }
        match got {
            Ok(plain) => Some(Cow::Owned(plain.to_vec())),
            Err(e) => {
                let counter = match e {
                    SrtpError::Replayed { .. } => &mut self.counts.replayed,
                    SrtpError::Malformed(_) => &mut self.counts.malformed,
                    _ => &mut self.counts.auth_failed,
                };
                *counter += 1;
                if *counter == 1 {
                    // The first of each kind is worth a line; the rest are counted.
                    tracing::warn!("SRTP packet dropped: {e} (counted from now on)");
                } else {
                    tracing::trace!("SRTP packet dropped: {e}");
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentphone_media::srtp::SrtpKey;

    const RTP: [u8; 16] = [0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7, 1, 2, 3, 4];

    fn keys(suite: SrtpSuite) -> SrtpKeys {
        SrtpKeys {
            suite,
            local: SrtpKey::random(suite),
            remote: SrtpKey::random(suite),
        }
    }

    /// The peer's side of `k`.
    fn mirrored(k: &SrtpKeys) -> SrtpKeys {
        SrtpKeys {
            suite: k.suite,
            local: k.remote.clone(),
            remote: k.local.clone(),
        }
    }

    #[test]
    fn plain_calls_pass_through_and_srtp_calls_refuse_tampering() {
        let mut plain = NetSrtp::new(None);
        assert!(matches!(plain.outgoing_rtp(&RTP), Some(Cow::Borrowed(_))));
        let k = keys(SrtpSuite::AesCm128HmacSha1_80);
        let (mut us, mut them) = (NetSrtp::new(Some(&k)), NetSrtp::new(Some(&mirrored(&k))));
        let sent = us.outgoing_rtp(&RTP).unwrap().into_owned();
        assert_ne!(&sent[12..16], &RTP[12..]);
        let mut bad = sent.clone();
        bad[13] ^= 0x40;
        assert!(them.incoming_rtp(&bad).is_none());
        let mut plain_audio = RTP.to_vec();
        plain_audio.resize(172, 0xff);
        assert!(
            them.incoming_rtp(&plain_audio).is_none(),
            "plain RTP is not played"
        );
        assert_eq!(&them.incoming_rtp(&sent).unwrap()[..], &RTP[..]);
        assert!(them.incoming_rtp(&sent).is_none());
        assert!(them.incoming_rtp(&RTP[..5]).is_none());
        assert_eq!(
            them.counts,
            SrtpCounts {
                auth_failed: 2,
                replayed: 1,
                malformed: 1
            }
        );
    }

    #[test]
    fn a_rekey_keeps_taking_the_old_key_until_the_new_one_arrives() {
        let k = keys(SrtpSuite::AeadAes128Gcm);
        let mut them = NetSrtp::new(Some(&mirrored(&k)));
        let mut us = NetSrtp::new(Some(&k));
        let mut packet = RTP;
        let old = us.outgoing_rtp(&packet).unwrap().into_owned();
        // The peer re-keys what it sends to us; we take its answer.
        let rekeyed = SrtpKeys {
            local: SrtpKey::random(k.suite),
            ..k.clone()
        };
        them.update(Some(&mirrored(&rekeyed)));
        assert!(
            them.incoming_rtp(&old).is_some(),
            "in flight with the old key"
        );
        us.update(Some(&rekeyed));
        packet[3] = 2;
        let new = us.outgoing_rtp(&packet).unwrap().into_owned();
        assert_eq!(&them.incoming_rtp(&new).unwrap()[..], &packet[..]);
        packet[3] = 3;
        let mut stale = NetSrtp::new(Some(&k));
        let forged = stale.outgoing_rtp(&packet).unwrap().into_owned();
        assert!(them.incoming_rtp(&forged).is_none(), "the old key is gone");
        assert_eq!(them.counts.auth_failed, 1);
    }
}
