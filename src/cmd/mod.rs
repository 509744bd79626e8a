//! Subcommands: each file is one verb of the CLI.
pub mod account;
pub mod answer;
pub mod call;
pub mod demo;
pub mod denoise;
pub mod noise;
pub mod register;
pub mod signals;

/// What `call` and `answer` take from the config file, read once (a missing
/// default file is an empty config): the account the flags select, and the
/// `[media]` settings with `--codec` moved to the front.
fn account_and_media(
    config: Option<&std::path::Path>,
    account: &account::AccountArgs,
    codec: Option<&str>,
) -> anyhow::Result<(Option<crate::config::Account>, crate::media::MediaSettings)> {
    let cfg = crate::config::load(config)?;
    let shown = crate::config::shown_path(config);
    let account = account.resolve_in(&cfg, &shown)?;
    let settings = crate::media::MediaSettings::from_config(&cfg.media, &shown)?;
    let settings = match codec {
        Some(name) => settings.prefer(crate::media::parse_codec(name)?),
        None => settings,
    };
    Ok((account, settings))
}

/// Sleeps until `t`, or forever when there is nothing to wait for (a disabled
/// branch of a `select!` loop).
async fn sleep_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
