//! createSecret: make the new credential and store it at once as `AWSPENDING`.

use super::{app_of, credential_name, guard::Standing, Engine, RotationError, Step, StepContext};
use crate::document::RotationRecord;
use crate::ports::AppRef;

/// Margin kept under a policy's maximum lifetime: Graph measures from its own clock.
const POLICY_MARGIN: chrono::Duration = chrono::Duration::hours(1);

/// Graph's error code for a password whose lifetime an app management policy does not allow.
const LIFETIME_REFUSED: &str = "CredentialInvalidLifetimeAsPerAppPolicy";

impl Engine {
    /// createSecret. If the pending version already holds a value, stop: the step already ran.
    /// Otherwise check that Jamf Pro is reachable and configured for the document's app, remove what a crashed earlier attempt of this rotation left on the app (a
    /// credential whose secret was never stored), `addPassword` with a display name that marks it
    /// as ours and carries the token and an expiry the tenant's policy allows, and store the new
    /// document as `AWSPENDING` straight away: between `addPassword` and that write, the secret
    /// exists only in this process's memory.
    pub async fn create_secret(&self, ctx: &StepContext) -> Result<(), RotationError> {
        let step = Step::CreateSecret;
        let (info, standing) = self.guard(step, ctx).await?;
        if standing == Standing::AlreadyCurrent {
            return Ok(());
        }
        if info.versions.contains_key(&ctx.token)
            && self
                .document(step, &ctx.secret_id, &ctx.token)
                .await?
                .is_some()
        {
            self.note(
                step,
                &format!(
                    "version {} already holds the new secret; nothing to do",
                    ctx.token
                ),
            );
            return Ok(());
        }
        let (current_version, current) = self.current_of(step, ctx).await?;
        // Preflight: a Jamf Pro that cannot be reached, refuses the rotator's Jamf credentials, or
        // is configured for another app is refused before anything is created.
        let target = self.open_target(step, ctx, &current, true).await?;
        self.release_target(ctx, &target).await;
        let application = self.application_of(step, ctx, &current).await?;
        let app = AppRef {
            object_id: Some(application.object_id.clone()),
            ..app_of(&current)
        };

        // From here on this attempt changes things: no other may at the same time.
        self.lease(step, ctx).await?;
        // Orphans: ours, held by no version. Their secrets exist nowhere, so nobody uses them.
        if self
            .sweep_orphans(
                step,
                ctx,
                &info,
                &app,
                &application,
                (&current_version, &current),
            )
            .await?
        {
            // A concurrent attempt of this rotation stored its credential: this one follows it.
            if let Some(run) = &ctx.run {
                run.set_followed();
            }
            return Ok(());
        }
        let now = self.clock.now();

        // A retirement still pending from the last rotation (grace period, observed-use gate) is
        // superseded: after this rotation no version holds that credential any more.
        // Unless the gate still doubts that Jamf Pro uses the current secret: then the old one is
        // Jamf's fallback, and only an emergency may go ahead.
        if let Some(old) = current
            .rotation
            .as_ref()
            .and_then(|r| r.replaces_key_id.as_deref())
        {
            if application
                .passwords
                .iter()
                .any(|c| c.key_id.eq_ignore_ascii_case(old))
                && !current
                    .entra
                    .key_id
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case(old))
            {
                let emergency = ctx.request.revoke_old == crate::document::RevokeOld::Immediately
                    || ctx.request.lockdown;
                if let super::retire::Retirement::Overdue(why)
                | super::retire::Retirement::Wait(why) =
                    self.retirement(step, &current, &app, emergency).await?
                {
                    if self.policy.retire_after_observed_use && !emergency {
                        return Err(RotationError::new(
                            step,
                            super::ErrorKind::Guard(format!("the last rotation's old credential {old} is still pending retirement ({why}); an emergency rotation (--revoke-old immediately) overrides")),
                        ));
                    }
                }
                self.remove_for(step, ctx, &app, old, &[(&current_version, &current)], None)
                    .await
                    .map_err(|e| e.into_error(step))?;
                self.note(
                    step,
                    &format!(
                        "retired credential {old}, still pending retirement from the last rotation"
                    ),
                );
            }
        }

        // Lifetime: ours, unless the tenant's app management policy allows less. Asked first,
        // the policy costs two Graph reads in every rotation; Graph refuses a password beyond it
        // (CredentialInvalidLifetimeAsPerAppPolicy, nothing created), so it is read only then.
        let name = credential_name(&super::target_tag(&info.arn), &ctx.token);
        let mut end = now + chrono::Duration::days(self.policy.secret_lifetime_days);
        // Each change only while it is still this attempt's turn (free while the lease is far
        // from its end): another attempt may have held the target while this one stalled.
        self.lease(step, ctx).await?;
        let new = match self.directory.add_password(&app, &name, end).await {
            Err(crate::ports::DirectoryError::Graph { code, .. }) if code == LIFETIME_REFUSED => {
                let max = self.directory.max_password_lifetime(&app).await.map_err(|e| RotationError::directory(step, e))?;
                let Some(max) = max else {
                    return Err(RotationError::new(
                        step,
                        super::ErrorKind::Guard(format!("Graph refused the secret's lifetime ({LIFETIME_REFUSED}) but no app management policy limits it")),
                    ));
                };
                end = now + (max - POLICY_MARGIN).max(chrono::Duration::hours(1));
                self.note(step, &format!("the tenant's policy caps secret lifetime at {} days", max.num_days()));
                self.directory.add_password(&app, &name, end).await
            }
            other => other,
        }
        .map_err(|e| RotationError::directory(step, e))?;
        let new_key = new.credential.key_id.clone();
        self.note(
            step,
            &format!(
                "created credential {new_key}, valid until {}",
                new.credential.end.unwrap_or(end).format("%Y-%m-%d")
            ),
        );

        let mut doc = current.clone();
        doc.entra.application_object_id = Some(application.object_id.clone());
        doc.entra.client_secret = new.secret;
        doc.entra.key_id = Some(new_key.clone());
        doc.entra.expires_at = Some(new.credential.end.unwrap_or(end));
        doc.rotation = Some(RotationRecord {
            token: ctx.token.clone(),
            replaces_key_id: current.entra.key_id.clone(),
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
        if let Err(e) = self.lease(step, ctx).await {
            // The credential just made is stored nowhere: an orphan for the next sweep.
            tracing::warn!(step = %step, "credential {new_key} is left for the orphan sweep: {e}");
            return Err(e);
        }
        let put = self
            .store
            .put_pending(
                &ctx.secret_id,
                &ctx.token,
                &doc.to_secret(),
                ctx.rotation_token.as_ref(),
            )
            .await;
        if let (Ok(()), Some(run)) = (&put, &ctx.run) {
            // Secrets Manager refuses a differing value under a token that already holds one, so
            // a write that succeeded stored ours. (An emulator that overwrites instead is caught
            // by setSecret, which re-reads AWSPENDING before it writes Jamf Pro.)
            run.added(new.credential.clone());
            run.set_pending(doc);
            self.note(
                step,
                &format!(
                    "stored the new secret as AWSPENDING (version {})",
                    ctx.token
                ),
            );
            return Ok(());
        }
        // Read back what the version holds: a racing process with the same token may have
        // stored its credential first (AWS refuses our differing value; moto overwrites).
        let stored = self
            .document(step, &ctx.secret_id, &ctx.token)
            .await
            .ok()
            .flatten();
        let stored_key = stored.as_ref().and_then(|d| d.entra.key_id.clone());
        if stored_key.as_deref() == Some(new_key.as_str()) {
            self.note(
                step,
                &format!(
                    "stored the new secret as AWSPENDING (version {})",
                    ctx.token
                ),
            );
            return Ok(());
        }
        // Ours is not the stored one: the credential is useless, remove it now. Should that
        // fail too, the next createSecret or finishSecret removes it as an orphan.
        if let Err(re) = self
            .remove_for(
                step,
                ctx,
                &app,
                &new_key,
                &[(&current_version, &current)],
                None,
            )
            .await
        {
            tracing::error!(step = %step, "could not remove unstored credential {new_key}: {re}");
        }
        match (put, stored_key) {
            (_, Some(other)) => {
                // A version that no longer carries AWSPENDING is not a concurrent attempt's but
                // an earlier one's, rolled back (the in-process driver tries its first token
                // without asking whether it was spent): nothing to follow there.
                // (A version already AWSCURRENT is a concurrent attempt that completed: the later
                // steps find it done.)
                let info = self
                    .store
                    .describe(&ctx.secret_id)
                    .await
                    .map_err(|e| RotationError::store(step, e))?;
                if !info.has(&ctx.token, crate::ports::AWSPENDING)
                    && !info.has(&ctx.token, crate::ports::AWSCURRENT)
                {
                    return Err(RotationError::new(
                        step,
                        super::ErrorKind::TokenSpent(ctx.token.clone()),
                    ));
                }
                if let Some(run) = &ctx.run {
                    run.set_followed();
                }
                self.note(step, &format!("a concurrent attempt stored credential {other} for this rotation; following it"));
                Ok(())
            }
            (Err(e), None) => Err(RotationError::store(step, e)),
            (Ok(()), None) => Err(RotationError::new(
                step,
                super::ErrorKind::Guard(format!(
                    "version {} reads back empty after it was written",
                    ctx.token
                )),
            )),
        }
    }
}
