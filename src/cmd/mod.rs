//! Subcommands: each file is one verb of the CLI.
pub mod account;
pub mod answer;
pub mod call;
pub mod ctl;
pub mod demo;
pub mod denoise;
pub mod noise;
pub mod register;
pub mod signals;
pub mod tls_server;
pub mod transfer;

/// What `call` and `answer` take from the config file, read once (a missing
/// default file is an empty config): the account the flags select, and the
/// `[media]` settings with `--codec` moved to the front and `--srtp` over
/// `[media] srtp`.
pub(crate) async fn account_and_media(
    config: Option<&std::path::Path>,
    account: &account::AccountArgs,
    (codec, srtp): (Option<&str>, Option<&str>),
) -> anyhow::Result<RunConfig> {
    let cfg = crate::config::load(config)?;
    let shown = crate::config::shown_path(config);
    let dns = account.resolver(&cfg, &shown)?;
    let account = account.resolve_in(&cfg, &shown, &dns).await?;
    let settings = crate::media::MediaSettings::from_config(&cfg.media, &shown)?;
    let mut media = match codec {
        Some(name) => settings.prefer(crate::media::parse_codec(name)?),
        None => settings,
    };
    if let Some(policy) = srtp {
        media.srtp = crate::media::parse_srtp(policy)?;
    }
    let session_timer = cfg.sip.session_timer(&shown)?;
    let admission = cfg.sip.admission(&shown)?;
    let limits = cfg.sip.limits(&shown)?;
    let net = account::net_options(account.as_ref(), &cfg.sip, &shown)?;
    Ok(RunConfig {
        account,
        media,
        session_timer,
        admission,
        limits,
        net,
        dns,
    })
}

/// What a run of `call` or `answer` takes from the config file.
pub(crate) struct RunConfig {
    pub(crate) account: Option<crate::config::Account>,
    pub(crate) media: crate::media::MediaSettings,
    pub(crate) session_timer: agentphone_sip::session::SessionTimerConfig,
    /// `[sip] accept_calls_from` and `max_concurrent_calls`.
    pub(crate) admission: (crate::config::AcceptFrom, usize),
    /// `[sip]` transport limits.
    pub(crate) limits: crate::net::Limits,
    /// TLS and keep-alive settings.
    pub(crate) net: crate::net::NetOptions,
    /// The run's resolver (RFC 3263), for targets named by domain.
    pub(crate) dns: std::sync::Arc<crate::net::dns::Resolver>,
}

/// The policy for new INVITEs (`[sip]`, `--max-concurrent`): with an
/// account and `accept_calls_from = "proxy"`, only from its registrar and
/// only for its user; without, from anyone, which is said at start.
pub(crate) fn admission(
    account: Option<&crate::config::Account>,
    (from, max): (crate::config::AcceptFrom, usize),
    max_flag: Option<usize>,
    limits: &crate::net::Limits,
) -> agentphone_sip::Admission {
    let max_calls = max_flag.unwrap_or(max);
    let (accept_from, for_user) = match (account, from) {
        (Some(a), crate::config::AcceptFrom::Proxy) => {
            println!(
                "taking calls for {} from the registrar only ({})",
                a.user,
                a.registrar_ips
                    .iter()
                    .map(|ip| ip.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            (Some(a.registrar_ips.clone()), Some(a.user.clone()))
        }
        _ => {
            println!(
                "taking calls from any address (no registrar, or accept_calls_from = \"any\")"
            );
            (None, None)
        }
    };
    agentphone_sip::Admission {
        accept_from,
        for_user,
        max_calls,
        max_transactions: limits.max_server_transactions,
        ..Default::default()
    }
}

/// Starts the process's media engine: on the sound card `device` (`default`
/// or part of a name), else on the null clock; with the configured music on
/// hold. A card that cannot open fails here, before any SIP.
pub(crate) fn start_engine(
    device: Option<&str>,
    settings: &crate::media::MediaSettings,
) -> anyhow::Result<crate::media::MediaEngine> {
    use anyhow::Context;
    let backend = match device {
        Some(d) => crate::audio_io::AudioBackend::Device {
            name: (d != "default").then(|| d.to_owned()),
        },
        None => crate::audio_io::AudioBackend::Null,
    };
    let engine = crate::media::MediaEngine::start(backend).with_context(|| match device {
        Some(d) => format!("cannot open audio device '{d}'"),
        None => "cannot start the media engine".to_string(),
    })?;
    if let Some(source) = settings.music_source() {
        engine.send(agentphone_engine::Command::MusicOnHold {
            source: Some(source),
        })?;
    }
    Ok(engine)
}

/// Sleeps until `t`, or forever when there is nothing to wait for (a disabled
/// branch of a `select!` loop).
pub(crate) async fn sleep_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
