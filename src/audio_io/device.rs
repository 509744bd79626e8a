//! Sound cards through cpal: listing, name matching, and 48 kHz capture/playback
//! streams that exchange 10 ms frames with the audio thread through bounded
//! channels (`std::sync::mpsc::sync_channel`: preallocated, and `try_send` /
//! `try_recv` never block or allocate, so the device callbacks stay real-time).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use agentphone_audio::source::SourceStatus;
use agentphone_audio::{Frame, FRAME_SAMPLES, SAMPLE_RATE};
use anyhow::{anyhow, bail};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, SampleFormat, SampleRate, StreamConfig, SupportedStreamConfigRange};

/// Frames buffered between a device callback and the audio thread (80 ms).
const RING_FRAMES: usize = 8;

/// How long the audio thread waits for the microphone before giving up.
const CAPTURE_TIMEOUT: Duration = Duration::from_millis(200);

/// One audio device as the system reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Name to pass to `AudioBackend::Device`.
    pub name: String,
    /// Can capture.
    pub input: bool,
    /// Can play.
    pub output: bool,
    /// Is the system's default capture device.
    pub default_input: bool,
    /// Is the system's default playback device.
    pub default_output: bool,
}

/// Lists the audio devices of the default host (ALSA on Linux).
pub fn list_devices() -> anyhow::Result<Vec<DeviceInfo>> {
    let host = cpal::default_host();
    let default_in = host.default_input_device().and_then(|d| d.name().ok());
    let default_out = host.default_output_device().and_then(|d| d.name().ok());
    let devices = host
        .devices()
        .map_err(|e| anyhow!("no sound card found ({}: {e})", host.id().name()))?;
    let mut out = Vec::new();
    for d in devices {
        let Ok(name) = d.name() else { continue };
        let input = d
            .supported_input_configs()
            .is_ok_and(|mut c| c.next().is_some());
        let output = d
            .supported_output_configs()
            .is_ok_and(|mut c| c.next().is_some());
        out.push(DeviceInfo {
            default_input: default_in.as_deref() == Some(name.as_str()),
            default_output: default_out.as_deref() == Some(name.as_str()),
            name,
            input,
            output,
        });
    }
    Ok(out)
}

/// Picks the device named `wanted` among `names`: an exact name, else the one
/// name containing `wanted` case-insensitively. The error lists what exists.
pub fn match_device(wanted: &str, names: &[String]) -> Result<usize, String> {
    if let Some(i) = names.iter().position(|n| n == wanted) {
        return Ok(i);
    }
    let needle = wanted.to_lowercase();
    let hits: Vec<usize> = (0..names.len())
        .filter(|&i| names[i].to_lowercase().contains(&needle))
        .collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "no audio device named '{wanted}'; available: {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )),
        many => Err(format!(
            "audio device name '{wanted}' is ambiguous; it matches: {}",
            many.iter()
                .map(|&i| names[i].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Capture side: frames from the device callback.
pub(super) struct DeviceCapture {
    rx: Receiver<Frame>,
    dropped: Arc<AtomicU64>,
    _stream: cpal::Stream,
}

impl DeviceCapture {
    /// Waits for the next captured frame; the device's clock paces the caller.
    pub(super) fn next_frame(&mut self, mic: &mut Frame) -> anyhow::Result<SourceStatus> {
        match self.rx.recv_timeout(CAPTURE_TIMEOUT) {
            Ok(frame) => {
                *mic = frame;
                Ok(SourceStatus::Frame)
            }
            Err(RecvTimeoutError::Timeout) => bail!(
                "the capture device delivered no audio for {} ms ({} frames dropped so far)",
                CAPTURE_TIMEOUT.as_millis(),
                self.dropped.load(Ordering::Relaxed)
            ),
            Err(RecvTimeoutError::Disconnected) => bail!("the capture stream stopped"),
        }
    }

    /// Captured frames lost because the audio thread fell behind.
    pub(super) fn dropped_frames(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Playback side: frames to the device callback.
pub(super) struct DevicePlayback {
    tx: SyncSender<Frame>,
    dropped: u64,
    _stream: cpal::Stream,
}

impl DevicePlayback {
    /// Queues a frame; when the device lags by more than the ring, the frame is
    /// dropped rather than blocking the audio thread.
    pub(super) fn push(&mut self, frame: &Frame) {
        if self.tx.try_send(*frame).is_err() {
            self.dropped += 1;
        }
    }

    /// Frames not played because the device fell behind.
    pub(super) fn dropped_frames(&self) -> u64 {
        self.dropped
    }
}

fn host_error(host: &cpal::Host, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("no sound card found ({}: {what})", host.id().name())
}

/// Finds the input and output device for `name` (`None`: the defaults).
fn find_devices(
    host: &cpal::Host,
    name: Option<&str>,
) -> anyhow::Result<(cpal::Device, cpal::Device)> {
    let Some(name) = name else {
        let input = host
            .default_input_device()
            .ok_or_else(|| host_error(host, "no default capture device"))?;
        let output = host
            .default_output_device()
            .ok_or_else(|| host_error(host, "no default playback device"))?;
        return Ok((input, output));
    };
    let inputs: Vec<cpal::Device> = host
        .input_devices()
        .map_err(|e| host_error(host, e))?
        .collect();
    let outputs: Vec<cpal::Device> = host
        .output_devices()
        .map_err(|e| host_error(host, e))?
        .collect();
    if inputs.is_empty() && outputs.is_empty() {
        return Err(host_error(host, "no devices"));
    }
    let pick = |devices: Vec<cpal::Device>| -> anyhow::Result<cpal::Device> {
        let names: Vec<String> = devices
            .iter()
            .map(|d| d.name().unwrap_or_default())
            .collect();
        let i = match_device(name, &names).map_err(|e| anyhow!(e))?;
        devices
            .into_iter()
            .nth(i)
            .ok_or_else(|| anyhow!("device list changed"))
    };
    Ok((pick(inputs)?, pick(outputs)?))
}

/// A 48 kHz configuration in f32 or i16, fewest channels first, f32 preferred.
fn pick_config(
    ranges: impl Iterator<Item = SupportedStreamConfigRange>,
) -> Option<(StreamConfig, SampleFormat)> {
    let rate = SampleRate(SAMPLE_RATE);
    ranges
        .filter(|r| r.min_sample_rate() <= rate && rate <= r.max_sample_rate())
        .filter(|r| matches!(r.sample_format(), SampleFormat::F32 | SampleFormat::I16))
        .min_by_key(|r| (r.channels(), r.sample_format() != SampleFormat::F32))
        .map(|r| {
            let format = r.sample_format();
            let config = StreamConfig {
                channels: r.channels(),
                sample_rate: rate,
                buffer_size: BufferSize::Default,
            };
            (config, format)
        })
}

/// Opens capture and playback on the named (or default) device and starts them.
pub(super) fn open(name: Option<&str>) -> anyhow::Result<(DeviceCapture, DevicePlayback)> {
    let host = cpal::default_host();
    let (input, output) = find_devices(&host, name)?;
    let capture = open_capture(&input)?;
    let playback = open_playback(&output)?;
    Ok((capture, playback))
}

fn device_name(d: &cpal::Device) -> String {
    d.name().unwrap_or_else(|_| "(unnamed)".to_string())
}

/// Downmixes the device's interleaved samples into 10 ms frames.
struct Accumulator {
    frame: Frame,
    filled: usize,
    channels: usize,
    tx: SyncSender<Frame>,
    dropped: Arc<AtomicU64>,
}

impl Accumulator {
    fn push<T: Copy>(&mut self, data: &[T], to_f32: impl Fn(T) -> f32) {
        for chunk in data.chunks(self.channels) {
            let sum: f32 = chunk.iter().map(|&s| to_f32(s)).sum();
            self.frame[self.filled] = sum / chunk.len() as f32;
            self.filled += 1;
            if self.filled == FRAME_SAMPLES {
                self.filled = 0;
                if self.tx.try_send(self.frame).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

fn open_capture(device: &cpal::Device) -> anyhow::Result<DeviceCapture> {
    let name = device_name(device);
    let ranges = device
        .supported_input_configs()
        .map_err(|e| anyhow!("capture device '{name}': {e}"))?;
    let (config, format) = pick_config(ranges)
        .ok_or_else(|| anyhow!("capture device '{name}' cannot record 48 kHz f32 or i16 audio"))?;
    let (tx, rx) = sync_channel(RING_FRAMES);
    let dropped = Arc::new(AtomicU64::new(0));
    let mut acc = Accumulator {
        frame: [0.0; FRAME_SAMPLES],
        filled: 0,
        channels: usize::from(config.channels.max(1)),
        tx,
        dropped: Arc::clone(&dropped),
    };
    let err_fn = |e: cpal::StreamError| tracing::warn!(error = %e, "capture stream error");
    let stream = match format {
        SampleFormat::F32 => device.build_input_stream(
            &config,
            move |data: &[f32], _: &cpal::InputCallbackInfo| acc.push(data, |s| s * 32768.0),
            err_fn,
            None,
        ),
        _ => device.build_input_stream(
            &config,
            move |data: &[i16], _: &cpal::InputCallbackInfo| acc.push(data, f32::from),
            err_fn,
            None,
        ),
    }
    .map_err(|e| anyhow!("capture device '{name}': {e}"))?;
    stream
        .play()
        .map_err(|e| anyhow!("capture device '{name}': {e}"))?;
    Ok(DeviceCapture {
        rx,
        dropped,
        _stream: stream,
    })
}

/// Spreads queued mono frames over the device's channels; silence on underrun.
struct Spreader {
    rx: Receiver<Frame>,
    frame: Frame,
    pos: usize,
    channels: usize,
}

impl Spreader {
    fn fill<T: Copy>(&mut self, data: &mut [T], from_f32: impl Fn(f32) -> T) {
        for chunk in data.chunks_mut(self.channels) {
            if self.pos == FRAME_SAMPLES {
                match self.rx.try_recv() {
                    Ok(frame) => {
                        self.frame = frame;
                        self.pos = 0;
                    }
                    Err(_) => {
                        chunk.fill(from_f32(0.0));
                        continue;
                    }
                }
            }
            chunk.fill(from_f32(self.frame[self.pos]));
            self.pos += 1;
        }
    }
}

fn open_playback(device: &cpal::Device) -> anyhow::Result<DevicePlayback> {
    let name = device_name(device);
    let ranges = device
        .supported_output_configs()
        .map_err(|e| anyhow!("playback device '{name}': {e}"))?;
    let (config, format) = pick_config(ranges)
        .ok_or_else(|| anyhow!("playback device '{name}' cannot play 48 kHz f32 or i16 audio"))?;
    let (tx, rx) = sync_channel(RING_FRAMES);
    let mut spread = Spreader {
        rx,
        frame: [0.0; FRAME_SAMPLES],
        pos: FRAME_SAMPLES,
        channels: usize::from(config.channels.max(1)),
    };
    let err_fn = |e: cpal::StreamError| tracing::warn!(error = %e, "playback stream error");
    let stream = match format {
        SampleFormat::F32 => device.build_output_stream(
            &config,
            move |data: &mut [f32], _: &cpal::OutputCallbackInfo| {
                spread.fill(data, |s| (s / 32768.0).clamp(-1.0, 1.0))
            },
            err_fn,
            None,
        ),
        _ => device.build_output_stream(
            &config,
            // `as` saturates and maps NaN to 0.
            move |data: &mut [i16], _: &cpal::OutputCallbackInfo| {
                spread.fill(data, |s| s.round() as i16)
            },
            err_fn,
            None,
        ),
    }
    .map_err(|e| anyhow!("playback device '{name}': {e}"))?;
    stream
        .play()
        .map_err(|e| anyhow!("playback device '{name}': {e}"))?;
    Ok(DevicePlayback {
        tx,
        dropped: 0,
        _stream: stream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn device_names_match_exactly_then_by_unique_part() {
        let list = names(&["default", "sysdefault:CARD=Headset", "hw:CARD=PCH,DEV=0"]);
        assert_eq!(match_device("default", &list), Ok(0));
        assert_eq!(match_device("headset", &list), Ok(1));
        let err = match_device("speakerphone", &list).unwrap_err();
        assert_eq!(
            err,
            "no audio device named 'speakerphone'; available: default, \
             sysdefault:CARD=Headset, hw:CARD=PCH,DEV=0"
        );
        let err = match_device("CARD", &list).unwrap_err();
        assert!(
            err.contains("ambiguous") && err.contains("hw:CARD=PCH"),
            "{err}"
        );
        assert_eq!(
            match_device("x", &[]).unwrap_err(),
            "no audio device named 'x'; available: none"
        );
    }

    #[test]
    fn opening_a_missing_device_is_a_clear_error_not_a_panic() {
        let err = open(Some("agentphone-no-such-device"))
            .err()
            .expect("no such device exists");
        let msg = err.to_string();
        assert!(
            msg.starts_with("no audio device named 'agentphone-no-such-device'; available:")
                || msg.starts_with("no sound card found ("),
            "{msg}"
        );
    }

    #[test]
    fn listing_devices_does_not_panic_without_a_sound_card() {
        // On a machine without a card this is Ok(possibly empty) or a clear error.
        match list_devices() {
            Ok(list) => assert!(list.iter().all(|d| !d.name.is_empty())),
            Err(e) => assert!(e.to_string().starts_with("no sound card found"), "{e}"),
        }
    }

    #[test]
    fn accumulator_downmixes_into_whole_frames() {
        let (tx, rx) = sync_channel(RING_FRAMES);
        let dropped = Arc::new(AtomicU64::new(0));
        let mut acc = Accumulator {
            frame: [0.0; FRAME_SAMPLES],
            filled: 0,
            channels: 2,
            tx,
            dropped: Arc::clone(&dropped),
        };
        // 1.5 frames of stereo i16 (L = 100, R = 300) in odd-sized callbacks.
        let data = [100i16, 300].repeat(720);
        acc.push(&data[..333 * 2], f32::from);
        acc.push(&data[333 * 2..], f32::from);
        let frame = rx.try_recv().expect("one whole frame");
        assert!(frame.iter().all(|&s| s == 200.0));
        assert!(rx.try_recv().is_err(), "half a frame must wait");
        for _ in 0..(2 * RING_FRAMES) {
            acc.push(&data[..FRAME_SAMPLES * 2], f32::from);
        }
        assert!(
            dropped.load(Ordering::Relaxed) > 0,
            "full ring drops, never blocks"
        );
    }

    #[test]
    fn spreader_plays_frames_on_every_channel_and_silence_on_underrun() {
        let (tx, rx) = sync_channel(RING_FRAMES);
        let mut spread = Spreader {
            rx,
            frame: [0.0; FRAME_SAMPLES],
            pos: FRAME_SAMPLES,
            channels: 2,
        };
        let frame: Frame = std::array::from_fn(|i| i as f32);
        tx.try_send(frame).expect("room");
        let mut out = vec![7i16; FRAME_SAMPLES * 2 + 4];
        spread.fill(&mut out, |s| s as i16);
        assert_eq!(&out[..4], &[0, 0, 1, 1]);
        assert_eq!(out[FRAME_SAMPLES * 2 - 1], 479);
        assert_eq!(&out[FRAME_SAMPLES * 2..], &[0, 0, 0, 0]);
    }
}
