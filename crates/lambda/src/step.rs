//! One step of a rotation that Secrets Manager drives (`rotate-secret`), and what a failed step
//! leaves behind.

use super::{Function, LambdaError, StepEvent};
use rotator_engine::metrics;
use rotator_engine::ports::{AlertKind, AWSCURRENT};
use rotator_engine::rotation::guard::{standing, Standing};
use rotator_engine::rotation::{RotateRequest, RotationError, Step, StepContext};
use serde_json::{json, Value};

impl Function {
    /// One step of a rotation Secrets Manager drives. Its secret is admitted first
    /// ([`Function::admit`]: one of this deployment's targets, or the rotator's own credential
    /// in self-rotation, holding documents of its kind), before anything else is read, asked of
    /// Entra or written: anyone who may invoke the function, or call `RotateSecret` naming it,
    /// must not get a new credential into a secret of their own. Then the guard (rotation
    /// enabled, token a pending version); a failure is settled as the in-process driver settles it
    /// ([`rotator_engine::rotation::Engine::settle`]: a failing setSecret or testSecret is rolled back,
    /// a finishSecret that finds the rotation undone elsewhere gives Jamf Pro `AWSCURRENT`'s
    /// secret back) and alerted.
    pub(super) async fn step(&self, s: StepEvent) -> Result<Value, LambdaError> {
        let (step, secret_id) = (s.step, s.secret_id.clone());
        let err = |source: RotationError| LambdaError::rotation(&secret_id, source);
        tracing::info!(step = %step, "{step}: step event for {secret_id}, version {}", s.token);
        let ids = self.targets.resolve(self.engine.store.as_ref()).await?;
        let info = self.admit(&secret_id, &ids).await?;
        let ctx = StepContext {
            // Not the event's spelling: a partial ARN would lease another key.
            secret_id: super::rotate::canonical_id(&secret_id, &info),
            token: s.token.clone(),
            rotation_token: s.rotation_token,
            request: RotateRequest {
                reason: "secretsmanager: rotate-secret".into(),
                ..Default::default()
            },
            in_process: false,
            // A fresh run per invocation: its random id is this invocation's lease holder.
            run: rotator_engine::rotation::run::Run::rereading(),
        };
        let was = match standing(&info, &s.token, step, true) {
            Ok(was) => was,
            Err(e) => {
                // No longer pending: undone or replaced elsewhere, perhaps after an earlier step
                // put its secret into Jamf Pro.
                if matches!(
                    step,
                    Step::SetSecret | Step::TestSecret | Step::FinishSecret
                ) && info.rotation_enabled != Some(false)
                {
                    if let Some(settled) = self.engine.settle_refused(&ctx).await {
                        self.alert_failed(&ctx, &e, settled).await;
                    }
                }
                self.engine.release(&ctx, "").await;
                return Err(err(e));
            }
        };
        let home = info
            .version_with(AWSCURRENT)
            .unwrap_or_default()
            .to_string();
        match self.engine.run_step(step, &ctx).await {
            Ok(()) => {
                if step == Step::FinishSecret {
                    // The rotation is over: let go of its lease.
                    self.engine.release(&ctx, &s.token).await;
                    if was == Standing::Pending {
                        self.metric(metrics::rotation_succeeded(&secret_id));
                        self.alert_succeeded(&ctx).await;
                    }
                } else {
                    // The rotation's next step event takes the lease over.
                    self.engine.hand_on(&ctx).await;
                }
                Ok(json!({"step": step, "secret_id": secret_id, "token": s.token, "ok": true}))
            }
            Err(e) if e.elsewhere() => {
                // Another invocation holds the target: this step is not done (Secrets Manager
                // must not go on), but nothing failed: no alert, no failure metric.
                tracing::warn!(step = %step, "{step}: {e}; the step is left to the rotation in progress elsewhere");
                Err(err(e))
            }
            Err(e) => {
                let undone = self.step_failed(&ctx, &e).await;
                if undone {
                    self.engine.release(&ctx, &home).await;
                } else {
                    self.engine.hand_on(&ctx).await;
                }
                Err(err(e))
            }
        }
    }

    /// What a failed step leaves behind: the settlement, a metric, an alert.
    /// True when the rotation was undone completely (its lease may go).
    async fn step_failed(&self, ctx: &StepContext, e: &RotationError) -> bool {
        tracing::error!(step = %e.step, class = e.class(), "{}: rotation of {} failed: {e}", e.step, ctx.secret_id);
        self.metric(metrics::rotation_failed(&ctx.secret_id));
        let settled = self.engine.settle(ctx, e).await;
        let undone = settled.rollback.as_ref().is_some_and(|rb| rb.complete);
        self.alert_failed(ctx, e, settled).await;
        // As a check alerts after its own rotation failed.
        self.engine
            .alert_if_expiring(&ctx.secret_id, &e.to_string(), &e.advice())
            .await;
        undone
    }

    /// With `ALERT_ON_SUCCESS`, the alert of a rotation Secrets Manager drove to its end: the
    /// same alert as the in-process driver's, from the document now `AWSCURRENT`.
    async fn alert_succeeded(&self, ctx: &StepContext) {
        if !self.engine.policy.alert_on_success {
            return;
        }
        let Ok((_, doc)) = self
            .engine
            .current(Step::FinishSecret, &ctx.secret_id)
            .await
        else {
            return;
        };
        let replaced = doc
            .rotation
            .as_ref()
            .and_then(|r| r.replaces_key_id.clone());
        let message = format!(
            "Target: {} ({})\nDriver: Secrets Manager rotation, version {}\nReason: {}\nNew key id: {}\nOld key id: {}",
            ctx.secret_id,
            doc.label(),
            ctx.token,
            ctx.request.reason,
            doc.entra.key_id.as_deref().unwrap_or("-"),
            replaced.as_deref().unwrap_or("-"),
        );
        let subject = format!("Rotated: {}", doc.label());
        self.engine
            .alert(AlertKind::Rotated, &ctx.secret_id, subject, message)
            .await;
    }

    /// The alert of a failed step.
    async fn alert_failed(
        &self,
        ctx: &StepContext,
        e: &RotationError,
        settled: rotator_engine::rotation::rollback::Settled,
    ) {
        let (kind, state) = (settled.alert, settled.state);
        let message = format!(
            "Target: {}\nDriver: Secrets Manager rotation, version {}\nFailed step: {}\nError class: {}\nError: {e}\nState left: {state}\nWhat to do: {}",
            ctx.secret_id,
            ctx.token,
            e.step,
            e.class(),
            e.advice()
        );
        self.engine
            .alert(
                kind,
                &ctx.secret_id,
                format!("Rotation failed: {}", ctx.secret_id),
                message,
            )
            .await;
    }
}
