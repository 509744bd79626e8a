//! One 10 ms tick of the real media engine ([`Engine::tick`]) running an
//! 8-party conference: seven remote legs and the agent, all in one [`Room`].
//!
//! Each remote leg is a [`LegAudio`] with its [`LegRings`], as the binary builds
//! them: before each tick the bench plays the leg's network half, pushing the
//! 20 ms packets due by then (pre-encoded from `fixtures/audio/speech_noisy.wav`,
//! each leg from another point of the recording) into the inbound ring with
//! their arrival time on a fake clock that advances 10 ms a tick; after the
//! tick it drains the outbound ring. So a tick is, per leg: ring drain into the
//! jitter buffer, a decode every other tick (20 ms packets), noise removal when
//! on, the room's N-1 mix, and an encode every other tick. The agent is a local
//! endpoint on the device (its microphone frame is the same recording).
//!
//! One criterion iteration is one tick, so the mean is the mean tick (the ticks
//! that decode and encode, and the ones between). Variants: G.711 µ-law or Opus
//! legs (20 ms, the binary's encoder settings), noise removal off on every leg or
//! on on every leg (`Command::Denoise`).
//!
//! `cargo bench --bench conference_frame` (add `-- --warm-up-time 1
//! --measurement-time 5` for a quick run; `-- --test` runs each variant once).
//!
//! Measured on this project's 2-core machine (release profile, machine otherwise
//! idle; criterion mean; a tick's share of the 10 ms budget is the share of one
//! core the conference's audio work takes):
//!
//! | legs | noise removal off | noise removal on |
//! | --- | --- | --- |
//! | PCMU | 73 µs (0.73 %) | 147 µs (1.5 %) |
//! | Opus | 945 µs (9.5 %) | 1.01 ms (10.1 %) |
//!
//! On another host of the class (2 vCPUs of an AMD EPYC, AVX2; 2026-12-07),
//! once a conference's Opus encoders go to CELT from five legs on
//! (`opus_effort`): PCMU 71 / 180 µs, Opus 500 / 659 µs (610 / 767 µs with
//! the previous SILK at complexity 1).
//!
//! Where it goes (callgrind, instructions inside `Engine::tick`, 2026-12-07:
//! `valgrind --tool=callgrind --toggle-collect='agentphone_engine::engine::Engine::tick'
//! target/release/deps/conference_frame-* --bench conference_tick_8_parties/opus/denoise_off
//! --profile-time 3`): with Opus the seven encoders are 67 % (CELT at
//! complexity 8: the CELT encode 46 %, the encoder's signal analysis most of
//! the rest), the seven decoders 30 %, jitter buffers, mix and the engine
//! itself 3 %. With PCMU the 48 ⇄ 8 kHz resampling was 76 % (down 52 %, up
//! 24 %), G.711 itself 6 %, the mix with its level meters 13 %; then the
//! resampler got AVX2+FMA kernels of its own (`cargo bench --bench
//! resample`: down 4.35 → 0.86 µs, up 1.96 → 0.66 µs a frame) and the PCMU
//! tick went 63 → 30 µs on the AVX2 host above. Noise removal adds about
//! 10 µs per leg and tick.
//!
//! The whole bridge process costs more than its ticks: the legs' network halves
//! on tokio (about 2 % of a core for seven legs) and waking every 10 ms with
//! cold caches. `scripts/bench-conference.sh` measures that with real calls.
//!
//! Cold ticks: `CONFERENCE_COLD_TICKS=1000 cargo bench --bench conference_frame`
//! runs the PCMU tick without criterion, each tick after writing 64 MB
//! (`CONFERENCE_COLD_FLUSH_MB`; 0 sleeps 10 ms instead), and prints the mean.
//! 2026-12-07 on the Zen 4 host: 29 µs warm; 77 µs after 10 ms asleep, 54-74 µs
//! after 64-128 MB (8 MB, inside the 32 MB L3, left it at 29-32 µs). The
//! cache lines it fetches, deterministically, under callgrind's cache
//! simulator (flush larger than the simulated last level):
//! `CONFERENCE_COLD_TICKS=200 CONFERENCE_COLD_FLUSH_MB=8 valgrind
//! --tool=callgrind --cache-sim=yes --LL=2097152,16,64
//! --toggle-collect='agentphone_engine::engine::Engine::tick' <bench binary>`
//! counts DLmr + DLmw + ILmr; divided by 300 (the 100 warm-up ticks are in
//! the count, with few misses): 1,313 fetches a tick at first; 1,037 once
//! the G.711 send path kept 8 kHz samples and the resamplers shared their
//! coefficients; 920 once packets were decoded into one buffer shared by
//! every leg, the jitter buffer's scans read only the slots' timestamps and
//! a tick with nobody held stopped clearing the music-on-hold frame. (The
//! simulator does not prefetch, so it counts a sequential stream as fully
//! as scattered lines, which cost the machine more.)

use agentphone_audio::{Frame, FRAME_SAMPLES};
use agentphone_engine::chain::Chain;
use agentphone_engine::clean::Cleaner;
use agentphone_engine::leg::{LegAudio, LegRings};
use agentphone_engine::local::{LocalAudio, LocalInput};
use agentphone_engine::packer::Packer;
use agentphone_engine::packet::{Inbound, PacketKind};
use agentphone_engine::room::Room;
use agentphone_engine::{Command, Engine, EngineLimits, Event, PartId, RoomId};
use agentphone_media::codec::{CodecKind, Encoder};
use agentphone_media::jitter::JitterConfig;
use criterion::{criterion_group, Criterion};
use std::time::{Duration, Instant};

const REMOTE_LEGS: usize = 7;
const PTIME_MS: u32 = 20;
/// 48 kHz samples in one 20 ms packet.
const PACKET_SAMPLES: usize = 2 * FRAME_SAMPLES;
/// Distinct packets each leg cycles through (5 s of speech).
const PACKETS_PER_LEG: usize = 250;
const TICK: Duration = Duration::from_millis(10);
/// Ticks run before measuring, so every jitter buffer is playing.
const WARM_TICKS: usize = 100;

/// The noisy speech fixture, 48 kHz mono.
fn speech() -> Vec<f32> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/audio/speech_noisy.wav"
    );
    match agentphone_audio::wav::read_wav_48k_mono(path) {
        Ok(a) => a.samples,
        Err(e) => panic!("bench fixture: {e}"),
    }
}

fn payload_type(kind: CodecKind) -> u8 {
    kind.info().static_payload_type.unwrap_or(111)
}

/// A remote leg's network half: pre-encoded packets sent every 20 ms of the
/// fake clock into the inbound ring, encoded packets taken off the outbound one.
struct Remote {
    rings: LegRings,
    packets: Vec<Vec<u8>>,
    seq: u16,
    ts: u32,
    step: u32,
    sent: usize,
    received: usize,
}

impl Remote {
    /// The packets due at tick `n` (one on every even tick), arriving `now`.
    fn send_due(&mut self, n: u64, now: Instant) {
        if !n.is_multiple_of(2) {
            return;
        }
        let payload = &self.packets[self.sent % self.packets.len()];
        // As the network half pushes a packet (`NetReceive`).
        let pushed =
            self.rings
                .inbound
                .push_packet(now, (self.seq, self.ts), PacketKind::Audio, payload);
        assert!(
            pushed.is_ok(),
            "inbound ring refused the packet ({pushed:?}): the engine is not draining it"
        );
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(self.step);
        self.sent += 1;
    }

    fn receive(&mut self) {
        while let Ok(p) = self.rings.outbound.pop() {
            std::hint::black_box(p.payload());
            self.received += 1;
        }
    }
}

/// An engine with one room of seven legs and the agent, and the legs' far ends.
struct Conference {
    engine: Engine,
    remotes: Vec<Remote>,
    mic_audio: Vec<f32>,
    mic: Box<Frame>,
    speaker: Box<Frame>,
    t0: Instant,
    n: u64,
}

impl Conference {
    fn new(kind: CodecKind, denoise: bool, audio: &[f32]) -> Self {
        let mut engine = Engine::new(EngineLimits::default());
        let room = RoomId(1);
        engine.handle(Command::AddRoom {
            room,
            audio: Box::new(Room::new()),
        });
        let agent = PartId(100);
        engine.handle(Command::AddLocal {
            part: agent,
            audio: Box::new(LocalAudio::new(LocalInput::Device, true)),
        });
        engine.handle(Command::Join { part: agent, room });
        let pt = payload_type(kind);
        let jitter = JitterConfig::new(kind.info().clock_rate, PTIME_MS);
        let packets: Vec<[f32; PACKET_SAMPLES]> = audio
            .chunks_exact(PACKET_SAMPLES)
            .map(|c| {
                let mut p = [0.0; PACKET_SAMPLES];
                p.copy_from_slice(c);
                p
            })
            .collect();
        let mut remotes = Vec::with_capacity(REMOTE_LEGS);
        for i in 0..REMOTE_LEGS {
            let packer = Packer::new(kind, pt, PTIME_MS).expect("encoder");
            let (leg, mut rings) = LegAudio::new(packer, Cleaner::new(None, false));
            let part = PartId(i as u64 + 1);
            engine.handle(Command::AddLeg {
                part,
                audio: Box::new(leg),
            });
            engine.handle(Command::Join { part, room });
            if denoise {
                engine.handle(Command::Denoise { part, on: true });
            }
            // The network half builds the receive chain when the first packet
            // arrives and hands it over first.
            let chain = Chain::new(
                pt,
                kind,
                PACKET_SAMPLES,
                (jitter.min_delay, jitter.max_delay),
            )
            .expect("receive chain");
            assert!(rings.inbound.push(Inbound::Chain(Box::new(chain))).is_ok());
            // Each leg says another part of the recording, encoded by its own
            // sender.
            let mut enc = Encoder::new(kind, PTIME_MS).expect("encoder");
            let mut buf = [0u8; 1_500];
            let packets = packets
                .iter()
                .cycle()
                .skip(i * 37)
                .take(PACKETS_PER_LEG)
                .map(|p| {
                    let n = enc.encode(p, &mut buf).expect("encode");
                    buf[..n].to_vec()
                })
                .collect();
            remotes.push(Remote {
                rings,
                packets,
                seq: 1_000 * i as u16,
                ts: 160_000 * i as u32,
                step: kind.timestamp_step(PTIME_MS),
                sent: 0,
                received: 0,
            });
        }
        let mut c = Conference {
            engine,
            remotes,
            mic_audio: audio.to_vec(),
            mic: Box::new([0.0; FRAME_SAMPLES]),
            speaker: Box::new([0.0; FRAME_SAMPLES]),
            t0: Instant::now(),
            n: 0,
        };
        while let Some(e) = c.engine.poll_event() {
            assert!(!matches!(e, Event::Refused { .. }), "{e:?}");
        }
        for _ in 0..WARM_TICKS {
            c.tick();
        }
        for r in &c.remotes {
            // A packet out every other tick once the mix runs.
            assert!(r.received >= WARM_TICKS / 2 - 2, "{} sent", r.received);
        }
        c
    }

    /// One 10 ms tick: the network halves send what is due, the engine ticks,
    /// the network halves take what was encoded, events are drained.
    fn tick(&mut self) {
        let now = self.t0 + TICK * self.n as u32;
        for r in &mut self.remotes {
            r.send_due(self.n, now);
        }
        let frames = self.mic_audio.len() / FRAME_SAMPLES;
        let at = (self.n as usize % frames) * FRAME_SAMPLES;
        self.mic
            .copy_from_slice(&self.mic_audio[at..at + FRAME_SAMPLES]);
        self.engine.tick(now, &self.mic, &mut self.speaker);
        for r in &mut self.remotes {
            r.receive();
        }
        while let Some(e) = self.engine.poll_event() {
            std::hint::black_box(e);
        }
        self.n += 1;
    }
}

fn bench(c: &mut Criterion) {
    let audio = speech();
    let mut g = c.benchmark_group("conference_tick_8_parties");
    for (codec, kind) in [("pcmu", CodecKind::Pcmu), ("opus", CodecKind::Opus)] {
        for denoise in [false, true] {
            let name = format!("{codec}/denoise_{}", if denoise { "on" } else { "off" });
            // Built on first use: a variant a filter leaves out costs nothing.
            let mut conf = None;
            g.bench_function(name, |b| {
                let conf = conf.get_or_insert_with(|| Conference::new(kind, denoise, &audio));
                b.iter(|| conf.tick())
            });
        }
    }
    g.finish();
}

/// The tick as the process sees it: 10 ms after the last one, with other
/// work having evicted its data from the caches meanwhile. Between ticks
/// the harness writes through `flush_mb` MB of its own (the data and page
/// tables of other processes, as a VM's neighbours leave them) or sleeps
/// 10 ms (`flush_mb` 0); only the tick is timed. Run by setting
/// `CONFERENCE_COLD_TICKS` (see the module documentation).
fn cold_ticks(ticks: u32, flush_mb: usize) {
    let audio = speech();
    let mut conf = Conference::new(CodecKind::Pcmu, false, &audio);
    let mut junk = vec![0u8; flush_mb << 20];
    let mut total = Duration::ZERO;
    for k in 0..ticks {
        if junk.is_empty() {
            std::thread::sleep(TICK);
        } else {
            for b in junk.iter_mut().step_by(64) {
                *b = b.wrapping_add(k as u8 | 1);
            }
            std::hint::black_box(&junk);
        }
        let t = Instant::now();
        conf.tick();
        total += t.elapsed();
    }
    let how = if flush_mb == 0 {
        "10 ms asleep".to_string()
    } else {
        format!("{flush_mb} MB written")
    };
    println!(
        "pcmu/denoise_off: mean tick {:.1} us over {ticks} ticks, each after {how}",
        total.as_secs_f64() * 1e6 / f64::from(ticks.max(1))
    );
}

criterion_group!(benches, bench);

fn main() {
    let number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    if let Some(ticks) = number("CONFERENCE_COLD_TICKS") {
        cold_ticks(
            ticks,
            number("CONFERENCE_COLD_FLUSH_MB").unwrap_or(64) as usize,
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
