//! The media task of one call: every packet time it sends what the source says
//! and plays one packet's worth of what the peer said into the recorder; in
//! between it receives RTP and RTCP, and takes the call's commands (a new
//! negotiation, digits to send). RTCP reports go out about every 5 s.

use super::receive::ReceivePath;
use super::report::MediaReport;
use super::send::SendPath;
use super::watchdog::RtpWatchdog;
use super::Control;
use agentphone_audio::frame::{Frame, FRAME_SAMPLES};
use agentphone_audio::sink::AudioSink;
use agentphone_audio::wav::WavRecorder;
use agentphone_media::codec::MAX_PACKET_SAMPLES;
use agentphone_media::offer_answer::NegotiatedMedia;
use agentphone_media::rtcp_stats::{NtpTime, RtcpSession};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

/// Largest datagram we read.
const MAX_DATAGRAM: usize = 1_500;

/// Everything the media task owns.
pub(super) struct MediaLoop {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    remote_rtcp: SocketAddr,
    rtcp_session: RtcpSession,
    rx: ReceivePath,
    tx: SendPath,
    watchdog: RtpWatchdog,
    recorder: Option<WavRecorder>,
    sink: Option<Box<dyn AudioSink + Send>>,
    codec: String,
    heard: Vec<f32>,
    datagram: Vec<u8>,
    rtcp_datagram: Vec<u8>,
}

impl MediaLoop {
    pub(super) fn new(
        (rtp, rtcp): (UdpSocket, UdpSocket),
        negotiated: &NegotiatedMedia,
        (rx, tx, watchdog): (ReceivePath, SendPath, RtpWatchdog),
        (recorder, sink): (Option<WavRecorder>, Option<Box<dyn AudioSink + Send>>),
    ) -> Self {
        let cname = rtp
            .local_addr()
            .map(|a| format!("agentphone@{}", a.ip()))
            .unwrap_or_else(|_| "agentphone".into());
        MediaLoop {
            rtp,
            rtcp,
            remote_rtcp: negotiated.remote_rtcp,
            rtcp_session: RtcpSession::new(Instant::now(), &cname),
            rx,
            tx,
            watchdog,
            recorder,
            sink,
            codec: negotiated.send_codec.codec.to_string(),
            heard: vec![0.0; MAX_PACKET_SAMPLES],
            datagram: vec![0; MAX_DATAGRAM],
            rtcp_datagram: vec![0; MAX_DATAGRAM],
        }
    }

    /// Runs until `stop` fires (or its sender is dropped), then finishes the
    /// recording and returns what happened on the call.
    pub(super) async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut stop: oneshot::Receiver<()>,
    ) -> MediaReport {
        let mut tick = tokio::time::interval(self.tx.ptime());
        // Burst: after a scheduling stall the missed packets go out at once, so the
        // RTP timestamps and the recording stay in step with the wall clock.
        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            let rtcp_due = tokio::time::Instant::from_std(self.rtcp_session.poll_timeout());
            tokio::select! {
                _ = &mut stop => break,
                Some(cmd) = control.recv() => {
                    if self.on_control(cmd) {
                        tick = tokio::time::interval(self.tx.ptime());
                        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
                    }
                }
                _ = tick.tick() => self.on_tick(Instant::now()),
                got = self.rtp.recv_from(&mut self.datagram) => match got {
                    Ok((len, from)) => {
                        if let Some(digit) = self.rx.on_datagram(Instant::now(), from, &self.datagram[..len]) {
                            tracing::info!(%digit, "DTMF received");
                        }
                    }
                    Err(e) => tracing::debug!("RTP receive: {e}"),
                },
                got = self.rtcp.recv_from(&mut self.rtcp_datagram) => match got {
                    Ok((len, _)) => self.on_rtcp(len),
                    Err(e) => tracing::debug!("RTCP receive: {e}"),
                },
                _ = tokio::time::sleep_until(rtcp_due) => self.send_rtcp(),
            }
        }
        self.finish()
    }

    /// Returns true when the packet time changed (the tick must follow).
    fn on_control(&mut self, cmd: Control) -> bool {
        match cmd {
            Control::Update(negotiated) => {
                let before = self.tx.ptime();
                if let Err(e) = self.tx.update(&negotiated) {
                    tracing::warn!("media update refused, keeping the old codec: {e:#}");
                    return false;
                }
                self.rx.update(&negotiated);
                self.watchdog.renegotiated(&negotiated, Instant::now());
                self.remote_rtcp = negotiated.remote_rtcp;
                self.codec = negotiated.send_codec.codec.to_string();
                tracing::info!(
                    codec = %self.codec,
                    remote = %negotiated.remote_rtp,
                    direction = ?negotiated.direction,
                    "media updated"
                );
                before != self.tx.ptime()
            }
            Control::Digits(digits) => {
                self.tx.queue_digits(digits);
                false
            }
            Control::Answered => {
                self.watchdog.answered(Instant::now());
                false
            }
        }
    }

    fn on_tick(&mut self, now: Instant) {
        let rtp = &self.rtp;
        self.tx.tick(|packet, to| {
            // A full socket buffer drops this packet: late audio is worse than
            // lost audio, and the next tick sends the next one.
            if let Err(e) = rtp.try_send_to(packet, to) {
                tracing::debug!("RTP send: {e}");
            }
        });
        self.play(now);
        self.watchdog.check(now, self.rx.receiver().last_arrival());
    }

    /// Plays one packet time out of the jitter buffer into the recorder.
    fn play(&mut self, now: Instant) {
        let want =
            (self.tx.ptime().as_millis() as usize * FRAME_SAMPLES / 10).min(self.heard.len());
        let out = &mut self.heard[..want];
        self.rx.play(now, out);
        let mut frame: Frame = [0.0; FRAME_SAMPLES];
        let mut sent: Frame = [0.0; FRAME_SAMPLES];
        let said = self.tx.last_audio();
        for (i, chunk) in out.chunks_exact(FRAME_SAMPLES).enumerate() {
            frame.copy_from_slice(chunk);
            if let Some(recorder) = &mut self.recorder {
                let written = if recorder.channels() == 2 {
                    // Our packet time may differ from the heard one only after a
                    // re-negotiation; a missing stretch is recorded as silence.
                    match said.get(i * FRAME_SAMPLES..(i + 1) * FRAME_SAMPLES) {
                        Some(s) => sent.copy_from_slice(s),
                        None => sent.fill(0.0),
                    }
                    recorder.write_stereo(&frame, &sent)
                } else {
                    recorder.write_mono(&frame)
                };
                if let Err(e) = written {
                    tracing::warn!("recording stopped: {e}");
                    self.recorder = None;
                }
            }
            if let Some(sink) = &mut self.sink {
                if let Err(e) = sink.write_frame(&frame) {
                    tracing::warn!("audio device stopped: {e}");
                    self.sink = None;
                }
            }
        }
    }

    fn on_rtcp(&mut self, len: usize) {
        let now = Instant::now();
        let ntp = NtpTime::from_system_time(SystemTime::now());
        let ssrc = self.tx.sender().ssrc();
        if let Err(e) = self
            .rtcp_session
            .handle_packet(now, ntp, ssrc, &self.rtcp_datagram[..len])
        {
            tracing::debug!("RTCP ignored: {e}");
        }
    }

    fn send_rtcp(&mut self) {
        let now = Instant::now();
        let ntp = NtpTime::from_system_time(SystemTime::now());
        let report =
            self.rtcp_session
                .handle_timeout(now, ntp, self.tx.sender(), self.rx.receiver_mut());
        match report {
            Ok(Some(bytes)) => {
                if let Err(e) = self.rtcp.try_send_to(&bytes, self.remote_rtcp) {
                    tracing::debug!("RTCP send: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!("RTCP report not built: {e}"),
        }
    }

    fn finish(&mut self) -> MediaReport {
        if let Some(recorder) = self.recorder.take() {
            let path = recorder.path().to_path_buf();
            match recorder.finish() {
                Ok(()) => tracing::info!(path = %path.display(), "recording finished"),
                Err(e) => tracing::warn!("recording not finished: {e}"),
            }
        }
        let report = MediaReport {
            codec: self.codec.clone(),
            jitter: self.rx.jitter_stats(),
            quality: self
                .rtcp_session
                .quality(self.tx.sender(), self.rx.receiver()),
            digits_received: self.rx.digits().to_owned(),
            digits_sent: self.tx.digits_sent(),
            cleaned: self.rx.cleaner().map(|c| (c.frames(), c.speech_frames())),
            decode_errors: self.rx.decode_errors(),
            dropped: self.rx.receiver().drops(),
        };
        report.log();
        report
    }
}
