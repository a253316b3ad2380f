//! The scheduled check and the status report of every target: the engine's fleet check
//! ([`FleetCheck`]), and the metric lines each target's result gives.

use super::{Function, Invocation, LambdaError};
use rotator_engine::fleet::{FleetCheck, FleetReport, TargetFailure, TargetReport};
use rotator_engine::metrics;
use rotator_engine::rotation::check::{Action, CheckReport};
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::Step;
use serde_json::{json, Value};

/// How many rotations a check hands to Secrets Manager per second at most: `RotateSecret` is
/// limited to 50 per second per Region for the whole account, and the account has other users.
pub const HAND_OFFS_PER_SECOND: u32 = 20;

/// What the check made of one target: its entry, the days left after the check, and whether it
/// could be checked at all.
struct Entry {
    report: TargetReport,
    days: Option<i64>,
    checked: bool,
}

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
        let fleet = FleetCheck {
            dry_run,
            deadline: invocation.deadline,
            mode: self.rotation_mode,
            rotation_function_arn: invocation.function_arn.clone(),
            reads_at_once: self.look_parallelism,
            rotations_at_once: self.parallelism,
            hand_offs_per_second: Some(HAND_OFFS_PER_SECOND),
            admission: self.admission(),
        };
        let own = self.own_secret.as_ref().map(|(own, _)| own.as_str());
        let store = self.engine.store.as_ref();
        let ids = self.targets.resolve_with_own(store, own).await?;
        // A large fleet's response keeps a short entry for each quiet target: Lambda refuses a
        // response over 6 MB (about 10,000 full entries), and a full entry in memory is kilobytes.
        let compact = ids.len() > self.full_response_targets;
        let entries = (fleet.run(&self.engine, &ids, |id, outcome| {
            self.entry(id, outcome, dry_run, compact)
        }))
        .await;
        if !dry_run {
            self.fleet_metric(&entries);
        }
        let results = entries.into_iter().map(|e| e.report).collect();
        let report = FleetReport::new(dry_run, results, compact);
        let response = json!(report);
        if dry_run || report.failed == 0 {
            return Ok(response);
        }
        // Scheduler invokes asynchronously: only a function error reaches the Errors alarm and
        // the OnFailure queue. The failed entries go to the log (they hold no secret); the whole
        // response of a large fleet would not fit in one log event (256 KB).
        let failed_entries: Vec<&TargetReport> = report.results.iter().filter(|r| !r.ok).collect();
        tracing::error!(failed = %json!(failed_entries), "the check left {} of {} target(s) failed", report.failed, report.targets);
        Err(LambdaError::CheckFailed {
            failed: report.failed,
            targets: report.targets,
            summary: report.failed_summary(),
            report: response,
        })
    }

    /// The fleet's minimum `DaysUntilExpiry`, without a dimension: the alarms watch this one
    /// series. It is written only when every target was checked: its absence (no check ran, or
    /// one target's check failed) is the dead man's switch.
    fn fleet_metric(&self, entries: &[Entry]) {
        let unchecked = entries.iter().filter(|e| !e.checked).count();
        if unchecked > 0 {
            tracing::warn!(
                unchecked,
                "no fleet DaysUntilExpiry: {unchecked} target(s) could not be checked, and a minimum without them would hide them (the dead man's alarm counts this as no report)"
            );
        } else if let Some(min) = entries.iter().filter_map(|e| e.days).min() {
            self.metric(metrics::emf_line(
                metrics::NAMESPACE,
                &[],
                &[("DaysUntilExpiry", min as f64, "None")],
                chrono::Utc::now().timestamp_millis(),
            ));
        }
    }

    /// One target's end: its metric lines (unless a dry run), its entry in the response (short
    /// when `compact` and quiet), and the days until its secret expires after the check.
    async fn entry(
        &self,
        secret_id: String,
        outcome: Result<CheckReport, TargetFailure>,
        dry_run: bool,
        compact: bool,
    ) -> Entry {
        let secret_id = secret_id.as_str();
        if let Err(TargetFailure::Failed(e)) = &outcome {
            // The engine has alerted already: a check that cannot run is a failure too.
            tracing::error!(step = %e.step, class = e.class(), "check of {secret_id} failed: {e}");
        }
        let (days, checked) = match &outcome {
            Ok(report) if dry_run => (report.days_until_expiry, true),
            Ok(report) => (self.metrics_of(secret_id, report).await, true),
            Err(_) => (None, false),
        };
        let report = TargetReport::of(secret_id, outcome);
        Entry {
            report: if compact { report.compacted() } else { report },
            days,
            checked,
        }
    }

    /// The metric lines of one target's check `report`, and the days until its secret expires
    /// now (the new secret's, after a rotation).
    async fn metrics_of(&self, secret_id: &str, report: &CheckReport) -> Option<i64> {
        let mut days = report.days_until_expiry;
        match report.rotation.as_ref().map(|r| r.outcome) {
            Some(outcome) if outcome.succeeded() => {
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
            Some(_) => self.metric(metrics::rotation_failed(secret_id)),
            None => self.start_metric(secret_id, report.action),
        }
        if let Some(d) = days {
            self.metric(metrics::days_until_expiry(secret_id, d));
        }
        days
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
