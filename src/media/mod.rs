//! Per-call media legs: the RTP socket each call owns, the SDP offer/answer that
//! describes it, and the task that carries audio once the call is up.

mod rtp_loop;

use agentphone_audio::source::AudioSource;
use agentphone_audio::wav::WavRecorder;
use agentphone_media::codec::CodecKind;
use agentphone_media::offer_answer::{
    Codec, LocalMedia, NegotiatedMedia, OfferAnswerError, SdpSession,
};
use anyhow::{anyhow, Context, Result};
use std::net::{IpAddr, SocketAddr};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// One call's media: an RTP socket (and the RTCP socket on port + 1), our SDP
/// state, and the media task once [`start`](MediaLeg::start)ed.
pub struct MediaLeg {
    /// RTP socket until the media task takes it.
    rtp: Option<UdpSocket>,
    /// RTCP socket, held so the port pair stays ours.
    _rtcp: UdpSocket,
    sdp: SdpSession,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl MediaLeg {
    /// Binds an even RTP port and the next odd port for RTCP (RFC 3550 §11).
    /// `prefer` puts that codec first in what we offer or accept.
    pub async fn bind(ip: IpAddr, prefer: Option<CodecKind>) -> Result<Self> {
        let (rtp, rtcp) = bind_pair(ip).await?;
        let port = rtp.local_addr().context("RTP socket address")?.port();
        let mut local = LocalMedia::new(ip, port);
        if let Some(kind) = prefer {
            let wanted = codec_of(kind);
            // Stable sort: the preferred codec moves to the front, the rest keep order.
            local.codecs.sort_by_key(|f| f.codec != wanted);
        }
        Ok(MediaLeg {
            rtp: Some(rtp),
            _rtcp: rtcp,
            sdp: SdpSession::new(local),
            running: None,
        })
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

    /// Reads the callee's answer to our offer.
    pub fn process_answer(&mut self, answer: Option<&[u8]>) -> Result<NegotiatedMedia> {
        let body = answer.ok_or_else(|| anyhow!("the answer carries no SDP"))?;
        self.sdp
            .process_answer(&String::from_utf8_lossy(body))
            .context("unusable SDP answer")
    }

    /// Starts carrying audio: `source` is played to the peer, and what the peer
    /// sends is decoded and written to `recorder` (mono, what was heard).
    /// Fails when already started or the negotiated codec cannot be built.
    pub fn start(
        &mut self,
        negotiated: &NegotiatedMedia,
        source: Box<dyn AudioSource + Send>,
        recorder: Option<WavRecorder>,
    ) -> Result<()> {
        let socket = self
            .rtp
            .take()
            .ok_or_else(|| anyhow!("media already started"))?;
        let media = rtp_loop::MediaLoop::new(socket, negotiated, source, recorder)?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(media.run(stop_rx));
        tracing::info!(
            codec = %negotiated.send_codec.codec,
            remote = %negotiated.remote_rtp,
            ptime = negotiated.ptime_ms,
            "media started"
        );
        self.running = Some((stop_tx, task));
        Ok(())
    }

    /// Stops the media task and waits until the recording is finished on disk.
    pub async fn stop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            if let Err(e) = task.await {
                tracing::warn!("media task failed: {e}");
            }
        }
    }
}

/// The SDP codec for a codec kind.
fn codec_of(kind: CodecKind) -> Codec {
    match kind {
        CodecKind::Pcmu => Codec::Pcmu,
        CodecKind::Pcma => Codec::Pcma,
        CodecKind::Opus => Codec::Opus,
    }
}

/// Parses a `--codec` value.
pub fn parse_codec(name: &str) -> Result<CodecKind> {
    match name.to_ascii_lowercase().as_str() {
        "pcmu" => Ok(CodecKind::Pcmu),
        "pcma" => Ok(CodecKind::Pcma),
        "opus" => Ok(CodecKind::Opus),
        other => Err(anyhow!("unknown codec '{other}' (pcmu, pcma or opus)")),
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
