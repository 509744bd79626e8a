//! A fake network for engine tests: remote senders that packetise a tone (or
//! anything) with real encoders on their own clock, and far ends that decode
//! what the engine sends them. Time is a fake clock advanced 10 ms a tick.

#![allow(dead_code)]

use agentphone_audio::{Frame, FRAME_SAMPLES};
use agentphone_engine::chain::Chain;
use agentphone_engine::clean::Cleaner;
use agentphone_engine::leg::{LegAudio, LegRings};
use agentphone_engine::packer::Packer;
use agentphone_engine::packet::{Inbound, PacketKind};
use agentphone_engine::{Command, Engine, EngineLimits, Event, PartId};
use agentphone_media::codec::{CodecKind, Decoder, Encoder, MAX_PAYLOAD_BYTES};
use std::time::{Duration, Instant};

pub const TICK: Duration = Duration::from_millis(10);

/// G.711's static payload type, 111 for Opus (dynamic).
fn payload_type(codec: CodecKind) -> u8 {
    codec.info().static_payload_type.unwrap_or(111)
}

/// A remote phone: sends `voice` as 20 ms PCMU (or Opus) packets on its own
/// clock (`rate` > 1 runs fast), decodes and keeps what the engine sends it.
pub struct Remote {
    pub part: PartId,
    codec: CodecKind,
    rings: LegRings,
    encoder: Encoder,
    decoder: Decoder,
    voice: Box<dyn FnMut(usize) -> f32>,
    sample: usize,
    seq: u16,
    ts: u32,
    /// Sender time of the next packet, in seconds since the start.
    next_send: f64,
    rate: f64,
    pub sending: bool,
    /// Everything it heard, 48 kHz.
    pub heard: Vec<f32>,
    /// The first byte of each packet the engine sent it (Opus: the TOC).
    pub first_bytes: Vec<u8>,
    /// The packets that came after a gap in the engine's clock: where in
    /// `heard` they start and the RTP time they said was skipped.
    pub gaps: Vec<(usize, u32)>,
    started: bool,
}

impl Remote {
    /// A leg for the engine and the remote phone behind it.
    pub fn new(part: u64, voice: impl FnMut(usize) -> f32 + 'static) -> (Remote, Box<LegAudio>) {
        Self::with_codec(part, CodecKind::Pcmu, voice)
    }

    /// As [`Remote::new`], sending and receiving `codec`.
    pub fn with_codec(
        part: u64,
        codec: CodecKind,
        voice: impl FnMut(usize) -> f32 + 'static,
    ) -> (Remote, Box<LegAudio>) {
        let packer = Packer::new(codec, payload_type(codec), 20).unwrap();
        let (audio, rings) = LegAudio::new(packer, Cleaner::new(None, false));
        (
            Remote {
                part: PartId(part),
                codec,
                rings,
                encoder: Encoder::new(codec, 20).unwrap(),
                decoder: Decoder::new(codec).unwrap(),
                voice: Box::new(voice),
                sample: 0,
                seq: 1000,
                ts: 0,
                next_send: 0.0,
                rate: 1.0,
                sending: true,
                heard: Vec::new(),
                first_bytes: Vec::new(),
                gaps: Vec::new(),
                started: false,
            },
            Box::new(audio),
        )
    }

    /// Its clock runs `rate` times as fast as the engine's.
    pub fn with_rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    /// Sends every packet due by `elapsed` (engine time), arriving at once.
    pub fn send_due(&mut self, t0: Instant, elapsed: Duration) {
        if !self.started {
            let chain = Chain::new(
                payload_type(self.codec),
                self.codec,
                960,
                (Duration::from_millis(20), Duration::from_millis(200)),
            )
            .unwrap();
            assert!(self
                .rings
                .inbound
                .push(Inbound::Chain(Box::new(chain)))
                .is_ok());
            self.started = true;
        }
        let now = elapsed.as_secs_f64();
        while self.next_send / self.rate <= now {
            let mut pcm = [0.0f32; 960];
            for s in pcm.iter_mut() {
                *s = (self.voice)(self.sample);
                self.sample += 1;
            }
            let mut payload = [0u8; MAX_PAYLOAD_BYTES];
            let n = self.encoder.encode(&pcm, &mut payload).unwrap();
            if self.sending {
                let at = (self.seq, self.ts);
                let pushed = self.rings.inbound.push_packet(
                    t0 + elapsed,
                    at,
                    PacketKind::Audio,
                    &payload[..n],
                );
                assert!(
                    pushed.is_ok(),
                    "inbound ring refused the packet: {pushed:?}"
                );
            }
            self.seq = self.seq.wrapping_add(1);
            self.ts = self.ts.wrapping_add(self.codec.timestamp_step(20));
            self.next_send += 0.020;
        }
    }

    /// Decodes what the engine sent since the last call.
    pub fn receive(&mut self) {
        while let Ok(p) = self.rings.outbound.pop() {
            let mut pcm = [0.0f32; 960 * 3];
            if p.skipped > 0 {
                self.gaps.push((self.heard.len(), p.skipped));
            }
            self.first_bytes.extend(p.payload().first());
            let n = self.decoder.decode(p.payload(), &mut pcm).unwrap();
            self.heard.extend_from_slice(&pcm[..n]);
        }
    }
}

/// An engine with a fake clock and the remotes of its legs.
pub struct Sim {
    pub engine: Engine,
    pub remotes: Vec<Remote>,
    pub t0: Instant,
    pub elapsed: Duration,
    /// The microphone frame every tick gives the engine.
    pub mic: Box<dyn FnMut(usize) -> f32>,
    mic_sample: usize,
    /// Everything the engine sent to the sound card.
    pub speaker: Vec<f32>,
    pub events: Vec<Event>,
}

impl Sim {
    pub fn new() -> Self {
        Sim {
            engine: Engine::new(EngineLimits::default()),
            remotes: Vec::new(),
            t0: Instant::now(),
            elapsed: Duration::ZERO,
            mic: Box::new(|_| 0.0),
            mic_sample: 0,
            speaker: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Adds a remote phone (its leg in no room yet).
    pub fn add_remote(&mut self, part: u64, voice: impl FnMut(usize) -> f32 + 'static) {
        self.add_remote_with(part, CodecKind::Pcmu, voice);
    }

    /// As [`Sim::add_remote`], the leg and its remote on `codec`.
    pub fn add_remote_with(
        &mut self,
        part: u64,
        codec: CodecKind,
        voice: impl FnMut(usize) -> f32 + 'static,
    ) {
        let (remote, audio) = Remote::with_codec(part, codec, voice);
        self.engine.handle(Command::AddLeg {
            part: PartId(part),
            audio,
        });
        self.remotes.push(remote);
    }

    pub fn remote(&mut self, part: u64) -> &mut Remote {
        self.remotes
            .iter_mut()
            .find(|r| r.part == PartId(part))
            .expect("no such remote")
    }

    /// The audio clock stalls for `ticks` ticks and restarts without them,
    /// as the audio thread does when it falls far behind.
    pub fn stall(&mut self, ticks: u32) {
        self.elapsed += TICK * ticks;
        self.engine.skip(ticks);
    }

    /// Runs `ticks` ticks of 10 ms.
    pub fn run(&mut self, ticks: usize) {
        let mut mic: Frame = [0.0; FRAME_SAMPLES];
        let mut out: Frame = [0.0; FRAME_SAMPLES];
        for _ in 0..ticks {
            for r in &mut self.remotes {
                r.send_due(self.t0, self.elapsed);
            }
            for s in mic.iter_mut() {
                *s = (self.mic)(self.mic_sample);
                self.mic_sample += 1;
            }
            self.engine.tick(self.t0 + self.elapsed, &mic, &mut out);
            self.speaker.extend_from_slice(&out);
            for r in &mut self.remotes {
                r.receive();
            }
            while let Some(e) = self.engine.poll_event() {
                self.events.push(e);
            }
            self.elapsed += TICK;
        }
    }
}

/// A sine of `hz` at amplitude `amp` (±32768 scale), as a sample function.
pub fn tone(hz: f64, amp: f32) -> impl FnMut(usize) -> f32 {
    move |n| amp * (std::f64::consts::TAU * hz * n as f64 / 48_000.0).sin() as f32
}

/// Power of `hz` in `x` (Goertzel over a Hann window, so strong tones nearby
/// do not leak into the bin), in dB relative to a full-scale sine.
pub fn tone_db(x: &[f32], hz: f64) -> f64 {
    let w = std::f64::consts::TAU * hz / 48_000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let n = x.len().max(2) as f64;
    for (i, &v) in x.iter().enumerate() {
        let hann = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (n - 1.0)).cos();
        let s0 = f64::from(v) * hann + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    // A full-scale sine of N samples gives (N * 32768 / 2)^2, halved in
    // amplitude by the window.
    let full = (x.len() as f64 * 32_768.0 / 4.0).powi(2);
    10.0 * (power.max(1e-30) / full).log10()
}

/// The last `secs` seconds of `x`.
pub fn tail(x: &[f32], secs: f64) -> &[f32] {
    let n = ((secs * 48_000.0) as usize).min(x.len());
    &x[x.len() - n..]
}

/// `x` between `from` and `to` seconds.
pub fn window(x: &[f32], from: f64, to: f64) -> &[f32] {
    let a = ((from * 48_000.0) as usize).min(x.len());
    let b = ((to * 48_000.0) as usize).min(x.len());
    &x[a..b]
}
