//! The agent's desk: the call rules of `shared/spec/call-handling.md`, as plain
//! values that take the agent's requests and the administrator's configuration
//! and either produce the effective setting or refuse with the rule's id.
//!
//! Boundaries: no I/O, no clock, no SIP or RTP types. The binary reads the
//! configuration and the agent's controls, asks this crate what is allowed, and
//! drives `agentphone-sip` and `agentphone-media` with the result. Call control
//! (offers, hold, consult, conference, transfer) lands here as it is built; today
//! it holds the noise-reduction rules (R-NR-2, R-NR-3).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod noise;
mod refused;

pub use refused::Refused;
