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
//! the median and quartiles of those ratios. The dispatched kernel's line comes
//! first (the figure of record); the other kernels this CPU runs follow, timed
//! in the same rounds.

use agentphone_audio::denoise::{DenoiseBatch, Denoiser, Kernel};
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

/// Median and quartiles of a sample.
fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() / 4], v[3 * v.len() / 4])
}

/// Median and quartiles of the per-round time ratio nnnoiseless / ours, for the
/// dispatched kernel (the figure of record) and, in the same rounds, every
/// other kernel this CPU runs.
fn interleaved_ratio(frames: &[[f32; FRAME_SAMPLES]], rounds: usize) {
    let dispatched = Kernel::Auto.resolve();
    let mut ours: Vec<Denoiser> = std::iter::once(dispatched)
        .chain(
            Kernel::ALL
                .into_iter()
                .filter(|&k| k != dispatched && k.is_available()),
        )
        .map(|k| match Denoiser::with_kernel(k) {
            Ok(d) => d,
            Err(e) => panic!("{k:?}: {e}"),
        })
        .collect();
    let mut reference = nnnoiseless::DenoiseState::new();
    let mut out = [0.0f32; FRAME_SAMPLES];
    let mut t_ours = vec![Vec::with_capacity(rounds); ours.len()];
    let mut t_ref = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        for (d, t_d) in ours.iter_mut().zip(&mut t_ours) {
            let t = Instant::now();
            for f in frames {
                std::hint::black_box(d.process(f, &mut out));
            }
            t_d.push(t.elapsed().as_secs_f64());
        }
        let t = Instant::now();
        for f in frames {
            std::hint::black_box(reference.process_frame(&mut out, f));
        }
        t_ref.push(t.elapsed().as_secs_f64());
    }
    let per_frame = |v: f64| v * 1e6 / frames.len() as f64;
    let (b, _, _) = quartiles(t_ref.clone());
    for (i, (d, t_d)) in ours.iter().zip(&t_ours).enumerate() {
        let ratios = t_ref.iter().zip(t_d).map(|(b, a)| b / a).collect();
        let (r, r1, r3) = quartiles(ratios);
        let (a, _, _) = quartiles(t_d.clone());
        println!(
            "interleaved, {rounds} rounds of {} frames: ours ({:?}{}) {:.1} us/frame, \
             nnnoiseless {:.1} us/frame (medians); nnnoiseless/ours per round: \
             median {r:.2}x, quartiles {r1:.2}x..{r3:.2}x",
            frames.len(),
            d.kernel(),
            if i == 0 { ", dispatched" } else { "" },
            per_frame(a),
            per_frame(b),
        );
    }
}

/// Per-leg cost with eight legs each tick, denoised one after another (what
/// the engine does today, one model shared through `Arc`) and as one
/// `DenoiseBatch` (weights streamed once per layer for all legs), against one
/// leg alone; the three timed in turn within each round. Each leg starts at
/// another point of the fixture so the legs carry different signals.
fn eight_legs(frames: &[[f32; FRAME_SAMPLES]], rounds: usize) {
    const LEGS: usize = 8;
    let model = agentphone_audio::denoise::Model::default_model();
    let mut legs: Vec<Denoiser> = (0..LEGS)
        .map(|_| Denoiser::from_model(model.clone()))
        .collect();
    let mut one = Denoiser::from_model(model.clone());
    let mut batch = match DenoiseBatch::new(model, LEGS, Kernel::Auto) {
        Ok(b) => b,
        Err(e) => panic!("batch: {e}"),
    };
    let mut out = [0.0f32; FRAME_SAMPLES];
    let mut ins = [[0.0f32; FRAME_SAMPLES]; LEGS];
    let mut outs = [[0.0f32; FRAME_SAMPLES]; LEGS];
    let mut vads = [0.0f32; LEGS];
    let (mut t_one, mut t_eight, mut t_batch) = (vec![], vec![], vec![]);
    let n = frames.len();
    for _ in 0..rounds {
        let t = Instant::now();
        for f in frames {
            std::hint::black_box(one.process(f, &mut out));
        }
        t_one.push(t.elapsed().as_secs_f64() / n as f64);
        let t = Instant::now();
        for i in 0..n {
            for (l, d) in legs.iter_mut().enumerate() {
                std::hint::black_box(d.process(&frames[(i + l * n / LEGS) % n], &mut out));
            }
        }
        t_eight.push(t.elapsed().as_secs_f64() / (n * LEGS) as f64);
        let t = Instant::now();
        for i in 0..n {
            for (l, f) in ins.iter_mut().enumerate() {
                *f = frames[(i + l * n / LEGS) % n];
            }
            if let Err(e) = batch.process(&ins, &mut outs, &mut vads) {
                panic!("batch: {e}");
            }
            std::hint::black_box(&vads);
        }
        t_batch.push(t.elapsed().as_secs_f64() / (n * LEGS) as f64);
    }
    let ratios = t_batch.iter().zip(&t_one).map(|(e, o)| e / o).collect();
    let (br, br1, br3) = quartiles(ratios);
    let ratios = t_eight.iter().zip(&t_one).map(|(e, o)| e / o).collect();
    let (r, r1, r3) = quartiles(ratios);
    let (a, _, _) = quartiles(t_one);
    let (b, _, _) = quartiles(t_eight);
    let (c, _, _) = quartiles(t_batch);
    println!(
        "legs, {rounds} rounds: 1 leg {:.1} us/frame, 8 legs one after another {:.1} us per \
         leg-frame (medians); per-leg cost at 8 legs / 1 leg: median {r:.2}, quartiles \
         {r1:.2}..{r3:.2}; 8 legs batched ({:?}) {:.1} us per leg-frame, per-leg cost / \
         1 leg: median {br:.2}, quartiles {br1:.2}..{br3:.2}",
        a * 1e6,
        b * 1e6,
        batch.kernel(),
        c * 1e6,
    );
}

fn bench(c: &mut Criterion) {
    let frames = load_frames();
    interleaved_ratio(&frames, 60);
    eight_legs(&frames, 20);
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
