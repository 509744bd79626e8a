//! The media task of one call: every packet time it sends one RTP packet of the
//! source's audio and plays one packet's worth out of the jitter buffer into the
//! recorder; in between it receives RTP into the jitter buffer.
//!
//! Buffers are allocated here once; the per-packet path does not allocate.

use agentphone_audio::frame::{Frame, FRAME_SAMPLES};
use agentphone_audio::source::AudioSource;
use agentphone_audio::wav::WavRecorder;
use agentphone_media::codec::{CodecKind, Decoder, Encoder, MAX_PACKET_SAMPLES};
use agentphone_media::jitter::{JitterBuffer, JitterConfig, Playout};
use agentphone_media::offer_answer::{NegotiatedMedia, PayloadFormat};
use agentphone_media::rtp_stream::{RtpReceiver, RtpSender};
use anyhow::{anyhow, Context, Result};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::MissedTickBehavior;

/// Largest datagram we read or write.
const MAX_DATAGRAM: usize = 1_500;

/// The codec kind of a negotiated payload format (None for telephone-event).
fn kind_of(format: &PayloadFormat) -> Option<CodecKind> {
    CodecKind::from_rtpmap(format.codec.encoding_name(), format.clock_rate)
}

/// Receive side for one codec: its payload type, jitter buffer and decoder.
struct RxChain {
    payload_type: u8,
    jitter: JitterBuffer,
    decoder: Decoder,
}

impl RxChain {
    fn new(payload_type: u8, kind: CodecKind, ptime_ms: u32) -> Result<Self> {
        let clock = kind.info().clock_rate;
        Ok(RxChain {
            payload_type,
            jitter: JitterBuffer::new(JitterConfig {
                silence: Some(kind.silence_detector()),
                ..JitterConfig::new(clock, ptime_ms)
            }),
            decoder: Decoder::new(kind).context("create decoder")?,
        })
    }
}

/// Everything the media task owns.
pub(super) struct MediaLoop {
    socket: UdpSocket,
    remote: SocketAddr,
    sends: bool,
    ptime_ms: u32,
    source: Box<dyn AudioSource + Send>,
    recorder: Option<WavRecorder>,
    encoder: Encoder,
    sender: RtpSender,
    step: u32,
    receiver: RtpReceiver,
    accepted: Vec<PayloadFormat>,
    rx: Option<RxChain>,
    pcm_out: Vec<f32>,
    pcm_in: Vec<f32>,
    payload: Vec<u8>,
    packet: Vec<u8>,
    datagram: Vec<u8>,
}

impl MediaLoop {
    pub(super) fn new(
        socket: UdpSocket,
        negotiated: &NegotiatedMedia,
        source: Box<dyn AudioSource + Send>,
        recorder: Option<WavRecorder>,
    ) -> Result<Self> {
        let send = &negotiated.send_codec;
        let kind = kind_of(send)
            .ok_or_else(|| anyhow!("cannot send {} audio", send.codec.encoding_name()))?;
        let ptime_ms = negotiated.ptime_ms;
        let encoder = Encoder::new(kind, ptime_ms).context("create encoder")?;
        let samples = encoder.samples_per_packet();
        Ok(MediaLoop {
            socket,
            remote: negotiated.remote_rtp,
            // A held peer (c=0.0.0.0) or a sendonly/inactive answer gets no RTP.
            sends: negotiated.direction.sends() && !negotiated.remote_rtp.ip().is_unspecified(),
            ptime_ms,
            source,
            recorder,
            encoder,
            sender: RtpSender::new(send.payload_type, send.clock_rate),
            step: kind.timestamp_step(ptime_ms),
            receiver: RtpReceiver::new(&negotiated.accepted),
            accepted: negotiated.accepted.clone(),
            rx: None,
            pcm_out: vec![0.0; samples],
            pcm_in: vec![0.0; MAX_PACKET_SAMPLES],
            payload: vec![0; MAX_DATAGRAM],
            packet: vec![0; MAX_DATAGRAM],
            datagram: vec![0; MAX_DATAGRAM],
        })
    }

    /// Runs until `stop` fires (or its sender is dropped), then finishes the
    /// recording.
    pub(super) async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let period = Duration::from_millis(u64::from(self.ptime_ms));
        let mut tick = tokio::time::interval(period);
        // Burst: after a scheduling stall the missed packets go out at once, so the
        // RTP timestamps and the recording stay in step with the wall clock.
        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {
                    let now = Instant::now();
                    if let Err(e) = self.send_packet().await {
                        tracing::debug!("RTP send: {e:#}");
                    }
                    self.play_packet(now);
                }
                got = self.socket.recv_from(&mut self.datagram) => match got {
                    Ok((len, from)) => self.on_datagram(Instant::now(), from, len),
                    Err(e) => tracing::debug!("RTP receive: {e}"),
                },
            }
        }
        self.finish();
    }

    async fn send_packet(&mut self) -> Result<()> {
        let mut frame: Frame = [0.0; FRAME_SAMPLES];
        for chunk in self.pcm_out.chunks_exact_mut(FRAME_SAMPLES) {
            self.source.read_frame(&mut frame);
            chunk.copy_from_slice(&frame);
        }
        if !self.sends {
            // Keep the timestamp running so a later resume is not a jump back.
            self.sender
                .advance(Duration::from_millis(u64::from(self.ptime_ms)));
            return Ok(());
        }
        let n = self.encoder.encode(&self.pcm_out, &mut self.payload)?;
        let len = self
            .sender
            .packetize(&self.payload[..n], self.step, false, &mut self.packet)?;
        self.socket
            .send_to(&self.packet[..len], self.remote)
            .await?;
        Ok(())
    }

    fn on_datagram(&mut self, now: Instant, from: SocketAddr, len: usize) {
        let got = match self.receiver.receive(now, from, &self.datagram[..len]) {
            Ok(got) => got,
            Err(drop) => {
                tracing::trace!(%from, "RTP dropped: {drop}");
                return;
            }
        };
        if got.is_event {
            return;
        }
        let header = got.packet.header;
        let pt = header.payload_type;
        if self.rx.as_ref().is_none_or(|rx| rx.payload_type != pt) {
            // First packet, or the peer switched codec: a fresh chain for it.
            let Some(kind) = self
                .accepted
                .iter()
                .find(|f| f.payload_type == pt)
                .and_then(kind_of)
            else {
                return;
            };
            match RxChain::new(pt, kind, self.ptime_ms) {
                Ok(rx) => self.rx = Some(rx),
                Err(e) => {
                    tracing::warn!("cannot decode payload type {pt}: {e:#}");
                    return;
                }
            }
        } else if got.ssrc_changed || got.sequence_restarted {
            if let Some(rx) = &mut self.rx {
                rx.jitter.reset();
                let _ = rx.decoder.reset();
            }
        }
        if let Some(rx) = &mut self.rx {
            rx.jitter
                .push(now, header.sequence, header.timestamp, got.packet.payload);
        }
    }

    /// Plays one packet time out of the jitter buffer into the recorder.
    fn play_packet(&mut self, now: Instant) {
        let want = self.ptime_ms as usize * FRAME_SAMPLES / 10;
        let out = &mut self.pcm_in[..want];
        let produced = match &mut self.rx {
            None => 0,
            Some(rx) => match rx.jitter.pop(now) {
                Playout::Packet { payload, .. } => rx.decoder.decode(payload, out).unwrap_or(0),
                Playout::Missing { .. } => rx.decoder.conceal(out).unwrap_or(0),
                Playout::Empty => 0,
            },
        };
        // Whatever the decoder could not fill (silence before playout starts, a
        // bad payload, a peer packet shorter than ours) is heard as silence.
        out[produced.min(want)..].fill(0.0);
        let Some(recorder) = &mut self.recorder else {
            return;
        };
        let mut frame: Frame = [0.0; FRAME_SAMPLES];
        for chunk in out.chunks_exact(FRAME_SAMPLES) {
            frame.copy_from_slice(chunk);
            if let Err(e) = recorder.write_mono(&frame) {
                tracing::warn!("recording stopped: {e}");
                self.recorder = None;
                return;
            }
        }
    }

    fn finish(&mut self) {
        if let Some(recorder) = self.recorder.take() {
            let path = recorder.path().to_path_buf();
            match recorder.finish() {
                Ok(()) => tracing::info!(path = %path.display(), "recording finished"),
                Err(e) => tracing::warn!("recording not finished: {e}"),
            }
        }
        if let Some(rx) = &self.rx {
            let s = rx.jitter.stats();
            tracing::info!(
                received = s.received,
                played = s.played,
                lost = s.lost,
                concealed = s.concealed,
                delay_ms = s.delay_ms,
                "media stopped"
            );
        }
    }
}
