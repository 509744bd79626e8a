//! `agentphone denoise IN.wav OUT.wav`: runs the call denoiser over a WAV file.
//!
//! Any rate and channel count in; the audio is mixed to mono and resampled to
//! 48 kHz for the denoiser, then resampled back and copied to every channel, so the
//! output has the input's rate, channels and sample format. The denoiser's one
//! frame of delay is removed, so output sample n lines up with input sample n.
//! Reports frames, µs per frame and the real-time factor; `--compare` also runs
//! plain nnnoiseless on the same frames and prints its figures and the SNR between
//! the two outputs.
//!
//! The file streams through in blocks of about half a second: read and decoded
//! in bulk, downmixed, resampled (a streaming resampler), denoised, resampled
//! back, encoded and written. Memory stays the same whatever the file's length,
//! and `-` reads standard input or writes standard output (no seeking: when the
//! input's length is unknown the output header says "unknown length",
//! 0xFFFFFFFF). A file output is written beside its final name and renamed when
//! complete, so a failed run leaves no half file and `IN` may equal `OUT`.
//! `--compare` streams too: both denoisers take each block in turn.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentphone_audio::denoise::{Denoiser, Model};
use agentphone_audio::wav::{StreamResampler, WavStreamReader, WavStreamWriter};
use agentphone_audio::{Frame, FRAME_SAMPLES, SAMPLE_RATE};
use anyhow::Context;

/// Arguments of `agentphone denoise`.
#[derive(Debug, Clone, clap::Args)]
pub struct DenoiseArgs {
    /// WAV file to clean (any sample rate, any number of channels); `-` reads
    /// standard input.
    pub input: PathBuf,
    /// Where to write the cleaned WAV (same rate, channels and format as the
    /// input); `-` writes standard output (the report then goes to standard error).
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
const PROGRESS_MIN_FRAMES: u64 = 3000;

/// 48 kHz frames denoised per block (0.48 s): large enough that reads, writes
/// and timing calls vanish beside the denoiser, small enough to stay in cache.
const BLOCK_FRAMES: usize = 48;

/// Runs the subcommand.
pub fn run(args: &DenoiseArgs) -> anyhow::Result<()> {
    let model = match &args.model {
        Some(path) => Some(std::sync::Arc::new(
            Model::from_file(path).with_context(|| format!("model {}", path.display()))?,
        )),
        None => None,
    };
    let mut ours = match model {
        Some(model) => Denoiser::from_model(model),
        None => Denoiser::new(),
    };
    let mut reference = if args.compare {
        Some(match &args.model {
            Some(path) => {
                let bytes =
                    std::fs::read(path).with_context(|| format!("model {}", path.display()))?;
                let model = nnnoiseless::RnnModel::from_bytes(&bytes)
                    .with_context(|| format!("nnnoiseless refuses model {}", path.display()))?;
                nnnoiseless::DenoiseState::from_model(model)
            }
            None => nnnoiseless::DenoiseState::new(),
        })
    } else {
        None
    };

    let input_name = shown(&args.input, "<stdin>");
    let input: Box<dyn Read> = if is_std(&args.input) {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(&args.input).with_context(|| format!("{}: cannot open", input_name))?)
    };
    let mut reader = WavStreamReader::new(input, &input_name)?;
    let spec = reader.spec();
    let frames_in = reader.frames();

    let to_stdout = is_std(&args.output);
    let mut stats = Stats::default();
    if to_stdout {
        let out = std::io::stdout().lock();
        let mut writer = WavStreamWriter::new(out, "<stdout>", spec, frames_in)?;
        stream(
            &mut reader,
            &mut writer,
            &mut ours,
            reference.as_deref_mut(),
            &mut stats,
        )?;
        let _stdout = writer.finish()?;
    } else {
        let target = Target::create(&args.output)?;
        let mut writer = WavStreamWriter::new(target.file()?, &args.output, spec, frames_in)?;
        stream(
            &mut reader,
            &mut writer,
            &mut ours,
            reference.as_deref_mut(),
            &mut stats,
        )?;
        writer.finish_seekable()?;
        target.commit()?;
    }

    let mut report_to: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let audio = Duration::from_secs_f64(stats.samples48 as f64 / f64::from(SAMPLE_RATE));
    let frames = stats.samples48.div_ceil(FRAME_SAMPLES as u64);
    writeln!(
        report_to,
        "{}: {frames} frames, kernel {:?}",
        input_name,
        ours.kernel()
    )?;
    report(&mut report_to, "agentphone", frames, stats.ours, audio)?;
    if reference.is_some() {
        report(&mut report_to, "nnnoiseless", frames, stats.theirs, audio)?;
        let snr = if stats.err == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (stats.sig / stats.err).log10()
        };
        writeln!(
            report_to,
            "speed-up {:.2}x, SNR ours vs nnnoiseless {snr:.1} dB",
            stats.theirs.as_secs_f64() / stats.ours.as_secs_f64().max(1e-12),
        )?;
    }
    Ok(())
}

fn is_std(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn shown(path: &Path, std_name: &str) -> String {
    if is_std(path) {
        std_name.to_string()
    } else {
        path.display().to_string()
    }
}

/// What the run measured.
#[derive(Default)]
struct Stats {
    /// 48 kHz samples of audio (the resampled input's length).
    samples48: u64,
    /// Time inside our denoiser and inside nnnoiseless.
    ours: Duration,
    theirs: Duration,
    /// Energy of nnnoiseless's output and of the difference from ours.
    sig: f64,
    err: f64,
}

/// The whole pipeline, block by block: read → downmix → resample to 48 kHz →
/// denoise (delay removed) → resample back → write. Writes exactly as many
/// sample frames as were read.
fn stream<R: Read, W: Write>(
    reader: &mut WavStreamReader<R>,
    writer: &mut WavStreamWriter<W>,
    ours: &mut Denoiser,
    mut theirs: Option<&mut nnnoiseless::DenoiseState<'static>>,
    stats: &mut Stats,
) -> anyhow::Result<()> {
    let rate = reader.spec().rate;
    let resampling = rate != SAMPLE_RATE;
    let block48 = BLOCK_FRAMES * FRAME_SAMPLES;
    // Input samples per read: about one block once at 48 kHz.
    let block_in =
        ((block48 as u64 * u64::from(rate) / u64::from(SAMPLE_RATE)) as usize).max(FRAME_SAMPLES);
    let (mut up, mut down) = if resampling {
        (
            Some(StreamResampler::new(rate, SAMPLE_RATE)),
            Some(StreamResampler::new(SAMPLE_RATE, rate)),
        )
    } else {
        (None, None)
    };
    let total48 = reader
        .frames()
        .map(|n| n * u64::from(SAMPLE_RATE) / u64::from(rate));
    let bar = progress_bar(
        total48.map(|n| n.div_ceil(FRAME_SAMPLES as u64)),
        theirs.is_some(),
    );

    let mut stage = Stage {
        buf48: Vec::new(),
        fill: 0,
        out48: Vec::new(),
        denoised: 0,
        ref48: Vec::new(),
        skip: Denoiser::DELAY_SAMPLES,
        emitted48: 0,
        back: Vec::new(),
        frames: 0,
    };
    let mut read_buf = vec![0.0f32; if resampling { block_in } else { 0 }];
    let mut res48 = Vec::new();
    let mut read_in = 0u64;
    loop {
        // Read straight into the 48 kHz buffer when no resampling is needed.
        let n = match up.as_mut() {
            None => {
                stage.reserve(block48);
                let fill = stage.fill;
                let n = reader.read_mono(&mut stage.buf48[fill..fill + block48])?;
                stage.fill += n;
                n
            }
            Some(up) => {
                let n = reader.read_mono(&mut read_buf)?;
                res48.clear();
                up.process(&read_buf[..n], &mut res48);
                stage.append(&res48);
                n
            }
        };
        if n == 0 {
            break;
        }
        read_in += n as u64;
        stage.run(ours, theirs.as_deref_mut(), stats, None, false);
        stage.emit(down.as_mut(), writer, None, read_in)?;
        bar.set_position(stage.frames);
    }

    // End of input: the resampler's tail, the last partial frame padded with
    // silence, then one silent frame to flush the denoiser's delay.
    let end48 = match up.as_mut() {
        Some(up) => {
            let end = read_in * u64::from(SAMPLE_RATE) / u64::from(rate);
            res48.clear();
            up.finish(end, &mut res48);
            stage.append(&res48);
            end
        }
        None => read_in,
    };
    stats.samples48 = end48;
    stage.run(ours, theirs, stats, Some(end48), true);
    stage.emit(down.as_mut(), writer, Some(end48), read_in)?;
    bar.finish_and_clear();
    Ok(())
}

/// The 48 kHz part of the pipeline and its buffers (all reused block to block).
struct Stage {
    /// Samples waiting for the denoiser: `fill` of them, a partial frame at most
    /// between blocks.
    buf48: Vec<f32>,
    fill: usize,
    /// Denoised frames of the current block, ours and nnnoiseless's: the
    /// first `denoised` samples.
    out48: Vec<f32>,
    denoised: usize,
    ref48: Vec<f32>,
    /// Output samples still to drop (the denoiser's delay).
    skip: usize,
    /// Delay-compensated 48 kHz samples passed on so far.
    emitted48: u64,
    /// Output at the file's rate.
    back: Vec<f32>,
    /// Frames through the denoiser.
    frames: u64,
}

impl Stage {
    fn reserve(&mut self, extra: usize) {
        if self.buf48.len() < self.fill + extra {
            self.buf48.resize(self.fill + extra, 0.0);
        }
    }

    fn append(&mut self, samples: &[f32]) {
        self.reserve(samples.len());
        self.buf48[self.fill..self.fill + samples.len()].copy_from_slice(samples);
        self.fill += samples.len();
    }

    /// Denoises every whole frame waiting (with `last`, also the padded partial
    /// frame and one flush frame), ours over the block then nnnoiseless over the
    /// same block, and accumulates the comparison up to `end48` samples.
    fn run(
        &mut self,
        ours: &mut Denoiser,
        theirs: Option<&mut nnnoiseless::DenoiseState<'static>>,
        stats: &mut Stats,
        end48: Option<u64>,
        last: bool,
    ) {
        if last {
            let padded = self.fill.next_multiple_of(FRAME_SAMPLES) + FRAME_SAMPLES;
            self.reserve(padded - self.fill);
            self.buf48[self.fill..padded].fill(0.0);
            self.fill = padded;
        }
        let whole = self.fill - self.fill % FRAME_SAMPLES;
        // Sized once: every sample up to `whole` is overwritten below.
        if self.out48.len() < whole {
            self.out48.resize(whole, 0.0);
        }
        let input = &self.buf48[..whole];
        let t = Instant::now();
        for (i, o) in input
            .chunks_exact(FRAME_SAMPLES)
            .zip(self.out48.chunks_exact_mut(FRAME_SAMPLES))
        {
            ours.process(frame(i), frame_mut(o));
        }
        stats.ours += t.elapsed();
        if let Some(theirs) = theirs {
            if self.ref48.len() < whole {
                self.ref48.resize(whole, 0.0);
            }
            let t = Instant::now();
            for (i, o) in input
                .chunks_exact(FRAME_SAMPLES)
                .zip(self.ref48.chunks_exact_mut(FRAME_SAMPLES))
            {
                theirs.process_frame(frame_mut(o), frame(i));
            }
            stats.theirs += t.elapsed();
            let from = self.skip.min(whole);
            let keep = self.kept(whole - from, end48);
            for (&a, &b) in self.ref48[from..from + keep]
                .iter()
                .zip(&self.out48[from..from + keep])
            {
                stats.sig += f64::from(a).powi(2);
                stats.err += (f64::from(a) - f64::from(b)).powi(2);
            }
        }
        self.frames += (whole / FRAME_SAMPLES) as u64;
        // Keep the partial frame for the next block.
        self.buf48.copy_within(whole..self.fill, 0);
        self.fill -= whole;
        self.denoised = whole;
    }

    /// Of `n` delay-compensated samples about to be emitted, how many lie
    /// before `end48`.
    fn kept(&self, n: usize, end48: Option<u64>) -> usize {
        match end48 {
            Some(end) => n.min(end.saturating_sub(self.emitted48) as usize),
            None => n,
        }
    }

    /// Passes the block's denoised samples on: drops the delay, stops at
    /// `end48`, resamples back and writes. With `end48` (the last block) the
    /// resampler is flushed so that exactly `frames_in` sample frames are out.
    fn emit<W: Write>(
        &mut self,
        down: Option<&mut StreamResampler>,
        writer: &mut WavStreamWriter<W>,
        end48: Option<u64>,
        frames_in: u64,
    ) -> anyhow::Result<()> {
        let whole = self.denoised;
        let from = self.skip.min(whole);
        self.skip -= from;
        let keep = self.kept(whole - from, end48);
        let samples = &self.out48[from..from + keep];
        self.emitted48 += keep as u64;
        match down {
            None => writer.write_mono(samples)?,
            Some(down) => {
                self.back.clear();
                down.process(samples, &mut self.back);
                if end48.is_some() {
                    down.finish(frames_in, &mut self.back);
                }
                writer.write_mono(&self.back)?;
            }
        }
        Ok(())
    }
}

fn frame(s: &[f32]) -> &Frame {
    match s.try_into() {
        Ok(f) => f,
        Err(_) => unreachable!("chunks_exact gives whole frames"),
    }
}

fn frame_mut(s: &mut [f32]) -> &mut Frame {
    match s.try_into() {
        Ok(f) => f,
        Err(_) => unreachable!("chunks_exact gives whole frames"),
    }
}

/// A progress bar on standard error (indicatif hides it when that is not a
/// terminal) for long inputs; a frame counter when the length is unknown.
fn progress_bar(frames: Option<u64>, compare: bool) -> indicatif::ProgressBar {
    let name = if compare {
        "agentphone+nnnoiseless"
    } else {
        "agentphone"
    };
    let (bar, template) = match frames {
        Some(n) if n < PROGRESS_MIN_FRAMES => return indicatif::ProgressBar::hidden(),
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "{msg:12} {wide_bar} {pos}/{len} frames {eta}",
        ),
        None => (
            indicatif::ProgressBar::no_length(),
            "{msg:12} {pos} frames {elapsed}",
        ),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(name);
    bar
}

fn report(
    to: &mut dyn Write,
    name: &str,
    frames: u64,
    took: Duration,
    audio: Duration,
) -> std::io::Result<()> {
    let us = took.as_secs_f64() * 1e6 / frames.max(1) as f64;
    let rtf = took.as_secs_f64() / audio.as_secs_f64().max(1e-12);
    writeln!(to, "{name:12} {us:8.2} µs/frame  real-time factor {rtf:.4}")
}

/// Where a file output goes while it is written: a hidden file beside `OUT`
/// (beside the file a symlink points to), renamed over it on success and
/// removed on failure. An existing `OUT` that is not a regular file (a device
/// such as /dev/null, a FIFO) is written in place.
struct Target {
    /// As given, for messages.
    name: String,
    /// The file to replace.
    path: PathBuf,
    temp: Option<PathBuf>,
}

impl Target {
    fn create(path: &Path) -> anyhow::Result<Target> {
        let (in_place, real) = match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => (true, path.to_path_buf()),
            Ok(_) => (
                false,
                std::fs::canonicalize(path)
                    .with_context(|| format!("{}: cannot resolve", path.display()))?,
            ),
            Err(_) => (false, path.to_path_buf()),
        };
        let temp = (!in_place).then(|| {
            let name = real
                .file_name()
                .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
            real.with_file_name(format!(".{name}.agentphone-{}.tmp", std::process::id()))
        });
        Ok(Target {
            name: path.display().to_string(),
            path: real,
            temp,
        })
    }

    fn file(&self) -> anyhow::Result<File> {
        let at = self.temp.as_deref().unwrap_or(&self.path);
        File::create(at).with_context(|| format!("{}: cannot create", self.name))
    }

    fn commit(mut self) -> anyhow::Result<()> {
        if let Some(temp) = self.temp.take() {
            std::fs::rename(&temp, &self.path).with_context(|| {
                let _ = std::fs::remove_file(&temp);
                format!("{}: cannot replace", self.name)
            })?;
        }
        Ok(())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            let _ = std::fs::remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentphone_audio::wav::{read_wav, write_wav_spec, SampleFormat, WavSpec};

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/audio")
            .join(name)
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "agentphone-cmd-denoise-{tag}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn args(input: &Path, output: &Path) -> DenoiseArgs {
        DenoiseArgs {
            input: input.to_path_buf(),
            output: output.to_path_buf(),
            model: None,
            compare: false,
        }
    }

    fn energy(v: &[f32]) -> f64 {
        v.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>()
    }

    #[test]
    fn denoises_a_stereo_16k_file_and_keeps_its_format() {
        let dir = temp_dir("stereo");
        let mono = read_wav(fixture("speech_noisy.wav")).unwrap().samples;
        let small = agentphone_audio::wav::resample(&mono, 48_000, 16_000);
        let stereo: Vec<f32> = small.iter().flat_map(|&s| [s, s]).collect();
        let spec = WavSpec {
            rate: 16_000,
            channels: 2,
            format: SampleFormat::I16,
        };
        let input = dir.join("in.wav");
        write_wav_spec(&input, spec, &stereo).unwrap();
        let output = dir.join("out.wav");
        run(&DenoiseArgs {
            compare: true,
            ..args(&input, &output)
        })
        .unwrap();
        let out = read_wav(&output).unwrap();
        assert_eq!(
            (out.rate, out.channels, out.format),
            (16_000, 2, SampleFormat::I16)
        );
        assert_eq!(out.samples.len(), stereo.len());
        let left: Vec<f32> = out.samples.iter().step_by(2).copied().collect();
        let right: Vec<f32> = out.samples.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(left, right);
        // Noise removed: clearly less energy, but speech kept: not silence.
        assert!(energy(&left) < 0.95 * energy(&small));
        assert!(energy(&left) > 0.3 * energy(&small));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn output_is_as_long_as_the_input_in_every_format_and_rate() {
        let dir = temp_dir("lengths");
        let formats = [
            SampleFormat::U8,
            SampleFormat::I16,
            SampleFormat::I24,
            SampleFormat::I32,
            SampleFormat::F32,
            SampleFormat::F64,
        ];
        for (k, (rate, frames)) in [
            (44_100u32, 1usize),
            (22_050, 1000),
            (8_000, 4321),
            (48_000, 479),
        ]
        .into_iter()
        .enumerate()
        {
            let format = formats[k % formats.len()];
            let channels = 1 + (k % 3) as u16;
            let spec = WavSpec {
                rate,
                channels,
                format,
            };
            let samples: Vec<f32> = (0..frames * usize::from(channels))
                .map(|i| ((i * 7919) % 2000) as f32 - 1000.0)
                .collect();
            let input = dir.join(format!("in{k}.wav"));
            write_wav_spec(&input, spec, &samples).unwrap();
            let output = dir.join(format!("out{k}.wav"));
            run(&args(&input, &output)).unwrap();
            let out = read_wav(&output).unwrap();
            assert_eq!(
                (out.rate, out.channels, out.format),
                (rate, channels, format)
            );
            assert_eq!(out.samples.len(), samples.len(), "{spec:?}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_file_can_be_cleaned_in_place() {
        let dir = temp_dir("in-place");
        let path = dir.join("same.wav");
        std::fs::copy(fixture("speech_noisy.wav"), &path).unwrap();
        run(&args(&path, &path)).unwrap();
        let out = read_wav(&path).unwrap().samples;
        let noisy = read_wav(fixture("speech_noisy.wav")).unwrap().samples;
        assert_eq!(out.len(), noisy.len());
        assert!(energy(&out) < 0.95 * energy(&noisy));
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_input_is_reported_with_its_name() {
        let dir = temp_dir("bad");
        let input = dir.join("garbage.wav");
        std::fs::write(&input, b"RIFF nonsense").unwrap();
        let err = format!("{:#}", run(&args(&input, &dir.join("o.wav"))).unwrap_err());
        assert!(err.contains("garbage.wav"), "{err}");
        let err = format!(
            "{:#}",
            run(&DenoiseArgs {
                model: Some(input.clone()),
                ..args(&fixture("speech.wav"), &dir.join("o.wav"))
            })
            .unwrap_err()
        );
        assert!(
            err.contains("garbage.wav") && err.contains("model"),
            "{err}"
        );
        // A truncated file: named, said to be truncated, and no output left.
        let whole = std::fs::read(fixture("speech_noisy.wav")).unwrap();
        let cut = dir.join("cut.wav");
        std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
        let err = format!("{:#}", run(&args(&cut, &dir.join("o.wav"))).unwrap_err());
        assert!(
            err.contains("cut.wav") && err.contains("truncated"),
            "{err}"
        );
        assert!(!dir.join("o.wav").exists());
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 2, "only the two inputs: {left:?}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
