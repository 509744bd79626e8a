//! Recording without disk access on the audio thread: the audio thread writes
//! frames into a [`RecordTap`] (a lock-free ring), and a [`RecordWriter`] on
//! another thread drains that ring into the WAV file.

use agentphone_audio::wav::{WavError, WavRecorder};
use agentphone_audio::{Frame, FRAME_SAMPLES};
use rtrb::RingBuffer;
use std::path::Path;

/// Audio a tap holds before frames are lost: 4 s, far more than a disk thread
/// that drains every few tens of milliseconds needs.
const RING_FRAMES: usize = 400;

/// The audio thread's end of a recording.
pub struct RecordTap {
    ring: rtrb::Producer<f32>,
    channels: u16,
    paused: bool,
    lost: u64,
}

/// The disk end of a recording.
pub struct RecordWriter {
    ring: rtrb::Consumer<f32>,
    recorder: Option<WavRecorder>,
    left: Box<Frame>,
    right: Box<Frame>,
}

/// Joins `recorder` (mono: what was heard; stereo: heard left, said right) to a
/// tap for the audio thread.
pub fn record(recorder: WavRecorder) -> (RecordTap, RecordWriter) {
    let channels = recorder.channels();
    let (tx, rx) = RingBuffer::new(RING_FRAMES * FRAME_SAMPLES * usize::from(channels));
    (
        RecordTap {
            ring: tx,
            channels,
            paused: false,
            lost: 0,
        },
        RecordWriter {
            ring: rx,
            recorder: Some(recorder),
            left: Box::new([0.0; FRAME_SAMPLES]),
            right: Box::new([0.0; FRAME_SAMPLES]),
        },
    )
}

impl RecordTap {
    /// 1 or 2.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Pauses (nothing is written) or resumes the recording (R-REC-2).
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// Frames lost because the disk side fell behind.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Writes one frame: `heard`, and for a stereo recording `said` on the right.
    pub fn write(&mut self, heard: &Frame, said: &Frame) {
        if self.paused {
            return;
        }
        let want = FRAME_SAMPLES * usize::from(self.channels);
        let Ok(chunk) = self.ring.write_chunk_uninit(want) else {
            self.lost += 1;
            return;
        };
        // `fill_from_iter` writes and commits every slot it is given, safely.
        if self.channels == 2 {
            let both = heard.iter().zip(said.iter()).flat_map(|(&l, &r)| [l, r]);
            chunk.fill_from_iter(both);
        } else {
            chunk.fill_from_iter(heard.iter().copied());
        }
    }
}

impl RecordWriter {
    /// The file being written.
    pub fn path(&self) -> Option<&Path> {
        self.recorder.as_ref().map(|r| r.path())
    }

    /// Writes what the tap has sent. Returns true once the tap is gone and
    /// everything it wrote is on disk with the final header (the writer is then
    /// done); an error stops the recording.
    pub fn drain(&mut self) -> Result<bool, WavError> {
        let Some(recorder) = &mut self.recorder else {
            return Ok(true);
        };
        let channels = usize::from(recorder.channels());
        let want = FRAME_SAMPLES * channels;
        while self.ring.slots() >= want {
            let Ok(chunk) = self.ring.read_chunk(want) else {
                break;
            };
            let (a, b) = chunk.as_slices();
            for i in 0..want {
                let s = if i < a.len() { a[i] } else { b[i - a.len()] };
                if channels == 2 {
                    if i % 2 == 0 {
                        self.left[i / 2] = s;
                    } else {
                        self.right[i / 2] = s;
                    }
                } else {
                    self.left[i] = s;
                }
            }
            chunk.commit_all();
            if channels == 2 {
                recorder.write_stereo(&self.left, &self.right)?;
            } else {
                recorder.write_mono(&self.left)?;
            }
        }
        if self.ring.is_abandoned() && self.ring.slots() < want {
            if let Some(r) = self.recorder.take() {
                r.finish()?;
            }
            return Ok(true);
        }
        Ok(false)
    }
}
