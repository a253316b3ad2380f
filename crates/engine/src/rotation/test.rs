//! testSecret: prove that Jamf Pro works with the new secret, and that Entra still accepts it.
//!
//! Jamf Pro's own tests (the SMTP test mail, the integration's notifications) prove that Jamf Pro
//! works with the secret it holds, not which secret that is, and Jamf Pro never returns it. A
//! step cannot know what happened since setSecret (another attempt's rollback may have put the
//! old secret back and kept `AWSPENDING`, and Secrets Manager then retries testSecret), so
//! testSecret writes the pending secret into Jamf Pro again before it tests: a pass proves the
//! pending secret. Unless this invocation wrote it under a lease it has held ever since
//! ([`super::holder`]): then nobody else has written Jamf Pro meanwhile.

use super::{app_of, Engine, ErrorKind, RotationError, Step, StepContext};
use crate::document::TargetDocument;
use crate::ports::SecretCheck;

impl Engine {
    /// testSecret. Writes the pending secret into Jamf Pro again (see the module's
    /// documentation), runs the target's own test (Jamf Pro uses the secret it holds: a test
    /// mail, the integration's health), then asks the token endpoint once more for the
    /// integration's scope. Both must pass before the old secret may be retired.
    pub async fn test_secret(&self, ctx: &StepContext) -> Result<(), RotationError> {
        // setSecret ran before (whoever drives the rotation): whatever fails here, Jamf Pro may
        // hold the new secret.
        self.test_pending(ctx).await.map_err(RotationError::touched)
    }

    async fn test_pending(&self, ctx: &StepContext) -> Result<(), RotationError> {
        let step = Step::TestSecret;
        let Some(pending) = self.pending_of(step, ctx).await? else {
            return Ok(());
        };
        let scope = self.jamf_works_with(step, ctx, &pending).await?;
        match self
            .directory
            .check_secret(&app_of(&pending), &pending.entra.client_secret, &scope)
            .await
            .map_err(|e| RotationError::directory(step, e))?
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
            )),
            SecretCheck::NotAccepted => Err(RotationError::new(step, ErrorKind::NewSecretRefused)),
        }
    }
}

impl Engine {
    /// Proves, under the target's lease, that Jamf Pro works with `pending`'s secret: writes it
    /// into Jamf Pro unless this invocation did so under the lease it still holds
    /// ([`super::holder`]), then runs Jamf Pro's own test. Returns the integration's scope.
    pub(crate) async fn jamf_works_with(
        &self,
        step: Step,
        ctx: &StepContext,
        pending: &TargetDocument,
    ) -> Result<String, RotationError> {
        let target = self.open_checked(step, pending).await?;
        let key_id = pending.entra.key_id.as_deref().unwrap_or_default();
        let verified = async {
            self.lease(step, ctx).await?;
            if !ctx.holder.has_installed(&ctx.token, key_id) {
                target
                    .install(&pending.entra.client_secret)
                    .await
                    .map_err(|e| RotationError::target(step, e).touched())?;
                ctx.holder.installed(&ctx.token, key_id);
                self.note(step, "Jamf Pro holds the pending secret again");
            }
            target
                .verify()
                .await
                .map_err(|e| RotationError::target(step, e))
        }
        .await;
        target.close().await;
        verified?;
        self.note(step, "Jamf Pro works with the new secret");
        Ok(target.scope())
    }
}
