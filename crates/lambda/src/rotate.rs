//! A rotation by hand (`{"action":"rotate", ...}`), of one of the deployment's targets.

use super::{Function, Invocation, LambdaError, RotateEvent};
use rotator_engine::metrics;
use rotator_engine::ports::SecretInfo;
use rotator_engine::rotation::report::{Outcome, RotateOptions, RotationReport};
use rotator_engine::rotation::RotateRequest;
use serde_json::{json, Value};

impl Function {
    /// A rotation by hand. The secret must be one the function acts for ([`Function::admit`]);
    /// with only one target, `secret_id` may be left out. It runs within `invocation`'s deadline,
    /// as a check does: an emergency's lease wait, revocation proof and lockdown siblings stop
    /// in time, and what they could not do is reported and alerted.
    pub(super) async fn rotate(
        &self,
        r: RotateEvent,
        invocation: &Invocation,
    ) -> Result<Value, LambdaError> {
        let ids = self.targets.resolve(self.engine.store.as_ref()).await?;
        let secret_id = match r.secret_id {
            Some(id) => id,
            None => match ids.as_slice() {
                [one] => one.clone(),
                many => {
                    return Err(LambdaError::Target(format!(
                        "this deployment has {} targets; name the one to rotate with \"secret_id\"",
                        many.len()
                    )))
                }
            },
        };
        let (info, _) = self.admit(&secret_id, &ids).await?;
        let given = secret_id;
        let secret_id = canonical_id(&given, &info);
        let request = RotateRequest {
            reason: format!("manual: {}", r.reason),
            revoke_old: r.revoke_old,
            lockdown: r.lockdown,
            // A lockdown rotates the targets on the same app registration too.
            siblings: (ids.iter())
                .filter(|id| ![&given, &info.arn, &info.name].contains(id))
                .cloned()
                .collect(),
        };
        tracing::info!(
            step = "rotate",
            "manual rotation of {secret_id} ({}, revoke_old {:?}, lockdown {})",
            request.reason,
            request.revoke_old,
            request.lockdown
        );
        let options = RotateOptions {
            deadline: invocation.deadline,
        };
        let report = self
            .engine
            .rotate_within(&secret_id, request, options)
            .await
            .map_err(|source| LambdaError::rotation(&secret_id, source))?;
        self.outcome_metric(&report);
        if !report.outcome.succeeded() {
            let outcome = serde_json::to_value(report.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            return Err(LambdaError::RotationFailed {
                secret_id,
                outcome,
                error: report.error.unwrap_or_default(),
                class: report.error_class.unwrap_or_default(),
                advice: report.advice.unwrap_or_default(),
            });
        }
        // A lockdown's siblings: each one a rotation of its own, counted like one (the
        // RotationFailed alarm sees a sibling that failed; its own alert has gone out).
        for sibling in &report.siblings {
            self.outcome_metric(sibling);
        }
        // A sibling with no time left before the deadline is deferred, not failed (as a check
        // counts one); its own alert says what to run.
        for deferred in &report.deferred {
            self.metric(metrics::rotation_deferred(&deferred.secret_id));
        }
        for proof in report.revocation.iter().flatten() {
            self.metric(match proof.seconds {
                Some(s) if proof.confirmed => metrics::revocation_seconds(&secret_id, s),
                _ => metrics::revocation_unconfirmed(&secret_id),
            });
        }
        Ok(json!({"action": "rotate", "secret_id": secret_id, "report": report}))
    }

    /// The metric a rotation's outcome writes for its target: succeeded, failed, or none when
    /// another attempt's result was joined.
    fn outcome_metric(&self, report: &RotationReport) {
        match report.outcome {
            Outcome::Rotated | Outcome::Resumed => {
                self.metric(metrics::rotation_succeeded(&report.secret_id))
            }
            Outcome::Failed | Outcome::RolledBack => {
                self.metric(metrics::rotation_failed(&report.secret_id))
            }
            Outcome::AlreadyRotated => {}
        }
    }
}

/// The id an admitted secret is acted on by: `given` when it is the secret's name or full ARN,
/// else (a partial ARN, without Secrets Manager's random suffix) the full ARN. The lease is keyed
/// by the name the id carries (`lease::key_of`), and a partial ARN would name another key: two
/// attempts could then hold one target at once.
pub(super) fn canonical_id(given: &str, info: &SecretInfo) -> String {
    if given == info.name || given == info.arn {
        given.to_string()
    } else {
        info.arn.clone()
    }
}
