//! What a rotation reports: how it ended, and what it left, for the CLI's output, the Lambda's
//! response and the alerts.

use super::rollback::RolledBack;
use super::{RotateRequest, Step};
use serde::Serialize;

/// How a rotation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A new secret is in Jamf Pro and `AWSCURRENT`; the old one is retired.
    Rotated,
    /// A rotation found half done was completed.
    Resumed,
    /// Another rotation of the same target completed while this one waited; nothing more done.
    AlreadyRotated,
    /// The rotation failed and was undone: Jamf Pro is on the old secret.
    RolledBack,
    /// The rotation failed; see `error` and `rollback` for the state left.
    Failed,
}

impl Outcome {
    /// True when the rotation is done: rotated, resumed to its end, or found done by another.
    pub fn succeeded(self) -> bool {
        matches!(
            self,
            Outcome::Rotated | Outcome::Resumed | Outcome::AlreadyRotated
        )
    }
}

/// The result of one rotation, for the CLI's output, the Lambda's response and alerts.
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    /// The target's secret id.
    pub secret_id: String,
    /// Jamf host and target kind.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The rotation's token (the new version id).
    pub token: Option<String>,
    /// Why it ran.
    pub reason: String,
    /// The key id that was current before.
    pub old_key_id: Option<String>,
    /// The new key id (absent when none was created).
    pub new_key_id: Option<String>,
    /// When the new secret expires.
    pub new_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// True when the old credential is gone from the app.
    pub old_removed: bool,
    /// Why the old credential is kept for now (grace period, observed-use gate).
    pub old_retire_pending: Option<String>,
    /// True when Jamf Pro's own test passed with the new secret.
    pub jamf_accepts_new: bool,
    /// Credentials left on the app afterwards.
    pub app_credentials: Option<usize>,
    /// Wall time.
    pub elapsed_ms: i64,
    /// The step that failed.
    pub failed_step: Option<Step>,
    /// The error (never a secret).
    pub error: Option<String>,
    /// Error class: `entra`, `jamf`, `secrets-manager`, `propagation`, ….
    pub error_class: Option<String>,
    /// The one thing the operator should do.
    pub advice: Option<String>,
    /// What the rollback did.
    pub rollback: Option<RolledBack>,
    /// After an emergency: whether Entra refuses the revoked secret, and how soon
    /// ([`super::revocation`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Vec<RevocationProof>>,
    /// A lockdown's rotations of its sibling targets (on the same app registration).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub siblings: Vec<RotationReport>,
    /// A lockdown's siblings not rotated because their rotation did not fit before the
    /// invocation's deadline (see [`super::lockdown`]); each was alerted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<DeferredSibling>,
}

/// What bounds one rotation besides its request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotateOptions {
    /// When the invocation running it ends (the Lambda runtime's deadline). `None`: no limit
    /// (the CLI). An emergency waits for a held lease, proves the revocation and rotates a
    /// lockdown's siblings only within it.
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
}

impl RotationReport {
    /// The report of a rotation of the target whose current document is `current`, about to
    /// start.
    pub(crate) fn start(
        secret_id: &str,
        current: &crate::document::TargetDocument,
        request: &RotateRequest,
    ) -> Self {
        RotationReport {
            secret_id: secret_id.to_string(),
            target: current.label(),
            outcome: Outcome::Rotated,
            token: None,
            reason: request.reason.clone(),
            old_key_id: current.entra.key_id.clone(),
            new_key_id: None,
            new_expires_at: None,
            old_removed: false,
            old_retire_pending: None,
            jamf_accepts_new: false,
            app_credentials: None,
            elapsed_ms: 0,
            failed_step: None,
            error: None,
            error_class: None,
            advice: None,
            rollback: None,
            revocation: None,
            siblings: Vec::new(),
            deferred: Vec::new(),
        }
    }
}

/// What the proof found for one revoked secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevocationProof {
    /// The revoked credential's key id.
    pub key_id: String,
    /// True when Entra refused the secret (as many times in a row as a propagation needs).
    pub confirmed: bool,
    /// Seconds from the removal to Entra's first refusal of that streak (when confirmed).
    pub seconds: Option<u64>,
    /// Sign-in tries made with the revoked secret.
    pub attempts: u32,
    /// The limit applied (`REVOCATION_PROOF_TIMEOUT_SECS`).
    pub limit_secs: u64,
    /// Why it is not confirmed (never a secret).
    pub detail: Option<String>,
}

/// A lockdown's sibling that was not rotated: its rotation did not fit before the invocation's
/// deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeferredSibling {
    /// The sibling's secret id.
    pub secret_id: String,
    /// Its Jamf host and target kind.
    pub target: String,
    /// Why it was not rotated (the budget against the time left).
    pub why: String,
}

/// What the daily proof found, as the check reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProofResult {
    /// False when the test could not run (Jamf Pro unreachable, the rotator's Jamf credentials
    /// refused): nothing is known of Jamf Pro's secret, nothing was alerted or written, and the
    /// next check tries again (see `error`).
    pub ran: bool,
    /// Jamf Pro's test passed with the secret it held.
    pub passed: bool,
    /// The test failed, `AWSCURRENT`'s secret was put back, and the test passes with it now.
    pub repaired: bool,
    /// Why the test failed or could not run (never a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
