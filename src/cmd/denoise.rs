//! `agentphone denoise IN.wav OUT.wav`: runs the call denoiser over a WAV file.
//!
//! Any rate and channel count in; the audio is mixed to mono and resampled to
//! 48 kHz for the denoiser, then resampled back and copied to every channel, so the
//! output has the input's rate, channels and sample format. The denoiser's one
//! frame of delay is removed, so output sample n lines up with input sample n.
//! Reports frames, µs per frame and the real-time factor; `--compare` also runs
//! plain nnnoiseless on the same frames and prints its figures and the SNR between
//! the two outputs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentphone_audio::denoise::{Denoiser, Model};
use agentphone_audio::{FRAME_SAMPLES, SAMPLE_RATE};
use anyhow::{bail, Context};

/// Arguments of `agentphone denoise`.
#[derive(Debug, Clone, clap::Args)]
pub struct DenoiseArgs {
    /// WAV file to clean (any sample rate, any number of channels).
    pub input: PathBuf,
    /// Where to write the cleaned WAV (same rate, channels and format as the input).
    pub output: PathBuf,
    /// RNNoise model in nnnoiseless's binary format instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Also run plain nnnoiseless on the same audio: its speed and the SNR between
    /// its output and ours.
    #[arg(long)]
    pub compare: bool,
}

/// Files longer than this many frames (30 s) get a progress bar.
const PROGRESS_MIN_FRAMES: usize = 3000;

/// Runs the subcommand.
pub fn run(args: &DenoiseArgs) -> anyhow::Result<()> {
    let (spec, mono) = read_wav(&args.input)?;
    let mut d = match &args.model {
        Some(path) => {
            let model =
                Model::from_file(path).with_context(|| format!("model {}", path.display()))?;
            Denoiser::from_model(std::sync::Arc::new(model))
        }
        None => Denoiser::new(),
    };
    let at_48k = resample(&mono, spec.sample_rate, SAMPLE_RATE);
    let frames = at_48k.len().div_ceil(FRAME_SAMPLES);
    let audio = Duration::from_secs_f64(at_48k.len() as f64 / f64::from(SAMPLE_RATE));

    let bar = progress_bar(frames, "agentphone");
    let (ours, took) = run_frames(&at_48k, |i, o| d.process(i, o), &bar);
    bar.finish_and_clear();
    println!(
        "{}: {frames} frames, kernel {:?}",
        args.input.display(),
        d.kernel()
    );
    report("agentphone", frames, took, audio);

    if args.compare {
        let mut reference = match &args.model {
            Some(path) => {
                let bytes =
                    std::fs::read(path).with_context(|| format!("model {}", path.display()))?;
                let model = nnnoiseless::RnnModel::from_bytes(&bytes)
                    .with_context(|| format!("nnnoiseless refuses model {}", path.display()))?;
                nnnoiseless::DenoiseState::from_model(model)
            }
            None => nnnoiseless::DenoiseState::new(),
        };
        let bar = progress_bar(frames, "nnnoiseless");
        let (theirs, took_ref) = run_frames(&at_48k, |i, o| reference.process_frame(o, i), &bar);
        bar.finish_and_clear();
        report("nnnoiseless", frames, took_ref, audio);
        println!(
            "speed-up {:.2}x, SNR ours vs nnnoiseless {:.1} dB",
            took_ref.as_secs_f64() / took.as_secs_f64().max(1e-12),
            snr_db(&theirs, &ours)
        );
    }

    let back = resample(&ours, SAMPLE_RATE, spec.sample_rate);
    write_wav(&args.output, spec, &back[..mono.len().min(back.len())])
}

fn progress_bar(frames: usize, name: &str) -> indicatif::ProgressBar {
    if frames < PROGRESS_MIN_FRAMES {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(frames as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg:12} {wide_bar} {pos}/{len} frames {eta}")
    {
        bar.set_style(style);
    }
    bar.set_message(name.to_string());
    bar
}

fn report(name: &str, frames: usize, took: Duration, audio: Duration) {
    let us = took.as_secs_f64() * 1e6 / frames.max(1) as f64;
    let rtf = took.as_secs_f64() / audio.as_secs_f64().max(1e-12);
    println!("{name:12} {us:8.2} µs/frame  real-time factor {rtf:.4}");
}

/// Feeds `samples` frame by frame (zero-padding the last one plus one extra frame
/// to flush the denoiser's delay) and returns the delay-compensated output, as long
/// as the input, with the time spent inside `process`.
fn run_frames(
    samples: &[f32],
    mut process: impl FnMut(&[f32; FRAME_SAMPLES], &mut [f32; FRAME_SAMPLES]) -> f32,
    bar: &indicatif::ProgressBar,
) -> (Vec<f32>, Duration) {
    let frames = samples.len().div_ceil(FRAME_SAMPLES);
    let mut out = Vec::with_capacity((frames + 1) * FRAME_SAMPLES);
    let (mut input, mut output) = ([0.0f32; FRAME_SAMPLES], [0.0f32; FRAME_SAMPLES]);
    let mut took = Duration::ZERO;
    for f in 0..=frames {
        input.fill(0.0);
        let start = (f * FRAME_SAMPLES).min(samples.len());
        let end = (start + FRAME_SAMPLES).min(samples.len());
        input[..end - start].copy_from_slice(&samples[start..end]);
        let t = Instant::now();
        process(&input, &mut output);
        took += t.elapsed();
        if f > 0 {
            out.extend_from_slice(&output);
        }
        if f % 256 == 0 {
            bar.set_position(f as u64);
        }
    }
    out.truncate(samples.len());
    (out, took)
}

fn snr_db(reference: &[f32], test: &[f32]) -> f64 {
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    for (&a, &b) in reference.iter().zip(test) {
        sig += f64::from(a).powi(2);
        err += (f64::from(a) - f64::from(b)).powi(2);
    }
    if err == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (sig / err).log10()
    }
}

/// Reads a WAV as mono (channel average) in the ±32768 scale.
fn read_wav(path: &Path) -> anyhow::Result<(hound::WavSpec, Vec<f32>)> {
    let name = path.display();
    let mut r =
        hound::WavReader::open(path).with_context(|| format!("{name}: not a readable WAV file"))?;
    let spec = r.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        bail!(
            "{name}: WAV header says {} channels at {} Hz",
            spec.channels,
            spec.sample_rate
        );
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int if (8..=32).contains(&spec.bits_per_sample) => {
            let scale = 32768.0 / (1u64 << (spec.bits_per_sample - 1)) as f64;
            r.samples::<i32>()
                .map(|s| s.map(|v| (f64::from(v) * scale) as f32))
                .collect::<Result<_, _>>()
                .with_context(|| format!("{name}: bad sample data"))?
        }
        hound::SampleFormat::Float if spec.bits_per_sample == 32 => r
            .samples::<f32>()
            .map(|s| s.map(|v| v * 32768.0))
            .collect::<Result<_, _>>()
            .with_context(|| format!("{name}: bad sample data"))?,
        f => bail!(
            "{name}: unsupported sample format {f:?} with {} bits",
            spec.bits_per_sample
        ),
    };
    let ch = usize::from(spec.channels);
    let mono = interleaved
        .chunks_exact(ch)
        .map(|c| c.iter().sum::<f32>() / ch as f32)
        .collect();
    Ok((spec, mono))
}

/// Writes mono ±32768 samples to every channel, in the input's format.
fn write_wav(path: &Path, spec: hound::WavSpec, mono: &[f32]) -> anyhow::Result<()> {
    let name = path.display();
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("{name}: cannot create WAV file"))?;
    for &s in mono {
        let s = s.clamp(-32768.0, 32767.0);
        for _ in 0..spec.channels {
            match spec.sample_format {
                hound::SampleFormat::Float => w.write_sample(s / 32768.0),
                hound::SampleFormat::Int => {
                    let full = (1i64 << (spec.bits_per_sample - 1)) as f64;
                    let v = (f64::from(s) / 32768.0 * full)
                        .round()
                        .clamp(-full, full - 1.0);
                    w.write_sample(v as i32)
                }
            }
            .with_context(|| format!("{name}: write failed"))?;
        }
    }
    w.finalize()
        .with_context(|| format!("{name}: write failed"))
}

/// Windowed-sinc resampling (Blackman window, 32 zero crossings a side, cutoff
/// at 95% of the lower Nyquist frequency). Offline use only: it favours quality
/// over speed. Output length is `len * to / from`, rounded up.
fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || x.is_empty() {
        return x.to_vec();
    }
    let ratio = f64::from(to) / f64::from(from);
    let cutoff = 0.95 * ratio.min(1.0); // in cycles per input sample * 2
    let half = (32.0 / cutoff).ceil() as isize; // taps per side, in input samples
    let out_len = (x.len() as f64 * ratio).ceil() as usize;
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let t = n as f64 / ratio;
        let centre = t.floor() as isize;
        let (mut acc, mut norm) = (0.0f64, 0.0f64);
        for i in (centre - half + 1)..=(centre + half) {
            let d = t - i as f64;
            let w = kernel(d, cutoff, half as f64);
            if let Some(&v) = usize::try_from(i).ok().and_then(|i| x.get(i)) {
                acc += f64::from(v) * w;
            }
            norm += w;
        }
        out.push(if norm.abs() > 1e-9 {
            (acc / norm) as f32
        } else {
            0.0
        });
    }
    out
}

fn kernel(d: f64, cutoff: f64, half: f64) -> f64 {
    use std::f64::consts::PI;
    if d.abs() >= half {
        return 0.0;
    }
    let s = if d == 0.0 {
        1.0
    } else {
        (PI * cutoff * d).sin() / (PI * cutoff * d)
    };
    let p = (d / half + 1.0) / 2.0; // 0..1 across the window
    let w = 0.42 - 0.5 * (2.0 * PI * p).cos() + 0.08 * (4.0 * PI * p).cos();
    s * w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/audio")
            .join(name)
    }

    fn tone(rate: u32, hz: f64, secs: f64) -> Vec<f32> {
        (0..(f64::from(rate) * secs) as usize)
            .map(|i| {
                (10000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin())
                    as f32
            })
            .collect()
    }

    #[test]
    fn resampling_keeps_a_tone_and_round_trips() {
        let x = tone(8000, 440.0, 0.5);
        let up = resample(&x, 8000, 48_000);
        assert_eq!(up.len(), x.len() * 6);
        let expect = tone(48_000, 440.0, 0.5);
        // Away from the edges the upsampled tone is the ideal one to < -60 dB.
        let mid = 1000..up.len() - 1000;
        assert!(snr_db(&expect[mid.clone()], &up[mid]) > 60.0);
        let back = resample(&up, 48_000, 8000);
        let mid = 200..x.len() - 200;
        assert!(snr_db(&x[mid.clone()], &back[mid]) > 60.0);
    }

    #[test]
    fn resampling_down_removes_content_above_the_new_nyquist() {
        let x = tone(48_000, 6000.0, 0.5);
        let down = resample(&x, 48_000, 8000);
        let rms = (down[200..down.len() - 200]
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            / (down.len() - 400) as f32)
            .sqrt();
        assert!(rms < 10.0, "6 kHz leaked through at rms {rms}");
    }

    #[test]
    fn denoises_a_stereo_16k_file_and_keeps_its_format() {
        let dir =
            std::env::temp_dir().join(format!("agentphone-cmd-denoise-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (_, mono) = read_wav(&fixture("speech_noisy.wav")).unwrap();
        let small = resample(&mono, 48_000, 16_000);
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let input = dir.join("in.wav");
        write_wav(&input, spec, &small).unwrap();
        let output = dir.join("out.wav");
        let args = DenoiseArgs {
            input: input.clone(),
            output: output.clone(),
            model: None,
            compare: true,
        };
        run(&args).unwrap();
        let (out_spec, out) = read_wav(&output).unwrap();
        assert_eq!(out_spec, spec);
        assert_eq!(out.len(), small.len());
        let energy = |v: &[f32]| v.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>();
        // Noise removed: clearly less energy, but speech kept: not silence.
        assert!(energy(&out) < 0.95 * energy(&small));
        assert!(energy(&out) > 0.3 * energy(&small));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_input_is_reported_with_its_name() {
        let dir = std::env::temp_dir().join(format!("agentphone-cmd-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("garbage.wav");
        std::fs::write(&input, b"RIFF nonsense").unwrap();
        let args = DenoiseArgs {
            input: input.clone(),
            output: dir.join("o.wav"),
            model: None,
            compare: false,
        };
        let err = format!("{:#}", run(&args).unwrap_err());
        assert!(err.contains("garbage.wav"), "{err}");
        let args = DenoiseArgs {
            input: fixture("speech.wav"),
            output: dir.join("o.wav"),
            model: Some(input.clone()),
            compare: false,
        };
        let err = format!("{:#}", run(&args).unwrap_err());
        assert!(
            err.contains("garbage.wav") && err.contains("model"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
