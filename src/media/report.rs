//! What happened on one call's media, for the log line at the end of the call
//! and the summary the commands print.

use agentphone_engine::chain::Recovery;
use agentphone_engine::stats::TickSummary;
use agentphone_media::jitter::JitterStats;
use agentphone_media::rtcp_stats::CallQuality;
use agentphone_media::rtp_stream::DropCounters;
use agentphone_media::srtp::SrtpSuite;
use std::fmt;

/// The media figures of one call.
#[derive(Debug, Clone)]
pub struct MediaReport {
    /// Codec sent with at the end of the call.
    pub codec: String,
    /// Jitter buffer figures (None when no audio arrived).
    pub jitter: Option<JitterStats>,
    /// RTP/RTCP quality: loss, jitter, round-trip time.
    pub quality: CallQuality,
    /// RFC 4733 digits the peer sent, in order.
    pub digits_received: String,
    /// Digits we sent.
    pub digits_sent: usize,
    /// Packets encoded but not sent because the network half got them too
    /// late (its thread stalled): their time was skipped instead.
    pub send_stale: u64,
    /// Noise removal on what was heard: (frames cleaned, frames judged speech).
    pub cleaned: Option<(u64, u64)>,
    /// Noise removal on the agent's microphone: (frames cleaned, speech).
    pub microphone_cleaned: Option<(u64, u64)>,
    /// Payloads that would not decode.
    pub decode_errors: u64,
    /// Lost packets rebuilt from FEC or concealed, and the speech time-stretched
    /// to move the jitter buffer's delay.
    pub recovery: Recovery,
    /// Datagrams the RTP receiver dropped: malformed, from another address than
    /// the latched one, with a payload type that was not negotiated.
    pub dropped: DropCounters,
    /// Packets lost between the network half and the audio thread (a ring was
    /// full: the audio thread stalled, or the network half did).
    pub overflow: u64,
    /// How the media engine's audio thread kept its 10 ms ticks (the whole
    /// process so far).
    pub timing: TickSummary,
    /// The audio thread ran under real-time scheduling: without it, late
    /// ticks say the machine was busy rather than that the engine was slow.
    pub audio_realtime: bool,
    /// The SRTP suite at the end of the call; None for plain RTP.
    pub srtp: Option<SrtpSuite>,
    /// Packets SRTP refused (authentication, replay, malformed): dropped,
    /// never played.
    pub srtp_dropped: super::SrtpCounts,
}

impl MediaReport {
    /// One structured log line; tests and operators read its fields.
    pub fn log(&self) {
        let j = self.jitter.unwrap_or_default();
        let q = &self.quality;
        tracing::info!(
            codec = %self.codec,
            received = j.received,
            played = j.played,
            lost = j.lost,
            late = j.late,
            concealed = j.concealed,
            fec_frames = self.recovery.fec_frames,
            red_frames = self.recovery.red_frames,
            plc_frames = self.recovery.concealed_frames,
            plc_bridged = self.recovery.bridged_frames,
            cn_frames = self.recovery.comfort_noise_frames,
            stretched_ms = self.recovery.lengthened_ms(),
            shortened_ms = self.recovery.shortened_ms(),
            decode_errors = self.decode_errors,
            dropped_other_source = self.dropped.other_source,
            dropped_probation = self.dropped.probation,
            dropped_unknown_pt = self.dropped.unknown_payload_type,
            dropped_malformed = self.dropped.malformed,
            ring_overflow = self.overflow,
            send_stale = self.send_stale,
            srtp = self.srtp.map_or("off", SrtpSuite::sdes_name),
            srtp_auth_failed = self.srtp_dropped.auth_failed,
            srtp_replayed = self.srtp_dropped.replayed,
            srtp_malformed = self.srtp_dropped.malformed,
            delay_ms = j.delay_ms,
            target_ms = j.target_ms,
            loss_pct = format_args!("{:.1}", q.local_loss_pct),
            jitter_ms = format_args!("{:.1}", q.jitter_ms),
            rtt_ms = ?q.rtt_ms.map(|r| (r * 10.0).round() / 10.0),
            remote_loss_pct = ?q.remote_loss_pct,
            dtmf_received = %self.digits_received,
            dtmf_sent = self.digits_sent,
            denoised_frames = self.cleaned.map_or(0, |c| c.0),
            mic_denoised_frames = self.microphone_cleaned.map_or(0, |c| c.0),
            ticks = self.timing.ticks,
            tick_late_p99_ms = format_args!("{:.2}", self.timing.late_p99_ms),
            tick_late_max_ms = format_args!("{:.2}", self.timing.late_max_ms),
            tick_busy_mean_ms = format_args!("{:.3}", self.timing.busy_mean_ms),
            audio_realtime = self.audio_realtime,
            "media stopped"
        );
    }
}

impl fmt::Display for MediaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = &self.quality;
        write!(
            f,
            "{}: sent {} packets, received {}, lost {:.1} %, jitter {:.1} ms",
            self.codec, q.packets_sent, q.packets_received, q.local_loss_pct, q.jitter_ms
        )?;
        if let Some(j) = &self.jitter {
            write!(f, ", jitter buffer {} ms", j.delay_ms)?;
        }
        if let Some(suite) = self.srtp {
            write!(f, ", SRTP {suite}")?;
        }
        let s = &self.srtp_dropped;
        if s.auth_failed > 0 {
            write!(
                f,
                ", {} packets failed SRTP authentication (dropped)",
                s.auth_failed
            )?;
        }
        if s.replayed + s.malformed > 0 {
            write!(
                f,
                ", {} replayed / {} malformed SRTP packets dropped",
                s.replayed, s.malformed
            )?;
        }
        let r = &self.recovery;
        if r.red_frames > 0 {
            write!(
                f,
                ", {} lost packets played from redundant copies (RFC 2198)",
                r.red_frames
            )?;
        }
        if r.fec_frames + r.concealed_frames > 0 {
            write!(
                f,
                ", {} lost packets rebuilt from FEC, {} concealed",
                r.fec_frames, r.concealed_frames
            )?;
        }
        if r.lengthened_samples + r.shortened_samples > 0 {
            write!(
                f,
                ", speech stretched {} ms / shortened {} ms",
                r.lengthened_ms(),
                r.shortened_ms()
            )?;
        }
        if r.comfort_noise_frames > 0 {
            write!(
                f,
                ", {} packet times of the peer's comfort noise",
                r.comfort_noise_frames
            )?;
        }
        if self.decode_errors > 0 {
            write!(f, ", {} payloads did not decode", self.decode_errors)?;
        }
        if self.dropped.other_source > 0 {
            write!(
                f,
                ", {} packets from other addresses ignored",
                self.dropped.other_source
            )?;
        }
        if self.dropped.probation > 0 {
            write!(
                f,
                ", {} packets from a new address held back on probation",
                self.dropped.probation
            )?;
        }
        if let Some(rtt) = q.rtt_ms {
            write!(f, ", round trip {rtt:.1} ms")?;
        }
        if let Some((frames, speech)) = self.cleaned {
            write!(f, ", noise removed on {frames} frames ({speech} speech)")?;
        }
        if let Some((frames, _)) = self.microphone_cleaned {
            write!(f, ", microphone cleaned on {frames} frames")?;
        }
        if self.timing.ticks > 0 {
            write!(
                f,
                ", audio ticks late p99 {:.1} ms max {:.1} ms",
                self.timing.late_p99_ms, self.timing.late_max_ms
            )?;
            if !self.audio_realtime {
                write!(f, " (audio thread without real-time priority)")?;
            }
        }
        if !self.digits_received.is_empty() {
            write!(f, ", DTMF received \"{}\"", self.digits_received)?;
        }
        if self.digits_sent > 0 {
            write!(f, ", {} DTMF digits sent", self.digits_sent)?;
        }
        if self.send_stale > 0 {
            write!(
                f,
                ", {} packets not sent (encoded over {} ms before the network thread ran)",
                self.send_stale,
                super::net_send::STALE_AFTER.as_millis()
            )?;
        }
        Ok(())
    }
}
