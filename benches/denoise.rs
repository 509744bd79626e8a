//! Per-frame denoise time: ours (dispatched and portable kernels) against plain
//! `nnnoiseless::DenoiseState::process_frame`, side by side in one run.
//!
//! `cargo bench --bench denoise`. Each iteration processes the next 10 ms frame of
//! `fixtures/audio/speech_noisy.wav` (cycled), so speech, pauses and the network
//! all take their real share.
//!
//! Criterion measures the three one after another, which on a loaded machine
//! lets the load differ between them; so the bench first prints an interleaved
//! comparison: rounds of the whole fixture through ours and through nnnoiseless
//! back to back, the speed ratio taken per round (both saw the same load), and
//! the median and quartiles of those ratios.

use agentphone_audio::denoise::{Denoiser, Kernel};
use agentphone_audio::FRAME_SAMPLES;
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Instant;

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

/// Median and quartiles of the per-round time ratio nnnoiseless / ours.
fn interleaved_ratio(frames: &[[f32; FRAME_SAMPLES]], rounds: usize) {
    let mut ours = Denoiser::new();
    let mut reference = nnnoiseless::DenoiseState::new();
    let mut out = [0.0f32; FRAME_SAMPLES];
    let mut ratios = Vec::with_capacity(rounds);
    let (mut t_ours, mut t_ref) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        for f in frames {
            std::hint::black_box(ours.process(f, &mut out));
        }
        let a = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for f in frames {
            std::hint::black_box(reference.process_frame(&mut out, f));
        }
        let b = t.elapsed().as_secs_f64();
        ratios.push(b / a);
        t_ours.push(a);
        t_ref.push(b);
    }
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let (r, a, b) = (sorted(ratios), sorted(t_ours), sorted(t_ref));
    let per_frame = |v: &[f64]| v[v.len() / 2] * 1e6 / frames.len() as f64;
    println!(
        "interleaved, {rounds} rounds of {} frames: ours ({:?}) {:.1} us/frame, \
         nnnoiseless {:.1} us/frame (medians); nnnoiseless/ours per round: \
         median {:.2}x, quartiles {:.2}x..{:.2}x",
        frames.len(),
        ours.kernel(),
        per_frame(&a),
        per_frame(&b),
        r[r.len() / 2],
        r[r.len() / 4],
        r[3 * r.len() / 4],
    );
}

fn bench(c: &mut Criterion) {
    let frames = load_frames();
    interleaved_ratio(&frames, 60);
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
