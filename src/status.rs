//! `status` for operators: every target in one table (or one JSON object), read-only, and
//! whether any needs attention: inside the rotation threshold or expired, its check failed, or
//! drift that someone should look at. The CLI exits 1 then, so cron and monitoring can use it.

use chrono::{DateTime, Utc};
use rotator_engine::rotation::check::{CheckReport, DriftKind};
use rotator_engine::rotation::{Engine, Step};
use serde::Serialize;

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Not due.
    Ok,
    /// Inside the rotation threshold: the next check rotates it.
    Due,
    /// The managed secret has expired.
    Expired,
    /// The target could not be checked.
    Failed,
}

/// One target.
#[derive(Debug, Serialize)]
pub struct Row {
    /// The target's secret id.
    pub secret_id: String,
    /// Where it stands.
    pub state: State,
    /// Whole days until the managed secret expires.
    pub days_until_expiry: Option<i64>,
    /// When it expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the rotation that made the current document started (none before the first).
    pub last_rotation: Option<DateTime<Utc>>,
    /// The kinds of drift found.
    pub drift: Vec<DriftKind>,
    /// True when someone should act: due, expired, failed, or drift of a kind that needs a look.
    pub attention: bool,
    /// Why the check failed (never a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The full read-only check report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<CheckReport>,
    /// What kind of failure the check's was (the CLI exits 3 when one could not run).
    #[serde(skip)]
    pub failure: Option<crate::exit::Kind>,
}

/// Every target.
#[derive(Debug, Serialize)]
pub struct Status {
    /// How many targets.
    pub targets: usize,
    /// How many need attention.
    pub attention: usize,
    /// One row each, in the order given.
    pub results: Vec<Row>,
}

/// Drift that needs a person: Jamf Pro's secret gone from the app, expired or unmanaged
/// credentials, leftovers of an interrupted rotation. A retirement waiting for its time and a
/// credential of another target on a shared app are expected.
fn needs_a_look(kind: DriftKind) -> bool {
    !matches!(kind, DriftKind::RetirePending | DriftKind::OtherTarget)
}

/// The row of a check `report`, with the last rotation's start.
pub fn row(report: CheckReport, last_rotation: Option<DateTime<Utc>>) -> Row {
    let state = match report.days_until_expiry {
        Some(d) if d < 0 => State::Expired,
        _ if report.due => State::Due,
        _ => State::Ok,
    };
    let drift: Vec<DriftKind> = report.drift.iter().map(|d| d.kind).collect();
    Row {
        secret_id: report.secret_id.clone(),
        state,
        days_until_expiry: report.days_until_expiry,
        expires_at: report.expires_at,
        last_rotation,
        attention: state != State::Ok || drift.iter().any(|k| needs_a_look(*k)),
        drift,
        error: None,
        report: Some(report),
        failure: None,
    }
}

/// The row of a target whose check failed with `error`, a failure of kind `failure`.
pub fn failed(secret_id: &str, error: String, failure: crate::exit::Kind) -> Row {
    Row {
        secret_id: secret_id.to_string(),
        state: State::Failed,
        days_until_expiry: None,
        expires_at: None,
        last_rotation: None,
        drift: Vec::new(),
        attention: true,
        error: Some(error),
        report: None,
        failure: Some(failure),
    }
}

/// The read-only status of every target in `ids` (one at a time: a handful of targets).
pub async fn status(engine: &Engine, ids: &[String]) -> Status {
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        results.push(match engine.check(id, true).await {
            Ok(report) => {
                let last = engine
                    .current(Step::Check, id)
                    .await
                    .ok()
                    .and_then(|(_, doc)| doc.rotation.map(|r| r.started_at));
                row(report, last)
            }
            Err(e) => {
                let failure = crate::exit::rotation(&e.kind);
                failed(
                    id,
                    format!("{e} (class {}); {}", e.class(), e.advice()),
                    failure,
                )
            }
        });
    }
    Status {
        targets: results.len(),
        attention: results.iter().filter(|r| r.attention).count(),
        results,
    }
}

fn kebab(kind: DriftKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The status as a table: one line per target, then the failed checks' errors.
pub fn table(status: &Status) -> String {
    let width = status
        .results
        .iter()
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
        let drift: Vec<String> = r.drift.iter().map(|k| kebab(*k)).collect();
        let state = serde_json::to_value(r.state).unwrap_or_default();
        out.push_str(&format!(
            "{:width$}  {:>5}  {:10}  {:13}  {:8}  {}{}\n",
            r.secret_id,
            r.days_until_expiry.map_or("-".into(), |d| d.to_string()),
            day(r.expires_at),
            day(r.last_rotation),
            state.as_str().unwrap_or("?"),
            if drift.is_empty() {
                "-".into()
            } else {
                drift.join(",")
            },
            if r.attention { "  <- attention" } else { "" },
        ));
    }
    for r in status.results.iter().filter(|r| r.error.is_some()) {
        out.push_str(&format!(
            "{}: {}\n",
            r.secret_id,
            r.error.as_deref().unwrap_or("")
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
    use rotator_engine::rotation::check::{Action, Drift};

    fn report(days: i64, due: bool, drift: &[DriftKind]) -> CheckReport {
        CheckReport {
            rotation_in_progress_until: None,
            secret_id: format!("t{days}"),
            target: "smtp-graph".into(),
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
            drift: drift
                .iter()
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
        }
    }

    #[test]
    fn due_expired_failed_and_drift_need_attention_and_expected_states_do_not() {
        let ok = row(report(90, false, &[]), None);
        let retiring = row(
            report(
                90,
                false,
                &[DriftKind::RetirePending, DriftKind::OtherTarget],
            ),
            None,
        );
        let due = row(report(10, true, &[]), None);
        let expired = row(report(-1, true, &[]), None);
        let drifted = row(report(90, false, &[DriftKind::Unmanaged]), None);
        let broken = failed(
            "t",
            "Secrets Manager: AccessDenied".into(),
            crate::exit::Kind::Denied,
        );
        assert_eq!(
            [&ok, &retiring, &due, &expired, &drifted, &broken].map(|r| (r.state, r.attention)),
            [
                (State::Ok, false),
                (State::Ok, false),
                (State::Due, true),
                (State::Expired, true),
                (State::Ok, true),
                (State::Failed, true),
            ]
        );
    }

    #[test]
    fn the_table_has_a_line_per_target_and_says_how_many_need_attention() {
        let status = Status {
            targets: 2,
            attention: 1,
            results: vec![
                row(report(90, false, &[]), None),
                failed(
                    "jamf/prod",
                    "the check failed (class store)".into(),
                    crate::exit::Kind::Unavailable,
                ),
            ],
        };
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
            text.contains("jamf/prod: the check failed (class store)"),
            "{text}"
        );
        assert!(
            text.ends_with("1 of 2 target(s) need attention\n"),
            "{text}"
        );
    }
}
