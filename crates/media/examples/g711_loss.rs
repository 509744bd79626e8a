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

mod common;

use common::{read_wav_48k_mono, write_wav_48k_mono};
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
