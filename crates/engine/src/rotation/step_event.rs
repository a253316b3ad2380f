//! One step of a rotation that Secrets Manager drives (`rotate-secret`: one invocation per step),
//! and what a failed step leaves behind. The caller (the Lambda) has admitted the secret first:
//! one of the deployment's targets, or the rotator's own credential, holding documents of its
//! kind; it passes the stages it read for that.

use super::guard::{standing, Standing};
use super::{Driver, Engine, RotateRequest, RotationError, Step, StepContext};
use crate::ports::{SecretInfo, AWSPENDING};
use secrecy::SecretString;

/// A step event, as the engine needs it.
#[derive(Debug)]
pub struct StepEvent {
    /// Which step.
    pub step: Step,
    /// The secret, spelled as the deployment names it (a partial ARN would lease another key).
    pub secret_id: String,
    /// The rotation's version (`ClientRequestToken`).
    pub token: String,
    /// Secrets Manager's `RotationToken`, passed through to `PutSecretValue`.
    pub rotation_token: Option<SecretString>,
    /// What the caller's admission read of the secret (the stages, the documents of
    /// `AWSCURRENT` and `AWSPENDING`), the step's first reads of them (see [`super::looked`]).
    pub looked: super::looked::Looked,
}

impl Engine {
    /// Runs one step event, from `info` (the stages, as the caller's admission read them). First
    /// AWS's guard (rotation enabled, the token a pending version); then the step. A failure is
    /// settled ([`Engine::settle`]: a failing setSecret or testSecret is rolled back, a
    /// finishSecret that finds the rotation undone elsewhere gives Jamf Pro `AWSCURRENT`'s secret
    /// back), counted and alerted. A step that meets another holder of the target's lease
    /// settles quietly: the rotation is in progress elsewhere, not failed. The lease is let go of
    /// when the rotation ends here, and parked for the next step event otherwise.
    pub async fn step_event(&self, ev: StepEvent, info: &SecretInfo) -> Result<(), RotationError> {
        let request = RotateRequest {
            reason: "secretsmanager: rotate-secret".into(),
            ..Default::default()
        };
        let ctx = StepContext {
            rotation_token: ev.rotation_token,
            looked: ev.looked,
            ..StepContext::new(&ev.secret_id, &ev.token, request, Driver::SecretsManager)
        };
        let step = ev.step;
        if !matches!(
            step,
            Step::CreateSecret | Step::SetSecret | Step::TestSecret | Step::FinishSecret
        ) {
            return Err(RotationError::new(step, super::ErrorKind::NotAStep(step)));
        }
        let was = match standing(info, &ctx.token, step, true) {
            Ok(was) => was,
            Err(e) => return Err(self.refused_by_guard(&ctx, step, info, e).await),
        };
        match self.run_step(step, &ctx).await {
            Ok(()) if step == Step::FinishSecret => {
                // The rotation is over: let go of its lease.
                self.release(&ctx, &ctx.token).await;
                if was == Standing::Pending {
                    self.metric(crate::metrics::rotation_succeeded(&ctx.secret_id));
                    self.alert_step_succeeded(&ctx).await;
                }
                Ok(())
            }
            Ok(()) => {
                // The rotation's next step event takes the lease over.
                self.hand_on(&ctx).await;
                Ok(())
            }
            Err(e) if e.elsewhere() => {
                tracing::warn!(step = %step, "{step}: {e}; the step is left to the rotation in progress elsewhere");
                Err(e)
            }
            Err(e) => {
                if self.step_failed(&ctx, &e).await {
                    self.release(&ctx, "").await;
                } else {
                    self.hand_on(&ctx).await;
                }
                Err(e)
            }
        }
    }

    /// A step event whose token is no longer pending: undone or replaced elsewhere, perhaps
    /// after an earlier step put its secret into Jamf Pro ([`Engine::settle_refused`]).
    async fn refused_by_guard(
        &self,
        ctx: &StepContext,
        step: Step,
        info: &SecretInfo,
        e: RotationError,
    ) -> RotationError {
        let later_step = matches!(
            step,
            Step::SetSecret | Step::TestSecret | Step::FinishSecret
        );
        // Another version pending is another rotation's: Jamf Pro and the lease parked between
        // its steps are that rotation's now. With none pending, a parked lease can only be this
        // undone rotation's own (or one that ran out).
        let another_pending = info
            .version_with(AWSPENDING)
            .is_some_and(|v| v != ctx.token);
        if later_step && info.rotation_enabled != Some(false) && !another_pending {
            if let Some(settled) = self.settle_refused(ctx).await {
                self.alert_step_failed(ctx, &e, settled).await;
            }
            self.release(ctx, "").await;
        }
        e
    }

    /// What a failed step leaves behind: the settlement, a metric, an alert. True when the
    /// rotation was undone completely (its lease may go).
    async fn step_failed(&self, ctx: &StepContext, e: &RotationError) -> bool {
        tracing::error!(step = %e.step, class = e.class(), "{}: rotation of {} failed: {e}", e.step, ctx.secret_id);
        self.metric(crate::metrics::rotation_failed(&ctx.secret_id));
        let settled = self.settle(ctx, e).await;
        let undone = settled.rollback.as_ref().is_some_and(|rb| rb.complete);
        self.alert_step_failed(ctx, e, settled).await;
        // As a check alerts after its own rotation failed.
        self.alert_if_expiring(&ctx.secret_id, &e.to_string(), &e.advice())
            .await;
        undone
    }

    /// With `ALERT_ON_SUCCESS`, the alert of a rotation Secrets Manager drove to its end, from
    /// the document now `AWSCURRENT`.
    async fn alert_step_succeeded(&self, ctx: &StepContext) {
        if !self.policy.alert_on_success {
            return;
        }
        let Ok((_, doc)) = self.current(Step::FinishSecret, &ctx.secret_id).await else {
            return;
        };
        let alert = crate::alert::step_rotated(&ctx.secret_id, &ctx.token, &ctx.request, &doc);
        self.send(alert).await;
    }

    /// The alert of a failed step.
    async fn alert_step_failed(
        &self,
        ctx: &StepContext,
        e: &RotationError,
        settled: super::rollback::Settled,
    ) {
        let alert = crate::alert::step_failed(&ctx.secret_id, &ctx.token, e, settled);
        self.send(alert).await;
    }
}
