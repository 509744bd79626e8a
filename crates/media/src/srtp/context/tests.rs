//! Known-answer tests: libsrtp's reference packets (`srtp_validate`, with the
//! master key and salt of RFC 3711 Appendix B.3, whose session keys they
//! therefore check too; `srtp_validate_gcm` for RFC 7714), then round trips,
//! tampering, replay and hostile input.

use super::*;

/// RFC 3711 B.3's master key ‖ master salt.
const RFC3711_KEY: [u8; 30] = [
    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39,
    0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6,
];

const GCM_KEY: [u8; 28] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
];

/// SSRC 0xcafebabe, sequence 0x1234, 16 octets of 0xab.
const RTP_PLAIN: [u8; 28] = [
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
];

const SRTP_AES_CM_80: [u8; 38] = [
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0x4e, 0x55, 0xdc, 0x4c,
    0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d, 0x24, 0x02, 0xb7, 0x8d, 0x6a, 0xcc,
    0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb,
];

/// A sender report from SSRC 0xcafebabe with 16 octets of 0xab.
const RTCP_PLAIN: [u8; 24] = [
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
];

const SRTCP_AES_CM_80: [u8; 38] = [
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28, 0x03, 0x5b, 0xe4, 0x87, 0xb9, 0xbd,
    0xbe, 0xf8, 0x90, 0x41, 0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00, 0x00, 0x01, 0x99, 0x3e, 0x08, 0xcd,
    0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98,
];

const SRTP_GCM: [u8; 44] = [
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xc5, 0x00, 0x2e, 0xde,
    0x04, 0xcf, 0xdd, 0x2e, 0xb9, 0x11, 0x59, 0xe0, 0x88, 0x0a, 0xa0, 0x6e, 0xd2, 0x97, 0x68, 0x26,
    0xf7, 0x96, 0xb2, 0x01, 0xdf, 0x31, 0x31, 0xa1, 0x27, 0xe8, 0xa3, 0x92,
];

const SRTCP_GCM: [u8; 44] = [
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xc9, 0x8b, 0x8b, 0x5d, 0xf0, 0x39, 0x2a, 0x55,
    0x85, 0x2b, 0x6c, 0x21, 0xac, 0x8e, 0x70, 0x25, 0xc5, 0x2c, 0x6f, 0xbe, 0xa2, 0xb3, 0xb4, 0x46,
    0xea, 0x31, 0x12, 0x3b, 0xa8, 0x8c, 0xe6, 0x1e, 0x80, 0x00, 0x00, 0x01,
];

fn key(suite: SrtpSuite, bytes: &[u8]) -> SrtpKey {
    SrtpKey::from_bytes(suite, bytes).expect("test key")
}

fn pair(k: &SrtpKey) -> (SrtpSender, SrtpReceiver) {
    (SrtpSender::new(k).unwrap(), SrtpReceiver::new(k).unwrap())
}

#[test]
fn aes_cm_128_hmac_sha1_80_matches_the_reference_packets() {
    let (mut tx, mut rx) = pair(&key(SrtpSuite::AesCm128HmacSha1_80, &RFC3711_KEY));
    assert_eq!(
        &tx.protect_rtp(&RTP_PLAIN).unwrap()[..],
        &SRTP_AES_CM_80[..]
    );
    assert_eq!(
        &tx.protect_rtcp(&RTCP_PLAIN).unwrap()[..],
        &SRTCP_AES_CM_80[..]
    );
    assert_eq!(
        &rx.unprotect_rtp(&SRTP_AES_CM_80).unwrap()[..],
        &RTP_PLAIN[..]
    );
    assert_eq!(
        &rx.unprotect_rtcp(&SRTCP_AES_CM_80).unwrap()[..],
        &RTCP_PLAIN[..]
    );
}

#[test]
fn aes_cm_128_hmac_sha1_32_truncates_the_same_tag_for_rtp_only() {
    // RFC 3711 §4.2: the tag is HMAC-SHA1's leftmost n_tag bits, so the
    // 32-bit RTP tag is the 80-bit one's first four octets; SRTCP keeps 80.
    let (mut tx, mut rx) = pair(&key(SrtpSuite::AesCm128HmacSha1_32, &RFC3711_KEY));
    let protected = tx.protect_rtp(&RTP_PLAIN).unwrap();
    assert_eq!(&protected[..], &SRTP_AES_CM_80[..32]);
    assert_eq!(
        &tx.protect_rtcp(&RTCP_PLAIN).unwrap()[..],
        &SRTCP_AES_CM_80[..]
    );
    assert_eq!(&rx.unprotect_rtp(&protected).unwrap()[..], &RTP_PLAIN[..]);
}

#[test]
fn aead_aes_128_gcm_matches_the_reference_packets() {
    let (mut tx, mut rx) = pair(&key(SrtpSuite::AeadAes128Gcm, &GCM_KEY));
    assert_eq!(&tx.protect_rtp(&RTP_PLAIN).unwrap()[..], &SRTP_GCM[..]);
    assert_eq!(&tx.protect_rtcp(&RTCP_PLAIN).unwrap()[..], &SRTCP_GCM[..]);
    assert_eq!(&rx.unprotect_rtp(&SRTP_GCM).unwrap()[..], &RTP_PLAIN[..]);
    assert_eq!(&rx.unprotect_rtcp(&SRTCP_GCM).unwrap()[..], &RTCP_PLAIN[..]);
}

#[test]
fn any_flipped_bit_fails_authentication_in_every_suite() {
    for suite in SrtpSuite::ALL {
        let k = SrtpKey::random(suite);
        let (mut tx, _) = pair(&k);
        let srtp = tx.protect_rtp(&RTP_PLAIN).unwrap();
        let srtcp = tx.protect_rtcp(&RTCP_PLAIN).unwrap();
        for (i, bit) in (0..srtp.len()).flat_map(|i| [(i, 0x01u8), (i, 0x80)]) {
            let mut bad = srtp.to_vec();
            bad[i] ^= bit;
            // A fresh receiver each time, so no state hides a result.
            let got = SrtpReceiver::new(&k).unwrap().unprotect_rtp(&bad);
            assert!(got.is_err(), "{suite}: byte {i} bit {bit:#x} accepted");
        }
        for i in 8..srtcp.len() {
            let mut bad = srtcp.to_vec();
            bad[i] ^= 0x01;
            let got = SrtpReceiver::new(&k).unwrap().unprotect_rtcp(&bad);
            assert!(got.is_err(), "{suite}: SRTCP byte {i} accepted");
        }
        // And the untouched ones pass.
        let mut rx = SrtpReceiver::new(&k).unwrap();
        assert_eq!(&rx.unprotect_rtp(&srtp).unwrap()[..], &RTP_PLAIN[..]);
        assert_eq!(&rx.unprotect_rtcp(&srtcp).unwrap()[..], &RTCP_PLAIN[..]);
    }
}

#[test]
fn the_wrong_key_and_a_replay_are_refused() {
    for suite in SrtpSuite::ALL {
        let (mut tx, mut rx) = pair(&SrtpKey::random(suite));
        let mut other = SrtpReceiver::new(&SrtpKey::random(suite)).unwrap();
        let p = tx.protect_rtp(&RTP_PLAIN).unwrap();
        assert_eq!(
            other.unprotect_rtp(&p),
            Err(SrtpError::AuthFailed),
            "{suite}"
        );
        assert!(rx.unprotect_rtp(&p).is_ok());
        assert!(
            matches!(
                rx.unprotect_rtp(&p),
                Err(SrtpError::Replayed {
                    ssrc: 0xcafebabe,
                    ..
                })
            ),
            "{suite}"
        );
    }
}

#[test]
fn a_stream_of_packets_round_trips_across_a_sequence_wrap() {
    for suite in SrtpSuite::ALL {
        let (mut tx, mut rx) = pair(&SrtpKey::random(suite));
        let mut packet = RTP_PLAIN;
        for n in 0..40u32 {
            let seq = 0xffec_u16.wrapping_add(n as u16);
            packet[2..4].copy_from_slice(&seq.to_be_bytes());
            packet[12] = n as u8;
            let p = tx.protect_rtp(&packet).unwrap();
            assert_eq!(p.len(), packet.len() + suite.rtp_overhead());
            assert_eq!(
                &rx.unprotect_rtp(&p).unwrap()[..],
                &packet[..],
                "{suite} #{n}"
            );
        }
    }
}

#[test]
fn unencrypted_srtcp_is_refused() {
    // With the E flag cleared the crate would hand the packet back unchecked.
    let mut bad = SRTCP_AES_CM_80;
    bad[24] &= 0x7f;
    let mut rx = SrtpReceiver::new(&key(SrtpSuite::AesCm128HmacSha1_80, &RFC3711_KEY)).unwrap();
    assert_eq!(rx.unprotect_rtcp(&bad), Err(SrtpError::Unencrypted));
}

#[test]
fn strangers_spraying_ssrcs_are_refused_without_state() {
    let k = SrtpKey::random(SrtpSuite::AesCm128HmacSha1_80);
    let (mut tx, mut rx) = pair(&k);
    let mut forged = SRTP_AES_CM_80;
    for ssrc in 0..5_000u32 {
        forged[8..12].copy_from_slice(&ssrc.to_be_bytes());
        assert_eq!(rx.unprotect_rtp(&forged), Err(SrtpError::AuthFailed));
    }
    assert!(rx.known_rtp.is_empty());
    let p = tx.protect_rtp(&RTP_PLAIN).unwrap();
    assert!(rx.unprotect_rtp(&p).is_ok());
    assert_eq!(rx.known_rtp, [0xcafebabe]);
}

#[test]
fn hostile_datagrams_are_errors_not_panics() {
    for suite in SrtpSuite::ALL {
        let mut rx = SrtpReceiver::new(&SrtpKey::random(suite)).unwrap();
        let mut cases: Vec<Vec<u8>> = (0..60).map(|n| vec![0x80; n]).collect();
        cases.extend((0..60).map(|n| {
            let mut v = vec![
                0x90u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff,
            ];
            v.resize(n.max(16), 0);
            v
        }));
        cases.extend((0..60).map(|n| vec![0x8f; n]));
        // Found by the rtp_rtcp_parse fuzz target: a two-byte extension
        // (profile 0x1000, one word) whose element claims 166 bytes, which
        // the `rtp` crate's parser read past the datagram's end (a panic).
        cases.push(vec![
            144, 61, 0, 255, 1, 128, 8, 61, 45, 219, 219, 219, 16, 0, 0, 1, 0, 166, 166, 166, 166,
            166, 166, 166, 166, 166, 166, 166, 166, 166, 166, 166, 166, 162, 166, 174, 174, 174,
            174, 174, 174, 174, 174, 174, 0, 0, 0, 0, 0, 0, 0, 116, 174, 175, 174, 174, 79, 79, 79,
            255, 8, 0, 0, 116,
        ]);
        // The same in the one-byte form: an element of 16 bytes in a 4-byte
        // extension.
        cases.push(
            [
                &[
                    0x90u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x1f, 0, 0, 0,
                ][..],
                &[0; 20],
            ]
            .concat(),
        );
        for c in &cases {
            assert!(rx.unprotect_rtp(c).is_err());
            assert!(rx.unprotect_rtcp(c).is_err());
        }
    }
}

#[test]
fn random_mutations_of_real_packets_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(3711);
    for suite in SrtpSuite::ALL {
        let k = SrtpKey::random(suite);
        let (mut tx, mut rx) = pair(&k);
        let srtp = tx.protect_rtp(&RTP_PLAIN).unwrap().to_vec();
        let srtcp = tx.protect_rtcp(&RTCP_PLAIN).unwrap().to_vec();
        for _ in 0..20_000 {
            let mut p = if rng.random() {
                srtp.clone()
            } else {
                srtcp.clone()
            };
            match rng.random_range(0..4) {
                0 => p.truncate(rng.random_range(0..=p.len())),
                1 => p.extend((0..rng.random_range(1..40)).map(|_| rng.random::<u8>())),
                _ => {
                    for _ in 0..rng.random_range(1..4) {
                        let i = rng.random_range(0..p.len());
                        p[i] = rng.random();
                    }
                }
            }
            let _ = rx.unprotect_rtp(&p);
            let _ = rx.unprotect_rtcp(&p);
        }
    }
}
