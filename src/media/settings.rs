//! Media choices an administrator makes once, in `[media]` of the config file:
//! which codecs are offered and accepted and in what order (and whether an
//! answer follows that order or the caller's), the jitter buffer's bounds, and
//! the noise-removal model, SRTP. `--codec` on the command line moves one
//! codec to the front for a single run, `--srtp` sets the SRTP policy.

use crate::config::MediaConfig;
use agentphone_audio::denoise::{DenoiseError, Model};
use agentphone_media::codec::adapt::AdaptConfig;
use agentphone_media::codec::CodecKind;
use agentphone_media::jitter::JitterConfig;
use agentphone_media::srtp::{SrtpPolicy, SrtpSuite};
use anyhow::{anyhow, bail, Context, Result};
use std::sync::Arc;
use std::time::Duration;

/// Largest jitter-buffer bound accepted: beyond a second a conversation breaks
/// down, and the buffer's capacity is sized from it.
const JITTER_CEILING_MS: u32 = 1_000;
/// Opus's bit rate range (RFC 6716 §2.1.1: 6 to 510 kbit/s).
const OPUS_KBPS: std::ops::RangeInclusive<u32> = 6..=510;

/// Media settings for every call of a run.
#[derive(Clone)]
pub struct MediaSettings {
    /// Codecs offered and accepted, preferred first.
    pub codecs: Vec<CodecKind>,
    /// `codec_priority = "local"`: when answering, `codecs`' order picks the
    /// codec (`LocalMedia::with_local_order(true)`); otherwise (`"offer"`, the
    /// default, as PJSIP and baresip do) the first codec of the offer that is
    /// in `codecs`.
    pub codec_priority_local: bool,
    /// Smallest jitter-buffer delay.
    pub jitter_min: Duration,
    /// Largest jitter-buffer delay.
    pub jitter_max: Duration,
    /// Another RNNoise model for noise removal; the built-in one when `None`.
    pub denoise_model: Option<Arc<Model>>,
    /// A call whose peer sends no RTP this long is hung up (see `watchdog`).
    pub rtp_timeout: Option<Duration>,
    /// Music on hold, read at start (48 kHz mono), looped; silence when None.
    pub music_on_hold: Option<Arc<Vec<f32>>>,
    /// SRTP off, best effort, or required.
    pub srtp: SrtpPolicy,
    /// SDES suites offered and accepted, preferred first.
    pub srtp_suites: Vec<SrtpSuite>,
    /// SDES keys only over TLS signalling (refuse otherwise); when false,
    /// keys over plain signalling are sent with a warning.
    pub srtp_require_tls: bool,
    /// How the Opus encoder follows the far end's loss reports: bit rate
    /// bounds, DTX.
    pub opus: AdaptConfig,
    /// Offer and accept RFC 3389 comfort noise beside G.711 (`[media]
    /// comfort_noise`, default on): a peer in discontinuous transmission is
    /// then heard as its background noise, not as silence or concealment.
    pub comfort_noise: bool,
    /// Offer and accept RFC 2198 redundancy beside Opus (`[media] red`,
    /// default on): each Opus packet also carries the one before it, so a
    /// single lost packet is played whole from the next one. Used only with
    /// peers that list `red` themselves (browsers, agentphone).
    pub red: bool,
}

impl Default for MediaSettings {
    /// PCMU, PCMA, Opus; answers follow the offer's order; the jitter
    /// buffer's own default bounds (20-200 ms); the built-in model.
    fn default() -> Self {
        let jitter = JitterConfig::new(8_000, 20);
        MediaSettings {
            codecs: vec![CodecKind::Pcmu, CodecKind::Pcma, CodecKind::Opus],
            codec_priority_local: false,
            jitter_min: jitter.min_delay,
            jitter_max: jitter.max_delay,
            denoise_model: None,
            rtp_timeout: None,
            music_on_hold: None,
            srtp: SrtpPolicy::Off,
            srtp_suites: SrtpSuite::ALL.to_vec(),
            srtp_require_tls: false,
            opus: AdaptConfig::default(),
            comfort_noise: true,
            red: true,
        }
    }
}

impl MediaSettings {
    /// Reads `[media]`; `shown` names the config file in messages. A bad model
    /// file is reported here, before any call.
    pub fn from_config(cfg: &MediaConfig, shown: &str) -> Result<Self> {
        let mut s = MediaSettings::default();
        if let Some(names) = &cfg.codecs {
            let mut codecs = Vec::new();
            for name in names {
                let kind =
                    parse_codec(name).with_context(|| format!("{shown}: [media] key 'codecs'"))?;
                if !codecs.contains(&kind) {
                    codecs.push(kind);
                }
            }
            if codecs.is_empty() {
                bail!("{shown}: [media] key 'codecs': the list is empty (pcmu, pcma or opus)");
            }
            s.codecs = codecs;
        }
        if let Some(priority) = &cfg.codec_priority {
            s.codec_priority_local = match priority.to_ascii_lowercase().as_str() {
                "offer" => false,
                "local" => true,
                _ => bail!(
                    "{shown}: [media] key 'codec_priority': unknown value '{priority}' (offer or local)"
                ),
            };
        }
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        let min = cfg.jitter_min_ms.unwrap_or(ms(s.jitter_min));
        let max = cfg.jitter_max_ms.unwrap_or(ms(s.jitter_max).max(min));
        if max > JITTER_CEILING_MS {
            bail!("{shown}: [media] key 'jitter_max_ms': {max} ms is above the {JITTER_CEILING_MS} ms limit");
        }
        if min > max {
            bail!("{shown}: [media] 'jitter_min_ms' ({min}) is above 'jitter_max_ms' ({max})");
        }
        s.jitter_min = Duration::from_millis(u64::from(min));
        s.jitter_max = Duration::from_millis(u64::from(max));
        s.rtp_timeout = cfg
            .rtp_timeout_s
            .filter(|&secs| secs > 0)
            .map(|secs| Duration::from_secs(u64::from(secs)));
        s.opus = opus_adaptation(cfg, shown)?;
        s.comfort_noise = cfg.comfort_noise.unwrap_or(s.comfort_noise);
        s.red = cfg.red.unwrap_or(s.red);
        if let Some(path) = &cfg.denoise_model {
            let model = Model::from_file(path).map_err(|e| match e {
                DenoiseError::ModelIo { .. } => {
                    anyhow!("{shown}: [media] key 'denoise_model': {e}")
                }
                e => anyhow!(
                    "{shown}: [media] key 'denoise_model': {} is not an RNNoise model: {e}",
                    path.display()
                ),
            })?;
            s.denoise_model = Some(Arc::new(model));
        }
        s.read_srtp(cfg, shown)?;
        if let Some(path) = &cfg.music_on_hold {
            let wav = agentphone_audio::wav::read_wav_48k_mono(path)
                .map_err(|e| anyhow!("{shown}: [media] key 'music_on_hold': {e}"))?;
            if wav.samples.is_empty() {
                bail!(
                    "{shown}: [media] key 'music_on_hold': {} holds no audio",
                    path.display()
                );
            }
            s.music_on_hold = Some(Arc::new(wav.samples));
        }
        Ok(s)
    }

    /// `srtp`, `srtp_suites`, `srtp_require_tls`.
    fn read_srtp(&mut self, cfg: &MediaConfig, shown: &str) -> Result<()> {
        if let Some(policy) = &cfg.srtp {
            self.srtp =
                parse_srtp(policy).with_context(|| format!("{shown}: [media] key 'srtp'"))?;
        }
        if let Some(names) = &cfg.srtp_suites {
            let mut suites = Vec::new();
            for name in names {
                let suite = SrtpSuite::from_sdes_name(name).ok_or_else(|| {
                    anyhow!(
                        "{shown}: [media] key 'srtp_suites': unknown suite '{name}' ({})",
                        SrtpSuite::ALL.map(|s| s.sdes_name()).join(", ")
                    )
                })?;
                if !suites.contains(&suite) {
                    suites.push(suite);
                }
            }
            if suites.is_empty() {
                bail!("{shown}: [media] key 'srtp_suites': the list is empty");
            }
            self.srtp_suites = suites;
        }
        self.srtp_require_tls = cfg.srtp_require_tls.unwrap_or(false);
        Ok(())
    }

    /// Music on hold as a looping source, when configured.
    pub fn music_source(&self) -> Option<Box<dyn agentphone_audio::source::AudioSource + Send>> {
        self.music_on_hold.as_ref().map(|m| {
            Box::new(agentphone_audio::source::WavFileSource::from_samples(
                m.to_vec(),
                true,
            )) as Box<dyn agentphone_audio::source::AudioSource + Send>
        })
    }

    /// `--codec NAME`: that codec first, offered even when the config leaves it
    /// out (the tester asked for it by name).
    pub fn prefer(mut self, kind: CodecKind) -> Self {
        self.codecs.retain(|k| *k != kind);
        self.codecs.insert(0, kind);
        self
    }
}

/// Parses an SRTP policy: off, optional or mandatory (any case).
pub fn parse_srtp(name: &str) -> Result<SrtpPolicy> {
    SrtpPolicy::parse(name)
        .ok_or_else(|| anyhow!("unknown SRTP policy '{name}' (off, optional or mandatory)"))
}

/// `opus_bitrate_kbps`, `opus_min_bitrate_kbps`, `opus_dtx`: the bounds the
/// encoder adapts within.
fn opus_adaptation(cfg: &MediaConfig, shown: &str) -> Result<AdaptConfig> {
    let mut a = AdaptConfig::default();
    let kbps = |key: &str, v: Option<u32>, default: i32| -> Result<i32> {
        match v {
            None => Ok(default),
            Some(k) if OPUS_KBPS.contains(&k) => Ok(k as i32 * 1_000),
            Some(k) => bail!(
                "{shown}: [media] key '{key}': {k} kbit/s is outside Opus's {}-{} kbit/s",
                OPUS_KBPS.start(),
                OPUS_KBPS.end()
            ),
        }
    };
    a.max_bitrate = kbps("opus_bitrate_kbps", cfg.opus_bitrate_kbps, a.max_bitrate)?;
    // A lowered maximum brings the default minimum down with it.
    let min_default = a.min_bitrate.min(a.max_bitrate);
    a.min_bitrate = kbps(
        "opus_min_bitrate_kbps",
        cfg.opus_min_bitrate_kbps,
        min_default,
    )?;
    if a.min_bitrate > a.max_bitrate {
        bail!(
            "{shown}: [media] 'opus_min_bitrate_kbps' ({}) is above 'opus_bitrate_kbps' ({})",
            a.min_bitrate / 1_000,
            a.max_bitrate / 1_000
        );
    }
    a.dtx = cfg.opus_dtx.unwrap_or(a.dtx);
    Ok(a)
}

/// Parses a codec name: pcmu, pcma or opus (any case).
pub fn parse_codec(name: &str) -> Result<CodecKind> {
    match name.to_ascii_lowercase().as_str() {
        "pcmu" => Ok(CodecKind::Pcmu),
        "pcma" => Ok(CodecKind::Pcma),
        "opus" => Ok(CodecKind::Opus),
        other => Err(anyhow!("unknown codec '{other}' (pcmu, pcma or opus)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<MediaSettings> {
        let cfg = crate::config::parse(text, std::path::Path::new("agent.toml"))?;
        MediaSettings::from_config(&cfg.media, "agent.toml")
    }

    #[test]
    fn comfort_noise_is_on_unless_switched_off() {
        assert!(config("").unwrap().comfort_noise);
        assert!(
            !config("[media]\ncomfort_noise = false\n")
                .unwrap()
                .comfort_noise
        );
        assert!(config("[media]\ncomfort_noise = \"no\"\n").is_err());
        assert!(config("").unwrap().red);
        assert!(!config("[media]\nred = false\n").unwrap().red);
    }

    #[test]
    fn media_table_sets_codecs_and_jitter_bounds() {
        let s = config("[media]\ncodecs = [\"opus\", \"PCMA\", \"opus\"]\njitter_min_ms = 40\njitter_max_ms = 400\nrtp_timeout_s = 30\n").unwrap();
        assert_eq!(s.rtp_timeout, Some(Duration::from_secs(30)));
        assert_eq!(s.codecs, [CodecKind::Opus, CodecKind::Pcma]);
        assert_eq!(s.jitter_min, Duration::from_millis(40));
        assert_eq!(s.jitter_max, Duration::from_millis(400));
        let s = config("").unwrap();
        assert_eq!(
            s.codecs,
            [CodecKind::Pcmu, CodecKind::Pcma, CodecKind::Opus]
        );
        assert_eq!(s.jitter_max, Duration::from_millis(200));
        assert_eq!(s.rtp_timeout, None);
        assert!(
            !s.codec_priority_local,
            "answers follow the offer by default"
        );
        assert!(
            config("[media]\ncodec_priority = \"local\"\n")
                .unwrap()
                .codec_priority_local
        );
        assert!(
            !config("[media]\ncodec_priority = \"Offer\"\n")
                .unwrap()
                .codec_priority_local
        );
        assert_eq!(
            config("[media]\nrtp_timeout_s = 0\n").unwrap().rtp_timeout,
            None
        );
        assert_eq!(s.opus, AdaptConfig::default());
        // A raised minimum lifts the default maximum with it.
        let s = config("[media]\njitter_min_ms = 300\n").unwrap();
        assert_eq!(s.jitter_max, Duration::from_millis(300));
    }

    #[test]
    fn srtp_settings() {
        let s = config("").unwrap();
        assert_eq!((s.srtp, s.srtp_require_tls), (SrtpPolicy::Off, false));
        assert_eq!(s.srtp_suites, SrtpSuite::ALL);
        let s = config(
            "[media]\nsrtp = \"Mandatory\"\nsrtp_suites = [\"AEAD_AES_128_GCM\"]\nsrtp_require_tls = true\n",
        )
        .unwrap();
        assert_eq!(s.srtp, SrtpPolicy::Mandatory);
        assert_eq!(s.srtp_suites, [SrtpSuite::AeadAes128Gcm]);
        assert!(s.srtp_require_tls);
    }

    #[test]
    fn prefer_moves_or_adds_the_codec_first() {
        let s = config("[media]\ncodecs = [\"pcma\"]\n").unwrap();
        assert_eq!(
            s.clone().prefer(CodecKind::Opus).codecs,
            [CodecKind::Opus, CodecKind::Pcma]
        );
        assert_eq!(s.prefer(CodecKind::Pcma).codecs, [CodecKind::Pcma]);
    }

    #[test]
    fn denoise_model_is_loaded_at_start_or_refused_with_the_file_named() {
        let weights = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crates/audio/src/denoise/weights.rnn"
        );
        let s = config(&format!("[media]\ndenoise_model = \"{weights}\"\n")).unwrap();
        assert!(s.denoise_model.is_some());
        let garbage =
            std::env::temp_dir().join(format!("agentphone-bad-model-{}", std::process::id()));
        std::fs::write(&garbage, b"not a model").unwrap();
        let e = config(&format!(
            "[media]\ndenoise_model = \"{}\"\n",
            garbage.display()
        ))
        .map(|_| ())
        .unwrap_err();
        let _ = std::fs::remove_file(&garbage);
        let e = format!("{e:#}");
        assert!(
            e.contains("is not an RNNoise model") && e.contains(&garbage.display().to_string()),
            "{e}"
        );
    }

    #[test]
    fn bad_media_settings_name_the_file_and_key() {
        let msg = |t: &str| match config(t) {
            Ok(_) => panic!("accepted: {t}"),
            Err(e) => format!("{e:#}"),
        };
        let e = msg("[media]\ncodecs = [\"g729\"]\n");
        assert!(
            e.contains("agent.toml") && e.contains("codecs") && e.contains("g729"),
            "{e}"
        );
        let e = msg("[media]\ncodecs = []\n");
        assert!(e.contains("empty"), "{e}");
        let e = msg("[media]\njitter_min_ms = 100\njitter_max_ms = 50\n");
        assert!(
            e.contains("jitter_min_ms") && e.contains("jitter_max_ms"),
            "{e}"
        );
        let e = msg("[media]\njitter_max_ms = 5000\n");
        assert!(e.contains("1000 ms"), "{e}");
        let e = msg("[media]\ndenoise_model = \"/nonexistent/model.rnnn\"\n");
        assert!(
            e.contains("denoise_model") && e.contains("/nonexistent/model.rnnn"),
            "{e}"
        );
        let e = msg("[media]\ncodec_priority = \"remote\"\n");
        assert!(
            e.contains("agent.toml") && e.contains("codec_priority") && e.contains("remote"),
            "{e}"
        );
        // A wrong type is caught by the TOML reader, which names file and line.
        let e = msg("[media]\ncodec_priority = 1\n");
        assert!(e.contains("agent.toml:2"), "{e}");
        let e = msg("[media]\nsrtp = \"always\"\n");
        assert!(e.contains("'srtp'") && e.contains("always"), "{e}");
        let e = msg("[media]\nsrtp_suites = [\"AES_256_CM_HMAC_SHA1_80\"]\n");
        assert!(e.contains("srtp_suites") && e.contains("AES_256"), "{e}");
        let e = msg("[media]\nptime = 30\n");
        assert!(e.contains("agent.toml") && e.contains("ptime"), "{e}");
    }

    #[test]
    fn opus_bit_rate_bounds_and_dtx_come_from_the_media_table() {
        let s = config(
            "[media]\nopus_bitrate_kbps = 40\nopus_min_bitrate_kbps = 16\nopus_dtx = true\n",
        )
        .unwrap();
        assert_eq!(
            (s.opus.max_bitrate, s.opus.min_bitrate, s.opus.dtx),
            (40_000, 16_000, true)
        );
        // Below the default minimum, the maximum takes the minimum with it.
        let s = config("[media]\nopus_bitrate_kbps = 12\n").unwrap();
        assert_eq!((s.opus.max_bitrate, s.opus.min_bitrate), (12_000, 12_000));
        let Err(e) = config("[media]\nopus_bitrate_kbps = 600\n") else {
            panic!("600 kbit/s must be refused");
        };
        assert!(
            format!("{e:#}").contains("agent.toml: [media] key 'opus_bitrate_kbps': 600 kbit/s"),
            "{e:#}"
        );
        let Err(e) = config("[media]\nopus_bitrate_kbps = 32\nopus_min_bitrate_kbps = 48\n") else {
            panic!("a minimum above the maximum must be refused");
        };
        assert!(
            format!("{e:#}").contains("is above 'opus_bitrate_kbps'"),
            "{e:#}"
        );
    }
}
