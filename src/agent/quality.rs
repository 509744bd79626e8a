//! Live call quality for the controls: every half second, one `quality`
//! event per call whose media runs, from its network half (loss, jitter,
//! round trip) and the engine's level meters (how loud the far end is, and
//! whether it is talking). It is media telemetry, not a call rule, so it goes
//! to the event stream beside the desk's events rather than through the desk.

use super::Shell;
use serde::Serialize;
use std::sync::Arc;

/// Above this the far end counts as talking (a roster's "who is talking").
const TALKING_DBFS: f32 = -45.0;
/// A call degrades above either (what the web desk warns about).
const DEGRADED_LOSS_PCT: f64 = 5.0;
const DEGRADED_JITTER_MS: f64 = 60.0;

#[derive(Serialize)]
struct QualityEvent {
    event: &'static str,
    call: u64,
    /// Loss of the far end's stream as we receive it, percent.
    loss_pct: f64,
    /// Loss of our stream as the far end reports it (RTCP), percent.
    remote_loss_pct: Option<f64>,
    /// Interarrival jitter of the far end's stream, ms.
    jitter_ms: f64,
    /// Round trip from RTCP, ms.
    rtt_ms: Option<f64>,
    /// How loud the far end is in its room, dBFS (RMS).
    level_dbfs: Option<f32>,
    /// The far end is talking now.
    talking: bool,
    /// Loss above 5 % or jitter above 60 ms.
    degraded: bool,
}

impl Shell {
    pub(super) fn publish_quality(&mut self) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let mut out = Vec::new();
        for (call, leg) in self.legs.iter_mut() {
            let (Some(q), Some(part)) = (leg.media.quality(), leg.media.part()) else {
                continue;
            };
            let level = self.engine.levels(part).map(|(spoken, _)| spoken.rms_dbfs);
            out.push(QualityEvent {
                event: "quality",
                call: call.0,
                loss_pct: q.local_loss_pct,
                remote_loss_pct: q.remote_loss_pct,
                jitter_ms: q.jitter_ms,
                rtt_ms: q.rtt_ms,
                level_dbfs: level,
                talking: level.is_some_and(|l| l > TALKING_DBFS),
                degraded: q.local_loss_pct > DEGRADED_LOSS_PCT || q.jitter_ms > DEGRADED_JITTER_MS,
            });
        }
        for ev in out {
            if let Ok(json) = serde_json::to_string(&ev) {
                let _ = self.events.send(Arc::from(json));
            }
        }
    }
}
