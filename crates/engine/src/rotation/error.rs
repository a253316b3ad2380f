//! The engine's error: which step failed, why, and what the operator should do.

use crate::ports::{DirectoryError, StoreError, TargetError};
use serde::Serialize;
use std::time::Duration;

/// A step of the rotation (the four of the Secrets Manager protocol, and the engine's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Step {
    /// Checks before a step (token, labels).
    #[serde(rename = "guard")]
    Guard,
    /// Creates the new credential and stores it as `AWSPENDING`.
    #[serde(rename = "createSecret")]
    CreateSecret,
    /// Waits for Entra to accept it, then puts it into Jamf Pro.
    #[serde(rename = "setSecret")]
    SetSecret,
    /// Proves Jamf Pro works with it.
    #[serde(rename = "testSecret")]
    TestSecret,
    /// Makes it `AWSCURRENT` and retires the old credential.
    #[serde(rename = "finishSecret")]
    FinishSecret,
    /// Undoes a rotation that cannot complete.
    #[serde(rename = "rollback")]
    Rollback,
    /// The scheduled check.
    #[serde(rename = "check")]
    Check,
}

impl Step {
    /// Parses a Secrets Manager step name (camelCase, or snake_case).
    pub fn parse(name: &str) -> Option<Step> {
        match name {
            "createSecret" | "create_secret" => Some(Step::CreateSecret),
            "setSecret" | "set_secret" => Some(Step::SetSecret),
            "testSecret" | "test_secret" => Some(Step::TestSecret),
            "finishSecret" | "finish_secret" => Some(Step::FinishSecret),
            _ => None,
        }
    }
    /// The protocol's name of the step.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Guard => "guard",
            Step::CreateSecret => "createSecret",
            Step::SetSecret => "setSecret",
            Step::TestSecret => "testSecret",
            Step::FinishSecret => "finishSecret",
            Step::Rollback => "rollback",
            Step::Check => "check",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// Occurs when Entra ID or Graph fails.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// Occurs when Jamf Pro fails or rejects the secret.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Occurs when Secrets Manager fails.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Occurs when a stored document is unusable.
    #[error("{0}")]
    Document(String),
    /// Occurs when Entra has not accepted the new secret within the limit.
    #[error("Entra did not accept the new secret within {}s ({attempts} attempts)", .waited.as_secs())]
    PropagationTimeout {
        /// How long it waited.
        waited: Duration,
        /// How many times it asked.
        attempts: u32,
    },
    /// Occurs when Entra reports a secret as expired (AADSTS7000222).
    #[error("Entra reports the {which} secret has expired (AADSTS7000222)")]
    Expired {
        /// `current` or `new`.
        which: &'static str,
    },
    /// Occurs when the token or the staging labels do not allow the step.
    #[error("{0}")]
    Guard(String),
    /// Occurs when another rotation of the same target took over.
    #[error("another rotation of this target is in progress: {0}")]
    Concurrent(String),
    /// Occurs when the version was overwritten with another credential after Jamf Pro got this
    /// rotation's (a store that does not refuse a differing same-token write: moto); the
    /// in-process driver then installs the stored one and finishes again.
    #[error("version {0} now holds another credential than the one Jamf Pro was given")]
    Replaced(String),
    /// Occurs when another attempt at this target's rotation holds its lease: nothing more is
    /// changed by this one.
    #[error("another attempt at this target's rotation holds its lease until {}", .until.format("%Y-%m-%d %H:%M:%S UTC"))]
    Busy {
        /// When that lease runs out, unless its holder lets go first.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// Occurs when another attempt changed the target between this attempt's look and its
    /// taking of the lease, or held the lease after this one's ran out; the in-process driver
    /// starts over from a fresh look.
    #[error("another attempt changed this target's rotation meanwhile")]
    Stale,
    /// Occurs when the in-process driver's token is the version of an earlier attempt of the
    /// same rotation that was rolled back (the driver then moves on to the next token).
    #[error("version {0} belongs to an earlier attempt of this rotation that was rolled back")]
    TokenSpent(String),
    /// Occurs when the rotator panicked (a bug) while working on this target; the other targets
    /// are checked regardless.
    #[error("{0}")]
    Panicked(String),
}

/// A failed step.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {kind}")]
pub struct RotationError {
    /// Which step.
    pub step: Step,
    /// Why.
    pub kind: ErrorKind,
    /// True when Jamf Pro may hold the new secret (the failure came at or after the write into
    /// Jamf Pro): a rollback must put the old secret back.
    pub jamf_touched: bool,
}

impl RotationError {
    /// A failure of `step`.
    pub fn new(step: Step, kind: ErrorKind) -> Self {
        Self {
            step,
            kind,
            jamf_touched: false,
        }
    }
    /// Marks that Jamf Pro may hold the new secret.
    pub fn touched(mut self) -> Self {
        self.jamf_touched = true;
        self
    }
    /// A Secrets Manager failure in `step`.
    pub fn store(step: Step, e: StoreError) -> Self {
        Self::new(step, ErrorKind::Store(e))
    }
    /// An Entra/Graph failure in `step`.
    pub fn directory(step: Step, e: DirectoryError) -> Self {
        Self::new(step, ErrorKind::Directory(e))
    }
    /// A Jamf failure in `step`.
    pub fn target(step: Step, e: TargetError) -> Self {
        Self::new(step, ErrorKind::Target(e))
    }

    /// A short class for alerts and metrics: `entra`, `jamf`, `secrets-manager`, `document`,
    /// `propagation`, `expired`, `guard`, `concurrent`, `panic`.
    pub fn class(&self) -> &'static str {
        match &self.kind {
            ErrorKind::Directory(_) => "entra",
            ErrorKind::Target(_) => "jamf",
            ErrorKind::Store(_) => "secrets-manager",
            ErrorKind::Document(_) => "document",
            ErrorKind::PropagationTimeout { .. } => "propagation",
            ErrorKind::Expired { .. } => "expired",
            ErrorKind::Guard(_) => "guard",
            ErrorKind::Concurrent(_) => "concurrent",
            ErrorKind::TokenSpent(_) => "guard",
            ErrorKind::Replaced(_) | ErrorKind::Busy { .. } | ErrorKind::Stale => "concurrent",
            ErrorKind::Panicked(_) => "panic",
        }
    }

    /// The one thing the operator should do about it.
    pub fn advice(&self) -> String {
        match &self.kind {
            ErrorKind::Directory(d) => match d.aadsts() {
                Some(7000215) | Some(7000222) => "The rotator's own Entra credential is refused: renew it (ROTATOR_CREDENTIALS_SECRET_ID) and run the check again.".into(),
                Some(700016) | Some(90002) => "Check the tenant and application ids in the target document and the rotator's app registration.".into(),
                _ if d.is_transient() => "Microsoft Graph was unavailable; the next scheduled check retries. Nothing to do unless it repeats.".into(),
                _ => "Check that the rotator's app has Application.ReadWrite.OwnedBy and owns the Jamf app registration.".into(),
            },
            ErrorKind::Target(TargetError::Auth { .. }) => "Jamf Pro refused the rotator's Jamf credentials: check the Jamf credentials secret and the account's privileges.".into(),
            ErrorKind::Target(TargetError::Mismatch(_)) => "Jamf Pro is configured for another app or authentication type than the document says: fix the document or Jamf Pro's settings, then run the check again.".into(),
            ErrorKind::Target(_) => "Look at the integration in Jamf Pro; Jamf Pro keeps the old secret, which still works. The next scheduled check retries.".into(),
            ErrorKind::Store(_) => "Check the function's access to Secrets Manager; run the check again (a half-done rotation is resumed, never duplicated).".into(),
            ErrorKind::Document(_) => "Fix the target document in Secrets Manager (see the README's document format); nothing was changed.".into(),
            ErrorKind::PropagationTimeout { .. } => "Entra was slow to accept the new secret; the new credential was removed. The next scheduled check retries; raise PROPAGATION_TIMEOUT_SECS if this repeats.".into(),
            ErrorKind::Expired { which: "current" } => "The secret Jamf Pro uses has already expired: run an emergency rotation now (`rotate --reason expired`).".into(),
            ErrorKind::Expired { .. } => "Entra reports the new secret expired: check the tenant's app management policy and SECRET_LIFETIME_DAYS.".into(),
            ErrorKind::Guard(_) => "Look at the secret's versions (describe-secret); a stale AWSPENDING may need removing.".into(),
            ErrorKind::Concurrent(_) => "Another rotation of this target is running; wait for it to finish.".into(),
            ErrorKind::TokenSpent(_) => "Nothing: the next rotation uses the next version id.".into(),
            ErrorKind::Replaced(_) => "Another attempt of this rotation is running; wait for it to finish.".into(),
            ErrorKind::Panicked(_) => "A bug in the rotator stopped this target's check (the log says where); the other targets were checked. Run the check again (a half-done rotation is resumed, never duplicated) and report the bug if it repeats.".into(),
            ErrorKind::Stale => "Nothing: another attempt changed the target meanwhile; the next check resumes or completes what is left.".into(),
            ErrorKind::Busy { .. } => "Nothing to do: another attempt (a check, a manual rotation, Secrets Manager's rotation) is rotating this target. It completes or rolls back by itself; if it died, its lease runs out at the time given and the next check resumes its work.".into(),
        }
    }
}
