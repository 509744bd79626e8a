//! The agent's audio backend on its own thread, joined to a call's media task by
//! two lock-free single-producer single-consumer rings (`rtrb`): the microphone
//! ring (audio thread → media task) and the heard ring (media task → audio
//! thread).
//!
//! The audio thread is paced by the sound card (or its own 10 ms clock for the
//! file/null/tone backends); the media task by the packet clock. The two clocks
//! drift, so each ring keeps at most [`MAX_QUEUED_FRAMES`] of audio: beyond that
//! the oldest frame is skipped (latency stays bounded), and an empty ring plays
//! silence. On the audio thread a tick copies two frames and touches nothing else:
//! no lock, no allocation, no log line.

use super::{AudioBackend, AudioIo};
use agentphone_audio::sink::{AudioSink, SinkError};
use agentphone_audio::source::{AudioSource, SourceStatus};
use agentphone_audio::{Frame, FRAME_SAMPLES};
use anyhow::{anyhow, Context, Result};
use rtrb::RingBuffer;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Audio a ring holds at most before frames are skipped: 60 ms.
pub const MAX_QUEUED_FRAMES: usize = 6;
/// Each ring's capacity: room above the limit so a writer never blocks.
const RING_SAMPLES: usize = (MAX_QUEUED_FRAMES + 4) * FRAME_SAMPLES;

/// Counters shared by the two sides, read when the call ends.
#[derive(Debug, Default)]
struct Counters {
    /// Frames the audio thread played as silence because nothing was heard yet.
    underruns: AtomicU64,
    /// Microphone frames skipped (ring over [`MAX_QUEUED_FRAMES`] or full).
    mic_skipped: AtomicU64,
    /// Heard frames skipped (ring over [`MAX_QUEUED_FRAMES`] or full).
    heard_skipped: AtomicU64,
    /// Frames the sound card itself lost (capture or playback overruns).
    device_dropped: AtomicU64,
}

/// What the audio thread counted over a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeCounters {
    /// Frames played as silence because nothing was heard yet.
    pub underruns: u64,
    /// Microphone frames skipped to keep the delay bounded.
    pub mic_skipped: u64,
    /// Heard frames skipped to keep the delay bounded.
    pub heard_skipped: u64,
    /// Frames the sound card itself lost.
    pub device_dropped: u64,
}

/// The media task's end of the microphone ring: an [`AudioSource`].
pub struct MicSource {
    ring: rtrb::Consumer<f32>,
    counters: Arc<Counters>,
}

impl AudioSource for MicSource {
    fn read_frame(&mut self, out: &mut Frame) -> SourceStatus {
        // Catch up when the device clock ran ahead of the packet clock.
        while self.ring.slots() > MAX_QUEUED_FRAMES * FRAME_SAMPLES {
            if self.ring.pop_entire_slice(out).is_err() {
                break;
            }
            self.counters.mic_skipped.fetch_add(1, Ordering::Relaxed);
        }
        if self.ring.pop_entire_slice(out).is_err() {
            out.fill(0.0);
        }
        if self.ring.is_abandoned() && self.ring.is_empty() {
            SourceStatus::Ended
        } else {
            SourceStatus::Frame
        }
    }
}

/// The media task's end of the heard ring: an [`AudioSink`].
pub struct HeardSink {
    ring: rtrb::Producer<f32>,
    counters: Arc<Counters>,
}

impl AudioSink for HeardSink {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), SinkError> {
        if self.ring.is_abandoned() {
            return Err(SinkError::Closed("the audio thread has stopped".into()));
        }
        if self.ring.push_entire_slice(frame).is_err() {
            // The device stopped taking audio for a moment: this frame is lost,
            // which the audio thread's own skipping would have done anyway.
            self.counters.heard_skipped.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The running audio thread; stops and joins when dropped.
pub struct AudioThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl AudioThread {
    /// Opens `backend` on a new audio thread and returns the two ring ends for
    /// the call's media. A backend that cannot open (no sound card, a bad
    /// file) is an error here, naming the device or file.
    pub fn start(backend: AudioBackend) -> Result<(AudioThread, MicSource, HeardSink)> {
        let (mic_tx, mic_rx) = RingBuffer::new(RING_SAMPLES);
        let (heard_tx, heard_rx) = RingBuffer::new(RING_SAMPLES);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let thread = {
            let (stop, counters) = (stop.clone(), counters.clone());
            std::thread::Builder::new()
                .name("agentphone-audio".into())
                .spawn(move || {
                    // cpal streams may not move between threads: open here.
                    let io = match AudioIo::open(&backend) {
                        Ok(io) => {
                            let _ = opened_tx.send(Ok(()));
                            io
                        }
                        Err(e) => {
                            let _ = opened_tx.send(Err(e));
                            return;
                        }
                    };
                    run(io, mic_tx, heard_rx, &stop, &counters);
                })
                .context("cannot start the audio thread")?
        };
        let mut audio = AudioThread {
            stop,
            thread: Some(thread),
            counters: counters.clone(),
        };
        match opened_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                audio.stop_and_join();
                return Err(anyhow!("the audio backend did not open within 10 s"));
            }
        }
        let mic = MicSource {
            ring: mic_rx,
            counters: counters.clone(),
        };
        let heard = HeardSink {
            ring: heard_tx,
            counters,
        };
        Ok((audio, mic, heard))
    }

    /// What was counted so far.
    pub fn counters(&self) -> BridgeCounters {
        let c = &self.counters;
        BridgeCounters {
            underruns: c.underruns.load(Ordering::Relaxed),
            mic_skipped: c.mic_skipped.load(Ordering::Relaxed),
            heard_skipped: c.heard_skipped.load(Ordering::Relaxed),
            device_dropped: c.device_dropped.load(Ordering::Relaxed),
        }
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AudioThread {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// The audio thread's loop: one microphone frame out, one heard frame in, per
/// 10 ms tick, until told to stop or the backend fails.
fn run(
    mut io: AudioIo,
    mut mic_tx: rtrb::Producer<f32>,
    mut heard_rx: rtrb::Consumer<f32>,
    stop: &AtomicBool,
    counters: &Counters,
) {
    let mut mic: Frame = [0.0; FRAME_SAMPLES];
    let mut heard: Frame = [0.0; FRAME_SAMPLES];
    while !stop.load(Ordering::Relaxed) {
        if io.next_frame(&mut mic).is_err() {
            break;
        }
        if mic_tx.push_entire_slice(&mic).is_err() {
            counters.mic_skipped.fetch_add(1, Ordering::Relaxed);
        }
        while heard_rx.slots() > MAX_QUEUED_FRAMES * FRAME_SAMPLES {
            if heard_rx.pop_entire_slice(&mut heard).is_err() {
                break;
            }
            counters.heard_skipped.fetch_add(1, Ordering::Relaxed);
        }
        if heard_rx.pop_entire_slice(&mut heard).is_err() {
            heard.fill(0.0);
            counters.underruns.fetch_add(1, Ordering::Relaxed);
        }
        if io.play(&heard).is_err() {
            break;
        }
        counters
            .device_dropped
            .store(io.dropped_frames(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentphone_audio::wav::read_wav_48k_mono;

    #[test]
    fn frames_cross_both_rings_in_order_through_a_file_backend() {
        let dir = std::env::temp_dir().join(format!("agentphone-bridge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let record = dir.join("played.wav");
        let backend = AudioBackend::File {
            play: None,
            record: Some(record.clone()),
            looping: false,
        };
        let (audio, mut mic, mut heard) = AudioThread::start(backend).unwrap();
        // The media task side: 30 frames of a ramp, one every 10 ms.
        let mut frame: Frame = [0.0; FRAME_SAMPLES];
        for i in 0..30 {
            frame.fill(100.0 * (i + 1) as f32);
            heard.write_frame(&frame).unwrap();
            let mut m: Frame = [1.0; FRAME_SAMPLES];
            mic.read_frame(&mut m);
            assert!(
                m.iter().all(|&s| s == 0.0),
                "the file backend's mic is silent"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        let counters = audio.counters();
        drop(audio);
        let played = read_wav_48k_mono(&record).unwrap().samples;
        let levels: Vec<f32> = played
            .chunks_exact(FRAME_SAMPLES)
            .map(|f| f[0])
            .filter(|&v| v != 0.0)
            .collect();
        // Every frame that was not skipped arrives once, in order.
        assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
        assert_eq!(
            levels.len() as u64 + counters.heard_skipped,
            30,
            "{levels:?}"
        );
        assert!(counters.heard_skipped <= 3, "{counters:?}");
        assert!(
            counters.underruns > 0,
            "the tail after the last frame plays silence"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_sound_card_is_an_error_not_a_panic() {
        let backend = AudioBackend::Device {
            name: Some("no-such-device-xyz".into()),
        };
        let err = AudioThread::start(backend)
            .err()
            .expect("no such device here");
        let text = format!("{err:#}");
        assert!(
            text.contains("no-such-device-xyz") || text.contains("no sound card"),
            "{text}"
        );
    }
}
