//! Our denoiser against plain nnnoiseless 0.5 on the speech fixtures: same model,
//! so the output must match to >= 40 dB SNR and the voice probability to 0.01 per
//! frame, with every kernel this CPU can run (the others are named on stderr),
//! on the fixtures and on speech mixed with synthesised pink noise, babble and
//! mains hum. Also:
//! the output really has less noise than the input where nobody speaks, models
//! load from files, and bad input never yields NaN.

use std::path::PathBuf;
use std::sync::Arc;

use agentphone_audio::denoise::{DenoiseBatch, DenoiseError, Denoiser, Kernel, Model};
use agentphone_audio::FRAME_SAMPLES;
use proptest::prelude::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/audio")
        .join(name)
}

/// The fixture's samples cut into whole frames (±32768 scale).
fn frames(name: &str) -> Vec<[f32; FRAME_SAMPLES]> {
    let mut r = hound::WavReader::open(fixture(name)).expect("fixture opens");
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (48_000, 1, 16)
    );
    let s: Vec<f32> = r
        .samples::<i16>()
        .map(|s| f32::from(s.expect("sample")))
        .collect();
    s.chunks_exact(FRAME_SAMPLES)
        .map(|c| {
            let mut f = [0.0; FRAME_SAMPLES];
            f.copy_from_slice(c);
            f
        })
        .collect()
}

struct Run {
    out: Vec<f32>,
    vad: Vec<f32>,
}

fn run_reference(input: &[[f32; FRAME_SAMPLES]]) -> Run {
    let mut st = nnnoiseless::DenoiseState::new();
    let mut run = Run {
        out: vec![],
        vad: vec![],
    };
    let mut buf = [0.0f32; FRAME_SAMPLES];
    for f in input {
        run.vad.push(st.process_frame(&mut buf, f));
        run.out.extend_from_slice(&buf);
    }
    run
}

fn run_ours(d: &mut Denoiser, input: &[[f32; FRAME_SAMPLES]]) -> Run {
    let mut run = Run {
        out: vec![],
        vad: vec![],
    };
    let mut buf = [0.0f32; FRAME_SAMPLES];
    for f in input {
        run.vad.push(d.process(f, &mut buf));
        run.out.extend_from_slice(&buf);
    }
    run
}

fn snr_db(reference: &[f32], test: &[f32]) -> f64 {
    let sig: f64 = reference.iter().map(|&x| f64::from(x).powi(2)).sum();
    let err: f64 = reference
        .iter()
        .zip(test)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum();
    if err == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (sig / err).log10()
    }
}

fn assert_equivalent(name: &str, kernel: Kernel) {
    let input = frames(name);
    let reference = run_reference(&input);
    assert_equivalent_to(name, &input, &reference, kernel);
}

/// Checks `kernel` against nnnoiseless's run over `input`.
fn assert_equivalent_to(
    name: &str,
    input: &[[f32; FRAME_SAMPLES]],
    reference: &Run,
    kernel: Kernel,
) {
    let mut d = Denoiser::with_kernel(kernel).expect("kernel available");
    let ours = run_ours(&mut d, input);
    let snr = snr_db(&reference.out, &ours.out);
    let max_vad = reference
        .vad
        .iter()
        .zip(&ours.vad)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!(
        "{name} {:?}: SNR vs nnnoiseless {snr:.1} dB, max VAD diff {max_vad:.2e}",
        d.kernel()
    );
    assert!(snr >= 40.0, "{name} {kernel:?}: SNR {snr:.1} dB < 40 dB");
    assert!(
        max_vad <= 0.01,
        "{name} {kernel:?}: VAD differs by {max_vad}"
    );
}

#[test]
fn portable_kernel_matches_nnnoiseless_on_noisy_speech() {
    assert_equivalent("speech_noisy.wav", Kernel::Portable);
}

#[test]
fn dispatched_kernel_matches_nnnoiseless_on_noisy_speech() {
    assert_equivalent("speech_noisy.wav", Kernel::Auto);
}

#[test]
fn every_kernel_matches_nnnoiseless_on_clean_and_noisy_speech() {
    for kernel in runnable_kernels() {
        assert_equivalent("speech.wav", kernel);
        assert_equivalent("speech_noisy.wav", kernel);
    }
}

/// The kernels this CPU can run; names the others on stderr.
fn runnable_kernels() -> Vec<Kernel> {
    let (yes, no): (Vec<Kernel>, Vec<Kernel>) = Kernel::ALL.iter().partition(|k| k.is_available());
    for k in no {
        eprintln!("kernel {k:?}: NOT tested, this CPU cannot run it");
    }
    yes
}

/// A deterministic pseudo-random stream in -1..1.
struct Lcg(u32);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.0 >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Pink (1/f) noise: white noise through Paul Kellet's economy filter.
fn pink_noise(n: usize) -> Vec<f32> {
    let mut r = Lcg(7);
    let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
    (0..n)
        .map(|_| {
            let w = r.next();
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            b0 + b1 + b2 + w * 0.1848
        })
        .collect()
}

/// Babble: five copies of the speech fixture, each started at another point
/// (cyclically) and resampled by another factor (pitch and tempo shifted),
/// summed: several talkers at once.
fn babble(speech: &[f32], n: usize) -> Vec<f32> {
    let len = speech.len() as f64;
    let mut out = vec![0.0f32; n];
    for (i, &(start, rate)) in [
        (0.31, 0.87),
        (0.52, 1.13),
        (0.08, 0.95),
        (0.77, 1.21),
        (0.64, 1.04),
    ]
    .iter()
    .enumerate()
    {
        let offset = start * len + i as f64 * 1_000.0;
        for (j, o) in out.iter_mut().enumerate() {
            let t = (offset + j as f64 * rate) % len;
            let (k, frac) = (t.floor() as usize, (t - t.floor()) as f32);
            let (a, b) = (speech[k], speech[(k + 1) % speech.len()]);
            *o += a + (b - a) * frac;
        }
    }
    out
}

/// Mains hum: 50 Hz and its harmonics up to 1 kHz, falling 3 dB per harmonic,
/// with a slow amplitude wobble.
fn hum(n: usize) -> Vec<f32> {
    use std::f64::consts::TAU;
    (0..n)
        .map(|j| {
            let t = j as f64 / 48_000.0;
            let s: f64 = (1..=20)
                .map(|h| {
                    let h = f64::from(h);
                    0.7f64.powf(h - 1.0) * (TAU * 50.0 * h * t + h).sin()
                })
                .sum();
            (s * (1.0 + 0.2 * (TAU * 0.5 * t).sin())) as f32
        })
        .collect()
}

/// `speech` plus `noise` scaled to the given speech-to-noise ratio, clamped to
/// 16-bit range, cut into frames.
fn mix(speech: &[f32], noise: &[f32], snr_db: f64) -> Vec<[f32; FRAME_SAMPLES]> {
    let gain = (rms(speech) / rms(noise) / 10f64.powf(snr_db / 20.0)) as f32;
    let mixed: Vec<f32> = speech
        .iter()
        .zip(noise)
        .map(|(&s, &v)| (s + gain * v).clamp(-32768.0, 32767.0).round())
        .collect();
    mixed
        .chunks_exact(FRAME_SAMPLES)
        .map(|c| {
            let mut f = [0.0; FRAME_SAMPLES];
            f.copy_from_slice(c);
            f
        })
        .collect()
}

/// Speech in pink noise, babble and hum (each at 5 dB speech-to-noise), made
/// here deterministically from `speech.wav`: every kernel this CPU runs must
/// match nnnoiseless on each.
#[test]
fn every_kernel_matches_nnnoiseless_on_speech_in_pink_babble_and_hum() {
    let speech: Vec<f32> = frames("speech.wav").concat();
    let n = speech.len();
    for (name, noise) in [
        ("speech + pink noise", pink_noise(n)),
        ("speech + babble", babble(&speech, n)),
        ("speech + hum", hum(n)),
    ] {
        let input = mix(&speech, &noise, 5.0);
        let reference = run_reference(&input);
        for kernel in runnable_kernels() {
            assert_equivalent_to(name, &input, &reference, kernel);
        }
    }
}

/// Where the clean fixture is silent, the noisy fixture holds only noise: the
/// denoised output must carry much less energy there than the input did.
#[test]
fn output_has_less_noise_than_input_where_nobody_speaks() {
    let clean = frames("speech.wav");
    let noisy = frames("speech_noisy.wav");
    let mut d = Denoiser::new();
    let out = run_ours(&mut d, &noisy).out;
    let energy = |f: &[f32]| f.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
    let (mut e_in, mut e_out, mut count) = (0.0, 0.0, 0);
    // Skip the first frames while the network's state settles; output frame i+1
    // holds input frame i.
    for i in 10..noisy.len() - 1 {
        let clean_rms = (energy(&clean[i]) / FRAME_SAMPLES as f64).sqrt();
        if clean_rms < 10.0 {
            e_in += energy(&noisy[i]);
            e_out += energy(&out[(i + 1) * FRAME_SAMPLES..(i + 2) * FRAME_SAMPLES]);
            count += 1;
        }
    }
    let reduction = 10.0 * (e_in / e_out).log10();
    eprintln!("noise-only frames: {count}, noise reduced by {reduction:.1} dB");
    assert!(
        count >= 20,
        "fixture should have pauses, found {count} noise-only frames"
    );
    assert!(reduction >= 15.0, "noise reduced by only {reduction:.1} dB");
}

#[test]
fn models_load_from_files_and_bad_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("agentphone-denoise-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("weights.rnn");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/denoise/weights.rnn");
    std::fs::copy(&src, &good).unwrap();
    let model = Arc::new(Model::from_file(&good).expect("model file loads"));
    let input = frames("speech_noisy.wav");
    let from_file = run_ours(&mut Denoiser::from_model(model), &input[..100]);
    let builtin = run_ours(&mut Denoiser::new(), &input[..100]);
    assert_eq!(from_file.out, builtin.out);

    let bad = dir.join("bad.rnn");
    std::fs::write(&bad, b"this is not a model").unwrap();
    let err = Model::from_file(&bad).unwrap_err();
    assert!(err.to_string().contains("model"), "{err}");
    let bytes = std::fs::read(&good).unwrap();
    assert!(matches!(
        Denoiser::with_model(&bytes[..bytes.len() / 2]),
        Err(DenoiseError::ModelTruncated { .. })
    ));
    assert!(Denoiser::with_model(&bytes).is_ok());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn nan_and_infinity_do_not_poison_the_state() {
    let input = frames("speech_noisy.wav");
    let mut d = Denoiser::new();
    let mut reference = Denoiser::new();
    let mut out = [0.0f32; FRAME_SAMPLES];
    let mut ref_out = [0.0f32; FRAME_SAMPLES];
    let mut poisoned = input[50];
    poisoned[7] = f32::NAN;
    poisoned[8] = f32::INFINITY;
    poisoned[9] = f32::NEG_INFINITY;
    for (i, f) in input.iter().enumerate() {
        let f_in = if i == 50 { &poisoned } else { f };
        d.process(f_in, &mut out);
        reference.process(f, &mut ref_out);
        assert!(
            out.iter().all(|s| s.is_finite()),
            "frame {i} has non-finite output"
        );
    }
    // Three zeroed samples leave a trace but the call sounds the same afterwards.
    let snr = snr_db(&ref_out, &out);
    assert!(snr > 20.0, "state still disturbed at the end: {snr:.1} dB");
}

fn frame_strategy() -> impl Strategy<Value = Vec<f32>> {
    let sample = prop_oneof![
        4 => -32768.0f32..32768.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(32767.0f32),
        1 => Just(-32768.0f32),
        1 => Just(0.0f32),
        1 => any::<f32>(),
    ];
    prop_oneof![
        proptest::collection::vec(sample, FRAME_SAMPLES),
        Just(vec![0.0; FRAME_SAMPLES]),
        Just(vec![32767.0; FRAME_SAMPLES]),
        Just(
            (0..FRAME_SAMPLES)
                .map(|i| if i % 2 == 0 { 32767.0 } else { -32768.0 })
                .collect()
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn arbitrary_frames_never_panic_or_produce_nan(
        frames in proptest::collection::vec(frame_strategy(), 1..12),
        kernel in proptest::sample::select(Kernel::ALL.to_vec()),
    ) {
        // A kernel this CPU cannot run is replaced by the dispatched one.
        let kernel = if kernel.is_available() { kernel } else { Kernel::Auto };
        let mut d = Denoiser::with_kernel(kernel).unwrap();
        let mut out = [0.0f32; FRAME_SAMPLES];
        for f in &frames {
            let mut input = [0.0f32; FRAME_SAMPLES];
            input.copy_from_slice(f);
            let vad = d.process(&input, &mut out);
            prop_assert!((0.0..=1.0).contains(&vad), "vad {}", vad);
            prop_assert!(out.iter().all(|s| s.is_finite()));
        }
    }
}

/// A batch's legs give exactly what separate denoisers with the same kernel
/// give, for every kernel this CPU runs: legs start at different points of the
/// fixture, one is silent for its first second (its frames skip the network
/// while the others' do not), one gets a NaN-poisoned frame, and one is reset
/// halfway.
#[test]
fn batch_legs_equal_separate_denoisers_bit_for_bit() {
    let speech = frames("speech_noisy.wav");
    let n = speech.len();
    for kernel in runnable_kernels() {
        for legs in [8, 3, 1] {
            let model = Model::default_model();
            let mut batch =
                DenoiseBatch::new(model.clone(), legs, kernel).expect("kernel available");
            let mut single: Vec<Denoiser> = (0..legs)
                .map(|_| Denoiser::from_model_with_kernel(model.clone(), kernel).unwrap())
                .collect();
            let mut inputs = vec![[0.0f32; FRAME_SAMPLES]; legs];
            let mut outputs = vec![[0.0f32; FRAME_SAMPLES]; legs];
            let mut vads = vec![0.0f32; legs];
            let mut out = [0.0f32; FRAME_SAMPLES];
            let mut network_frames = 0;
            for i in 0..300 {
                for (l, f) in inputs.iter_mut().enumerate() {
                    *f = speech[(i + l * 37) % n];
                    if l == 1 && i < 100 {
                        *f = [0.0; FRAME_SAMPLES];
                    }
                    if l == legs - 1 && i == 60 {
                        f[3] = f32::NAN;
                    }
                }
                if i == 150 {
                    batch.reset_leg(legs / 2);
                    single[legs / 2].reset();
                }
                batch.process(&inputs, &mut outputs, &mut vads).unwrap();
                for (l, d) in single.iter_mut().enumerate() {
                    let vad = d.process(&inputs[l], &mut out);
                    assert_eq!(
                        vad.to_bits(),
                        vads[l].to_bits(),
                        "{kernel:?} legs {legs} leg {l} frame {i}"
                    );
                    assert!(
                        out.iter()
                            .zip(&outputs[l])
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{kernel:?} legs {legs} leg {l} frame {i}: output differs"
                    );
                    network_frames += usize::from(vad > 0.0);
                }
            }
            assert!(network_frames > 100 * legs, "network hardly ran");
        }
        eprintln!("kernel {kernel:?}: batches of 8, 3 and 1 legs equal separate denoisers");
    }
}

#[test]
fn batch_refuses_bad_leg_counts_and_frame_counts() {
    let model = Model::default_model();
    for legs in [0, DenoiseBatch::MAX_LEGS + 1] {
        let err = DenoiseBatch::new(model.clone(), legs, Kernel::Auto).unwrap_err();
        assert!(
            matches!(err, DenoiseError::BatchLegs(n) if n == legs),
            "{err}"
        );
    }
    let mut b = DenoiseBatch::new(model, 2, Kernel::Auto).unwrap();
    let inputs = vec![[0.0f32; FRAME_SAMPLES]; 3];
    let mut outputs = vec![[0.0f32; FRAME_SAMPLES]; 2];
    let mut vads = vec![0.0f32; 2];
    let err = b.process(&inputs, &mut outputs, &mut vads).unwrap_err();
    assert!(err.to_string().contains("3 input frames"), "{err}");
    assert!(b.process(&inputs[..2], &mut outputs, &mut vads).is_ok());
}

/// The AVX-512 VNNI kernel computes the AVX2 kernel's integer mat-vec sums and
/// its xcorr in the same order, and the frame path never contracts to FMA, so
/// the two denoisers' outputs are the same floats.
#[test]
fn avx512_denoiser_output_equals_avx2_bit_for_bit() {
    if !(Kernel::Avx2Fma.is_available() && Kernel::Avx512Vnni.is_available()) {
        eprintln!("AVX2 or AVX-512 VNNI kernel not runnable here: comparison NOT done");
        return;
    }
    let input = frames("speech_noisy.wav");
    let a = run_ours(&mut Denoiser::with_kernel(Kernel::Avx2Fma).unwrap(), &input);
    let b = run_ours(
        &mut Denoiser::with_kernel(Kernel::Avx512Vnni).unwrap(),
        &input,
    );
    assert!(a
        .out
        .iter()
        .zip(&b.out)
        .all(|(x, y)| x.to_bits() == y.to_bits()));
    assert!(a
        .vad
        .iter()
        .zip(&b.vad)
        .all(|(x, y)| x.to_bits() == y.to_bits()));
}
