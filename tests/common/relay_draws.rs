//! The impairment relay's random draws: whether a packet is lost and how long
//! it is held. `crates/engine/examples/loss_replay.rs` includes this file by
//! path, so a seed gives the same losses and delays offline as in a call.

/// One relay direction's draws: SplitMix64, a small, well-mixed seeded
/// generator (no dependency needed for coin flips).
pub struct Draws(u64);

impl Draws {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next packet's fate: `None` when it is lost (probability `loss`),
    /// else the fraction of the delay spread it is held, uniform in [0, 1).
    /// Two draws for a packet that gets through, one for a lost one.
    pub fn fate(&mut self, loss: f64) -> Option<f64> {
        if self.unit() < loss {
            return None;
        }
        Some(self.unit())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
