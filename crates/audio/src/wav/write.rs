//! Writing whole WAV files, and the header shared with the streaming recorder.

use std::io::Write;
use std::path::Path;

use super::{WavError, WavProblem};

/// How samples are stored in a WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// 8-bit unsigned integer.
    U8,
    /// 16-bit signed integer.
    I16,
    /// 24-bit signed integer.
    I24,
    /// 32-bit signed integer.
    I32,
    /// 32-bit IEEE float, ±1.0 full scale.
    F32,
    /// 64-bit IEEE float, ±1.0 full scale.
    F64,
}

impl SampleFormat {
    /// Bits per sample.
    pub fn bits(self) -> u16 {
        match self {
            SampleFormat::U8 => 8,
            SampleFormat::I16 => 16,
            SampleFormat::I24 => 24,
            SampleFormat::I32 | SampleFormat::F32 => 32,
            SampleFormat::F64 => 64,
        }
    }

    fn tag(self) -> u16 {
        match self {
            SampleFormat::F32 | SampleFormat::F64 => 3,
            _ => 1,
        }
    }
}

/// The shape of a WAV file to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavSpec {
    /// Sample rate in Hz.
    pub rate: u32,
    /// Channel count.
    pub channels: u16,
    /// Sample encoding.
    pub format: SampleFormat,
}

/// Length of the canonical header written here.
pub(crate) const HEADER_LEN: usize = 44;

/// The canonical 44-byte header for `data_bytes` of sample data.
pub(crate) fn header(spec: WavSpec, data_bytes: u32) -> [u8; HEADER_LEN] {
    let bytes_per_sample = u32::from(spec.format.bits() / 8);
    let block = bytes_per_sample * u32::from(spec.channels);
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36u32.saturating_add(data_bytes)).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&spec.format.tag().to_le_bytes());
    h[22..24].copy_from_slice(&spec.channels.to_le_bytes());
    h[24..28].copy_from_slice(&spec.rate.to_le_bytes());
    h[28..32].copy_from_slice(&(spec.rate.saturating_mul(block)).to_le_bytes());
    h[32..34].copy_from_slice(&(block as u16).to_le_bytes());
    h[34..36].copy_from_slice(&spec.format.bits().to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

/// Encodes one ±32768-scale sample, saturating, into `out` (the format's width).
pub(crate) fn encode(format: SampleFormat, x: f32, out: &mut Vec<u8>) {
    let x = if x.is_nan() { 0.0 } else { x };
    match format {
        SampleFormat::U8 => out.push(((x / 256.0).round() + 128.0).clamp(0.0, 255.0) as u8),
        SampleFormat::I16 => out.extend_from_slice(&(x.round() as i16).to_le_bytes()),
        SampleFormat::I24 => {
            let v = (f64::from(x) * 256.0)
                .round()
                .clamp(-8_388_608.0, 8_388_607.0) as i32;
            out.extend_from_slice(&v.to_le_bytes()[..3]);
        }
        SampleFormat::I32 => {
            out.extend_from_slice(&((f64::from(x) * 65536.0).round() as i32).to_le_bytes())
        }
        SampleFormat::F32 => out.extend_from_slice(&(x / 32768.0).to_le_bytes()),
        SampleFormat::F64 => out.extend_from_slice(&(f64::from(x) / 32768.0).to_le_bytes()),
    }
}

/// Writes interleaved ±32768-scale samples as a 16-bit PCM WAV file.
pub fn write_wav(
    path: impl AsRef<Path>,
    rate: u32,
    channels: u16,
    samples: &[f32],
) -> Result<(), WavError> {
    let spec = WavSpec {
        rate,
        channels,
        format: SampleFormat::I16,
    };
    write_wav_spec(path, spec, samples)
}

/// Writes interleaved ±32768-scale samples in the given format.
pub fn write_wav_spec(
    path: impl AsRef<Path>,
    spec: WavSpec,
    samples: &[f32],
) -> Result<(), WavError> {
    let path = path.as_ref();
    let invalid = |m: String| WavError::new(path, WavProblem::Invalid(m));
    if spec.channels == 0 || spec.rate == 0 {
        return Err(invalid(format!(
            "cannot write {} channels at {} Hz",
            spec.channels, spec.rate
        )));
    }
    if !samples
        .chunks_exact(usize::from(spec.channels))
        .remainder()
        .is_empty()
    {
        return Err(invalid(format!(
            "{} samples do not divide into {} channels",
            samples.len(),
            spec.channels
        )));
    }
    let data_len = samples.len() * usize::from(spec.format.bits() / 8);
    let data_bytes = u32::try_from(data_len)
        .ok()
        .filter(|&n| n <= u32::MAX - 36)
        .ok_or_else(|| invalid(format!("{data_len} bytes exceed the 4 GiB WAV limit")))?;
    let mut bytes = Vec::with_capacity(HEADER_LEN + data_len);
    bytes.extend_from_slice(&header(spec, data_bytes));
    for &s in samples {
        encode(spec.format, s, &mut bytes);
    }
    let mut file = std::fs::File::create(path).map_err(|e| WavError::new(path, e))?;
    file.write_all(&bytes).map_err(|e| WavError::new(path, e))
}
