//! Profiling harness for the denoiser, the one the profiles and instruction
//! counts in this crate's README come from:
//!
//! ```text
//! cargo build --release -p agentphone-audio --example denoise_profile
//! target/release/examples/denoise_profile KERNEL ROUNDS
//! ```
//!
//! runs `fixtures/audio/speech_noisy.wav` (400 frames of 10 ms) ROUNDS times
//! through one denoiser and prints the time per frame. KERNEL is `auto` (the
//! dispatched kernel), `portable`, `avx2`, `avx512` (a forced kernel, refused
//! if this CPU cannot run it), or `nnnoiseless` (the plain crate, for the
//! reference profile). Under `perf record -g` or `valgrind --tool=callgrind`,
//! the difference between two ROUNDS values divided by the extra frames is the
//! cost of a frame, with start-up and WAV reading cancelled out.

use agentphone_audio::denoise::{Denoiser, Kernel};
use agentphone_audio::FRAME_SAMPLES;
use std::process::ExitCode;
use std::time::Instant;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/audio/speech_noisy.wav"
);

enum Engine {
    Ours(Box<Denoiser>),
    Plain(Box<nnnoiseless::DenoiseState<'static>>),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(kernel), Some(rounds)) = (args.first(), args.get(1)) else {
        eprintln!("usage: denoise_profile auto|portable|avx2|avx512|nnnoiseless ROUNDS");
        return ExitCode::from(2);
    };
    let Ok(rounds) = rounds.parse::<usize>() else {
        eprintln!("ROUNDS must be a whole number, not '{rounds}'");
        return ExitCode::from(2);
    };
    let mut engine = match kernel.as_str() {
        "auto" => Engine::Ours(Box::new(Denoiser::new())),
        name @ ("portable" | "avx2" | "avx512") => {
            let kind = match name {
                "portable" => Kernel::Portable,
                "avx2" => Kernel::Avx2Fma,
                _ => Kernel::Avx512Vnni,
            };
            match Denoiser::with_kernel(kind) {
                Ok(d) => Engine::Ours(Box::new(d)),
                Err(e) => {
                    eprintln!("{name} kernel: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        "nnnoiseless" => Engine::Plain(nnnoiseless::DenoiseState::new()),
        other => {
            eprintln!("unknown kernel '{other}' (auto, portable, avx2, avx512 or nnnoiseless)");
            return ExitCode::from(2);
        }
    };
    let frames = match load_frames() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{FIXTURE}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = [0.0f32; FRAME_SAMPLES];
    let start = Instant::now();
    for _ in 0..rounds {
        for f in &frames {
            match &mut engine {
                Engine::Ours(d) => {
                    std::hint::black_box(d.process(f, &mut out));
                }
                Engine::Plain(d) => {
                    std::hint::black_box(d.process_frame(&mut out, f));
                }
            }
        }
    }
    let n = (rounds * frames.len()).max(1);
    println!(
        "{kernel}: {n} frames, {:.2} µs per frame",
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    ExitCode::SUCCESS
}

fn load_frames() -> Result<Vec<[f32; FRAME_SAMPLES]>, hound::Error> {
    let mut r = hound::WavReader::open(FIXTURE)?;
    let samples: Vec<f32> = r
        .samples::<i16>()
        .collect::<Result<Vec<i16>, _>>()?
        .into_iter()
        .map(f32::from)
        .collect();
    Ok(samples
        .chunks_exact(FRAME_SAMPLES)
        .map(|c| {
            let mut f = [0.0; FRAME_SAMPLES];
            f.copy_from_slice(c);
            f
        })
        .collect())
}
