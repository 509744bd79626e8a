//! G.711 µ-law (PCMU) and A-law (PCMA) sample conversion (ITU-T G.711).
//!
//! Decoding is a 256-entry table built at compile time; encoding finds the
//! segment from the position of the highest set bit, which is a couple of
//! instructions and needs no 16K-entry table in the cache.

/// µ-law bias (33 in the 14-bit domain, shifted here to 16 bits).
const ULAW_BIAS: i32 = 0x84;
/// Largest µ-law magnitude before biasing, in the 14-bit domain.
const ULAW_CLIP: i32 = 8_159;

/// Decodes one µ-law byte to linear 16-bit PCM.
pub const fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0F) as i32) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    if u & 0x80 != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

/// Decodes one A-law byte to linear 16-bit PCM.
pub const fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_to_linear(i as u8)
        } else {
            ulaw_to_linear(i as u8)
        };
        i += 1;
    }
    table
}

/// µ-law decode table, indexed by code.
pub static ULAW_DECODE: [i16; 256] = build_table(false);
/// A-law decode table, indexed by code.
pub static ALAW_DECODE: [i16; 256] = build_table(true);

/// Encodes linear 16-bit PCM to µ-law.
#[inline]
pub fn linear_to_ulaw(pcm: i16) -> u8 {
    let mut v = i32::from(pcm) >> 2;
    let mask: u8 = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    v = v.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    // v is in 33..=8192: the segment is the highest bit's position minus 5.
    let seg = 31 - v.leading_zeros() as i32 - 5;
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let code = ((seg << 4) | ((v >> (seg + 1)) & 0x0F)) as u8;
    code ^ mask
}

/// Encodes linear 16-bit PCM to A-law.
#[inline]
pub fn linear_to_alaw(pcm: i16) -> u8 {
    let mut v = i32::from(pcm) >> 3;
    let mask: u8 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = if v <= 0x1F {
        0
    } else {
        31 - v.leading_zeros() as i32 - 4
    };
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let code = if seg < 2 {
        (seg << 4) | ((v >> 1) & 0x0F)
    } else {
        (seg << 4) | ((v >> seg) & 0x0F)
    } as u8;
    code ^ mask
}

/// Rounds and saturates a ±32768-scale sample to `i16` (NaN becomes 0).
#[inline]
pub fn to_i16(sample: f32) -> i16 {
    sample.round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Half the quantiser step around the level `got` (the wider side, so
    /// segment boundaries are covered).
    fn half_step(table: &[i16; 256], got: i16) -> i32 {
        let mut levels: Vec<i32> = table.iter().map(|&v| i32::from(v)).collect();
        levels.sort_unstable();
        levels.dedup();
        let i = levels.binary_search(&i32::from(got)).unwrap();
        let below = if i > 0 { levels[i] - levels[i - 1] } else { 0 };
        let above = levels.get(i + 1).map_or(0, |&v| v - levels[i]);
        below.max(above) / 2
    }

    #[test]
    fn ulaw_known_code_points() {
        // Values from ITU-T G.711 Table 2a (scaled to 16 bits).
        assert_eq!(ULAW_DECODE[0xFF], 0);
        assert_eq!(ULAW_DECODE[0x7F], 0);
        assert_eq!(ULAW_DECODE[0x80], 32_124);
        assert_eq!(ULAW_DECODE[0x00], -32_124);
        assert_eq!(ULAW_DECODE[0xFE], 8);
        assert_eq!(ULAW_DECODE[0x7E], -8);
        assert_eq!(ULAW_DECODE[0xF0], 120);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(32_767), 0x80);
        assert_eq!(linear_to_ulaw(-32_768), 0x00);
    }

    #[test]
    fn alaw_known_code_points() {
        assert_eq!(ALAW_DECODE[0xD5], 8);
        assert_eq!(ALAW_DECODE[0x55], -8);
        assert_eq!(ALAW_DECODE[0xAA], 32_256);
        assert_eq!(ALAW_DECODE[0x2A], -32_256);
        assert_eq!(ALAW_DECODE[0xD4], 24);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(32_767), 0xAA);
        assert_eq!(linear_to_alaw(-32_768), 0x2A);
    }

    #[test]
    fn every_code_round_trips() {
        for code in 0..=255u8 {
            let u = ULAW_DECODE[code as usize];
            // 0x7F and 0xFF both decode to 0; 0 encodes as 0xFF.
            let expect_u = if code == 0x7F { 0xFF } else { code };
            assert_eq!(linear_to_ulaw(u), expect_u, "µ-law {code:#04x}");
            assert_eq!(
                linear_to_alaw(ALAW_DECODE[code as usize]),
                code,
                "A-law {code:#04x}"
            );
        }
    }

    #[test]
    fn encoding_error_stays_within_half_a_step() {
        for pcm in (i16::MIN..=i16::MAX).step_by(3) {
            for (table, enc) in [
                (&ULAW_DECODE, linear_to_ulaw as fn(i16) -> u8),
                (&ALAW_DECODE, linear_to_alaw as fn(i16) -> u8),
            ] {
                let got = table[enc(pcm) as usize];
                let top = i32::from(table.iter().copied().max().unwrap_or(0));
                let err = (i32::from(got) - i32::from(pcm)).abs();
                // Beyond the largest level the code saturates.
                if i32::from(pcm).abs() <= top {
                    // +8: the 13/14-bit input truncation.
                    assert!(err <= half_step(table, got) + 8, "pcm {pcm}: got {got}");
                } else {
                    assert_eq!(i32::from(got).abs(), top, "pcm {pcm} saturates");
                }
            }
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        let mut prev_u = i16::MIN;
        let mut prev_a = i16::MIN;
        for pcm in i16::MIN..=i16::MAX {
            let u = ULAW_DECODE[linear_to_ulaw(pcm) as usize];
            let a = ALAW_DECODE[linear_to_alaw(pcm) as usize];
            assert!(u >= prev_u && a >= prev_a, "at {pcm}");
            prev_u = u;
            prev_a = a;
        }
    }
}
