//! Replays a call's receive path offline: encodes a 48 kHz mono WAV with our
//! Opus encoder (20 ms packets), passes the packets through a model of the
//! `audio_loss` test's relay (its very draws, `tests/common/relay_draws.rs`, so
//! a seed gives the same loss pattern and delays as in the test), and plays
//! them through the engine's receive [`Chain`] on a fake 10 ms clock, as a
//! leg's listener does. Writes what the listener would have heard, so PESQ-WB
//! of a jitter buffer or stretcher change can be measured without placing
//! calls, and prints what happened at each packet that was not simply decoded.
//!
//! ```sh
//! cargo run -p agentphone-engine --release --example loss_replay -- \
//!     speech.wav out.wav [LOSS] [JITTER_MS] [SEED] [PHASE_MS]
//! python3 tests/pesq/pesq_wb.py speech.wav out.wav
//! ```
//!
//! `LOSS` is a probability (0.05), `JITTER_MS` the relay's largest added
//! delay (uniform from 0), `SEED` the relay seed (`0x5EED1601` is the test's
//! 5 % loss call, `0x5EED1602` its jitter + loss call), `PHASE_MS` where the
//! receiver's 10 ms ticks fall relative to the sender's packets.
//! `REPLAY_RED=1` has each packet carry the one before it (RFC 2198 RED, as
//! two agentphones send Opus to each other). `REPLAY_PACED=1` hands each
//! packet to the chain at the read before the tick that takes it, as a call's
//! network half does (`src/media/pacer.rs`), so the delay estimate sees read
//! times on the 10 ms lattice rather than arrival times. It still misses the
//! ticks' and reads' own jitter of a real call, which moves the fastest
//! offset by a millisecond or two now and then.

#[path = "../../media/examples/common/mod.rs"]
mod common;
#[path = "../../../tests/common/relay_draws.rs"]
mod relay_draws;

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use agentphone_engine::chain::{Chain, Pulled};
use agentphone_media::codec::adapt::{AdaptConfig, LossAdapter};
use agentphone_media::codec::{CodecKind, Decoder, Encoder, MAX_PAYLOAD_BYTES};
use common::{read_wav_48k_mono, write_wav_48k_mono};

const PACKET: usize = 960;
const TICK: usize = 480;

fn parse_seed(s: &str) -> Result<u64, Box<dyn Error>> {
    Ok(match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16)?,
        None => s.parse()?,
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(output)) = (args.first(), args.get(1)) else {
        return Err(
            "usage: loss_replay IN.wav OUT.wav [LOSS] [JITTER_MS] [SEED] [PHASE_MS]".into(),
        );
    };
    let loss: f64 = args.get(2).map_or(Ok(0.0), |s| s.parse())?;
    let jitter_ms: f64 = args.get(3).map_or(Ok(0.0), |s| s.parse())?;
    let seed = args.get(4).map_or(Ok(0x5EED_1601), |s| parse_seed(s))?;
    let phase_ms: f64 = args.get(5).map_or(Ok(3.0), |s| s.parse())?;
    let source = read_wav_48k_mono(Path::new(input))?;

    // The caller's packets: the file from its first sample, then the 2 s of
    // silence the test's call lasts beyond it.
    let mut padded = source.clone();
    padded.resize(padded.len().div_ceil(PACKET) * PACKET + 100 * PACKET, 0.0);
    let mut enc = Encoder::new(CodecKind::Opus, 20)?;
    // Encoder settings other than a clean link's (what the sender moves to
    // once the far end reports loss): REPLAY_LOSS_PCT, REPLAY_BITRATE.
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<i32>().ok());
    if env("REPLAY_LOSS_PCT").is_some() || env("REPLAY_BITRATE").is_some() {
        let mut s = LossAdapter::new(AdaptConfig::default()).settings();
        s.loss_pct = env("REPLAY_LOSS_PCT").unwrap_or(s.loss_pct);
        s.fec = s.loss_pct > 0;
        s.bitrate = env("REPLAY_BITRATE").unwrap_or(s.bitrate);
        enc.apply(s)?;
    }
    let mut buf = [0u8; MAX_PAYLOAD_BYTES];
    let mut packets = Vec::new();
    for chunk in padded.chunks_exact(PACKET) {
        let n = enc.encode(chunk, &mut buf)?;
        packets.push(buf[..n].to_vec());
    }

    // The relay: one loss draw per packet, one delay draw per forwarded one;
    // loopback adds a fraction of a millisecond.
    let mut draws = relay_draws::Draws::new(seed);
    let mut arrivals: Vec<(f64, usize)> = Vec::new();
    let mut lost = Vec::new();
    for k in 0..packets.len() {
        match draws.fate(loss) {
            None => lost.push(k),
            Some(held) => arrivals.push((k as f64 * 20.0 + 0.2 + jitter_ms * held, k)),
        }
    }
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));

    let red = std::env::var_os("REPLAY_RED").is_some();
    if std::env::var_os("REPLAY_IDEAL").is_some() {
        // The codec alone: every packet decoded in order, a lost one rebuilt
        // from the next one's FEC (concealed when that is lost too); with RED
        // a lost one is played from the next one's copy, and FEC comes from
        // the copy of the next one in the one after.
        let mut dec = Decoder::new(CodecKind::Opus)?;
        let mut pcm = vec![0.0f32; PACKET];
        let mut out = Vec::new();
        for k in 0..packets.len() {
            let here = |j: usize| j < packets.len() && !lost.contains(&j);
            let n = if here(k) || (red && here(k + 1)) {
                dec.decode(&packets[k], &mut pcm)?
            } else if here(k + 1) || (red && here(k + 2)) {
                dec.decode_fec(&packets[k + 1], &mut pcm)?
            } else {
                dec.conceal(&mut pcm)?
            };
            out.extend_from_slice(&pcm[..n]);
        }
        write_wav_48k_mono(Path::new(output), &out)?;
        return Ok(());
    }
    let ms = |m: f64| Duration::from_micros((m * 1_000.0) as u64);
    let min_ms: f64 = std::env::var("REPLAY_MIN_MS").map_or(Ok(20.0), |s| s.parse())?;
    let mut chain = Chain::new(0, CodecKind::Opus, PACKET, (ms(min_ms), ms(200.0)))?;
    let t0 = Instant::now();
    let mut out: Vec<f32> = Vec::with_capacity(padded.len() + 20 * PACKET);
    let mut pending: Vec<f32> = Vec::new();
    let mut next_arrival = 0;
    let mut errors = 0;
    let ticks = packets.len() * 2 + 30;
    let mut events = Vec::new();
    // REPLAY_PACED=1: the sockets are read 3 ms before each tick.
    let paced = std::env::var_os("REPLAY_PACED").is_some();
    for t in 0..ticks {
        let now_ms = t as f64 * 10.0 + phase_ms;
        let read_ms = if paced { now_ms - 3.0 } else { now_ms };
        while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= read_ms {
            let (arrived, k) = arrivals[next_arrival];
            let at = if paced { read_ms } else { arrived };
            chain.push(t0 + ms(at), k as u16, (k * PACKET) as u32, &packets[k]);
            if red && k > 0 {
                let j = k - 1;
                chain.push_redundant(t0 + ms(at), j as u16, (j * PACKET) as u32, &packets[j]);
            }
            next_arrival += 1;
        }
        let mut filled = 0;
        while filled < TICK {
            if pending.is_empty() {
                let before = chain.recovery();
                let at = t0 + ms(now_ms) + Duration::from_micros(filled as u64 * 1_000 / 48);
                let pulled = chain.pull_decoded(at, &mut errors);
                let after = chain.recovery();
                let n = match pulled {
                    Pulled::Nothing | Pulled::Audio(0) | Pulled::Concealed(0) => break,
                    Pulled::Audio(n) | Pulled::Concealed(n) => n,
                };
                let what = if after.fec_frames > before.fec_frames {
                    Some("fec")
                } else if after.concealed_frames > before.concealed_frames {
                    Some("plc")
                } else if after.lengthened_samples > before.lengthened_samples {
                    Some("lengthen")
                } else if after.shortened_samples > before.shortened_samples {
                    Some("shorten")
                } else {
                    None
                };
                if let Some(what) = what {
                    events.push(format!(
                        "{:7.1} ms out {:6}: {what} {n} samples (delay {} ms, target {} ms)",
                        now_ms,
                        out.len() + filled,
                        chain.stats().delay_ms,
                        chain.stats().target_ms
                    ));
                }
                pending.extend_from_slice(&chain.decoded_mut()[..n]);
            }
            let take = pending.len().min(TICK - filled);
            out.extend(pending.drain(..take));
            filled += take;
        }
        out.resize(out.len() + TICK - filled, 0.0);
    }
    write_wav_48k_mono(Path::new(output), &out)?;
    let r = chain.recovery();
    let s = chain.stats();
    if std::env::var_os("REPLAY_EVENTS").is_some() {
        for e in &events {
            println!("{e}");
        }
    }
    println!(
        "packets {} lost {} ({:?}...) | red {} fec {} plc {} lengthened {} ms shortened {} ms | \
         late {} dropped {} target {} ms | decode errors {errors}",
        packets.len(),
        lost.len(),
        &lost[..lost.len().min(8)],
        r.red_frames,
        r.fec_frames,
        r.concealed_frames,
        r.lengthened_ms(),
        r.shortened_ms(),
        s.late,
        s.dropped,
        s.target_ms,
    );
    Ok(())
}
