//! What a check says of each target ([`TargetReport`]) and of them all ([`FleetReport`]): one
//! JSON shape for the CLI's `check --json` and `status --json` and the Lambda's `check` and
//! `status` responses, given as a JSON Schema in docs/target-report.schema.json.

use crate::rotation::check::{Action, CheckReport};
use crate::rotation::drift::DriftKind;
use crate::rotation::RotationError;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where a target stands after its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Not due, or rotated by this check.
    Ok,
    /// Inside the rotation threshold and not rotated by this check (a dry run, a rotation
    /// deferred, handed to Secrets Manager or in progress elsewhere).
    Due,
    /// The managed secret has expired.
    Expired,
    /// The target could not be checked, or its rotation failed.
    Failed,
}

/// How one target's check ended, as the fleet check hands it to its caller.
#[derive(Debug)]
pub enum TargetFailure {
    /// The check could not run, or refused the target (the engine has alerted).
    Failed(RotationError),
    /// The check's task panicked or was cancelled (a bug); its message is not kept.
    Crashed,
}

/// A quiet target's report made short ([`TargetReport::compacted`]).
#[derive(Debug, Clone, Serialize)]
pub struct CompactReport {
    /// Always [`Action::None`]: only a target the check left alone is made short.
    pub action: Action,
    /// When the managed secret expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whole days until then.
    pub days_until_expiry: Option<i64>,
}

/// A target's check report, whole or (a quiet target of a large fleet) short.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Report {
    /// The whole report.
    Full(Box<CheckReport>),
    /// Action, expiry and days left only.
    Compact(CompactReport),
}

/// One target's entry in a check's or a status report's `results`.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// The target's secret id, as the check was given it.
    pub secret_id: String,
    /// False when the check could not run or its rotation failed.
    pub ok: bool,
    /// Where the target stands.
    pub state: State,
    /// True when someone should act: due, expired, failed, or drift of a kind that needs a look.
    pub attention: bool,
    /// The check's report (none when it could not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    /// Why the check could not run (never a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What kind of failure (`entra`, `secrets-manager`, `document`, `crashed`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    /// The one thing the operator should do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// Drift that needs a person: Jamf Pro's secret gone from the app, expired or unmanaged
/// credentials, leftovers of an interrupted rotation. A retirement waiting for its time and a
/// credential of another target on a shared app are expected.
fn needs_a_look(kind: DriftKind) -> bool {
    !matches!(kind, DriftKind::RetirePending | DriftKind::OtherTarget)
}

impl TargetReport {
    /// The entry of `secret_id` for how its check ended.
    pub fn of(secret_id: &str, outcome: Result<CheckReport, TargetFailure>) -> Self {
        match outcome {
            Ok(report) => Self::checked(report),
            Err(TargetFailure::Failed(e)) => Self::failed(secret_id, &e),
            Err(TargetFailure::Crashed) => Self::crashed(secret_id),
        }
    }

    /// The entry of a target whose check ran and said `report`.
    pub fn checked(report: CheckReport) -> Self {
        let state = match report.action {
            Action::RotationFailed => State::Failed,
            Action::Rotated => State::Ok,
            _ => match report.days_until_expiry {
                Some(d) if d < 0 => State::Expired,
                _ if report.due => State::Due,
                _ => State::Ok,
            },
        };
        let drifting = report.drift.iter().any(|d| needs_a_look(d.kind));
        Self {
            secret_id: report.secret_id.clone(),
            ok: report.action != Action::RotationFailed,
            state,
            attention: state != State::Ok || drifting,
            report: Some(Report::Full(Box::new(report))),
            error: None,
            error_class: None,
            advice: None,
        }
    }

    /// The entry of a target whose check could not run: `e`, its class and advice.
    pub fn failed(secret_id: &str, e: &RotationError) -> Self {
        Self::failure(secret_id, e.to_string(), e.class(), Some(e.advice()))
    }

    /// The entry of a target whose check task panicked or was cancelled.
    pub fn crashed(secret_id: &str) -> Self {
        // Not the panic's message: it may hold anything (see `crate::panics`).
        let error = "the check of this target crashed; see the function's log".to_string();
        Self::failure(secret_id, error, "crashed", None)
    }

    fn failure(secret_id: &str, error: String, class: &str, advice: Option<String>) -> Self {
        Self {
            secret_id: secret_id.to_string(),
            ok: false,
            state: State::Failed,
            attention: true,
            report: None,
            error: Some(error),
            error_class: Some(class.to_string()),
            advice,
        }
    }

    /// The whole check report, when the check ran.
    pub fn full(&self) -> Option<&CheckReport> {
        match &self.report {
            Some(Report::Full(r)) => Some(r),
            _ => None,
        }
    }

    /// What the check did, when it ran.
    pub fn action(&self) -> Option<Action> {
        match &self.report {
            Some(Report::Full(r)) => Some(r.action),
            Some(Report::Compact(c)) => Some(c.action),
            None => None,
        }
    }

    /// This entry, short when its target is quiet (checked, not due, nothing done or in
    /// progress, no drift): its action, expiry and days left. Any other entry is kept whole.
    pub fn compacted(self) -> Self {
        let Some(r) = self.full() else {
            return self;
        };
        let quiet = self.ok
            && r.action == Action::None
            && !r.due
            && r.rotation_in_progress_until.is_none()
            && r.drift.is_empty();
        if !quiet {
            return self;
        }
        let short = CompactReport {
            action: Action::None,
            expires_at: r.expires_at,
            days_until_expiry: r.days_until_expiry,
        };
        Self {
            report: Some(Report::Compact(short)),
            ..self
        }
    }

    /// The failure's class for a summary: the check's, or the failed rotation's.
    fn failure_class(&self) -> String {
        let rotation = self.full().and_then(|r| r.rotation.as_ref());
        (self.error_class.clone())
            .or_else(|| rotation.and_then(|r| r.error_class.clone()))
            .unwrap_or_else(|| "rotation-failed".into())
    }
}

/// A whole check's or status report's response.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// `check` or `status` (a check's dry run).
    pub action: &'static str,
    /// How many targets were checked.
    pub targets: usize,
    /// How many failed (could not be checked, or their rotation failed).
    pub failed: usize,
    /// How many need attention.
    pub attention: usize,
    /// How many due rotations were deferred to the next check.
    pub deferred: usize,
    /// How many due rotations were handed to Secrets Manager.
    pub handed_off: usize,
    /// True when quiet targets have short entries ([`TargetReport::compacted`]).
    pub compact: bool,
    /// One entry per target, in the order given.
    pub results: Vec<TargetReport>,
}

impl FleetReport {
    /// The report of a check (`dry_run`: the status report) whose entries are `results`.
    pub fn new(dry_run: bool, results: Vec<TargetReport>, compact: bool) -> Self {
        let count = |action: Action| {
            let n = results.iter().filter(|r| r.action() == Some(action));
            n.count()
        };
        Self {
            action: if dry_run { "status" } else { "check" },
            targets: results.len(),
            failed: results.iter().filter(|r| !r.ok).count(),
            attention: results.iter().filter(|r| r.attention).count(),
            deferred: count(Action::Deferred),
            handed_off: count(Action::HandedOff),
            compact,
            results,
        }
    }

    /// The failed targets, each with its error class: `id (class), …` (at most ten named).
    pub fn failed_summary(&self) -> String {
        let failed: Vec<String> = (self.results.iter())
            .filter(|r| !r.ok)
            .map(|r| format!("{} ({})", r.secret_id, r.failure_class()))
            .collect();
        let more = failed.len().saturating_sub(10);
        let mut summary = failed.into_iter().take(10).collect::<Vec<_>>().join(", ");
        if more > 0 {
            summary.push_str(&format!(" and {more} more"));
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::TargetKind;
    use crate::rotation::drift::Drift;
    use crate::rotation::error::ErrorKind;
    use crate::rotation::Step;

    fn report(days: i64, due: bool, drift: &[DriftKind]) -> CheckReport {
        CheckReport {
            rotation_in_progress_until: None,
            secret_id: format!("t{days}"),
            target: "jamf.example.com smtp-graph".into(),
            key_id: None,
            expires_at: None,
            days_until_expiry: Some(days),
            threshold_days: 30,
            due,
            action: if due {
                Action::WouldRotate
            } else {
                Action::None
            },
            drift: (drift.iter())
                .map(|k| Drift {
                    kind: *k,
                    key_id: None,
                    detail: String::new(),
                })
                .collect(),
            credentials: Vec::new(),
            rotation: None,
            hand_off: None,
            deferred: None,
            proof: None,
            kind: TargetKind::SmtpGraph,
            last_rotation: None,
        }
    }

    #[test]
    fn due_expired_failed_and_drift_need_attention_and_expected_states_do_not() {
        let row = |r| TargetReport::checked(r);
        let ok = row(report(90, false, &[]));
        let retiring = row(report(
            90,
            false,
            &[DriftKind::RetirePending, DriftKind::OtherTarget],
        ));
        let due = row(report(10, true, &[]));
        let expired = row(report(-1, true, &[]));
        let drifted = row(report(90, false, &[DriftKind::Unmanaged]));
        let mut rotated = report(10, true, &[]);
        rotated.action = Action::Rotated;
        let rotated = row(rotated);
        let missing = ErrorKind::NoCurrentVersion {
            secret_id: "t".into(),
        };
        let broken = TargetReport::failed("t", &RotationError::new(Step::Check, missing));
        assert_eq!(
            [&ok, &retiring, &due, &expired, &drifted, &rotated, &broken].map(|r| (
                r.state,
                r.attention,
                r.ok
            )),
            [
                (State::Ok, false, true),
                (State::Ok, false, true),
                (State::Due, true, true),
                (State::Expired, true, true),
                (State::Ok, true, true),
                (State::Ok, false, true),
                (State::Failed, true, false),
            ]
        );
        assert_eq!(broken.error_class.as_deref(), Some("document"));
        assert!(broken.advice.is_some(), "{broken:?}");
    }

    #[test]
    fn only_a_quiet_entry_is_made_short() {
        let quiet = report(86, false, &[]);
        let short = serde_json::to_value(TargetReport::checked(quiet.clone()).compacted());
        assert_eq!(
            short.unwrap(),
            serde_json::json!({"secret_id": "t86", "ok": true, "state": "ok", "attention": false,
                "report": {"action": "none", "expires_at": null, "days_until_expiry": 86}})
        );
        let mut due_elsewhere = quiet.clone();
        due_elsewhere.due = true;
        due_elsewhere.rotation_in_progress_until = Some(Utc::now());
        let drifted = report(86, false, &[DriftKind::Unmanaged]);
        let mut rotated = quiet.clone();
        rotated.action = Action::Rotated;
        for kept in [due_elsewhere, drifted, rotated] {
            let entry = TargetReport::checked(kept);
            assert!(entry.clone().compacted().full().is_some(), "{entry:?}");
        }
        let crashed = TargetReport::crashed("t").compacted();
        assert_eq!(crashed.error_class.as_deref(), Some("crashed"));
    }

    #[test]
    fn a_fleet_report_counts_and_names_its_failed_targets() {
        let failed: Vec<TargetReport> = (0..12)
            .map(|i| TargetReport::crashed(&format!("t{i}")))
            .collect();
        let mut results = vec![TargetReport::checked(report(90, false, &[]))];
        results.extend(failed);
        let fleet = FleetReport::new(false, results, false);
        assert_eq!(
            (fleet.action, fleet.targets, fleet.failed, fleet.attention),
            ("check", 13, 12, 12)
        );
        let summary = fleet.failed_summary();
        assert!(
            summary.starts_with("t0 (crashed), t1 (crashed)") && summary.ends_with(" and 2 more"),
            "{summary}"
        );
    }
}
