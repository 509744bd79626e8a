//! WAV reading, writing and recording as a user of the files would check them.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use agentphone_audio::source::{AudioSource, SourceStatus, WavFileSource};
use agentphone_audio::wav::{
    read_wav, read_wav_48k_mono, recording_file_name, write_wav, write_wav_spec, SampleFormat,
    WavRecorder, WavSpec, HEADER_UPDATE_FRAMES,
};
use agentphone_audio::{Frame, FRAME_SAMPLES};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agentphone-wav-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn sine(f: f64, amp: f64, rate: u32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (amp * (std::f64::consts::TAU * f * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

/// Amplitude of the `f` component of `x` (Hann window, amplitude-corrected).
fn amplitude(x: &[f32], f: f64, rate: u32) -> f64 {
    let n = x.len() as f64;
    let (mut re, mut im, mut wsum) = (0.0, 0.0, 0.0);
    for (i, &s) in x.iter().enumerate() {
        let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n).cos();
        let ph = std::f64::consts::TAU * f * i as f64 / f64::from(rate);
        re += w * f64::from(s) * ph.cos();
        im -= w * f64::from(s) * ph.sin();
        wsum += w;
    }
    2.0 * (re * re + im * im).sqrt() / wsum
}

#[test]
fn sixteen_bit_round_trip_is_exact_at_all_call_rates() {
    for rate in [8_000, 16_000, 44_100, 48_000] {
        for channels in [1u16, 2] {
            let samples: Vec<f32> = sine(440.0, 20_000.0, rate, rate as usize / 10 * 2)
                .iter()
                .map(|s| s.round())
                .collect();
            let path = scratch(&format!("rt-{rate}-{channels}.wav"));
            write_wav(&path, rate, channels, &samples).expect("write");
            let back = read_wav(&path).expect("read back");
            assert_eq!((back.rate, back.channels), (rate, channels));
            assert_eq!(back.format, SampleFormat::I16);
            assert_eq!(back.samples, samples, "{rate} Hz, {channels} ch");
        }
    }
}

#[test]
fn any_rate_reads_as_48k_mono_with_the_tone_intact() {
    for rate in [8_000, 16_000, 44_100, 48_000] {
        let mono = sine(1000.0, 10_000.0, rate, rate as usize);
        // Stereo: the tone on the left only, so the downmix halves it.
        let stereo: Vec<f32> = mono.iter().flat_map(|&s| [s, 0.0]).collect();
        for (channels, data, want) in [(1u16, &mono, 10_000.0), (2, &stereo, 5_000.0)] {
            let path = scratch(&format!("to48-{rate}-{channels}.wav"));
            write_wav(&path, rate, channels, data).expect("write");
            let audio = read_wav_48k_mono(&path).expect("read");
            assert_eq!((audio.source_rate, audio.source_channels), (rate, channels));
            assert_eq!(audio.samples.len(), 48_000, "{rate} Hz");
            let a = amplitude(&audio.samples[2_000..46_000], 1000.0, 48_000);
            assert!(
                (a - want).abs() < want * 0.01,
                "{rate} Hz {channels} ch: {a}"
            );
        }
    }
}

#[test]
fn every_supported_sample_format_round_trips_within_its_precision() {
    let samples = sine(300.0, 30_000.0, 16_000, 1600);
    for (format, tolerance) in [
        (SampleFormat::U8, 128.0),
        (SampleFormat::I16, 0.5),
        (SampleFormat::I24, 0.01),
        (SampleFormat::I32, 0.01),
        (SampleFormat::F32, 0.01),
        (SampleFormat::F64, 0.01),
    ] {
        let path = scratch(&format!("fmt-{format:?}.wav"));
        let spec = WavSpec {
            rate: 16_000,
            channels: 1,
            format,
        };
        write_wav_spec(&path, spec, &samples).expect("write");
        let back = read_wav(&path).expect("read");
        assert_eq!(back.format, format);
        for (a, b) in samples.iter().zip(&back.samples) {
            assert!((a - b).abs() <= tolerance, "{format:?}: {a} vs {b}");
        }
    }
}

#[test]
fn bad_files_are_refused_naming_the_file_and_the_problem() {
    let path = scratch("not-a-wav.wav");
    std::fs::write(&path, b"hello, this is text").expect("write");
    let msg = read_wav(&path).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!("{}: not a WAV file (RIFF header missing)", path.display())
    );

    let path = scratch("twelve-bit.wav");
    write_wav(&path, 8_000, 1, &[0.0; 16]).expect("write");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[34..36].copy_from_slice(&12u16.to_le_bytes());
    std::fs::write(&path, &bytes).expect("write");
    let msg = read_wav(&path).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!("{}: 12-bit samples are not supported", path.display())
    );

    bytes[20..22].copy_from_slice(&2u16.to_le_bytes()); // ADPCM
    std::fs::write(&path, &bytes).expect("write");
    let msg = read_wav(&path).unwrap_err().to_string();
    assert!(
        msg.contains("sample format 0x0002 is not supported"),
        "{msg}"
    );

    let path = scratch("no-data.wav");
    std::fs::write(&path, &bytes[..36]).expect("write");
    let msg = read_wav(&path).unwrap_err().to_string();
    assert!(msg.ends_with("no-data.wav: no data chunk"), "{msg}");

    let missing = scratch("does-not-exist.wav");
    let msg = read_wav(&missing).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("{}: ", missing.display())),
        "{msg}"
    );
    assert!(WavFileSource::open(&missing, false).is_err());
}

fn numbered_frame(k: usize, offset: f32) -> Frame {
    std::array::from_fn(|i| ((k * FRAME_SAMPLES + i) % 20_000) as f32 + offset)
}

#[test]
fn killed_recording_is_still_a_valid_wav_up_to_the_last_header_update() {
    let path = scratch("killed.wav");
    let mut rec = WavRecorder::create(&path, 2).expect("create");
    let updates = 2;
    let frames = HEADER_UPDATE_FRAMES as usize * updates + 5;
    for k in 0..frames {
        rec.write_stereo(&numbered_frame(k, 0.0), &numbered_frame(k, -5_000.0))
            .expect("write");
    }
    // Simulates a kill: no drop, no finish, buffered bytes never flushed.
    std::mem::forget(rec);
    let back = read_wav(&path).expect("still a valid WAV");
    assert_eq!((back.rate, back.channels), (48_000, 2));
    let kept = back.frames() / FRAME_SAMPLES;
    assert!(
        kept >= HEADER_UPDATE_FRAMES as usize * updates,
        "only {kept} frames"
    );
    for k in 0..kept {
        let left = numbered_frame(k, 0.0);
        let right = numbered_frame(k, -5_000.0);
        for i in 0..FRAME_SAMPLES {
            let at = 2 * (k * FRAME_SAMPLES + i);
            assert_eq!(
                (back.samples[at], back.samples[at + 1]),
                (left[i], right[i])
            );
        }
    }
}

#[test]
fn finished_and_dropped_recordings_hold_every_frame() {
    for finish in [true, false] {
        let path = scratch(&format!("whole-{finish}.wav"));
        let mut rec = WavRecorder::create(&path, 1).expect("create");
        for k in 0..13 {
            rec.write_mono(&numbered_frame(k, 0.0)).expect("write");
        }
        assert!(rec.write_stereo(&[0.0; 480], &[0.0; 480]).is_err());
        if finish {
            rec.finish().expect("finish");
        } else {
            drop(rec);
        }
        let back = read_wav(&path).expect("read");
        assert_eq!(back.samples.len(), 13 * FRAME_SAMPLES);
        assert_eq!(
            back.samples[12 * FRAME_SAMPLES + 7],
            numbered_frame(12, 0.0)[7]
        );
        let mut src = WavFileSource::open(&path, false).expect("open as a source");
        let mut out = [0.0; FRAME_SAMPLES];
        assert_eq!(src.read_frame(&mut out), SourceStatus::Frame);
        assert_eq!(out, numbered_frame(0, 0.0));
    }
    assert!(WavRecorder::create(scratch("three.wav"), 3).is_err());
}

#[test]
fn recording_names_are_safe_whatever_the_call_id() {
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000); // 2023-11-14 22:13:20 UTC
    assert_eq!(
        recording_file_name(t, "a84b4c76e66710@pc33.atlanta.com"),
        "20231114T221320Z_a84b4c76e66710_pc33.atlanta.com.wav"
    );
    let evil = recording_file_name(t, "../../etc/passwd\\x\u{0}\n\u{7f}é");
    assert_eq!(evil, "20231114T221320Z__._.__etc_passwd_x____.wav");
    for id in [
        "../../etc/passwd",
        ".hidden",
        "..",
        "a/b\\c",
        "\u{1b}[31m",
        "",
    ] {
        let name = recording_file_name(t, id);
        let id_part = &name["20231114T221320Z_".len()..];
        assert!(
            !name.contains('/') && !name.contains('\\') && !name.contains(".."),
            "{name}"
        );
        assert!(!id_part.starts_with('.'), "{name}");
        assert!(name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
    }
    assert_eq!(recording_file_name(t, ""), "20231114T221320Z_unknown.wav");
    assert_eq!(
        recording_file_name(UNIX_EPOCH + Duration::from_secs(951_782_400), "x"),
        "20000229T000000Z_x.wav"
    );
}
