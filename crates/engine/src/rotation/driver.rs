//! The in-process driver: runs the same four steps Secrets Manager invokes, one after the other
//! in one invocation (scheduled check, manual invoke, CLI). Each step reads what it needs; the
//! driver carries nothing between them but the invocation's lease holder. It resumes a rotation
//! found half done instead of starting another, and rolls back when one cannot complete. Its
//! tokens are in [`super::token`]; how an attempt ends (report, failure) in [`super::conclude`].

use super::holder::Holder;
use super::looked::Looked;
use super::report::{RotateOptions, RotationReport};
use super::{Driver, Engine, ErrorKind, RotateRequest, RotationError, Step, StepContext};
use crate::document::TargetDocument;
use crate::ports::{SecretInfo, AWSCURRENT};

/// What a check read just before deciding to rotate, handed to the rotation so that it does not
/// read it again.
#[derive(Clone)]
pub struct Seen {
    /// The secret's stages.
    pub info: SecretInfo,
    /// The `AWSCURRENT` version and its document.
    pub current: (String, TargetDocument),
    /// Rotations this process had let through the target's lock when the check read it.
    pub generation: u64,
}

impl Engine {
    /// Rotates the target in `secret_id` now. Resumes a rotation found half done (a stale
    /// `AWSPENDING`) rather than starting a second one; two rotations of one target in this
    /// process run one after the other, and the second finds the first's result.
    ///
    /// A lockdown first finds the target's siblings among `request.siblings` (and refuses,
    /// changing nothing, when the app holds a credential the rotator made for a target it does not
    /// know), keeps their secrets, and rotates them afterwards (see [`super::lockdown`]).
    pub async fn rotate(
        &self,
        secret_id: &str,
        request: RotateRequest,
    ) -> Result<RotationReport, RotationError> {
        self.rotate_within(secret_id, request, RotateOptions::default())
            .await
    }

    /// [`Self::rotate`] within `options` (the invocation's deadline): nothing it does outlives
    /// the deadline, what does not fit is reported and alerted.
    pub async fn rotate_within(
        &self,
        secret_id: &str,
        mut request: RotateRequest,
        options: RotateOptions,
    ) -> Result<RotationReport, RotationError> {
        if request.lockdown {
            request.siblings = (self.siblings_of(secret_id, &request.siblings)).await?;
        }
        let mut report = self
            .rotate_seen_within(secret_id, request.clone(), None, options)
            .await?;
        // After an emergency: proves that Entra refuses the revoked secret (revocation.rs), right
        // after its removal (the seconds it reports count from there) and before the siblings,
        // whose rotations a timed-out invocation can leave for the next check to resume.
        self.prove_revocation(&request, &mut report, options.deadline)
            .await;
        if request.lockdown && report.outcome.succeeded() {
            (report.siblings, report.deferred) = self
                .rotate_siblings(secret_id, &request.siblings, options)
                .await;
        }
        Ok(report)
    }

    /// [`Self::rotate`], starting from what a check has just read (`seen`) when there is that.
    pub(crate) async fn rotate_seen(
        &self,
        secret_id: &str,
        request: RotateRequest,
        seen: Option<Seen>,
    ) -> Result<RotationReport, RotationError> {
        self.rotate_seen_within(secret_id, request, seen, RotateOptions::default())
            .await
    }

    /// [`Self::rotate_seen`] within `options`: an emergency waits for a held lease only as long
    /// as the deadline leaves time for the rotation itself.
    pub(crate) async fn rotate_seen_within(
        &self,
        secret_id: &str,
        request: RotateRequest,
        seen: Option<Seen>,
        options: RotateOptions,
    ) -> Result<RotationReport, RotationError> {
        let started = self.clock.now();
        let before = match &seen {
            Some(seen) => seen.info.clone(),
            None => self.stages(secret_id).await?,
        };
        let base = before.version_with(AWSCURRENT).map(str::to_string);
        let lock = self.lock_for(secret_id);
        // Another rotation of this target in this process may have changed everything while
        // this one waited, or since the check read it: then look again. Otherwise what was just
        // read still stands.
        let (_held, waited) = match lock.mutex.try_lock() {
            Ok(held) => (held, false),
            Err(_) => (lock.mutex.lock().await, true),
        };
        let waited = waited
            || seen.as_ref().is_some_and(|s| {
                s.generation != lock.rotations.load(std::sync::atomic::Ordering::SeqCst)
            });
        // Counted when this rotation lets go of the lock, however it ends: a check that read the
        // target before then is stale.
        let _counted = super::CountOnRelease(&lock);
        let mut info = if waited {
            self.stages(secret_id).await?
        } else {
            before
        };
        if request.is_emergency() {
            // An emergency waits for an attempt in another process to let go of the lease, and
            // then finds its result (and still retires at once what that one kept).
            info = self
                .wait_for_lease(secret_id, info, options.deadline)
                .await?;
        }
        let attempt = Attempt {
            secret_id,
            request: &request,
            base: base.as_deref(),
            started,
        };
        self.attempts(attempt, info, seen.filter(|_| !waited)).await
    }

    /// Up to three goes at the rotation: another attempt may act before this one gets the lease,
    /// and then it starts over from a fresh look, keeping the lease.
    async fn attempts(
        &self,
        a: Attempt<'_>,
        mut info: SecretInfo,
        mut seen: Option<Seen>,
    ) -> Result<RotationReport, RotationError> {
        // One holder for every go: a go that found the plan stale keeps the lease for the next.
        let holder = Holder::new();
        let mut result = Err(RotationError::new(Step::Guard, ErrorKind::Stale));
        for _ in 0..3 {
            result = match self.attempt(a, &info, seen.take(), holder.clone()).await {
                Ok(Attempted::Done(report)) => return Ok(*report),
                Ok(Attempted::Stale) => match self.stages(a.secret_id).await {
                    Ok(now) => {
                        info = now;
                        continue;
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            break;
        }
        // Whatever stopped the goes, the lease a go took is let go of.
        let ctx = StepContext {
            holder,
            ..StepContext::new(a.secret_id, "", a.request.clone(), Driver::InProcess)
        };
        self.release(&ctx, "").await;
        result
    }

    /// The secret's stages, read now.
    async fn stages(&self, secret_id: &str) -> Result<SecretInfo, RotationError> {
        (self.store.describe(secret_id).await).map_err(|e| RotationError::store(Step::Guard, e))
    }

    /// One go at the rotation, from the stages in `info` (and what a check saw, if it still
    /// stands), as `holder`.
    async fn attempt(
        &self,
        a: Attempt<'_>,
        info: &SecretInfo,
        seen: Option<Seen>,
        holder: Holder,
    ) -> Result<Attempted, RotationError> {
        let (current_version, current) = self.starting_point(a.secret_id, info, seen).await?;
        let mut report = RotationReport::start(a.secret_id, &current, a.request);
        let (token, resumed) = self.token_for_attempt(info, &current_version);
        // createSecret starts from what this go just read (or the check saw).
        let looked = Looked::new(
            info.clone(),
            vec![(current_version.clone(), Some(current.clone()))],
        );
        let mut ctx = StepContext {
            holder,
            looked,
            ..StepContext::new(a.secret_id, &token, a.request.clone(), Driver::InProcess)
        };
        if a.base != Some(current_version.as_str()) {
            // A rotation finished while this one waited for the lock: its result is ours.
            let just = "another rotation of this target just completed; nothing more to do";
            self.note(Step::Guard, just);
            self.release(&ctx, &current_version).await;
            let current = (current_version.as_str(), &current);
            return Ok(self.already_done(&a, current, report).await);
        }
        report.token = Some(ctx.token.clone());
        let result = self.run_all(&ctx, &mut report).await;
        if let Err(RotationError {
            kind: ErrorKind::Stale,
            ..
        }) = &result
        {
            return Ok(Attempted::Stale);
        }
        let result = match self
            .after_spent(&mut ctx, &current_version, result, &mut report)
            .await
        {
            Ok(result) => result,
            // AWSCURRENT moved meanwhile: another rotation completed; its result is ours.
            Err(version) => {
                let moved = (current_version.as_str(), version);
                return Ok(self
                    .completed_meanwhile(&a, &ctx, moved, &current, report)
                    .await);
            }
        };
        let home = match &result {
            Ok(()) => ctx.token.clone(),
            Err(_) => current_version.clone(),
        };
        self.conclude(&ctx, result, resumed, &mut report).await;
        self.release(&ctx, &home).await;
        Ok(self.done(&a, report))
    }

    /// `AWSCURRENT`'s version and document: what a check saw when it still stands (the same
    /// version), or read now.
    async fn starting_point(
        &self,
        secret_id: &str,
        info: &SecretInfo,
        seen: Option<Seen>,
    ) -> Result<(String, TargetDocument), RotationError> {
        let version = info.version_with(AWSCURRENT).ok_or_else(|| {
            let secret_id = secret_id.to_string();
            RotationError::new(Step::Guard, ErrorKind::NoCurrentVersion { secret_id })
        })?;
        match seen.filter(|s| s.current.0 == version) {
            Some(seen) => Ok(seen.current),
            None => self.current(Step::Guard, secret_id).await,
        }
    }

    /// The four steps, as Secrets Manager would invoke them: createSecret → setSecret →
    /// testSecret → finishSecret. Each reads what it needs; the report is filled from what
    /// finishSecret leaves.
    pub(super) async fn run_all(
        &self,
        ctx: &StepContext,
        report: &mut RotationReport,
    ) -> Result<(), RotationError> {
        let created = self.create_secret(ctx).await;
        // What this go read before it was createSecret's to start from, no later step's.
        ctx.looked.forget();
        created?;
        self.set_secret(ctx).await?;
        self.test_secret(ctx).await?;
        report.jamf_accepts_new = true;
        let done = self.finish_secret(ctx).await?;
        report.old_removed = done.old_removed;
        report.old_retire_pending = done.retire_pending;
        report.app_credentials = done.app_credentials;
        report.old_key_id = done.old_key_id.or(report.old_key_id.take());
        if let Some(doc) = done.current {
            report.new_key_id = doc.entra.key_id;
            report.new_expires_at = doc.entra.expires_at;
        }
        Ok(())
    }
}

/// What one go at the rotation came to.
pub(super) enum Attempted {
    /// Finished, one way or another (see the report).
    Done(Box<RotationReport>),
    /// Another attempt acted before this one got the lease; this one's holder holds it now.
    Stale,
}

/// What every go at one rotation shares.
#[derive(Clone, Copy)]
pub(super) struct Attempt<'a> {
    pub secret_id: &'a str,
    pub request: &'a RotateRequest,
    /// `AWSCURRENT` before this rotation waited for the process's lock.
    pub base: Option<&'a str>,
    pub started: chrono::DateTime<chrono::Utc>,
}
