//! The internal audio format: 48 kHz mono, 10 ms frames.
//!
//! Samples are `f32` in the ±32768 scale of 16-bit PCM (what nnnoiseless expects),
//! so a frame converts to and from `i16` without rescaling.

/// Internal sample rate in Hz.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 10 ms frame.
pub const FRAME_SAMPLES: usize = 480;

/// One 10 ms frame of 48 kHz mono audio, ±32768 scale.
pub type Frame = [f32; FRAME_SAMPLES];

/// Converts a frame to 16-bit PCM, saturating (never wrapping) at full scale.
pub fn to_i16(frame: &Frame, out: &mut [i16; FRAME_SAMPLES]) {
    for (o, &s) in out.iter_mut().zip(frame.iter()) {
        // `as` saturates for floats and maps NaN to 0.
        *o = s.round() as i16;
    }
}

/// Converts 16-bit PCM to a frame.
pub fn from_i16(pcm: &[i16; FRAME_SAMPLES], out: &mut Frame) {
    for (o, &s) in out.iter_mut().zip(pcm.iter()) {
        *o = f32::from(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_saturates_instead_of_wrapping() {
        let mut f = [0.0f32; FRAME_SAMPLES];
        f[0] = 40_000.0;
        f[1] = -40_000.0;
        f[2] = f32::NAN;
        f[3] = 1234.4;
        let mut pcm = [0i16; FRAME_SAMPLES];
        to_i16(&f, &mut pcm);
        assert_eq!(&pcm[..4], &[i16::MAX, i16::MIN, 0, 1234]);
        let mut back = [0.0f32; FRAME_SAMPLES];
        from_i16(&pcm, &mut back);
        assert_eq!(back[3], 1234.0);
    }
}
