//! Answering an offer (RFC 3264 §6) and reading the answer to ours (§7).

use std::net::{IpAddr, SocketAddr};

use super::crypto::{self, CryptoAttribute};
use super::format::{parse_rtpmap, static_format};
use super::parse::{parse, parse_addr, RemoteMedia, RemoteSdp};
use super::render::{render_body, render_full, MLine};
use super::{
    Answer, Direction, LocalMedia, NegotiatedMedia, OfferAnswerError, Origin, PayloadFormat,
};
use crate::srtp::{SrtpKey, SrtpKeys, SrtpPolicy};

/// Answers `remote_offer` with what `local` supports.
///
/// The first RTP audio stream that shares a codec with us (and, per
/// [`LocalMedia::srtp`], an SDES crypto suite or none) is accepted; every
/// other m-line is echoed with port 0 so the m-line count matches the offer. The
/// offer's order decides the order of the answer's audio formats, hence the codec
/// both sides send (PJSIP's and baresip's default), unless
/// [`LocalMedia::prefer_local_order`] asks for ours; the offerer's payload type
/// numbers are kept.
pub fn answer(remote_offer: &str, local: &LocalMedia) -> Result<Answer, OfferAnswerError> {
    let (mlines, media) = negotiate_offer(remote_offer, local)?;
    let sdp = render_full(&Origin::new(local.addr), &render_body(local.addr, &mlines));
    Ok(Answer { sdp, media })
}

/// Works out the answer's m-lines and the agreed media for an offer.
pub(crate) fn negotiate_offer(
    remote_offer: &str,
    local: &LocalMedia,
) -> Result<(Vec<MLine>, NegotiatedMedia), OfferAnswerError> {
    let remote = parse(remote_offer)?;
    let mut mlines = Vec::with_capacity(remote.media.len());
    let mut agreed = None;
    let mut seen_audio = None;
    let mut srtp_refusal = None;
    for m in &remote.media {
        if agreed.is_none() && m.is_rtp_audio() && m.port != 0 {
            match srtp_for_offer(m, local) {
                Ok(srtp) => {
                    seen_audio = Some(m.formats.join(" "));
                    if let Some(accepted) = accept_stream(&remote, m, local, srtp)? {
                        mlines.push(accepted.0);
                        agreed = Some(accepted.1);
                        continue;
                    }
                }
                Err(refusal) => srtp_refusal = srtp_refusal.or(Some(refusal)),
            }
        }
        mlines.push(MLine::Rejected {
            media: m.media.clone(),
            proto: m.proto.clone(),
            formats: m.formats.clone(),
        });
    }
    match (agreed, seen_audio, srtp_refusal) {
        (Some(media), _, _) => Ok((mlines, media)),
        (None, Some(offered), _) => Err(OfferAnswerError::NoCommonCodec { offered }),
        (None, None, Some(refusal)) => Err(refusal),
        (None, None, None) => Err(OfferAnswerError::NoAudioStream),
    }
}

/// Our m-line and the agreed media for an offered stream, or None when no
/// codec is in common.
fn accept_stream(
    remote: &RemoteSdp,
    m: &RemoteMedia,
    local: &LocalMedia,
    srtp: Option<(CryptoAttribute, SrtpKey)>,
) -> Result<Option<(MLine, NegotiatedMedia)>, OfferAnswerError> {
    let offered = remote_formats(m);
    let chosen = choose_formats(&offered, local);
    if !chosen.iter().any(|f| f.codec.is_audio()) {
        return Ok(None);
    }
    let accepted = to_remote_numbering(&chosen, &offered);
    let mut media = negotiated(remote, m, accepted, local.ptime_ms, local.direction)?;
    let crypto = match srtp {
        Some((theirs, ours)) => {
            media.srtp = Some(SrtpKeys {
                suite: theirs.suite,
                local: ours.clone(),
                remote: theirs.key,
            });
            vec![(theirs.tag, ours)]
        }
        None => Vec::new(),
    };
    let line = MLine::Audio {
        port: local.rtp_port,
        formats: chosen,
        ptime_ms: local.ptime_ms,
        direction: media.direction,
        // The answer keeps the offer's profile (RFC 3264 §6).
        proto: m.proto.clone(),
        crypto,
    };
    Ok(Some((line, media)))
}

/// What SRTP an offered stream gets from us: the peer's `a=crypto` line we
/// take with our key for it, None for plain RTP, or why we refuse the stream.
fn srtp_for_offer(
    m: &RemoteMedia,
    local: &LocalMedia,
) -> Result<Option<(CryptoAttribute, SrtpKey)>, OfferAnswerError> {
    let picked = match local.srtp {
        SrtpPolicy::Off => None,
        _ => crypto::pick(m.attributes_named("crypto"), &local.crypto),
    };
    match (local.srtp, m.is_savp(), picked) {
        (SrtpPolicy::Off, true, _) => Err(OfferAnswerError::SrtpNotEnabled),
        (_, true, None) => Err(OfferAnswerError::NoCommonCryptoSuite {
            offered: offered_suites(m),
        }),
        (SrtpPolicy::Mandatory, false, None) => Err(OfferAnswerError::SrtpRequired(format!(
            "the offer is plain RTP ({} without a usable a=crypto; offered suites: {})",
            m.proto,
            offered_suites(m)
        ))),
        (_, _, picked) => Ok(picked),
    }
}

/// The suite names of an m-line's `a=crypto` lines, for messages.
fn offered_suites(m: &RemoteMedia) -> String {
    let names: Vec<&str> = m
        .attributes_named("crypto")
        .filter_map(|v| v.split_whitespace().nth(1))
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Reads the peer's answer to our `offer`.
pub fn process_answer(offer: &str, answer: &str) -> Result<NegotiatedMedia, OfferAnswerError> {
    let ours = parse(offer)?;
    let theirs = parse(answer)?;
    if ours.media.len() != theirs.media.len() {
        return Err(OfferAnswerError::AnswerMismatch(format!(
            "{} m-lines offered, {} answered",
            ours.media.len(),
            theirs.media.len()
        )));
    }
    let (index, our_m) = ours
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.is_rtp_audio() && m.port != 0)
        .ok_or(OfferAnswerError::NoAudioStream)?;
    let their_m = &theirs.media[index];
    let answered = remote_formats(their_m);
    if their_m.port == 0 || !their_m.is_rtp_audio() {
        if our_m.is_savp() {
            return Err(OfferAnswerError::SrtpRequired(
                "the peer refused our RTP/SAVP stream (it does not take SRTP)".into(),
            ));
        }
        return Err(OfferAnswerError::NoCommonCodec {
            offered: our_m.formats.join(" "),
        });
    }
    let srtp = srtp_of_answer(our_m, their_m)?;
    let offered = remote_formats(our_m);
    let accepted: Vec<PayloadFormat> = answered
        .into_iter()
        .filter(|a| offered.iter().any(|o| o.same_format(a)))
        .collect();
    if !accepted.iter().any(|f| f.codec.is_audio()) {
        return Err(OfferAnswerError::NoCommonCodec {
            offered: our_m.formats.join(" "),
        });
    }
    let our_ptime = ptime(our_m).unwrap_or(20);
    let our_dir = stream_direction(&ours, our_m);
    let mut media = negotiated(&theirs, their_m, accepted, our_ptime, our_dir)?;
    media.srtp = srtp;
    Ok(media)
}

/// The keys an answer agreed to: its `a=crypto` line must echo one of our
/// tags with the same suite (RFC 4568 §7.1.3). No line means plain RTP, which
/// an RTP/SAVP offer does not allow.
fn srtp_of_answer(
    our_m: &RemoteMedia,
    their_m: &RemoteMedia,
) -> Result<Option<SrtpKeys>, OfferAnswerError> {
    let mut lines = their_m.attributes_named("crypto").peekable();
    if lines.peek().is_none() {
        if our_m.is_savp() {
            return Err(OfferAnswerError::SrtpRequired(
                "the answer carries no a=crypto (plain RTP)".into(),
            ));
        }
        return Ok(None);
    }
    let ours: Vec<CryptoAttribute> = our_m
        .attributes_named("crypto")
        .filter_map(|l| crypto::parse_crypto(l).ok())
        .collect();
    for line in lines {
        let theirs = match crypto::parse_crypto(line) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("answer's a=crypto skipped: {e}");
                continue;
            }
        };
        if let Some(mine) = ours
            .iter()
            .find(|o| o.tag == theirs.tag && o.suite == theirs.suite)
        {
            return Ok(Some(SrtpKeys {
                suite: theirs.suite,
                local: mine.key.clone(),
                remote: theirs.key,
            }));
        }
    }
    Err(OfferAnswerError::AnswerMismatch(format!(
        "the answer's a=crypto matches none we offered (answered: {})",
        offered_suites(their_m)
    )))
}

/// Builds the agreed media from the peer's m-line; `local_dir` is what we want.
fn negotiated(
    remote: &RemoteSdp,
    m: &RemoteMedia,
    accepted: Vec<PayloadFormat>,
    default_ptime: u32,
    local_dir: Direction,
) -> Result<NegotiatedMedia, OfferAnswerError> {
    let addr_text = m
        .addr
        .as_deref()
        .or(remote.session_addr.as_deref())
        .ok_or(OfferAnswerError::MissingConnection)?;
    let ip = parse_addr(addr_text)?;
    let zero = ip.is_unspecified();
    // `c=0.0.0.0` is RFC 2543 hold: the peer does not want to receive.
    let written = stream_direction(remote, m);
    let remote_direction = if zero {
        written.intersect(Direction::SendOnly)
    } else {
        written
    };
    let remote_rtp = SocketAddr::new(ip, m.port);
    let remote_rtcp = rtcp_addr(m, ip)?;
    let send_codec = accepted
        .iter()
        .find(|f| f.codec.is_audio())
        .cloned()
        .ok_or_else(|| OfferAnswerError::NoCommonCodec {
            offered: m.formats.join(" "),
        })?;
    // RFC 4733 §2.1 wants events at the audio codec's rate, but baresip 1.0
    // (and older PBXs) offer only telephone-event/8000 beside Opus: take it
    // rather than lose DTMF (the events then follow the audio clock, as
    // those peers' own do).
    let events = || {
        accepted
            .iter()
            .filter(|f| f.codec == super::Codec::TelephoneEvent)
    };
    let telephone_event = events()
        .find(|f| f.clock_rate == send_codec.clock_rate)
        .or_else(|| events().next())
        .cloned();
    // Redundancy for the Opus we send, when the peer listed `red` for it.
    let red = accepted
        .iter()
        .find(|f| send_codec.codec == super::Codec::Opus && f.red_carries(send_codec.payload_type))
        .map(|f| f.payload_type);
    Ok(NegotiatedMedia {
        red,
        remote_rtp,
        remote_rtcp,
        remote_fmtp: send_codec.fmtp.clone(),
        remote_inband_fec: send_codec.inband_fec(),
        send_codec,
        telephone_event,
        accepted,
        ptime_ms: ptime(m).unwrap_or(default_ptime),
        direction: remote_direction.reversed().intersect(local_dir),
        remote_direction,
        remote_zero_addr: zero,
        srtp: None,
    })
}

/// RTCP address: `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605), else RTP port + 1.
fn rtcp_addr(m: &RemoteMedia, rtp_ip: IpAddr) -> Result<SocketAddr, OfferAnswerError> {
    let Some(value) = m.attribute("rtcp") else {
        return Ok(SocketAddr::new(rtp_ip, m.port.saturating_add(1)));
    };
    let mut f = value.split_whitespace();
    let port: u16 = f
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| OfferAnswerError::Malformed(format!("a=rtcp:{value}")))?;
    let ip = match (f.next(), f.next(), f.next()) {
        (Some(_net), Some(_addr_type), Some(addr)) => parse_addr(addr)?,
        _ => rtp_ip,
    };
    Ok(SocketAddr::new(ip, port))
}

fn ptime(m: &RemoteMedia) -> Option<u32> {
    let v: f64 = m.attribute("ptime")?.trim().parse().ok()?;
    // Anything outside what a G.711/Opus packetiser can do is ignored, not obeyed.
    (10.0..=120.0).contains(&v).then(|| v.round() as u32)
}

/// Media-level direction, else session-level, else sendrecv (RFC 3264 §5.1).
fn stream_direction(remote: &RemoteSdp, m: &RemoteMedia) -> Direction {
    m.direction()
        .or(remote.session_direction)
        .unwrap_or_default()
}

/// The formats of an m-line that we recognise, with the peer's numbers and fmtp.
fn remote_formats(m: &RemoteMedia) -> Vec<PayloadFormat> {
    let mut out = Vec::new();
    for fmt in &m.formats {
        let Ok(pt) = fmt.parse::<u8>() else { continue };
        if pt > 127 {
            continue;
        }
        let prefix = |v: &str| -> Option<String> {
            let (p, rest) = v.trim_start().split_once(char::is_whitespace)?;
            (p.parse::<u8>().ok() == Some(pt)).then(|| rest.trim().to_owned())
        };
        let rtpmap = m.attributes_named("rtpmap").find_map(prefix);
        let format = match rtpmap {
            Some(map) => parse_rtpmap(pt, &map),
            // Static payload types need no rtpmap (RFC 3551 §6).
            None => static_format(pt),
        };
        if let Some(mut f) = format {
            f.fmtp = m.attributes_named("fmtp").find_map(prefix);
            out.push(f);
        }
    }
    out
}

/// Our formats that the offer also has, numbered like the offer: audio in the
/// offer's order (or ours with `prefer_local_order`), then telephone-event.
fn choose_formats(offered: &[PayloadFormat], local: &LocalMedia) -> Vec<PayloadFormat> {
    let ours_audio = || local.codecs.iter().filter(|f| f.codec.is_audio());
    // (our format, the offer's entry for it), in the order that decides.
    let pairs: Vec<(&PayloadFormat, &PayloadFormat)> = if local.prefer_local_order {
        ours_audio()
            .filter_map(|ours| Some((ours, offered.iter().find(|o| o.same_format(ours))?)))
            .collect()
    } else {
        offered
            .iter()
            .filter(|o| o.codec.is_audio())
            .filter_map(|o| Some((ours_audio().find(|ours| ours.same_format(o))?, o)))
            .collect()
    };
    let mut chosen: Vec<PayloadFormat> = Vec::new();
    for (ours, o) in pairs {
        // One entry per format (an offer may list a codec twice) and per number.
        let taken = chosen
            .iter()
            .any(|c| c.payload_type == o.payload_type || c.same_format(ours));
        if !taken {
            chosen.push(PayloadFormat {
                payload_type: o.payload_type,
                ..ours.clone()
            });
        }
    }
    // Events at a clock rate of an accepted audio codec (RFC 4733 §2.1 shares the
    // audio stream's clock); failing that, at the rate offered: baresip 1.0 and
    // older PBXs offer only telephone-event/8000 even beside Opus, and refusing
    // it would leave the call without DTMF.
    let audio_rates: Vec<u32> = chosen.iter().map(|c| c.clock_rate).collect();
    let events: Vec<PayloadFormat> = local
        .codecs
        .iter()
        .filter(|f| f.codec == super::Codec::TelephoneEvent)
        .filter_map(|ours| {
            let o = offered.iter().find(|o| o.same_format(ours))?;
            Some(PayloadFormat {
                payload_type: o.payload_type,
                ..ours.clone()
            })
        })
        .collect();
    let at_audio_rate = |e: &&PayloadFormat| audio_rates.contains(&e.clock_rate);
    let matching: Vec<&PayloadFormat> = events.iter().filter(at_audio_rate).collect();
    let take = if matching.is_empty() {
        events.iter().take(1).collect()
    } else {
        matching
    };
    for e in take {
        push_unnumbered(&mut chosen, e.clone());
    }
    // Comfort noise only when the offer has it (RFC 3264: an answer lists
    // only what was offered) and beside an accepted codec at its clock rate.
    let noise = local
        .codecs
        .iter()
        .filter(|f| f.codec == super::Codec::ComfortNoise)
        .filter_map(|ours| {
            let o = offered.iter().find(|o| o.same_format(ours))?;
            audio_rates.contains(&o.clock_rate).then(|| PayloadFormat {
                payload_type: o.payload_type,
                ..ours.clone()
            })
        });
    for n in noise.collect::<Vec<_>>() {
        push_unnumbered(&mut chosen, n);
    }
    // RFC 2198 redundancy when the offer has it and we take its Opus: our
    // fmtp names the offer's Opus number.
    let opus = chosen.iter().find(|c| c.codec == super::Codec::Opus);
    let red = local
        .codecs
        .iter()
        .filter(|f| f.codec == super::Codec::Red)
        .find_map(|ours| {
            let o = offered.iter().find(|o| o.same_format(ours))?;
            let opus = opus?.payload_type;
            o.red_carries(opus)
                .then(|| PayloadFormat::red(o.payload_type, opus))
        });
    if let Some(red) = red {
        push_unnumbered(&mut chosen, red);
    }
    chosen
}

/// Adds `f` unless its payload type number is already taken (an offer may
/// reuse a number; the first format keeps it).
fn push_unnumbered(chosen: &mut Vec<PayloadFormat>, f: PayloadFormat) {
    if !chosen.iter().any(|c| c.payload_type == f.payload_type) {
        chosen.push(f);
    }
}

/// The offer's own entries (with the offerer's fmtp) for the chosen formats.
fn to_remote_numbering(chosen: &[PayloadFormat], offered: &[PayloadFormat]) -> Vec<PayloadFormat> {
    chosen
        .iter()
        .filter_map(|c| {
            offered
                .iter()
                .find(|o| o.payload_type == c.payload_type)
                .cloned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offer_answer::Codec;
    use std::net::Ipv4Addr;

    /// Our default local media: PCMU, PCMA, Opus, telephone-event 8 and 48 kHz.
    fn local() -> LocalMedia {
        LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)), 40000)
    }

    /// An offer with `formats` on its m-line and the given rtpmap lines.
    fn offer(formats: &str, rtpmaps: &[&str]) -> String {
        let mut s = format!(
            "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\n\
             t=0 0\r\nm=audio 5004 RTP/AVP {formats}\r\n"
        );
        for r in rtpmaps {
            s.push_str(&format!("a=rtpmap:{r}\r\n"));
        }
        s
    }

    fn mline(sdp: &str) -> &str {
        sdp.lines().find(|l| l.starts_with("m=audio")).unwrap()
    }

    fn sent(a: &Answer) -> (Codec, u8) {
        (a.media.send_codec.codec, a.media.send_codec.payload_type)
    }

    /// What `agentphone call --codec opus` offers.
    fn opus_first_offer() -> String {
        offer(
            "111 0 8 101 110",
            &[
                "111 opus/48000/2",
                "0 PCMU/8000",
                "8 PCMA/8000",
                "101 telephone-event/8000",
                "110 telephone-event/48000",
            ],
        )
    }

    #[test]
    fn the_offers_first_accepted_codec_wins_over_our_order() {
        let a = answer(&opus_first_offer(), &local()).unwrap();
        assert_eq!(mline(&a.sdp), "m=audio 40000 RTP/AVP 111 0 8 101 110");
        assert_eq!(sent(&a), (Codec::Opus, 111));
        // Events at the audio codec's clock, as before.
        let te = a.media.telephone_event.unwrap();
        assert_eq!((te.payload_type, te.clock_rate), (110, 48_000));
        assert_eq!(a.media.accepted[0].codec, Codec::Opus);
    }

    #[test]
    fn local_order_keeps_our_preference_when_asked() {
        let ours = local().with_local_order(true);
        let a = answer(&opus_first_offer(), &ours).unwrap();
        assert_eq!(mline(&a.sdp), "m=audio 40000 RTP/AVP 0 8 111 101 110");
        assert_eq!(sent(&a), (Codec::Pcmu, 0));
        let te = a.media.telephone_event.unwrap();
        assert_eq!((te.payload_type, te.clock_rate), (101, 8_000));
        // The same through an SdpSession (initial INVITE or re-INVITE).
        let mut session = super::super::SdpSession::new(ours);
        let a = session.answer(&opus_first_offer()).unwrap();
        assert_eq!(sent(&a), (Codec::Pcmu, 0));
        let mut session = super::super::SdpSession::new(local());
        let a = session.answer(&opus_first_offer()).unwrap();
        assert_eq!(sent(&a), (Codec::Opus, 111));
    }

    #[test]
    fn codecs_we_do_not_accept_are_skipped_in_the_offers_order() {
        // G.729, G.722, speex (unknown to us), PCMA (known, but not accepted
        // here), then Opus and PCMU: Opus is the offer's first that we take.
        let text = offer(
            "18 9 97 8 96 0 101",
            &[
                "18 G729/8000",
                "9 G722/8000",
                "97 speex/16000",
                "96 opus/48000/2",
                "101 telephone-event/8000",
            ],
        );
        let ours = local().with_codecs(&[Codec::Pcmu, Codec::Opus]);
        let a = answer(&text, &ours).unwrap();
        assert_eq!(mline(&a.sdp), "m=audio 40000 RTP/AVP 96 0 101");
        assert_eq!(sent(&a), (Codec::Opus, 96));
        // The 8 kHz event beside Opus: the only one offered (baresip 1.0 style).
        let te = a.media.telephone_event.unwrap();
        assert_eq!((te.payload_type, te.clock_rate), (101, 8_000));
        // Our own fmtp on our answer's Opus, under the offerer's number.
        assert!(a.sdp.contains("a=fmtp:96 useinbandfec=1\r\n"), "{}", a.sdp);
        let a = answer(&text, &ours.with_local_order(true)).unwrap();
        assert_eq!(mline(&a.sdp), "m=audio 40000 RTP/AVP 0 96 101");
        assert_eq!(sent(&a), (Codec::Pcmu, 0));
    }

    #[test]
    fn a_codec_offered_twice_is_answered_once_with_its_first_number() {
        let text = offer(
            "8 111 96 0",
            &["111 opus/48000/2", "96 opus/48000/2", "0 PCMU/8000"],
        );
        let a = answer(&text, &local()).unwrap();
        assert_eq!(mline(&a.sdp), "m=audio 40000 RTP/AVP 8 111 0");
        assert_eq!(sent(&a), (Codec::Pcma, 8));
        let a = answer(&text, &local().with_local_order(true)).unwrap();
        assert_eq!(mline(&a.sdp), "m=audio 40000 RTP/AVP 0 8 111");
    }

    /// What a browser offers: Opus with RFC 2198 redundancy on 63.
    fn opus_red_offer(red_fmtp: &str) -> String {
        let mut text = offer(
            "111 63 0 126",
            &[
                "111 opus/48000/2",
                "63 red/48000/2",
                "0 PCMU/8000",
                "126 telephone-event/48000",
            ],
        );
        text.push_str(&format!("a=fmtp:63 {red_fmtp}\r\n"));
        text
    }

    #[test]
    fn redundancy_is_answered_and_used_when_offered_for_the_opus_we_send() {
        let a = answer(&opus_red_offer("111/111"), &local()).unwrap();
        assert_eq!(mline(&a.sdp), "m=audio 40000 RTP/AVP 111 0 126 63");
        assert!(a.sdp.contains("a=rtpmap:63 red/48000/2\r\n"), "{}", a.sdp);
        assert!(a.sdp.contains("a=fmtp:63 111/111\r\n"), "{}", a.sdp);
        assert_eq!(sent(&a), (Codec::Opus, 111));
        assert_eq!(a.media.red, Some(63));
        // Not when switched off here, nor when its blocks would be PCMU.
        let a = answer(&opus_red_offer("111/111"), &local().with_red(false)).unwrap();
        assert_eq!(
            (mline(&a.sdp), a.media.red),
            ("m=audio 40000 RTP/AVP 111 0 126", None)
        );
        let a = answer(&opus_red_offer("0/0"), &local()).unwrap();
        assert_eq!(a.media.red, None);
        assert!(!a.sdp.contains("red/"), "{}", a.sdp);
        // Nor when we send PCMU: red names the Opus.
        let a = answer(
            &opus_red_offer("111/111"),
            &local().with_codecs(&[Codec::Pcmu]),
        )
        .unwrap();
        assert_eq!((sent(&a), a.media.red), ((Codec::Pcmu, 0), None));
        // And never without an offer of it.
        let a = answer(&opus_first_offer(), &local()).unwrap();
        assert_eq!(a.media.red, None);
    }

    #[test]
    fn our_offer_has_redundancy_and_the_answer_decides_whether_we_send_it() {
        let ours = local().with_codecs(&[Codec::Opus]);
        let text = super::super::create_offer(&ours, &Origin::new(ours.addr));
        assert_eq!(mline(&text), "m=audio 40000 RTP/AVP 111 63 101 110");
        assert!(text.contains("a=fmtp:63 111/111\r\n"), "{text}");
        // A peer that answers with red (another agentphone) gets it.
        let theirs = answer(&text, &local()).unwrap();
        assert_eq!(theirs.media.red, Some(63));
        assert_eq!(process_answer(&text, &theirs.sdp).unwrap().red, Some(63));
        // One that leaves it out (baresip, PJSIP, a PBX) gets plain Opus.
        let plain = answer(&text, &local().with_red(false)).unwrap();
        assert_eq!(process_answer(&text, &plain.sdp).unwrap().red, None);
    }

    #[test]
    fn nothing_in_common_is_still_refused() {
        let text = offer("18 101", &["18 G729/8000", "101 telephone-event/8000"]);
        for ours in [local(), local().with_local_order(true)] {
            assert!(matches!(
                answer(&text, &ours),
                Err(OfferAnswerError::NoCommonCodec { .. })
            ));
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn local() -> LocalMedia {
        LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)), 40000)
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,400}") {
            let _ = answer(&text, &local());
        }

        /// SDP-shaped lines in random order and content: the lenient path's territory.
        #[test]
        fn sdp_shaped_lines_never_panic(
            lines in proptest::collection::vec(
                ("[vosctmab]", "[ -~]{0,40}"), 0..20,
            )
        ) {
            let text: String = lines.iter().map(|(k, v)| format!("{k}={v}\r\n")).collect();
            let _ = answer(&text, &local());
            let _ = process_answer(&text, &text);
        }
    }
}
