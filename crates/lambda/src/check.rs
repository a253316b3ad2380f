//! The scheduled check and the status report of every target, at most `parallelism` at once,
//! and the metric lines each target's result gives.

use super::{Function, Invocation, LambdaError};
use crate::metrics;
use crate::rotation::check::{Action, CheckOptions, CheckReport};
use crate::rotation::driver::Outcome;
use crate::rotation::{RotationError, Step};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

impl Function {
    /// The scheduled check (or, with `dry_run`, the status report) of every target, at most
    /// `parallelism` at once. A target that fails is reported (the engine alerts) and the others go on.
    /// No rotation starts that cannot finish before the invocation's deadline: it is handed to
    /// Secrets Manager (`ROTATION_MODE`) or deferred to the next check.
    pub(super) async fn check_all(
        &self,
        dry_run: bool,
        invocation: &Invocation,
    ) -> Result<Value, LambdaError> {
        let options = Arc::new(CheckOptions {
            dry_run,
            deadline: invocation.deadline,
            mode: self.rotation_mode,
            rotation_function_arn: invocation.function_arn.clone(),
        });
        let mut ids = self.targets.resolve(self.engine.store.as_ref()).await?;
        if let Some((own, _)) = self.own_secret.as_ref().filter(|(o, _)| !ids.contains(o)) {
            ids.push(own.clone());
        }
        let permits = Arc::new(Semaphore::new(self.parallelism));
        let mut tasks = JoinSet::new();
        let mut index_of = HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            let (engine, permits, id) = (self.engine.clone(), permits.clone(), id.clone());
            let options = options.clone();
            // The task keeps the invocation's span, so its log lines carry the request id.
            let check = async move {
                let _permit = permits.acquire_owned().await.ok();
                engine.check_with(&id, &options).await
            };
            let handle = tasks.spawn(check.instrument(tracing::Span::current()));
            index_of.insert(handle.id(), i);
        }
        let mut results: Vec<Value> = vec![Value::Null; ids.len()];
        let mut days: Vec<i64> = Vec::new();
        let mut unchecked = 0;
        while let Some(joined) = tasks.join_next_with_id().await {
            let (i, outcome) = match joined {
                Ok((task, outcome)) => (index_of[&task], outcome),
                Err(e) => {
                    let i = index_of[&e.id()];
                    // Not `{e}`: a panic's message may hold anything (see `rotator_engine::panics`).
                    let how = if e.is_panic() {
                        "panicked"
                    } else {
                        "was cancelled"
                    };
                    tracing::error!(step = "check", "check of {} {how}", ids[i]);
                    results[i] = json!({"secret_id": ids[i], "ok": false, "error": "the check of this target crashed; see the function's log", "error_class": "crashed"});
                    unchecked += 1;
                    continue;
                }
            };
            unchecked += usize::from(outcome.is_err());
            let (result, left) = self.checked(&ids[i], outcome, dry_run).await;
            results[i] = result;
            days.extend(left);
        }
        if !dry_run && unchecked > 0 {
            tracing::warn!(
                unchecked,
                "no fleet DaysUntilExpiry: {unchecked} target(s) could not be checked, and a minimum without them would hide them (the dead man's alarm counts this as no report)"
            );
        } else if !dry_run {
            // The fleet's minimum, without a dimension: the alarms watch this one series. It is
            // written only when every target was checked: its absence (no check ran, or one
            // target's check failed) is the dead man's switch.
            if let Some(min) = days.iter().min() {
                self.metric(metrics::emf_line(
                    metrics::NAMESPACE,
                    &[],
                    &[("DaysUntilExpiry", *min as f64, "None")],
                    chrono::Utc::now().timestamp_millis(),
                ));
            }
        }
        let failed = results
            .iter()
            .filter(|r| r["ok"] != Value::Bool(true))
            .count();
        let action_count = |action: &str| {
            results
                .iter()
                .filter(|r| r["report"]["action"] == action)
                .count()
        };
        let response = json!({
            "action": if dry_run { "status" } else { "check" },
            "targets": ids.len(),
            "failed": failed,
            "deferred": action_count("deferred"),
            "handed_off": action_count("handed-off"),
            "results": results,
        });
        if dry_run || failed == 0 {
            return Ok(response);
        }
        // Scheduler invokes asynchronously: only a function error reaches the Errors alarm and
        // the OnFailure queue. The whole response goes to the log (it holds no secret).
        tracing::error!(report = %response, "the check left {failed} target(s) failed");
        Err(LambdaError::CheckFailed {
            failed,
            targets: ids.len(),
            summary: failed_summary(&results),
            report: response,
        })
    }

    /// One target's check result: its metric lines, its entry in the response, and the days
    /// until its secret expires after the check.
    async fn checked(
        &self,
        secret_id: &str,
        outcome: Result<CheckReport, RotationError>,
        dry_run: bool,
    ) -> (Value, Option<i64>) {
        let report = match outcome {
            Ok(report) => report,
            Err(e) => {
                // The engine has alerted already: a check that cannot run is a failure too.
                tracing::error!(step = %e.step, class = e.class(), "check of {secret_id} failed: {e}");
                let entry = json!({"secret_id": secret_id, "ok": false, "error": e.to_string(), "error_class": e.class(), "advice": e.advice()});
                return (entry, None);
            }
        };
        let mut days = report.days_until_expiry;
        if !dry_run {
            match report.rotation.as_ref().map(|r| r.outcome) {
                Some(outcome @ (Outcome::Rotated | Outcome::Resumed | Outcome::AlreadyRotated)) => {
                    // The secret in use now is the new one: its expiry is what the alarm watches.
                    let new_expiry = report.rotation.as_ref().and_then(|r| r.new_expires_at);
                    days = match new_expiry {
                        Some(at) => Some((at - self.engine.clock.now()).num_days()),
                        None => self.days_left(secret_id).await,
                    }
                    .or(days);
                    if outcome != Outcome::AlreadyRotated {
                        self.metric(metrics::rotation_succeeded(secret_id));
                    }
                }
                Some(Outcome::Failed | Outcome::RolledBack) => {
                    self.metric(metrics::rotation_failed(secret_id))
                }
                None => self.start_metric(secret_id, report.action),
            }
            if let Some(d) = days {
                self.metric(metrics::days_until_expiry(secret_id, d));
            }
        }
        let ok = report.action != Action::RotationFailed;
        (
            json!({"secret_id": secret_id, "ok": ok, "report": report}),
            days,
        )
    }

    /// The metric of a due rotation the check did not run itself: deferred, handed to Secrets
    /// Manager, or refused by it (a failure).
    fn start_metric(&self, secret_id: &str, action: Action) {
        match action {
            Action::Deferred => self.metric(metrics::rotation_deferred(secret_id)),
            Action::HandedOff => self.metric(metrics::rotation_handed_off(secret_id)),
            Action::RotationFailed => self.metric(metrics::rotation_failed(secret_id)),
            Action::None | Action::Rotated | Action::WouldRotate => {}
        }
    }

    /// Whole days until the `AWSCURRENT` secret of `secret_id` expires, when the document says.
    async fn days_left(&self, secret_id: &str) -> Option<i64> {
        let (_, doc) = self.engine.current(Step::Check, secret_id).await.ok()?;
        Some((doc.entra.expires_at? - self.engine.clock.now()).num_days())
    }
}

/// The failed targets of a check, each with its error class: `id (class), …` (at most ten named).
fn failed_summary(results: &[Value]) -> String {
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r["ok"] != Value::Bool(true))
        .map(|r| {
            let class = r["error_class"]
                .as_str()
                .or_else(|| r["report"]["rotation"]["error_class"].as_str())
                .unwrap_or("rotation-failed");
            format!("{} ({class})", r["secret_id"].as_str().unwrap_or("?"))
        })
        .collect();
    let more = failed.len().saturating_sub(10);
    let mut summary = failed.into_iter().take(10).collect::<Vec<_>>().join(", ");
    if more > 0 {
        summary.push_str(&format!(" and {more} more"));
    }
    summary
}
