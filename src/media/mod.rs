//! Per-call media legs on the process's media engine ([`MediaEngine`]): the
//! RTP socket pair each call owns, the SDP offer/answer that describes it, and
//! once the call is up (or early media arrives) its two halves: the network
//! half (`net_leg`: its RTP read and sent around each tick by the `pacer`'s
//! thread, its RTCP and controls on the network thread, `net_runtime`) and
//! the audio half on the engine's audio thread, placed in a room of its own
//! with the call's local end (1:1 call) or in a shared room (a conference
//! bridge).

mod affinity;
mod disk;
mod engine;
mod net_leg;
mod net_receive;
mod net_runtime;
mod net_send;
mod net_srtp;
#[cfg(test)]
mod offered;
mod pacer;
mod plan;
mod ports;
mod priority;
mod report;
mod settings;
mod watchdog;

pub use engine::MediaEngine;
pub use net_srtp::SrtpCounts;
pub use plan::{open_source, MediaPlan, Voice};
pub use ports::{PortPool, DEFAULT_POOL_PAIRS};
pub use report::MediaReport;
pub use settings::{parse_codec, parse_srtp, MediaSettings};
pub use watchdog::RtpTimeout;

use agentphone_engine::chain::payload_bytes_per_ms;
use agentphone_engine::clean::Cleaner;
use agentphone_engine::leg::LegAudio;
use agentphone_engine::local::{LocalAudio, LocalInput};
use agentphone_engine::packer::Packer;
use agentphone_engine::rings::InboundSize;
use agentphone_engine::room::Room;
use agentphone_engine::{record, Command, PartId, RoomId};
use agentphone_media::codec::CodecKind;
use agentphone_media::offer_answer::{
    Codec, LocalMedia, NegotiatedMedia, OfferAnswerError, SdpSession,
};
use anyhow::{anyhow, bail, Context, Result};
use std::net::IpAddr;
use std::net::UdpSocket;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// What a leg's inbound ring holds beyond the jitter buffer's largest delay.
const INBOUND_MARGIN: Duration = Duration::from_millis(300);

/// Commands from the call to its leg's network half.
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
    /// The agent may switch cleaning of what it hears on during the call
    /// (the desk): keep a denoiser ready even while off.
    pub switchable: bool,
}

/// Where a leg's audio goes in the engine.
pub enum Placement {
    /// A 1:1 call: a room of its own with this local end.
    Own(MediaPlan),
    /// Into an existing room (a conference bridge).
    Room(RoomId),
    /// Into the room of another leg's call, taking over its local end (a
    /// transfer or a Replaces: the new call carries on the old one's audio,
    /// recording included). The old leg keeps only its own network half.
    TakeOver(TakenEnd),
}

/// A call's local end and room, handed from one leg to another
/// ([`MediaLeg::hand_over`]).
pub struct TakenEnd(OwnEnd);

/// The call's own local end and room, for a [`Placement::Own`] leg.
struct OwnEnd {
    local: PartId,
    room: RoomId,
    recording: Option<oneshot::Receiver<()>>,
}

struct Running {
    part: PartId,
    own: Option<OwnEnd>,
    control: mpsc::UnboundedSender<Control>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<net_leg::NetReport>>,
    negotiated: NegotiatedMedia,
    quality: tokio::sync::watch::Receiver<agentphone_media::rtcp_stats::CallQuality>,
}

/// One call's media: an RTP socket (and the RTCP socket on port + 1), our SDP
/// state, and the leg's two halves once [`start`](MediaLeg::start)ed.
pub struct MediaLeg {
    engine: MediaEngine,
    /// RTP and RTCP sockets until the network half takes them.
    sockets: Option<(UdpSocket, UdpSocket)>,
    sdp: SdpSession,
    running: Option<Running>,
    settings: MediaSettings,
    /// Where an RTP timeout is reported, once started.
    alert: Option<watchdog::AlertTo>,
    /// The call is answered (see [`answered`](Self::answered)).
    answered: bool,
    /// We hold the peer (local hold): it hears music on hold.
    held: bool,
    /// The call's signalling runs over TLS, so SDES keys are not readable
    /// on the path (see [`set_signalling_secure`](Self::set_signalling_secure)).
    signalling_secure: bool,
    /// The plain-signalling warning was given for this call.
    warned_plain_keys: bool,
}

impl MediaLeg {
    /// Binds an even RTP port and the next odd port for RTCP (RFC 3550 §11).
    /// Offers and accepts the settings' codecs in their order.
    pub async fn bind(ip: IpAddr, settings: &MediaSettings, engine: &MediaEngine) -> Result<Self> {
        let pair = ports::bind_pair_now(ip)?;
        Ok(Self::on_sockets(
            ip,
            (pair.rtp, pair.rtcp, pair.port),
            settings,
            engine,
        ))
    }

    /// Like [`bind`](Self::bind), on a pair the pool bound ahead (no system
    /// call here); binds one itself when the pool is empty.
    pub async fn from_pool(
        pool: &PortPool,
        settings: &MediaSettings,
        engine: &MediaEngine,
    ) -> Result<Self> {
        match pool.take() {
            Some(pair) => Ok(Self::on_sockets(
                pool.ip(),
                (pair.rtp, pair.rtcp, pair.port),
                settings,
                engine,
            )),
            None => {
                tracing::debug!("RTP port pool empty: binding on the call's path");
                Self::bind(pool.ip(), settings, engine).await
            }
        }
    }

    fn on_sockets(
        ip: IpAddr,
        (rtp, rtcp, port): (UdpSocket, UdpSocket, u16),
        settings: &MediaSettings,
        engine: &MediaEngine,
    ) -> Self {
        let codecs: Vec<Codec> = settings.codecs.iter().map(|k| codec_of(*k)).collect();
        let local = LocalMedia::new(ip, port)
            .with_codecs(&codecs)
            .with_comfort_noise(settings.comfort_noise)
            .with_red(settings.red)
            .with_local_order(settings.codec_priority_local)
            .with_srtp(settings.srtp, &settings.srtp_suites);
        MediaLeg {
            engine: engine.clone(),
            sockets: Some((rtp, rtcp)),
            sdp: SdpSession::new(local),
            running: None,
            settings: settings.clone(),
            alert: None,
            answered: false,
            held: false,
            signalling_secure: false,
            warned_plain_keys: false,
        }
    }

    /// Says whether this call's signalling is TLS (`sips:`, `transport =
    /// "tls"`). Until told, it counts as plain: SDES keys are then sent with a
    /// warning, or refused under `[media] srtp_require_tls`.
    pub fn set_signalling_secure(&mut self, secure: bool) {
        self.signalling_secure = secure;
    }

    /// Before SDES keys go into an SDP: refused over plain signalling under
    /// `srtp_require_tls`, else a warning once per call.
    fn keys_may_travel(&mut self) -> Result<(), OfferAnswerError> {
        if self.signalling_secure {
            return Ok(());
        }
        if self.settings.srtp_require_tls {
            return Err(OfferAnswerError::SrtpNeedsTls);
        }
        if !self.warned_plain_keys {
            self.warned_plain_keys = true;
            tracing::warn!(
                "SRTP keys (SDES a=crypto) travel in this call's SDP over plain signalling: \
                 anyone who can read the SIP can decrypt the media (use TLS, or set \
                 [media] srtp_require_tls = true to refuse)"
            );
        }
        Ok(())
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

    /// Our SDP offer (caller side, initial INVITE). Fails when it would
    /// carry SRTP keys that `[media] srtp_require_tls` keeps off plain
    /// signalling.
    pub fn offer(&mut self) -> Result<Vec<u8>> {
        if self.sdp.local().srtp.enabled() {
            self.keys_may_travel()
                .map_err(|e| anyhow!("{e}; no call placed"))?;
        }
        Ok(self.sdp.offer().into_bytes())
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
        if answer.media.srtp.is_some() {
            self.keys_may_travel()?;
        }
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
        if answer.media.srtp.is_some() {
            self.keys_may_travel()?;
        }
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
        let negotiated = self
            .sdp
            .process_answer(&String::from_utf8_lossy(body))
            .context("unusable SDP answer")?;
        if negotiated.srtp.is_some() {
            self.keys_may_travel()?;
        }
        Ok(negotiated)
    }

    /// Puts the peer on hold (R-HOLD-1): it hears music on hold (or silence)
    /// and nothing of our side from now on. Returns the re-INVITE offer
    /// (`a=sendonly`, or `a=inactive` when the peer holds us).
    pub fn hold(&mut self) -> Vec<u8> {
        self.held = true;
        self.engine_hold(true);
        // Each offer of ours in a re-INVITE carries fresh SRTP keys (RFC 4568
        // §7.1.4 allows it): a key serves one offer/answer exchange.
        self.sdp.rekey();
        self.sdp.hold().into_bytes()
    }

    /// Takes the peer back (`a=sendrecv`): it hears our side again. Returns the
    /// re-INVITE offer.
    pub fn resume(&mut self) -> Vec<u8> {
        self.held = false;
        self.engine_hold(false);
        self.sdp.rekey();
        self.sdp.resume().into_bytes()
    }

    fn engine_hold(&self, held: bool) {
        if let Some(r) = &self.running {
            if let Err(e) = self.engine.send(Command::Hold { part: r.part, held }) {
                tracing::warn!("hold not applied to the media: {e:#}");
            }
        }
    }

    /// Starts carrying audio: the leg's audio half joins the engine, placed in
    /// a room of its own with the plan's local end or in a shared room; its
    /// network half starts. Fails when already started or the negotiated codec
    /// cannot be built.
    pub fn start(
        &mut self,
        negotiated: &NegotiatedMedia,
        placement: Placement,
        clean: CleanAudio,
    ) -> Result<()> {
        if self.running.is_some() {
            bail!("media already started");
        }
        let format = &negotiated.send_codec;
        let kind = net_receive::kind_of(format)
            .ok_or_else(|| anyhow!("cannot send {} audio", format.codec.encoding_name()))?;
        let packer = Packer::new(kind, format.payload_type, negotiated.ptime_ms)
            .and_then(|p| p.with_adaptation(self.settings.opus))
            .context("create encoder")?;
        let model = self.settings.denoise_model.clone();
        let cleaner = if clean.inbound || clean.switchable {
            Cleaner::new(model.clone(), clean.inbound)
        } else {
            Cleaner::never()
        };
        // The inbound ring rides out an audio-thread stall as long as the
        // jitter buffer's largest delay (and 300 ms) at the fastest codec
        // negotiated, not a fixed 24 KiB: a G.711 call needs 4 KB.
        let bytes_per_ms = negotiated
            .accepted
            .iter()
            .filter_map(net_receive::kind_of)
            .chain([kind])
            .map(payload_bytes_per_ms)
            .max()
            .unwrap_or(payload_bytes_per_ms(kind));
        let span = self.settings.jitter_max + INBOUND_MARGIN;
        let mut size = InboundSize::for_stream(bytes_per_ms, span);
        if net_receive::red_pt(&negotiated.accepted).is_some() {
            // Each RED datagram queues its packet and the copy it carries.
            size.slots *= 2;
        }
        let (audio, rings) = LegAudio::with_inbound(packer, cleaner, size);
        // After a tick that gave any leg packets the audio thread wakes the
        // pacer once; it sends every leg's packets (see `pacer`).
        let audio = audio.with_waker(self.engine.send_waker());
        let sockets = self
            .sockets
            .take()
            .ok_or_else(|| anyhow!("media already started"))?;
        let part = PartId(self.engine.new_id());
        self.engine.send(Command::AddLeg {
            part,
            audio: Box::new(audio),
        })?;
        let own = match placement {
            Placement::Own(plan) => Some(self.add_own_end(part, plan, clean)?),
            Placement::Room(room) => {
                self.engine.send(Command::Join { part, room })?;
                None
            }
            Placement::TakeOver(TakenEnd(end)) => {
                self.engine.send(Command::Join {
                    part,
                    room: end.room,
                })?;
                Some(end)
            }
        };
        if self.held {
            self.engine.send(Command::Hold { part, held: true })?;
        }
        let watchdog = watchdog::RtpWatchdog::new(
            self.settings.rtp_timeout,
            self.alert.take(),
            negotiated,
            (std::time::Instant::now(), self.answered),
        );
        let jitter = (self.settings.jitter_min, self.settings.jitter_max);
        let (quality_tx, quality) = tokio::sync::watch::channel(Default::default());
        let (rtp, rtcp) = sockets;
        let sockets = (rtp, rtcp, self.sdp.local().addr);
        let (stop, stop_rx) = oneshot::channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        let net_media = negotiated.clone();
        let pacer = self.engine.pacer().clone();
        let task = net_runtime::spawn(async move {
            // Built on the network thread: its reactor takes the sockets.
            let net = net_leg::NetLeg::new(
                sockets,
                &net_media,
                rings,
                jitter,
                (watchdog, quality_tx),
                &pacer,
            )?;
            Ok(net.run(control_rx, stop_rx).await)
        })?;
        tracing::info!(
            codec = %negotiated.send_codec.codec,
            remote = %negotiated.remote_rtp,
            ptime = negotiated.ptime_ms,
            denoise_inbound = clean.inbound,
            denoise_microphone = clean.microphone,
            srtp = negotiated.srtp.as_ref().map_or("off", |k| k.suite.sdes_name()),
            red = negotiated.red.is_some(),
            "media started"
        );
        self.running = Some(Running {
            part,
            own,
            control,
            stop,
            task,
            negotiated: negotiated.clone(),
            quality,
        });
        Ok(())
    }

    /// A room for a 1:1 call with the plan's local end in it, and the leg.
    fn add_own_end(&self, part: PartId, plan: MediaPlan, clean: CleanAudio) -> Result<OwnEnd> {
        let room = RoomId(self.engine.new_id());
        let local = PartId(self.engine.new_id());
        let (input, to_device) = match plan.voice {
            Voice::Device => (LocalInput::Device, true),
            Voice::Source(s) => (LocalInput::Source(s), false),
        };
        let mut end = LocalAudio::new(input, to_device);
        if clean.microphone {
            end = end.with_cleaner(Cleaner::new(self.settings.denoise_model.clone(), true));
        }
        let recording = match plan.recorder {
            Some(recorder) => {
                let (tap, writer) = record(recorder);
                end = end.with_recorder(tap);
                Some(self.engine.write_recording(writer))
            }
            None => None,
        };
        // The local end and the leg, and for a moment a transfer's new leg
        // taking over (`hand_over`): three, not a conference's eight, whose
        // mixer buffers would be most of an idle call's memory.
        let room_audio = Room::with_capacity(3).map_err(|e| anyhow!("{e}"))?;
        self.engine.send(Command::AddRoom {
            room,
            audio: Box::new(room_audio),
        })?;
        self.engine.send(Command::AddLocal {
            part: local,
            audio: Box::new(end),
        })?;
        self.engine.send(Command::Join { part: local, room })?;
        self.engine.send(Command::Join { part, room })?;
        Ok(OwnEnd {
            local,
            room,
            recording,
        })
    }

    /// Gives this call's local end and room to another leg (see
    /// [`Placement::TakeOver`]); this leg then leaves the room and, when
    /// stopped, removes only itself. None when it has no local end.
    pub fn hand_over(&mut self) -> Option<TakenEnd> {
        let running = self.running.as_mut()?;
        let end = running.own.take()?;
        let _ = self.engine.send(Command::Leave { part: running.part });
        Some(TakenEnd(end))
    }

    /// The leg's audio half in the engine, once started: what the desk moves
    /// between rooms.
    pub fn part(&self) -> Option<PartId> {
        self.running.as_ref().map(|r| r.part)
    }

    /// The call's quality as of the last second (loss, jitter, round trip),
    /// once the media runs.
    pub fn quality(&self) -> Option<agentphone_media::rtcp_stats::CallQuality> {
        self.running.as_ref().map(|r| *r.quality.borrow())
    }

    /// The far end holds us: its last SDP said it does not receive
    /// (`sendonly` or `inactive`, R-HOLD-5).
    pub fn remote_holds(&self) -> bool {
        !self.sdp.remote_direction().receives()
    }

    /// Whether the media runs (early media or an established call).
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
        let (old, new) = (&running.negotiated.send_codec, &negotiated.send_codec);
        let recode = old.payload_type != new.payload_type
            || old.clock_rate != new.clock_rate
            || running.negotiated.ptime_ms != negotiated.ptime_ms;
        if recode {
            let packer = net_receive::kind_of(new)
                .ok_or_else(|| anyhow!("cannot send {} audio", new.codec.encoding_name()))
                .and_then(|kind| {
                    Packer::new(kind, new.payload_type, negotiated.ptime_ms)
                        .and_then(|p| p.with_adaptation(self.settings.opus))
                        .context("create encoder")
                });
            match packer {
                Ok(packer) => {
                    let sent = self.engine.send(Command::SetPacker {
                        part: running.part,
                        packer: Box::new(packer),
                    });
                    if let Err(e) = sent {
                        tracing::warn!("media update refused, keeping the old codec: {e:#}");
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!("media update refused, keeping the old codec: {e:#}");
                    return;
                }
            }
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

    /// Stops both halves and waits until the recording is finished on disk;
    /// returns the call's media figures (None when media never started).
    pub async fn stop(&mut self) -> Option<MediaReport> {
        let running = self.running.take()?;
        let _ = running.stop.send(());
        let net = match running.task.await {
            Ok(Ok(net)) => net,
            // The audio half still leaves the engine below.
            Ok(Err(e)) => {
                tracing::warn!("media network half did not start: {e:#}");
                net_leg::NetReport::default()
            }
            Err(e) => {
                tracing::warn!("media task failed: {e}");
                return None;
            }
        };
        let own_local = running.own.as_ref().map(|o| o.local);
        let parts: Vec<PartId> = std::iter::once(running.part).chain(own_local).collect();
        let mut reports = self.engine.remove_all(&parts).await.into_iter();
        let leg = reports.next().flatten().unwrap_or_default();
        let voice_cleaned = reports.next().flatten().and_then(|r| r.voice_cleaned);
        if let Some(own) = running.own {
            let _ = self.engine.send(Command::CloseRoom { room: own.room });
            if let Some(done) = own.recording {
                if tokio::time::timeout(Duration::from_secs(5), done)
                    .await
                    .is_err()
                {
                    tracing::warn!("the recording did not finish within 5 s");
                }
            }
        }
        let report = MediaReport {
            codec: running.negotiated.send_codec.codec.to_string(),
            jitter: leg.leg.jitter,
            quality: net.quality,
            digits_received: net.digits_received,
            digits_sent: net.digits_sent,
            send_stale: net.send_stale,
            cleaned: leg.leg.cleaned,
            microphone_cleaned: voice_cleaned,
            decode_errors: leg.leg.decode_errors,
            recovery: leg.leg.recovery,
            dropped: net.dropped,
            overflow: net.ring_overflow + leg.leg.send_overflow,
            timing: self.engine.timing(),
            audio_realtime: self.engine.realtime(),
            srtp: net.srtp,
            srtp_dropped: net.srtp_counts,
        };
        report.log();
        Some(report)
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
