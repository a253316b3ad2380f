//! Rollback: when a rotation cannot complete, put the old secret back into Jamf Pro, remove the
//! new credential, and drop `AWSPENDING`, in that order, so that the invariant holds after each
//! call: Jamf Pro keeps a working secret, and every secret of ours on the app stays stored.
//! What a failed step leaves behind, a rollback among it, is settled in [`super::settle`].

use super::remove::NotRemoved;
use super::{app_of, Driver, Engine, ErrorKind, RotationError, Step, StepContext};
use crate::ports::{AlertKind, AppRef, SecretInfo, AWSCURRENT, AWSPENDING};
use serde::Serialize;

/// What a rollback did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RolledBack {
    /// `Some(true)` when the old secret was put back into Jamf Pro, `Some(false)` when that
    /// failed, `None` when Jamf Pro never got the new secret.
    pub jamf_restored: Option<bool>,
    /// True when the new credential was removed from the app.
    pub new_removed: bool,
    /// True when `AWSPENDING` was dropped.
    pub pending_dropped: bool,
    /// True when everything was undone.
    pub complete: bool,
    /// True when another attempt completed the rotation meanwhile: nothing was undone, and Jamf
    /// Pro holds (or was given again) the secret `AWSCURRENT` holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub completed_elsewhere: bool,
    /// What could not be undone, for the alert.
    pub problems: Vec<String>,
}

/// What a failed step leaves behind: the alert's kind, the state in a sentence, the rollback.
#[derive(Debug, Clone)]
pub struct Settled {
    /// `rolled-back` when everything was undone, `rotation-failed` otherwise.
    pub alert: AlertKind,
    /// What state was left, for the alert.
    pub state: String,
    /// The rollback, when one ran.
    pub rollback: Option<RolledBack>,
}

impl Engine {
    /// Undoes the rotation `ctx` names after `failure`. If Jamf Pro may hold the new secret and
    /// the old one cannot be put back, the new credential and `AWSPENDING` are KEPT (Jamf Pro may
    /// depend on them); the next run resumes or the operator decides. It looks at the stages
    /// before it starts, and its removal looks again (see `Engine::remove_checked`): a rotation
    /// another attempt completed is never undone, whichever branch this one is in.
    pub async fn rollback(&self, ctx: &StepContext, failure: &RotationError) -> RolledBack {
        self.undo(ctx, may_hold_new(ctx, failure)).await
    }

    /// [`Engine::rollback`], told whether Jamf Pro may hold the new secret.
    pub(super) async fn undo(&self, ctx: &StepContext, may_hold_new: bool) -> RolledBack {
        let step = Step::Rollback;
        let mut out = RolledBack::default();
        let pending = match self.pending_document(step, ctx).await {
            Ok(doc) => doc,
            Err(e) if is_pending_refused(&e.kind) => {
                out.jamf_restored = may_hold_new.then_some(false);
                out.problems.push(format!("nothing was undone: {e}"));
                return out;
            }
            Err(e) => return self.undo_unreadable(ctx, e, may_hold_new).await,
        };
        let info = match self.store.describe(&ctx.secret_id).await {
            Ok(info) => info,
            Err(e) => {
                out.jamf_restored = may_hold_new.then_some(false);
                out.problems.push(format!(
                    "the stages could not be read ({e}); nothing was undone"
                ));
                return out;
            }
        };
        if info.has(&ctx.token, AWSCURRENT) {
            // Another attempt of this rotation completed it: Jamf Pro holds its secret (that
            // attempt verified it there, and this run wrote nothing else).
            out.completed_elsewhere = true;
            out.problems.push(
                "another attempt completed this rotation meanwhile; nothing was undone".into(),
            );
            self.note(
                step,
                "another attempt completed this rotation; nothing to undo",
            );
            return out;
        }
        if let Some(left) = self.left_to_others(ctx, &info, may_hold_new) {
            out.problems.push(left);
            return out;
        }
        if let Err(e) = self.lease(step, ctx).await {
            // Another attempt holds the rotation now (or acted first): it is its to undo.
            out.jamf_restored = may_hold_new.then_some(false);
            out.problems.push(format!("nothing was undone: {e}"));
            return out;
        }
        if may_hold_new && !self.restore(ctx, &mut out).await {
            return out;
        }
        self.remove_new(ctx, &info.arn, &pending, may_hold_new, &mut out)
            .await;
        out.complete = out.problems.is_empty();
        out
    }

    /// A rollback whose pending document cannot be read. When Jamf Pro may be using the secret
    /// `AWSPENDING` holds (and what is unreadable now may read again later), the label, the
    /// credential and Jamf Pro are kept as they are. Otherwise Jamf Pro never got it, and
    /// createSecret removes a credential it could not store: only the label may remain.
    async fn undo_unreadable(
        &self,
        ctx: &StepContext,
        e: RotationError,
        may_hold_new: bool,
    ) -> RolledBack {
        let step = Step::Rollback;
        let mut out = RolledBack::default();
        if may_hold_new {
            out.jamf_restored = Some(false);
            out.problems.push(format!("pending document unreadable ({e}); Jamf Pro may hold its secret, so nothing was undone"));
            self.note(step, "the pending document is unreadable and Jamf Pro may hold its secret; keeping AWSPENDING");
            return out;
        }
        out.problems
            .push(format!("pending document unreadable: {e}"));
        let pending = self
            .store
            .describe(&ctx.secret_id)
            .await
            .map(|i| i.has(&ctx.token, AWSPENDING));
        out.pending_dropped = match pending {
            // Never stored: nothing to drop.
            Ok(false) => true,
            Ok(true) if self.lease(step, ctx).await.is_ok() => self.drop_pending(ctx).await,
            _ => false,
        };
        out.complete = out.pending_dropped;
        out
    }

    /// Why this rollback must leave the rotation to another attempt, if it must.
    fn left_to_others(
        &self,
        ctx: &StepContext,
        info: &SecretInfo,
        may_hold_new: bool,
    ) -> Option<String> {
        let still_ours = info.has(&ctx.token, AWSPENDING);
        // Undone by another attempt of this same rotation (its rollback, or a finisher that found
        // the new credential gone and moved AWSCURRENT back): nothing is pending any more and the
        // token never became current. Jamf Pro may hold the removed secret if this run wrote it.
        let undone_elsewhere = info.version_with(AWSPENDING).is_none();
        if may_hold_new && !still_ours && !undone_elsewhere {
            // Another rotation took over; it owns Jamf Pro now. Leave our credential for the
            // orphan sweep rather than risk removing a secret Jamf Pro holds.
            return Some(
                "another rotation took over; the new credential is left for the orphan sweep"
                    .into(),
            );
        }
        None
    }

    /// Puts `AWSCURRENT`'s secret back into Jamf Pro; false (with the problem noted) when that
    /// failed, and then nothing else may be undone.
    async fn restore(&self, ctx: &StepContext, out: &mut RolledBack) -> bool {
        match self.restore_jamf(ctx).await {
            Ok(()) => {
                out.jamf_restored = Some(true);
                self.note(Step::Rollback, "Jamf Pro holds the old secret again");
                true
            }
            Err(e) => {
                out.jamf_restored = Some(false);
                out.problems.push(format!(
                    "could not put the old secret back into Jamf Pro: {e}"
                ));
                self.note(Step::Rollback, "could not put the old secret back into Jamf Pro; keeping the new credential and AWSPENDING");
                false
            }
        }
    }

    /// Removes the new credential (after the removal's own fresh look), then drops
    /// `AWSPENDING`. When the look finds that `AWSCURRENT` now holds the new credential (another
    /// attempt completed the rotation during the restore), Jamf Pro is given that secret again
    /// and nothing more is undone. The key id comes from the pending document, which anyone who
    /// may write the secret can forge: see [`Engine::new_credential_app`].
    async fn remove_new(
        &self,
        ctx: &StepContext,
        arn: &str,
        pending: &crate::document::TargetDocument,
        restored: bool,
        out: &mut RolledBack,
    ) {
        let step = Step::Rollback;
        if let Some(key) = &pending.entra.key_id {
            match self.new_credential_app(ctx, arn, key).await {
                Ok(Some(app)) => {
                    self.remove_new_key(ctx, &app, key, pending, restored, out)
                        .await
                }
                Ok(None) => {
                    // Never made, or already gone: nothing to remove.
                    out.new_removed = true;
                    self.note(step, &format!("the new credential {key} is not on the app"));
                }
                Err(why) => out.problems.push(why),
            }
        }
        if out.new_removed || pending.entra.key_id.is_none() {
            out.pending_dropped = self.drop_pending(ctx).await;
        } else if !out.completed_elsewhere {
            out.problems.push(
                "AWSPENDING kept, since it holds the credential that could not be removed".into(),
            );
        }
    }

    /// Removes credential `key`, which [`Engine::new_credential_app`] showed is this rotation's.
    async fn remove_new_key(
        &self,
        ctx: &StepContext,
        app: &AppRef,
        key: &str,
        pending: &crate::document::TargetDocument,
        restored: bool,
        out: &mut RolledBack,
    ) {
        let step = Step::Rollback;
        let known = [(ctx.token.as_str(), pending)];
        match (self.remove_for(step, ctx, app, key, &known, Some(&ctx.token))).await {
            Ok(()) => {
                out.new_removed = true;
                self.note(step, &format!("removed the new credential {key}"));
            }
            Err(NotRemoved::Held { stage, why, .. }) => {
                if stage == AWSCURRENT {
                    out.completed_elsewhere = true;
                    if restored && !self.restore(ctx, out).await {
                        return;
                    }
                }
                out.problems.push(why);
            }
            Err(NotRemoved::Failed(e)) => out
                .problems
                .push(format!("could not remove the new credential {key}: {e}")),
        }
    }

    /// The app the new credential `key` (named by the pending document) is removed from: the app
    /// `AWSCURRENT` names, by its client id (the object id from `AWSCURRENT` or from Graph, never
    /// from the pending document), and only when Graph shows `key` there under the name this
    /// target's rotation `ctx.token` gives its credential. A pending document is writable by
    /// anyone with `PutSecretValue`: a forged one naming another credential (a sibling target's,
    /// one we never made) removes nothing. `Ok(None)` when the app has no such key; `Err` is the
    /// problem, for the alert.
    async fn new_credential_app(
        &self,
        ctx: &StepContext,
        arn: &str,
        key: &str,
    ) -> Result<Option<AppRef>, String> {
        let kept = |why: String| format!("credential {key} was kept: {why}");
        let (_, current) = (self.current(Step::Rollback, &ctx.secret_id).await)
            .map_err(|e| kept(format!("AWSCURRENT could not be read ({e})")))?;
        let app = app_of(&current);
        let found = (self.directory.application(&app).await)
            .map_err(|e| kept(format!("the app could not be read ({e})")))?;
        let Some(credential) =
            (found.passwords.iter()).find(|c| c.key_id.eq_ignore_ascii_case(key))
        else {
            return Ok(None);
        };
        let ours = super::credential_name(&super::target_tag(arn), &ctx.token);
        if credential.display_name.as_deref() != Some(ours.as_str()) {
            return Err(kept(format!(
                "AWSPENDING (version {}) names it as this rotation's new credential, but this rotation did not make it (the pending document may be forged)",
                ctx.token
            )));
        }
        Ok(Some(AppRef {
            object_id: Some(found.object_id),
            ..app
        }))
    }

    /// Gives Jamf Pro the secret `AWSCURRENT` holds, read afresh, and looks again once it is
    /// written: a rotation that completed meanwhile (the write into conditional-access takes
    /// tens of seconds) moved `AWSCURRENT`, and then its secret is written instead.
    pub(super) async fn restore_jamf(&self, ctx: &StepContext) -> Result<(), RotationError> {
        let step = Step::Rollback;
        // Read afresh, not from the run: another rotation may have completed meanwhile, and only
        // the secret AWSCURRENT holds now is sure to be valid.
        let (mut version, mut current) = self.current(step, &ctx.secret_id).await?;
        for _ in 0..3 {
            // Only a Jamf Pro still configured for the document's app is written.
            let target = self.open_checked(step, &current).await?;
            let restored = target.install(&current.entra.client_secret).await;
            target.close().await;
            restored.map_err(|e| RotationError::target(step, e))?;
            let (now, doc) = self.current(step, &ctx.secret_id).await?;
            if now == version {
                return Ok(());
            }
            self.note(
                step,
                "AWSCURRENT moved while Jamf Pro was written; writing its secret instead",
            );
            (version, current) = (now, doc);
        }
        Err(RotationError::new(
            step,
            ErrorKind::Concurrent("AWSCURRENT keeps moving while Jamf Pro is written".into()),
        ))
    }

    async fn drop_pending(&self, ctx: &StepContext) -> bool {
        match self.store.remove_pending(&ctx.secret_id, &ctx.token).await {
            Ok(()) => {
                self.note(Step::Rollback, "dropped AWSPENDING");
                true
            }
            Err(e) => {
                tracing::error!(
                    step = "rollback",
                    "could not drop AWSPENDING from {}: {e}",
                    ctx.token
                );
                false
            }
        }
    }
}

/// True when the error is a pending document refused for differing from `AWSCURRENT`.
pub(super) fn is_pending_refused(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Document(crate::document::DocumentError::PendingDiffers { .. })
    )
}

/// True when Jamf Pro may hold the new secret after `failure`: this run wrote it, or an earlier
/// run of this rotation may have (a resumed rotation, a step event Secrets Manager retries).
/// Then the old secret is put back before anything is removed.
pub(super) fn may_hold_new(ctx: &StepContext, failure: &RotationError) -> bool {
    failure.jamf_touched
        || (ctx.driver == Driver::SecretsManager
            && matches!(failure.step, Step::SetSecret | Step::TestSecret))
}

/// What a rollback left, in a sentence for alerts.
pub fn rollback_state(rb: &RolledBack) -> String {
    if rb.completed_elsewhere {
        return format!(
            "Another attempt completed this rotation meanwhile: Jamf Pro holds the secret AWSCURRENT holds, and nothing was undone ({}).",
            rb.problems.join("; ")
        );
    }
    let jamf = match rb.jamf_restored {
        None => "Jamf Pro was not changed and keeps the old secret, which still works.",
        Some(true) => "The old secret was put back into Jamf Pro.",
        Some(false) => {
            "Jamf Pro may hold the NEW secret, which was kept on the app and in AWSPENDING."
        }
    };
    if rb.problems.is_empty() {
        format!("{jamf} The new credential was removed and AWSPENDING dropped.")
    } else {
        format!("{jamf} Not undone: {}.", rb.problems.join("; "))
    }
}
