//! The engine's error: which step failed, why, and what the operator should do.

use crate::document::DocumentError;
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

/// Which of a rotation's two secrets Entra reports expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The secret Jamf Pro uses now.
    Current,
    /// The secret this rotation created.
    New,
}

impl std::fmt::Display for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Which::Current => "current",
            Which::New => "new",
        })
    }
}

/// Why a step failed: one cause per variant, each with its own class and advice.
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
    /// Occurs when a stored document of this target is unusable.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// Occurs when the document of another target on the same app (a lockdown's sibling) is
    /// unusable.
    #[error("sibling {sibling}: {source}")]
    SiblingDocument {
        /// The sibling's secret id.
        sibling: String,
        /// What is wrong with its document.
        source: DocumentError,
    },
    /// Occurs when the target's secret has no `AWSCURRENT` version to rotate from.
    #[error("secret {secret_id} has no AWSCURRENT version")]
    NoCurrentVersion {
        /// The target's secret.
        secret_id: String,
    },
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
        /// The one Jamf Pro uses, or the one this rotation made.
        which: Which,
    },
    /// Occurs when Entra no longer accepts the secret this rotation created (its credential was
    /// removed from the app meanwhile).
    #[error("Entra no longer accepts the new secret (was it removed from the app?)")]
    NewSecretRefused,
    /// Occurs when a Secrets Manager step event names a secret whose rotation is disabled.
    #[error("secret {secret_id} does not have rotation enabled")]
    RotationDisabled {
        /// The target's secret.
        secret_id: String,
    },
    /// Occurs when a step's token is not a version of the secret.
    #[error("token {token} is not a version of secret {secret_id}")]
    UnknownToken {
        /// The step's token.
        token: String,
        /// The target's secret.
        secret_id: String,
    },
    /// Occurs when a step's version is no longer `AWSPENDING`: another attempt completed or undid
    /// this rotation.
    #[error("version {token} of secret {secret_id} is not AWSPENDING: this rotation is no longer in progress")]
    NotPending {
        /// The step's token.
        token: String,
        /// The target's secret.
        secret_id: String,
    },
    /// Occurs when setSecret or testSecret runs before createSecret stored the new secret.
    #[error("version {version} holds no secret yet: createSecret has not run")]
    NothingPending {
        /// The step's version.
        version: String,
    },
    /// Occurs when a version just written reads back empty.
    #[error("version {version} reads back empty after it was written")]
    EmptyReadBack {
        /// The version written.
        version: String,
    },
    /// Occurs when a removal is refused because a stage holds the credential, or could not be
    /// read to rule that out.
    #[error("{why}")]
    CredentialKept {
        /// The version that holds it (or could not be read).
        version: String,
        /// The whole sentence: which credential, which stage.
        why: String,
    },
    /// Occurs when the last rotation's old credential is still waiting for its retirement
    /// (`RETIRE_AFTER_OBSERVED_USE`) and only an emergency may rotate again.
    #[error("the last rotation's old credential {old} is still pending retirement ({why}); an emergency rotation (--revoke-old immediately) overrides")]
    RetirementPending {
        /// The old credential's key id.
        old: String,
        /// What the retirement waits for.
        why: String,
    },
    /// Occurs when Graph refuses the new secret's lifetime and no app management policy says
    /// what it allows.
    #[error("Graph refused the secret's lifetime ({code}) but no app management policy limits it")]
    LifetimeRefused {
        /// Graph's error code.
        code: &'static str,
    },
    /// Occurs when a lockdown cannot tell every credential of the app apart (it would cut off a
    /// target it does not know).
    #[error("lockdown refused: {0}")]
    LockdownRefused(String),
    /// Occurs when a step that is not one of the four rotation steps is asked to run.
    #[error("{0} is not a rotation step")]
    NotAStep(Step),
    /// Occurs when every token the in-process driver may use for this version was spent.
    #[error("{attempts} rotation attempts of this version failed; look at the secret's versions")]
    AttemptsExhausted {
        /// How many.
        attempts: u32,
    },
    /// Occurs when another rotation of the same target took over.
    #[error("another rotation of this target is in progress: {0}")]
    Concurrent(String),
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

    /// A short class for alerts and metrics (see [`ErrorKind::class`]).
    pub fn class(&self) -> &'static str {
        self.kind.class()
    }

    /// The one thing the operator should do about it (see [`ErrorKind::advice`]).
    pub fn advice(&self) -> String {
        self.kind.advice()
    }

    /// True when another attempt holds the target's lease: this one changed nothing and the
    /// rotation is in progress elsewhere (not a failure: no alert, no failure metric).
    pub fn elsewhere(&self) -> bool {
        matches!(self.kind, ErrorKind::Busy { .. })
    }
}

impl ErrorKind {
    /// A short class for alerts and metrics: `entra`, `jamf`, `secrets-manager`, `document`,
    /// `propagation`, `expired`, `policy`, `guard`, `concurrent`, `panic`.
    pub fn class(&self) -> &'static str {
        use ErrorKind::*;
        match self {
            Directory(_) | NewSecretRefused => "entra",
            Target(_) => "jamf",
            Store(_) | EmptyReadBack { .. } => "secrets-manager",
            Document(_) | SiblingDocument { .. } | NoCurrentVersion { .. } => "document",
            PropagationTimeout { .. } => "propagation",
            Expired { .. } => "expired",
            RetirementPending { .. } | LifetimeRefused { .. } | LockdownRefused(_) => "policy",
            RotationDisabled { .. } | UnknownToken { .. } | NotPending { .. } => "guard",
            NothingPending { .. } | CredentialKept { .. } | NotAStep(_) => "guard",
            AttemptsExhausted { .. } | TokenSpent(_) => "guard",
            Concurrent(_) | Busy { .. } | Stale => "concurrent",
            Panicked(_) => "panic",
        }
    }

    /// True when a finishSecret failing with this means another attempt undid the rotation
    /// after Jamf Pro got the new secret: the stages refused the step, or the new credential
    /// went away under it.
    pub fn undone_elsewhere(&self) -> bool {
        use ErrorKind::*;
        matches!(
            self,
            RotationDisabled { .. }
                | UnknownToken { .. }
                | NotPending { .. }
                | NothingPending { .. }
                | CredentialKept { .. }
                | Concurrent(_)
        )
    }

    /// The one thing the operator should do about it.
    pub fn advice(&self) -> String {
        use ErrorKind::*;
        match self {
            Directory(d) => directory_advice(d).into(),
            Target(t) => target_advice(t).into(),
            Store(_) => "Check the function's access to Secrets Manager; run the check again (a half-done rotation is resumed, never duplicated).".into(),
            Document(_) => "Fix the target document in Secrets Manager (see the README's document format); nothing was changed.".into(),
            SiblingDocument { sibling, .. } => format!("Fix the document of {sibling}, the other target on this app (see the README's document format), then run the rotation again; the lockdown stopped before it removed anything of that target's."),
            NoCurrentVersion { secret_id } => format!("Secret {secret_id} has no AWSCURRENT version to rotate from: create it with `init`, or put AWSCURRENT back on the version Jamf Pro uses (update-secret-version-stage)."),
            PropagationTimeout { .. } => "Entra was slow to accept the new secret; the new credential was removed. The next scheduled check retries; raise PROPAGATION_TIMEOUT_SECS if this repeats.".into(),
            Expired { which: Which::Current } => "The secret Jamf Pro uses has already expired: run an emergency rotation now (`rotate --reason expired`).".into(),
            Expired { which: Which::New } => "Entra reports the new secret expired: check the tenant's app management policy and SECRET_LIFETIME_DAYS.".into(),
            NewSecretRefused => "Someone or something removed the new credential from the app during the rotation: find who (Entra's audit log), then run the rotation again.".into(),
            RotationDisabled { .. } => "Nothing was changed: rotation is disabled on this secret, so its step events are refused. Enable rotation on it (`init --rotation-function-arn`), or let the scheduled check rotate it.".into(),
            UnknownToken { .. } => "Nothing was changed: the event names a version this secret does not have (a stray or hand-made event). Start rotations with RotateSecret or the function's `rotate` event.".into(),
            NotPending { .. } => "Nothing to do: another attempt completed or undid this rotation; the next check finishes whatever is left.".into(),
            NothingPending { .. } => "Nothing was changed: a later step ran before createSecret. Start the rotation again (RotateSecret, or the function's `rotate` event).".into(),
            EmptyReadBack { .. } => "Secrets Manager returned nothing for a version just written: look at the secret's versions (describe-secret); a stale AWSPENDING may need removing.".into(),
            CredentialKept { .. } => "Nothing to do: the credential stays while a stage holds it; the next check retires it once nothing does.".into(),
            RetirementPending { .. } => "Wait: the old credential is retired once Jamf Pro is seen signing in with the new one (RETIRE_AFTER_OBSERVED_USE). For a leaked secret, run an emergency rotation (`rotate --revoke-old immediately`).".into(),
            LifetimeRefused { .. } => "Lower SECRET_LIFETIME_DAYS to what the tenant's app management policy allows (the rotator reads the policy with Policy.Read.All), then run the rotation again.".into(),
            LockdownRefused(_) => "Nothing was changed: add every target of this app to the deployment (or remove the credentials it does not know) so the lockdown can tell them apart, then run the lockdown again.".into(),
            NotAStep(_) => "Nothing was changed: the event's step must be createSecret, setSecret, testSecret or finishSecret.".into(),
            AttemptsExhausted { .. } => "Look at the secret's versions (describe-secret): a hundred attempts at this version were rolled back. Fix what the alerts of those attempts name, remove stale AWSPENDING labels, then run the check again.".into(),
            Concurrent(_) => "Another rotation of this target is running; wait for it to finish.".into(),
            TokenSpent(_) => "Nothing: the next rotation uses the next version id.".into(),
            Panicked(_) => "A bug in the rotator stopped this target's check (the log says where); the other targets were checked. Run the check again (a half-done rotation is resumed, never duplicated) and report the bug if it repeats.".into(),
            Stale => "Nothing: another attempt changed the target meanwhile; the next check resumes or completes what is left.".into(),
            Busy { .. } => "Nothing to do: another attempt (a check, a manual rotation, Secrets Manager's rotation) is rotating this target. It completes or rolls back by itself; if it died, its lease runs out at the time given and the next check resumes its work.".into(),
        }
    }
}

fn directory_advice(d: &DirectoryError) -> &'static str {
    match d.aadsts() {
        Some(7000215) | Some(7000222) => "The rotator's own Entra credential is refused: renew it (ROTATOR_CREDENTIALS_SECRET_ID) and run the check again.",
        Some(700016) | Some(90002) => "Check the tenant and application ids in the target document and the rotator's app registration.",
        _ if d.is_transient() => "Microsoft Graph was unavailable; the next scheduled check retries. Nothing to do unless it repeats.",
        _ => "Check that the rotator's app has Application.ReadWrite.OwnedBy and owns the Jamf app registration.",
    }
}

fn target_advice(t: &TargetError) -> &'static str {
    match t {
        TargetError::Auth { .. } => "Jamf Pro refused the rotator's Jamf credentials: check the Jamf credentials secret and the account's privileges.",
        TargetError::Mismatch(_) => "Jamf Pro is configured for another app or authentication type than the document says: fix the document or Jamf Pro's settings, then run the check again.",
        _ => "Look at the integration in Jamf Pro; Jamf Pro keeps the old secret, which still works. The next scheduled check retries.",
    }
}

#[cfg(test)]
mod tests;
