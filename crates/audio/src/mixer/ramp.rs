//! Click-free gain changes: a linear ramp to a target over a fixed number of samples.

/// Length of every ramp: 5 ms at 48 kHz, short enough to feel instant, long enough
/// that a full-scale step does not click.
pub const RAMP_SAMPLES: usize = 240;

/// A gain that moves linearly to its target over [`RAMP_SAMPLES`] samples.
#[derive(Debug, Clone, Copy)]
pub struct Ramp {
    value: f32,
    target: f32,
    step: f32,
    /// Steps left; counted rather than compared so float rounding cannot stretch
    /// the ramp by a sample.
    remaining: u32,
}

impl Ramp {
    /// A ramp resting at `value`.
    pub fn at(value: f32) -> Self {
        Ramp {
            value,
            target: value,
            step: 0.0,
            remaining: 0,
        }
    }

    /// Starts moving to `target`; the move takes [`RAMP_SAMPLES`] whatever the
    /// distance, so a later change of mind restarts from where the value is now.
    pub fn set_target(&mut self, target: f32) {
        if target == self.target {
            return;
        }
        self.target = target;
        self.step = (target - self.value) / RAMP_SAMPLES as f32;
        self.remaining = RAMP_SAMPLES as u32;
    }

    /// At rest at zero: multiplying by it gives silence.
    pub fn is_closed(&self) -> bool {
        self.value == 0.0 && self.target == 0.0
    }

    /// Multiplies `samples` by the ramp, advancing it one step per sample.
    pub fn apply(&mut self, samples: &mut [f32]) {
        let mut rest = samples;
        if self.value != self.target {
            let n = rest.len();
            let mut i = 0;
            while i < n && self.value != self.target {
                rest[i] *= self.value;
                self.advance();
                i += 1;
            }
            rest = &mut rest[i..];
        }
        // Steady state: a constant gain, with the common cases made cheap.
        if self.value == 1.0 {
            return;
        }
        if self.value == 0.0 {
            rest.fill(0.0);
            return;
        }
        let g = self.value;
        rest.iter_mut().for_each(|s| *s *= g);
    }

    fn advance(&mut self) {
        self.remaining = self.remaining.saturating_sub(1);
        self.value = if self.remaining == 0 {
            self.target
        } else {
            self.value + self.step
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_reaches_target_in_ramp_samples_without_overshoot() {
        let mut r = Ramp::at(0.0);
        r.set_target(1.0);
        let mut buf = [1.0f32; 480];
        r.apply(&mut buf);
        assert_eq!(buf[0], 0.0);
        for w in buf.windows(2) {
            assert!(w[1] >= w[0] && w[1] - w[0] <= 1.0 / RAMP_SAMPLES as f32 + 1e-6);
        }
        assert_eq!(buf[RAMP_SAMPLES], 1.0);
        assert_eq!(buf[479], 1.0);
        r.set_target(0.0);
        let mut buf = [1.0f32; 480];
        r.apply(&mut buf);
        assert_eq!(buf[0], 1.0);
        assert_eq!(buf[RAMP_SAMPLES], 0.0);
        assert!(r.is_closed());
    }
}
