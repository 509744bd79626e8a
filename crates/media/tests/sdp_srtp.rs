//! SDES (RFC 4568) in offer/answer: what each `[media] srtp` policy offers,
//! accepts and refuses, suites, tags, keys both ways, re-keying; property
//! tests over policies and suite lists.

use std::net::{IpAddr, Ipv4Addr};

use agentphone_media::offer_answer::{
    parse_crypto, LocalMedia, NegotiatedMedia, OfferAnswerError, SdpSession,
};
use agentphone_media::srtp::{SrtpPolicy, SrtpSuite};
use proptest::prelude::*;

const ALL: [SrtpSuite; 3] = SrtpSuite::ALL;

fn local(port: u16, policy: SrtpPolicy, suites: &[SrtpSuite]) -> LocalMedia {
    LocalMedia::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port).with_srtp(policy, suites)
}

fn mline(sdp: &str) -> &str {
    sdp.lines().find(|l| l.starts_with("m=audio")).unwrap()
}

fn crypto_lines(sdp: &str) -> Vec<&str> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=crypto:"))
        .collect()
}

/// One full exchange: the offerer's and the answerer's view, or the error
/// that stopped it (from the answerer, else from the offerer).
fn exchange(
    offerer: LocalMedia,
    answerer: LocalMedia,
) -> Result<(NegotiatedMedia, NegotiatedMedia), OfferAnswerError> {
    let mut a = SdpSession::new(offerer);
    let mut b = SdpSession::new(answerer);
    let offer = a.offer();
    let answer = b.answer(&offer)?;
    let theirs = a.process_answer(&answer.sdp)?;
    Ok((theirs, answer.media))
}

#[test]
fn each_policy_offers_what_it_says() {
    let off = SdpSession::new(local(4000, SrtpPolicy::Off, &ALL)).offer();
    assert_eq!(mline(&off), "m=audio 4000 RTP/AVP 0 8 111 63 101 110 13");
    assert!(crypto_lines(&off).is_empty());

    let optional = SdpSession::new(local(4000, SrtpPolicy::Optional, &ALL)).offer();
    assert_eq!(
        mline(&optional),
        "m=audio 4000 RTP/AVP 0 8 111 63 101 110 13"
    );
    let lines = crypto_lines(&optional);
    assert_eq!(lines.len(), 3);
    for (i, (line, suite)) in lines.iter().zip(ALL).enumerate() {
        let c = parse_crypto(line).unwrap();
        assert_eq!((c.tag as usize, c.suite), (i + 1, suite));
    }

    let mandatory = SdpSession::new(local(4000, SrtpPolicy::Mandatory, &ALL[..1])).offer();
    assert_eq!(
        mline(&mandatory),
        "m=audio 4000 RTP/SAVP 0 8 111 63 101 110 13"
    );
    assert_eq!(crypto_lines(&mandatory).len(), 1);
    assert!(crypto_lines(&mandatory)[0].starts_with("1 AES_CM_128_HMAC_SHA1_80 inline:"));
}

#[test]
fn the_policy_matrix() {
    use SrtpPolicy::*;
    for (offerer, answerer, srtp) in [
        (Off, Off, Ok(false)),
        (Off, Optional, Ok(false)),
        (Off, Mandatory, Err("SRTP is mandatory here")),
        (Optional, Off, Ok(false)),
        (Optional, Optional, Ok(true)),
        (Optional, Mandatory, Ok(true)),
        (Mandatory, Off, Err("SRTP is off here")),
        (Mandatory, Optional, Ok(true)),
        (Mandatory, Mandatory, Ok(true)),
    ] {
        let got = exchange(local(4000, offerer, &ALL), local(5000, answerer, &ALL));
        match (srtp, got) {
            (Ok(used), Ok((a, b))) => {
                assert_eq!(a.srtp.is_some(), used, "{offerer:?} → {answerer:?}");
                assert_eq!(b.srtp.is_some(), used, "{offerer:?} → {answerer:?}");
            }
            (Err(text), Err(e)) => {
                assert!(e.is_srtp(), "{offerer:?} → {answerer:?}: {e}");
                assert!(e.to_string().contains(text), "{e}");
            }
            (want, got) => panic!("{offerer:?} → {answerer:?}: want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn the_answer_takes_the_offerers_first_suite_it_has() {
    let offerer = local(
        4000,
        SrtpPolicy::Mandatory,
        &[SrtpSuite::AeadAes128Gcm, SrtpSuite::AesCm128HmacSha1_32],
    );
    let answerer = local(5000, SrtpPolicy::Optional, &ALL);
    let mut a = SdpSession::new(offerer);
    let mut b = SdpSession::new(answerer);
    let answer = b.answer(&a.offer()).unwrap();
    assert_eq!(
        mline(&answer.sdp),
        "m=audio 5000 RTP/SAVP 0 8 111 101 110 13 63"
    );
    let lines = crypto_lines(&answer.sdp);
    assert_eq!(lines.len(), 1);
    let c = parse_crypto(lines[0]).unwrap();
    assert_eq!((c.tag, c.suite), (1, SrtpSuite::AeadAes128Gcm));
    let theirs = a.process_answer(&answer.sdp).unwrap();
    let (x, y) = (theirs.srtp.unwrap(), answer.media.srtp.unwrap());
    assert_eq!(
        (x.suite, y.suite),
        (SrtpSuite::AeadAes128Gcm, SrtpSuite::AeadAes128Gcm)
    );
    assert_eq!(x.local, y.remote);
    assert_eq!(x.remote, y.local);
    assert_eq!(c.key, y.local);
}

#[test]
fn no_suite_in_common() {
    let gcm = [SrtpSuite::AeadAes128Gcm];
    let cm = [SrtpSuite::AesCm128HmacSha1_80];
    // RTP/SAVP: refused, naming what was offered.
    let e = exchange(
        local(4000, SrtpPolicy::Mandatory, &gcm),
        local(5000, SrtpPolicy::Optional, &cm),
    )
    .unwrap_err();
    assert_eq!(
        e,
        OfferAnswerError::NoCommonCryptoSuite {
            offered: "AEAD_AES_128_GCM".into()
        }
    );
    // Best effort: plain RTP, unless the answerer insists.
    let (a, b) = exchange(
        local(4000, SrtpPolicy::Optional, &gcm),
        local(5000, SrtpPolicy::Optional, &cm),
    )
    .unwrap();
    assert!(a.srtp.is_none() && b.srtp.is_none());
    let e = exchange(
        local(4000, SrtpPolicy::Optional, &gcm),
        local(5000, SrtpPolicy::Mandatory, &cm),
    )
    .unwrap_err();
    assert!(e.to_string().contains("AEAD_AES_128_GCM"), "{e}");
}

#[test]
fn answers_that_break_the_rules_are_refused() {
    let mut a = SdpSession::new(local(4000, SrtpPolicy::Mandatory, &ALL));
    let offer = a.offer();
    let mut plain = SdpSession::new(local(5000, SrtpPolicy::Optional, &ALL));
    let good = plain.answer(&offer).unwrap().sdp;
    // No a=crypto in the answer to an RTP/SAVP offer.
    let stripped: String = good
        .lines()
        .filter(|l| !l.starts_with("a=crypto"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let e = a.process_answer(&stripped).unwrap_err();
    assert!(e.to_string().contains("no a=crypto"), "{e}");
    // A tag we did not offer.
    let retagged = good.replace("a=crypto:1 ", "a=crypto:9 ");
    let e = a.process_answer(&retagged).unwrap_err();
    assert!(e.to_string().contains("matches none we offered"), "{e}");
    // The m-line refused (port 0): the peer does not do SRTP.
    let refused = good.replace("m=audio 5000 ", "m=audio 0 ");
    let e = a.process_answer(&refused).unwrap_err();
    assert!(e.is_srtp(), "{e}");
}

#[test]
fn keys_stay_across_re_offers_until_rekeyed() {
    let mut a = SdpSession::new(local(4000, SrtpPolicy::Optional, &ALL));
    let mut b = SdpSession::new(local(5000, SrtpPolicy::Optional, &ALL));
    let first = a.offer();
    let first_keys = b.answer(&first).unwrap().media.srtp.unwrap();
    let again = a.re_offer();
    assert_eq!(
        first, again,
        "an unchanged re-offer is the same SDP, version and keys"
    );
    let same = b.answer(&again).unwrap().media.srtp.unwrap();
    assert_eq!(same, first_keys);

    a.rekey();
    let rekeyed = a.re_offer();
    assert_ne!(crypto_lines(&rekeyed), crypto_lines(&first));
    let version = |s: &str| {
        s.lines()
            .nth(1)
            .unwrap()
            .split(' ')
            .nth(2)
            .unwrap()
            .to_owned()
    };
    assert_ne!(version(&rekeyed), version(&first));
    let answer = b.answer(&rekeyed).unwrap();
    let new_keys = answer.media.srtp.clone().unwrap();
    assert_ne!(
        new_keys.remote, first_keys.remote,
        "the answerer takes the new key"
    );
    assert_eq!(new_keys.local, first_keys.local, "and keeps its own");
    let ours = a.process_answer(&answer.sdp).unwrap().srtp.unwrap();
    assert_eq!(ours.local, new_keys.remote);
}

fn suites() -> impl Strategy<Value = Vec<SrtpSuite>> {
    proptest::sample::subsequence(ALL.to_vec(), 0..=3).prop_shuffle()
}

fn policy() -> impl Strategy<Value = SrtpPolicy> {
    prop_oneof![
        Just(SrtpPolicy::Off),
        Just(SrtpPolicy::Optional),
        Just(SrtpPolicy::Mandatory)
    ]
}

proptest! {
    #[test]
    fn any_exchange_agrees_on_one_suite_and_mirrored_keys(
        (pa, sa) in (policy(), suites()),
        (pb, sb) in (policy(), suites()),
    ) {
        let offerer = local(4000, pa, &sa);
        let answerer = local(5000, pb, &sb);
        let (pa, pb) = (offerer.srtp, answerer.srtp);
        let common = sa.iter().find(|s| sb.contains(s)).copied();
        match exchange(offerer, answerer) {
            Ok((a, b)) => {
                match (&a.srtp, &b.srtp) {
                    (Some(x), Some(y)) => {
                        prop_assert_eq!(x.suite, y.suite);
                        // The offerer's preference wins among common suites.
                        prop_assert_eq!(Some(x.suite), common);
                        prop_assert_eq!(&x.local, &y.remote);
                        prop_assert_eq!(&x.remote, &y.local);
                        prop_assert_ne!(&x.local, &x.remote);
                    }
                    (None, None) => {
                        prop_assert!(pa != SrtpPolicy::Mandatory && pb != SrtpPolicy::Mandatory);
                        prop_assert!(pa == SrtpPolicy::Off || pb == SrtpPolicy::Off || common.is_none());
                    }
                    _ => prop_assert!(false, "one side thinks SRTP, the other not"),
                }
            }
            Err(e) => {
                prop_assert!(e.is_srtp(), "{}", e);
                prop_assert!(pa == SrtpPolicy::Mandatory || pb == SrtpPolicy::Mandatory);
            }
        }
    }

    #[test]
    fn crypto_lines_never_panic(text in "\\PC{0,120}") {
        let _ = parse_crypto(&text);
    }

    #[test]
    fn crypto_lines_with_noise_around_a_key(tag in 0u32..1_000_000_000, extra in "[|:2^0-9A-Za-z=;+/ ]{0,30}") {
        let key = agentphone_media::srtp::SrtpKey::random(SrtpSuite::AesCm128HmacSha1_80);
        let line = format!("{tag} AES_CM_128_HMAC_SHA1_80 inline:{}{extra}", key.inline());
        if let Ok(c) = parse_crypto(&line) {
            prop_assert_eq!(c.tag, tag);
            prop_assert_eq!(c.suite, SrtpSuite::AesCm128HmacSha1_80);
        }
        let plain = format!("{tag} AES_CM_128_HMAC_SHA1_80 inline:{}", key.inline());
        prop_assert_eq!(parse_crypto(&plain).unwrap().key, key);
    }
}

fn fixture(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/sdp")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn captured_savp_offers_from_baresip_and_pjsip_are_answered_with_srtp() {
    for (file, tag, suite) in [
        (
            "baresip-1.0-srtp-mand-offer.sdp",
            1,
            SrtpSuite::AesCm128HmacSha1_80,
        ),
        // PJSIP lists AES_256 first: skipped, its first AES_CM_128 line taken.
        (
            "pjsua2-srtp-mandatory-offer.sdp",
            3,
            SrtpSuite::AesCm128HmacSha1_80,
        ),
    ] {
        let offer = fixture(file);
        for policy in [SrtpPolicy::Optional, SrtpPolicy::Mandatory] {
            let mut us = SdpSession::new(local(5000, policy, &ALL));
            let a = us.answer(&offer).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(mline(&a.sdp).contains(" RTP/SAVP "), "{file}: {}", a.sdp);
            let lines = crypto_lines(&a.sdp);
            assert_eq!(lines.len(), 1, "{file}");
            let c = parse_crypto(lines[0]).unwrap();
            assert_eq!((c.tag, c.suite), (tag, suite), "{file}");
            let keys = a.media.srtp.unwrap();
            let theirs = offer
                .lines()
                .find_map(|l| l.strip_prefix(&format!("a=crypto:{tag} ")))
                .unwrap();
            assert!(theirs.contains(&keys.remote.inline()), "{file}");
        }
        let mut off = SdpSession::new(local(5000, SrtpPolicy::Off, &ALL));
        assert_eq!(
            off.answer(&offer).unwrap_err(),
            OfferAnswerError::SrtpNotEnabled
        );
    }
}
