//! finishSecret: make the new version `AWSCURRENT`, then retire the credential it replaced.

use super::remove::NotRemoved;
use super::{app_of, guard::Standing, Engine, RotationError, Step, StepContext};
use crate::document::TargetDocument;
use crate::ports::{AppRef, AWSCURRENT, AWSPENDING};
use secrecy::ExposeSecret;
use serde::Serialize;

/// What finishSecret retired.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Finished {
    /// The key id the rotation replaced.
    pub old_key_id: Option<String>,
    /// True when that credential is gone from the app.
    pub old_removed: bool,
    /// Other credentials removed (lockdown, orphans of this rotation).
    pub also_removed: Vec<String>,
    /// Why the old credential is kept for now (grace period, observed-use gate).
    pub retire_pending: Option<String>,
}

impl Engine {
    /// finishSecret. Moves `AWSCURRENT` to the token's version (Secrets Manager moves
    /// `AWSPREVIOUS` to the old one) and drops `AWSPENDING`, then removes the credential the
    /// rotation replaced, and only that one (a lockdown removes every other credential but its
    /// siblings', see [`super::lockdown`]), unless a grace period or the observed-use gate keeps
    /// it for a later check. Run again after a crash, it finds the version already current and
    /// finishes the retirement.
    pub async fn finish_secret(&self, ctx: &StepContext) -> Result<Finished, RotationError> {
        let step = Step::FinishSecret;
        // Always a fresh look, even in a run: since setSecret looked, another attempt of this
        // rotation may have rolled back (AWSPENDING gone), completed it, or (a store that does not
        // refuse a same-token write) overwritten the version; the compare-and-swap below only
        // guards AWSCURRENT.
        // In a run, one read of AWSPENDING answers both: still pending, and what it holds.
        let fresh = match (
            ctx.run.as_ref().and_then(super::run::Run::info),
            ctx.run.as_ref().and_then(super::run::Run::pending),
        ) {
            (Some(info), Some(_)) => match self
                .store
                .value_at(&ctx.secret_id, AWSPENDING)
                .await
                .map_err(|e| RotationError::store(step, e))?
            {
                Some((version, value)) if version == ctx.token => {
                    let doc = TargetDocument::parse(value.expose_secret()).map_err(|e| {
                        RotationError::new(step, super::ErrorKind::Document(e.to_string()))
                    })?;
                    Some((info, Standing::Pending, doc))
                }
                _ => None,
            },
            _ => None,
        };
        let (info, standing, doc) = match fresh {
            Some(known) => known,
            None => {
                let (info, standing) = self.guard(step, ctx).await?;
                (info, standing, self.pending_document(step, ctx).await?)
            }
        };
        if let Some(run) = &ctx.run {
            if run
                .pending()
                .is_some_and(|given| given.entra.key_id != doc.entra.key_id)
            {
                // Jamf Pro got another credential than the version holds now: nothing is moved
                // or retired; the driver installs the stored one and finishes again.
                run.set_pending(doc);
                run.set_followed();
                return Err(RotationError::new(
                    step,
                    super::ErrorKind::Replaced(ctx.token.clone()),
                ));
            }
        }
        self.lease(step, ctx)
            .await
            .map_err(RotationError::touched)?;
        // promote also drops AWSPENDING; otherwise it is dropped here.
        let mut drop_pending = standing == Standing::AlreadyCurrent;
        let current = info
            .version_with(AWSCURRENT)
            .unwrap_or_default()
            .to_string();
        let mut moved = false;
        if standing == Standing::Pending {
            if let Err(e) = self
                .store
                .promote(&ctx.secret_id, &ctx.token, &current)
                .await
            {
                // The move is a compare-and-swap on AWSCURRENT: a racing finisher of the same
                // rotation may have done it first. Then there is nothing to move.
                let again = self
                    .store
                    .describe(&ctx.secret_id)
                    .await
                    .map_err(|e| RotationError::store(step, e).touched())?;
                if !again.has(&ctx.token, AWSCURRENT) {
                    return Err(RotationError::store(step, e).touched());
                }
                drop_pending = again.has(&ctx.token, AWSPENDING);
            } else {
                moved = true;
            }
            self.note(step, &format!("version {} is now AWSCURRENT", ctx.token));
        }
        if drop_pending {
            self.store
                .remove_pending(&ctx.secret_id, &ctx.token)
                .await
                .map_err(|e| RotationError::store(step, e).touched())?;
        }

        let new_key = doc.entra.key_id.clone().unwrap_or_default().to_lowercase();
        let record = doc.rotation.clone();
        let mut done = Finished {
            old_key_id: record.as_ref().and_then(|r| r.replaces_key_id.clone()),
            ..Default::default()
        };
        let lockdown = (record.as_ref().is_some_and(|r| r.lockdown) || ctx.request.lockdown)
            && !new_key.is_empty();
        // Listed afresh, never from a run: this is the last look before something is removed.
        let application = self
            .directory
            .application(&app_of(&doc))
            .await
            .map_err(|e| RotationError::directory(step, e).touched())?;
        let app = AppRef {
            object_id: Some(application.object_id.clone()),
            ..app_of(&doc)
        };
        if !new_key.is_empty()
            && !application
                .passwords
                .iter()
                .any(|c| c.key_id.eq_ignore_ascii_case(&new_key))
        {
            // The new credential is gone: another attempt of this rotation rolled it back after
            // this one looked at the stages (Secrets Manager cannot make the move conditional on
            // AWSPENDING). Nothing is retired; AWSCURRENT goes back to the version whose secret
            // still works, and the rollback puts that secret into Jamf Pro.
            if moved {
                if let Err(e) = self
                    .store
                    .promote(&ctx.secret_id, &current, &ctx.token)
                    .await
                {
                    tracing::error!(step = %step, "could not move AWSCURRENT back to {current}: {e}");
                }
            }
            return Err(RotationError::new(
                step,
                super::ErrorKind::Concurrent(format!("the new credential {new_key} was removed by another attempt of this rotation; nothing retired")),
            )
            .touched());
        }
        // The request at hand may be an emergency that resumed or joined an earlier rotation:
        // its flags count as much as the document's.
        let emergency = ctx.request.revoke_old == crate::document::RevokeOld::Immediately
            || ctx.request.lockdown;
        // (A lockdown needs to know which credential to keep: never without the new key id.)
        let retire = match self.retirement(step, &doc, &app, emergency).await {
            Ok(super::retire::Retirement::Now) => true,
            Ok(super::retire::Retirement::Wait(why) | super::retire::Retirement::Overdue(why)) => {
                self.note(step, &format!("keeping the old credential for now: {why}"));
                done.retire_pending = Some(why);
                false
            }
            // The sign-in report unreadable: keep the old credential, a later check decides.
            Err(e) => {
                done.retire_pending = Some(e.to_string());
                false
            }
        };
        let this_rotation = super::credential_name(&super::target_tag(&info.arn), &ctx.token);
        // A lockdown keeps what the target's siblings (on the same app) hold: they are rotated
        // too, and retire their old secrets themselves.
        let siblings = if lockdown {
            let mut ids = record
                .as_ref()
                .map(|r| r.lockdown_siblings.clone())
                .unwrap_or_default();
            ids.extend(ctx.request.siblings.iter().cloned());
            ids.sort();
            ids.dedup();
            self.sibling_holds(step, &ids)
                .await
                .map_err(RotationError::touched)?
        } else {
            Default::default()
        };
        let now = self.clock.now();
        for cred in &application.passwords {
            let key = cred.key_id.to_lowercase();
            if key == new_key {
                continue;
            }
            let replaced = done
                .old_key_id
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(&key));
            // A credential named for this rotation but not the stored one: a racing attempt's.
            let twin = cred.display_name.as_deref() == Some(this_rotation.as_str());
            let locked_out = lockdown && !siblings.keep(cred, now, self.policy.orphan_min_age);
            if (replaced && retire) || twin || locked_out {
                match self
                    .remove_for(step, ctx, &app, &cred.key_id, &[(&ctx.token, &doc)], None)
                    .await
                {
                    Ok(()) => {}
                    // AWSCURRENT holds the old credential again: another attempt moved it back
                    // after this one's move. Retiring it would cut Jamf Pro off.
                    Err(NotRemoved::Held { why, .. }) if replaced => {
                        return Err(
                            RotationError::new(step, super::ErrorKind::Concurrent(why)).touched()
                        )
                    }
                    Err(NotRemoved::Held { why, .. }) => {
                        self.note(step, &why);
                        continue;
                    }
                    Err(NotRemoved::Failed(e)) => return Err(e.touched()),
                }
                if replaced {
                    self.note(step, &format!("retired the old credential {}", cred.key_id));
                } else {
                    self.note(
                        step,
                        &format!(
                            "removed credential {}{}",
                            cred.key_id,
                            if lockdown { " (lockdown)" } else { "" }
                        ),
                    );
                    done.also_removed.push(cred.key_id.clone());
                }
            }
        }
        // Gone now, or never there (removed by hand, or by an earlier run of this step).
        done.old_removed = done.old_key_id.is_some() && done.retire_pending.is_none();
        Ok(done)
    }
}
