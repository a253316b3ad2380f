//! setSecret: wait until Entra accepts the new secret, then put it into Jamf Pro.

use super::{app_of, guard::Standing, Engine, ErrorKind, RotationError, Step, StepContext};
use crate::document::TargetDocument;
use crate::ports::{SecretHolder, TargetError, AWSPENDING};
use secrecy::ExposeSecret;

impl Engine {
    /// setSecret. Reads the pending document, opens its Jamf target and checks that Jamf Pro is
    /// configured for the same app (a server configured otherwise is refused before anything
    /// changes), waits until the token endpoint accepts the new secret for the scope the
    /// integration uses, re-checks that this rotation is still the pending one, and writes the
    /// secret into Jamf Pro. Repeating it writes the same secret again.
    pub async fn set_secret(&self, ctx: &StepContext) -> Result<(), RotationError> {
        let step = Step::SetSecret;
        let Some(mut pending) = self.pending_of(step, ctx).await? else {
            return Ok(());
        };
        let target = self.open_checked(step, &pending).await?;
        let result = async {
            for _ in 0..3 {
                let waiting_since = self.clock.now();
                if let Err(e) = self
                    .wait_for_propagation(
                        &app_of(&pending),
                        &pending.entra.client_secret,
                        &target.scope(),
                    )
                    .await
                {
                    // createSecret trusts its write; a store that overwrites a same-token write
                    // instead of refusing it (moto does) lets a concurrent attempt replace the
                    // secret, and that attempt may remove ours. Follow the stored one rather
                    // than fail.
                    if let Ok(latest) = self.still_pending(step, ctx, &pending).await {
                        if follow(&mut pending, latest) {
                            continue;
                        }
                    }
                    return Err(e);
                }
                self.propagated(ctx, &pending, waiting_since);
                // The wait can be long: make sure no other rotation took over, and that the
                // version still holds the secret just waited for, before touching Jamf Pro.
                let latest = self.still_pending(step, ctx, &pending).await?;
                if follow(&mut pending, latest) {
                    continue;
                }
                self.lease(step, ctx).await?;
                // Any failure here may come after the write (a check after the PUT, a timeout
                // on the answer): Jamf Pro may hold the new secret.
                target
                    .install(&pending.entra.client_secret)
                    .await
                    .map_err(|e| RotationError::target(step, e).touched())?;
                ctx.holder.installed(
                    &ctx.token,
                    pending.entra.key_id.as_deref().unwrap_or_default(),
                );
                self.note(
                    step,
                    &format!("Jamf Pro {} now holds the new secret", pending.label()),
                );
                return Ok(());
            }
            Err(RotationError::new(
                step,
                ErrorKind::Concurrent(format!("version {} keeps changing", ctx.token)),
            ))
        }
        .await;
        target.close().await;
        result
    }

    /// The pending document a step works on, after the guard; `None` when the rotation is
    /// already complete.
    pub(crate) async fn pending_of(
        &self,
        step: Step,
        ctx: &StepContext,
    ) -> Result<Option<TargetDocument>, RotationError> {
        let (_, standing) = self.guard(step, ctx).await?;
        if standing == Standing::AlreadyCurrent {
            return Ok(None);
        }
        self.pending_document(step, ctx).await.map(Some)
    }

    /// Re-checks, just before Jamf Pro is written, that the token is still the pending version,
    /// and returns what it holds now. One read of `AWSPENDING` answers both: when it still holds
    /// `checked` (the document this step read and compared with `AWSCURRENT`), that is all;
    /// another document is compared again; anything unexpected goes to the full guard.
    async fn still_pending(
        &self,
        step: Step,
        ctx: &StepContext,
        checked: &TargetDocument,
    ) -> Result<TargetDocument, RotationError> {
        if let Some((version, value)) = self
            .store
            .value_at(&ctx.secret_id, AWSPENDING)
            .await
            .map_err(|e| RotationError::store(step, e))?
        {
            if version == ctx.token {
                if value.expose_secret() == checked.to_secret().expose_secret() {
                    return Ok(checked.clone());
                }
                let doc = TargetDocument::parse(value.expose_secret())
                    .map_err(|e| RotationError::new(step, ErrorKind::Document(e)))?;
                return self.checked_pending(step, ctx, doc).await;
            }
        }
        self.guard(step, ctx).await?;
        self.pending_document(step, ctx).await
    }

    /// Opens the document's Jamf target and checks that Jamf Pro is configured for the
    /// document's app: only such a Jamf Pro is ever changed. Read-only.
    pub(crate) async fn open_checked(
        &self,
        step: Step,
        doc: &TargetDocument,
    ) -> Result<Box<dyn SecretHolder>, RotationError> {
        let target = self
            .targets
            .open(doc)
            .await
            .map_err(|e| RotationError::target(step, e))?;
        let config = match target.inspect().await {
            Ok(config) => config,
            Err(e) => {
                target.close().await;
                return Err(RotationError::target(step, e));
            }
        };
        if let Some(configured) = &config.client_id {
            if configured.eq_ignore_ascii_case(&doc.entra.client_id) {
                return Ok(target);
            }
        }
        target.close().await;
        Err(RotationError::target(
            step,
            TargetError::Mismatch(format!(
                "Jamf Pro uses application id {}, the document names {} ({})",
                config.client_id.as_deref().unwrap_or("none"),
                doc.entra.client_id,
                config.detail
            )),
        ))
    }

    /// The document stored in the token's version (written by createSecret), refused when it
    /// differs from `AWSCURRENT` beyond what a rotation changes ([`Self::checked_pending`]).
    pub(crate) async fn pending_document(
        &self,
        step: Step,
        ctx: &StepContext,
    ) -> Result<TargetDocument, RotationError> {
        let doc = self
            .document_of(step, ctx, &ctx.token)
            .await?
            .ok_or_else(|| {
                RotationError::new(
                    step,
                    ErrorKind::NothingPending {
                        version: ctx.token.clone(),
                    },
                )
            })?;
        self.checked_pending(step, ctx, doc).await
    }

    /// Returns `pending` (the token's document, just read) when it equals `AWSCURRENT`'s but for
    /// the credential and the rotation record, as every document createSecret writes does.
    /// Anything else (another Jamf URL, credentials secret, tenant, app, kind, ...) was written
    /// by someone else: acting on it could send Jamf credentials or the new secret elsewhere, so
    /// it is refused before anything is read from or sent to the servers it names.
    pub(crate) async fn checked_pending(
        &self,
        step: Step,
        ctx: &StepContext,
        pending: TargetDocument,
    ) -> Result<TargetDocument, RotationError> {
        let (_, current) = self.current_of(step, ctx).await?;
        pending
            .check_pending(&ctx.token, &current)
            .map_err(|e| RotationError::new(step, ErrorKind::Document(e)))?;
        Ok(pending)
    }
}

/// Switches `pending` to what the version holds now when that is another credential (a
/// concurrent attempt's, which this rotation then follows); true when it did.
fn follow(pending: &mut TargetDocument, latest: TargetDocument) -> bool {
    if latest.entra.key_id == pending.entra.key_id {
        return false;
    }
    *pending = latest;
    true
}

impl Engine {
    /// Writes `PropagationSeconds`: from `addPassword` (the pending document's
    /// `rotation.started_at`, read just before it) to now, when Entra has just accepted the new
    /// secret. Only when the wait began within the propagation limit of `addPassword`: a
    /// rotation resumed hours later measures nothing about Entra.
    fn propagated(
        &self,
        ctx: &StepContext,
        pending: &TargetDocument,
        waiting_since: chrono::DateTime<chrono::Utc>,
    ) {
        let Some(added) = pending.rotation.as_ref().map(|r| r.started_at) else {
            return;
        };
        let limit = chrono::Duration::from_std(self.policy.propagation_timeout)
            .unwrap_or(chrono::Duration::MAX);
        if waiting_since - added > limit {
            return;
        }
        let seconds = (self.clock.now() - added).num_milliseconds().max(0) as f64 / 1000.0;
        self.metric(crate::metrics::propagation_seconds(&ctx.secret_id, seconds));
    }
}
