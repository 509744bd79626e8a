//! RTCP for one RTP session (RFC 3550 §6): periodic SR/RR with one report block,
//! parsing of the peer's reports, round-trip time from LSR/DLSR and a per-call
//! [`CallQuality`] snapshot.
//!
//! RTCP runs on its own port (RTP port + 1 unless `a=rtcp` says otherwise); RTCP-mux
//! is not used. The caller supplies "now" as an `Instant` plus the matching NTP
//! wall-clock time; nothing here reads a clock.

mod ntp;
mod session;

pub use ntp::NtpTime;
pub use session::{RemoteReport, RtcpSession};

/// Errors from RTCP handling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// The datagram is not valid RTCP.
    #[error("malformed RTCP: {0}")]
    Malformed(String),
    /// Building a report failed in the rtcp crate.
    #[error("cannot build RTCP report: {0}")]
    Build(String),
}

/// Quality of one call, for the UI and logs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CallQuality {
    /// Round-trip time from the latest report about our stream, in ms.
    pub rtt_ms: Option<f64>,
    /// Loss of the peer's stream as we receive it, in percent.
    pub local_loss_pct: f64,
    /// Loss of our stream as the peer reported it (latest fraction lost), in percent.
    pub remote_loss_pct: Option<f64>,
    /// Interarrival jitter of the peer's stream as we measure it, in ms.
    pub jitter_ms: f64,
    /// Jitter of our stream as the peer reported it, in ms.
    pub remote_jitter_ms: Option<f64>,
    /// RTP packets we sent.
    pub packets_sent: u32,
    /// RTP packets we received (A.3 count).
    pub packets_received: u32,
    /// RTP packets of the peer's stream we never received.
    pub packets_lost: i32,
}
