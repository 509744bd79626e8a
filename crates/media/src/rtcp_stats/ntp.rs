//! NTP timestamps (RFC 3550 §4): 32.32 fixed-point seconds since 1900.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix epoch).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp. The caller derives it from its wall clock; this crate
/// never reads clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// Converts a wall-clock time (times before 1970 map to the Unix epoch).
    pub fn from_system_time(t: SystemTime) -> Self {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let secs = since.as_secs().wrapping_add(NTP_UNIX_OFFSET);
        let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTime((secs << 32) | frac)
    }

    /// The middle 32 bits (16.16 seconds), as used in LSR and for RTT.
    pub fn middle_32(self) -> u32 {
        (self.0 >> 16) as u32
    }

    /// This time plus `d` (wrapping at the era boundary like the field does).
    pub fn after(self, d: Duration) -> NtpTime {
        NtpTime(self.0.wrapping_add(duration_to_ntp(d)))
    }
}

/// A duration in 32.32 fixed point.
fn duration_to_ntp(d: Duration) -> u64 {
    (d.as_secs() << 32).wrapping_add((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// A duration in 1/65536 s units (DLSR, RFC 3550 §6.4.1), saturating.
pub(crate) fn duration_to_q16(d: Duration) -> u32 {
    let units = d.as_nanos() * 65_536 / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// 1/65536 s units back to a duration.
pub(crate) fn q16_to_duration(units: u32) -> Duration {
    Duration::from_nanos(u64::from(units) * 1_000_000_000 / 65_536)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_epoch_is_ntp_2208988800() {
        let n = NtpTime::from_system_time(UNIX_EPOCH);
        assert_eq!(n.0 >> 32, NTP_UNIX_OFFSET);
        let half = NtpTime::from_system_time(UNIX_EPOCH + Duration::from_millis(500));
        assert_eq!(half.0 & 0xffff_ffff, 1 << 31);
        assert_eq!(
            half.middle_32(),
            ((NTP_UNIX_OFFSET as u32) << 16).wrapping_add(0x8000)
        );
    }

    #[test]
    fn after_adds_in_fixed_point() {
        let t = NtpTime(5 << 32).after(Duration::from_millis(1500));
        assert_eq!(t.0, (6 << 32) | (1 << 31));
    }

    #[test]
    fn q16_round_trip() {
        assert_eq!(duration_to_q16(Duration::from_secs(1)), 65_536);
        assert_eq!(q16_to_duration(32_768), Duration::from_millis(500));
    }
}
