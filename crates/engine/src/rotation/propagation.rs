//! The propagation wait: a secret returned by `addPassword` is accepted by the token endpoint
//! only after a lag (seconds, sometimes minutes; Microsoft gives no SLA). Before Jamf Pro gets
//! the new secret, poll the token endpoint with it, for the scope the Jamf integration uses, with
//! backoff, until it is accepted several times in a row. Never a fixed sleep. Each poll tells
//! the engine's [`Progress`] observer how long it has waited, of how long at most.

use super::{Engine, ErrorKind, RotationError, Step};
use crate::ports::{AppRef, Progress, SecretCheck};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// First pause between polls; doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(2);
/// Longest pause between polls.
const MAX_PAUSE: Duration = Duration::from_secs(20);
/// Pause between consecutive successful polls (a second node of Entra must agree too).
const CONFIRM_PAUSE: Duration = Duration::from_secs(2);
/// What the propagation wait waits for, as its [`Progress`] observer is told.
pub const WAITING_FOR: &str = "Entra to accept the new secret";
/// [`LogWaits`] logs the polls of a wait that has lasted this long (the first ones pass quietly).
const LOG_AFTER: Duration = Duration::from_secs(30);

/// The default [`Progress`] observer (the Lambda's): a log line for each poll once a wait has
/// lasted [`LOG_AFTER`]; the polls are [`MAX_PAUSE`] apart by then, so a line every 20 s at most.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogWaits;

impl Progress for LogWaits {
    fn waiting(&self, what: &str, elapsed: Duration, limit: Duration) {
        if elapsed >= LOG_AFTER {
            tracing::info!(
                step = %Step::SetSecret,
                "still waiting for {what}: {}s of at most {}s",
                elapsed.as_secs(),
                limit.as_secs()
            );
        }
    }
}

impl Engine {
    /// Tells `observer` of each poll of the propagation wait (the CLI's progress bar) instead of
    /// [`LogWaits`].
    pub fn with_wait_progress(mut self, observer: Arc<dyn Progress>) -> Self {
        self.waits = observer;
        self
    }

    fn waits(&self) -> &dyn Progress {
        self.waits.as_ref()
    }

    /// Waits until Entra accepts `secret` for `scope` [`super::Policy::propagation_successes`]
    /// times in a row, or fails after [`super::Policy::propagation_timeout`].
    pub async fn wait_for_propagation(
        &self,
        app: &AppRef,
        secret: &SecretString,
        scope: &str,
    ) -> Result<u32, RotationError> {
        let waited = self.poll_until_accepted(app, secret, scope).await;
        self.waits().finished(WAITING_FOR);
        waited
    }

    async fn poll_until_accepted(
        &self,
        app: &AppRef,
        secret: &SecretString,
        scope: &str,
    ) -> Result<u32, RotationError> {
        let step = Step::SetSecret;
        let started = self.clock.now();
        let limit = chrono::Duration::from_std(self.policy.propagation_timeout)
            .unwrap_or(chrono::Duration::MAX);
        let mut pause = FIRST_PAUSE;
        let mut streak = 0;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let elapsed = (self.clock.now() - started).to_std().unwrap_or_default();
            let most = self.policy.propagation_timeout;
            self.waits().waiting(WAITING_FOR, elapsed, most);
            let check = self.check_new_secret(app, secret, scope).await?;
            match check {
                SecretCheck::Accepted => {
                    streak += 1;
                    if streak >= self.policy.propagation_successes {
                        let waited = (self.clock.now() - started).num_milliseconds();
                        self.note(
                            step,
                            &format!(
                                "Entra accepts the new secret ({attempts} attempts, {:.1}s)",
                                waited as f64 / 1000.0
                            ),
                        );
                        return Ok(attempts);
                    }
                    self.clock.sleep(CONFIRM_PAUSE).await;
                    continue;
                }
                SecretCheck::Expired => {
                    let which = super::error::Which::New;
                    return Err(RotationError::new(step, ErrorKind::Expired { which }));
                }
                SecretCheck::NotAccepted => streak = 0,
            }
            let waited = self.clock.now() - started;
            if waited >= limit {
                return Err(RotationError::new(
                    step,
                    ErrorKind::PropagationTimeout {
                        waited: waited.to_std().unwrap_or_default(),
                        attempts,
                    },
                ));
            }
            if attempts == 1 {
                self.note(step, "waiting for Entra to accept the new secret");
            }
            // Never sleep past the limit: the last poll lands on it.
            let left = (limit - waited).to_std().unwrap_or_default();
            self.clock.sleep(pause.min(left)).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// One sign-in test of the new secret; a transient failure of the token endpoint counts as
    /// "not yet".
    async fn check_new_secret(
        &self,
        app: &AppRef,
        secret: &SecretString,
        scope: &str,
    ) -> Result<SecretCheck, RotationError> {
        let step = Step::SetSecret;
        match self.directory.check_secret(app, secret, scope).await {
            Ok(check) => Ok(check),
            Err(e) if e.is_transient() => {
                tracing::warn!(step = %step, "token endpoint unavailable while waiting for propagation: {e}");
                Ok(SecretCheck::NotAccepted)
            }
            Err(e) => Err(RotationError::directory(step, e)),
        }
    }
}
