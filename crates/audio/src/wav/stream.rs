//! Streaming WAV: a reader that decodes a RIFF/WAVE stream chunk by chunk
//! without seeking (a file or a pipe), and a writer that needs no seeking either
//! when the length is known up front (or, on a pipe, when it is not).
//!
//! Both work on blocks of samples: bytes are read or written with one call per
//! block and decoded or encoded in a tight loop, never one sample per call.
//! Memory is what the caller's block needs, whatever the file's length.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::read::{parse_fmt, sample_format};
use super::write::{encode, header, HEADER_LEN};
use super::{SampleFormat, WavError, WavProblem, WavSpec};

/// Data-chunk sizes that mean "until the end of the stream": what a writer
/// that cannot seek back puts in the header (ffmpeg and this module write
/// 0xFFFFFFFF, sox 0x7FFFF000).
pub const UNKNOWN_DATA_SIZES: [u32; 2] = [u32::MAX, 0x7FFF_F000];

/// A `fmt ` chunk larger than this is not a format description.
const MAX_FMT_BYTES: u32 = 4096;

/// Reads a WAV stream's samples block by block. The header is parsed by
/// [`WavStreamReader::new`], which stops at the start of the `data` chunk;
/// chunks after it are not read.
pub struct WavStreamReader<R> {
    inner: R,
    path: PathBuf,
    spec: WavSpec,
    /// Data bytes the header announces, `None` when unknown (read to the end).
    declared: Option<u64>,
    /// Data bytes decoded so far.
    consumed: u64,
    bytes: Vec<u8>,
    interleaved: Vec<f32>,
    ended: bool,
}

impl<R: Read> WavStreamReader<R> {
    /// Parses the header of the WAV stream `inner`; `path` names it in errors.
    pub fn new(mut inner: R, path: impl AsRef<Path>) -> Result<Self, WavError> {
        let path = path.as_ref();
        let err = |p: WavProblem| WavError::new(path, p);
        let mut riff = [0u8; 12];
        let got = read_full(&mut inner, &mut riff).map_err(|e| err(e.into()))?;
        if got < 4 || &riff[0..4] != b"RIFF" {
            return Err(err(WavProblem::NotWav("RIFF header missing")));
        }
        if got < 12 || &riff[8..12] != b"WAVE" {
            return Err(err(WavProblem::NotWav("RIFF file without WAVE tag")));
        }
        let mut spec = None;
        loop {
            let mut head = [0u8; 8];
            let got = read_full(&mut inner, &mut head).map_err(|e| err(e.into()))?;
            let missing = if spec.is_none() {
                "no fmt chunk"
            } else {
                "no data chunk"
            };
            if got == 0 {
                return Err(err(WavProblem::Malformed(missing.into())));
            }
            if got < 8 {
                return Err(err(WavProblem::Malformed(format!(
                    "{missing}: the file ends inside a chunk header"
                ))));
            }
            let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            match &head[0..4] {
                b"fmt " => {
                    if size > MAX_FMT_BYTES {
                        return Err(err(WavProblem::Malformed(format!(
                            "fmt chunk of {size} bytes"
                        ))));
                    }
                    let mut body = vec![0u8; (size + (size & 1)) as usize];
                    let got = read_full(&mut inner, &mut body).map_err(|e| err(e.into()))?;
                    if got < size as usize {
                        return Err(err(WavProblem::Malformed(
                            "the file ends inside the fmt chunk".into(),
                        )));
                    }
                    let fmt = parse_fmt(&body[..size as usize]).map_err(err)?;
                    let format = sample_format(&fmt).map_err(err)?;
                    spec = Some(WavSpec {
                        rate: fmt.rate,
                        channels: fmt.channels,
                        format,
                    });
                }
                b"data" => {
                    let Some(spec) = spec else {
                        return Err(err(WavProblem::Malformed(
                            "data chunk before the fmt chunk".into(),
                        )));
                    };
                    let declared = (!UNKNOWN_DATA_SIZES.contains(&size)).then_some(u64::from(size));
                    return Ok(WavStreamReader {
                        inner,
                        path: path.to_path_buf(),
                        spec,
                        declared,
                        consumed: 0,
                        bytes: Vec::new(),
                        interleaved: Vec::new(),
                        ended: false,
                    });
                }
                _ => {
                    let skip = u64::from(size) + u64::from(size & 1);
                    let skipped = io::copy(&mut (&mut inner).take(skip), &mut io::sink())
                        .map_err(|e| err(e.into()))?;
                    if skipped < skip {
                        return Err(err(WavProblem::Malformed(format!(
                            "{missing}: the file ends inside a '{}' chunk",
                            String::from_utf8_lossy(&head[0..4])
                        ))));
                    }
                }
            }
        }
    }

    /// The stream's rate, channels and sample format.
    pub fn spec(&self) -> WavSpec {
        self.spec
    }

    /// The name used in errors.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sample frames (one sample per channel) the header announces; `None` when
    /// the stream's length is unknown.
    pub fn frames(&self) -> Option<u64> {
        self.declared.map(|d| d / self.block() as u64)
    }

    fn block(&self) -> usize {
        usize::from(self.spec.format.bits() / 8) * usize::from(self.spec.channels)
    }

    /// Reads up to `out.len() / channels` sample frames, interleaved, ±32768
    /// scale. Returns the number of samples stored (whole frames); 0 once the data
    /// is exhausted. A stream that ends before the size its header announces is
    /// an error (truncated); a stream of unknown size ends at end of file, and a
    /// trailing partial sample frame is dropped.
    pub fn read(&mut self, out: &mut [f32]) -> Result<usize, WavError> {
        let block = self.block();
        let width = block / usize::from(self.spec.channels);
        let mut frames = out.len() / usize::from(self.spec.channels);
        if let Some(declared) = self.declared {
            let left = (declared - self.consumed) / block as u64;
            frames = frames.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        if frames == 0 || self.ended {
            return Ok(0);
        }
        let want = frames * block;
        if self.bytes.len() < want {
            self.bytes.resize(want, 0);
        }
        let got = read_full(&mut self.inner, &mut self.bytes[..want])
            .map_err(|e| WavError::new(&self.path, e))?;
        if got < want {
            self.ended = true;
            if let Some(declared) = self.declared {
                return Err(WavError::new(
                    &self.path,
                    WavProblem::Malformed(format!(
                        "truncated: the data chunk announces {declared} bytes, the file ends after {}",
                        self.consumed + got as u64
                    )),
                ));
            }
        }
        let whole = got - got % block;
        let n = whole / width;
        decode_into(self.spec.format, &self.bytes[..whole], &mut out[..n]);
        self.consumed += whole as u64;
        Ok(n)
    }

    /// Like [`read`](Self::read) but averages the channels: reads up to
    /// `out.len()` sample frames and returns how many.
    pub fn read_mono(&mut self, out: &mut [f32]) -> Result<usize, WavError> {
        let ch = usize::from(self.spec.channels);
        if ch == 1 {
            return self.read(out);
        }
        let mut interleaved = std::mem::take(&mut self.interleaved);
        if interleaved.len() < out.len() * ch {
            interleaved.resize(out.len() * ch, 0.0);
        }
        let result = self.read(&mut interleaved[..out.len() * ch]);
        if let Ok(n) = result {
            for (o, f) in out.iter_mut().zip(interleaved[..n].chunks_exact(ch)) {
                *o = f.iter().sum::<f32>() / ch as f32;
            }
        }
        self.interleaved = interleaved;
        result.map(|n| n / ch)
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Decodes whole samples of `format` from `bytes` into `out` (one value per
/// sample), exactly as the whole-file reader does.
fn decode_into(format: SampleFormat, bytes: &[u8], out: &mut [f32]) {
    match format {
        SampleFormat::U8 => {
            for (o, &b) in out.iter_mut().zip(bytes) {
                *o = (f32::from(b) - 128.0) * 256.0;
            }
        }
        SampleFormat::I16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f32::from(i16::from_le_bytes([b[0], b[1]]));
            }
        }
        _ => {
            let width = usize::from(format.bits() / 8);
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(width)) {
                *o = super::read::decode(format, b);
            }
        }
    }
}

/// Writes a WAV stream block by block. The header goes out first: with the
/// exact sizes when the caller knows how many sample frames will follow,
/// otherwise with 0xFFFFFFFF sizes ("until the end of the stream", what a pipe
/// needs). [`finish_seekable`](Self::finish_seekable) rewrites the header with
/// the real sizes on a file.
pub struct WavStreamWriter<W: Write> {
    inner: W,
    path: PathBuf,
    spec: WavSpec,
    /// Data bytes the header announces, `None` when it says "unknown".
    declared: Option<u64>,
    written: u64,
    bytes: Vec<u8>,
}

/// Largest data size a RIFF header can state (with the 36 header bytes and a
/// pad byte).
const MAX_DATA_BYTES: u64 = u32::MAX as u64 - 37;

impl<W: Write> WavStreamWriter<W> {
    /// Writes the header for `frames` sample frames, or for a stream of
    /// unknown length when `frames` is `None` (or too long for a RIFF header).
    pub fn new(
        mut inner: W,
        path: impl AsRef<Path>,
        spec: WavSpec,
        frames: Option<u64>,
    ) -> Result<Self, WavError> {
        let path = path.as_ref();
        if spec.channels == 0 || spec.rate == 0 {
            return Err(WavError::new(
                path,
                WavProblem::Invalid(format!(
                    "cannot write {} channels at {} Hz",
                    spec.channels, spec.rate
                )),
            ));
        }
        let block = u64::from(spec.format.bits() / 8) * u64::from(spec.channels);
        let declared = frames
            .and_then(|f| f.checked_mul(block))
            .filter(|&b| b <= MAX_DATA_BYTES);
        inner
            .write_all(&stream_header(spec, declared))
            .map_err(|e| WavError::new(path, e))?;
        Ok(WavStreamWriter {
            inner,
            path: path.to_path_buf(),
            spec,
            declared,
            written: 0,
            bytes: Vec::new(),
        })
    }

    /// The shape being written.
    pub fn spec(&self) -> WavSpec {
        self.spec
    }

    /// Data bytes written so far.
    pub fn data_bytes(&self) -> u64 {
        self.written
    }

    /// Appends interleaved ±32768-scale samples (whole sample frames).
    pub fn write(&mut self, interleaved: &[f32]) -> Result<(), WavError> {
        if !interleaved
            .len()
            .is_multiple_of(usize::from(self.spec.channels))
        {
            return Err(WavError::new(
                &self.path,
                WavProblem::Invalid(format!(
                    "{} samples do not divide into {} channels",
                    interleaved.len(),
                    self.spec.channels
                )),
            ));
        }
        self.encode_and_write(interleaved, 1)
    }

    /// Appends mono ±32768-scale samples, each copied to every channel.
    pub fn write_mono(&mut self, mono: &[f32]) -> Result<(), WavError> {
        self.encode_and_write(mono, usize::from(self.spec.channels))
    }

    fn encode_and_write(&mut self, samples: &[f32], copies: usize) -> Result<(), WavError> {
        let width = usize::from(self.spec.format.bits() / 8);
        let len = samples.len() * copies * width;
        if self.bytes.len() < len {
            self.bytes.resize(len, 0);
        }
        encode_into(self.spec.format, samples, copies, &mut self.bytes[..len]);
        self.inner
            .write_all(&self.bytes[..len])
            .map_err(|e| WavError::new(&self.path, e))?;
        self.written += len as u64;
        Ok(())
    }

    /// Ends the data (with its pad byte when the header gave an odd size) and
    /// flushes. A header that announced a size other than what was written is an
    /// error: the stream is not a valid WAV.
    pub fn finish(mut self) -> Result<W, WavError> {
        if let Some(declared) = self.declared {
            if declared != self.written {
                return Err(WavError::new(
                    &self.path,
                    WavProblem::Invalid(format!(
                        "the header announced {declared} data bytes, {} were written",
                        self.written
                    )),
                ));
            }
            if declared & 1 == 1 {
                self.inner
                    .write_all(&[0])
                    .map_err(|e| WavError::new(&self.path, e))?;
            }
        }
        self.inner
            .flush()
            .map_err(|e| WavError::new(&self.path, e))?;
        Ok(self.inner)
    }
}

impl<W: Write + Seek> WavStreamWriter<W> {
    /// Ends the data and rewrites the header with the sizes actually written.
    pub fn finish_seekable(mut self) -> Result<W, WavError> {
        let fits = self.written <= MAX_DATA_BYTES;
        let sizes = fits.then_some(self.written);
        let result = (|| {
            if fits && self.written & 1 == 1 {
                self.inner.write_all(&[0])?;
            }
            self.inner.flush()?;
            if sizes != self.declared {
                self.inner.seek(SeekFrom::Start(0))?;
                self.inner.write_all(&stream_header(self.spec, sizes))?;
                self.inner.flush()?;
            }
            Ok(())
        })();
        result.map_err(|e: io::Error| WavError::new(&self.path, e))?;
        Ok(self.inner)
    }
}

/// The canonical header for `data` bytes (with the RIFF size counting the pad
/// byte of an odd data chunk), or with both sizes 0xFFFFFFFF when unknown.
fn stream_header(spec: WavSpec, data: Option<u64>) -> [u8; HEADER_LEN] {
    match data {
        Some(d) => {
            let mut h = header(spec, d as u32);
            let riff = 36 + d + (d & 1);
            h[4..8].copy_from_slice(&(riff as u32).to_le_bytes());
            h
        }
        None => header(spec, u32::MAX),
    }
}

/// Encodes `samples` into `out`, each written `copies` times in a row, exactly
/// as the whole-file writer encodes them. `out` holds
/// `samples.len() * copies` samples of the format's width.
fn encode_into(format: SampleFormat, samples: &[f32], copies: usize, out: &mut [u8]) {
    match format {
        SampleFormat::I16 if copies == 1 => {
            // The common case gets a loop of its own, which the compiler
            // vectorises.
            for (&s, dst) in samples.iter().zip(out.chunks_exact_mut(2)) {
                dst.copy_from_slice(&round_i16(s).to_le_bytes());
            }
        }
        SampleFormat::I16 => {
            for (&s, dst) in samples.iter().zip(out.chunks_exact_mut(2 * copies)) {
                let b = round_i16(s).to_le_bytes();
                for d in dst.chunks_exact_mut(2) {
                    d.copy_from_slice(&b);
                }
            }
        }
        _ => {
            let width = usize::from(format.bits() / 8);
            let mut one = Vec::with_capacity(8);
            for (&s, dst) in samples.iter().zip(out.chunks_exact_mut(width * copies)) {
                one.clear();
                encode(format, s, &mut one);
                for d in dst.chunks_exact_mut(width) {
                    d.copy_from_slice(&one);
                }
            }
        }
    }
}

/// `x.round() as i16` (half away from zero, saturating, NaN to 0) without the
/// `roundf` library call that baseline x86-64 makes for `round`, and without
/// the saturation fix-ups of `as` (which kept the loop half scalar): after the
/// clamp, truncation and the fraction are exact.
#[inline]
fn round_i16(x: f32) -> i16 {
    let x = if x.is_nan() {
        0.0
    } else {
        x.clamp(-32768.0, 32767.0)
    };
    // SAFETY: `x` is finite and within ±32768, so it fits an i32 when truncated.
    let t: i32 = unsafe { x.to_int_unchecked() };
    let frac = x - t as f32;
    (t + i32::from(frac >= 0.5) - i32::from(frac <= -0.5)) as i16
}

#[cfg(test)]
mod tests {
    use super::super::read::decode;
    use super::*;

    fn spec(format: SampleFormat, channels: u16) -> WavSpec {
        WavSpec {
            rate: 16_000,
            channels,
            format,
        }
    }

    const FORMATS: [SampleFormat; 6] = [
        SampleFormat::U8,
        SampleFormat::I16,
        SampleFormat::I24,
        SampleFormat::I32,
        SampleFormat::F32,
        SampleFormat::F64,
    ];

    /// Deterministic pseudo-random samples spanning beyond full scale.
    fn samples(n: usize) -> Vec<f32> {
        let mut x = 0x2545_f491_u32;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as i32 as f32) / 60_000.0
            })
            .collect()
    }

    #[test]
    fn fast_i16_rounding_equals_round_then_cast() {
        let mut specials = vec![
            0.5f32,
            -0.5,
            0.499_999_97,
            -0.499_999_97,
            1.5,
            -1.5,
            2.5,
            32_767.5,
            -32_768.5,
            32_766.5,
            1e9,
            -1e9,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -0.0,
        ];
        // Every quarter and the neighbours of every half across the range.
        for k in -140_000i32..140_000 {
            let h = k as f32 / 4.0;
            specials.extend([h, h.next_up(), h.next_down()]);
        }
        specials.extend(samples(100_000));
        for x in specials {
            assert_eq!(round_i16(x), x.round() as i16, "{x}");
        }
    }

    #[test]
    fn block_codecs_equal_the_per_sample_ones() {
        let xs = samples(999);
        for format in FORMATS {
            let width = usize::from(format.bits() / 8);
            let mut expect = Vec::new();
            for &x in &xs {
                encode(format, x, &mut expect);
            }
            let mut got = vec![0u8; xs.len() * width];
            encode_into(format, &xs, 1, &mut got);
            assert_eq!(got, expect, "{format:?} encode");
            let mut twice = vec![0u8; xs.len() * width * 2];
            encode_into(format, &xs, 2, &mut twice);
            for (k, pair) in twice.chunks_exact(2 * width).enumerate() {
                assert_eq!(pair[..width], expect[k * width..(k + 1) * width]);
                assert_eq!(pair[width..], expect[k * width..(k + 1) * width]);
            }
            let decoded: Vec<f32> = expect
                .chunks_exact(width)
                .map(|b| decode(format, b))
                .collect();
            let mut bulk = vec![0.0f32; xs.len()];
            decode_into(format, &expect, &mut bulk);
            assert_eq!(
                bulk.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                decoded.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{format:?} decode"
            );
        }
    }

    fn write_all(spec: WavSpec, frames: Option<u64>, interleaved: &[f32]) -> Vec<u8> {
        let mut w = WavStreamWriter::new(Vec::new(), "mem.wav", spec, frames).unwrap();
        for chunk in interleaved.chunks(7 * usize::from(spec.channels)) {
            w.write(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    /// Reads everything with blocks of `block` sample frames.
    fn read_all(bytes: &[u8], block: usize) -> Result<(WavSpec, Vec<f32>), WavError> {
        let mut r = WavStreamReader::new(bytes, "mem.wav")?;
        let ch = usize::from(r.spec().channels);
        let mut out = Vec::new();
        let mut buf = vec![0.0f32; block * ch];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        Ok((r.spec(), out))
    }

    #[test]
    fn chunked_reads_equal_the_whole_file_reader_in_every_format() {
        for format in FORMATS {
            for channels in [1u16, 2, 3] {
                let s = spec(format, channels);
                let xs = samples(1001 * usize::from(channels));
                let bytes = write_all(s, Some(1001), &xs);
                let whole = super::super::read::parse(&bytes).unwrap();
                for block in [1, 2, 5, 480, 4096] {
                    let (got_spec, got) = read_all(&bytes, block).unwrap();
                    assert_eq!(got_spec, s);
                    assert_eq!(got, whole.samples, "{format:?} x{channels} block {block}");
                }
            }
        }
    }

    #[test]
    fn mono_reads_average_the_channels_like_downmix() {
        let s = spec(SampleFormat::I24, 3);
        let xs = samples(3 * 500);
        let bytes = write_all(s, Some(500), &xs);
        let whole = super::super::read::parse(&bytes).unwrap().downmix();
        let mut r = WavStreamReader::new(&bytes[..], "mem.wav").unwrap();
        let (mut out, mut buf) = (Vec::new(), [0.0f32; 33]);
        loop {
            let n = r.read_mono(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, whole);
    }

    #[test]
    fn unknown_size_streams_read_to_the_end_and_exact_headers_match_the_file_writer() {
        let s = spec(SampleFormat::I16, 1);
        let xs = samples(777);
        let piped = write_all(s, None, &xs);
        assert_eq!(&piped[40..44], &[0xFF; 4]);
        assert_eq!(r_frames(&piped), None);
        let (_, got) = read_all(&piped, 100).unwrap();
        let expect: Vec<f32> = xs.iter().map(|x| f32::from(x.round() as i16)).collect();
        assert_eq!(got, expect);
        // With the length known the bytes are those of the whole-file writer.
        let exact = write_all(s, Some(777), &xs);
        let dir =
            std::env::temp_dir().join(format!("agentphone-wav-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("w.wav");
        super::super::write_wav_spec(&file, s, &xs).unwrap();
        let reference = std::fs::read(&file).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(exact, reference);
        assert_eq!(r_frames(&exact), Some(777));
    }

    fn r_frames(bytes: &[u8]) -> Option<u64> {
        WavStreamReader::new(bytes, "mem.wav").unwrap().frames()
    }

    #[test]
    fn a_seekable_writer_fixes_the_header_sizes() {
        let s = spec(SampleFormat::U8, 1);
        let mut w = WavStreamWriter::new(io::Cursor::new(Vec::new()), "f.wav", s, None).unwrap();
        w.write_mono(&samples(11)).unwrap();
        let bytes = w.finish_seekable().unwrap().into_inner();
        assert_eq!(bytes.len(), 44 + 12, "odd data chunk padded");
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 11);
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 36 + 12);
        let (_, got) = read_all(&bytes, 4).unwrap();
        assert_eq!(got.len(), 11);
    }

    #[test]
    fn truncated_and_broken_streams_are_errors_that_say_so() {
        let s = spec(SampleFormat::I16, 2);
        let bytes = write_all(s, Some(1000), &samples(2000));
        let err = read_all(&bytes[..2000], 64).unwrap_err().to_string();
        assert!(err.starts_with("mem.wav: truncated"), "{err}");
        assert!(err.contains("4000") && err.contains("1956"), "{err}");
        for (cut, what) in [
            (0, "RIFF header missing"),
            (10, "WAVE"),
            (12, "no fmt chunk"),
            (30, "fmt chunk"),
            (36, "no data chunk"),
            (40, "no data chunk"),
        ] {
            let err = read_all(&bytes[..cut], 64).unwrap_err().to_string();
            assert!(err.contains(what), "cut at {cut}: {err}");
        }
        let mut data_first = bytes[..12].to_vec();
        data_first.extend_from_slice(&bytes[36..]);
        let err = read_all(&data_first, 64).unwrap_err().to_string();
        assert!(err.contains("data chunk before the fmt chunk"), "{err}");
    }

    #[test]
    fn unknown_chunks_before_the_data_are_skipped() {
        let s = spec(SampleFormat::I16, 1);
        let xs = samples(50);
        let plain = write_all(s, Some(50), &xs);
        let mut with_list = plain[..36].to_vec();
        with_list.extend_from_slice(b"LIST");
        with_list.extend_from_slice(&3u32.to_le_bytes());
        with_list.extend_from_slice(b"abc\0");
        with_list.extend_from_slice(&plain[36..]);
        assert_eq!(
            read_all(&with_list, 8).unwrap().1,
            read_all(&plain, 8).unwrap().1
        );
    }
}
