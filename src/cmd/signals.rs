//! Ctrl-C and SIGTERM: the first means "shut down cleanly" (bounded: each
//! command gives its BYEs and un-REGISTER [`STOP_LIMIT`]); a second one ends
//! the process at once, as a person pressing Ctrl-C twice expects.

use std::time::Duration;

/// How long a clean stop waits for far ends and registrars to answer.
pub const STOP_LIMIT: Duration = Duration::from_secs(4);

/// Signals this close to the first are the same request delivered twice.
const SAME_REQUEST: Duration = Duration::from_millis(250);

/// Resolves on the first Ctrl-C or SIGTERM; from then on the next one exits
/// the process with status 130.
pub async fn shutdown() {
    let mut signals = Signals::new();
    signals.next().await;
    let first = std::time::Instant::now();
    tokio::spawn(async move {
        loop {
            signals.next().await;
            // One stop request can arrive twice (coreutils `timeout` signals
            // the program and its process group): only a later one counts.
            if first.elapsed() >= SAME_REQUEST {
                break;
            }
        }
        eprintln!("second signal: stopping at once");
        std::process::exit(130);
    });
}

/// The two signals' streams, kept for both waits: a stream created after a
/// signal was delivered would report that same signal again.
struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = signal(SignalKind::terminate())
                .and_then(|t| Ok((t, signal(SignalKind::interrupt())?)))
                .ok();
            Signals { streams }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((term, int)) = &mut self.streams {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
