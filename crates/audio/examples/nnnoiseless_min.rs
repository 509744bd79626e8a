//! The smallest complete program that denoises a WAV file with plain
//! nnnoiseless: the yardstick `agentphone denoise`'s whole-process speed is
//! measured against (README, "Measured here"):
//!
//! ```text
//! cargo build --release -p agentphone-audio --example nnnoiseless_min
//! target/release/examples/nnnoiseless_min IN.wav OUT.wav
//! ```
//!
//! IN must be 48 kHz mono 16-bit (nnnoiseless's own format). Reads it with
//! `hound`, runs `DenoiseState::process_frame` on each 480-sample frame (the last
//! one zero-padded) and writes the frames as they come out, one frame late, as
//! nnnoiseless gives them: no resampling, no delay compensation, no report.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: nnnoiseless_min IN.wav OUT.wav");
        return ExitCode::from(2);
    };
    match run(input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nnnoiseless_min: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(input: &str, output: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut reader = hound::WavReader::open(input)?;
    let spec = reader.spec();
    if spec.channels != 1 || spec.sample_rate != 48_000 || spec.bits_per_sample != 16 {
        return Err(format!("{input}: needs 48 kHz mono 16-bit, got {spec:?}").into());
    }
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| s.map(f32::from))
        .collect::<Result<_, _>>()?;
    let mut state = nnnoiseless::DenoiseState::new();
    let mut writer = hound::WavWriter::create(output, spec)?;
    let (mut frame, mut out) = (
        [0.0f32; nnnoiseless::FRAME_SIZE],
        [0.0f32; nnnoiseless::FRAME_SIZE],
    );
    for chunk in samples.chunks(nnnoiseless::FRAME_SIZE) {
        frame.fill(0.0);
        frame[..chunk.len()].copy_from_slice(chunk);
        state.process_frame(&mut out, &frame);
        for &s in &out[..chunk.len()] {
            writer.write_sample(s.round().clamp(-32768.0, 32767.0) as i16)?;
        }
    }
    writer.finalize()?;
    Ok(())
}
