//! Plays a 48 kHz mono 16-bit WAV through PCMU at 20 ms packets with seeded
//! random loss, decoding with the receive path's concealment, to measure what
//! loss costs offline (PESQ on the output) without a call's timing noise.
//!
//! ```sh
//! cargo run -p agentphone-media --release --example g711_loss -- \
//!     speech.wav /tmp/decoded.wav LOSS SEED [zero]
//! ```
//!
//! `zero` plays silence for lost packets instead of concealing (a floor to
//! compare the concealment with). Prints the packets lost.

use std::error::Error;
use std::path::Path;

use agentphone_media::codec::{CodecKind, Decoder, Encoder, MAX_PACKET_SAMPLES};

const PACKET: usize = 960;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(output)) = (args.first(), args.get(1)) else {
        return Err("usage: g711_loss IN.wav OUT.wav LOSS SEED [zero]".into());
    };
    let loss: f64 = args.get(2).map_or(Ok(0.05), |s| s.parse())?;
    let mut seed: u64 = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let zero = args.get(4).is_some_and(|m| m == "zero");
    let bridge = args.get(4).is_some_and(|m| m == "bridge");
    let source = read_wav_48k_mono(Path::new(input))?;
    let mut enc = Encoder::new(CodecKind::Pcmu, 20)?;
    let mut dec = Decoder::new(CodecKind::Pcmu)?;
    let mut padded = source.clone();
    padded.resize(source.len().div_ceil(PACKET) * PACKET + PACKET, 0.0);
    let mut packets = Vec::new();
    let mut payload = [0u8; 160];
    for chunk in padded.chunks_exact(PACKET) {
        let len = enc.encode(chunk, &mut payload)?;
        packets.push(payload[..len].to_vec());
    }
    let mut buf = vec![0.0f32; MAX_PACKET_SAMPLES];
    let mut decoded = Vec::with_capacity(padded.len());
    let mut lost = 0;
    let mut dropped = vec![false; packets.len()];
    for d in &mut dropped {
        *d = next_f64(&mut seed) < loss;
    }
    for (i, p) in packets.iter().enumerate() {
        let drop = dropped[i];
        let n = if drop {
            lost += 1;
            if zero {
                buf[..PACKET].fill(0.0);
                PACKET
            } else if let (true, Some(next)) = (
                bridge,
                packets
                    .get(i + 1)
                    .filter(|_| !dropped.get(i + 1).copied().unwrap_or(true)),
            ) {
                dec.decode_fec(next, &mut buf[..PACKET])?
            } else {
                dec.conceal(&mut buf[..PACKET])?
            }
        } else {
            dec.decode(p, &mut buf)?
        };
        decoded.extend_from_slice(&buf[..n]);
    }
    write_wav_48k_mono(Path::new(output), &decoded)?;
    println!("packets {} lost {lost}", padded.len() / PACKET);
    Ok(())
}

fn next_f64(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Reads a 16-bit PCM mono 48 kHz WAV into samples on the ±32768 scale the
/// codecs use.
fn read_wav_48k_mono(path: &Path) -> Result<Vec<f32>, Box<dyn Error>> {
    let data = std::fs::read(path)?;
    if data.len() < 12 || &data[..4] != b"RIFF" || &data[8..12] != b"WAVE" {
        return Err(format!("{}: not a RIFF/WAVE file", path.display()).into());
    }
    let mut pos = 12;
    let mut format_ok = false;
    while pos + 8 <= data.len() {
        let id = &data[pos..pos + 4];
        let size = u32::from_le_bytes(data[pos + 4..pos + 8].try_into()?) as usize;
        let body = data
            .get(pos + 8..pos + 8 + size)
            .ok_or_else(|| format!("{}: truncated chunk", path.display()))?;
        match id {
            b"fmt " if body.len() >= 16 => {
                let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                let rate = u32::from_le_bytes(body[4..8].try_into()?);
                format_ok = u16_at(0) == 1 && u16_at(2) == 1 && rate == 48_000 && u16_at(14) == 16;
            }
            b"data" if format_ok => {
                return Ok(body
                    .chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])))
                    .collect());
            }
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
    Err(format!("{}: not 16-bit PCM mono 48 kHz", path.display()).into())
}

fn write_wav_48k_mono(path: &Path, samples: &[f32]) -> std::io::Result<()> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&48_000u32.to_le_bytes());
    out.extend_from_slice(&96_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for &s in samples {
        let v = s.round().clamp(-32_768.0, 32_767.0) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, out)
}
