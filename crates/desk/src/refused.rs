//! The one error every rule produces: which rule refused, and why in words an
//! agent understands.

/// An agent's request that a rule does not allow. Displayed as
/// `refused by R-XX-n: reason`, so the rule id reaches the agent and the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by {rule}: {reason}")]
pub struct Refused {
    /// The rule's id in the call-handling spec, e.g. `R-NR-2`.
    pub rule: &'static str,
    /// What was refused and why.
    pub reason: String,
}
