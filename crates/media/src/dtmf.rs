//! RFC 4733 telephone-events (DTMF) at the payload level.
//!
//! [`DtmfEncoder`] turns a digit string into the packets to send, each with
//! its RTP timestamp offset, send time and marker bit; the caller writes the
//! RTP header (payload type from SDP, its own sequence numbers, SSRC) and
//! pauses its audio packets while an event is on. [`DtmfReceiver`] turns
//! received payloads back into digits, each exactly once, however many of
//! its packets were repeated or lost.

use thiserror::Error;

/// Errors from the DTMF encoder and receiver.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DtmfError {
    /// A character that is not 0-9, *, #, A-D.
    #[error("{0:?} is not a DTMF digit (0-9 * # A-D)")]
    InvalidDigit(char),
    /// A payload shorter than one 4-byte event.
    #[error("telephone-event payload of {0} bytes is shorter than 4")]
    ShortPayload(usize),
    /// Timing that cannot be expressed (zero, or a tone whose duration does
    /// not fit the 16-bit field).
    #[error("invalid DTMF timing: {0}")]
    Timing(&'static str),
}

/// The DTMF event code (RFC 4733 §3.2) of a digit.
pub fn event_code(digit: char) -> Result<u8, DtmfError> {
    match digit {
        '0'..='9' => Ok(digit as u8 - b'0'),
        '*' => Ok(10),
        '#' => Ok(11),
        'A'..='D' => Ok(digit as u8 - b'A' + 12),
        'a'..='d' => Ok(digit as u8 - b'a' + 12),
        _ => Err(DtmfError::InvalidDigit(digit)),
    }
}

/// The digit of a DTMF event code, or `None` for other events (flash, …).
pub fn event_digit(event: u8) -> Option<char> {
    b"0123456789*#ABCD"
        .get(usize::from(event))
        .map(|&b| char::from(b))
}

/// How digits are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfConfig {
    /// RTP clock rate of telephone-event (8000, or 48000 next to Opus).
    pub clock_rate: u32,
    /// Interval between packets of one event (ms), normally the audio ptime.
    pub ptime_ms: u32,
    /// Tone length of each digit (ms).
    pub tone_ms: u32,
    /// Pause between digits (ms).
    pub gap_ms: u32,
    /// Power level in −dBm0 (0–63), 10 by default.
    pub volume: u8,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8_000,
            ptime_ms: 20,
            tone_ms: 100,
            gap_ms: 100,
            volume: 10,
        }
    }
}

/// Number of times the end packet is sent (RFC 4733 §2.5.1.4).
const END_REPEATS: u32 = 3;

/// One telephone-event packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// RTP payload (4 bytes).
    pub payload: [u8; 4],
    /// Offset of the RTP timestamp from the start of the digit string (clock
    /// units): the event's start, shared by all its packets.
    pub timestamp: u32,
    /// When to send, as an offset from the start of the string (clock units).
    pub send_at: u32,
    /// RTP marker bit: set on the first packet of each event.
    pub marker: bool,
    /// Whether this is one of the end packets (E bit).
    pub end: bool,
}

/// Produces RFC 4733 packet sequences for digit strings.
#[derive(Debug, Clone)]
pub struct DtmfEncoder {
    config: DtmfConfig,
    step: u32,
    tone: u32,
    gap: u32,
}

impl DtmfEncoder {
    /// An encoder with validated timing.
    pub fn new(config: DtmfConfig) -> Result<Self, DtmfError> {
        let units = |ms: u32| u64::from(ms) * u64::from(config.clock_rate) / 1_000;
        if config.clock_rate == 0 || config.ptime_ms == 0 || config.tone_ms == 0 {
            return Err(DtmfError::Timing("clock rate, ptime and tone must be > 0"));
        }
        if units(config.tone_ms) > u64::from(u16::MAX) {
            return Err(DtmfError::Timing(
                "tone longer than the 16-bit duration field",
            ));
        }
        if units(config.gap_ms) > u64::from(u16::MAX)
            || units(config.ptime_ms) > units(config.tone_ms)
        {
            return Err(DtmfError::Timing(
                "gap too long or ptime longer than the tone",
            ));
        }
        Ok(Self {
            config,
            step: units(config.ptime_ms) as u32,
            tone: units(config.tone_ms) as u32,
            gap: units(config.gap_ms) as u32,
        })
    }

    /// The packets for `digits`, in sending order. The string is checked
    /// whole first, so nothing is sent for a string with a bad character.
    pub fn packets<'a>(&self, digits: &'a str) -> Result<DtmfPackets<'a>, DtmfError> {
        for c in digits.chars() {
            event_code(c)?;
        }
        Ok(DtmfPackets {
            enc: self.clone(),
            digits: digits.chars(),
            current: None,
            next_start: 0,
        })
    }

    /// Clock units the whole string occupies (up to after the last end
    /// packet); the caller resumes audio after that.
    pub fn span(&self, digit_count: usize) -> u32 {
        let per = self.event_start_distance();
        let last_end = self.tone + (END_REPEATS - 1) * self.step;
        match digit_count {
            0 => 0,
            n => (n as u32 - 1) * per + last_end,
        }
    }

    /// Distance from one event start to the next: tone, gap, and room for
    /// the end repeats to go out first.
    fn event_start_distance(&self) -> u32 {
        (self.tone + self.gap).max(self.tone + END_REPEATS * self.step)
    }
}

#[derive(Debug, Clone, Copy)]
struct EventState {
    code: u8,
    start: u32,
    /// Packets of this event emitted so far.
    sent: u32,
}

/// Iterator over the packets of a digit string (see [`DtmfEncoder::packets`]).
#[derive(Debug, Clone)]
pub struct DtmfPackets<'a> {
    enc: DtmfEncoder,
    digits: std::str::Chars<'a>,
    current: Option<EventState>,
    next_start: u32,
}

impl Iterator for DtmfPackets<'_> {
    type Item = DtmfPacket;

    fn next(&mut self) -> Option<DtmfPacket> {
        let ev = match self.current {
            Some(ev) => ev,
            None => {
                // Checked in `packets`, so a bad digit cannot appear here.
                let code = event_code(self.digits.next()?).ok()?;
                let ev = EventState {
                    code,
                    start: self.next_start,
                    sent: 0,
                };
                self.next_start = self
                    .next_start
                    .wrapping_add(self.enc.event_start_distance());
                ev
            }
        };
        let (step, tone) = (self.enc.step, self.enc.tone);
        // Progress packets every ptime while the tone lasts, each reporting
        // the duration so far; then the end packet, three times.
        let progress = tone.div_ceil(step) - 1;
        let (duration, send_off, end) = if ev.sent < progress {
            ((ev.sent + 1) * step, (ev.sent + 1) * step, false)
        } else {
            (tone, tone + (ev.sent - progress) * step, true)
        };
        let sent = ev.sent + 1;
        self.current = (sent < progress + END_REPEATS).then_some(EventState { sent, ..ev });
        let volume = self.enc.config.volume.min(63) | if end { 0x80 } else { 0 };
        let d = (duration as u16).to_be_bytes();
        Some(DtmfPacket {
            payload: [ev.code, volume, d[0], d[1]],
            timestamp: ev.start,
            send_at: ev.start.wrapping_add(send_off),
            marker: ev.sent == 0,
            end,
        })
    }
}

/// A digit recognised by [`DtmfReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// The digit (0-9, *, #, A-D).
    pub digit: char,
    /// RTP timestamp of the event's start.
    pub timestamp: u32,
    /// Power level in −dBm0.
    pub volume: u8,
}

/// Events remembered to suppress repeats; more than enough for the packets
/// one event can still have in flight.
const RECENT: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    timestamp: u32,
    event: u8,
    duration: u16,
    ended: bool,
}

/// Turns received telephone-event payloads into digits, once each.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    recent: [Option<Seen>; RECENT],
    next: usize,
    /// Index in `recent` of the newest event.
    last: Option<usize>,
}

impl DtmfReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets past events (new SSRC).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Handles one payload with the RTP timestamp of its packet. Returns the
    /// digit the first time any packet of an event is seen (start, progress
    /// or end: whichever survived), and `None` for its repeats and for
    /// non-DTMF events.
    pub fn on_payload(
        &mut self,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<Option<DtmfDigit>, DtmfError> {
        let Some(bytes) = payload.get(..4) else {
            return Err(DtmfError::ShortPayload(payload.len()));
        };
        let event = bytes[0];
        let ended = bytes[1] & 0x80 != 0;
        let volume = bytes[1] & 0x3F;
        let duration = u16::from_be_bytes([bytes[2], bytes[3]]);
        let Some(digit) = event_digit(event) else {
            return Ok(None);
        };
        if let Some(i) = self.find(timestamp, event) {
            if let Some(seen) = &mut self.recent[i] {
                seen.ended |= ended;
                seen.duration = seen.duration.max(duration);
            }
            return Ok(None);
        }
        let continuation = self.is_continuation(timestamp, event);
        self.remember(Seen {
            timestamp,
            event,
            duration,
            ended,
        });
        if continuation {
            return Ok(None);
        }
        Ok(Some(DtmfDigit {
            digit,
            timestamp,
            volume,
        }))
    }

    fn find(&self, timestamp: u32, event: u8) -> Option<usize> {
        self.recent
            .iter()
            .position(|s| matches!(s, Some(s) if s.timestamp == timestamp && s.event == event))
    }

    /// A long event is split into segments with new timestamps (RFC 4733
    /// §2.5.1.3) whose durations come close to the 16-bit limit; a segment
    /// starting where such an unfinished one ended is the same key press.
    fn is_continuation(&self, timestamp: u32, event: u8) -> bool {
        let Some(prev) = self.last.and_then(|i| self.recent[i]) else {
            return false;
        };
        let advance = timestamp.wrapping_sub(prev.timestamp);
        prev.event == event
            && !prev.ended
            && prev.duration >= 0x8000
            && advance >= u32::from(prev.duration)
            && advance <= u32::from(u16::MAX) + 1
    }

    fn remember(&mut self, seen: Seen) {
        self.recent[self.next] = Some(seen);
        self.last = Some(self.next);
        self.next = (self.next + 1) % RECENT;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_cover_all_sixteen_digits() {
        for (i, c) in "0123456789*#ABCD".chars().enumerate() {
            assert_eq!(event_code(c), Ok(i as u8));
            assert_eq!(event_digit(i as u8), Some(c));
        }
        assert_eq!(event_code('d'), Ok(15));
        assert_eq!(event_code('E'), Err(DtmfError::InvalidDigit('E')));
        assert_eq!(event_digit(16), None);
    }

    #[test]
    fn one_digit_has_growing_durations_and_three_end_packets() {
        let enc = DtmfEncoder::new(DtmfConfig::default()).unwrap();
        let p: Vec<_> = enc.packets("5").unwrap().collect();
        assert_eq!(p.len(), 7);
        let durations: Vec<u16> = p
            .iter()
            .map(|p| u16::from_be_bytes([p.payload[2], p.payload[3]]))
            .collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        let sends: Vec<u32> = p.iter().map(|p| p.send_at).collect();
        assert_eq!(sends, [160, 320, 480, 640, 800, 960, 1_120]);
        assert!(p.iter().all(|p| p.timestamp == 0 && p.payload[0] == 5));
        assert_eq!(p.iter().filter(|p| p.marker).count(), 1);
        assert!(p[0].marker);
        assert!(p[..4].iter().all(|p| !p.end && p.payload[1] == 10));
        assert!(p[4..].iter().all(|p| p.end && p.payload[1] == 0x80 | 10));
    }

    #[test]
    fn digits_follow_each_other_with_new_timestamps() {
        let enc = DtmfEncoder::new(DtmfConfig::default()).unwrap();
        let p: Vec<_> = enc.packets("1#").unwrap().collect();
        assert_eq!(p.len(), 14);
        assert_eq!(p[7].timestamp, 1_600); // 100 ms tone + 100 ms gap
        assert!(p[7].marker);
        assert_eq!(p[7].payload[0], 11);
        assert!(p.windows(2).all(|w| w[0].send_at < w[1].send_at));
        assert_eq!(enc.span(2), 1_600 + 1_120);
    }

    #[test]
    fn bad_digit_string_produces_nothing() {
        let enc = DtmfEncoder::new(DtmfConfig::default()).unwrap();
        assert_eq!(
            enc.packets("12x3").err(),
            Some(DtmfError::InvalidDigit('x'))
        );
    }

    #[test]
    fn timing_is_validated() {
        let bad = DtmfConfig {
            clock_rate: 48_000,
            tone_ms: 2_000,
            ..DtmfConfig::default()
        };
        assert!(DtmfEncoder::new(bad).is_err());
        let zero = DtmfConfig {
            ptime_ms: 0,
            ..DtmfConfig::default()
        };
        assert!(DtmfEncoder::new(zero).is_err());
    }

    #[test]
    fn receiver_reports_each_digit_once() {
        let enc = DtmfEncoder::new(DtmfConfig::default()).unwrap();
        let mut rx = DtmfReceiver::new();
        let mut got = String::new();
        for p in enc.packets("123*#A").unwrap() {
            // Every packet delivered twice, as a duplicating network would.
            for _ in 0..2 {
                if let Some(d) = rx
                    .on_payload(1_000u32.wrapping_add(p.timestamp), &p.payload)
                    .unwrap()
                {
                    got.push(d.digit);
                }
            }
        }
        assert_eq!(got, "123*#A");
    }

    #[test]
    fn receiver_survives_loss_of_start_and_end_packets() {
        let enc = DtmfEncoder::new(DtmfConfig::default()).unwrap();
        let mut rx = DtmfReceiver::new();
        let mut got = String::new();
        for (i, p) in enc.packets("99").unwrap().enumerate() {
            // First digit: only its end packets arrive. Second: no end packet.
            let lost = (i < 7 && !p.end) || (i >= 7 && p.end);
            if !lost {
                if let Some(d) = rx.on_payload(p.timestamp, &p.payload).unwrap() {
                    got.push(d.digit);
                }
            }
        }
        assert_eq!(got, "99");
    }

    #[test]
    fn long_event_segments_are_one_digit() {
        let mut rx = DtmfReceiver::new();
        let first = rx.on_payload(0, &[1, 10, 0xFF, 0xFF]).unwrap();
        assert_eq!(first.map(|d| d.digit), Some('1'));
        assert_eq!(rx.on_payload(0xFFFF, &[1, 10, 0x00, 0xA0]).unwrap(), None);
        let again = rx.on_payload(0xFFFF + 4_000, &[1, 10, 0x00, 0xA0]).unwrap();
        assert_eq!(again.map(|d| d.digit), Some('1'));
    }

    #[test]
    fn short_and_non_dtmf_payloads() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(
            rx.on_payload(0, &[1, 2, 3]),
            Err(DtmfError::ShortPayload(3))
        );
        assert_eq!(rx.on_payload(0, &[16, 0x8A, 0, 160]), Ok(None));
    }
}
