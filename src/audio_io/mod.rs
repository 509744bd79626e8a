//! Audio input/output for the binary: sound devices (cpal), files, tone, null.
//!
//! The call runtime opens one [`AudioIo`] on its audio thread and loops:
//! [`AudioIo::next_frame`] (waits for the next 10 ms tick and yields the
//! microphone frame), process, [`AudioIo::play`]. With a sound device the device
//! paces the loop; the other backends pace it with their own 10 ms clock.

mod device;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agentphone_audio::sink::{AudioSink, NullSink};
use agentphone_audio::source::{AudioSource, Silence, SourceStatus, Tone, WavFileSource};
use agentphone_audio::wav::WavRecorder;
use agentphone_audio::Frame;
use anyhow::Context;

pub use device::{list_devices, DeviceInfo};

/// Length of one tick.
const TICK: Duration = Duration::from_millis(10);

/// Where the agent's audio comes from and goes to.
// The media engine runs on `Device` or `Null` (files are the engine's own local
// endpoints); `File` and `Tone` serve the backend's tests.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, PartialEq)]
pub enum AudioBackend {
    /// Silence in, everything heard discarded.
    Null,
    /// A WAV file as the microphone and/or a mono WAV recording of what is heard.
    File {
        /// WAV played as the microphone (any rate/format); silence when absent.
        play: Option<PathBuf>,
        /// Where to record what the agent hears (48 kHz 16-bit mono).
        record: Option<PathBuf>,
        /// Restart `play` at its end instead of falling silent.
        looping: bool,
    },
    /// A sine tone as the microphone, heard audio discarded.
    Tone {
        /// Frequency in Hz.
        freq: f32,
        /// Peak level in dBFS.
        level_dbfs: f32,
    },
    /// A sound card: `None` for the system default, else a device name (exact,
    /// or a case-insensitive part of exactly one device's name).
    Device {
        /// The device to open for both capture and playback.
        name: Option<String>,
    },
}

/// What a clocked backend (file, tone, null) waits on until its next tick
/// when it does not sleep by itself.
pub trait Metronome: Send + Sync {
    /// Returns at `deadline` or a little after it (the caller measures how
    /// late); never much before.
    fn wait_until(&self, deadline: Instant);
}

enum Capture {
    Source {
        source: Box<dyn AudioSource + Send>,
        next_tick: Instant,
        /// Who wakes the thread for its ticks; `None`: its own sleep.
        metronome: Option<std::sync::Arc<dyn Metronome>>,
    },
    Device(device::DeviceCapture),
}

enum Playback {
    Sink(Box<dyn AudioSink + Send>),
    Device(device::DevicePlayback),
}

/// An opened backend. With a sound device it owns the cpal streams, which some
/// platforms do not allow to move between threads: open it on the audio thread.
pub struct AudioIo {
    capture: Capture,
    playback: Playback,
    /// How late the last tick of the clocked backends started.
    late: Duration,
    /// Ticks the clock skipped since [`AudioIo::take_skipped`] last asked.
    skipped: u64,
    /// Capture overruns already reported as skipped ticks.
    overruns_seen: u64,
}

impl AudioIo {
    /// Opens `backend`. Errors name the file or device and the problem; a machine
    /// without a sound card gives "no sound card found (ALSA: …)".
    pub fn open(backend: &AudioBackend) -> anyhow::Result<AudioIo> {
        let (source, sink): (Box<dyn AudioSource + Send>, Box<dyn AudioSink + Send>) = match backend
        {
            AudioBackend::Null => (Box::new(Silence), Box::new(NullSink)),
            AudioBackend::Tone { freq, level_dbfs } => {
                (Box::new(Tone::new(*freq, *level_dbfs)?), Box::new(NullSink))
            }
            AudioBackend::File {
                play,
                record,
                looping,
            } => file_backend(play.as_ref(), record.as_ref(), *looping)?,
            AudioBackend::Device { name } => {
                let (capture, playback) = device::open(name.as_deref())?;
                return Ok(AudioIo {
                    capture: Capture::Device(capture),
                    playback: Playback::Device(playback),
                    late: Duration::ZERO,
                    skipped: 0,
                    overruns_seen: 0,
                });
            }
        };
        Ok(AudioIo {
            capture: Capture::Source {
                source,
                next_tick: Instant::now(),
                metronome: None,
            },
            playback: Playback::Sink(sink),
            late: Duration::ZERO,
            skipped: 0,
            overruns_seen: 0,
        })
    }

    /// A clocked backend waits for its ticks on `metronome` instead of
    /// sleeping; a sound card keeps its own pace (false then).
    pub fn follow(&mut self, metronome: std::sync::Arc<dyn Metronome>) -> bool {
        match &mut self.capture {
            Capture::Source { metronome: m, .. } => {
                *m = Some(metronome);
                true
            }
            Capture::Device(_) => false,
        }
    }

    /// Whether a sound device paces the ticks (otherwise a 10 ms sleep clock does).
    #[cfg(test)]
    pub fn paced_by_device(&self) -> bool {
        matches!(self.capture, Capture::Device(_))
    }

    /// Waits for the next 10 ms tick and fills `mic` with the captured frame.
    /// `Ended` means a played file is over (`mic` is silent; ticks go on).
    pub fn next_frame(&mut self, mic: &mut Frame) -> anyhow::Result<SourceStatus> {
        match &mut self.capture {
            Capture::Source {
                source,
                next_tick,
                metronome,
            } => {
                let now = Instant::now();
                if *next_tick > now {
                    match metronome {
                        Some(m) => m.wait_until(*next_tick),
                        None => std::thread::sleep(*next_tick - now),
                    }
                }
                // Read again after the sleep: a process stopped while it
                // slept (the usual place) wakes far behind too.
                let now = Instant::now();
                if now.saturating_duration_since(*next_tick) > 10 * TICK {
                    // Far behind (suspend, debugger): restart the clock rather
                    // than rush out a burst of frames, and count what was
                    // skipped so the legs' RTP clocks can move on by it.
                    self.skipped += ((now - *next_tick).as_micros() / TICK.as_micros()) as u64;
                    *next_tick = now;
                }
                self.late = now.saturating_duration_since(*next_tick);
                *next_tick += TICK;
                Ok(source.read_frame(mic))
            }
            Capture::Device(capture) => capture.next_frame(mic),
        }
    }

    /// Ticks of audio that never happened since the last call: the clocked
    /// backends restarted after falling far behind, or the sound card's
    /// capture overran (its frames were lost). The media clock of what is
    /// sent must move on by as much (see `Engine::skip`).
    pub fn take_skipped(&mut self) -> u32 {
        if let Capture::Device(c) = &self.capture {
            let overruns = c.dropped_frames();
            self.skipped += overruns.saturating_sub(self.overruns_seen);
            self.overruns_seen = overruns;
        }
        u32::try_from(std::mem::take(&mut self.skipped)).unwrap_or(u32::MAX)
    }

    /// How late the last tick started against its clock (the clocked
    /// backends; a sound card paces itself and reports zero).
    pub fn lateness(&self) -> Duration {
        self.late
    }

    /// Frames lost between the device and the audio thread (capture overruns plus
    /// playback overruns); always 0 for the clocked backends.
    pub fn dropped_frames(&self) -> u64 {
        let captured = match &self.capture {
            Capture::Device(c) => c.dropped_frames(),
            Capture::Source { .. } => 0,
        };
        let played = match &self.playback {
            Playback::Device(p) => p.dropped_frames(),
            Playback::Sink(_) => 0,
        };
        captured + played
    }

    /// Sends one frame to the speaker, the recording or nowhere.
    pub fn play(&mut self, frame: &Frame) -> anyhow::Result<()> {
        match &mut self.playback {
            Playback::Sink(sink) => Ok(sink.write_frame(frame)?),
            Playback::Device(playback) => {
                playback.push(frame);
                Ok(())
            }
        }
    }
}

type SourceAndSink = (Box<dyn AudioSource + Send>, Box<dyn AudioSink + Send>);

fn file_backend(
    play: Option<&PathBuf>,
    record: Option<&PathBuf>,
    looping: bool,
) -> anyhow::Result<SourceAndSink> {
    let source: Box<dyn AudioSource + Send> = match play {
        Some(path) => Box::new(WavFileSource::open(path, looping)?),
        None => Box::new(Silence),
    };
    let sink: Box<dyn AudioSink + Send> = match record {
        Some(path) => Box::new(
            WavRecorder::create(path, 1)
                .with_context(|| format!("cannot record to {}", path.display()))?,
        ),
        None => Box::new(NullSink),
    };
    Ok((source, sink))
}

/// The `agentphone devices` listing, one device a line.
pub fn format_devices(devices: &[DeviceInfo]) -> String {
    if devices.is_empty() {
        return "no audio devices found\n".to_string();
    }
    let mut out = String::new();
    for d in devices {
        let dir = match (d.input, d.output) {
            (true, true) => "in/out",
            (true, false) => "in    ",
            (false, true) => "   out",
            (false, false) => "  -   ",
        };
        let mut marks = Vec::new();
        if d.default_input {
            marks.push("default input");
        }
        if d.default_output {
            marks.push("default output");
        }
        let marks = if marks.is_empty() {
            String::new()
        } else {
            format!("  ({})", marks.join(", "))
        };
        out.push_str(&format!("{dir}  {}{marks}\n", d.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::device::match_device;
    use super::*;
    use agentphone_audio::FRAME_SAMPLES;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("agentphone-audio-io-{}-{name}", std::process::id()))
    }

    #[test]
    fn null_backend_ticks_every_10_ms_with_silence() {
        let mut io = AudioIo::open(&AudioBackend::Null).expect("null always opens");
        assert!(!io.paced_by_device());
        let mut mic = [1.0; FRAME_SAMPLES];
        let start = Instant::now();
        for _ in 0..6 {
            assert_eq!(io.next_frame(&mut mic).expect("tick"), SourceStatus::Frame);
            io.play(&mic).expect("null sink");
        }
        assert!(mic.iter().all(|&s| s == 0.0));
        assert_eq!(io.dropped_frames(), 0);
        // Six ticks: the first is immediate, then five 10 ms waits.
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_clock_far_behind_restarts_and_counts_the_ticks_it_skipped() {
        let mut io = AudioIo::open(&AudioBackend::Null).expect("null always opens");
        let mut mic = [0.0; FRAME_SAMPLES];
        io.next_frame(&mut mic).expect("tick");
        // A few ms late is caught up, not skipped.
        std::thread::sleep(Duration::from_millis(25));
        io.next_frame(&mut mic).expect("tick");
        assert_eq!(io.take_skipped(), 0);
        // A stall (here a sleep; a SIGSTOP or a paused VM alike) of 300 ms.
        std::thread::sleep(Duration::from_millis(300));
        io.next_frame(&mut mic).expect("tick");
        let skipped = io.take_skipped();
        // 30 ticks less the one it was still due; more on a slow machine.
        assert!((27..=60).contains(&skipped), "{skipped} ticks skipped");
        assert_eq!(io.take_skipped(), 0, "told once");
        // Then 10 ms ticks again from the restart, not a burst of the 30.
        let t = Instant::now();
        io.next_frame(&mut mic).expect("tick");
        assert!(t.elapsed() >= Duration::from_millis(5));
    }

    #[test]
    fn file_backend_plays_a_wav_and_records_what_is_heard() {
        let play = temp("play.wav");
        let record = temp("record.wav");
        let tone: Vec<f32> = (0..1200).map(|i| (i % 100) as f32 * 10.0).collect();
        agentphone_audio::wav::write_wav(&play, 48_000, 1, &tone).expect("write fixture");
        let backend = AudioBackend::File {
            play: Some(play),
            record: Some(record.clone()),
            looping: false,
        };
        let mut io = AudioIo::open(&backend).expect("open files");
        let mut mic = [0.0; FRAME_SAMPLES];
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(io.next_frame(&mut mic).expect("tick"));
            io.play(&mic).expect("record");
        }
        use SourceStatus::{Ended, Frame as F};
        assert_eq!(statuses, vec![F, F, F, Ended]);
        drop(io);
        let rec = agentphone_audio::wav::read_wav(&record).expect("recording readable");
        assert_eq!(rec.samples.len(), 4 * FRAME_SAMPLES);
        assert_eq!(&rec.samples[..1200], &tone[..]);
    }

    #[test]
    fn missing_play_file_is_named_in_the_error() {
        let backend = AudioBackend::File {
            play: Some(PathBuf::from("/nonexistent/mic.wav")),
            record: None,
            looping: true,
        };
        let err = AudioIo::open(&backend).err().expect("must fail");
        assert!(
            format!("{err:#}").contains("/nonexistent/mic.wav"),
            "{err:#}"
        );
    }

    #[test]
    fn tone_backend_validates_its_parameters() {
        let bad = AudioBackend::Tone {
            freq: 40_000.0,
            level_dbfs: -10.0,
        };
        let err = AudioIo::open(&bad).err().expect("must fail");
        assert!(err.to_string().contains("40000"), "{err}");
        let good = AudioBackend::Tone {
            freq: 440.0,
            level_dbfs: -10.0,
        };
        let mut io = AudioIo::open(&good).expect("valid tone");
        let mut mic = [0.0; FRAME_SAMPLES];
        io.next_frame(&mut mic).expect("tick");
        assert!(mic.iter().any(|&s| s.abs() > 1000.0));
    }

    #[test]
    fn device_backend_without_such_a_card_fails_clearly() {
        let backend = AudioBackend::Device {
            name: Some("agentphone-no-such-device".into()),
        };
        let err = AudioIo::open(&backend)
            .err()
            .expect("no such device exists");
        let msg = err.to_string();
        assert!(
            msg.starts_with("no audio device named 'agentphone-no-such-device'; available:")
                || msg.starts_with("no sound card found ("),
            "{msg}"
        );
        // Whatever this machine has, listing and matching never panic.
        let names: Vec<String> = match list_devices() {
            Ok(list) => list.into_iter().map(|d| d.name).collect(),
            Err(_) => Vec::new(),
        };
        if let Some(first) = names.first() {
            assert!(match_device(first, &names).is_ok());
        }
    }

    #[test]
    fn device_listing_is_readable() {
        let text = format_devices(&[DeviceInfo {
            name: "USB Headset".into(),
            input: true,
            output: true,
            default_input: true,
            default_output: false,
        }]);
        assert_eq!(text, "in/out  USB Headset  (default input)\n");
        assert_eq!(format_devices(&[]), "no audio devices found\n");
    }
}
