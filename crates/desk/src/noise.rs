//! Noise reduction per account (R-NR-2) and where it applies (R-NR-3).
//!
//! The administrator's configuration decides, per account, whether the audio the
//! agent hears from each inbound leg is cleaned, whether the agent's microphone is
//! cleaned too, and whether the agent may switch it off. The agent's controls ask
//! for on or off; a request to switch off what the configuration locks on is
//! refused naming R-NR-2, and nothing changes.

use crate::Refused;

/// What the administrator configured for one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoisePolicy {
    /// Clean what the agent hears from each inbound leg (R-NR-3).
    pub inbound: bool,
    /// Clean the agent's own microphone before it is sent (R-NR-3, "where
    /// configured").
    pub microphone: bool,
    /// The agent may not switch noise reduction off (R-NR-2). Only meaningful
    /// for what is on: a locked policy with `inbound` off locks nothing there.
    pub locked: bool,
}

/// Which audio a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseTarget {
    /// What the agent hears from the far end(s).
    Inbound,
    /// The agent's microphone.
    Microphone,
}

impl std::fmt::Display for NoiseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoiseTarget::Inbound => "noise reduction on what the agent hears",
            NoiseTarget::Microphone => "noise reduction on the agent's microphone",
        })
    }
}

/// The effective setting of one call or of the agent's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoiseState {
    policy: NoisePolicy,
    inbound: bool,
    microphone: bool,
}

impl NoiseState {
    /// Starts from what the administrator configured.
    pub fn new(policy: NoisePolicy) -> Self {
        NoiseState {
            policy,
            inbound: policy.inbound,
            microphone: policy.microphone,
        }
    }

    /// Whether inbound legs are cleaned now.
    pub fn inbound(&self) -> bool {
        self.inbound
    }

    /// Whether the agent's microphone is cleaned now.
    pub fn microphone(&self) -> bool {
        self.microphone
    }

    /// The agent asks to switch `target` on or off. Switching off what the
    /// configuration locks on is refused (R-NR-2) and leaves the state as it was.
    /// Switching on is always allowed: the agent may want more cleaning than the
    /// default, never less than the lock.
    pub fn request(&mut self, target: NoiseTarget, on: bool) -> Result<(), Refused> {
        let configured = match target {
            NoiseTarget::Inbound => self.policy.inbound,
            NoiseTarget::Microphone => self.policy.microphone,
        };
        if !on && self.policy.locked && configured {
            return Err(Refused {
                rule: "R-NR-2",
                reason: format!(
                    "{target} is locked on by the account configuration; \
                     only the administrator can switch it off"
                ),
            });
        }
        match target {
            NoiseTarget::Inbound => self.inbound = on,
            NoiseTarget::Microphone => self.microphone = on,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(inbound: bool, microphone: bool, locked: bool) -> NoisePolicy {
        NoisePolicy {
            inbound,
            microphone,
            locked,
        }
    }

    #[test]
    fn starts_from_the_configuration() {
        let s = NoiseState::new(policy(true, false, false));
        assert!(s.inbound());
        assert!(!s.microphone());
    }

    #[test]
    fn unlocked_can_be_switched_both_ways() {
        let mut s = NoiseState::new(policy(true, true, false));
        s.request(NoiseTarget::Inbound, false).unwrap();
        s.request(NoiseTarget::Microphone, false).unwrap();
        assert!(!s.inbound() && !s.microphone());
        s.request(NoiseTarget::Inbound, true).unwrap();
        assert!(s.inbound());
    }

    #[test]
    fn locked_on_refuses_off_naming_the_rule_and_changes_nothing() {
        let mut s = NoiseState::new(policy(true, false, true));
        let err = s.request(NoiseTarget::Inbound, false).unwrap_err();
        assert_eq!(err.rule, "R-NR-2");
        assert!(err.to_string().starts_with("refused by R-NR-2: "), "{err}");
        assert!(err.to_string().contains("what the agent hears"), "{err}");
        assert!(s.inbound(), "a refused request must not change the setting");
    }

    #[test]
    fn lock_covers_only_what_is_configured_on() {
        // The microphone is configured off: the lock does not force it, and the
        // agent may switch it on and off again.
        let mut s = NoiseState::new(policy(true, false, true));
        s.request(NoiseTarget::Microphone, true).unwrap();
        s.request(NoiseTarget::Microphone, false).unwrap();
        assert!(!s.microphone());
        // Switching the locked one on again is not a refusal.
        s.request(NoiseTarget::Inbound, true).unwrap();
    }
}
