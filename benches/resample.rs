//! One 10 ms frame through the G.711 resamplers: 80 samples up to 48 kHz
//! (what every narrowband leg's received audio costs) and 480 samples down to
//! 8 kHz (what its N-1 mix costs before encoding), speech-like input (a
//! sum of tones) so no branch sees silence.
//!
//! `cargo bench --bench resample`. In a G.711 conference both run once per
//! leg per tick; the live bridge's audio thread spends about a third of its
//! time here (`perf record -t` of `agentphone-audio` during
//! `scripts/bench-conference.sh`).

use agentphone_media::resample::{Downsampler, Upsampler};
use criterion::{criterion_group, criterion_main, Criterion};

fn signal(rate: f64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| {
            let t = n as f64 / rate;
            [310.0, 1_170.0, 2_830.0]
                .iter()
                .map(|f| 6_000.0 * (2.0 * std::f64::consts::PI * f * t).sin())
                .sum::<f64>() as f32
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("resample_frame");
    let narrow = signal(8_000.0, 80 * 50);
    let wide = signal(48_000.0, 480 * 50);

    let mut up = Upsampler::new();
    let mut out = [0.0f32; 480];
    let mut i = 0;
    g.bench_function("up_8k_to_48k", |b| {
        b.iter(|| {
            i = (i + 1) % 50;
            let n = up.process(&narrow[i * 80..(i + 1) * 80], &mut out);
            std::hint::black_box((n, out[479]))
        })
    });

    let mut down = Downsampler::new();
    let mut out = [0.0f32; 80];
    let mut i = 0;
    g.bench_function("down_48k_to_8k", |b| {
        b.iter(|| {
            i = (i + 1) % 50;
            let n = down.process(&wide[i * 480..(i + 1) * 480], &mut out);
            std::hint::black_box((n, out[79]))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
