//! Subcommands: each file is one verb of the CLI.
pub mod account;
pub mod answer;
pub mod call;
pub mod demo;
pub mod denoise;
pub mod noise;
pub mod register;
pub mod signals;

/// Sleeps until `t`, or forever when there is nothing to wait for (a disabled
/// branch of a `select!` loop).
async fn sleep_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
