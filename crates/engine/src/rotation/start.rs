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
//!
//! How long a rotation may take, and so how it starts, is the [`super::budget`].

use super::budget::{how_to_start, Start};
use super::check::{Action, CheckOptions, CheckReport, HandOff};
use super::driver::Seen;
use super::look::{Expiry, Look};
use super::{Engine, RotateRequest, RotationError, Step};
use crate::alert;
use crate::document::TargetDocument;
use crate::ports::{AlertKind, RotateSecretRequest};

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
    /// Starts the rotation a check found due, as [`how_to_start`] says, and records it in
    /// `report`. The check read `look`.
    pub(super) async fn start_due(
        &self,
        secret_id: &str,
        look: Look,
        expiry: &Expiry,
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
        // Held for the rotation only: a hand-off or a deferral gives it back now, before the
        // pacer and `RotateSecret`, so that the next rotation has it. (`filter` drops it here; a
        // conditional move would keep it to the end of this function.)
        let _slot = slot.filter(|_| start == Start::InProcess);
        match (start, function) {
            (Start::HandOff, Some(function)) => {
                if let Some(pacer) = &options.hand_off_pacer {
                    pacer.turn(self.clock.as_ref()).await;
                }
                self.hand_off(secret_id, &look, expiry, function, report)
                    .await;
                Ok(())
            }
            (Start::InProcess, _) => self.rotate_due(secret_id, look, expiry, report).await,
            _ => {
                let why = time.why_not();
                self.note(
                    Step::Check,
                    &format!("rotation deferred to the next check: {why}"),
                );
                self.alert_if_deferred_again(secret_id, expiry, report, &why)
                    .await;
                report.action = Action::Deferred;
                report.deferred = Some(why);
                Ok(())
            }
        }
    }

    /// Alerts when the rotation now deferred has been due for [`alert::DEFERRALS_BEFORE_ALERT`]
    /// daily checks or more. The count comes from the expiry: a secret `threshold - days + 1`
    /// days into its rotation window has been due at that many daily checks, none of which
    /// rotated it. Nothing is written to count (a new version would abandon a running
    /// rotation), and the alert repeats daily until the rotation starts.
    async fn alert_if_deferred_again(
        &self,
        secret_id: &str,
        expiry: &Expiry,
        report: &CheckReport,
        why: &str,
    ) {
        let checks = expiry.days.map(|d| expiry.threshold - d + 1);
        let (Some(checks), Some(expires)) = (checks, expiry.expires_at) else {
            return;
        };
        if checks < alert::DEFERRALS_BEFORE_ALERT {
            return;
        }
        let a = alert::deferred(secret_id, &report.target, checks, expires.date_naive(), why);
        self.alert(a.kind, secret_id, a.subject, a.message).await;
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

    /// Rotates now, in this process, from what the check read.
    async fn rotate_due(
        &self,
        secret_id: &str,
        look: Look,
        expiry: &Expiry,
        report: &mut CheckReport,
    ) -> Result<(), RotationError> {
        let reason = match (&expiry.pending, expiry.managed_found, expiry.days) {
            (Some(_), _, _) => "scheduled: resuming a half-done rotation".to_string(),
            (_, false, _) => "scheduled: the managed credential is missing".to_string(),
            (_, _, Some(d)) => format!("scheduled: {d} days until expiry"),
            _ => "scheduled".to_string(),
        };
        // The rotation starts from what the check just read (the stages and the document)
        // instead of reading it again.
        let seen = Seen {
            info: look.info,
            current: (look.current_version, look.doc),
            generation: look.generation,
        };
        let request = RotateRequest {
            reason,
            ..Default::default()
        };
        let rotation = self.rotate_seen(secret_id, request, Some(seen)).await?;
        let ok = rotation.outcome.succeeded();
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
                super::token::next_token(self, secret_id, &look.info, &look.current_version)
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
    fn a_deferral_alert_names_the_expiry_date_and_what_to_do() {
        let date = chrono::NaiveDate::from_ymd_opt(2027, 5, 1).unwrap();
        let a = alert::deferred("jamf/smtp", "example smtp-graph", 3, date, "no time");
        assert_eq!(a.kind, AlertKind::ExpiryClose);
        assert_eq!(a.subject, "Rotation deferred 3 times: example smtp-graph");
        assert!(a.message.contains("expires on 2027-05-01"), "{}", a.message);
        assert!(
            a.message.contains("ROTATION_MODE to auto or fan-out"),
            "{}",
            a.message
        );
        assert!(a.message.contains("nothing was changed"), "{}", a.message);
    }
}
