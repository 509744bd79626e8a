//! RTP streams (RFC 3550): [`RtpSender`] packetises our audio and DTMF with
//! continuous sequence numbers and timestamps; [`RtpReceiver`] takes the peer's
//! source strictly ([`source`]), filters payload types, reports SSRC changes and keeps the receive
//! statistics RTCP reports carry.
//!
//! Sans-IO: datagrams and arrival instants in, packets and typed results out.

mod header;
mod receiver;
mod sender;
pub mod source;
mod stats;

pub use header::{parse_rtp, write_rtp, RtpError, RtpHeader, RtpPacket, RTP_HEADER_LEN};
pub use receiver::{DropCounters, Received, RtpDrop, RtpReceiver};
pub use sender::RtpSender;
pub use source::{SourceGuard, SourceVerdict};
pub use stats::{ReceiveStats, ReportBlock, SeqVerdict};
