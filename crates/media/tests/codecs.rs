//! Codec behaviour seen from the call's audio path: 48 kHz in, payload
//! bytes on the wire, 48 kHz out, with loss.

use agentphone_media::codec::adapt::{AdaptConfig, LossAdapter};
use agentphone_media::codec::{
    CodecError, CodecKind, Decoder, Encoder, OpusEffort, FRAME_SAMPLES, MAX_PACKET_SAMPLES,
    MAX_PAYLOAD_BYTES,
};
use agentphone_media::resample::DELAY_48K;

const PI2: f64 = 2.0 * std::f64::consts::PI;

fn tone(freq: f64, len: usize, amp: f64, phase0: usize) -> Vec<f32> {
    (0..len)
        .map(|n| (amp * (PI2 * freq * (n + phase0) as f64 / 48_000.0).sin()) as f32)
        .collect()
}

/// A voice-like test signal: a 140 Hz buzz with harmonics whose pitch moves.
fn voice(len: usize) -> Vec<f32> {
    let mut phase = 0.0f64;
    (0..len)
        .map(|n| {
            let t = n as f64 / 48_000.0;
            let f0 = 140.0 + 40.0 * (PI2 * 1.3 * t).sin();
            phase += PI2 * f0 / 48_000.0;
            let v: f64 = (1..8).map(|h| (h as f64 * phase).sin() / h as f64).sum();
            (6_000.0 * v) as f32
        })
        .collect()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Encodes and decodes `pcm` packet by packet; returns the decoded stream.
fn round_trip(kind: CodecKind, ptime: u32, pcm: &[f32]) -> Vec<f32> {
    let mut enc = Encoder::new(kind, ptime).unwrap();
    let mut dec = Decoder::new(kind).unwrap();
    let mut out = Vec::new();
    let mut payload = [0u8; MAX_PAYLOAD_BYTES];
    let mut buf = vec![0.0f32; MAX_PACKET_SAMPLES];
    for chunk in pcm.chunks_exact(enc.samples_per_packet()) {
        let len = enc.encode(chunk, &mut payload).unwrap();
        let n = dec.decode(&payload[..len], &mut buf).unwrap();
        assert_eq!(n, chunk.len());
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// SNR (dB) of `out` against `input` delayed by the best lag in `lags`.
fn best_snr(input: &[f32], out: &[f32], lags: std::ops::Range<usize>, skip: usize) -> (f64, usize) {
    let mut best = (f64::MIN, 0);
    for lag in lags {
        let n = out.len() - skip;
        let sig = &input[skip - lag..skip - lag + n];
        let err: Vec<f32> = sig.iter().zip(&out[skip..]).map(|(a, b)| a - b).collect();
        let snr = 20.0 * (rms(sig) / rms(&err)).log10();
        if snr > best.0 {
            best = (snr, lag);
        }
    }
    best
}

#[test]
fn g711_round_trip_keeps_a_tone_clean() {
    // Resampler down, Appendix I delay, resampler up.
    let delay = 2 * DELAY_48K + 30 * 6;
    let input = tone(1_000.0, 48_000, 12_000.0, 0);
    for kind in [CodecKind::Pcmu, CodecKind::Pcma] {
        let out = round_trip(kind, 20, &input);
        let (snr, lag) = best_snr(&input, &out, delay - 2..delay + 3, 4_800);
        assert_eq!(lag, delay, "{kind:?}");
        // G.711 quantisation alone allows ~38 dB on a tone this loud.
        assert!(snr > 30.0, "{kind:?}: SNR {snr:.1} dB");
    }
}

#[test]
fn g711_payload_sizes_follow_ptime() {
    for (ptime, bytes) in [(10, 80), (20, 160), (30, 240), (40, 320)] {
        let mut enc = Encoder::new(CodecKind::Pcma, ptime).unwrap();
        let mut out = [0u8; MAX_PAYLOAD_BYTES];
        let pcm = vec![0.0; ptime as usize * 48];
        assert_eq!(enc.encode(&pcm, &mut out).unwrap(), bytes);
        assert!(out[..bytes].iter().all(|&b| b == 0xD5), "A-law silence");
        assert!(CodecKind::Pcma.is_silence(&out[..bytes]));
        let mut dec = Decoder::new(CodecKind::Pcma).unwrap();
        let mut pcm_out = vec![0.0; MAX_PACKET_SAMPLES];
        assert_eq!(dec.decode(&out[..bytes], &mut pcm_out).unwrap(), pcm.len());
    }
}

#[test]
fn g711_concealment_continues_then_fades() {
    let mut enc = Encoder::new(CodecKind::Pcmu, 20).unwrap();
    let mut dec = Decoder::new(CodecKind::Pcmu).unwrap();
    let input = tone(300.0, 48_000, 10_000.0, 0);
    let mut payload = [0u8; 160];
    let mut buf = [0.0f32; 960];
    for chunk in input.chunks_exact(960).take(20) {
        let len = enc
            .encode_frame(chunk.try_into().unwrap(), &mut payload)
            .unwrap();
        dec.decode(&payload[..len], &mut buf).unwrap();
    }
    let mut lost = [0.0f32; 960];
    assert_eq!(dec.conceal(&mut lost).unwrap(), 960);
    assert!(
        rms(&lost) > 5_000.0,
        "first lost packet still carries the tone"
    );
    for _ in 0..3 {
        dec.conceal(&mut lost).unwrap();
    }
    assert!(rms(&lost[480..]) < 1.0, "silent after 60 ms of loss");
    assert_eq!(
        dec.decode_fec(&payload, &mut lost).unwrap(),
        960,
        "G.711 has no FEC: conceals"
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut enc = Encoder::new(CodecKind::Pcmu, 20).unwrap();
    let mut out = [0u8; MAX_PAYLOAD_BYTES];
    assert!(matches!(
        enc.encode(&[0.0; 480], &mut out),
        Err(CodecError::FrameLength {
            expected: 960,
            got: 480
        })
    ));
    assert!(matches!(
        enc.encode(&[0.0; 960], &mut out[..100]),
        Err(CodecError::BufferTooSmall {
            needed: 160,
            got: 100
        })
    ));
    let mut dec = Decoder::new(CodecKind::Pcmu).unwrap();
    let mut pcm = [0.0f32; MAX_PACKET_SAMPLES];
    for len in [0, 7, 161, 1_040] {
        assert!(matches!(
            dec.decode(&vec![0xFF; len], &mut pcm),
            Err(CodecError::G711PayloadLength { .. })
        ));
    }
    assert!(matches!(
        dec.decode(&[0xFF; 160], &mut pcm[..100]),
        Err(CodecError::BufferTooSmall { .. })
    ));
    assert!(matches!(
        dec.conceal(&mut pcm[..100]),
        Err(CodecError::ConcealLength { got: 100 })
    ));

    let mut opus = Decoder::new(CodecKind::Opus).unwrap();
    assert!(matches!(
        opus.decode(&[], &mut pcm),
        Err(CodecError::EmptyPayload)
    ));
    // A TOC claiming code 3 with a frame count of 0 is malformed.
    assert!(opus.decode(&[0x03, 0x00], &mut pcm).is_err());
    // Code 2 whose first frame length runs past the end.
    assert!(opus.decode(&[0x02, 0xFF], &mut pcm).is_err());
    assert!(matches!(
        Encoder::new(CodecKind::Opus, 25),
        Err(CodecError::UnsupportedPtime {
            codec: "opus",
            ptime_ms: 25
        })
    ));
    assert!(Encoder::new(CodecKind::Pcmu, 15).is_err());
}

/// Normalised cross-correlation of `out` with `input` delayed by `lag`.
fn correlation(input: &[f32], out: &[f32], lag: usize, skip: usize) -> f64 {
    let pairs = input[skip - lag..].iter().zip(&out[skip..]);
    let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
    for (&x, &y) in pairs {
        let (x, y) = (f64::from(x), f64::from(y));
        xy += x * y;
        xx += x * x;
        yy += y * y;
    }
    xy / (xx * yy).sqrt()
}

#[test]
fn opus_round_trip_keeps_voice() {
    let input = voice(48_000 * 2);
    let out = round_trip(CodecKind::Opus, 20, &input);
    // A speech codec keeps level and waveform shape, not every sample.
    let level_db = 20.0 * (rms(&out[9_600..]) / rms(&input[9_600..])).log10();
    assert!(level_db.abs() < 2.0, "level changed by {level_db:.1} dB");
    let best = (0..960)
        .map(|lag| correlation(&input, &out, lag, 9_600))
        .fold(f64::MIN, f64::max);
    assert!(best > 0.7, "best correlation {best:.2}");
}

#[test]
fn opus_keeps_a_tone_at_its_frequency() {
    let input = tone(1_000.0, 48_000, 8_000.0, 0);
    let out = round_trip(CodecKind::Opus, 20, &input);
    let span = &out[9_600..];
    let at = |freq: f64| -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &v) in span.iter().enumerate() {
            let ph = PI2 * freq * n as f64 / 48_000.0;
            re += f64::from(v) * ph.cos();
            im += f64::from(v) * ph.sin();
        }
        2.0 * (re * re + im * im).sqrt() / span.len() as f64
    };
    let amp = at(1_000.0);
    assert!(
        (6_500.0..9_500.0).contains(&amp),
        "1 kHz amplitude {amp:.0}"
    );
    // What is left over is small: the tone is not smeared or shifted.
    let residual = (rms(span).powi(2) - amp * amp / 2.0).max(0.0).sqrt();
    assert!(residual < 0.1 * rms(span), "residual {residual:.0}");
}

#[test]
fn opus_supports_every_sdp_ptime() {
    for ptime in [10, 20, 30, 40, 60] {
        let input = voice(48 * ptime as usize * 20);
        let out = round_trip(CodecKind::Opus, ptime, &input);
        assert_eq!(out.len(), input.len(), "ptime {ptime}");
        assert!(
            rms(&out[out.len() / 2..]) > 1_000.0,
            "ptime {ptime} decodes to audio"
        );
    }
}

/// Encodes a voice signal, loses packet `lost`, and returns the error
/// (dB below the signal) of the recovered packet against a loss-free decode.
fn recovery_error(use_fec: bool, lost: usize) -> f64 {
    let input = voice(48_000 * 2);
    let mut enc = Encoder::new(CodecKind::Opus, 20).unwrap();
    let mut packets = Vec::new();
    let mut payload = [0u8; MAX_PAYLOAD_BYTES];
    for chunk in input.chunks_exact(960) {
        let len = enc.encode(chunk, &mut payload).unwrap();
        packets.push(payload[..len].to_vec());
    }
    let reference = {
        let mut dec = Decoder::new(CodecKind::Opus).unwrap();
        let mut buf = [0.0f32; 960];
        let mut frames = Vec::new();
        for p in &packets {
            dec.decode(p, &mut buf).unwrap();
            frames.push(buf);
        }
        frames
    };
    let mut dec = Decoder::new(CodecKind::Opus).unwrap();
    let mut buf = [0.0f32; 960];
    for p in &packets[..lost] {
        dec.decode(p, &mut buf).unwrap();
    }
    if use_fec {
        dec.decode_fec(&packets[lost + 1], &mut buf).unwrap();
    } else {
        dec.conceal(&mut buf).unwrap();
    }
    let err: Vec<f32> = buf
        .iter()
        .zip(&reference[lost])
        .map(|(a, b)| a - b)
        .collect();
    20.0 * (rms(&reference[lost]) / rms(&err)).log10()
}

#[test]
fn opus_fec_is_sent_and_beats_plain_concealment() {
    // Averaged over several losses so one lucky PLC guess does not decide.
    let lost = [30, 45, 61, 77];
    let fec: f64 = lost.iter().map(|&k| recovery_error(true, k)).sum::<f64>() / 4.0;
    let plc: f64 = lost.iter().map(|&k| recovery_error(false, k)).sum::<f64>() / 4.0;
    assert!(fec > plc + 3.0, "FEC {fec:.1} dB vs PLC {plc:.1} dB");
}

#[test]
fn opus_stereo_packets_are_downmixed() {
    // A peer sending real stereo: tone on the left, silence on the right.
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Stereo, opus::Application::Audio).unwrap();
    let mono = tone(500.0, 960 * 50, 10_000.0, 0);
    let mut dec = Decoder::new(CodecKind::Opus).unwrap();
    let mut out = Vec::new();
    let mut payload = [0u8; MAX_PAYLOAD_BYTES];
    let mut buf = [0.0f32; 960];
    for chunk in mono.chunks_exact(960) {
        // The raw libopus API takes ±1.0 samples.
        let interleaved: Vec<f32> = chunk.iter().flat_map(|&s| [s / 32_768.0, 0.0]).collect();
        let len = enc.encode_float(&interleaved, &mut payload).unwrap();
        assert_eq!(dec.decode(&payload[..len], &mut buf).unwrap(), 960);
        out.extend_from_slice(&buf);
    }
    let level = rms(&out[960 * 10..]) / rms(&mono);
    assert!(
        (0.4..0.6).contains(&level),
        "downmix level {level:.2}, expected 0.5"
    );
}

#[test]
fn opus_concealment_fills_the_requested_length() {
    let mut dec = Decoder::new(CodecKind::Opus).unwrap();
    let mut enc = Encoder::new(CodecKind::Opus, 20).unwrap();
    let input = voice(960 * 10);
    let mut payload = [0u8; MAX_PAYLOAD_BYTES];
    let mut buf = [0.0f32; 1_920];
    for chunk in input.chunks_exact(960) {
        let len = enc.encode(chunk, &mut payload).unwrap();
        dec.decode(&payload[..len], &mut buf).unwrap();
    }
    assert_eq!(dec.conceal(&mut buf[..960]).unwrap(), 960);
    assert!(rms(&buf[..960]) > 100.0, "PLC continues the voice");
    assert_eq!(dec.conceal(&mut buf).unwrap(), 1_920);
    dec.reset().unwrap();
}

#[test]
fn rtpmap_lookup() {
    assert_eq!(CodecKind::from_rtpmap("pcmu", 8_000), Some(CodecKind::Pcmu));
    assert_eq!(
        CodecKind::from_rtpmap("OPUS", 48_000),
        Some(CodecKind::Opus)
    );
    assert_eq!(CodecKind::from_rtpmap("opus", 16_000), None);
    assert_eq!(
        CodecKind::from_static_payload_type(8),
        Some(CodecKind::Pcma)
    );
    assert_eq!(CodecKind::Opus.info().channels, 2);
    assert_eq!(CodecKind::Pcmu.timestamp_step(20), 160);
    assert_eq!(CodecKind::Opus.timestamp_step(20), 960);
    assert!(CodecKind::Opus.is_silence(&[0x78]));
    assert!(!CodecKind::Pcmu.is_silence(&[0x80; 160]));
    assert!((CodecKind::Pcmu.silence_detector())(&[0xFF; 160]));
}

#[test]
fn opus_packets_of_a_pause_are_silence_even_without_dtx() {
    // The speech fixture (4 s), a second of digital silence, the speech
    // again. Without DTX every packet of the pause is tens of bytes; the
    // SILK layer's voice-activity flag tells. (SILK's detector looks for the
    // changes speech has: a steady tone is called inactive too.)
    let speech = speech_fixture();
    let mut pcm = speech.clone();
    pcm.extend(std::iter::repeat_n(0.0, 48_000));
    pcm.extend_from_slice(&speech);
    let mut enc = Encoder::new(CodecKind::Opus, 20).unwrap();
    let mut payload = [0u8; MAX_PAYLOAD_BYTES];
    let silent: Vec<(bool, usize)> = pcm
        .chunks_exact(960)
        .map(|chunk| {
            let len = enc.encode(chunk, &mut payload).unwrap();
            (CodecKind::Opus.is_silence(&payload[..len]), len)
        })
        .collect();
    // Speech has its own pauses between words: most of it is voiced.
    let speech_packets = speech.len() / 960;
    let voiced = silent[..speech_packets]
        .iter()
        .filter(|&&(s, _)| !s)
        .count();
    assert!(
        voiced * 10 >= speech_packets * 7,
        "{voiced} voiced: {silent:?}"
    );
    // The pause, past the encoder's hangover.
    let pause = &silent[speech_packets + 5..speech_packets + 50];
    assert!(pause.iter().all(|&(s, len)| s && len > 2), "{silent:?}");
    // A CELT-only packet (TOC configuration 16-31) carries no flag.
    assert!(!CodecKind::Opus.is_silence(&[16 << 3, 0x00, 0x00]));
    // Two frames in one packet (code 1): not judged from the first alone.
    assert!(!CodecKind::Opus.is_silence(&[(15 << 3) | 1, 0x00, 0x00]));
}

mod robustness {
    use super::*;
    use agentphone_media::dtmf::DtmfReceiver;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever arrives from the wire, decoding answers Ok or Err.
        #[test]
        fn decoders_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..1_600)) {
            let mut pcm = vec![0.0f32; MAX_PACKET_SAMPLES];
            for kind in [CodecKind::Pcmu, CodecKind::Pcma, CodecKind::Opus] {
                let mut dec = Decoder::new(kind).unwrap();
                if let Ok(n) = dec.decode(&payload, &mut pcm) {
                    prop_assert!(n <= MAX_PACKET_SAMPLES);
                    prop_assert!(pcm[..n].iter().all(|v| v.is_finite()));
                }
                let _ = dec.decode_fec(&payload, &mut pcm[..960]);
            }
        }

        #[test]
        fn dtmf_receiver_never_panics(
            packets in proptest::collection::vec((any::<u32>(), proptest::collection::vec(any::<u8>(), 0..8)), 0..50)
        ) {
            let mut rx = DtmfReceiver::new();
            for (ts, payload) in packets {
                if let Ok(Some(d)) = rx.on_payload(ts, &payload) {
                    prop_assert!("0123456789*#ABCD".contains(d.digit));
                }
            }
        }
    }
}

#[test]
fn packet_length_is_read_from_the_payload_whatever_the_ptime() {
    // The receive side sizes its jitter buffer from the packets it gets, so a
    // peer sending 30 ms while we send 20 ms is still heard.
    for (kind, ptime) in [
        (CodecKind::Pcmu, 10),
        (CodecKind::Pcma, 30),
        (CodecKind::Opus, 20),
        (CodecKind::Opus, 60),
    ] {
        let mut enc = Encoder::new(kind, ptime).unwrap();
        let pcm = voice(enc.samples_per_packet());
        let mut payload = vec![0u8; 1500];
        let n = enc.encode(&pcm, &mut payload).unwrap();
        assert_eq!(
            kind.packet_samples(&payload[..n]),
            Some(ptime as usize * 48),
            "{kind:?} {ptime} ms"
        );
    }
    assert_eq!(CodecKind::Opus.packet_samples(&[]), None);
    assert_eq!(CodecKind::Pcmu.packet_samples(&[]), None);
    assert_eq!(CodecKind::Pcma.packet_samples(&[0u8; 2000]), None);
}

/// `fixtures/audio/speech.wav` (16-bit mono 48 kHz) on the codecs' ±32768 scale.
fn speech_fixture() -> Vec<f32> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/audio/speech.wav"
    );
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(&data[..4], b"RIFF");
    let mut pos = 12;
    while pos + 8 <= data.len() {
        let size = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = &data[pos + 8..pos + 8 + size];
        match &data[pos..pos + 4] {
            b"fmt " => assert_eq!(
                (
                    &body[..4],
                    u32::from_le_bytes(body[4..8].try_into().unwrap()),
                    body[14]
                ),
                (&[1, 0, 1, 0][..], 48_000, 16),
                "{path}: 16-bit PCM mono 48 kHz"
            ),
            b"data" => {
                return body
                    .chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])))
                    .collect()
            }
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
    panic!("{path}: no data chunk");
}

/// Encodes real speech at 20 ms, drops every `loss_every`-th packet (0: none)
/// and recovers it from the next packet's FEC as the receive path does;
/// returns the SNR (dB) of the decoded speech against the source, at the
/// delay that correlates best.
fn speech_snr(loss_every: usize) -> f64 {
    speech_through(OpusEffort::FULL, loss_every).0
}

/// As [`speech_snr`], with the encoder at `effort`; also returns the share
/// of packets coded in CELT-only mode (TOC configurations 16-31, RFC 6716
/// §3.1).
fn speech_through(effort: OpusEffort, loss_every: usize) -> (f64, f64) {
    let mut input = speech_fixture();
    input.resize(input.len().div_ceil(960) * 960 + 960, 0.0);
    let mut enc = Encoder::new(CodecKind::Opus, 20).unwrap();
    enc.set_effort(effort).unwrap();
    let mut payload = [0u8; MAX_PAYLOAD_BYTES];
    let packets: Vec<Vec<u8>> = input
        .chunks_exact(960)
        .map(|chunk| {
            let len = enc.encode(chunk, &mut payload).unwrap();
            payload[..len].to_vec()
        })
        .collect();
    let celt = packets.iter().filter(|p| p[0] >> 3 >= 16).count() as f64 / packets.len() as f64;
    let mut dec = Decoder::new(CodecKind::Opus).unwrap();
    let mut buf = [0.0f32; 960];
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        if loss_every > 0 && i % loss_every == loss_every - 1 && i + 1 < packets.len() {
            dec.decode_fec(&packets[i + 1], &mut buf).unwrap();
        } else {
            dec.decode(p, &mut buf).unwrap();
        }
        out.extend_from_slice(&buf);
    }
    let src = &input[..input.len() - 960];
    let lag = (0..960)
        .max_by(|&a, &b| {
            let c = |lag: usize| correlation(src, &out[lag..lag + src.len()], 0, 0);
            c(a).total_cmp(&c(b))
        })
        .unwrap();
    let (mut sig, mut err) = (0.0, 0.0);
    for (&x, &y) in src.iter().zip(&out[lag..]) {
        sig += f64::from(x).powi(2);
        err += f64::from(x - y).powi(2);
    }
    (10.0 * (sig / err).log10(), celt)
}

/// The encoder's settings (bit rate, complexity, FEC strength) keep real
/// speech close to the source on a clean link and with 10 % loss recovered by
/// FEC. At the former 32 kbit/s these were 11.4 and 10.9 dB (PESQ-WB 3.90
/// and 3.36); now 12.1 and 11.9 dB (PESQ-WB 4.29 and 4.01).
#[test]
fn opus_speech_quality_on_a_clean_and_a_lossy_link() {
    let clean = speech_snr(0);
    assert!(clean > 11.7, "clean link: SNR {clean:.2} dB");
    let lossy = speech_snr(10);
    assert!(lossy > 11.4, "10 % loss with FEC: SNR {lossy:.2} dB");
}

/// A big conference's effort keeps the encoder in CELT, whose cost is a
/// fraction of SILK's with its FEC copy (`OpusEffort`'s table), even when the
/// loss settings ask for in-band FEC; full effort goes back to SILK.
#[test]
fn opus_conference_effort_stays_in_celt_and_full_effort_returns_to_silk() {
    let (full_snr, full_celt) = speech_through(OpusEffort::FULL, 0);
    assert!(
        full_celt < 0.1,
        "full effort: {full_celt:.2} of packets CELT"
    );
    let cheap = OpusEffort {
        complexity: 8,
        silk: false,
    };
    let (snr, celt) = speech_through(cheap, 0);
    assert_eq!(celt, 1.0, "conference effort: only CELT");
    assert!(
        snr > 11.5,
        "conference effort: SNR {snr:.2} dB (full effort {full_snr:.2})"
    );

    // Loss reports ask for FEC; the conference effort holds, then lets go.
    let mut enc = Encoder::new(CodecKind::Opus, 20).unwrap();
    enc.set_effort(cheap).unwrap();
    let mut adapter = LossAdapter::new(AdaptConfig::default());
    enc.apply(adapter.on_fraction_lost(26)).unwrap();
    let speech = speech_fixture();
    let mut payload = [0u8; MAX_PAYLOAD_BYTES];
    let mut modes = |enc: &mut Encoder, packets: std::ops::Range<usize>| -> Vec<bool> {
        packets
            .map(|k| {
                enc.encode(&speech[k * 960..(k + 1) * 960], &mut payload)
                    .unwrap();
                payload[0] >> 3 >= 16
            })
            .collect()
    };
    assert!(
        modes(&mut enc, 0..100).iter().all(|&c| c),
        "CELT under loss"
    );
    enc.set_effort(OpusEffort::FULL).unwrap();
    let back = modes(&mut enc, 100..200);
    let silk = back[10..].iter().filter(|&&c| !c).count();
    assert!(silk > 80, "back to SILK: {silk} of 90 packets");
}

/// Frames pushed one at a time give the bytes `encode` gives for the same
/// audio, packet after packet (the resampler's and libopus's state carried
/// the same way), for every codec and the packet times a call uses.
#[test]
fn frames_pushed_one_by_one_encode_as_whole_packets_do() {
    let audio = voice(48_000);
    for kind in [CodecKind::Pcmu, CodecKind::Pcma, CodecKind::Opus] {
        for ptime in [10, 20, 30, 60] {
            let mut whole = Encoder::new(kind, ptime).unwrap();
            let mut framed = Encoder::new(kind, ptime).unwrap();
            let packet = whole.samples_per_packet();
            let (mut a, mut b) = ([0u8; MAX_PAYLOAD_BYTES], [0u8; MAX_PAYLOAD_BYTES]);
            for (p, pcm) in audio.chunks_exact(packet).enumerate() {
                let n = whole.encode(pcm, &mut a).unwrap();
                for (f, frame) in pcm.chunks_exact(FRAME_SAMPLES).enumerate() {
                    assert_eq!(framed.pending_frames(), f);
                    let last = (f + 1) * FRAME_SAMPLES == packet;
                    assert_eq!(framed.push_frame(frame).unwrap(), last);
                }
                let m = framed.finish(&mut b).unwrap();
                assert_eq!(
                    &a[..n],
                    &b[..m],
                    "{kind:?} {ptime} ms, packet {p}: framed bytes differ"
                );
                assert_eq!(framed.pending_frames(), 0);
            }
        }
    }
}

#[test]
fn a_packet_not_yet_complete_is_not_finished_and_can_be_dropped() {
    let mut enc = Encoder::new(CodecKind::Pcmu, 20).unwrap();
    let mut out = [0u8; MAX_PAYLOAD_BYTES];
    assert!(matches!(
        enc.push_frame(&[0.0; 960]),
        Err(CodecError::FrameLength {
            expected: 480,
            got: 960
        })
    ));
    assert!(!enc.push_frame(&[0.0; FRAME_SAMPLES]).unwrap());
    assert!(matches!(
        enc.finish(&mut out),
        Err(CodecError::FrameLength {
            expected: 960,
            got: 480
        })
    ));
    assert_eq!(enc.pending_frames(), 1, "still pending after the refusal");
    enc.discard_pending();
    assert_eq!(enc.pending_frames(), 0);
    // A loud packet after the dropped frame: all of it is the new audio.
    let loud = tone(1_000.0, 960, 20_000.0, 0);
    assert!(!enc.push_frame(&loud[..480]).unwrap());
    assert!(enc.push_frame(&loud[480..]).unwrap());
    assert!(matches!(
        enc.finish(&mut out[..100]),
        Err(CodecError::BufferTooSmall {
            needed: 160,
            got: 100
        })
    ));
    assert_eq!(
        enc.finish(&mut out).unwrap(),
        160,
        "kept for a larger buffer"
    );
    let mut whole = Encoder::new(CodecKind::Pcmu, 20).unwrap();
    let mut expected = [0u8; 160];
    whole.encode(&loud, &mut expected).unwrap();
    // The dropped frame was silence, so the history is a fresh encoder's.
    assert_eq!(
        &out[..160],
        &expected[..],
        "the packet is the loud audio alone"
    );
}
