//! createSecret: make the new credential and store it at once as `AWSPENDING`.

use super::{app_of, credential_name, guard::Standing, Engine, RotationError, Step, StepContext};
use crate::document::{RotationRecord, TargetDocument};
use crate::ports::{
    AppRef, Application, DirectoryError, NewPassword, PasswordCredential, SecretInfo, AWSCURRENT,
    AWSPENDING,
};
use chrono::{DateTime, Utc};

/// Margin kept under a policy's maximum lifetime: Graph measures from its own clock.
const POLICY_MARGIN: chrono::Duration = chrono::Duration::hours(1);

/// Graph's error code for a password whose lifetime an app management policy does not allow.
const LIFETIME_REFUSED: &str = "CredentialInvalidLifetimeAsPerAppPolicy";

/// What createSecret works from: the `AWSCURRENT` version and document, and the app as listed.
struct Base {
    version: String,
    doc: TargetDocument,
    application: Application,
    app: AppRef,
}

impl Base {
    /// The current document, as the documents a removal may rule a credential out by.
    fn known(&self) -> [(&str, &TargetDocument); 1] {
        [(self.version.as_str(), &self.doc)]
    }
}

impl Engine {
    /// createSecret. If the pending version already holds a value, stop: the step already ran.
    /// Otherwise check that Jamf Pro is reachable and configured for the document's app, remove
    /// what a crashed earlier attempt of this rotation left on the app (a credential whose secret
    /// was never stored), `addPassword` with a display name that marks it as ours and carries the
    /// token and an expiry the tenant's policy allows, and store the new document as
    /// `AWSPENDING` straight away: between `addPassword` and that write, the secret exists only
    /// in this process's memory.
    pub async fn create_secret(&self, ctx: &StepContext) -> Result<(), RotationError> {
        let step = Step::CreateSecret;
        let (info, standing) = self.guard(step, ctx).await?;
        if standing == Standing::AlreadyCurrent || self.already_created(ctx, &info).await? {
            return Ok(());
        }
        let base = self.preflight(step, ctx).await?;
        // From here on this attempt changes things: no other may at the same time.
        self.lease_after(step, ctx, Some(&info)).await?;
        // Orphans: ours, held by no version. Their secrets exist nowhere, so nobody uses them.
        let current = (base.version.as_str(), &base.doc);
        if self
            .sweep_orphans(step, ctx, &info, &base.app, &base.application, current)
            .await?
        {
            // A concurrent attempt of this rotation stored its credential: the later steps
            // read that one.
            return Ok(());
        }
        let now = self.clock.now();
        self.supersede_retirement(ctx, &base).await?;
        let name = credential_name(&super::target_tag(&info.arn), &ctx.token);
        let (new, end) = self.add_credential(ctx, &base.app, &name, now).await?;
        let doc = new_document(ctx, &base, &new, end, now);
        self.store_new(ctx, &base, doc, new.credential).await
    }

    /// True when the token's version already holds a document: the step already ran.
    async fn already_created(
        &self,
        ctx: &StepContext,
        info: &SecretInfo,
    ) -> Result<bool, RotationError> {
        let step = Step::CreateSecret;
        if !info.versions.contains_key(&ctx.token)
            || self.document_of(step, ctx, &ctx.token).await?.is_none()
        {
            return Ok(false);
        }
        self.note(
            step,
            &format!(
                "version {} already holds the new secret; nothing to do",
                ctx.token
            ),
        );
        Ok(true)
    }

    /// Reads what the rotation starts from. A Jamf Pro that cannot be reached, refuses the
    /// rotator's Jamf credentials, or is configured for another app is refused here, before
    /// anything is created.
    async fn preflight(&self, step: Step, ctx: &StepContext) -> Result<Base, RotationError> {
        let (version, doc) = self.current_of(step, ctx).await?;
        self.open_checked(step, &doc).await?.close().await;
        let application = self.listing(step, &doc).await?;
        let app = AppRef {
            object_id: Some(application.object_id.clone()),
            ..app_of(&doc)
        };
        Ok(Base {
            version,
            doc,
            application,
            app,
        })
    }

    /// A retirement still pending from the last rotation (grace period, observed-use gate) is
    /// superseded: after this rotation no version holds that credential any more. Unless the
    /// gate still doubts that Jamf Pro uses the current secret: then the old one is Jamf's
    /// fallback, and only an emergency may go ahead.
    async fn supersede_retirement(
        &self,
        ctx: &StepContext,
        base: &Base,
    ) -> Result<(), RotationError> {
        let step = Step::CreateSecret;
        let Some(old) = pending_retirement(base) else {
            return Ok(());
        };
        let emergency = ctx.request.is_emergency();
        if let super::retire::Retirement::Overdue(why) | super::retire::Retirement::Wait(why) = self
            .retirement(step, &base.doc, &base.app, emergency)
            .await?
        {
            if self.policy.retire_after_observed_use && !emergency {
                return Err(RotationError::new(
                    step,
                    super::ErrorKind::RetirementPending {
                        old: old.to_string(),
                        why,
                    },
                ));
            }
        }
        self.remove_for(step, ctx, &base.app, old, &base.known(), None)
            .await
            .map_err(|e| e.into_error(step))?;
        self.note(
            step,
            &format!("retired credential {old}, still pending retirement from the last rotation"),
        );
        Ok(())
    }

    /// Adds the new credential, valid for our lifetime unless the tenant's app management policy
    /// allows less. Asked first, the policy costs two Graph reads in every rotation; Graph
    /// refuses a password beyond it (CredentialInvalidLifetimeAsPerAppPolicy, nothing created),
    /// so it is read only then. Returns the credential and the end asked for.
    async fn add_credential(
        &self,
        ctx: &StepContext,
        app: &AppRef,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(NewPassword, DateTime<Utc>), RotationError> {
        let step = Step::CreateSecret;
        let mut end = now + chrono::Duration::days(self.policy.secret_lifetime_days);
        // Each change only while it is still this attempt's turn (free while the lease is far
        // from its end): another attempt may have held the target while this one stalled.
        self.lease(step, ctx).await?;
        let new = match self.directory.add_password(app, name, end).await {
            Err(DirectoryError::Graph { code, .. }) if code == LIFETIME_REFUSED => {
                let max = self
                    .directory
                    .max_password_lifetime(app)
                    .await
                    .map_err(|e| RotationError::directory(step, e))?;
                let Some(max) = max else {
                    return Err(RotationError::new(
                        step,
                        super::ErrorKind::LifetimeRefused {
                            code: LIFETIME_REFUSED,
                        },
                    ));
                };
                end = now + (max - POLICY_MARGIN).max(chrono::Duration::hours(1));
                let days = max.num_days();
                self.note(
                    step,
                    &format!("the tenant's policy caps secret lifetime at {days} days"),
                );
                self.directory.add_password(app, name, end).await
            }
            other => other,
        }
        .map_err(|e| RotationError::directory(step, e))?;
        self.note(
            step,
            &format!(
                "created credential {}, valid until {}",
                new.credential.key_id,
                new.credential.end.unwrap_or(end).format("%Y-%m-%d")
            ),
        );
        Ok((new, end))
    }

    /// Stores the new document as `AWSPENDING`, straight away. When the write fails or another
    /// credential is found stored under the token, the new credential is removed at once.
    async fn store_new(
        &self,
        ctx: &StepContext,
        base: &Base,
        doc: TargetDocument,
        credential: PasswordCredential,
    ) -> Result<(), RotationError> {
        let step = Step::CreateSecret;
        let new_key = credential.key_id.clone();
        if let Err(e) = self.lease(step, ctx).await {
            // The credential just made is stored nowhere: an orphan for the next sweep.
            tracing::warn!(step = %step, "credential {new_key} is left for the orphan sweep: {e}");
            return Err(e);
        }
        let secret = doc.to_secret();
        let put = self
            .store
            .put_pending(
                &ctx.secret_id,
                &ctx.token,
                &secret,
                ctx.rotation_token.as_ref(),
            )
            .await;
        if put.is_ok() {
            // Secrets Manager refuses a differing value under a token that already holds one, so
            // a write that succeeded stored ours. (An emulator that overwrites instead is caught
            // by setSecret, which reads the version again before it writes Jamf Pro.)
            self.note_stored(ctx);
            return Ok(());
        }
        // Read back what the version holds: a racing process with the same token may have
        // stored its credential first (AWS refuses our differing value; moto overwrites).
        let stored = self
            .document(step, &ctx.secret_id, &ctx.token)
            .await
            .ok()
            .flatten();
        let stored_key = stored.and_then(|d| d.entra.key_id);
        if stored_key.as_deref() == Some(new_key.as_str()) {
            self.note_stored(ctx);
            return Ok(());
        }
        // Ours is not the stored one: the credential is useless, remove it now. Should that
        // fail too, the next createSecret or finishSecret removes it as an orphan.
        if let Err(re) =
            (self.remove_for(step, ctx, &base.app, &new_key, &base.known(), None)).await
        {
            tracing::error!(step = %step, "could not remove unstored credential {new_key}: {re}");
        }
        match (put, stored_key) {
            (_, Some(other)) => self.follow_stored(ctx, &other).await,
            (Err(e), None) => Err(RotationError::store(step, e)),
            (Ok(()), None) => Err(RotationError::new(
                step,
                super::ErrorKind::EmptyReadBack {
                    version: ctx.token.clone(),
                },
            )),
        }
    }

    fn note_stored(&self, ctx: &StepContext) {
        let version = &ctx.token;
        self.note(
            Step::CreateSecret,
            &format!("stored the new secret as AWSPENDING (version {version})"),
        );
    }

    /// Another credential than ours, `other`, is stored under the token. A version that no
    /// longer carries AWSPENDING is not a concurrent attempt's but an earlier one's, rolled back
    /// (the in-process driver tries its first token without asking whether it was spent):
    /// nothing to follow there. (A version already AWSCURRENT is a concurrent attempt that
    /// completed: the later steps find it done.) Otherwise this rotation follows it.
    async fn follow_stored(&self, ctx: &StepContext, other: &str) -> Result<(), RotationError> {
        let step = Step::CreateSecret;
        let info = self
            .store
            .describe(&ctx.secret_id)
            .await
            .map_err(|e| RotationError::store(step, e))?;
        if !info.has(&ctx.token, AWSPENDING) && !info.has(&ctx.token, AWSCURRENT) {
            return Err(RotationError::new(
                step,
                super::ErrorKind::TokenSpent(ctx.token.clone()),
            ));
        }
        self.note(
            step,
            &format!(
                "a concurrent attempt stored credential {other} for this rotation; following it"
            ),
        );
        Ok(())
    }
}

/// The old credential the last rotation left pending retirement, while the app still holds it
/// and the current secret is not it.
fn pending_retirement(base: &Base) -> Option<&str> {
    let old = base.doc.rotation.as_ref()?.replaces_key_id.as_deref()?;
    let on_app = base
        .application
        .passwords
        .iter()
        .any(|c| c.key_id.eq_ignore_ascii_case(old));
    let is_current =
        (base.doc.entra.key_id.as_deref()).is_some_and(|k| k.eq_ignore_ascii_case(old));
    (on_app && !is_current).then_some(old)
}

/// The document the new version holds: the current one with the new credential and this
/// rotation's record.
fn new_document(
    ctx: &StepContext,
    base: &Base,
    new: &NewPassword,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> TargetDocument {
    let mut doc = base.doc.clone();
    doc.entra.application_object_id = Some(base.application.object_id.clone());
    doc.entra.client_secret = new.secret.clone();
    doc.entra.key_id = Some(new.credential.key_id.clone());
    doc.entra.expires_at = Some(new.credential.end.unwrap_or(end));
    doc.rotation = Some(RotationRecord {
        token: ctx.token.clone(),
        replaces_key_id: base.doc.entra.key_id.clone(),
        reason: ctx.request.reason.clone(),
        started_at: now,
        revoke_old: ctx.request.revoke_old,
        lockdown: ctx.request.lockdown,
        lockdown_siblings: if ctx.request.lockdown {
            ctx.request.siblings.clone()
        } else {
            Vec::new()
        },
    });
    doc
}
