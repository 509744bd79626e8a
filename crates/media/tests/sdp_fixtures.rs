//! Answering offers shaped like real peers' (fixtures/sdp/README.md says which).

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use agentphone_media::offer_answer::{
    answer, create_offer, process_answer, Codec, Direction, LocalMedia, OfferAnswerError, Origin,
    PayloadFormat, SdpSession,
};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/sdp")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn local() -> LocalMedia {
    LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)), 40000)
}

fn sock(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// The audio m-line of an SDP we produced.
fn audio_mline(sdp: &str) -> &str {
    sdp.lines()
        .find(|l| l.starts_with("m=audio"))
        .expect("answer has an audio m-line")
}

#[test]
fn sipp_default_offer_gets_pcmu() {
    let a = answer(&fixture("sipp-uac-default-offer.sdp"), &local()).expect("answerable");
    assert_eq!(audio_mline(&a.sdp), "m=audio 40000 RTP/AVP 0");
    assert!(a.sdp.contains("a=sendrecv\r\n"));
    assert!(a.sdp.contains("c=IN IP4 192.0.2.100\r\n"));
    let m = a.media;
    assert_eq!(m.send_codec.codec, Codec::Pcmu);
    assert_eq!(m.send_codec.payload_type, 0);
    assert_eq!(m.remote_rtp, sock("10.0.0.20:6000"));
    assert_eq!(m.remote_rtcp, sock("10.0.0.20:6001"));
    assert_eq!(m.direction, Direction::SendRecv);
    assert_eq!(m.telephone_event, None);
    assert_eq!(m.ptime_ms, 20);
}

#[test]
fn sipp_pcma_offer_gets_pcma_and_dtmf() {
    let a = answer(&fixture("sipp-uac-pcma-offer.sdp"), &local()).expect("answerable");
    assert_eq!(audio_mline(&a.sdp), "m=audio 40000 RTP/AVP 8 101");
    assert!(a.sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"));
    assert_eq!(a.media.send_codec.codec, Codec::Pcma);
    assert_eq!(a.media.send_codec.payload_type, 8);
    let te = a.media.telephone_event.expect("telephone-event agreed");
    assert_eq!((te.payload_type, te.clock_rate), (101, 8000));
}

#[test]
fn baresip_offer_follows_its_order_with_its_numbers() {
    let a = answer(&fixture("baresip-1.0-offer.sdp"), &local()).expect("answerable");
    // The offer's preference (Opus, PCMU, PCMA) among what we accept, even
    // though ours is PCMU first; the offerer's numbers (Opus is 96 there).
    assert_eq!(audio_mline(&a.sdp), "m=audio 40000 RTP/AVP 96 0 8 101");
    assert!(a.sdp.contains("a=rtpmap:96 opus/48000/2\r\n"));
    assert!(a.sdp.contains("a=fmtp:96 useinbandfec=1\r\n"));
    let m = a.media;
    assert_eq!(
        (m.send_codec.codec, m.send_codec.payload_type),
        (Codec::Opus, 96)
    );
    assert_eq!(m.remote_rtp, sock("192.168.1.50:10060"));
    assert_eq!(m.remote_rtcp, sock("192.168.1.50:10061"));
    assert_eq!(m.telephone_event.map(|t| t.payload_type), Some(101));
    // `codec_priority = "local"`: our order, as before.
    let a = answer(
        &fixture("baresip-1.0-offer.sdp"),
        &local().with_local_order(true),
    )
    .expect("answerable");
    assert_eq!(audio_mline(&a.sdp), "m=audio 40000 RTP/AVP 0 8 96 101");
    assert_eq!(
        (a.media.send_codec.codec, a.media.send_codec.payload_type),
        (Codec::Pcmu, 0)
    );
    assert_eq!(a.media.telephone_event.map(|t| t.payload_type), Some(101));
}

/// Opus first with our usual telephone-event formats: how `agentphone --codec opus`
/// offers and answers.
fn opus_first() -> LocalMedia {
    let mut l = local();
    l.codecs = vec![
        PayloadFormat::opus(111),
        PayloadFormat::pcmu(),
        PayloadFormat::pcma(),
        PayloadFormat::telephone_event(101, 8000),
        PayloadFormat::telephone_event(110, 48000),
    ];
    l
}

/// baresip with only Opus offers telephone-event at 8 kHz alone: the answer
/// keeps it (no event format matches Opus's 48 kHz), or DTMF would be lost.
#[test]
fn captured_baresip_opus_only_offer_keeps_its_8k_telephone_event() {
    let offer = fixture("baresip-1.0-captured-opus-only-offer.sdp");
    let a = answer(&offer, &opus_first()).expect("answerable");
    assert_eq!(audio_mline(&a.sdp), "m=audio 40000 RTP/AVP 96 101");
    assert!(
        a.sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"),
        "{}",
        a.sdp
    );
    assert_eq!(
        a.media
            .telephone_event
            .map(|t| (t.payload_type, t.clock_rate)),
        Some((101, 8000))
    );
}

#[test]
fn captured_baresip_offer_is_answered_with_its_opus() {
    let offer = fixture("baresip-1.0-captured-offer.sdp");
    let a = answer(&offer, &local()).expect("answerable");
    assert_eq!(audio_mline(&a.sdp), "m=audio 40000 RTP/AVP 96 0 8 101");
    assert_eq!(a.media.send_codec.codec, Codec::Opus);
    assert_eq!(a.media.remote_rtp, sock("127.0.0.1:25070"));
    // No a=rtcp in baresip's offer: RTCP is on the next port (RFC 3550 §11).
    assert_eq!(a.media.remote_rtcp, sock("127.0.0.1:25071"));
    let pcmu_first = local().with_local_order(true);
    let a = answer(&offer, &pcmu_first).expect("answerable");
    assert_eq!(audio_mline(&a.sdp), "m=audio 40000 RTP/AVP 0 8 96 101");
    assert_eq!(a.media.send_codec.codec, Codec::Pcmu);
    let a = answer(&offer, &opus_first().with_local_order(true)).expect("answerable");
    let m = a.media;
    assert_eq!(
        (m.send_codec.codec, m.send_codec.payload_type),
        (Codec::Opus, 96)
    );
    assert_eq!(m.remote_fmtp.as_deref(), Some("stereo=1;sprop-stereo=1"));
    assert!(!m.remote_inband_fec);
    assert_eq!(m.ptime_ms, 20);
    // baresip offers telephone-event only at 8 kHz, even beside Opus. RFC 4733
    // §2.1 would have events at the audio's clock; taking the 8 kHz one keeps
    // DTMF working with it (tests/baresip.rs sends and receives digits).
    assert_eq!(
        m.telephone_event.map(|t| (t.payload_type, t.clock_rate)),
        Some((101, 8000))
    );
}

#[test]
fn captured_baresip_answer_to_our_opus_offer_gives_opus() {
    let m = process_answer(
        &fixture("agentphone-opus-offer-to-baresip.sdp"),
        &fixture("baresip-1.0-captured-answer.sdp"),
    )
    .expect("answer matches offer");
    assert_eq!(
        (m.send_codec.codec, m.send_codec.payload_type),
        (Codec::Opus, 111)
    );
    assert_eq!(m.remote_rtp, sock("127.0.0.1:25070"));
    assert_eq!(m.remote_rtcp, sock("127.0.0.1:25071"));
    assert_eq!(m.direction, Direction::SendRecv);
    assert_eq!(m.ptime_ms, 20);
    // baresip kept only our 8 kHz telephone-event: used beside Opus all the
    // same, as baresip itself does.
    assert_eq!(
        m.telephone_event.map(|t| (t.payload_type, t.clock_rate)),
        Some((101, 8000))
    );
}

#[test]
fn linphone_ipv6_offer_rejects_video_and_keeps_mline_count() {
    let a = answer(&fixture("linphone-offer-ipv6-video.sdp"), &local()).expect("answerable");
    let mlines: Vec<&str> = a.sdp.lines().filter(|l| l.starts_with("m=")).collect();
    // Linphone's order (Opus first; speex and G.729 we skip), our events.
    assert_eq!(
        mlines,
        vec![
            "m=audio 40000 RTP/AVP 96 0 8 100 101",
            "m=video 0 RTP/AVP 96"
        ]
    );
    let m = a.media;
    assert_eq!(m.remote_rtp, sock("[2001:db8::20]:7078"));
    assert_eq!(m.remote_rtcp, sock("[2001:db8::20]:7079"));
    assert_eq!(m.send_codec.codec, Codec::Opus);
    // telephone-event at Opus's clock, Linphone's 48 kHz one.
    assert_eq!(
        m.telephone_event.map(|t| (t.payload_type, t.clock_rate)),
        Some((101, 48000))
    );
    // Our order instead: PCMU, with the events at its clock, not 48 kHz.
    let a = answer(
        &fixture("linphone-offer-ipv6-video.sdp"),
        &local().with_local_order(true),
    )
    .expect("answerable");
    assert_eq!(audio_mline(&a.sdp), "m=audio 40000 RTP/AVP 0 8 96 100 101");
    assert_eq!(a.media.send_codec.codec, Codec::Pcmu);
    assert_eq!(
        a.media
            .telephone_event
            .map(|t| (t.payload_type, t.clock_rate)),
        Some((100, 8000))
    );
}

#[test]
fn opus_preferred_picks_linphone_opus_with_its_fec_and_48k_events() {
    let mut l = local();
    l.codecs = vec![
        PayloadFormat::opus(111),
        PayloadFormat::pcmu(),
        PayloadFormat::telephone_event(110, 48000),
        PayloadFormat::telephone_event(101, 8000),
    ];
    let a = answer(&fixture("linphone-offer-ipv6-video.sdp"), &l).expect("answerable");
    let m = a.media;
    assert_eq!(
        (m.send_codec.codec, m.send_codec.payload_type),
        (Codec::Opus, 96)
    );
    assert!(m.remote_inband_fec);
    assert_eq!(m.remote_fmtp.as_deref(), Some("useinbandfec=1"));
    assert_eq!(
        m.telephone_event.map(|t| (t.payload_type, t.clock_rate)),
        Some((101, 48000))
    );
}

#[test]
fn asterisk_hold_is_answered_recvonly() {
    let a = answer(&fixture("asterisk-hold-sendonly-offer.sdp"), &local()).expect("answerable");
    assert!(a.sdp.contains("a=recvonly\r\n"));
    assert_eq!(a.media.direction, Direction::RecvOnly);
    assert_eq!(a.media.remote_direction, Direction::SendOnly);
    // Asterisk lists PCMA first: its preference wins over ours (PCMU first).
    assert_eq!(audio_mline(&a.sdp), "m=audio 40000 RTP/AVP 8 0 101");
    assert_eq!(a.media.send_codec.codec, Codec::Pcma);
    assert_eq!(a.media.remote_rtp, sock("203.0.113.10:14302"));
    let a = answer(
        &fixture("asterisk-hold-sendonly-offer.sdp"),
        &local().with_local_order(true),
    )
    .expect("answerable");
    assert_eq!(audio_mline(&a.sdp), "m=audio 40000 RTP/AVP 0 8 101");
    assert_eq!(a.media.send_codec.codec, Codec::Pcmu);
}

#[test]
fn asterisk_g729_only_offer_has_no_common_codec() {
    let err = answer(&fixture("asterisk-g729-only-offer.sdp"), &local()).unwrap_err();
    assert!(
        matches!(err, OfferAnswerError::NoCommonCodec { .. }),
        "{err:?}"
    );
}

#[test]
fn quirky_gateway_offer_is_accepted_leniently() {
    let a = answer(&fixture("quirky-gateway-offer.sdp"), &local()).expect("lenient answer");
    let mlines: Vec<&str> = a.sdp.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(
        mlines,
        vec!["m=audio 40000 RTP/AVP 0", "m=message 0 TCP/MSRP *"]
    );
    // Media-level c= beats session-level; the peer's ptime is obeyed.
    assert_eq!(a.media.remote_rtp, sock("192.0.2.34:30000"));
    assert_eq!(a.media.ptime_ms, 30);
}

#[test]
fn every_fixture_and_every_answer_parses_strictly_where_we_wrote_it() {
    for name in [
        "sipp-uac-default-offer.sdp",
        "sipp-uac-pcma-offer.sdp",
        "baresip-1.0-offer.sdp",
        "baresip-1.0-captured-offer.sdp",
        "linphone-offer-ipv6-video.sdp",
        "asterisk-hold-sendonly-offer.sdp",
        // Not quirky-gateway: its answer echoes `TCP/MSRP` as RFC 3264 requires,
        // a protocol the strict crate does not know.
    ] {
        let a = answer(&fixture(name), &local()).unwrap_or_else(|e| panic!("{name}: {e}"));
        // What we write must satisfy the strict parser (other peers may be strict too).
        ::sdp::description::session::SessionDescription::unmarshal(&mut Cursor::new(
            a.sdp.as_bytes(),
        ))
        .unwrap_or_else(|e| panic!("our answer to {name} is not strict SDP: {e}\n{}", a.sdp));
    }
}

#[test]
fn offer_then_answer_round_trip() {
    let origin = Origin {
        username: "-".into(),
        session_id: 42,
        version: 42,
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)),
    };
    let offer = create_offer(&local(), &origin);
    assert!(offer.starts_with("v=0\r\no=- 42 42 IN IP4 192.0.2.100\r\n"));
    assert!(offer.contains("m=audio 40000 RTP/AVP 0 8 111 63 101 110 13\r\n"));
    assert!(offer.contains("a=rtpmap:13 CN/8000\r\n"));
    assert!(offer.contains("a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n"));
    // The peer (PCMA only, RTCP elsewhere) answers.
    let peer_answer = "v=0\r\no=peer 1 1 IN IP4 198.51.100.9\r\ns=-\r\nc=IN IP4 198.51.100.9\r\n\
                       t=0 0\r\nm=audio 5004 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n\
                       a=rtcp:6000 IN IP4 198.51.100.10\r\na=ptime:40\r\n";
    let m = process_answer(&offer, peer_answer).expect("answer matches offer");
    assert_eq!(
        (m.send_codec.codec, m.send_codec.payload_type),
        (Codec::Pcma, 8)
    );
    assert_eq!(m.remote_rtp, sock("198.51.100.9:5004"));
    assert_eq!(m.remote_rtcp, sock("198.51.100.10:6000"));
    assert_eq!(m.ptime_ms, 40);
    assert_eq!(m.telephone_event.map(|t| t.payload_type), Some(101));
    assert_eq!(m.red, None);
    let rejected = "v=0\r\no=peer 1 1 IN IP4 198.51.100.9\r\ns=-\r\nc=IN IP4 198.51.100.9\r\n\
                    t=0 0\r\nm=audio 0 RTP/AVP 0\r\n";
    assert!(matches!(
        process_answer(&offer, rejected),
        Err(OfferAnswerError::NoCommonCodec { .. })
    ));
}

#[test]
fn session_version_changes_only_with_the_body() {
    let origin = Origin {
        username: "-".into(),
        session_id: 7,
        version: 100,
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)),
    };
    let mut s = SdpSession::with_origin(origin, local());
    let first = s.offer();
    assert!(first.contains("o=- 7 100 ") && first.contains("a=sendrecv"));
    assert!(
        s.re_offer().contains("o=- 7 100 "),
        "unchanged body keeps the version"
    );
    let hold = s.hold();
    assert!(hold.contains("o=- 7 101 ") && hold.contains("a=sendonly\r\n"));
    assert!(
        s.hold().contains("o=- 7 101 "),
        "repeated hold is the same body"
    );
    let resume = s.resume();
    assert!(resume.contains("o=- 7 102 ") && resume.contains("a=sendrecv\r\n"));
}

#[test]
fn hold_while_the_peer_holds_is_inactive() {
    let mut s = SdpSession::new(local());
    let a = s
        .answer(&fixture("asterisk-hold-sendonly-offer.sdp"))
        .expect("answerable");
    assert!(a.sdp.contains("a=recvonly\r\n"));
    assert_eq!(s.remote_direction(), Direction::SendOnly);
    assert!(s.hold().contains("a=inactive\r\n"));
}

#[test]
fn zero_address_hold_is_understood() {
    let offer = "v=0\r\no=old 1 2 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
                 m=audio 9000 RTP/AVP 0\r\n";
    let a = answer(offer, &local()).expect("answerable");
    assert!(a.media.remote_zero_addr);
    assert_eq!(a.media.direction, Direction::RecvOnly);
}

/// RFC 3389 comfort noise: answered only when offered, and only beside an
/// 8 kHz codec we take; a peer answering it to our offer keeps it.
#[test]
fn comfort_noise_is_answered_only_when_offered() {
    let offer = |formats: &str, maps: &str| {
        format!(
            "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\n\
             t=0 0\r\nm=audio 5004 RTP/AVP {formats}\r\n{maps}"
        )
    };
    let mline = |sdp: &str| {
        sdp.lines()
            .find(|l| l.starts_with("m=audio"))
            .map(str::to_owned)
            .unwrap()
    };
    // A PBX-style offer with CN on its static number (no rtpmap needed).
    let a = answer(
        &offer("0 8 101 13", "a=rtpmap:101 telephone-event/8000\r\n"),
        &local(),
    )
    .unwrap();
    assert_eq!(mline(&a.sdp), "m=audio 40000 RTP/AVP 0 8 101 13");
    assert!(a.sdp.contains("a=rtpmap:13 CN/8000\r\n"));
    assert!(a
        .media
        .accepted
        .iter()
        .any(|f| f.codec == Codec::ComfortNoise));
    // Never the codec we send with, never the telephone-event one.
    assert_eq!(a.media.send_codec.codec, Codec::Pcmu);
    assert_eq!(a.media.telephone_event.map(|t| t.payload_type), Some(101));
    // CN on a dynamic number is kept under the offer's number.
    let a = answer(&offer("8 98", "a=rtpmap:98 CN/8000\r\n"), &local()).unwrap();
    assert_eq!(mline(&a.sdp), "m=audio 40000 RTP/AVP 8 98");
    // Not offered: not answered (baresip 1.0 offers none).
    let a = answer(&fixture("baresip-1.0-offer.sdp"), &local()).unwrap();
    assert!(!a.sdp.contains("CN/8000"), "{}", a.sdp);
    // Offered beside Opus only: CN/8000 goes with no codec we take.
    let a = answer(&offer("111 13", "a=rtpmap:111 opus/48000/2\r\n"), &local()).unwrap();
    assert_eq!(mline(&a.sdp), "m=audio 40000 RTP/AVP 111");
    // CN alone is nothing in common.
    assert!(matches!(
        answer(&offer("13", ""), &local()),
        Err(OfferAnswerError::NoCommonCodec { .. })
    ));
    // Our offer has it; a peer answering it keeps it in the accepted set.
    let origin = Origin {
        username: "-".into(),
        session_id: 1,
        version: 1,
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)),
    };
    let ours = create_offer(&local(), &origin);
    let m = process_answer(&ours, &offer("0 13", "")).unwrap();
    assert_eq!(m.send_codec.codec, Codec::Pcmu);
    assert!(m.accepted.iter().any(|f| f.codec == Codec::ComfortNoise));
}
