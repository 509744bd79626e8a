//! Time of one N-1 conference mix call (inputs written, mix, outputs read) with 2,
//! 4 and 8 participants, each leg playing its own tone.
//!
//! `cargo bench --bench mixer`. The budget is the 10 ms audio tick; a mix should
//! take a few microseconds.

use agentphone_audio::mixer::Mixer;
use agentphone_audio::source::{AudioSource, Tone};
use agentphone_audio::{Frame, FRAME_SAMPLES};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn bench_mix(c: &mut Criterion) {
    let mut group = c.benchmark_group("mixer");
    for n in [2usize, 4, 8] {
        let mut mixer = match Mixer::new(8) {
            Ok(m) => m,
            Err(e) => panic!("mixer: {e}"),
        };
        let ids: Vec<_> = (0..n).filter_map(|_| mixer.add().ok()).collect();
        assert_eq!(ids.len(), n);
        let frames: Vec<Frame> = (0..n)
            .map(|leg| {
                let mut f = [0.0; FRAME_SAMPLES];
                if let Ok(mut t) = Tone::new(300.0 + 200.0 * leg as f32, -20.0) {
                    t.read_frame(&mut f);
                }
                f
            })
            .collect();
        group.bench_with_input(BenchmarkId::new("participants", n), &n, |b, _| {
            b.iter(|| {
                for (id, f) in ids.iter().zip(&frames) {
                    let _ = mixer.set_input(*id, f);
                }
                mixer.mix();
                let mut acc = 0.0f32;
                for id in &ids {
                    if let Ok(out) = mixer.output(*id) {
                        acc += out[0];
                    }
                }
                std::hint::black_box(acc)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_mix);
criterion_main!(benches);
