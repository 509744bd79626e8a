//! RIFF/WAVE parsing and sample decoding.

use std::path::Path;

use super::{SampleFormat, WavError, WavProblem};

/// A WAV file as stored: interleaved samples in the ±32768 scale.
#[derive(Debug, Clone)]
pub struct WavData {
    /// Sample rate in Hz.
    pub rate: u32,
    /// Channel count.
    pub channels: u16,
    /// How the samples were stored.
    pub format: SampleFormat,
    /// Interleaved samples, ±32768 scale.
    pub samples: Vec<f32>,
}

impl WavData {
    /// Averages the channels into one.
    pub fn downmix(&self) -> Vec<f32> {
        let ch = usize::from(self.channels.max(1));
        if ch == 1 {
            return self.samples.clone();
        }
        self.samples
            .chunks_exact(ch)
            .map(|f| f.iter().sum::<f32>() / ch as f32)
            .collect()
    }

    /// Number of sample frames (one sample per channel each).
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }
}

/// Reads and decodes a WAV file.
pub fn read_wav(path: impl AsRef<Path>) -> Result<WavData, WavError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| WavError::new(path, e))?;
    parse(&bytes).map_err(|p| WavError::new(path, p))
}

pub(super) struct Fmt {
    pub(super) tag: u16,
    pub(super) channels: u16,
    pub(super) rate: u32,
    pub(super) bits: u16,
}

const TAG_PCM: u16 = 1;
const TAG_FLOAT: u16 = 3;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub(super) fn parse(bytes: &[u8]) -> Result<WavData, WavProblem> {
    if bytes.get(0..4) != Some(b"RIFF") {
        return Err(WavProblem::NotWav("RIFF header missing"));
    }
    if bytes.get(8..12) != Some(b"WAVE") {
        return Err(WavProblem::NotWav("RIFF file without WAVE tag"));
    }
    let mut fmt = None;
    let mut data = None;
    let mut pos = 12usize;
    while let (Some(id), Some(size)) = (bytes.get(pos..pos + 4), u32_at(bytes, pos + 4)) {
        let start = pos + 8;
        let remaining = bytes.len() - start.min(bytes.len());
        // A recorder killed mid-write leaves a data size that is stale (too small,
        // handled by trusting it) or a placeholder (0xFFFFFFFF): read what is there.
        let len = (size as usize).min(remaining);
        let body = &bytes[start..start + len];
        match id {
            b"fmt " => fmt = Some(parse_fmt(body)?),
            b"data" => data = Some(body),
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = start
            .saturating_add(size as usize)
            .saturating_add(size as usize & 1);
    }
    let fmt = fmt.ok_or_else(|| WavProblem::Malformed("no fmt chunk".into()))?;
    let data = data.ok_or_else(|| WavProblem::Malformed("no data chunk".into()))?;
    let format = sample_format(&fmt)?;
    let width = usize::from(fmt.bits / 8);
    let block = width * usize::from(fmt.channels);
    // A trailing partial sample frame (truncated file) is dropped.
    let usable = data.len() - data.len() % block;
    let samples = data[..usable]
        .chunks_exact(width)
        .map(|s| decode(format, s))
        .collect();
    Ok(WavData {
        rate: fmt.rate,
        channels: fmt.channels,
        format,
        samples,
    })
}

pub(super) fn parse_fmt(body: &[u8]) -> Result<Fmt, WavProblem> {
    let short = || WavProblem::Malformed(format!("fmt chunk is {} bytes, needs 16", body.len()));
    let mut tag = u16_at(body, 0).ok_or_else(short)?;
    let channels = u16_at(body, 2).ok_or_else(short)?;
    let rate = u32_at(body, 4).ok_or_else(short)?;
    let bits = u16_at(body, 14).ok_or_else(short)?;
    if tag == TAG_EXTENSIBLE {
        // WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID.
        tag = u16_at(body, 24).ok_or_else(|| {
            WavProblem::Malformed("extensible fmt chunk without sub-format".into())
        })?;
    }
    if channels == 0 {
        return Err(WavProblem::Malformed("0 channels".into()));
    }
    if rate == 0 {
        return Err(WavProblem::Malformed("sample rate 0".into()));
    }
    Ok(Fmt {
        tag,
        channels,
        rate,
        bits,
    })
}

pub(super) fn sample_format(fmt: &Fmt) -> Result<SampleFormat, WavProblem> {
    match (fmt.tag, fmt.bits) {
        (TAG_PCM, 8) => Ok(SampleFormat::U8),
        (TAG_PCM, 16) => Ok(SampleFormat::I16),
        (TAG_PCM, 24) => Ok(SampleFormat::I24),
        (TAG_PCM, 32) => Ok(SampleFormat::I32),
        (TAG_FLOAT, 32) => Ok(SampleFormat::F32),
        (TAG_FLOAT, 64) => Ok(SampleFormat::F64),
        (TAG_PCM | TAG_FLOAT, bits) => Err(WavProblem::UnsupportedBits(bits)),
        (tag, _) => Err(WavProblem::UnsupportedFormat(tag)),
    }
}

/// Decodes one sample; `s` has exactly the format's width.
pub(super) fn decode(format: SampleFormat, s: &[u8]) -> f32 {
    match format {
        SampleFormat::U8 => (f32::from(s[0]) - 128.0) * 256.0,
        SampleFormat::I16 => f32::from(i16::from_le_bytes([s[0], s[1]])),
        // Placing the 24 bits high in an i32 sign-extends them.
        SampleFormat::I24 => (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as f32 / 256.0,
        SampleFormat::I32 => {
            (f64::from(i32::from_le_bytes([s[0], s[1], s[2], s[3]])) / 65536.0) as f32
        }
        SampleFormat::F32 => sane(f32::from_le_bytes([s[0], s[1], s[2], s[3]]) * 32768.0),
        SampleFormat::F64 => {
            let v = f64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
            sane((v * 32768.0) as f32)
        }
    }
}

/// Float files can hold NaN or huge values; the rest of the pipeline should not.
fn sane(x: f32) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(-32768.0, 32768.0)
    }
}
