//! The agent's noise-reduction switches on `call` and `answer`, checked against
//! the account's configuration by the desk rules (R-NR-2).

use crate::config::Account;
use crate::media::CleanAudio;
use agentphone_desk::noise::{NoiseState, NoiseTarget};
use anyhow::Result;

/// Noise-reduction flags; absent flags keep what the account configures.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NoiseArgs {
    /// Remove background noise from what you hear (R-NR-3).
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    pub denoise: Option<bool>,
    /// Remove background noise from your own audio before it is sent.
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    pub denoise_mic: Option<bool>,
}

impl NoiseArgs {
    /// The effective setting: the account's policy, then the agent's requests.
    /// A request the configuration locks out is an error naming R-NR-2.
    pub fn resolve(&self, account: Option<&Account>) -> Result<CleanAudio> {
        let mut state = NoiseState::new(account.map(|a| a.noise).unwrap_or_default());
        if let Some(on) = self.denoise {
            state.request(NoiseTarget::Inbound, on)?;
        }
        if let Some(on) = self.denoise_mic {
            state.request(NoiseTarget::Microphone, on)?;
        }
        Ok(CleanAudio {
            inbound: state.inbound(),
            microphone: state.microphone(),
            switchable: false,
        })
    }
}

fn parse_switch(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        other => Err(format!("'{other}' is not on or off")),
    }
}
