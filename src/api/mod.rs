//! The local control API: HTTP + SSE + WebSocket on loopback, the one way
//! `agentphone ctl`, testers and the web desk drive a running desk. See
//! `docs/api.md`.
//!
//! The server never touches the desk itself: it sends [`ApiRequest`]s to the
//! desk task over [`DeskPort`] and relays the events the desk task
//! broadcasts.

mod auth;
pub mod client;
pub mod config;
mod error;
mod feed;
pub mod port;
mod server;
mod sse;
pub mod token;
mod web;
mod ws;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use auth::LoginCode;
pub use config::ApiConfig;
pub use port::{ApiRequest, DeskPort};
pub use server::{bind, serve};
pub use token::Token;
