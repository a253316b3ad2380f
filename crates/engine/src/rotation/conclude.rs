//! How an attempt of the in-process driver ends: its report filled from the result (rotated,
//! resumed, or found done by another attempt, which an emergency still finishes), or the failure
//! settled (rolled back where it can be) and alerted.

use super::driver::{Attempt, Attempted};
use super::report::{Outcome, RotationReport};
use super::{Driver, Engine, RotateRequest, RotationError, Step, StepContext};
use crate::document::TargetDocument;
use crate::ports::AlertKind;

impl Engine {
    /// The attempt's report when another rotation moved `AWSCURRENT` from `moved.0` to
    /// `moved.1` while this one ran: its result is ours.
    pub(super) async fn completed_meanwhile(
        &self,
        a: &Attempt<'_>,
        ctx: &StepContext,
        moved: (&str, String),
        current: &TargetDocument,
        report: RotationReport,
    ) -> Attempted {
        let step = Step::Guard;
        self.note(
            step,
            "another rotation of this target completed meanwhile; nothing more to do",
        );
        self.release(ctx, moved.0).await;
        let (version, now_current) = match self.current(step, a.secret_id).await {
            Ok(read) => read,
            Err(_) => (moved.1, current.clone()),
        };
        self.already_done(a, (&version, &now_current), report).await
    }

    /// The attempt's report when the rotation is found done: `current` is `AWSCURRENT`'s
    /// version and document.
    pub(super) async fn already_done(
        &self,
        a: &Attempt<'_>,
        current: (&str, &TargetDocument),
        mut report: RotationReport,
    ) -> Attempted {
        self.already_rotated(current.0, current.1, a.request, &mut report)
            .await;
        self.done(a, report)
    }

    /// The attempt's report, timed.
    pub(super) fn done(&self, a: &Attempt<'_>, mut report: RotationReport) -> Attempted {
        report.elapsed_ms = (self.clock.now() - a.started).num_milliseconds();
        Attempted::Done(Box::new(report))
    }

    /// Fills the report from the rotation's result: success (and its alert, when asked for), or
    /// the failure settled and alerted.
    pub(super) async fn conclude(
        &self,
        ctx: &StepContext,
        result: Result<(), RotationError>,
        resumed: bool,
        report: &mut RotationReport,
    ) {
        match result {
            Ok(()) => {
                report.outcome = if resumed {
                    Outcome::Resumed
                } else {
                    Outcome::Rotated
                };
                if self.policy.alert_on_success {
                    self.send(crate::alert::rotated(report)).await;
                }
            }
            Err(mut e) => {
                // A resumed rotation may have written Jamf Pro before it was interrupted, whatever
                // step this run failed in (a createSecret read that fails on the resume too).
                if resumed {
                    e.jamf_touched = true;
                }
                self.fail(ctx, e, report).await
            }
        }
    }

    /// The report of a rotation that another attempt completed (`version`, holding `current`).
    /// An emergency still retires at once what that rotation may have kept (grace period,
    /// observed-use gate), and locks down.
    async fn already_rotated(
        &self,
        version: &str,
        current: &TargetDocument,
        request: &RotateRequest,
        report: &mut RotationReport,
    ) {
        report.outcome = Outcome::AlreadyRotated;
        report.new_key_id = current.entra.key_id.clone();
        report.new_expires_at = current.entra.expires_at;
        report.old_key_id = current
            .rotation
            .as_ref()
            .and_then(|r| r.replaces_key_id.clone());
        report.jamf_accepts_new = true;
        if !request.is_emergency() {
            return;
        }
        let ctx = StepContext::new(
            &report.secret_id,
            version,
            request.clone(),
            Driver::InProcess,
        );
        match self.finish_secret(&ctx).await {
            Ok(done) => {
                report.old_removed = done.old_removed;
                report.old_retire_pending = done.retire_pending;
            }
            Err(e) => self.fail(&ctx, e, report).await,
        }
        self.release(&ctx, version).await;
    }

    /// Records a failure: rolls back what can be rolled back, alerts, fills the report.
    pub(super) async fn fail(
        &self,
        ctx: &StepContext,
        e: RotationError,
        report: &mut RotationReport,
    ) {
        tracing::error!(step = %e.step, class = e.class(), "rotation of {} failed: {e}", ctx.secret_id);
        report.failed_step = Some(e.step);
        report.error = Some(e.to_string());
        report.error_class = Some(e.class().to_string());
        report.advice = Some(e.advice());
        report.outcome = Outcome::Failed;
        let settled = self.settle(ctx, &e).await;
        if settled.alert == AlertKind::RolledBack {
            report.outcome = Outcome::RolledBack;
        }
        self.send(crate::alert::rotation_failed(report, &e, &settled))
            .await;
        report.rollback = settled.rollback;
    }
}
