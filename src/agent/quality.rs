//! Live call quality for the controls: every half second, one `quality`
//! event per call whose media runs, from its network half (loss, jitter,
//! round trip) and the engine's level meters (how loud the far end is, and
//! whether it is talking). It is media telemetry, not a call rule, so it goes
//! to the event stream beside the desk's events rather than through the desk.

use super::Shell;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Above this the far end counts as talking (a roster's "who is talking").
const TALKING_DBFS: f32 = -45.0;
/// A call degrades above either (what the web desk warns about).
const DEGRADED_LOSS_PCT: f64 = 5.0;
const DEGRADED_JITTER_MS: f64 = 60.0;

/// Loss is measured over this many intervals of 0.5 s: a leg that starts
/// losing packets mid-call shows it within seconds, where the loss since the
/// call began would take minutes to move.
const LOSS_WINDOW: usize = 6;

/// Each leg's recent (received, lost) counters, oldest first.
#[derive(Default)]
pub(super) struct LossWindows(HashMap<u64, VecDeque<(u32, i32)>>);

impl LossWindows {
    /// Loss over the last few seconds, percent, from the stream's running
    /// counters (over the whole stream until there is a window's history).
    fn recent_pct(&mut self, call: u64, received: u32, lost: i32) -> f64 {
        let w = self.0.entry(call).or_default();
        w.push_back((received, lost));
        if w.len() > LOSS_WINDOW + 1 {
            w.pop_front();
        }
        let (r0, l0) = match w.front() {
            Some(&first) if w.len() > 1 => first,
            _ => (0, 0),
        };
        let got = f64::from(received.wrapping_sub(r0));
        let missed = f64::from(lost.saturating_sub(l0).max(0));
        if got + missed == 0.0 {
            0.0
        } else {
            missed * 100.0 / (got + missed)
        }
    }
}

#[derive(Serialize)]
struct QualityEvent {
    event: &'static str,
    call: u64,
    /// Loss of the far end's stream as we receive it over the last 3 s,
    /// percent.
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
            // Nobody watches: a window spanning the gap would mislead later.
            self.loss.0.clear();
            return;
        }
        let mut out = Vec::new();
        let mut live = Vec::new();
        for (call, leg) in self.legs.iter_mut() {
            let (Some(q), Some(part)) = (leg.media.quality(), leg.media.part()) else {
                continue;
            };
            live.push(call.0);
            let level = self.engine.levels(part).map(|(spoken, _)| spoken.rms_dbfs);
            let loss = self
                .loss
                .recent_pct(call.0, q.packets_received, q.packets_lost);
            out.push(QualityEvent {
                event: "quality",
                call: call.0,
                loss_pct: loss,
                remote_loss_pct: q.remote_loss_pct,
                jitter_ms: q.jitter_ms,
                rtt_ms: q.rtt_ms,
                level_dbfs: level,
                talking: level.is_some_and(|l| l > TALKING_DBFS),
                degraded: loss > DEGRADED_LOSS_PCT || q.jitter_ms > DEGRADED_JITTER_MS,
            });
        }
        self.loss.0.retain(|call, _| live.contains(call));
        for ev in out {
            if let Ok(json) = serde_json::to_string(&ev) {
                let _ = self.events.send(Arc::from(json));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_measured_over_the_last_seconds() {
        let mut w = LossWindows::default();
        // 25 packets each half second, none lost for a minute...
        let mut received = 0;
        for _ in 0..120 {
            received += 25;
            assert_eq!(w.recent_pct(1, received, 0), 0.0);
        }
        // ...then 10 % lost: the window shows it once it is full of it.
        let mut lost = 0;
        let mut pct = 0.0;
        for i in 0..LOSS_WINDOW {
            received += 45;
            lost += 5;
            pct = w.recent_pct(1, received, lost);
            assert!(i + 1 == LOSS_WINDOW || pct < 10.0);
        }
        assert!((pct - 10.0).abs() < 1e-9, "{pct}");
        // A first sample has no window: the loss so far.
        assert_eq!(w.recent_pct(2, 90, 10), 10.0);
    }
}
