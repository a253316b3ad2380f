//! An emergency's wait for the lease: it waits for the attempt in its way (polling with backoff,
//! on the engine's clock) rather than fail, within its invocation's deadline, and then finds
//! that attempt's result (see [`super::lease`]).

use super::{Engine, ErrorKind, RotationError, Step};
use crate::ports::{AlertKind, SecretInfo};
use chrono::{DateTime, Utc};

impl Engine {
    /// Waits (polling with backoff, on the engine's clock) until no other attempt holds the
    /// target's lease, for at most twice the lease's length, and, within an invocation's
    /// `deadline`, only while the rotation itself still fits after the wait (its
    /// [`Engine::rotation_budget`] and the margin, as a check decides); returns the stages, read
    /// again when it waited. An emergency waits rather than fail: the attempt in its way
    /// completes or rolls back within its lease, and the emergency then finds its result. When
    /// the deadline leaves no time to wait, it fails (class `concurrent`) and alerts.
    pub(crate) async fn wait_for_lease(
        &self,
        secret_id: &str,
        info: SecretInfo,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<SecretInfo, RotationError> {
        let step = Step::Guard;
        let mut until_at_most = self.clock.now() + self.policy.lease * 2;
        let mut pause = std::time::Duration::from_secs(2);
        let (mut waited, mut budgeted, mut cut_by_deadline) = (false, false, false);
        while let Some(until) = self.held_until(secret_id).await {
            if let (Some(deadline), false) = (deadline, budgeted) {
                let latest = self.latest_start(secret_id, deadline).await?;
                cut_by_deadline = latest < until_at_most;
                until_at_most = until_at_most.min(latest);
                budgeted = true;
            }
            let now = self.clock.now();
            if now >= until_at_most {
                if cut_by_deadline {
                    return Err(self.no_time_to_wait(secret_id, until, deadline).await);
                }
                break;
            }
            self.note(
                step,
                &format!(
                    "another attempt holds this target's lease until {}; waiting for it",
                    until.format("%H:%M:%S UTC")
                ),
            );
            let left = (until.min(until_at_most) - now)
                .to_std()
                .unwrap_or_default()
                .max(std::time::Duration::from_secs(1));
            self.clock.sleep(pause.min(left)).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(20));
            waited = true;
        }
        if !waited {
            return Ok(info);
        }
        self.store
            .describe(secret_id)
            .await
            .map_err(|e| RotationError::store(step, e))
    }

    /// The latest moment a rotation of `secret_id` can start and still finish before
    /// `deadline`: its budget and the margin kept for the report, as a check decides.
    async fn latest_start(
        &self,
        secret_id: &str,
        deadline: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, RotationError> {
        let (_, current) = self.current(Step::Guard, secret_id).await?;
        let margin = chrono::Duration::from_std(self.policy.deadline_margin).unwrap_or_default();
        Ok(deadline - self.rotation_budget(&current) - margin)
    }

    /// The error (and alert) of an emergency whose invocation's `deadline` leaves no time to
    /// wait for the attempt that holds the target's lease until `until`.
    async fn no_time_to_wait(
        &self,
        secret_id: &str,
        until: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> RotationError {
        let until = until.format("%Y-%m-%d %H:%M:%S UTC");
        let deadline = deadline
            .map(|d| d.format("%H:%M:%S UTC").to_string())
            .unwrap_or_default();
        let why = format!(
            "another attempt holds this target's lease until {until}, and the invocation's deadline ({deadline}) leaves no time to wait for it and still rotate"
        );
        tracing::warn!(step = "lease", "emergency of {secret_id}: {why}");
        self.alert(
            AlertKind::RotationFailed,
            secret_id,
            format!("Emergency not started: {secret_id}"),
            format!(
                "Target: {secret_id}\nWhat happened: the emergency rotation did not start: {why}.\nState left: nothing was changed by this invocation; the other attempt holds the target and goes on (its lease ends at {until}).\nWhat to do: run the emergency again after {until}; it then finds the other attempt's result and retires the old secret at once."
            ),
        )
        .await;
        RotationError::new(Step::Guard, ErrorKind::Concurrent(why))
    }
}
