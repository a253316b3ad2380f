//! testSecret: prove that Jamf Pro works with the new secret, and that Entra still accepts it.

use super::{app_of, Engine, ErrorKind, RotationError, Step, StepContext};
use crate::ports::SecretCheck;

impl Engine {
    /// testSecret. Runs the target's own test (Jamf Pro uses the secret it holds: a test mail,
    /// the integration's health), then asks the token endpoint once more for the integration's
    /// scope. Both must pass before the old secret may be retired. Changes nothing.
    pub async fn test_secret(&self, ctx: &StepContext) -> Result<(), RotationError> {
        let step = Step::TestSecret;
        let Some(pending) = self.pending_of(step, ctx).await? else {
            return Ok(());
        };
        let target = self
            .open_target(step, ctx, &pending, false)
            .await
            .map_err(RotationError::touched)?;
        let verified = target.verify().await;
        self.release_target(ctx, &target).await;
        verified.map_err(|e| RotationError::target(step, e).touched())?;
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
            SecretCheck::Expired => {
                Err(RotationError::new(step, ErrorKind::Expired { which: "new" }).touched())
            }
            SecretCheck::NotAccepted => Err(RotationError::new(
                step,
                ErrorKind::Guard(
                    "Entra no longer accepts the new secret (was it removed from the app?)".into(),
                ),
            )
            .touched()),
        }
    }
}
