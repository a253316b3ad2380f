//! The scheduled check: days until expiry, drift, and a rotation when one is due. With
//! `dry_run` it is the read-only `status` report.
//!
//! A check reads ([`Engine::look`], in [`super::look`]), judges ([`Engine::expiry`], and
//! [`Engine::drift`] in [`super::drift`]), keeps house (retirements, orphans, an interrupted
//! lockdown: [`Engine::housekeeping`]), alerts on drift, and then starts the rotation that is
//! due: in this process, handed to Secrets Manager, or deferred when the invocation has no time
//! left for it ([`super::start`]).

use super::drift::{kebab, Drift, DriftKind};
use super::look::{Expiry, Look};
use super::report::RotationReport;
use super::{is_ours, Engine, RotationError, Step};
use crate::config::RotationMode;
use crate::document::TargetKind;
use crate::ports::AlertKind;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    /// A rotation was due, but the invocation had no time left to finish it (see `deferred`);
    /// the next check starts it. Not a failure.
    Deferred,
    /// A rotation was due and was handed to Secrets Manager (`RotateSecret`, see `hand_off`),
    /// which runs it as four step invocations of the rotation function.
    HandedOff,
}

/// How the check may start a due rotation.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Read only: change nothing, alert nothing (the `status` report).
    pub dry_run: bool,
    /// When the invocation must be over: no rotation starts that could not finish before it
    /// (with the margin kept for the report). `None`: no limit (the CLI).
    pub deadline: Option<DateTime<Utc>>,
    /// In process, handed to Secrets Manager, or whichever fits the time left.
    pub mode: RotationMode,
    /// The rotation function Secrets Manager invokes for a rotation handed to it (the function
    /// running the check). Without it nothing is handed off.
    pub rotation_function_arn: Option<String>,
    /// Rotations this check may run in process at once, shared by its targets: a target takes
    /// one before it starts a rotation (and then decides again with the time left), so a check
    /// can read many targets at once and rotate few. `None`: no limit.
    pub rotation_slots: Option<Arc<Semaphore>>,
    /// Spaces the check's hand-offs (`RotateSecret`: 50 per second per Region for the whole
    /// account). `None`: no spacing.
    pub hand_off_pacer: Option<Arc<crate::clock::Pacer>>,
}

impl CheckOptions {
    /// One of the check's rotation slots, waited for; `None` without a limit.
    pub async fn rotation_slot(&self) -> Option<OwnedSemaphorePermit> {
        let slots = self.rotation_slots.clone()?;
        slots.acquire_owned().await.ok()
    }

    /// The options of a check without a deadline or a hand-off (`dry_run`: the status report).
    pub fn unlimited(dry_run: bool) -> Self {
        Self {
            dry_run,
            ..Default::default()
        }
    }
}

/// A rotation handed to Secrets Manager.
#[derive(Debug, Clone, Serialize)]
pub struct HandOff {
    /// The version Secrets Manager creates (`ClientRequestToken`).
    pub token: String,
    /// The rotation function it invokes for each step.
    pub rotation_function_arn: String,
    /// Why Secrets Manager refused it (the check then reports the rotation failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
    /// The rotation it handed to Secrets Manager.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hand_off: Option<HandOff>,
    /// Why a due rotation was deferred (the time it needs, the time left).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferred: Option<String>,
    /// The daily proof that Jamf Pro works with its secret (`jamf.daily_proof`), when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<super::report::ProofResult>,
    /// Which Jamf integration uses the secret.
    pub kind: TargetKind,
    /// When the rotation that made the current document started (none before the first).
    pub last_rotation: Option<DateTime<Utc>>,
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
        self.check_with(secret_id, &CheckOptions::unlimited(dry_run))
            .await
    }

    /// [`Self::check`] with a deadline and a way to start rotations ([`CheckOptions`]): a due
    /// rotation starts only if it can finish before the deadline; otherwise it is handed to
    /// Secrets Manager or deferred. The reading, the report and the housekeeping run regardless.
    pub async fn check_with(
        &self,
        secret_id: &str,
        options: &CheckOptions,
    ) -> Result<CheckReport, RotationError> {
        let dry_run = options.dry_run;
        // One target's panic is this target's failure, not the end of every target's check.
        let result = crate::panics::contained(secret_id, self.check_target(secret_id, options))
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
        options: &CheckOptions,
    ) -> Result<CheckReport, RotationError> {
        let look = self.look(secret_id).await?;
        let expiry = self.expiry(&look);
        let mut report = self.report_of(secret_id, &look, &expiry);
        if options.dry_run || report.rotation_in_progress_until.is_some() {
            self.leave_alone(&mut report, options.dry_run);
            return Ok(report);
        }
        let removed = self.housekeeping(secret_id, &look, &mut report).await;
        self.alert_drift(secret_id, &report, &removed).await;
        if report.due {
            self.start_due(secret_id, look, &expiry, options, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// The report before anything is done: expiry, drift, credentials, whether a rotation is due.
    pub(super) fn report_of(&self, secret_id: &str, look: &Look, expiry: &Expiry) -> CheckReport {
        let due = expiry.pending.is_some()
            || !expiry.managed_found
            || expiry.days.is_none_or(|d| d <= expiry.threshold);
        CheckReport {
            rotation_in_progress_until: look.lease_until,
            secret_id: secret_id.to_string(),
            target: look.doc.label(),
            key_id: look.doc.entra.key_id.clone(),
            expires_at: expiry.expires_at,
            days_until_expiry: expiry.days,
            threshold_days: expiry.threshold,
            due,
            action: Action::None,
            drift: self.drift(look, expiry),
            credentials: look
                .application
                .passwords
                .iter()
                .map(|c| CredentialView {
                    key_id: c.key_id.clone(),
                    display_name: c.display_name.clone(),
                    expires_at: c.end,
                    managed: Some(c.key_id.to_lowercase()) == expiry.managed_key,
                    ours: is_ours(c.display_name.as_deref()),
                })
                .collect(),
            rotation: None,
            hand_off: None,
            deferred: None,
            proof: None,
            kind: look.doc.jamf.target,
            last_rotation: look.doc.rotation.as_ref().map(|r| r.started_at),
        }
    }

    /// A dry run, or a rotation in progress elsewhere: the report only.
    fn leave_alone(&self, report: &mut CheckReport, dry_run: bool) {
        if report.due && dry_run {
            report.action = Action::WouldRotate;
        }
        if let Some(until) = report.rotation_in_progress_until.filter(|_| !dry_run) {
            self.note(
                Step::Check,
                &format!(
                    "another attempt holds this target's rotation until {}; leaving it alone",
                    until.format("%H:%M:%S UTC")
                ),
            );
        }
    }
}

impl CheckReport {
    /// The drift a check alerts on: the managed credential missing or expired, credentials
    /// nobody manages; those the housekeeping `removed` aside.
    pub fn alerted_drift(&self, removed: &[String]) -> Vec<&Drift> {
        let managed = self.key_id.as_deref().map(str::to_lowercase);
        self.drift
            .iter()
            .filter(|d| d.key_id.as_ref().is_none_or(|k| !removed.contains(k)))
            .filter(|d| {
                matches!(d.kind, DriftKind::ManagedMissing | DriftKind::Unmanaged)
                    || (d.kind == DriftKind::Expired
                        && d.key_id.as_deref().map(str::to_lowercase) == managed)
            })
            .collect()
    }

    /// A digest of the alerted drift (`removed` aside): its findings by kind and credential,
    /// not their sentences, whose days change daily. `None` when there is none. The same
    /// findings give the same digest; another finding, another digest.
    pub fn drift_digest(&self, removed: &[String]) -> Option<String> {
        let mut findings: Vec<String> = self
            .alerted_drift(removed)
            .iter()
            .map(|d| {
                format!(
                    "{} {}",
                    kebab(d.kind),
                    d.key_id.as_deref().unwrap_or("-").to_lowercase()
                )
            })
            .collect();
        if findings.is_empty() {
            return None;
        }
        findings.sort();
        findings.dedup();
        let name = findings.join("\n");
        Some(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string())
    }
}
