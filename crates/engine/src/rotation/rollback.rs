//! Rollback: when a rotation cannot complete, put the old secret back into Jamf Pro, remove the
//! new credential, and drop `AWSPENDING`, in that order, so that the invariant holds after each
//! call: Jamf Pro keeps a working secret, and every secret of ours on the app stays stored.

use super::{app_of, Engine, RotationError, Step, StepContext};
use crate::ports::{AppRef, AWSCURRENT, AWSPENDING};
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
    /// What could not be undone, for the alert.
    pub problems: Vec<String>,
}

impl Engine {
    /// Undoes the rotation `ctx` names after `failure`. If Jamf Pro may hold the new secret and
    /// the old one cannot be put back, the new credential and `AWSPENDING` are KEPT (Jamf Pro may
    /// depend on them); the next run resumes or the operator decides.
    pub async fn rollback(&self, ctx: &StepContext, failure: &RotationError) -> RolledBack {
        let step = Step::Rollback;
        let mut out = RolledBack::default();
        // Jamf Pro may hold the new secret when this run wrote it, and also when an earlier run
        // of this rotation may have (a resumed rotation, a step event Secrets Manager retries):
        // then the old secret is put back before anything is removed.
        let may_hold_new = failure.jamf_touched
            || (!ctx.in_process && matches!(failure.step, Step::SetSecret | Step::TestSecret));
        let pending = match ctx.run.as_ref().and_then(super::run::Run::pending) {
            Some(doc) => Ok(doc),
            None => self.pending_document(step, ctx).await,
        };
        let pending = match pending {
            Ok(doc) => doc,
            Err(e) if may_hold_new => {
                // Jamf Pro may be using the secret AWSPENDING holds, and what is unreadable now
                // may read again later: keep the label, the credential and Jamf Pro as they are.
                out.jamf_restored = Some(false);
                out.problems.push(format!("pending document unreadable ({e}); Jamf Pro may hold its secret, so nothing was undone"));
                self.note(step, "the pending document is unreadable and Jamf Pro may hold its secret; keeping AWSPENDING");
                return out;
            }
            Err(e) => {
                // Jamf Pro never got it, and createSecret removes a credential it could not
                // store: only the label may remain.
                out.problems
                    .push(format!("pending document unreadable: {e}"));
                out.pending_dropped = self.drop_pending(ctx).await;
                out.complete = out.pending_dropped;
                return out;
            }
        };
        let info = self.store.describe(&ctx.secret_id).await.ok();
        let still_ours = info.as_ref().is_some_and(|i| i.has(&ctx.token, AWSPENDING));
        // Undone by another attempt of this same rotation (its rollback, or a finisher that found
        // the new credential gone and moved AWSCURRENT back): nothing is pending any more and the
        // token never became current. Jamf Pro may hold the removed secret if this run wrote it.
        let undone_elsewhere = info.as_ref().is_some_and(|i| {
            i.version_with(AWSPENDING).is_none() && !i.has(&ctx.token, AWSCURRENT)
        });
        if ctx.run.as_ref().is_some_and(super::run::Run::followed) && !undone_elsewhere {
            // The pending credential is a concurrent attempt's, which this run followed: that
            // attempt may have put it into Jamf Pro and may still complete. Undoing it here could
            // leave Jamf Pro on a secret that attempt then retires; leave all to it (or, if it
            // died, to the next check, which resumes the half-done rotation).
            out.problems.push("the new credential belongs to a concurrent attempt of this rotation, which this run followed; it is left to that attempt or to the next check".into());
            return out;
        }

        if may_hold_new {
            if !still_ours && !undone_elsewhere {
                // Another rotation took over; it owns Jamf Pro now. Leave our credential for the
                // orphan sweep rather than risk removing a secret Jamf Pro holds.
                out.problems.push(
                    "another rotation took over; the new credential is left for the orphan sweep"
                        .into(),
                );
                return out;
            }
            match self.restore_jamf(ctx).await {
                Ok(()) => {
                    out.jamf_restored = Some(true);
                    self.note(step, "Jamf Pro holds the old secret again");
                }
                Err(e) => {
                    out.jamf_restored = Some(false);
                    out.problems.push(format!(
                        "could not put the old secret back into Jamf Pro: {e}"
                    ));
                    self.note(step, "could not put the old secret back into Jamf Pro; keeping the new credential and AWSPENDING");
                    return out;
                }
            }
        }

        if let Some(key) = &pending.entra.key_id {
            let app = AppRef {
                object_id: pending.entra.application_object_id.clone(),
                ..app_of(&pending)
            };
            match self.remove_credential(ctx, &app, key).await {
                Ok(()) => {
                    out.new_removed = true;
                    self.note(step, &format!("removed the new credential {key}"));
                }
                Err(e) => out
                    .problems
                    .push(format!("could not remove the new credential {key}: {e}")),
            }
        }
        if out.new_removed || pending.entra.key_id.is_none() {
            out.pending_dropped = self.drop_pending(ctx).await;
        } else {
            out.problems.push(
                "AWSPENDING kept, since it holds the credential that could not be removed".into(),
            );
        }
        out.complete = out.problems.is_empty();
        out
    }

    async fn restore_jamf(&self, ctx: &StepContext) -> Result<(), RotationError> {
        let step = Step::Rollback;
        // Read afresh, not from the run: another rotation may have completed meanwhile, and only
        // the secret AWSCURRENT holds now is sure to be valid.
        let (_, current) = self.current(step, &ctx.secret_id).await?;
        // A target of its own, not the run's: the run's session may have used up its re-login.
        let target = self
            .targets
            .open(&current)
            .await
            .map_err(|e| RotationError::target(step, e))?;
        let restored = target.install(&current.entra.client_secret).await;
        target.close().await;
        restored.map_err(|e| RotationError::target(step, e))
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
