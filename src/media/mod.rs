//! Per-call media legs: the RTP socket each call owns, the SDP offer/answer that
//! describes it, and the task that carries audio once the call is up (or once
//! early media arrives). One file a job: `send` (source → RTP), `receive` (RTP →
//! what is heard), `clean` (noise removal), `rtp_loop` (the task), `report`.

mod clean;
mod plan;
mod receive;
mod report;
mod rtp_loop;
mod send;
mod settings;
mod watchdog;

pub use plan::MediaPlan;
pub use report::MediaReport;
pub use settings::{parse_codec, MediaSettings};
pub use watchdog::RtpTimeout;

use agentphone_media::codec::CodecKind;
use agentphone_media::offer_answer::{
    Codec, LocalMedia, NegotiatedMedia, OfferAnswerError, SdpSession,
};
use anyhow::{anyhow, bail, Context, Result};
use std::net::{IpAddr, SocketAddr};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Commands from the call to its running media task.
enum Control {
    /// A new negotiation: re-INVITE, or the final answer after early media.
    Update(Box<NegotiatedMedia>),
    /// Digits to send as RFC 4733 events.
    Digits(String),
    /// The call was answered (media may have started with early media).
    Answered,
}

/// Noise removal for one call (R-NR-3), as the desk rules decided it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanAudio {
    /// Clean what the agent hears.
    pub inbound: bool,
    /// Clean the agent's microphone before sending.
    pub microphone: bool,
}

struct Running {
    control: mpsc::UnboundedSender<Control>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<MediaReport>,
    negotiated: NegotiatedMedia,
    /// The sound card's thread, when the call uses one; stops with the call.
    audio_thread: Option<crate::audio_io::bridge::AudioThread>,
}

/// One call's media: an RTP socket (and the RTCP socket on port + 1), our SDP
/// state, and the media task once [`start`](MediaLeg::start)ed.
pub struct MediaLeg {
    /// RTP and RTCP sockets until the media task takes them.
    sockets: Option<(UdpSocket, UdpSocket)>,
    sdp: SdpSession,
    running: Option<Running>,
    settings: MediaSettings,
    /// Where an RTP timeout is reported, once started.
    alert: Option<watchdog::AlertTo>,
    /// The call is answered (see [`answered`](Self::answered)).
    answered: bool,
}

impl MediaLeg {
    /// Binds an even RTP port and the next odd port for RTCP (RFC 3550 §11).
    /// Offers and accepts the settings' codecs in their order.
    pub async fn bind(ip: IpAddr, settings: &MediaSettings) -> Result<Self> {
        let (rtp, rtcp) = bind_pair(ip).await?;
        let port = rtp.local_addr().context("RTP socket address")?.port();
        let codecs: Vec<Codec> = settings.codecs.iter().map(|k| codec_of(*k)).collect();
        let local = LocalMedia::new(ip, port).with_codecs(&codecs);
        Ok(MediaLeg {
            sockets: Some((rtp, rtcp)),
            sdp: SdpSession::new(local),
            running: None,
            settings: settings.clone(),
            alert: None,
            answered: false,
        })
    }

    /// The call is answered: from now on a peer that sends no RTP counts as
    /// gone (`[media] rtp_timeout_s`); during early media it need not send.
    pub fn answered(&mut self) {
        self.answered = true;
        if let Some(running) = &self.running {
            let _ = running.control.send(Control::Answered);
        }
    }

    /// Sends an [`RtpTimeout`] keyed `leg` to `to` when the peer's RTP stops
    /// for longer than `[media] rtp_timeout_s` (asked before [`start`](Self::start)).
    pub fn alert_on_rtp_timeout(&mut self, leg: u64, to: mpsc::UnboundedSender<RtpTimeout>) {
        self.alert = Some((leg, to));
    }

    /// Our SDP offer (caller side, initial INVITE).
    pub fn offer(&mut self) -> Vec<u8> {
        self.sdp.offer().into_bytes()
    }

    /// Answers the caller's offer: our SDP body and what was agreed.
    /// [`OfferAnswerError::NoCommonCodec`] (and any unusable offer) means the call
    /// must be rejected with 488 Not Acceptable Here.
    pub fn answer(
        &mut self,
        offer: Option<&[u8]>,
    ) -> Result<(Vec<u8>, NegotiatedMedia), OfferAnswerError> {
        let text = offer
            .map(String::from_utf8_lossy)
            .ok_or(OfferAnswerError::NoAudioStream)?;
        let answer = self.sdp.answer(&text)?;
        Ok((answer.sdp.into_bytes(), answer.media))
    }

    /// Answers a re-INVITE's offer (hold, resume, a moved address, another
    /// codec) and moves the running media to it. `None` for the offer means the
    /// peer asks for ours (the answer then comes with its ACK, see
    /// [`process_reinvite_answer`](Self::process_reinvite_answer)). An error
    /// means the offer cannot be taken: reject it with 488, the call keeps its
    /// session.
    pub fn answer_reinvite(&mut self, offer: Option<&[u8]>) -> Result<Vec<u8>, OfferAnswerError> {
        let Some(offer) = offer else {
            return Ok(self.sdp.re_offer().into_bytes());
        };
        let answer = self.sdp.answer(&String::from_utf8_lossy(offer))?;
        self.update(&answer.media);
        Ok(answer.sdp.into_bytes())
    }

    /// Reads the answer to an offer we made in a re-INVITE exchange and moves
    /// the running media to it; an unusable answer keeps the media as it was.
    pub fn process_reinvite_answer(&mut self, answer: Option<&[u8]>) {
        match self.process_answer(answer) {
            Ok(negotiated) => self.update(&negotiated),
            Err(e) => tracing::warn!("re-INVITE answer not used, media unchanged: {e:#}"),
        }
    }

    /// Reads the callee's answer to our offer.
    pub fn process_answer(&mut self, answer: Option<&[u8]>) -> Result<NegotiatedMedia> {
        let body = answer.ok_or_else(|| anyhow!("the answer carries no SDP"))?;
        self.sdp
            .process_answer(&String::from_utf8_lossy(body))
            .context("unusable SDP answer")
    }

    /// Starts carrying audio: the plan's source is played to the peer, and what
    /// the peer sends is decoded and given to the plan's recorder and sink.
    /// Fails when already started or the negotiated codec cannot be built.
    pub fn start(
        &mut self,
        negotiated: &NegotiatedMedia,
        plan: MediaPlan,
        clean: CleanAudio,
    ) -> Result<()> {
        if self.running.is_some() {
            bail!("media already started");
        }
        let MediaPlan {
            source,
            recorder,
            sink,
            audio_thread,
        } = plan;
        let cleaner =
            |on: bool| on.then(|| clean::Cleaner::new(self.settings.denoise_model.clone()));
        let tx = send::SendPath::new(negotiated, source, cleaner(clean.microphone))?;
        let jitter = (self.settings.jitter_min, self.settings.jitter_max);
        let rx = receive::ReceivePath::new(negotiated, cleaner(clean.inbound), jitter);
        let sockets = self
            .sockets
            .take()
            .ok_or_else(|| anyhow!("media already started"))?;
        let watchdog = watchdog::RtpWatchdog::new(
            self.settings.rtp_timeout,
            self.alert.take(),
            negotiated,
            (std::time::Instant::now(), self.answered),
        );
        let media =
            rtp_loop::MediaLoop::new(sockets, negotiated, (rx, tx, watchdog), (recorder, sink));
        let (stop, stop_rx) = oneshot::channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(media.run(control_rx, stop_rx));
        tracing::info!(
            codec = %negotiated.send_codec.codec,
            remote = %negotiated.remote_rtp,
            ptime = negotiated.ptime_ms,
            denoise_inbound = clean.inbound,
            denoise_microphone = clean.microphone,
            "media started"
        );
        self.running = Some(Running {
            control,
            stop,
            task,
            negotiated: negotiated.clone(),
            audio_thread,
        });
        Ok(())
    }

    /// Whether the media task runs (early media or an established call).
    pub fn is_started(&self) -> bool {
        self.running.is_some()
    }

    /// Moves the running media to a new negotiation (re-INVITE, or a final
    /// answer that differs from the early-media one); nothing happens when it is
    /// the same. Before [`start`](Self::start) there is nothing to move.
    pub fn update(&mut self, negotiated: &NegotiatedMedia) {
        let Some(running) = &mut self.running else {
            return;
        };
        if running.negotiated == *negotiated {
            return;
        }
        running.negotiated = negotiated.clone();
        let _ = running
            .control
            .send(Control::Update(Box::new(negotiated.clone())));
    }

    /// Sends `digits` as RFC 4733 events once any earlier ones have played.
    pub fn send_digits(&mut self, digits: &str) -> Result<()> {
        check_digits(digits).map_err(|e| anyhow!("cannot send DTMF {e:#}"))?;
        let running = self
            .running
            .as_ref()
            .ok_or_else(|| anyhow!("cannot send DTMF: no media yet"))?;
        if running.negotiated.telephone_event.is_none() {
            bail!("cannot send DTMF: the peer did not accept telephone-event (RFC 4733)");
        }
        running
            .control
            .send(Control::Digits(digits.to_owned()))
            .map_err(|_| anyhow!("cannot send DTMF: the media has stopped"))
    }

    /// Stops the media task and waits until the recording is finished on disk;
    /// returns the call's media figures (None when media never started).
    pub async fn stop(&mut self) -> Option<MediaReport> {
        let running = self.running.take()?;
        let _ = running.stop.send(());
        let result = running.task.await;
        if let Some(audio) = &running.audio_thread {
            let c = audio.counters();
            tracing::info!(
                underruns = c.underruns,
                mic_skipped = c.mic_skipped,
                heard_skipped = c.heard_skipped,
                device_dropped = c.device_dropped,
                "audio device stopped"
            );
        }
        match result {
            Ok(report) => Some(report),
            Err(e) => {
                tracing::warn!("media task failed: {e}");
                None
            }
        }
    }
}

/// Checks that every character of `digits` is an RFC 4733 DTMF event (0-9, *,
/// #, A-D), so a bad string fails before anything is sent.
pub fn check_digits(digits: &str) -> Result<()> {
    for c in digits.chars() {
        agentphone_media::dtmf::event_code(c).map_err(|e| anyhow!("'{digits}': {e}"))?;
    }
    Ok(())
}

/// The SDP codec for a codec kind.
fn codec_of(kind: CodecKind) -> Codec {
    match kind {
        CodecKind::Pcmu => Codec::Pcmu,
        CodecKind::Pcma => Codec::Pcma,
        CodecKind::Opus => Codec::Opus,
    }
}

async fn bind_pair(ip: IpAddr) -> Result<(UdpSocket, UdpSocket)> {
    for _ in 0..50 {
        let rtp = UdpSocket::bind(SocketAddr::new(ip, 0))
            .await
            .context("bind RTP socket")?;
        let port = rtp.local_addr()?.port();
        let (rtp, port) = if port % 2 == 0 {
            (rtp, port)
        } else {
            let Some(even) = port.checked_add(1) else {
                continue;
            };
            match UdpSocket::bind(SocketAddr::new(ip, even)).await {
                Ok(s) => (s, even),
                Err(_) => continue,
            }
        };
        // An even port is at most 65534, so the RTCP port fits.
        if let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port + 1)).await {
            return Ok((rtp, rtcp));
        }
    }
    anyhow::bail!("no free RTP/RTCP port pair on {ip}")
}
