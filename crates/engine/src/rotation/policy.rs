//! The engine's knobs ([`Policy`]), from the function's settings.

use crate::config::Settings;
use std::time::Duration;

/// The engine's knobs (from [`Settings`]).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Rotate when the secret expires within this many days.
    pub threshold_days: i64,
    /// Lifetime of a new secret, before the tenant's policy caps it.
    pub secret_lifetime_days: i64,
    /// Longest wait for Entra to accept a new secret.
    pub propagation_timeout: Duration,
    /// Consecutive acceptances required.
    pub propagation_successes: u32,
    /// Also alert on success.
    pub alert_on_success: bool,
    /// Our credentials that no secret version holds are removed once older than this (a younger
    /// one may belong to a rotation in flight in another process).
    pub orphan_min_age: chrono::Duration,
    /// How long an attempt holds the target's lease (see [`super::lease`]).
    pub lease: chrono::Duration,
    /// The longest one outbound call may take with its retries (three times HTTP_TIMEOUT_SECS,
    /// as the AWS SDK's operation timeout): a holder goes on only with more lease left than this.
    pub call_budget: chrono::Duration,
    /// The old credential stays valid this long after a switch (emergencies ignore it).
    pub retire_grace: chrono::Duration,
    /// Keep the old credential until the new one is seen signing in (emergencies ignore it).
    pub retire_after_observed_use: bool,
    /// Alert when the new credential is not seen in use this many days after the switch.
    pub observed_use_alert_days: i64,
    /// After an emergency, how long to ask Entra with the revoked secret until it is refused
    /// (zero: not asked).
    pub revocation_proof_timeout: Duration,
    /// What a rotation needs beyond the propagation wait and the verification window, and what
    /// the check keeps for its reporting before an invocation's deadline.
    pub deadline_margin: Duration,
    /// One Entra or Graph call at the retry policy's worst ([`Settings::worst_call`]); the
    /// rollback's calls take `http_timeout` each (see [`budget::Budget`]).
    pub worst_call: Duration,
    /// `HTTP_TIMEOUT_SECS`: one attempt of any outbound call.
    pub http_timeout: Duration,
}

impl Policy {
    /// The policy the settings describe.
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            threshold_days: s.threshold_days,
            secret_lifetime_days: s.secret_lifetime_days,
            propagation_timeout: s.propagation_timeout,
            propagation_successes: s.propagation_successes,
            alert_on_success: s.alert_on_success,
            orphan_min_age: chrono::Duration::from_std(s.orphan_min_age)
                .unwrap_or(chrono::Duration::minutes(10)),
            lease: chrono::Duration::from_std(s.rotation_lease)
                .unwrap_or(chrono::Duration::minutes(15)),
            call_budget: chrono::Duration::from_std(s.http_timeout * 3)
                .unwrap_or(chrono::Duration::seconds(90)),
            retire_grace: chrono::Duration::from_std(s.retire_grace).unwrap_or_default(),
            retire_after_observed_use: s.retire_after_observed_use,
            observed_use_alert_days: s.observed_use_alert_days,
            revocation_proof_timeout: s.revocation_proof_timeout,
            deadline_margin: s.deadline_margin,
            worst_call: s.worst_call(),
            http_timeout: s.http_timeout,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::from_settings(&Settings::default())
    }
}
