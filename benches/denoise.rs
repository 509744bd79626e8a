//! Per-frame denoise time: ours (dispatched and portable kernels) against plain
//! `nnnoiseless::DenoiseState::process_frame`, side by side in one run.
//!
//! `cargo bench --bench denoise`. Each iteration processes the next 10 ms frame of
//! `fixtures/audio/speech_noisy.wav` (cycled), so speech, pauses and the network
//! all take their real share.

use agentphone_audio::denoise::{Denoiser, Kernel};
use agentphone_audio::FRAME_SAMPLES;
use criterion::{criterion_group, criterion_main, Criterion};

fn load_frames() -> Vec<[f32; FRAME_SAMPLES]> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/audio/speech_noisy.wav"
    );
    let mut r = match hound::WavReader::open(path) {
        Ok(r) => r,
        Err(e) => panic!("bench fixture {path}: {e}"),
    };
    let samples: Vec<f32> = r
        .samples::<i16>()
        .filter_map(Result::ok)
        .map(f32::from)
        .collect();
    samples
        .chunks_exact(FRAME_SAMPLES)
        .map(|c| {
            let mut f = [0.0; FRAME_SAMPLES];
            f.copy_from_slice(c);
            f
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let frames = load_frames();
    let mut g = c.benchmark_group("denoise_frame");
    let mut out = [0.0f32; FRAME_SAMPLES];

    for (name, kernel) in [
        ("ours_dispatched", Kernel::Auto),
        ("ours_portable", Kernel::Portable),
    ] {
        let mut d = match Denoiser::with_kernel(kernel) {
            Ok(d) => d,
            Err(e) => panic!("{name}: {e}"),
        };
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % frames.len();
                std::hint::black_box(d.process(&frames[i], &mut out))
            })
        });
    }

    let mut st = nnnoiseless::DenoiseState::new();
    let mut i = 0;
    g.bench_function("nnnoiseless", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            std::hint::black_box(st.process_frame(&mut out, &frames[i]))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
