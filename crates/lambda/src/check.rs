//! The scheduled check and the status report of every target, at most `parallelism` at once,
//! and the metric lines each target's result gives.

use super::{Function, Invocation, LambdaError};
use crate::clock::Pacer;
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

/// How many rotations a check hands to Secrets Manager per second at most: `RotateSecret` is
/// limited to 50 per second per Region for the whole account, and the account has other users.
pub const HAND_OFFS_PER_SECOND: u32 = 20;

impl Function {
    /// The scheduled check (or, with `dry_run`, the status report) of every target, reading at
    /// most `look_parallelism` and rotating at most `parallelism` at once. A target that fails
    /// is reported (the engine alerts) and the others go on. No rotation starts that cannot
    /// finish before the invocation's deadline: it is handed to Secrets Manager
    /// (`ROTATION_MODE`) or deferred to the next check.
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
            rotation_slots: Some(Arc::new(Semaphore::new(self.parallelism))),
            hand_off_pacer: Some(Arc::new(Pacer::per_second(HAND_OFFS_PER_SECOND))),
        });
        let mut ids = self.targets.resolve(self.engine.store.as_ref()).await?;
        if let Some((own, _)) = self.own_secret.as_ref().filter(|(o, _)| !ids.contains(o)) {
            ids.push(own.clone());
        }
        // A large fleet's response keeps a short entry for each quiet target: Lambda refuses a
        // response over 6 MB (about 10,000 full entries), and a full entry in memory is kilobytes.
        let compact = ids.len() > self.full_response_targets;
        let Checked {
            results,
            days,
            unchecked,
        } = self.check_each(&ids, &options, compact).await;
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
            "compact": compact,
            "results": results,
        });
        if dry_run || failed == 0 {
            return Ok(response);
        }
        // Scheduler invokes asynchronously: only a function error reaches the Errors alarm and
        // the OnFailure queue. The failed entries go to the log (they hold no secret); the whole
        // response of a large fleet would not fit in one log event (256 KB).
        let failed_entries: Vec<&Value> = results.iter().filter(|r| r["ok"] != true).collect();
        tracing::error!(failed = %json!(failed_entries), "the check left {failed} of {} target(s) failed", ids.len());
        Err(LambdaError::CheckFailed {
            failed,
            targets: ids.len(),
            summary: failed_summary(&results),
            report: response,
        })
    }

    /// Checks each of `ids`, at most `look_parallelism` at once: a task is spawned only when one
    /// ends, so a fleet of thousands never holds thousands of pending checks in memory.
    async fn check_each(
        &self,
        ids: &[String],
        options: &Arc<CheckOptions>,
        compact: bool,
    ) -> Checked {
        let mut checked = Checked {
            results: vec![Value::Null; ids.len()],
            days: Vec::new(),
            unchecked: 0,
        };
        let mut tasks = JoinSet::new();
        let mut index_of = HashMap::new();
        let mut next = 0;
        let admission = self.check_admission();
        loop {
            while next < ids.len() && tasks.len() < self.look_parallelism {
                let (engine, id, options, admission) = (
                    self.engine.clone(),
                    ids[next].clone(),
                    options.clone(),
                    admission.clone(),
                );
                // The task keeps the invocation's span, so its log lines carry the request id.
                let check = async move { admission.check(&engine, &id, &options).await };
                let handle = tasks.spawn(check.instrument(tracing::Span::current()));
                index_of.insert(handle.id(), next);
                next += 1;
            }
            let Some(joined) = tasks.join_next_with_id().await else {
                return checked;
            };
            let task = joined.as_ref().map_or_else(|e| e.id(), |(task, _)| *task);
            let i = index_of
                .remove(&task)
                .expect("every task was spawned with its index");
            let outcome = match joined {
                Ok((_, outcome)) => outcome,
                Err(e) => {
                    checked.results[i] = crashed(&ids[i], e.is_panic());
                    checked.unchecked += 1;
                    continue;
                }
            };
            checked.unchecked += usize::from(outcome.is_err());
            let (result, left) = self.checked(&ids[i], outcome, options.dry_run).await;
            checked.results[i] = if compact { compacted(result) } else { result };
            checked.days.extend(left);
        }
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

/// What [`Function::check_each`] found: an entry per target (in the order given), the days left
/// of each target checked, and how many could not be checked.
struct Checked {
    results: Vec<Value>,
    days: Vec<i64>,
    unchecked: usize,
}

/// A quiet target's entry (checked, not due, nothing done or in progress, no drift) made short:
/// its action, expiry and days left. Any other entry is kept whole.
fn compacted(entry: Value) -> Value {
    let report = &entry["report"];
    let no_drift = report["drift"].as_array().is_none_or(Vec::is_empty);
    let quiet = entry["ok"] == true
        && report["action"] == "none"
        && report["due"] != true
        && report["rotation_in_progress_until"].is_null()
        && no_drift;
    if !quiet {
        return entry;
    }
    json!({
        "secret_id": entry["secret_id"],
        "ok": true,
        "report": {
            "action": "none",
            "expires_at": report["expires_at"],
            "days_until_expiry": report["days_until_expiry"],
        },
    })
}

/// The entry of a target whose check task panicked or was cancelled.
fn crashed(secret_id: &str, panicked: bool) -> Value {
    // Not the panic's message: it may hold anything (see `rotator_engine::panics`).
    let how = if panicked {
        "panicked"
    } else {
        "was cancelled"
    };
    tracing::error!(step = "check", "check of {secret_id} {how}");
    json!({"secret_id": secret_id, "ok": false, "error": "the check of this target crashed; see the function's log", "error_class": "crashed"})
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(report: Value) -> Value {
        json!({"secret_id": "t", "ok": true, "report": report})
    }

    #[test]
    fn only_a_quiet_entry_is_made_short() {
        let quiet = json!({"action": "none", "due": false, "drift": [], "credentials": [], "expires_at": "2027-03-01T00:00:00Z", "days_until_expiry": 86});
        assert_eq!(
            compacted(entry(quiet.clone())),
            entry(
                json!({"action": "none", "expires_at": "2027-03-01T00:00:00Z", "days_until_expiry": 86})
            )
        );
        let mut due_elsewhere = quiet.clone();
        due_elsewhere["due"] = json!(true);
        due_elsewhere["rotation_in_progress_until"] = json!("2026-12-05T07:00:00Z");
        let mut drifted = quiet.clone();
        drifted["drift"] = json!([{"kind": "unmanaged-credential"}]);
        let mut rotated = quiet.clone();
        rotated["action"] = json!("rotated");
        for kept in [due_elsewhere, drifted, rotated] {
            assert_eq!(compacted(entry(kept.clone())), entry(kept));
        }
        let failed = json!({"secret_id": "t", "ok": false, "error": "x"});
        assert_eq!(compacted(failed.clone()), failed);
    }
}
