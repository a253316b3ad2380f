//! The scheduled check: days until expiry, drift, and a rotation when one is due. With
//! `dry_run` it is the read-only `status` report.

use super::driver::{Outcome, RotationReport};
use super::ledger::Ledger;
use super::retire::Retirement;
use super::run::Seen;
use super::{app_of, is_ours, Engine, RotateRequest, RotationError, Step};
use crate::ports::{AlertKind, AppRef, AWSPENDING};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One kind of drift between what the document says and what the app holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    /// The credential the document names is not on the app: Jamf Pro's secret no longer works.
    ManagedMissing,
    /// A credential on the app has expired.
    Expired,
    /// A credential nobody manages (not ours, not the document's).
    Unmanaged,
    /// A credential of ours that no secret version holds (left by an interrupted rotation).
    Orphan,
    /// The credential a completed rotation replaced is still on the app.
    RetirePending,
    /// A rotation is half done (`AWSPENDING` present).
    StalePending,
    /// A credential the rotator made for another target that shares this app registration.
    OtherTarget,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    /// What kind.
    pub kind: DriftKind,
    /// The credential concerned.
    pub key_id: Option<String>,
    /// A sentence for the report.
    pub detail: String,
}

/// What the check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Nothing was due.
    None,
    /// A rotation ran (see `rotation`).
    Rotated,
    /// A rotation ran and failed (see `rotation`).
    RotationFailed,
    /// A rotation was due, but this was a dry run.
    WouldRotate,
}

/// One credential of the app, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialView {
    /// Key id.
    pub key_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// The document's credential.
    pub managed: bool,
    /// Created by this product.
    pub ours: bool,
}

/// The check's report for one target.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// While another attempt at the target's rotation holds its lease: until when. The check
    /// then changes nothing (no housekeeping, no rotation) and leaves the rotation to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_in_progress_until: Option<DateTime<Utc>>,
    /// The target's secret id.
    pub secret_id: String,
    /// Jamf host and target kind.
    pub target: String,
    /// The managed credential's key id.
    pub key_id: Option<String>,
    /// When it expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whole days until then (negative: expired).
    pub days_until_expiry: Option<i64>,
    /// The threshold applied.
    pub threshold_days: i64,
    /// True when a rotation is due.
    pub due: bool,
    /// What the check did.
    pub action: Action,
    /// Drift found.
    pub drift: Vec<Drift>,
    /// The app's credentials.
    pub credentials: Vec<CredentialView>,
    /// The rotation it ran.
    pub rotation: Option<RotationReport>,
}

impl Engine {
    /// The scheduled check of one target: reads the app's credentials, reports days until expiry
    /// and drift, finishes retirements and sweeps orphans, and rotates when the secret expires
    /// within the threshold (or no longer works, or a rotation is half done). `dry_run` changes
    /// nothing and sends no alert.
    pub async fn check(
        &self,
        secret_id: &str,
        dry_run: bool,
    ) -> Result<CheckReport, RotationError> {
        // One target's panic is this target's failure, not the end of every target's check.
        let result = crate::panics::contained(secret_id, self.check_target(secret_id, dry_run))
            .await
            .unwrap_or_else(|p| {
                tracing::error!(step = %Step::Check, "check of {secret_id} failed: {p}");
                Err(RotationError::new(
                    Step::Check,
                    super::error::ErrorKind::Panicked(p.to_string()),
                ))
            });
        if let (Err(e), false) = (&result, dry_run) {
            // A check that cannot even look at the target is a failure too: the secret may be
            // expiring unwatched.
            self.alert(
                AlertKind::RotationFailed,
                secret_id,
                format!("Check failed: {secret_id}"),
                format!(
                    "Target: {secret_id}\nThe scheduled check could not run.\nFailed step: {}\nError class: {}\nError: {e}\nState left: nothing was changed.\nWhat to do: {}",
                    e.step,
                    e.class(),
                    e.advice()
                ),
            )
            .await;
        }
        result
    }

    async fn check_target(
        &self,
        secret_id: &str,
        dry_run: bool,
    ) -> Result<CheckReport, RotationError> {
        let step = Step::Check;
        // Taken before the read: a rotation of this target in this process after it makes what
        // was read stale for the rotation below.
        let generation = self.lock_for(secret_id).rotations();
        let info = self
            .store
            .describe(secret_id)
            .await
            .map_err(|e| RotationError::store(step, e))?;
        let (current_version, doc) = self.current(step, secret_id).await?;
        let application = self
            .directory
            .application(&app_of(&doc))
            .await
            .map_err(|e| RotationError::directory(step, e))?;
        let app = AppRef {
            object_id: Some(application.object_id.clone()),
            ..app_of(&doc)
        };
        let now = self.clock.now();
        let managed_key = doc.entra.key_id.as_deref().map(str::to_lowercase);
        let managed = application
            .passwords
            .iter()
            .find(|c| Some(c.key_id.to_lowercase()) == managed_key);
        let expires_at = managed.and_then(|c| c.end).or(doc.entra.expires_at);
        let days = expires_at.map(|e| (e - now).num_days());

        // A secret we made shorter-lived than the threshold allows (a strict tenant policy) would
        // be due the day it was made: then rotate in its last third instead.
        let lifetime_days = managed
            .filter(|c| is_ours(c.display_name.as_deref()))
            .and_then(|c| Some((c.end? - c.start?).num_days()));
        let threshold = lifetime_days.map_or(self.policy.threshold_days, |l| {
            self.policy.threshold_days.min(l / 3).max(1)
        });

        let mut drift = Vec::new();
        let pending = info
            .version_with(AWSPENDING)
            .filter(|v| *v != current_version);
        if let Some(p) = pending {
            drift.push(Drift {
                kind: DriftKind::StalePending,
                key_id: None,
                detail: format!("a rotation is half done (AWSPENDING on version {p})"),
            });
        }
        if managed.is_none() {
            drift.push(Drift {
                kind: DriftKind::ManagedMissing,
                key_id: doc.entra.key_id.clone(),
                detail: "the credential the document names is not on the app: Jamf Pro's secret no longer works".into(),
            });
        }
        let ledger = self
            .ledger(
                step,
                secret_id,
                &info,
                &[(&current_version, &doc)],
                &application,
            )
            .await
            .unwrap_or_else(|_| Ledger {
                tag: super::target_tag(&info.arn),
                ..Default::default()
            });
        let retire = doc
            .rotation
            .as_ref()
            .and_then(|r| r.replaces_key_id.clone())
            .map(|k| k.to_lowercase());
        let orphans: Vec<String> =
            ledger_orphans(&ledger, &application, now, self.policy.orphan_min_age);
        for c in &application.passwords {
            let key = c.key_id.to_lowercase();
            if c.end.is_some_and(|e| e <= now) {
                drift.push(Drift {
                    kind: DriftKind::Expired,
                    key_id: Some(c.key_id.clone()),
                    detail: format!("credential {} expired", c.key_id),
                });
            }
            if Some(&key) == managed_key.as_ref() {
                continue;
            }
            if retire.as_ref() == Some(&key) {
                drift.push(Drift {
                    kind: DriftKind::RetirePending,
                    key_id: Some(c.key_id.clone()),
                    detail: "the credential the last rotation replaced is still on the app".into(),
                });
            } else if orphans.contains(&c.key_id) {
                drift.push(Drift {
                    kind: DriftKind::Orphan,
                    key_id: Some(c.key_id.clone()),
                    detail: "a credential of ours that no secret version holds".into(),
                });
            } else if is_ours(c.display_name.as_deref())
                && !super::is_ours_for(c.display_name.as_deref(), &ledger.tag)
            {
                drift.push(Drift {
                    kind: DriftKind::OtherTarget,
                    key_id: Some(c.key_id.clone()),
                    detail: "a credential the rotator made for another target on the same app"
                        .into(),
                });
            } else if !is_ours(c.display_name.as_deref()) {
                drift.push(Drift {
                    kind: DriftKind::Unmanaged,
                    key_id: Some(c.key_id.clone()),
                    detail: format!(
                        "credential {:?} is not managed by the rotator",
                        c.display_name.as_deref().unwrap_or("")
                    ),
                });
            }
        }

        let due = pending.is_some() || managed.is_none() || days.is_none_or(|d| d <= threshold);
        let mut report = CheckReport {
            rotation_in_progress_until: super::lease::Lease::of(&info)
                .filter(|l| l.live(now))
                .map(|l| l.expires),
            secret_id: secret_id.to_string(),
            target: doc.label(),
            key_id: doc.entra.key_id.clone(),
            expires_at,
            days_until_expiry: days,
            threshold_days: threshold,
            due,
            action: Action::None,
            drift,
            credentials: application
                .passwords
                .iter()
                .map(|c| CredentialView {
                    key_id: c.key_id.clone(),
                    display_name: c.display_name.clone(),
                    expires_at: c.end,
                    managed: Some(c.key_id.to_lowercase()) == managed_key,
                    ours: is_ours(c.display_name.as_deref()),
                })
                .collect(),
            rotation: None,
        };
        if dry_run || report.rotation_in_progress_until.is_some() {
            if due && dry_run {
                report.action = Action::WouldRotate;
            }
            if let Some(until) = report.rotation_in_progress_until.filter(|_| !dry_run) {
                self.note(
                    step,
                    &format!(
                        "another attempt holds this target's rotation until {}; leaving it alone",
                        until.format("%H:%M:%S UTC")
                    ),
                );
            }
            return Ok(report);
        }

        // Housekeeping first: finish a retirement that is due (or that a crash interrupted);
        // sweep orphans.
        let retirement = if report
            .drift
            .iter()
            .any(|d| d.kind == DriftKind::RetirePending)
        {
            // An unreadable sign-in report keeps the old credential for a later check.
            Some(
                self.retirement(step, &doc, &app, false)
                    .await
                    .unwrap_or_else(|e| Retirement::Wait(e.to_string())),
            )
        } else {
            None
        };
        if let Some(Retirement::Overdue(why)) = &retirement {
            self.alert(
                AlertKind::Drift,
                secret_id,
                format!("New secret not seen in use: {}", report.target),
                format!("Target: {secret_id} ({})\n{why}.\nThe old credential is kept, so Jamf Pro keeps working either way.\nWhat to do: check that Jamf Pro uses the new secret (the integration's status in Jamf Pro); an emergency rotation (`--revoke-old immediately`) retires the old one regardless.", report.target),
            )
            .await;
        }
        let mut removed = Vec::new();
        let mut not_removed = Vec::new();
        for d in &report.drift {
            let due = match d.kind {
                DriftKind::Orphan => true,
                DriftKind::RetirePending => retirement == Some(Retirement::Now),
                _ => false,
            };
            if due {
                let key = d.key_id.as_deref().unwrap_or_default();
                match self
                    .remove_checked(
                        step,
                        secret_id,
                        &app,
                        key,
                        &[(&current_version, &doc)],
                        None,
                    )
                    .await
                {
                    Ok(()) => {
                        removed.push(key.to_string());
                        self.note(
                            step,
                            &format!(
                                "removed {} credential {key}",
                                if d.kind == DriftKind::Orphan {
                                    "orphaned"
                                } else {
                                    "replaced"
                                }
                            ),
                        )
                    }
                    Err(e) => {
                        tracing::warn!(step = "check", "could not remove credential {key}: {e}");
                        not_removed.push((
                            key.to_string(),
                            format!("- {} credential {key}: {e}", kebab(d.kind)),
                        ));
                    }
                }
            }
        }
        // A lockdown that a crash interrupted after the switch is completed now.
        if let Some(record) = doc.rotation.as_ref().filter(|r| r.lockdown) {
            let mut left = application.clone();
            left.passwords.retain(|c| !removed.contains(&c.key_id));
            match self
                .complete_lockdown(secret_id, (&current_version, &doc), record, &app, &left)
                .await
            {
                Ok(gone) => removed.extend(gone),
                Err(e) => {
                    tracing::warn!(step = "check", "the lockdown could not be completed: {e}")
                }
            }
        }
        // What the lockdown's completion removed after all is not a housekeeping failure.
        let not_removed: Vec<String> = not_removed
            .into_iter()
            .filter(|(key, _)| !removed.contains(key))
            .map(|(_, line)| line)
            .collect();
        if !not_removed.is_empty() {
            self.housekeeping_failed(secret_id, &report.target, &not_removed)
                .await;
        }
        let serious: Vec<&Drift> = report
            .drift
            .iter()
            .filter(|d| d.key_id.as_ref().is_none_or(|k| !removed.contains(k)))
            .filter(|d| {
                matches!(d.kind, DriftKind::ManagedMissing | DriftKind::Unmanaged)
                    || (d.kind == DriftKind::Expired
                        && d.key_id.as_deref().map(str::to_lowercase) == managed_key)
            })
            .collect();
        if !serious.is_empty() {
            let lines: Vec<String> = serious
                .iter()
                .map(|d| {
                    format!(
                        "- {}: {}",
                        serde_json::to_value(d.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        d.detail
                    )
                })
                .collect();
            self.alert(AlertKind::Drift, secret_id, format!("Drift: {}", report.target), format!("Target: {secret_id} ({})\n{}\nWhat to do: review the app registration's client secrets; outside a lockdown the rotator removes only the secret a rotation replaced and its own leftovers.", report.target, lines.join("\n"))).await;
        }

        if due {
            let reason = match (pending, managed, days) {
                (Some(_), _, _) => "scheduled: resuming a half-done rotation".to_string(),
                (_, None, _) => "scheduled: the managed credential is missing".to_string(),
                (_, _, Some(d)) => format!("scheduled: {d} days until expiry"),
                _ => "scheduled".to_string(),
            };
            // The rotation starts from what this check just read (the stages, the document, the
            // app, less what the housekeeping above removed) instead of reading it all again.
            let mut application = application.clone();
            application
                .passwords
                .retain(|c| !removed.contains(&c.key_id));
            let seen = Seen {
                info: info.clone(),
                current: (current_version.clone(), doc.clone()),
                application,
                generation,
            };
            let rotation = self
                .rotate_seen(
                    secret_id,
                    RotateRequest {
                        reason,
                        ..Default::default()
                    },
                    Some(seen),
                )
                .await?;
            let ok = matches!(
                rotation.outcome,
                Outcome::Rotated | Outcome::Resumed | Outcome::AlreadyRotated
            );
            report.action = if ok {
                Action::Rotated
            } else {
                Action::RotationFailed
            };
            if !ok && days.is_some_and(|d| d <= threshold) {
                self.alert(
                    AlertKind::ExpiryClose,
                    secret_id,
                    format!("Secret expires in {} days: {}", days.unwrap_or_default(), report.target),
                    format!("Target: {secret_id} ({})\nThe client secret Jamf Pro uses expires {} and rotation is failing ({}).\nWhat to do: {}", report.target, expires_at.map(|e| e.to_rfc3339()).unwrap_or_default(), rotation.error.as_deref().unwrap_or("unknown error"), rotation.advice.as_deref().unwrap_or("see the rotation alert")),
                )
                .await;
            }
            report.rotation = Some(rotation);
        }
        Ok(report)
    }
}

fn ledger_orphans(
    ledger: &Ledger,
    app: &crate::ports::Application,
    now: DateTime<Utc>,
    min_age: chrono::Duration,
) -> Vec<String> {
    ledger
        .orphans(app, None, now, min_age)
        .into_iter()
        .map(|c| c.key_id.clone())
        .collect()
}

/// A drift kind's name as reports and alerts write it (`orphan`, `retire-pending`).
fn kebab(kind: DriftKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Engine {
    /// Alerts that credentials the check should have removed (an orphan, or the one a rotation
    /// replaced) are still on the app: each stays valid until it expires.
    async fn housekeeping_failed(&self, secret_id: &str, target: &str, lines: &[String]) {
        self.alert(
            AlertKind::Drift,
            secret_id,
            format!("Housekeeping failed: {target}"),
            format!(
                "Target: {secret_id} ({target})\nThe check could not remove:\n{}\nState: each stays on the app, valid until it expires; Jamf Pro is not affected.\nWhat to do: the next check tries again; if it keeps failing, check the rotator's Graph permission (Application.ReadWrite.OwnedBy) and its ownership of the app, or remove the credential by hand (az ad app credential delete --id <app> --key-id <key>).",
                lines.join("\n")
            ),
        )
        .await;
    }
}
