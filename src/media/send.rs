//! Send path of one call: the source (file, tone, silence) → optional noise
//! removal of the agent's microphone (R-NR-3) → encoder → RTP, one packet per
//! packet time. RFC 4733 digits replace the audio while they play.
//!
//! Buffers are allocated when the call starts (a digit string when it is queued);
//! the per-packet path does not allocate.

use super::clean::Cleaner;
use super::receive::kind_of;
use agentphone_audio::frame::{Frame, FRAME_SAMPLES};
use agentphone_audio::source::AudioSource;
use agentphone_media::codec::Encoder;
use agentphone_media::dtmf::{DtmfConfig, DtmfEncoder, DtmfPacket};
use agentphone_media::offer_answer::NegotiatedMedia;
use agentphone_media::rtp_stream::RtpSender;
use anyhow::{anyhow, Context, Result};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// Largest datagram we write.
const MAX_DATAGRAM: usize = 1_500;

/// Digits being sent: the packets still due, relative to `base`.
struct DigitsPlaying {
    payload_type: u8,
    /// RTP timestamp the string started at.
    base: u32,
    /// Clock units since `base` at the current packet time.
    elapsed: u32,
    /// Clock units the whole string occupies; audio resumes after it.
    span: u32,
    packets: VecDeque<DtmfPacket>,
}

/// Everything between the source and the RTP socket.
pub(super) struct SendPath {
    source: Box<dyn AudioSource + Send>,
    cleaner: Option<Cleaner>,
    encoder: Encoder,
    sender: RtpSender,
    /// RTP timestamp units per packet.
    step: u32,
    ptime_ms: u32,
    remote: SocketAddr,
    sends: bool,
    telephone_event: Option<(u8, u32)>,
    playing: Option<DigitsPlaying>,
    queued: VecDeque<String>,
    digits_sent: usize,
    pcm: Vec<f32>,
    payload: Vec<u8>,
    packet: Vec<u8>,
}

impl SendPath {
    /// `cleaner`: clean the source before it is sent (the agent's microphone).
    pub(super) fn new(
        negotiated: &NegotiatedMedia,
        source: Box<dyn AudioSource + Send>,
        cleaner: Option<Cleaner>,
    ) -> Result<Self> {
        let (encoder, step) = encoder_for(negotiated)?;
        let format = &negotiated.send_codec;
        Ok(SendPath {
            source,
            cleaner,
            sender: RtpSender::new(format.payload_type, format.clock_rate),
            pcm: vec![0.0; encoder.samples_per_packet()],
            encoder,
            step,
            ptime_ms: negotiated.ptime_ms,
            remote: negotiated.remote_rtp,
            sends: sends(negotiated),
            telephone_event: telephone_event(negotiated),
            playing: None,
            queued: VecDeque::new(),
            digits_sent: 0,
            payload: vec![0; MAX_DATAGRAM],
            packet: vec![0; MAX_DATAGRAM],
        })
    }

    /// A re-negotiation: another codec (sequence and timestamps continue),
    /// another address, hold or resume.
    pub(super) fn update(&mut self, negotiated: &NegotiatedMedia) -> Result<()> {
        let format = &negotiated.send_codec;
        if format.payload_type != self.sender.payload_type()
            || negotiated.ptime_ms != self.ptime_ms
            || format.clock_rate != self.sender.clock_rate()
        {
            let (encoder, step) = encoder_for(negotiated)?;
            self.pcm = vec![0.0; encoder.samples_per_packet()];
            self.encoder = encoder;
            self.step = step;
            self.ptime_ms = negotiated.ptime_ms;
            self.sender
                .set_codec(format.payload_type, format.clock_rate);
            // A digit string timed in the old clock cannot continue in the new one.
            self.playing = None;
        }
        self.remote = negotiated.remote_rtp;
        self.sends = sends(negotiated);
        self.telephone_event = telephone_event(negotiated);
        Ok(())
    }

    /// The packet time, which is the media task's tick.
    pub(super) fn ptime(&self) -> Duration {
        Duration::from_millis(u64::from(self.ptime_ms))
    }

    /// The RTP sender (RTCP reports what it sent).
    pub(super) fn sender(&self) -> &RtpSender {
        &self.sender
    }

    /// Queues digits to send as RFC 4733 events after any already queued. The
    /// caller checked them ([`super::check_digits`]) against what was negotiated.
    pub(super) fn queue_digits(&mut self, digits: String) {
        self.queued.push_back(digits);
    }

    /// The audio of the last packet time as read from the source (and cleaned),
    /// whether or not it went out (digits, hold): what the agent said.
    pub(super) fn last_audio(&self) -> &[f32] {
        &self.pcm
    }

    /// Digits sent so far (counted when their first packet went out).
    pub(super) fn digits_sent(&self) -> usize {
        self.digits_sent
    }

    /// One packet time: reads the source and hands the packets that are due to
    /// `transmit` (normally one; none on hold).
    pub(super) fn tick(&mut self, mut transmit: impl FnMut(&[u8], SocketAddr)) {
        let mut frame: Frame = [0.0; FRAME_SAMPLES];
        for chunk in self.pcm.chunks_exact_mut(FRAME_SAMPLES) {
            // Read even while digits play or the call is held, so the source
            // keeps in step with the wall clock.
            self.source.read_frame(&mut frame);
            if let Some(cleaner) = &mut self.cleaner {
                cleaner.process(&mut frame);
            }
            chunk.copy_from_slice(&frame);
        }
        if !self.sends {
            // Keep the timestamp running so a later resume is not a jump back.
            self.sender.advance(self.ptime());
            return;
        }
        if self.playing.is_none() {
            self.start_next_digits();
        }
        if self.playing.is_some() {
            self.send_digit_packets(&mut transmit);
            return;
        }
        match self.encode_audio() {
            Ok(len) => transmit(&self.packet[..len], self.remote),
            Err(e) => tracing::debug!("RTP packet not built: {e:#}"),
        }
    }

    fn encode_audio(&mut self) -> Result<usize> {
        let n = self.encoder.encode(&self.pcm, &mut self.payload)?;
        Ok(self
            .sender
            .packetize(&self.payload[..n], self.step, false, &mut self.packet)?)
    }

    fn start_next_digits(&mut self) {
        let Some(digits) = self.queued.pop_front() else {
            return;
        };
        let Some((payload_type, clock_rate)) = self.telephone_event else {
            // A re-negotiation dropped telephone-event after the digits were queued.
            tracing::warn!(
                "digits '{digits}' not sent: the peer no longer accepts telephone-event"
            );
            return;
        };
        let encoder = DtmfEncoder::new(DtmfConfig {
            clock_rate,
            ptime_ms: self.ptime_ms,
            ..DtmfConfig::default()
        });
        let packets = match encoder.map(|e| (e.span(digits.chars().count()), e)) {
            Ok((span, e)) => match e.packets(&digits) {
                Ok(p) => (span, p.collect::<VecDeque<_>>()),
                Err(err) => {
                    tracing::warn!("digits '{digits}' not sent: {err}");
                    return;
                }
            },
            Err(err) => {
                tracing::warn!("digits '{digits}' not sent: {err}");
                return;
            }
        };
        tracing::info!(digits = %digits, "sending DTMF (RFC 4733)");
        self.playing = Some(DigitsPlaying {
            payload_type,
            base: self.sender.next_timestamp(),
            elapsed: 0,
            span: packets.0,
            packets: packets.1,
        });
    }

    /// Sends the event packets due by the end of this packet time, then lets the
    /// media clock run on; audio resumes once the whole string has played.
    fn send_digit_packets(&mut self, transmit: &mut impl FnMut(&[u8], SocketAddr)) {
        let Some(playing) = &mut self.playing else {
            return;
        };
        playing.elapsed = playing.elapsed.saturating_add(self.step);
        while let Some(p) = playing.packets.front().copied() {
            if p.send_at > playing.elapsed {
                break;
            }
            playing.packets.pop_front();
            if p.marker {
                self.digits_sent += 1;
            }
            let built = self.sender.packetize_event(
                playing.payload_type,
                &p.payload,
                playing.base.wrapping_add(p.timestamp),
                p.marker,
                &mut self.packet,
            );
            match built {
                Ok(len) => transmit(&self.packet[..len], self.remote),
                Err(e) => tracing::debug!("DTMF packet not built: {e}"),
            }
        }
        let done = playing.packets.is_empty() && playing.elapsed >= playing.span;
        self.sender
            .advance(Duration::from_millis(u64::from(self.ptime_ms)));
        if done {
            self.playing = None;
        }
    }
}

/// The encoder for the negotiated send codec, and its timestamp step.
fn encoder_for(negotiated: &NegotiatedMedia) -> Result<(Encoder, u32)> {
    let format = &negotiated.send_codec;
    let kind = kind_of(format)
        .ok_or_else(|| anyhow!("cannot send {} audio", format.codec.encoding_name()))?;
    let encoder = Encoder::new(kind, negotiated.ptime_ms).context("create encoder")?;
    Ok((encoder, kind.timestamp_step(negotiated.ptime_ms)))
}

/// A held peer (c=0.0.0.0) or a sendonly/inactive direction gets no RTP.
fn sends(negotiated: &NegotiatedMedia) -> bool {
    negotiated.direction.sends() && !negotiated.remote_rtp.ip().is_unspecified()
}

/// The telephone-event payload type and the clock its timestamps and
/// durations count in: the audio's, since events share the stream's SSRC and
/// timeline (the same as the format's own rate unless the peer only has
/// telephone-event/8000 beside Opus; baresip stamps those on 48 kHz too).
fn telephone_event(negotiated: &NegotiatedMedia) -> Option<(u8, u32)> {
    negotiated
        .telephone_event
        .as_ref()
        .map(|f| (f.payload_type, negotiated.send_codec.clock_rate))
}
