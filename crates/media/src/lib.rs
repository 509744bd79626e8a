//! agentphone's media plane below the 48 kHz frame: SDP offer/answer, RTP/RTCP,
//! codecs (G.711, Opus, RFC 4733 DTMF, RFC 3389 comfort noise), RFC 2198
//! redundancy, jitter buffer, loss concealment, time stretching and
//! 8 kHz ⇄ 48 kHz resampling.
//!
//! Boundaries: no sockets, no threads, no clock reads. Packets and "now" go in,
//! packets, 10 ms frames of 48 kHz mono audio and statistics come out. Buffers are
//! allocated at construction; the per-packet and per-frame paths do not allocate
//! beyond what the `rtp`/`rtcp` crates need to (de)serialize.
//!
//! `unsafe` appears once: the resampler's AVX2 entry (`resample::avx2`),
//! called only after run-time feature detection.
#![deny(unsafe_code)]

pub mod cn;
pub mod codec;
pub mod dtmf;
pub mod jitter;
pub mod offer_answer;
pub mod plc;
pub mod red;
pub mod resample;
pub mod rtcp_stats;
pub mod rtp_stream;
pub mod srtp;
pub mod stretch;
