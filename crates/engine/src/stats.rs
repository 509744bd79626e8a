//! Tick timing: how late each tick started and how long its work took, kept in
//! fixed histograms (no allocation per tick) for the media report.

use std::time::Duration;

/// Histogram resolution.
const BUCKET_US: u64 = 100;
/// Buckets: 0 to 100 ms; anything later lands in the last one.
const BUCKETS: usize = 1_000;

/// A fixed-bucket histogram of durations.
#[derive(Clone)]
struct Histogram {
    counts: Box<[u32; BUCKETS]>,
    n: u64,
    max: Duration,
    sum_us: u64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            n: 0,
            max: Duration::ZERO,
            sum_us: 0,
        }
    }

    fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        let i = ((us / BUCKET_US) as usize).min(BUCKETS - 1);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.n += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.max = self.max.max(d);
    }

    /// The upper edge of the bucket holding the `q` quantile.
    fn quantile(&self, q: f64) -> Duration {
        if self.n == 0 {
            return Duration::ZERO;
        }
        let rank = ((self.n as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Duration::from_micros((i as u64 + 1) * BUCKET_US).min(self.max);
            }
        }
        self.max
    }
}

/// Timing of the audio thread's ticks.
#[derive(Clone)]
pub struct TickStats {
    late: Histogram,
    busy: Histogram,
    over_5ms: u64,
}

/// A summary of [`TickStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TickSummary {
    /// Ticks measured.
    pub ticks: u64,
    /// 99th percentile of how late a tick started (ms).
    pub late_p99_ms: f64,
    /// Latest tick start (ms).
    pub late_max_ms: f64,
    /// Ticks that started more than 5 ms late.
    pub late_over_5ms: u64,
    /// Mean work per tick (ms).
    pub busy_mean_ms: f64,
    /// 99th percentile of the work per tick (ms).
    pub busy_p99_ms: f64,
    /// Longest tick's work (ms).
    pub busy_max_ms: f64,
}

impl Default for TickStats {
    fn default() -> Self {
        Self::new()
    }
}

impl TickStats {
    /// Empty.
    pub fn new() -> Self {
        TickStats {
            late: Histogram::new(),
            busy: Histogram::new(),
            over_5ms: 0,
        }
    }

    /// One tick that started `late` after its due time and worked `busy`.
    pub fn record(&mut self, late: Duration, busy: Duration) {
        self.late.record(late);
        self.busy.record(busy);
        if late > Duration::from_millis(5) {
            self.over_5ms += 1;
        }
    }

    /// The figures so far.
    pub fn summary(&self) -> TickSummary {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        TickSummary {
            ticks: self.late.n,
            late_p99_ms: ms(self.late.quantile(0.99)),
            late_max_ms: ms(self.late.max),
            late_over_5ms: self.over_5ms,
            busy_mean_ms: if self.busy.n == 0 {
                0.0
            } else {
                self.busy.sum_us as f64 / self.busy.n as f64 / 1e3
            },
            busy_p99_ms: ms(self.busy.quantile(0.99)),
            busy_max_ms: ms(self.busy.max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_maximum_follow_the_recorded_ticks() {
        let mut s = TickStats::new();
        for _ in 0..990 {
            s.record(Duration::from_micros(150), Duration::from_micros(300));
        }
        for _ in 0..10 {
            s.record(Duration::from_millis(7), Duration::from_millis(2));
        }
        let t = s.summary();
        assert_eq!(t.ticks, 1000);
        assert!((t.late_p99_ms - 0.2).abs() < 1e-9, "{t:?}");
        assert!((t.late_max_ms - 7.0).abs() < 1e-9, "{t:?}");
        assert_eq!(t.late_over_5ms, 10);
        assert!((t.busy_max_ms - 2.0).abs() < 1e-9, "{t:?}");
        assert!(t.busy_mean_ms > 0.3 && t.busy_mean_ms < 0.32, "{t:?}");
    }
}
