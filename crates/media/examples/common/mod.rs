//! What the examples share: 16-bit mono 48 kHz WAV files, read and written
//! without a WAV crate (the media crate has none as a dependency).

use std::error::Error;
use std::path::Path;

/// Reads a 16-bit PCM mono 48 kHz WAV into samples on the ±32768 scale the
/// codecs use.
pub fn read_wav_48k_mono(path: &Path) -> Result<Vec<f32>, Box<dyn Error>> {
    let data = std::fs::read(path)?;
    if data.len() < 12 || &data[..4] != b"RIFF" || &data[8..12] != b"WAVE" {
        return Err(format!("{}: not a RIFF/WAVE file", path.display()).into());
    }
    let mut pos = 12;
    let mut format_ok = false;
    while pos + 8 <= data.len() {
        let id = &data[pos..pos + 4];
        let size = u32::from_le_bytes(data[pos + 4..pos + 8].try_into()?) as usize;
        let body = data
            .get(pos + 8..pos + 8 + size)
            .ok_or_else(|| format!("{}: truncated chunk", path.display()))?;
        match id {
            b"fmt " if body.len() >= 16 => {
                let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                let rate = u32::from_le_bytes(body[4..8].try_into()?);
                format_ok = u16_at(0) == 1 && u16_at(2) == 1 && rate == 48_000 && u16_at(14) == 16;
            }
            b"data" if format_ok => {
                return Ok(body
                    .chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])))
                    .collect());
            }
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
    Err(format!("{}: not 16-bit PCM mono 48 kHz", path.display()).into())
}

/// Writes samples on the ±32768 scale as a 16-bit PCM mono 48 kHz WAV.
pub fn write_wav_48k_mono(path: &Path, samples: &[f32]) -> std::io::Result<()> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&48_000u32.to_le_bytes());
    out.extend_from_slice(&96_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for &s in samples {
        let v = s.round().clamp(-32_768.0, 32_767.0) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, out)
}
