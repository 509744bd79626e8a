//! Encodes a 48 kHz mono 16-bit WAV with our Opus encoder (20 ms packets) and
//! decodes it again, to judge the encoder's settings by ear or with an
//! objective tool (PESQ, POLQA, ViSQOL) run on the output.
//!
//! ```sh
//! cargo run -p agentphone-media --release --example opus_quality -- \
//!     fixtures/audio/speech.wav /tmp/decoded.wav [LOSS_EVERY_N]
//! ```
//!
//! With `LOSS_EVERY_N`, every N-th packet is dropped and recovered from the
//! next packet's in-band FEC (as the receive path does), so the same run
//! shows what loss costs. Prints the average bit rate, the share of packets
//! carrying FEC, and the SNR and correlation of the decoded audio against
//! the source after delay alignment.

mod common;

use common::{read_wav_48k_mono, write_wav_48k_mono};
use std::error::Error;
use std::path::Path;

use agentphone_media::codec::{CodecKind, Decoder, Encoder, MAX_PACKET_SAMPLES, MAX_PAYLOAD_BYTES};

const PTIME_MS: u32 = 20;
const PACKET: usize = 960;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(output)) = (args.first(), args.get(1)) else {
        return Err("usage: opus_quality IN.wav OUT.wav [LOSS_EVERY_N]".into());
    };
    let loss_every: Option<usize> = args.get(2).map(|n| n.parse()).transpose()?;
    let source = read_wav_48k_mono(Path::new(input))?;

    let mut enc = Encoder::new(CodecKind::Opus, PTIME_MS)?;
    let mut packets = Vec::new();
    let mut payload = [0u8; MAX_PAYLOAD_BYTES];
    let mut padded = source.clone();
    padded.resize(source.len().div_ceil(PACKET) * PACKET + PACKET, 0.0);
    for chunk in padded.chunks_exact(PACKET) {
        let len = enc.encode(chunk, &mut payload)?;
        packets.push(payload[..len].to_vec());
    }

    let mut dec = Decoder::new(CodecKind::Opus)?;
    let mut buf = vec![0.0f32; MAX_PACKET_SAMPLES];
    let mut decoded = Vec::with_capacity(padded.len());
    for (i, p) in packets.iter().enumerate() {
        let lost = loss_every.is_some_and(|n| n > 0 && i % n == n - 1);
        let n = match (lost, packets.get(i + 1)) {
            (true, Some(next)) => dec.decode_fec(next, &mut buf[..PACKET])?,
            (true, None) => dec.conceal(&mut buf[..PACKET])?,
            (false, _) => dec.decode(p, &mut buf)?,
        };
        decoded.extend_from_slice(&buf[..n]);
    }

    let bytes: usize = packets.iter().map(Vec::len).sum();
    let kbps = bytes as f64 * 8.0 / (packets.len() as f64 * PTIME_MS as f64);
    let with_fec = packets.iter().filter(|p| has_lbrr(p)).count();
    let (lag, corr) = best_lag(&source, &decoded);
    let aligned = &decoded[lag..lag + source.len()];
    write_wav_48k_mono(Path::new(output), aligned)?;
    println!(
        "packets {} | {kbps:.1} kbit/s | FEC in {:.0}% | delay {lag} samples | \
         correlation {corr:.4} | SNR {:.2} dB",
        packets.len(),
        100.0 * with_fec as f64 / packets.len() as f64,
        snr_db(&source, aligned)
    );
    Ok(())
}

/// True when a SILK or hybrid packet's first frame says it carries LBRR (FEC)
/// data (RFC 6716 §4.2.3: the bit after the VAD flags of each channel).
fn has_lbrr(packet: &[u8]) -> bool {
    let Some(&toc) = packet.first() else {
        return false;
    };
    let config = toc >> 3;
    let stereo = toc & 0x04 != 0;
    if config >= 16 || packet.len() < 2 {
        return false; // CELT-only packets have no FEC.
    }
    // Code 0 packets: the frame starts right after the TOC. Other codes are
    // not produced for 20 ms mono voice, so they count as "no FEC" here.
    if toc & 0x03 != 0 {
        return false;
    }
    // A 20 ms frame starts with the mid channel's VAD and LBRR flags, then the
    // side channel's; range coded at probability 1/2 each, they are the top
    // bits of the first byte (libopus' `opus_packet_has_lbrr` reads them so).
    let first = packet[1];
    first & 0x40 != 0 || (stereo && first & 0x10 != 0)
}

/// The delay (in samples) of `out` against `src` with the best normalised
/// correlation, searched up to 20 ms.
fn best_lag(src: &[f32], out: &[f32]) -> (usize, f64) {
    (0..PACKET)
        .filter(|lag| lag + src.len() <= out.len())
        .map(|lag| (lag, correlation(src, &out[lag..lag + src.len()])))
        .fold((0, f64::MIN), |best, c| if c.1 > best.1 { c } else { best })
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(f64::MIN_POSITIVE)
}

fn snr_db(reference: &[f32], test: &[f32]) -> f64 {
    let (mut sig, mut err) = (0.0, 0.0);
    for (&r, &t) in reference.iter().zip(test) {
        sig += f64::from(r).powi(2);
        err += f64::from(r - t).powi(2);
    }
    10.0 * (sig / err.max(f64::MIN_POSITIVE)).log10()
}
