//! What an Opus encoder effort costs and gives: encodes a 48 kHz mono WAV
//! with our encoder (20 ms packets, a clean link's loss settings) at one
//! [`OpusEffort`], decodes it again, and prints the CPU time per packet of
//! each side, the bit rate and the share of packets in CELT-only mode. The
//! output WAV is for PESQ-WB (`tests/pesq/pesq_wb.py IN.wav OUT.wav`). The
//! figures in `OpusEffort`'s documentation come from this.
//!
//! ```sh
//! cargo run -p agentphone-media --release --example opus_effort -- \
//!     speech.wav out.wav COMPLEXITY SILK
//! ```
//!
//! `COMPLEXITY` is 0-10; `SILK` is 1 (SILK/hybrid with in-band FEC allowed,
//! a call's encoder) or 0 (CELT only, a big conference's).

mod common;

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use agentphone_media::codec::{CodecKind, Decoder, Encoder, OpusEffort, MAX_PAYLOAD_BYTES};
use common::{read_wav_48k_mono, write_wav_48k_mono};

const PACKET: usize = 960;
/// Encoding passes timed (the first one's packets are kept).
const PASSES: usize = 4;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, complexity, silk] = &args[..] else {
        return Err("usage: opus_effort IN.wav OUT.wav COMPLEXITY SILK(0|1)".into());
    };
    let effort = OpusEffort {
        complexity: complexity.parse()?,
        silk: silk == "1",
    };
    let source = read_wav_48k_mono(Path::new(input))?;
    let mut enc = Encoder::new(CodecKind::Opus, 20)?;
    enc.set_effort(effort)?;
    let mut buf = [0u8; MAX_PAYLOAD_BYTES];
    let mut packets = Vec::new();
    let start = Instant::now();
    for pass in 0..PASSES {
        for chunk in source.chunks_exact(PACKET) {
            let n = enc.encode(chunk, &mut buf)?;
            if pass == 0 {
                packets.push(buf[..n].to_vec());
            }
        }
    }
    let count = packets.len().max(1) as f64;
    let encode_us = start.elapsed().as_secs_f64() * 1e6 / (PASSES as f64 * count);

    let mut dec = Decoder::new(CodecKind::Opus)?;
    let mut pcm = vec![0.0f32; PACKET];
    let mut out = Vec::with_capacity(source.len());
    let start = Instant::now();
    for p in &packets {
        let n = dec.decode(p, &mut pcm)?;
        out.extend_from_slice(&pcm[..n]);
    }
    let decode_us = start.elapsed().as_secs_f64() * 1e6 / count;
    write_wav_48k_mono(Path::new(output), &out)?;

    // RFC 6716 §3.1: TOC configurations 16-31 are CELT-only.
    let celt = packets.iter().filter(|p| p[0] >> 3 >= 16).count() as f64 / count;
    let bytes: usize = packets.iter().map(Vec::len).sum();
    println!(
        "{effort:?}: encode {encode_us:.0} µs/packet, decode {decode_us:.0} µs/packet, \
         {:.1} kbit/s, {:.0} % CELT-only",
        bytes as f64 * 8.0 / (count * 20.0),
        celt * 100.0
    );
    Ok(())
}
