//! setSecret: wait until Entra accepts the new secret, then put it into Jamf Pro.

use super::{app_of, guard::Standing, Engine, ErrorKind, RotationError, Step, StepContext};
use crate::document::TargetDocument;
use crate::ports::{JamfTarget, TargetError};

impl Engine {
    /// setSecret. Reads the pending document, opens its Jamf target and checks that Jamf Pro is
    /// configured for the same app (a server configured otherwise is refused before anything
    /// changes), waits until the token endpoint accepts the new secret for the scope the
    /// integration uses, re-checks that this rotation is still the pending one, and writes the
    /// secret into Jamf Pro. Repeating it writes the same secret again.
    pub async fn set_secret(&self, ctx: &StepContext) -> Result<(), RotationError> {
        let step = Step::SetSecret;
        let (_, standing) = self.guard(step, ctx).await?;
        if standing == Standing::AlreadyCurrent {
            return Ok(());
        }
        let mut pending = self.pending_document(step, ctx).await?;
        let target = self.open_checked(step, &pending).await?;
        for _ in 0..3 {
            self.wait_for_propagation(&app_of(&pending), &pending.entra.client_secret, &target.scope()).await?;
            // The wait can be long: make sure no other rotation took over, and that the version
            // still holds the secret just waited for, before touching Jamf Pro.
            self.guard(step, ctx).await?;
            let latest = self.pending_document(step, ctx).await?;
            if latest.entra.key_id != pending.entra.key_id {
                pending = latest;
                continue;
            }
            // Any failure here may come after the write (a check after the PUT, a timeout on
            // the answer): Jamf Pro may hold the new secret.
            target.install(&pending.entra.client_secret).await.map_err(|e| RotationError::target(step, e).touched())?;
            self.note(step, &format!("Jamf Pro {} now holds the new secret", pending.label()));
            return Ok(());
        }
        Err(RotationError::new(step, ErrorKind::Concurrent(format!("version {} keeps changing", ctx.token))))
    }

    /// Opens the document's Jamf target and checks that Jamf Pro is configured for the
    /// document's app: only such a Jamf Pro is ever changed. Read-only.
    pub(crate) async fn open_checked(&self, step: Step, doc: &TargetDocument) -> Result<Box<dyn JamfTarget>, RotationError> {
        let target = self.targets.open(doc).await.map_err(|e| RotationError::target(step, e))?;
        let config = target.inspect().await.map_err(|e| RotationError::target(step, e))?;
        match &config.client_id {
            Some(configured) if configured.eq_ignore_ascii_case(&doc.entra.client_id) => Ok(target),
            other => Err(RotationError::target(
                step,
                TargetError::Mismatch(format!(
                    "Jamf Pro uses application id {}, the document names {} ({})",
                    other.as_deref().unwrap_or("none"),
                    doc.entra.client_id,
                    config.detail
                )),
            )),
        }
    }

    /// The document stored in the token's version (written by createSecret).
    pub(crate) async fn pending_document(&self, step: Step, ctx: &StepContext) -> Result<TargetDocument, RotationError> {
        self.document(step, &ctx.secret_id, &ctx.token).await?.ok_or_else(|| {
            RotationError::new(step, ErrorKind::Guard(format!("version {} holds no secret yet: createSecret has not run", ctx.token)))
        })
    }
}
