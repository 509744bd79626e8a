//! RFC 3389 comfort noise end to end. No peer installed here sends CN
//! (baresip 1.0 ships no CN module, and SIPp would need a crafted pcap), so
//! the test is the caller itself on raw sockets: it offers PCMU with CN/8000
//! to `agentphone answer`, sends a second of a tone, then one CN packet
//! (−40 dBov, low-pass) and nothing for 1.5 s (discontinuous transmission,
//! sequence numbers continuing), then the tone again. The answer must accept
//! CN; the answerer's recording must hold noise at the CN packet's level in
//! the pause (not silence, not the tone concealed), and its media report
//! must count the pause as comfort noise with no concealment and no loss.
//! The call ends the same way (a CN packet, then nothing until the BYE).
//!
//! `cargo test --test comfort_noise -- --nocapture`.

mod common;

use agentphone_media::cn::CnParams;
use agentphone_media::rtp_stream::RtpHeader;
use common::audio::{read, rms, tone_level_db, RATE};
use common::raw_call::{self, pcmu_tone, report_field, RawCall};
use common::{agentphone, ports::free_port, WorkDir};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const TONE_HZ: f64 = 440.0;
/// The CN packet's level, −dBov.
const CN_LEVEL: u8 = 40;
/// Packet times of tone before and after the pause, and of the pause.
const TALK: u32 = 50;
const PAUSE: u32 = 75;

fn rtp(marker: bool, payload_type: u8, sequence: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let header = RtpHeader {
        marker,
        payload_type,
        sequence,
        timestamp,
        ssrc: 0xc0ff_ee00,
    };
    raw_call::rtp(header, payload)
}

fn tone(n: u32) -> Vec<u8> {
    pcmu_tone(n, TONE_HZ)
}

#[test]
fn a_cn_packet_and_the_pause_after_it_are_heard_as_comfort_noise() {
    let dir = WorkDir::new("comfort_noise");
    let listen = format!("127.0.0.1:{}", free_port());
    let recordings = dir.file("recordings");
    let mut answer = agentphone::answer_one(
        &dir,
        "answer",
        &listen,
        &[
            "--codec",
            "pcmu",
            "--record-dir",
            agentphone::arg(&recordings),
        ],
        60 * SECOND,
    );
    let media_socket = UdpSocket::bind("127.0.0.1:0").expect("caller RTP socket");
    let rtp_port = media_socket.local_addr().expect("address").port();
    let call = RawCall::invite(
        &listen,
        "comfort-noise-1",
        rtp_port,
        "0 13",
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:13 CN/8000\r\n",
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", answer.report()));
    let mline = call.answer_mline();
    assert!(
        mline.split_whitespace().skip(3).any(|f| f == "13") && call.answer.contains("CN/8000"),
        "CN answered: {mline}"
    );
    let media = call.media;

    // Tone, one CN packet in the next sequence number, a pause in
    // transmission, the tone again (marker bit: a talkspurt starts), all
    // paced on the 20 ms packet clock.
    let mut cn = [0u8; 4];
    let n = CnParams::new(agentphone_media::cn::rms_of_level(CN_LEVEL), &[-0.5, 0.1])
        .write(&mut cn)
        .expect("CN payload");
    let start = Instant::now();
    let mut seq = 1000u16;
    for slot in 0..(2 * TALK + 1 + PAUSE) {
        let packet = if slot < TALK {
            Some(rtp(slot == 0, 0, seq, slot * 160, &tone(slot)))
        } else if slot == TALK {
            Some(rtp(false, 13, seq, slot * 160, &cn[..n]))
        } else if slot > TALK + PAUSE {
            Some(rtp(
                slot == TALK + PAUSE + 1,
                0,
                seq,
                slot * 160,
                &tone(slot),
            ))
        } else {
            None
        };
        if let Some(p) = packet {
            media_socket.send_to(&p, media).expect("RTP");
            seq = seq.wrapping_add(1);
        }
        let next = start + Duration::from_millis(20 * u64::from(slot + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    // The caller falls silent the DTX way before hanging up, so the call's
    // tail is comfort noise too, not a stream that stopped (concealed).
    let last = 2 * TALK + 1 + PAUSE;
    let cn_again = rtp(false, 13, seq, last * 160, &cn[..n]);
    media_socket.send_to(&cn_again, media).expect("RTP");
    std::thread::sleep(SECOND / 5);
    call.bye();
    agentphone::expect_success(&mut answer, 10 * SECOND, &[]);

    // The recording: the tone, the pause, the tone. Find the pause as the
    // longest run of 20 ms windows well below the tone, and measure its
    // middle (its edges hold the fades).
    let heard = read(&agentphone::only_recording_in(&recordings));
    let win = RATE / 50;
    let levels: Vec<f64> = heard.chunks_exact(win).map(rms).collect();
    let loud = levels.iter().copied().fold(0.0f64, f64::max);
    let mut best = (0usize, 0usize);
    let mut run_start = None;
    for (i, &l) in levels.iter().chain([loud].iter()).enumerate() {
        match (l < loud / 10.0, run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(s)) => {
                if i - s > best.1 - best.0 {
                    best = (s, i);
                }
                run_start = None;
            }
            _ => {}
        }
    }
    let (from, to) = best;
    eprintln!(
        "pause in the recording: {} ms (sent {} ms)",
        (to - from) * 20,
        PAUSE * 20 + 20
    );
    assert!(
        (to - from) as u32 >= PAUSE - 10,
        "a pause of {} ms between the tones\n{}",
        (to - from) * 20,
        answer.report()
    );
    let middle = &heard[(from + 10) * win..(to - 10) * win];
    // Recordings read back on the ±32768 scale the codecs use.
    let want = f64::from(agentphone_media::cn::rms_of_level(CN_LEVEL));
    let got = rms(middle);
    let db = 20.0 * (got / want).log10();
    let tone_left = tone_level_db(middle, RATE, TONE_HZ);
    eprintln!(
        "comfort noise: {:.1} dBFS, {db:+.1} dB from the CN packet's level; tone in it {tone_left:.1} dBFS",
        20.0 * (got / 32_768.0).log10()
    );
    assert!(
        db.abs() < 2.0,
        "the pause holds noise at the CN level: {db:+.1} dB"
    );
    assert!(
        tone_left < -45.0,
        "not the tone concealed: {tone_left:.1} dBFS"
    );

    let log = answer.output();
    let field = |key: &str| report_field(&log, key);
    let (plc, cn_frames, lost) = (field("plc_frames"), field("cn_frames"), field("lost"));
    eprintln!(
        "media report: plc_frames={plc} cn_frames={cn_frames} lost={lost} target_ms={}",
        field("target_ms")
    );
    assert_eq!(plc, 0, "no concealment for the announced pause");
    assert_eq!(lost, 0, "the CN packet is in sequence: nothing lost");
    assert!(
        cn_frames >= u64::from(PAUSE),
        "the pause played as comfort noise: {cn_frames} packet times"
    );
}

/// The other half of the work, without a network: a long loss burst in
/// real noisy speech (`fixtures/audio/speech_noisy.wav` through the PCMU
/// codec path) ends in the recording's own background noise, not silence.
#[test]
fn a_long_loss_in_noisy_speech_fills_with_its_background() {
    use agentphone_media::codec::{CodecKind, Decoder, Encoder};
    let source = read(&common::fixture("audio/speech_noisy.wav"));
    const PACKET: usize = 960;
    let mut encoder = Encoder::new(CodecKind::Pcmu, 20).expect("PCMU encoder");
    let packets: Vec<Vec<u8>> = source
        .chunks_exact(PACKET)
        .map(|pcm| {
            let mut out = [0u8; 160];
            let n = encoder.encode(pcm, &mut out).expect("encode");
            out[..n].to_vec()
        })
        .collect();
    let level = |x: &[f32]| 20.0 * (rms(x) / 32_768.0).log10();
    // 300 ms lost from the loudest stretch of speech.
    let lost = 15;
    let start = (0..packets.len() - lost)
        .max_by(|&a, &b| {
            let l = |s: usize| rms(&source[s * PACKET..(s + lost) * PACKET]);
            l(a).total_cmp(&l(b))
        })
        .expect("a start");
    let play = |lose: bool| {
        let mut decoder = Decoder::new(CodecKind::Pcmu).expect("PCMU decoder");
        let mut out = Vec::new();
        let mut pcm = vec![0.0f32; PACKET];
        for (k, p) in packets.iter().enumerate() {
            if lose && (start..start + lost).contains(&k) {
                decoder.conceal(&mut pcm).expect("conceal");
            } else {
                decoder.decode(p, &mut pcm).expect("decode");
            }
            out.extend_from_slice(&pcm);
        }
        out
    };
    let clean = play(false);
    let lossy = play(true);
    // The background: the quietest tenth of the clean output's 20 ms windows.
    let mut windows: Vec<f64> = clean.chunks_exact(PACKET).map(level).collect();
    windows.sort_by(f64::total_cmp);
    let background = windows[windows.len() / 10];
    // The gap past Appendix I's 60 ms fade (and the PLC's 3.75 ms delay).
    let gap = &lossy[(start + 4) * PACKET..(start + lost) * PACKET];
    let filled = level(gap);
    eprintln!(
        "loss of {lost} packets at {} ms: gap at {filled:.1} dBFS, background {background:.1} dBFS, speech there {:.1} dBFS",
        start * 20,
        level(&clean[start * PACKET..(start + lost) * PACKET])
    );
    assert!(
        (filled - background).abs() < 4.0,
        "the gap holds the background: {filled:.1} vs {background:.1} dBFS"
    );
}
