//! When to try a failed registration again: RFC 5626 §4.5's backoff (base
//! 30 s, doubling per consecutive failure, at most 30 min, with the wait
//! drawn between half and all of it so a registrar that comes back is not
//! hit by every phone at the same instant).

use std::time::Duration;

/// First wait after a failure.
pub const BASE: Duration = Duration::from_secs(30);
/// Longest wait.
pub const MAX: Duration = Duration::from_secs(30 * 60);

/// Consecutive failures of one registration and the next wait.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// A failure: how long to wait before the next attempt.
    pub fn failed(&mut self) -> Duration {
        let upper = BASE.saturating_mul(1u32 << self.failures.min(16)).min(MAX);
        self.failures = self.failures.saturating_add(1);
        // Between 50 % and 100 % of the ceiling (RFC 5626 §4.5).
        upper.mul_f64(rand::random_range(0.5..=1.0))
    }

    /// The registration succeeded: the next failure starts from the base.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_30_s_up_to_30_min_with_jitter() {
        let mut b = Backoff::default();
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            let w = b.failed();
            ceilings.push(w);
        }
        for (i, w) in ceilings.iter().enumerate() {
            let upper = BASE.saturating_mul(1 << i).min(MAX);
            assert!(
                *w >= upper / 2 && *w <= upper,
                "attempt {i}: {w:?} not in [{:?}, {upper:?}]",
                upper / 2
            );
        }
        assert!(ceilings[9] >= MAX / 2);
        b.succeeded();
        assert!(b.failed() <= BASE);
    }
}
