//! One step of a rotation that Secrets Manager drives (`rotate-secret`): admitted here, run by
//! the engine ([`rotator_engine::rotation::step_event`]).

use super::{Function, LambdaError, StepEvent};
use rotator_engine::rotation::step_event;
use serde_json::{json, Value};

impl Function {
    /// One step of a rotation Secrets Manager drives. Its secret is admitted first
    /// ([`Function::admit`]: one of this deployment's targets, or the rotator's own credential
    /// in self-rotation, holding documents of its kind), before anything else is read, asked of
    /// Entra or written: anyone who may invoke the function, or call `RotateSecret` naming it,
    /// must not get a new credential into a secret of their own. The engine runs the rest
    /// ([`rotator_engine::rotation::Engine::step_event`]).
    pub(super) async fn step(&self, s: StepEvent) -> Result<Value, LambdaError> {
        let (step, secret_id) = (s.step, s.secret_id.clone());
        tracing::info!(step = %step, "{step}: step event for {secret_id}, version {}", s.token);
        let ids = self.targets.resolve(self.engine.store.as_ref()).await?;
        let (info, looked) = self.admit(&secret_id, &ids).await?;
        let event = step_event::StepEvent {
            step,
            // Not the event's spelling: a partial ARN would lease another key.
            secret_id: super::rotate::canonical_id(&secret_id, &info),
            token: s.token.clone(),
            rotation_token: s.rotation_token,
            looked,
        };
        (self.engine.step_event(event, &info).await)
            .map_err(|e| LambdaError::rotation(&secret_id, e))?;
        Ok(json!({"step": step, "secret_id": secret_id, "token": s.token, "ok": true}))
    }
}
