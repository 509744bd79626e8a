//! Soft clipper: linear below a knee, then a tanh curve that approaches but never
//! reaches 16-bit full scale, so a loud conference saturates smoothly instead of
//! wrapping around or hard-clipping.

/// Output never exceeds this magnitude.
pub const CLIP_LIMIT: f32 = 32_767.0;

/// Below this magnitude (-2.5 dBFS) samples pass unchanged.
pub const CLIP_KNEE: f32 = 24_576.0;

/// Soft-clips one sample. NaN becomes silence.
#[inline]
pub fn soft_clip(x: f32) -> f32 {
    let a = x.abs();
    if a <= CLIP_KNEE {
        return x;
    }
    if x.is_nan() {
        return 0.0;
    }
    let room = CLIP_LIMIT - CLIP_KNEE;
    // tanh has slope 1 at 0, so the curve joins the linear part without a kink.
    let y = CLIP_KNEE + room * ((a - CLIP_KNEE) / room).tanh();
    y.min(CLIP_LIMIT).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipper_is_identity_below_knee_and_bounded_above() {
        assert_eq!(soft_clip(1000.0), 1000.0);
        assert_eq!(soft_clip(-CLIP_KNEE), -CLIP_KNEE);
        assert!(soft_clip(1e9) <= CLIP_LIMIT);
        assert!(soft_clip(f32::INFINITY) <= CLIP_LIMIT);
        assert!(soft_clip(-1e9) >= -CLIP_LIMIT);
        assert_eq!(soft_clip(f32::NAN), 0.0);
        // Monotonic through the knee.
        let mut prev = soft_clip(20_000.0);
        for i in 1..2000 {
            let y = soft_clip(20_000.0 + i as f32 * 50.0);
            assert!(y >= prev);
            prev = y;
        }
    }
}
