//! The runtime every leg's network half runs on: one current-thread tokio
//! runtime on a thread of its own (`agentphone-net`), apart from the SIP
//! loop's multi-thread runtime.
//!
//! A network half wakes for each datagram that arrives and after each audio
//! tick that gave it packets. On the two-worker runtime each of those woke a
//! worker and often its sibling as well (work stealing), and on a VM a thread
//! wake-up costs far more than the task's own work: an eight-party G.711
//! bridge spent ~1.5 % of a core on ~720 context switches a second. On one
//! thread, a tick's packets for every leg go out in one wake-up, and nothing
//! else is woken (since then the per-tick RTP reads and sends moved to the
//! `pacer`'s own thread; the legs' tasks here wake for RTCP and controls).
//! The RTCP sockets are registered with this runtime's reactor when
//! the network half starts (see [`super::net_leg::NetLeg::new`]), so their
//! readiness never passes through the SIP loop's runtime either.

use anyhow::{anyhow, Result};
use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Started on first use and kept for the life of the process.
static RUNTIME: OnceLock<Result<Handle, String>> = OnceLock::new();

fn start() -> Result<Handle, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build the media network runtime: {e}"))?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("agentphone-net".into())
        .spawn(move || {
            if let Err(e) = super::priority::raise(super::priority::NETWORK) {
                // Packets are then read when the scheduler gets round to it:
                // on a busy machine some miss the tick they arrived for.
                tracing::debug!("media network thread keeps normal priority: {e}");
            }
            runtime.block_on(std::future::pending::<()>())
        })
        .map_err(|e| format!("cannot start the media network thread: {e}"))?;
    Ok(handle)
}

/// Starts the network thread if it is not running yet. The media engine
/// calls it as it starts, so the runtime's own descriptors (epoll, its
/// waker) are taken then, not by the first call (which might find the
/// process's descriptors used up, and would then have no audio instead of
/// failing cleanly).
pub(super) fn ensure_started() -> Result<()> {
    handle().map(|_| ())
}

fn handle() -> Result<&'static Handle> {
    RUNTIME
        .get_or_init(start)
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

/// Runs `task` on the network thread.
pub(super) fn spawn<F>(task: F) -> Result<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(handle()?.spawn(task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_one_named_thread_outside_any_runtime() {
        let names: Vec<String> = (0..3)
            .map(|_| {
                let task = spawn(async {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    std::thread::current().name().map(str::to_owned)
                })
                .expect("network runtime");
                wait(task).expect("task ran").unwrap_or_default()
            })
            .collect();
        assert!(names.iter().all(|n| n == "agentphone-net"), "{names:?}");
    }

    /// Waits for a task from outside any runtime, as the caller may be.
    fn wait<T>(task: JoinHandle<T>) -> Result<T, tokio::task::JoinError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("waiting runtime")
            .block_on(task)
    }
}
