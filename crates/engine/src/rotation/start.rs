//! Starting the rotation a check found due: in this process, handed to Secrets Manager, or
//! deferred to the next check.
//!
//! The check runs inside an invocation that ends at a deadline. A rotation may take the whole
//! propagation wait (`PROPAGATION_TIMEOUT_SECS`), then the target's verification window (the
//! Conditional Access observation), then its calls; the check starts one in process only when
//! that budget, and the margin kept for the check's own report, fit before the deadline. What
//! does not fit is handed to Secrets Manager (`RotateSecret`, when the mode and a rotation
//! function allow) or deferred: reported as such, never as a failure, and started by the next
//! check. A rotation Secrets Manager runs goes through the same four steps ([`Engine::run_step`])
//! one invocation each, with the same guard, lease, rollback and alerts.

use super::check::{Action, CheckOptions, CheckReport, Expiry, HandOff, Look};
use super::driver::Outcome;
use super::run::Seen;
use super::{Engine, RotateRequest, RotationError, Step};
use crate::config::RotationMode;
use crate::document::TargetDocument;
use crate::ports::{AlertKind, RotateSecretRequest};

/// How a due rotation starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// In this process, now.
    InProcess,
    /// Handed to Secrets Manager.
    HandOff,
    /// Not now: the next check starts it.
    Defer,
}

/// How a due rotation starts in `mode`: `fits` when it can finish before the deadline,
/// `can_hand_off` when there is a rotation function and no half-done rotation (which
/// `RotateSecret` refuses while `AWSPENDING` is on it: such a one is resumed in process).
pub fn how_to_start(mode: RotationMode, fits: bool, can_hand_off: bool) -> Start {
    match (mode, fits, can_hand_off) {
        (RotationMode::FanOut, _, true) => Start::HandOff,
        (RotationMode::Auto, false, true) => Start::HandOff,
        (_, true, _) => Start::InProcess,
        (_, false, _) => Start::Defer,
    }
}

/// A rotation's budget against the time left before the check's deadline.
struct TimeLeft {
    fits: bool,
    budget: chrono::Duration,
    margin: chrono::Duration,
    left: Option<chrono::Duration>,
}

impl TimeLeft {
    /// Why a rotation that does not fit was deferred.
    fn why_not(&self) -> String {
        format!(
            "a rotation may take {} s and the check keeps {} s for its report; {} s were left before the invocation's deadline",
            self.budget.num_seconds(),
            self.margin.num_seconds(),
            self.left.map(|l| l.num_seconds()).unwrap_or(0)
        )
    }
}

impl Engine {
    /// The time a rotation of the target `doc` may take: the propagation wait, the target's
    /// verification window, and the margin for the calls around them.
    pub fn rotation_budget(&self, doc: &TargetDocument) -> chrono::Duration {
        let budget = self.policy.propagation_timeout
            + doc.verification_window()
            + self.policy.deadline_margin;
        chrono::Duration::from_std(budget).unwrap_or(chrono::Duration::MAX)
    }

    /// Starts the rotation a check found due, as [`how_to_start`] says, and records it in
    /// `report`. The check read `look`; the housekeeping since removed `removed`.
    pub(super) async fn start_due(
        &self,
        secret_id: &str,
        look: Look,
        expiry: &Expiry,
        removed: &[String],
        options: &CheckOptions,
        report: &mut CheckReport,
    ) -> Result<(), RotationError> {
        let function = options.rotation_function_arn.as_deref();
        let can_hand_off = function.is_some() && expiry.pending.is_none();
        let mut time = self.time_left(&look.doc, options);
        let mut start = how_to_start(options.mode, time.fits, can_hand_off);
        // A rotation in process waits for one of the check's slots; then, with the time left.
        let slot = match start {
            Start::InProcess => options.rotation_slot().await,
            _ => None,
        };
        if slot.is_some() {
            time = self.time_left(&look.doc, options);
            start = how_to_start(options.mode, time.fits, can_hand_off);
        }
        // Held for the rotation only: a hand-off or a deferral lets the next rotation have it.
        let _slot = if start == Start::InProcess {
            slot
        } else {
            None
        };
        match (start, function) {
            (Start::HandOff, Some(function)) => {
                if let Some(pacer) = &options.hand_off_pacer {
                    pacer.turn(self.clock.as_ref()).await;
                }
                self.hand_off(secret_id, &look, expiry, function, report)
                    .await;
                Ok(())
            }
            (Start::InProcess, _) => {
                self.rotate_due(secret_id, look, expiry, removed, report)
                    .await
            }
            _ => {
                let why = time.why_not();
                self.note(
                    Step::Check,
                    &format!("rotation deferred to the next check: {why}"),
                );
                report.action = Action::Deferred;
                report.deferred = Some(why);
                Ok(())
            }
        }
    }

    /// Whether a rotation of `doc` started now fits before the check's deadline.
    fn time_left(&self, doc: &TargetDocument, options: &CheckOptions) -> TimeLeft {
        let budget = self.rotation_budget(doc);
        let margin = chrono::Duration::from_std(self.policy.deadline_margin).unwrap_or_default();
        let now = self.clock.now();
        TimeLeft {
            fits: options.deadline.is_none_or(|d| now + budget + margin <= d),
            budget,
            margin,
            left: options.deadline.map(|d| d - now),
        }
    }

    /// Rotates now, in this process, from what the check read (less what it removed).
    async fn rotate_due(
        &self,
        secret_id: &str,
        look: Look,
        expiry: &Expiry,
        removed: &[String],
        report: &mut CheckReport,
    ) -> Result<(), RotationError> {
        let reason = match (&expiry.pending, expiry.managed_found, expiry.days) {
            (Some(_), _, _) => "scheduled: resuming a half-done rotation".to_string(),
            (_, false, _) => "scheduled: the managed credential is missing".to_string(),
            (_, _, Some(d)) => format!("scheduled: {d} days until expiry"),
            _ => "scheduled".to_string(),
        };
        // The rotation starts from what the check just read (the stages, the document, the app,
        // less what the housekeeping removed) instead of reading it all again.
        let mut application = look.application;
        application
            .passwords
            .retain(|c| !removed.contains(&c.key_id));
        let seen = Seen {
            info: look.info,
            current: (look.current_version, look.doc),
            application,
            generation: look.generation,
        };
        let request = RotateRequest {
            reason,
            ..Default::default()
        };
        let rotation = self.rotate_seen(secret_id, request, Some(seen)).await?;
        let ok = matches!(
            rotation.outcome,
            Outcome::Rotated | Outcome::Resumed | Outcome::AlreadyRotated
        );
        report.action = if ok {
            Action::Rotated
        } else {
            Action::RotationFailed
        };
        if !ok {
            let error = rotation.error.as_deref().unwrap_or("unknown error");
            let advice = rotation
                .advice
                .as_deref()
                .unwrap_or("see the rotation alert");
            self.alert_expiry_close(secret_id, expiry, report, error, advice)
                .await;
        }
        report.rotation = Some(rotation);
        Ok(())
    }

    /// Hands the rotation to Secrets Manager: `RotateSecret` with `function` as the rotation
    /// function, at once, without a schedule. The version id is the one the in-process driver
    /// would use, so a hand-off and an in-process attempt at the same rotation converge.
    async fn hand_off(
        &self,
        secret_id: &str,
        look: &Look,
        expiry: &Expiry,
        function: &str,
        report: &mut CheckReport,
    ) {
        let requested = async {
            let token =
                super::driver::next_token(self, secret_id, &look.info, &look.current_version)
                    .await?;
            let request = RotateSecretRequest {
                token: Some(token.clone()),
                function_arn: function.to_string(),
                schedule: None,
                rotate_immediately: true,
            };
            self.store
                .rotate_secret(secret_id, &request)
                .await
                .map_err(|e| RotationError::store(Step::Check, e))?;
            Ok::<_, RotationError>(token)
        };
        let mut hand_off = HandOff {
            token: String::new(),
            rotation_function_arn: function.to_string(),
            error: None,
        };
        match requested.await {
            Ok(token) => {
                self.note(
                    Step::Check,
                    &format!("rotation handed to Secrets Manager (version {token})"),
                );
                hand_off.token = token;
                report.action = Action::HandedOff;
            }
            Err(e) => {
                tracing::error!(
                    step = "check",
                    class = e.class(),
                    "the rotation of {secret_id} could not be handed to Secrets Manager: {e}"
                );
                self.alert(
                    AlertKind::RotationFailed,
                    secret_id,
                    format!("Rotation not started: {}", report.target),
                    format!("Target: {secret_id} ({})\nThe rotation was due and could not be handed to Secrets Manager (RotateSecret).\nError class: {}\nError: {e}\nState left: nothing was changed; Jamf Pro keeps its secret.\nWhat to do: {}", report.target, e.class(), e.advice()),
                )
                .await;
                self.alert_expiry_close(secret_id, expiry, report, &e.to_string(), &e.advice())
                    .await;
                hand_off.error = Some(e.to_string());
                report.action = Action::RotationFailed;
            }
        }
        report.hand_off = Some(hand_off);
    }

    /// After a rotation that Secrets Manager drove failed: alerts that the secret expires within
    /// the threshold, as a check does after its own rotation failed (one fresh look at the
    /// target; nothing when it cannot be read).
    pub async fn alert_if_expiring(&self, secret_id: &str, error: &str, advice: &str) {
        let Ok(look) = self.look(secret_id).await else {
            return;
        };
        let expiry = self.expiry(&look);
        let report = self.report_of(secret_id, &look, &expiry);
        self.alert_expiry_close(secret_id, &expiry, &report, error, advice)
            .await;
    }

    /// Alerts that the secret expires within the threshold and its rotation is failing.
    async fn alert_expiry_close(
        &self,
        secret_id: &str,
        expiry: &Expiry,
        report: &CheckReport,
        error: &str,
        advice: &str,
    ) {
        let Some(days) = expiry.days.filter(|d| *d <= expiry.threshold) else {
            return;
        };
        self.alert(
            AlertKind::ExpiryClose,
            secret_id,
            format!("Secret expires in {days} days: {}", report.target),
            format!("Target: {secret_id} ({})\nThe client secret Jamf Pro uses expires {} and rotation is failing ({error}).\nWhat to do: {advice}", report.target, expiry.expires_at.map(|e| e.to_rfc3339()).unwrap_or_default()),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_starts_in_process_when_it_fits_and_is_handed_off_or_deferred_otherwise() {
        use RotationMode::{Auto, FanOut};
        use Start::{Defer, HandOff, InProcess};
        let only = RotationMode::InProcess;
        // (mode, fits, can hand off) → start
        let table = [
            (Auto, true, true, InProcess),
            (Auto, false, true, HandOff),
            (Auto, false, false, Defer),
            (Auto, true, false, InProcess),
            (only, true, true, InProcess),
            (only, false, true, Defer),
            (FanOut, true, true, HandOff),
            (FanOut, false, true, HandOff),
            // A half-done rotation (or no rotation function) cannot be handed off.
            (FanOut, true, false, InProcess),
            (FanOut, false, false, Defer),
        ];
        for (mode, fits, can, want) in table {
            assert_eq!(how_to_start(mode, fits, can), want, "{mode:?} {fits} {can}");
        }
    }
}
