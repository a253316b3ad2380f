//! `check` and `status` for operators: the engine's fleet check ([`FleetCheck`], the one the
//! Lambda runs) over the deployment's targets, without a deadline. `check` prints each target as
//! its check ends; `status` is its read-only dry run, printed as one table at the end. With
//! `--json` both print one [`FleetReport`] (docs/target-report.schema.json). `status` exits 1
//! when any target needs attention (inside the rotation threshold or expired, its check failed,
//! or drift that someone should look at), so cron and monitoring can use it.

use crate::exit::{self, Kind};
use chrono::{DateTime, Utc};
use rotator_adapters::wiring::Wiring;
use rotator_engine::fleet::{Admission, FleetCheck, FleetReport, TargetFailure, TargetReport};
use std::process::ExitCode;

/// Targets the CLI reads at once: a fleet's status in seconds, far under Graph's and Secrets
/// Manager's quotas.
pub const READS_AT_ONCE: usize = 16;

/// Targets the CLI rotates at once: one, so that a rotation's progress lines stay together.
pub const ROTATIONS_AT_ONCE: usize = 1;

/// A check of every target in `ids` and what kind each failure was (the exit code).
pub struct Checked {
    /// The report, one entry per target in the order given.
    pub report: FleetReport,
    /// The kind of each target's failure to run.
    pub failures: Vec<Kind>,
}

/// Checks `ids` with `w`'s engine (`dry_run`: the status report), printing each target's end
/// as it comes when `progress`: its check report on stdout, or its failure on stderr.
pub async fn check(w: &Wiring, ids: &[String], dry_run: bool, progress: bool) -> Checked {
    let fleet = FleetCheck {
        admission: Admission {
            own: w.own_secret.clone(),
            rotator_client_id: w.settings.rotator_client_id.clone(),
        },
        ..FleetCheck::unlimited(dry_run, READS_AT_ONCE, ROTATIONS_AT_ONCE)
    };
    let mut failures = Vec::new();
    let results = (fleet.run(&w.engine, ids, |id, outcome| {
        match &outcome {
            Ok(r) if progress => print!("{}", crate::setup::describe_check(r)),
            Ok(_) => {}
            Err(TargetFailure::Failed(e)) => {
                failures.push(exit::rotation(&e.kind));
                if progress {
                    eprintln!("{id}: check failed: {e}");
                }
            }
            Err(TargetFailure::Crashed) => {
                failures.push(Kind::Attention);
                if progress {
                    eprintln!(
                        "{id}: check crashed (a bug); run it again, and report it if it repeats"
                    );
                }
            }
        }
        std::future::ready(TargetReport::of(&id, outcome))
    }))
    .await;
    Checked {
        report: FleetReport::new(dry_run, results, false),
        failures,
    }
}

impl Checked {
    /// `status`'s exit code: 3 when a service did not answer for a target, else 1 when any
    /// needs attention, else 0.
    pub fn status_exit(&self) -> ExitCode {
        let attention = self.report.attention > 0;
        exit::of_targets(attention, self.failures.iter().copied())
    }

    /// `check`'s exit code: 3 when a service did not answer for a target, else 1 when a check
    /// or a rotation failed, else 0.
    pub fn check_exit(&self) -> ExitCode {
        let failed = self.report.failed > 0;
        exit::of_targets(failed, self.failures.iter().copied())
    }
}

fn kebab<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The status as a table: one line per target, then the failed checks' errors.
pub fn table(status: &FleetReport) -> String {
    let width = (status.results.iter())
        .map(|r| r.secret_id.len())
        .chain([6])
        .max()
        .unwrap_or(6);
    let day =
        |t: Option<DateTime<Utc>>| t.map_or("-".to_string(), |t| t.format("%Y-%m-%d").to_string());
    let mut out = format!(
        "{:width$}  {:>5}  {:10}  {:13}  {:8}  DRIFT\n",
        "TARGET", "DAYS", "EXPIRES", "LAST ROTATION", "STATE"
    );
    for r in &status.results {
        let report = r.full();
        let drift: Vec<String> = (report.iter())
            .flat_map(|c| c.drift.iter().map(|d| kebab(d.kind)))
            .collect();
        out.push_str(&format!(
            "{:width$}  {:>5}  {:10}  {:13}  {:8}  {}{}\n",
            r.secret_id,
            (report.and_then(|c| c.days_until_expiry)).map_or("-".into(), |d| d.to_string()),
            day(report.and_then(|c| c.expires_at)),
            day(report.and_then(|c| c.last_rotation)),
            kebab(r.state),
            if drift.is_empty() {
                "-".into()
            } else {
                drift.join(",")
            },
            if r.attention { "  <- attention" } else { "" },
        ));
    }
    for r in status.results.iter().filter(|r| r.error.is_some()) {
        let class = r.error_class.as_deref().unwrap_or("?");
        let advice = r
            .advice
            .as_deref()
            .map(|a| format!("; {a}"))
            .unwrap_or_default();
        let error = r.error.as_deref().unwrap_or("");
        out.push_str(&format!(
            "{}: {error} (class {class}){advice}\n",
            r.secret_id
        ));
    }
    out.push_str(&format!(
        "{} of {} target(s) need attention\n",
        status.attention, status.targets
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotator_engine::document::TargetKind;
    use rotator_engine::rotation::check::{Action, CheckReport};
    use rotator_engine::rotation::error::ErrorKind;
    use rotator_engine::rotation::{RotationError, Step};

    fn report(days: i64) -> CheckReport {
        CheckReport {
            rotation_in_progress_until: None,
            secret_id: format!("t{days}"),
            target: "smtp-graph".into(),
            key_id: None,
            expires_at: None,
            days_until_expiry: Some(days),
            threshold_days: 30,
            due: false,
            action: Action::None,
            drift: Vec::new(),
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
    fn the_table_has_a_line_per_target_and_says_how_many_need_attention() {
        let missing = ErrorKind::NoCurrentVersion {
            secret_id: "jamf/prod".into(),
        };
        let failed = RotationError::new(Step::Check, missing);
        let status = FleetReport::new(
            true,
            vec![
                TargetReport::checked(report(90)),
                TargetReport::failed("jamf/prod", &failed),
            ],
            false,
        );
        let text = table(&status);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TARGET"), "{text}");
        assert!(
            lines[1].starts_with("t90") && lines[1].contains("   90") && lines[1].contains("ok"),
            "{text}"
        );
        assert!(
            lines[2].contains("failed") && lines[2].ends_with("<- attention"),
            "{text}"
        );
        assert!(
            text.contains(&format!("jamf/prod: {failed} (class {})", failed.class())),
            "{text}"
        );
        assert!(
            text.ends_with("1 of 2 target(s) need attention\n"),
            "{text}"
        );
    }
}
