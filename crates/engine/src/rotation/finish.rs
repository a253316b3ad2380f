//! finishSecret: make the new version `AWSCURRENT`, then retire the credential it replaced.

use super::remove::NotRemoved;
use super::{app_of, guard::Standing, Engine, RotationError, Step, StepContext};
use crate::document::TargetDocument;
use crate::ports::{AppRef, Application, AWSCURRENT, AWSPENDING};
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
    /// The document now `AWSCURRENT` (the new secret's), for the report; never serialized.
    #[serde(skip)]
    pub current: Option<TargetDocument>,
    /// Credentials left on the app afterwards, as this step saw them.
    pub app_credentials: Option<usize>,
}

impl Engine {
    /// finishSecret. Moves `AWSCURRENT` to the token's version (Secrets Manager moves
    /// `AWSPREVIOUS` to the old one) and drops `AWSPENDING`, then removes the credential the
    /// rotation replaced, and only that one (a lockdown removes every other credential but its
    /// siblings', see [`super::lockdown`]), unless a grace period or the observed-use gate keeps
    /// it for a later check. Run again after a crash, it finds the version already current and
    /// finishes the retirement; a step event that finds it current while another attempt holds
    /// the lease leaves the retirement to that attempt (or the next check) and succeeds.
    pub async fn finish_secret(&self, ctx: &StepContext) -> Result<Finished, RotationError> {
        let step = Step::FinishSecret;
        let (info, standing) = self.guard(step, ctx).await?;
        let doc = self.pending_document(step, ctx).await?;
        if let Err(e) = self.lease(step, ctx).await {
            if standing == Standing::AlreadyCurrent
                && matches!(e.kind, super::ErrorKind::Busy { .. })
            {
                // A late step of a rotation that is done (its version is AWSCURRENT): what is
                // left of it, retiring the replaced credential, belongs to the attempt that holds
                // the lease or to the next check. Not a failure: nothing to alert.
                self.note(step, &format!("version {} is already AWSCURRENT and another attempt holds the lease: nothing to do", ctx.token));
                return Ok(Finished {
                    old_key_id: (doc.rotation.as_ref()).and_then(|r| r.replaces_key_id.clone()),
                    retire_pending: Some(e.to_string()),
                    current: Some(doc),
                    ..Default::default()
                });
            }
            return Err(e.touched());
        }
        if standing == Standing::Pending && !ctx.holder.has_installed(&ctx.token, &new_key(&doc)) {
            // Nothing says Jamf Pro holds this secret (another invocation's testSecret passed,
            // but a rollback, a retried step or a late write may have changed Jamf Pro since):
            // prove it before the old secret can go. A failure is the test's.
            self.jamf_works_with(Step::TestSecret, ctx, &doc)
                .await
                .map_err(RotationError::touched)?;
        }
        let current = info
            .version_with(AWSCURRENT)
            .unwrap_or_default()
            .to_string();
        let moved = self.make_current(ctx, standing, &current).await?;
        let (application, app) = self
            .look_before_retiring(ctx, &doc, &current, moved)
            .await?;
        let mut done = Finished {
            old_key_id: (doc.rotation.as_ref()).and_then(|r| r.replaces_key_id.clone()),
            ..Default::default()
        };
        let retire = self.retire_now(ctx, &doc, &app, &mut done).await;
        let this_rotation = super::credential_name(&super::target_tag(&info.arn), &ctx.token);
        let plan = Retiring {
            doc: &doc,
            app: &app,
            this_rotation,
            retire,
        };
        self.retire_replaced(ctx, &plan, &application, &mut done)
            .await?;
        // Gone now, or never there (removed by hand, or by an earlier run of this step).
        done.old_removed = done.old_key_id.is_some() && done.retire_pending.is_none();
        done.app_credentials = Some(left_on_app(&application, &done));
        done.current = Some(doc);
        Ok(done)
    }

    /// Moves `AWSCURRENT` to the token's version (unless it is there already) and drops
    /// `AWSPENDING`. True when this call moved it.
    async fn make_current(
        &self,
        ctx: &StepContext,
        standing: Standing,
        current: &str,
    ) -> Result<bool, RotationError> {
        let step = Step::FinishSecret;
        // promote also drops AWSPENDING; otherwise it is dropped here.
        let mut drop_pending = standing == Standing::AlreadyCurrent;
        let mut moved = false;
        if standing == Standing::Pending {
            if let Err(e) = self
                .store
                .promote(&ctx.secret_id, &ctx.token, current)
                .await
            {
                // The move is a compare-and-swap on AWSCURRENT: a racing finisher of the same
                // rotation may have done it first. Then there is nothing to move.
                let again = (self.store.describe(&ctx.secret_id).await)
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
        Ok(moved)
    }

    /// Lists the app afresh: this is the last look before something is
    /// removed. When the new credential is gone, another attempt of this rotation rolled it back
    /// after this one looked at the stages (Secrets Manager cannot make the move conditional on
    /// AWSPENDING): nothing is retired, AWSCURRENT goes back to the version whose secret still
    /// works (when this call `moved` it), and the rollback puts that secret into Jamf Pro.
    async fn look_before_retiring(
        &self,
        ctx: &StepContext,
        doc: &TargetDocument,
        current: &str,
        moved: bool,
    ) -> Result<(Application, AppRef), RotationError> {
        let step = Step::FinishSecret;
        let application = (self.directory.application(&app_of(doc)).await)
            .map_err(|e| RotationError::directory(step, e).touched())?;
        let app = AppRef {
            object_id: Some(application.object_id.clone()),
            ..app_of(doc)
        };
        let new_key = new_key(doc);
        let on_app =
            |k: &str| (application.passwords.iter()).any(|c| c.key_id.eq_ignore_ascii_case(k));
        if new_key.is_empty() || on_app(&new_key) {
            return Ok((application, app));
        }
        if moved {
            if let Err(e) = self
                .store
                .promote(&ctx.secret_id, current, &ctx.token)
                .await
            {
                tracing::error!(step = %step, "could not move AWSCURRENT back to {current}: {e}");
            }
        }
        Err(RotationError::new(
            step,
            super::ErrorKind::Concurrent(format!("the new credential {new_key} was removed by another attempt of this rotation; nothing retired")),
        )
        .touched())
    }

    /// True when the replaced credential is retired now; otherwise `done` says why not. The
    /// request at hand may be an emergency that resumed or joined an earlier rotation: its flags
    /// count as much as the document's.
    async fn retire_now(
        &self,
        ctx: &StepContext,
        doc: &TargetDocument,
        app: &AppRef,
        done: &mut Finished,
    ) -> bool {
        let step = Step::FinishSecret;
        let emergency = ctx.request.is_emergency();
        match self.retirement(step, doc, app, emergency).await {
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
        }
    }

    /// Removes from the app the credential the rotation replaced (when `plan.retire`), a racing
    /// attempt's credential named for this rotation, and, in a lockdown, every credential its
    /// siblings do not hold.
    async fn retire_replaced(
        &self,
        ctx: &StepContext,
        plan: &Retiring<'_>,
        application: &Application,
        done: &mut Finished,
    ) -> Result<(), RotationError> {
        let step = Step::FinishSecret;
        let new_key = new_key(plan.doc);
        let record = plan.doc.rotation.as_ref();
        // (A lockdown needs to know which credential to keep: never without the new key id.)
        // Only the operator's request in this invocation makes a lockdown, never the record: a
        // flag in a document proves nothing about who asked (a check alerts it instead).
        let lockdown = ctx.request.lockdown && !new_key.is_empty();
        // A lockdown keeps what the target's siblings (on the same app) hold: they are rotated
        // too, and retire their old secrets themselves.
        let siblings = if lockdown {
            let mut ids = record
                .map(|r| r.lockdown_siblings.clone())
                .unwrap_or_default();
            ids.extend(ctx.request.siblings.iter().cloned());
            ids.sort();
            ids.dedup();
            (self.sibling_holds(step, &ids).await).map_err(RotationError::touched)?
        } else {
            Default::default()
        };
        let now = self.clock.now();
        for cred in &application.passwords {
            let key = cred.key_id.to_lowercase();
            let replaced =
                (done.old_key_id.as_deref()).is_some_and(|k| k.eq_ignore_ascii_case(&key));
            // A credential named for this rotation but not the stored one: a racing attempt's.
            let twin = cred.display_name.as_deref() == Some(plan.this_rotation.as_str());
            let locked_out = lockdown && !siblings.keep(cred, now, self.policy.orphan_min_age);
            if key == new_key || !((replaced && plan.retire) || twin || locked_out) {
                continue;
            }
            if !self.remove_one(ctx, plan, &cred.key_id, replaced).await? {
                continue;
            }
            if replaced {
                self.note(step, &format!("retired the old credential {}", cred.key_id));
            } else {
                let why = if lockdown { " (lockdown)" } else { "" };
                self.note(step, &format!("removed credential {}{why}", cred.key_id));
                done.also_removed.push(cred.key_id.clone());
            }
        }
        Ok(())
    }

    /// Removes `key_id`; false when a stage holds it (noted). When that is the `replaced`
    /// credential, AWSCURRENT holds it again: another attempt moved it back after this one's
    /// move, and retiring it would cut Jamf Pro off.
    async fn remove_one(
        &self,
        ctx: &StepContext,
        plan: &Retiring<'_>,
        key_id: &str,
        replaced: bool,
    ) -> Result<bool, RotationError> {
        let step = Step::FinishSecret;
        let known = [(ctx.token.as_str(), plan.doc)];
        match self
            .remove_for(step, ctx, plan.app, key_id, &known, None)
            .await
        {
            Ok(()) => Ok(true),
            Err(NotRemoved::Held { why, .. }) if replaced => {
                Err(RotationError::new(step, super::ErrorKind::Concurrent(why)).touched())
            }
            Err(NotRemoved::Held { why, .. }) => {
                self.note(step, &why);
                Ok(false)
            }
            Err(NotRemoved::Failed(e)) => Err(e.touched()),
        }
    }
}

/// What finishSecret retires by.
struct Retiring<'a> {
    doc: &'a TargetDocument,
    app: &'a AppRef,
    /// The display name of this rotation's credential.
    this_rotation: String,
    /// The replaced credential is retired now.
    retire: bool,
}

/// How many of the app's credentials (as listed before the retirement) are left after it.
fn left_on_app(application: &Application, done: &Finished) -> usize {
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let gone = |key: &str| {
        (done.old_removed && done.old_key_id.as_deref().is_some_and(|old| is(old, key)))
            || done.also_removed.iter().any(|k| is(k, key))
    };
    (application.passwords.iter())
        .filter(|c| !gone(&c.key_id))
        .count()
}

/// The new credential's key id, lowercased (empty when the document has none).
fn new_key(doc: &TargetDocument) -> String {
    doc.entra.key_id.clone().unwrap_or_default().to_lowercase()
}
