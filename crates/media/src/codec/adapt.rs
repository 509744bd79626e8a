//! Opus encoder settings from the far end's loss reports (the fraction lost of
//! RTCP receiver reports, RFC 3550 §6.4.1): the expected loss libopus sizes
//! its in-band FEC for, FEC on or off, and the bit rate within bounds.
//!
//! The report is smoothed, rising fast (a burst should protect the next
//! packets at once) and falling slowly (one clean 5 s report after a bad one
//! is not a clean link). The expected loss never goes below a floor: RTCP
//! arrives every few seconds, and without FEC already in the stream the first
//! losses before a report would go unprotected.

/// Bounds and defaults of the adaptation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptConfig {
    /// Lowest bit rate (bit/s), used under heavy loss.
    pub min_bitrate: i32,
    /// Highest bit rate (bit/s), used up to [`AdaptConfig::congestion_pct`].
    pub max_bitrate: i32,
    /// Expected loss (percent) assumed however clean the reports.
    pub floor_loss_pct: i32,
    /// Above this smoothed loss (percent) the loss is taken for congestion and
    /// the bit rate steps down towards `min_bitrate` (reached at twice it).
    pub congestion_pct: i32,
    /// Discontinuous transmission. Off for agents: the comfort noise a DTX
    /// stream turns into at the far end makes customers think the line dropped.
    pub dtx: bool,
}

impl Default for AdaptConfig {
    /// 72 kbit/s on a clean link, FEC sized for 10 % loss.
    ///
    /// The in-band FEC (LBRR, which exists only in libopus' SILK and hybrid
    /// modes, kept for voice while FEC is on) is coded from the same budget
    /// as the speech, so the rate decides both how the speech sounds and how
    /// well a lost packet comes back. On the espeak-ng speech of
    /// `tests/audio_loss.rs`, through `examples/opus_quality.rs` (PESQ-WB,
    /// clean / every 20th packet lost and rebuilt from FEC): 48 kbit/s
    /// 4.18 / 3.86, 56 kbit/s 4.28 / 4.04, 64 kbit/s 4.33 / 4.11, 72 kbit/s
    /// 4.39 / 4.25, 80 kbit/s 4.37 / 4.28. 72 kbit/s (about 67 on average,
    /// VBR) is where the gain levels off; it is G.711's rate, which a link
    /// that carries agents' calls already carries. An expected loss of 5 %
    /// makes the FEC too coarse, 15-20 % takes bits from a clean call.
    fn default() -> Self {
        Self {
            min_bitrate: 24_000,
            max_bitrate: 72_000,
            floor_loss_pct: 10,
            congestion_pct: 15,
            dtx: false,
        }
    }
}

/// What the encoder should be set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusSettings {
    /// `OPUS_SET_PACKET_LOSS_PERC`.
    pub loss_pct: i32,
    /// `OPUS_SET_INBAND_FEC`.
    pub fec: bool,
    /// `OPUS_SET_BITRATE`.
    pub bitrate: i32,
    /// `OPUS_SET_DTX`.
    pub dtx: bool,
}

/// Largest expected loss passed to libopus (more buys nothing but bits).
const MAX_LOSS_PCT: i32 = 30;
/// Smoothing weight of a report above the current estimate.
const RISE: f32 = 0.6;
/// Smoothing weight of a report below it.
const FALL: f32 = 0.2;

/// Smoothed far-end loss and the settings it implies.
#[derive(Debug, Clone)]
pub struct LossAdapter {
    cfg: AdaptConfig,
    smoothed_pct: f32,
}

impl LossAdapter {
    /// An adapter starting from a clean link.
    pub fn new(cfg: AdaptConfig) -> Self {
        Self {
            cfg,
            smoothed_pct: 0.0,
        }
    }

    /// The smoothed loss (percent).
    pub fn smoothed_pct(&self) -> f32 {
        self.smoothed_pct
    }

    /// Takes one report's fraction lost (0-255, as on the wire) and returns
    /// the settings to apply.
    pub fn on_fraction_lost(&mut self, fraction: u8) -> OpusSettings {
        let pct = f32::from(fraction) * 100.0 / 256.0;
        let w = if pct > self.smoothed_pct { RISE } else { FALL };
        self.smoothed_pct += w * (pct - self.smoothed_pct);
        self.settings()
    }

    /// The settings for the current estimate.
    pub fn settings(&self) -> OpusSettings {
        let c = &self.cfg;
        let loss = (self.smoothed_pct.round() as i32).clamp(c.floor_loss_pct, MAX_LOSS_PCT);
        let over = (self.smoothed_pct - c.congestion_pct as f32).max(0.0);
        let span = c.congestion_pct.max(1) as f32;
        let share = (over / span).min(1.0);
        let bitrate =
            c.max_bitrate - ((c.max_bitrate - c.min_bitrate).max(0) as f32 * share) as i32;
        OpusSettings {
            loss_pct: loss,
            fec: loss > 0,
            bitrate: bitrate.clamp(c.min_bitrate.min(c.max_bitrate), c.max_bitrate),
            dtx: c.dtx,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(p: f32) -> u8 {
        (p * 256.0 / 100.0).round() as u8
    }

    #[test]
    fn clean_link_keeps_the_floor_and_full_rate() {
        let mut a = LossAdapter::new(AdaptConfig::default());
        let s = a.on_fraction_lost(0);
        assert_eq!(
            s,
            OpusSettings {
                loss_pct: 10,
                fec: true,
                bitrate: 72_000,
                dtx: false
            }
        );
    }

    #[test]
    fn loss_rises_fast_and_falls_slowly() {
        let mut a = LossAdapter::new(AdaptConfig {
            floor_loss_pct: 0,
            ..AdaptConfig::default()
        });
        let s = a.on_fraction_lost(pct(20.0));
        assert_eq!(s.loss_pct, 12, "one bad report counts at once");
        let s = a.on_fraction_lost(pct(20.0));
        assert!(s.loss_pct >= 17, "{s:?}");
        let s = a.on_fraction_lost(0);
        assert!(s.loss_pct >= 13, "one clean report does not undo it: {s:?}");
        for _ in 0..20 {
            a.on_fraction_lost(0);
        }
        assert_eq!(a.settings().loss_pct, 0);
        assert!(!a.settings().fec);
    }

    #[test]
    fn heavy_loss_lowers_the_rate_within_bounds() {
        let mut a = LossAdapter::new(AdaptConfig::default());
        for _ in 0..10 {
            a.on_fraction_lost(pct(10.0));
        }
        assert_eq!(a.settings().bitrate, 72_000, "moderate loss keeps the rate");
        for _ in 0..10 {
            a.on_fraction_lost(255);
        }
        let s = a.settings();
        assert_eq!(s.bitrate, 24_000);
        assert_eq!(s.loss_pct, 30);
        assert!(s.fec);
    }

    #[test]
    fn dtx_is_off_unless_configured() {
        let a = LossAdapter::new(AdaptConfig::default());
        assert!(!a.settings().dtx);
        let a = LossAdapter::new(AdaptConfig {
            dtx: true,
            ..AdaptConfig::default()
        });
        assert!(a.settings().dtx);
    }
}
