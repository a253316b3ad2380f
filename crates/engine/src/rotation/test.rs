//! testSecret: prove that Jamf Pro works with the new secret, and that Entra still accepts it.
//!
//! Jamf Pro's own tests (the SMTP test mail, the integration's notifications) prove that Jamf Pro
//! works with the secret it holds, not which secret that is, and Jamf Pro never returns it. A
//! step event cannot know what happened since setSecret (a rollback may have put the old secret
//! back and kept `AWSPENDING`, and Secrets Manager then retries testSecret): there, testSecret
//! writes the pending secret into Jamf Pro again before it tests, so a pass proves the pending
//! secret. The in-process driver wrote it just before, in the same run.

use super::{app_of, Engine, ErrorKind, RotationError, Step, StepContext};
use crate::ports::SecretCheck;

impl Engine {
    /// testSecret. Runs the target's own test (Jamf Pro uses the secret it holds: a test mail,
    /// the integration's health), then asks the token endpoint once more for the integration's
    /// scope. Both must pass before the old secret may be retired. In a step event it first
    /// writes the pending secret into Jamf Pro again (see the module's documentation); in a run
    /// it changes nothing.
    pub async fn test_secret(&self, ctx: &StepContext) -> Result<(), RotationError> {
        let step = Step::TestSecret;
        let Some(pending) = self.pending_of(step, ctx).await? else {
            return Ok(());
        };
        let target = self
            .open_target(step, ctx, &pending, !ctx.run.remembers())
            .await
            .map_err(RotationError::touched)?;
        let verified = async {
            if !ctx.run.remembers() {
                self.lease(step, ctx).await?;
                target
                    .install(&pending.entra.client_secret)
                    .await
                    .map_err(|e| RotationError::target(step, e))?;
                self.note(step, "Jamf Pro holds the pending secret again");
            }
            target
                .verify()
                .await
                .map_err(|e| RotationError::target(step, e))
        }
        .await;
        self.release_target(ctx, &target).await;
        verified.map_err(RotationError::touched)?;
        self.note(step, "Jamf Pro works with the new secret");
        match self
            .directory
            .check_secret(
                &app_of(&pending),
                &pending.entra.client_secret,
                &target.scope(),
            )
            .await
            .map_err(|e| RotationError::directory(step, e).touched())?
        {
            SecretCheck::Accepted => {
                self.note(step, "Entra accepts the new secret");
                Ok(())
            }
            SecretCheck::Expired => Err(RotationError::new(
                step,
                ErrorKind::Expired {
                    which: super::error::Which::New,
                },
            )
            .touched()),
            SecretCheck::NotAccepted => {
                Err(RotationError::new(step, ErrorKind::NewSecretRefused).touched())
            }
        }
    }
}
