//! testSecret: prove that Jamf Pro works with the new secret, and that Entra still accepts it.

use super::{app_of, guard::Standing, Engine, ErrorKind, RotationError, Step, StepContext};
use crate::ports::SecretCheck;

impl Engine {
    /// testSecret. Runs the target's own test (Jamf Pro uses the secret it holds: a test mail,
    /// the integration's health), then asks the token endpoint once more for the integration's
    /// scope. Both must pass before the old secret may be retired. Changes nothing.
    pub async fn test_secret(&self, ctx: &StepContext) -> Result<(), RotationError> {
        let step = Step::TestSecret;
        let (_, standing) = self.guard(step, ctx).await?;
        if standing == Standing::AlreadyCurrent {
            return Ok(());
        }
        let pending = self.pending_document(step, ctx).await?;
        let target = self.targets.open(&pending).await.map_err(|e| RotationError::target(step, e).touched())?;
        target.verify().await.map_err(|e| RotationError::target(step, e).touched())?;
        self.note(step, "Jamf Pro works with the new secret");
        match self
            .directory
            .check_secret(&app_of(&pending), &pending.entra.client_secret, &target.scope())
            .await
            .map_err(|e| RotationError::directory(step, e).touched())?
        {
            SecretCheck::Accepted => {
                self.note(step, "Entra accepts the new secret");
                Ok(())
            }
            SecretCheck::Expired => Err(RotationError::new(step, ErrorKind::Expired { which: "new" }).touched()),
            SecretCheck::NotAccepted => Err(RotationError::new(
                step,
                ErrorKind::Guard("Entra no longer accepts the new secret (was it removed from the app?)".into()),
            )
            .touched()),
        }
    }
}
