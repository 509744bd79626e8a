//! One full conference tick for eight participants: the agent plus seven remote
//! legs. For each remote leg: jitter-buffer push and pop, decode, denoise; then
//! the N-1 mix of all eight; then an encode of each remote leg's mix.
//!
//! `cargo bench --bench conference_frame`. One iteration is one 20 ms packet
//! time (two 10 ms frames per leg, one packet in and one out per leg), so the
//! per-10-ms cost is half the reported time. Run for G.711 µ-law and Opus.

use agentphone_audio::denoise::Denoiser;
use agentphone_audio::mixer::{Mixer, ParticipantId};
use agentphone_audio::{Frame, FRAME_SAMPLES};
use agentphone_media::codec::{CodecKind, Decoder, Encoder};
use agentphone_media::jitter::{JitterBuffer, JitterConfig, Playout};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};

const REMOTE_LEGS: usize = 7;
const PTIME_MS: u32 = 20;
const PACKET_SAMPLES: usize = 2 * FRAME_SAMPLES;

/// Speech-like test signal: the noisy speech fixture, as 20 ms packets.
fn speech_packets() -> Vec<[f32; PACKET_SAMPLES]> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/audio/speech_noisy.wav"
    );
    let audio = match agentphone_audio::wav::read_wav_48k_mono(path) {
        Ok(a) => a,
        Err(e) => panic!("bench fixture: {e}"),
    };
    audio
        .samples
        .chunks_exact(PACKET_SAMPLES)
        .map(|c| {
            let mut p = [0.0; PACKET_SAMPLES];
            p.copy_from_slice(c);
            p
        })
        .collect()
}

struct Leg {
    id: ParticipantId,
    jitter: JitterBuffer,
    decoder: Decoder,
    encoder: Encoder,
    denoiser: Denoiser,
    /// Pre-encoded packets this leg "receives", cycled.
    incoming: Vec<Vec<u8>>,
    seq: u16,
    ts: u32,
    pcm: Vec<f32>,
    out_pcm: [f32; PACKET_SAMPLES],
    payload: [u8; 1500],
}

fn setup(kind: CodecKind) -> (Mixer, ParticipantId, Vec<Leg>) {
    let packets = speech_packets();
    let mut mixer = match Mixer::new(REMOTE_LEGS + 1) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    let agent = mixer.add().expect("agent joins");
    let clock = kind.info().clock_rate;
    let legs = (0..REMOTE_LEGS)
        .map(|i| {
            let mut enc = Encoder::new(kind, PTIME_MS).expect("encoder");
            let mut buf = [0u8; 1500];
            // Each leg hears a different part of the recording.
            let incoming = packets
                .iter()
                .cycle()
                .skip(i * 13)
                .take(64)
                .map(|p| {
                    let n = enc.encode(p, &mut buf).expect("encode");
                    buf[..n].to_vec()
                })
                .collect();
            Leg {
                id: mixer.add().expect("leg joins"),
                jitter: JitterBuffer::new(JitterConfig {
                    silence: Some(kind.silence_detector()),
                    ..JitterConfig::new(clock, PTIME_MS)
                }),
                decoder: Decoder::new(kind).expect("decoder"),
                encoder: Encoder::new(kind, PTIME_MS).expect("encoder"),
                denoiser: Denoiser::new(),
                incoming,
                seq: 0,
                ts: 0,
                pcm: vec![0.0; agentphone_media::codec::MAX_PACKET_SAMPLES],
                out_pcm: [0.0; PACKET_SAMPLES],
                payload: [0; 1500],
            }
        })
        .collect();
    (mixer, agent, legs)
}

/// One 20 ms packet time of the whole conference.
fn tick(mixer: &mut Mixer, agent: ParticipantId, legs: &mut [Leg], now: Instant, step: u32) {
    let agent_frame: Frame = [0.0; FRAME_SAMPLES];
    let mut clean: Frame = [0.0; FRAME_SAMPLES];
    // Receive and decode one packet per leg.
    for leg in legs.iter_mut() {
        let i = usize::from(leg.seq) % leg.incoming.len();
        leg.jitter.push(now, leg.seq, leg.ts, &leg.incoming[i]);
        leg.seq = leg.seq.wrapping_add(1);
        leg.ts = leg.ts.wrapping_add(step);
        let n = match leg.jitter.pop(now) {
            Playout::Packet { payload, .. } => leg.decoder.decode(payload, &mut leg.pcm),
            Playout::Missing { .. } => leg.decoder.conceal(&mut leg.pcm[..PACKET_SAMPLES]),
            Playout::Empty => {
                leg.pcm[..PACKET_SAMPLES].fill(0.0);
                Ok(PACKET_SAMPLES)
            }
        };
        assert!(n.is_ok());
    }
    // Two 10 ms frames: denoise each leg, mix, collect each leg's output.
    for half in 0..2 {
        let range = half * FRAME_SAMPLES..(half + 1) * FRAME_SAMPLES;
        for leg in legs.iter_mut() {
            let mut frame: Frame = [0.0; FRAME_SAMPLES];
            frame.copy_from_slice(&leg.pcm[range.clone()]);
            leg.denoiser.process(&frame, &mut clean);
            let _ = mixer.set_input(leg.id, &clean);
        }
        let _ = mixer.set_input(agent, &agent_frame);
        mixer.mix();
        for leg in legs.iter_mut() {
            if let Ok(out) = mixer.output(leg.id) {
                leg.out_pcm[range.clone()].copy_from_slice(out);
            }
        }
    }
    // Encode one packet per leg.
    for leg in legs.iter_mut() {
        let n = leg.encoder.encode(&leg.out_pcm, &mut leg.payload);
        assert!(n.is_ok());
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("conference_frame_8_parties");
    for (name, kind) in [("pcmu", CodecKind::Pcmu), ("opus", CodecKind::Opus)] {
        let (mut mixer, agent, mut legs) = setup(kind);
        let step = kind.info().clock_rate * PTIME_MS / 1000;
        let mut now = Instant::now();
        g.bench_function(name, |b| {
            b.iter(|| {
                now += Duration::from_millis(u64::from(PTIME_MS));
                tick(&mut mixer, agent, &mut legs, now, step);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
