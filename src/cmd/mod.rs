//! Subcommands: each file is one verb of the CLI.
pub mod account;
pub mod answer;
pub mod call;
pub mod demo;
pub mod denoise;
pub mod noise;
pub mod register;
pub mod signals;

/// The run's media settings: `[media]` of the config file (missing default
/// file: the defaults), with `--codec` moved to the front.
fn media_settings(
    config: Option<&std::path::Path>,
    codec: Option<&str>,
) -> anyhow::Result<crate::media::MediaSettings> {
    let cfg = crate::config::load(config)?;
    let settings =
        crate::media::MediaSettings::from_config(&cfg.media, &crate::config::shown_path(config))?;
    Ok(match codec {
        Some(name) => settings.prefer(crate::media::parse_codec(name)?),
        None => settings,
    })
}

/// Sleeps until `t`, or forever when there is nothing to wait for (a disabled
/// branch of a `select!` loop).
async fn sleep_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
