//! The administrator's settings for the desk (`[desk]` in the config file;
//! the binary parses and checks the file, this is the checked result).

use crate::noise::NoisePolicy;
use std::time::Duration;

/// What an incoming REFER gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReferPolicy {
    /// 603 at once.
    Reject,
    /// 202 at once, then the agent decides; a refusal or `refer_ask_timeout`
    /// ends it with NOTIFY sipfrag 603.
    #[default]
    Ask,
    /// Followed at once when the target matches `refer_allow`, else `Ask`.
    Accept,
}

/// One call variable (R-OFFER-6): which INVITE header it comes from and how it
/// is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableSpec {
    /// The SIP header name (case-insensitive), e.g. `X-CAD-Account`.
    pub header: String,
    /// The label shown.
    pub label: String,
    /// Never sent to the controls (R-OFFER-6, R-CAD-1).
    pub secure: bool,
}

/// The desk's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DeskConfig {
    /// Ring timer of each offer (R-OFFER-2). Default 20 s.
    pub ring_timeout: Duration,
    /// Final response when the ring timer runs out (RONA). Default 480.
    pub rona_code: u16,
    /// Final response to an offer while the agent is not available. Default 480.
    pub unavailable_code: u16,
    /// Final response when the agent declines. Default 603.
    pub decline_code: u16,
    /// The idle reasons the agent may pick; the first is used by the desk
    /// itself (ring timeout). Default `["Break", "Lunch", "Meeting", "Missed call"]`.
    pub idle_reasons: Vec<String>,
    /// The reason set on a ring timeout (R-OFFER-2). Default "Missed call".
    pub rona_reason: String,
    /// The state at start: None = available, Some(reason) = idle.
    pub start_idle: Option<String>,
    /// Wrap-up reasons (R-END-2); empty means no wrap-up step.
    pub wrapup_reasons: Vec<String>,
    /// After wrap-up: None = available, Some(reason) = idle with it.
    pub after_wrapup_idle: Option<String>,
    /// Call variables, in display order (R-OFFER-6).
    pub variables: Vec<VariableSpec>,
    /// Sensitive-data protection (R-OFFER-8): callers show their last four
    /// digits only.
    pub sensitive_data: bool,
    /// Incoming REFER policy.
    pub refer_policy: ReferPolicy,
    /// Targets accepted without asking under `Accept`: a target matches when
    /// its host part equals one of these (case-insensitive).
    pub refer_allow: Vec<String>,
    /// How long an `Ask` REFER waits for the agent. Default 30 s.
    pub refer_ask_timeout: Duration,
    /// Answer offers at once (testers, headsets).
    pub auto_answer: bool,
    /// Record every call (R-REC-1).
    pub record: bool,
    /// A paused recording resumes by itself after this (R-REC-2). Default 60 s.
    pub record_pause_max: Duration,
    /// Noise removal (R-NR-2/3).
    pub noise: NoisePolicy,
    /// Conference size, agent and customer included (R-CONF-2). Default 8.
    pub max_participants: usize,
}

impl Default for DeskConfig {
    fn default() -> Self {
        DeskConfig {
            ring_timeout: Duration::from_secs(20),
            rona_code: 480,
            unavailable_code: 480,
            decline_code: 603,
            idle_reasons: ["Break", "Lunch", "Meeting", "Missed call"]
                .map(String::from)
                .to_vec(),
            rona_reason: "Missed call".into(),
            start_idle: None,
            wrapup_reasons: Vec::new(),
            after_wrapup_idle: None,
            variables: Vec::new(),
            sensitive_data: false,
            refer_policy: ReferPolicy::Ask,
            refer_allow: Vec::new(),
            refer_ask_timeout: Duration::from_secs(30),
            auto_answer: false,
            record: false,
            record_pause_max: Duration::from_secs(60),
            noise: NoisePolicy::default(),
            max_participants: 8,
        }
    }
}
