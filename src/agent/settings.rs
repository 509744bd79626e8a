//! `[desk]` in the config file: the administrator's call-handling settings,
//! checked into the desk core's [`DeskConfig`]. Errors name the file and key.

use agentphone_desk::noise::NoisePolicy;
use agentphone_desk::{DeskConfig, ReferPolicy, VariableSpec};
use anyhow::{bail, Result};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The `[desk]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskSection {
    /// Ring timer of each offer in seconds (R-OFFER-2; default 20).
    pub ring_timeout_s: Option<u32>,
    /// Final response on ring timeout (RONA; default 480).
    pub rona_code: Option<u16>,
    /// Final response while the agent is not available (default 480).
    pub unavailable_code: Option<u16>,
    /// Final response when the agent declines (default 603).
    pub decline_code: Option<u16>,
    /// Idle reasons the agent picks from.
    pub idle_reasons: Option<Vec<String>>,
    /// The idle reason a ring timeout sets (default "Missed call").
    pub rona_reason: Option<String>,
    /// Start idle with this reason instead of available.
    pub start_idle_reason: Option<String>,
    /// Wrap-up reasons (R-END-2); none configured means no wrap-up step.
    pub wrapup_reasons: Option<Vec<String>>,
    /// After wrap-up go idle with this reason instead of available.
    pub after_wrapup_idle_reason: Option<String>,
    /// Call variables shown with offers (R-OFFER-6), in order.
    #[serde(default)]
    pub variables: Vec<VariableSection>,
    /// Show only the last four digits of callers (R-OFFER-8).
    pub sensitive_data: Option<bool>,
    /// Incoming REFER: `ask` (default), `accept`, `reject`.
    pub refer: Option<String>,
    /// Hosts whose REFER targets `accept` follows without asking.
    pub refer_allow: Option<Vec<String>>,
    /// How long a REFER waits for the agent, in seconds (default 30).
    pub refer_ask_timeout_s: Option<u32>,
    /// Answer offers at once.
    pub auto_answer: Option<bool>,
    /// Record every call (R-REC-1) into `record_dir`.
    pub record: Option<bool>,
    /// Where recordings go (default: the current directory).
    pub record_dir: Option<PathBuf>,
    /// A paused recording resumes by itself after this many seconds (R-REC-2;
    /// default 60).
    pub record_pause_max_s: Option<u32>,
    /// Conference size, agent and customer included (R-CONF-2; 3 to 8,
    /// default 8).
    pub max_participants: Option<usize>,
}

/// One `[[desk.variables]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSection {
    /// The INVITE header it comes from, e.g. `X-CAD-Account`.
    pub header: String,
    /// The label shown (default: the header name).
    pub label: Option<String>,
    /// Never shown to the controls.
    #[serde(default)]
    pub secure: bool,
}

/// The checked `[desk]`: the core's settings and where recordings go.
pub struct DeskSettings {
    /// For the core.
    pub desk: DeskConfig,
    /// Recording directory.
    pub record_dir: PathBuf,
}

impl DeskSection {
    /// Checks every value; `shown` names the file in errors.
    pub fn resolve(&self, shown: &str, noise: NoisePolicy) -> Result<DeskSettings> {
        let mut d = DeskConfig::default();
        let key = |k: &str| format!("{shown}: [desk] key '{k}'");
        if let Some(s) = self.ring_timeout_s {
            if !(1..=600).contains(&s) {
                bail!(
                    "{}: {s} s is not between 1 and 600 s",
                    key("ring_timeout_s")
                );
            }
            d.ring_timeout = Duration::from_secs(u64::from(s));
        }
        for (name, value, slot) in [
            ("rona_code", self.rona_code, &mut d.rona_code),
            (
                "unavailable_code",
                self.unavailable_code,
                &mut d.unavailable_code,
            ),
            ("decline_code", self.decline_code, &mut d.decline_code),
        ] {
            if let Some(code) = value {
                if !(400..=699).contains(&code) {
                    bail!(
                        "{}: {code} is not a final failure status (400-699)",
                        key(name)
                    );
                }
                *slot = code;
            }
        }
        if let Some(r) = &self.idle_reasons {
            if r.is_empty() || r.iter().any(|s| s.trim().is_empty()) {
                bail!(
                    "{}: give at least one reason, none empty",
                    key("idle_reasons")
                );
            }
            d.idle_reasons = r.clone();
        }
        if let Some(r) = &self.rona_reason {
            d.rona_reason = r.clone();
        }
        if !d.idle_reasons.contains(&d.rona_reason) {
            d.idle_reasons.push(d.rona_reason.clone());
        }
        for (name, value, slot) in [
            (
                "start_idle_reason",
                &self.start_idle_reason,
                &mut d.start_idle,
            ),
            (
                "after_wrapup_idle_reason",
                &self.after_wrapup_idle_reason,
                &mut d.after_wrapup_idle,
            ),
        ] {
            if let Some(r) = value {
                if !d.idle_reasons.contains(r) {
                    bail!(
                        "{}: '{r}' is not one of idle_reasons {:?}",
                        key(name),
                        d.idle_reasons
                    );
                }
                *slot = Some(r.clone());
            }
        }
        if let Some(w) = &self.wrapup_reasons {
            if w.iter().any(|s| s.trim().is_empty()) {
                bail!("{}: a reason is empty", key("wrapup_reasons"));
            }
            d.wrapup_reasons = w.clone();
        }
        let shown_vars = self.variables.iter().filter(|v| !v.secure).count();
        if shown_vars > 6 {
            bail!(
                "{}: {shown_vars} variables are shown, at most 6 may be (R-OFFER-6)",
                key("variables")
            );
        }
        for v in &self.variables {
            if v.header.is_empty() || !v.header.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                bail!(
                    "{}: '{}' is not a SIP header name",
                    key("variables"),
                    v.header
                );
            }
        }
        d.variables = self
            .variables
            .iter()
            .map(|v| VariableSpec {
                header: v.header.clone(),
                label: v.label.clone().unwrap_or_else(|| v.header.clone()),
                secure: v.secure,
            })
            .collect();
        d.sensitive_data = self.sensitive_data.unwrap_or(false);
        d.refer_policy = match self.refer.as_deref() {
            None | Some("ask") => ReferPolicy::Ask,
            Some("accept") => ReferPolicy::Accept,
            Some("reject") => ReferPolicy::Reject,
            Some(other) => bail!("{}: '{other}' is not ask, accept or reject", key("refer")),
        };
        d.refer_allow = self.refer_allow.clone().unwrap_or_default();
        if let Some(s) = self.refer_ask_timeout_s {
            if !(1..=600).contains(&s) {
                bail!(
                    "{}: {s} s is not between 1 and 600 s",
                    key("refer_ask_timeout_s")
                );
            }
            d.refer_ask_timeout = Duration::from_secs(u64::from(s));
        }
        d.auto_answer = self.auto_answer.unwrap_or(false);
        d.record = self.record.unwrap_or(false);
        if let Some(s) = self.record_pause_max_s {
            if !(1..=3600).contains(&s) {
                bail!(
                    "{}: {s} s is not between 1 and 3600 s",
                    key("record_pause_max_s")
                );
            }
            d.record_pause_max = Duration::from_secs(u64::from(s));
        }
        if let Some(n) = self.max_participants {
            if !(3..=agentphone_audio::mixer::MAX_PARTICIPANTS).contains(&n) {
                bail!(
                    "{}: {n} is not between 3 and {} (R-CONF-2)",
                    key("max_participants"),
                    agentphone_audio::mixer::MAX_PARTICIPANTS
                );
            }
            d.max_participants = n;
        }
        d.noise = noise;
        Ok(DeskSettings {
            desk: d,
            record_dir: self
                .record_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(".")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn desk(text: &str) -> Result<DeskSettings> {
        crate::config::parse(text, Path::new("d.toml"))?
            .desk
            .resolve("d.toml", NoisePolicy::default())
    }

    #[test]
    fn defaults_are_the_cores() {
        let d = desk("").unwrap().desk;
        assert_eq!(d.ring_timeout, Duration::from_secs(20));
        assert_eq!(d.rona_code, 480);
        assert_eq!(d.refer_policy, ReferPolicy::Ask);
    }

    #[test]
    fn values_are_read_and_checked_naming_file_and_key() {
        let d = desk(
            "[desk]\nring_timeout_s = 5\nrona_code = 486\nidle_reasons = [\"Break\"]\n\
             wrapup_reasons = [\"Sale\", \"No sale\"]\nrefer = \"accept\"\n\
             refer_allow = [\"example.com\"]\n\
             [[desk.variables]]\nheader = \"X-CAD-Account\"\nlabel = \"Account\"\n\
             [[desk.variables]]\nheader = \"X-CAD-Pin\"\nsecure = true\n",
        )
        .unwrap()
        .desk;
        assert_eq!(d.ring_timeout, Duration::from_secs(5));
        assert_eq!(d.rona_code, 486);
        assert_eq!(d.wrapup_reasons, ["Sale", "No sale"]);
        assert_eq!(d.refer_policy, ReferPolicy::Accept);
        assert_eq!(d.variables[0].label, "Account");
        assert!(d.variables[1].secure);
        assert!(d.idle_reasons.contains(&"Missed call".to_string()));
        for (text, what) in [
            ("[desk]\nring_timeout_s = 0\n", "'ring_timeout_s'"),
            ("[desk]\nrona_code = 200\n", "'rona_code'"),
            ("[desk]\nrefer = \"maybe\"\n", "'refer'"),
            (
                "[desk]\nstart_idle_reason = \"Nap\"\n",
                "'start_idle_reason'",
            ),
            ("[desk]\nmax_participants = 9\n", "'max_participants'"),
        ] {
            let e = desk(text).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                e.starts_with("d.toml: [desk] key ") && e.contains(what),
                "{text}: {e}"
            );
        }
        let e = desk("[desk]\nring_timeout = 5\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("d.toml:2:"), "{e}");
    }
}
