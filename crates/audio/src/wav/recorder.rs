//! Streaming call recorder that survives being killed.
//!
//! The header's RIFF and data sizes are rewritten every [`HEADER_UPDATE_FRAMES`]
//! frames (and on finish/drop), right after the buffered samples are flushed, so a
//! process killed at any moment leaves a valid WAV holding at least everything
//! written up to the last update. Between updates, samples go to a buffer: the
//! per-frame path makes no system call and does not allocate.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::write::{encode, header, HEADER_LEN};
use super::{SampleFormat, WavError, WavProblem, WavSpec};
use crate::frame::{Frame, FRAME_SAMPLES, SAMPLE_RATE};

/// Frames between header updates: 100 ms of audio at most is lost to a kill.
pub const HEADER_UPDATE_FRAMES: u32 = 10;

/// Large enough that a stereo recording flushes about every 300 ms.
const BUFFER_BYTES: usize = 64 * 1024;

/// The 4 GiB RIFF limit, less the header.
const MAX_DATA_BYTES: u64 = u32::MAX as u64 - 36;

/// Writes 16-bit PCM at 48 kHz, mono or stereo (left = what the agent heard,
/// right = what the agent sent).
pub struct WavRecorder {
    path: PathBuf,
    file: BufWriter<File>,
    spec: WavSpec,
    data_bytes: u64,
    since_update: u32,
    scratch: Vec<u8>,
    finished: bool,
}

impl WavRecorder {
    /// Creates (or truncates) `path` and writes a header for an empty recording.
    pub fn create(path: impl AsRef<Path>, channels: u16) -> Result<Self, WavError> {
        let path = path.as_ref();
        if !(1..=2).contains(&channels) {
            return Err(WavError::new(
                path,
                WavProblem::Invalid(format!(
                    "a recording is mono or stereo, not {channels} channels"
                )),
            ));
        }
        let spec = WavSpec {
            rate: SAMPLE_RATE,
            channels,
            format: SampleFormat::I16,
        };
        let file = File::create(path).map_err(|e| WavError::new(path, e))?;
        let mut file = BufWriter::with_capacity(BUFFER_BYTES, file);
        file.write_all(&header(spec, 0))
            .and_then(|()| file.flush())
            .map_err(|e| WavError::new(path, e))?;
        Ok(WavRecorder {
            path: path.to_path_buf(),
            file,
            spec,
            data_bytes: 0,
            since_update: 0,
            scratch: Vec::with_capacity(FRAME_SAMPLES * 2 * 2),
            finished: false,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seconds of audio written so far.
    pub fn duration_secs(&self) -> f64 {
        self.data_bytes as f64 / (2.0 * f64::from(self.spec.channels) * f64::from(SAMPLE_RATE))
    }

    /// Appends one frame to a mono recording.
    pub fn write_mono(&mut self, frame: &Frame) -> Result<(), WavError> {
        if self.spec.channels != 1 {
            return Err(self.invalid("a mono frame was given to a stereo recording"));
        }
        self.scratch.clear();
        for &s in frame {
            encode(SampleFormat::I16, s, &mut self.scratch);
        }
        self.append()
    }

    /// 1 (what was heard) or 2 (heard left, sent right).
    pub fn channels(&self) -> u16 {
        self.spec.channels
    }

    /// Appends one frame of each direction to a stereo recording.
    pub fn write_stereo(&mut self, heard: &Frame, sent: &Frame) -> Result<(), WavError> {
        if self.spec.channels != 2 {
            return Err(self.invalid("a stereo frame was given to a mono recording"));
        }
        self.scratch.clear();
        for (&l, &r) in heard.iter().zip(sent) {
            encode(SampleFormat::I16, l, &mut self.scratch);
            encode(SampleFormat::I16, r, &mut self.scratch);
        }
        self.append()
    }

    /// Flushes everything and writes the final sizes.
    pub fn finish(mut self) -> Result<(), WavError> {
        self.finished = true;
        self.update_header()
    }

    fn invalid(&self, msg: &str) -> WavError {
        WavError::new(&self.path, WavProblem::Invalid(msg.to_string()))
    }

    fn append(&mut self) -> Result<(), WavError> {
        let len = self.scratch.len() as u64;
        if self.data_bytes + len > MAX_DATA_BYTES {
            return Err(self.invalid("recording reached the 4 GiB WAV size limit"));
        }
        let path = &self.path;
        self.file
            .write_all(&self.scratch)
            .map_err(|e| WavError::new(path, e))?;
        self.data_bytes += len;
        self.since_update += 1;
        if self.since_update >= HEADER_UPDATE_FRAMES {
            self.update_header()?;
        }
        Ok(())
    }

    /// Flushes the samples, then rewrites the header sizes to cover them: in that
    /// order, the header never claims bytes that are not on disk.
    fn update_header(&mut self) -> Result<(), WavError> {
        self.since_update = 0;
        let data = self.data_bytes as u32;
        let h = header(self.spec, data);
        let end = HEADER_LEN as u64 + self.data_bytes;
        let result = (|| {
            self.file.flush()?;
            let f = self.file.get_mut();
            f.seek(SeekFrom::Start(0))?;
            f.write_all(&h)?;
            f.seek(SeekFrom::Start(end))?;
            Ok(())
        })();
        result.map_err(|e: std::io::Error| WavError::new(&self.path, e))
    }
}

impl Drop for WavRecorder {
    fn drop(&mut self) {
        if !self.finished {
            if let Err(e) = self.update_header() {
                tracing::warn!(error = %e, "could not finalize recording");
            }
        }
    }
}
