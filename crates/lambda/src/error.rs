//! The function's error: what went wrong, and whether invoking again may help.

use rotator_engine::fleet::TargetsError;
use rotator_engine::rotation::RotationError;

/// Why an invocation failed. Messages never carry a secret or token.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// Occurs when the event is not one the function handles; nothing was changed.
    #[error("unsupported event: {0}")]
    BadEvent(String),
    /// Occurs when the function's settings are missing or malformed (targets, thresholds).
    #[error("configuration: {0}")]
    Config(String),
    /// Occurs when the clients or the rotator's identity cannot be built at the first
    /// invocation (the next invocation tries again).
    #[error("building the function's clients (AWS configuration, the rotator's credentials) failed; the next invocation tries again: {message}")]
    Build {
        /// What failed (never a secret).
        message: String,
        /// True when trying again may succeed by itself (throttling, a timeout).
        transient: bool,
    },
    /// Occurs when a rotate event names a secret that is not one of this deployment's targets,
    /// or names none while there are several.
    #[error("{0}")]
    Target(String),
    /// Occurs when an event names a secret the function does not act for: not one of the
    /// deployment's targets nor, in self-rotation, the rotator's own credential secret, or
    /// holding a document of a kind that secret may not hold. Nothing was changed; an alert
    /// names the secret.
    #[error("refused {secret_id}: {why}. Nothing was changed")]
    Refused {
        /// The secret the event named.
        secret_id: String,
        /// Why it was refused.
        why: String,
    },
    /// Occurs when the deployment's targets cannot be told: none or both named, none tagged,
    /// or the tagged ones cannot be listed.
    #[error(transparent)]
    Targets(#[from] TargetsError),
    /// Occurs when a rotation or a rotation step could not run or failed.
    #[error("{secret_id}: {source}. What to do: {}", source.advice())]
    Rotation {
        /// The target.
        secret_id: String,
        /// The engine's error (boxed: it is large, and errors travel through every `?`).
        source: Box<RotationError>,
    },
    /// Occurs when a rotation ran and did not complete (it was rolled back, or left for the next
    /// run to finish).
    #[error("rotation of {secret_id} {outcome}: {error}. What to do: {advice}")]
    RotationFailed {
        /// The target.
        secret_id: String,
        /// `rolled-back` or `failed`.
        outcome: String,
        /// The error (step and cause).
        error: String,
        /// Error class (`entra`, `jamf`, `propagation`, …).
        class: String,
        /// The one thing the operator should do.
        advice: String,
    },
    /// Occurs when a scheduled check ran and left targets failed (a check that could not run,
    /// or a rotation that failed). Each failed target has alerted already; the error makes the
    /// invocation fail so that the function's `Errors` alarm and the `OnFailure` destination see
    /// it (an asynchronous invocation's response is read by nobody).
    #[error("check: {failed} of {targets} targets failed: {summary}. Each has alerted with what to do; see the alerts and the function's log")]
    CheckFailed {
        /// How many targets failed.
        failed: usize,
        /// How many were checked.
        targets: usize,
        /// The failed targets, each with its error class.
        summary: String,
        /// The whole check response (`action`, `targets`, `failed`, `results`).
        report: serde_json::Value,
    },
    /// Occurs when the invocation panicked outside a target's check (a bug); the message says
    /// where, never what the panic said.
    #[error("{0}; invoke again, and report the bug if it repeats")]
    Panicked(String),
}

impl LambdaError {
    /// A rotation or step of `secret_id` that failed with `source`.
    pub fn rotation(secret_id: impl Into<String>, source: RotationError) -> Self {
        LambdaError::Rotation {
            secret_id: secret_id.into(),
            source: Box::new(source),
        }
    }

    /// True when invoking again, unchanged, may succeed (a throttled or unavailable service,
    /// a slow propagation, a concurrent rotation).
    pub fn is_retryable(&self) -> bool {
        match self {
            LambdaError::BadEvent(_)
            | LambdaError::Config(_)
            | LambdaError::Target(_)
            | LambdaError::Refused { .. }
            | LambdaError::Panicked(_) => false,
            // Rerunning the whole check minutes later would repeat every alert; the next
            // scheduled check is the retry.
            LambdaError::CheckFailed { .. } => false,
            LambdaError::Build { transient, .. } => *transient,
            LambdaError::Targets(e) => e.is_transient(),
            LambdaError::Rotation { source, .. } => rotation_retryable(source),
            LambdaError::RotationFailed { class, .. } => {
                matches!(class.as_str(), "propagation" | "concurrent")
            }
        }
    }

    /// True when the invocation met another attempt holding the target's lease: the work is in
    /// progress elsewhere, not failed (logged as a warning; no alert, no failure metric).
    pub fn elsewhere(&self) -> bool {
        matches!(self, LambdaError::Rotation { source, .. } if source.elsewhere())
    }

    /// The error type reported to Lambda: `Retryable` or `NonRetryable`.
    pub fn error_type(&self) -> &'static str {
        if self.is_retryable() {
            "Retryable"
        } else {
            "NonRetryable"
        }
    }
}

fn rotation_retryable(e: &RotationError) -> bool {
    use rotator_engine::rotation::error::ErrorKind;
    match &e.kind {
        ErrorKind::Directory(d) => d.is_transient(),
        ErrorKind::Store(s) => s.is_transient(),
        ErrorKind::PropagationTimeout { .. }
        | ErrorKind::Concurrent(_)
        | ErrorKind::Busy { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotator_engine::ports::StoreError;
    use rotator_engine::rotation::error::ErrorKind;
    use rotator_engine::rotation::Step;

    #[test]
    fn bad_input_is_not_retryable_and_throttling_is() {
        assert_eq!(
            LambdaError::BadEvent("x".into()).error_type(),
            "NonRetryable"
        );
        let throttled = StoreError::Aws {
            operation: "DescribeSecret".into(),
            secret_id: "s".into(),
            code: "ThrottlingException".into(),
            message: "slow down".into(),
        };
        let e = LambdaError::rotation("s", RotationError::store(Step::Guard, throttled));
        assert_eq!(e.error_type(), "Retryable");
        let guard = LambdaError::rotation(
            "s",
            RotationError::new(
                Step::SetSecret,
                ErrorKind::NotPending {
                    token: "t".into(),
                    secret_id: "s".into(),
                },
            ),
        );
        assert_eq!(guard.error_type(), "NonRetryable");
        let build = |transient| LambdaError::Build {
            message: "m".into(),
            transient,
        };
        assert_eq!(
            build(true).error_type(),
            "Retryable",
            "a throttled first build may be retried"
        );
        assert_eq!(
            build(false).error_type(),
            "NonRetryable",
            "a missing credential will not appear by itself"
        );
        assert!(
            guard
                .to_string()
                .starts_with("s: setSecret: version t of secret s is not AWSPENDING: this rotation is no longer in progress. What to do:"),
            "{guard}"
        );
    }
}
