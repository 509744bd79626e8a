//! `agentphone denoise` streams: a 10-minute file (57.6 MB) goes through in a
//! few megabytes of memory, and the result is exactly what our `Denoiser` gives
//! over the same samples in memory; `-` reads standard input and writes standard
//! output, with or without a known length; a truncated stream is an error that
//! names its source.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use agentphone_audio::denoise::Denoiser;
use agentphone_audio::wav::{SampleFormat, WavSpec, WavStreamWriter};
use agentphone_audio::FRAME_SAMPLES;

const RATE: u32 = 48_000;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_agentphone"))
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "agentphone-denoise-stream-{tag}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A deterministic test signal: low-level white noise throughout, plus a
/// 375 Hz tone (a whole number of samples per period) two seconds in four.
struct Signal {
    noise: u32,
    at: u64,
    tone: Vec<f32>,
}

impl Signal {
    fn new() -> Signal {
        Signal {
            noise: 0x9e37_79b9,
            at: 0,
            tone: (0..128)
                .map(|i| 3000.0 * (2.0 * std::f32::consts::PI * i as f32 / 128.0).sin())
                .collect(),
        }
    }

    fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            self.noise ^= self.noise << 13;
            self.noise ^= self.noise >> 17;
            self.noise ^= self.noise << 5;
            let noise = (self.noise >> 22) as i32 - 512; // ±512
            let on = (self.at / (2 * u64::from(RATE))).is_multiple_of(2);
            let tone = if on {
                self.tone[(self.at % 128) as usize].round() as i32
            } else {
                0
            };
            *o = (noise + tone) as i16;
            self.at += 1;
        }
    }
}

fn spec() -> WavSpec {
    WavSpec {
        rate: RATE,
        channels: 1,
        format: SampleFormat::I16,
    }
}

/// Writes `samples` samples of [`Signal`] as a 48 kHz mono 16-bit WAV; with
/// `known` false the header says "length unknown", as on a pipe.
fn write_signal(to: impl Write, samples: u64, known: bool) {
    let mut w = WavStreamWriter::new(to, "test input", spec(), known.then_some(samples)).unwrap();
    let mut signal = Signal::new();
    let mut block = vec![0i16; 48_000];
    let mut left = samples;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        signal.fill(&mut block[..n]);
        let f: Vec<f32> = block[..n].iter().map(|&s| f32::from(s)).collect();
        w.write_mono(&f).unwrap();
        left -= n as u64;
    }
    w.finish().unwrap();
}

/// The in-memory result, block by block: [`Signal`] through one `Denoiser`
/// frame by frame (the last frame padded with silence, then one silent frame),
/// the first frame of output (the delay) dropped, rounded to 16 bits. Calls
/// `check` with each block of expected samples and its offset.
fn expected(samples: u64, mut check: impl FnMut(u64, &[i16])) {
    let mut d = Denoiser::new();
    let mut signal = Signal::new();
    let frames = samples.div_ceil(FRAME_SAMPLES as u64) + 1;
    let (mut pcm, mut input, mut output) = (
        [0i16; FRAME_SAMPLES],
        [0.0f32; FRAME_SAMPLES],
        [0.0f32; FRAME_SAMPLES],
    );
    let mut block = Vec::with_capacity(100 * FRAME_SAMPLES);
    let mut at = 0u64;
    for f in 0..frames {
        let start = f * FRAME_SAMPLES as u64;
        let real = samples.saturating_sub(start).min(FRAME_SAMPLES as u64) as usize;
        signal.fill(&mut pcm[..real]);
        for (i, o) in input.iter_mut().enumerate() {
            *o = if i < real { f32::from(pcm[i]) } else { 0.0 };
        }
        d.process(&input, &mut output);
        if f == 0 {
            continue;
        }
        let keep = (samples - at).min(FRAME_SAMPLES as u64) as usize;
        block.extend(output[..keep].iter().map(|s| s.round() as i16));
        at += keep as u64;
        if block.len() >= 100 * FRAME_SAMPLES || f + 1 == frames {
            check(at - block.len() as u64, &block);
            block.clear();
        }
    }
    assert_eq!(at, samples);
}

/// The WAV header's sizes and the 16-bit samples after it.
fn parse_output(r: impl Read) -> (u32, u32, impl Iterator<Item = i16>) {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let mut header = [0u8; 44];
    r.read_exact(&mut header).unwrap();
    assert_eq!(&header[0..4], b"RIFF");
    assert_eq!(&header[36..40], b"data");
    let riff = u32::from_le_bytes(header[4..8].try_into().unwrap());
    let data = u32::from_le_bytes(header[40..44].try_into().unwrap());
    let samples = std::iter::from_fn(move || {
        let mut b = [0u8; 2];
        r.read_exact(&mut b).ok().map(|()| i16::from_le_bytes(b))
    });
    (riff, data, samples)
}

/// Asserts that `got` holds exactly the in-memory result for `samples`.
fn assert_matches_in_memory(samples: u64, got: impl Iterator<Item = i16>) {
    let mut got = got.peekable();
    expected(samples, |offset, want| {
        for (k, &w) in want.iter().enumerate() {
            let g = got
                .next()
                .unwrap_or_else(|| panic!("output ends at sample {}", offset + k as u64));
            assert_eq!(g, w, "sample {}", offset + k as u64);
        }
    });
    assert!(got.peek().is_none(), "output longer than the input");
}

/// Runs `agentphone ARGS` to completion and returns its exit status, peak
/// resident memory (bytes), standard output and standard error. The child is
/// reaped with `wait4`, which also returns its own resource usage.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&Path]) -> (bool, u64, String, String) {
    let child = Command::new(binary())
        .arg("denoise")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (mut out, mut err) = (child.stdout.unwrap(), child.stderr.unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).map(|_| s)
    });
    let mut stdout = String::new();
    out.read_to_string(&mut stdout).unwrap();
    let stderr = reader.join().unwrap().unwrap();
    let mut status = 0;
    // SAFETY: plain FFI calls on a zeroed rusage; `pid` is our own child, not
    // yet reaped (std's Child is never waited on).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    // Linux reports ru_maxrss in kilobytes.
    (ok, usage.ru_maxrss as u64 * 1024, stdout, stderr)
}

#[test]
fn a_ten_minute_file_streams_in_constant_memory_and_equals_the_in_memory_result() {
    let dir = temp_dir("long");
    let samples = 10 * 60 * u64::from(RATE);
    let input = dir.join("long.wav");
    write_signal(
        BufWriter::new(std::fs::File::create(&input).unwrap()),
        samples,
        true,
    );
    let size = std::fs::metadata(&input).unwrap().len();
    assert!(size > 50_000_000, "{size} bytes");
    let output = dir.join("clean.wav");

    let (ok, peak, stdout, stderr) = run_measured(&[&input, &output]);
    assert!(ok, "{stderr}");
    println!(
        "peak RSS {:.1} MB for a {:.1} MB file",
        peak as f64 / 1e6,
        size as f64 / 1e6
    );
    assert!(
        peak < 40_000_000,
        "peak RSS {peak} bytes for a {size}-byte file: not streaming"
    );
    assert!(stdout.contains("60000 frames"), "{stdout}");
    assert!(stdout.contains("µs/frame"), "{stdout}");

    let (riff, data, got) = parse_output(std::fs::File::open(&output).unwrap());
    assert_eq!(u64::from(data), samples * 2);
    assert_eq!(riff, data + 36);
    assert_matches_in_memory(samples, got);
    std::fs::remove_dir_all(&dir).ok();
}

/// Pipes a WAV through `agentphone denoise - -` and returns (success, stdout
/// bytes, stderr).
fn through_pipes(input: Vec<u8>) -> (bool, Vec<u8>, String) {
    let mut child = Command::new(binary())
        .args(["denoise", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        // The child may stop reading early (an error): that is its report.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn dash_reads_stdin_and_writes_stdout_with_or_without_a_known_length() {
    let samples = 5 * u64::from(RATE) + 123;
    for known in [true, false] {
        let mut wav = Vec::new();
        write_signal(&mut wav, samples, known);
        let (ok, out, err) = through_pipes(wav);
        assert!(ok, "{err}");
        // The report goes to standard error, standard output is the WAV alone.
        assert!(err.contains("<stdin>: 501 frames"), "{err}");
        assert!(err.contains("µs/frame"), "{err}");
        let (riff, data, got) = parse_output(&out[..]);
        if known {
            assert_eq!(u64::from(data), samples * 2);
            assert_eq!(riff, data + 36);
        } else {
            // Length unknown up front: the streaming placeholder.
            assert_eq!((riff, data), (u32::MAX, u32::MAX));
        }
        assert_matches_in_memory(samples, got);
    }
}

#[test]
fn a_truncated_stream_is_an_error_naming_its_source() {
    let mut wav = Vec::new();
    write_signal(&mut wav, u64::from(RATE), true);
    wav.truncate(wav.len() / 2);
    let (ok, _, err) = through_pipes(wav.clone());
    assert!(!ok);
    assert!(err.contains("<stdin>: truncated"), "{err}");

    let dir = temp_dir("truncated");
    let input = dir.join("half.wav");
    std::fs::write(&input, &wav).unwrap();
    let output = dir.join("out.wav");
    let (ok, _, _, err) = run_measured(&[&input, &output]);
    assert!(!ok);
    assert!(err.contains("half.wav: truncated"), "{err}");
    assert!(!output.exists(), "no partial output left");
    std::fs::remove_dir_all(&dir).ok();
}
