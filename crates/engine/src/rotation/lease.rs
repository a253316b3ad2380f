//! The lease: attempts at one target's rotation (scheduled checks, manual rotations, CLI runs,
//! Secrets Manager's own rotation, in any number of processes) are serialized by something
//! Secrets Manager enforces, a custom staging label moved with a compare-and-swap.
//!
//! - The label [`LEASE`] sits on one version of the target's secret. When that version is a
//!   lease version (its id is `jer-lease-<expiry>-<holder>-<take>`) whose expiry is still ahead, that
//!   holder has the lease; on any other version (where a holder lets it go), or after the expiry,
//!   it is free.
//! - To take it, an attempt writes a small version of its own (`PutSecretValue` with the label
//!   [`LEASE_NEXT`], so `AWSCURRENT` stays put; it holds no secret), then moves [`LEASE`] onto it
//!   with `UpdateSecretVersionStage(RemoveFromVersionId=<where it was>)`: Secrets Manager refuses
//!   the move if another attempt moved the label since, so only one of two racing attempts gets
//!   it. A holder that crashed holds it until the expiry ([`super::Policy::lease`], 15 minutes by
//!   default), then anyone may take it.
//! - An attempt takes the lease before it changes anything (createSecret before its first
//!   removal, every later step before its first write), keeps it for the whole in-process
//!   rotation, renews it when it nears the expiry, and moves the label back onto a plain version
//!   when done. A step event's holder is named after its token, so the four step events of one
//!   Secrets Manager rotation share it.
//!
//! An attempt that finds the lease held changes nothing ([`ErrorKind::Busy`]); an emergency
//! rotation waits for it first (see the driver). The rules every step obeys anyway (a fresh look
//! before every removal, never the key `AWSCURRENT` holds) keep the invariant should a holder
//! outlive its lease.

use super::{Engine, ErrorKind, RotationError, Step, StepContext};
use crate::ports::{SecretInfo, SecretStore, StoreError, AWSCURRENT, AWSPENDING};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

/// The custom staging label whose version holds the lease.
pub const LEASE: &str = "JER_LEASE";
/// The label a lease version is written with (Secrets Manager needs one; it means nothing).
pub const LEASE_NEXT: &str = "JER_LEASE_NEXT";
/// The id prefix of a lease version.
const PREFIX: &str = "jer-lease-";
/// A holder stops counting on its lease this long before the expiry (clock skew between
/// processes, and one call in flight), and renews it instead.
const MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// A lease, as its version id spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lease version's id.
    pub version: String,
    /// Who holds it (a run's random id, or one derived from a step event's token).
    pub holder: String,
    /// When it runs out.
    pub expires: DateTime<Utc>,
}

impl Lease {
    /// The lease a version id names, if it is a lease version.
    pub fn parse(version: &str) -> Option<Lease> {
        let (secs, rest) = version.strip_prefix(PREFIX)?.split_once('-')?;
        let (holder, _take) = rest.rsplit_once('-')?;
        Some(Lease {
            version: version.to_string(),
            holder: holder.to_string(),
            expires: DateTime::from_timestamp(secs.parse().ok()?, 0)?,
        })
    }

    /// The lease the stages show, whoever holds it and whether or not it ran out.
    pub fn of(info: &SecretInfo) -> Option<Lease> {
        info.version_with(LEASE).and_then(Lease::parse)
    }

    /// True while the lease keeps others out.
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires
    }

    /// A new lease version's id; the last part tells two takes by one holder apart.
    fn id(holder: &str, expires: DateTime<Utc>) -> String {
        let take = &uuid::Uuid::new_v4().simple().to_string()[..8];
        format!("{PREFIX}{}-{holder}-{take}", expires.timestamp())
    }
}

/// Attaches the lease label, free, to the secret's `AWSCURRENT` version unless it is attached
/// already. `init` does it when it writes a target's first document, so that every later move of
/// the label is a compare-and-swap even on a store that attaches a label attached nowhere without
/// one (moto); on AWS, a target that lacks it gets it at the first take, which is a
/// compare-and-swap there too.
pub async fn install(store: &dyn SecretStore, secret_id: &str) -> Result<(), StoreError> {
    let info = store.describe(secret_id).await?;
    match (info.version_with(LEASE), info.version_with(AWSCURRENT)) {
        (None, Some(current)) => {
            store
                .move_label(secret_id, LEASE, Some(current), None)
                .await
        }
        _ => Ok(()),
    }
}

/// The holder id of a step event for `token`: the same for all four steps of its rotation.
fn step_holder(token: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("step|{token}").as_bytes(),
    )
    .simple()
    .to_string()
}

impl Engine {
    /// Makes sure this attempt holds the target's lease before it changes anything: what the run
    /// holds already (unless near its expiry), or taken (or renewed) now. Fails with
    /// [`ErrorKind::Busy`] when another attempt holds it, and with [`ErrorKind::Stale`] (still
    /// holding it) when the stages changed since this attempt read them: another attempt acted
    /// before this one got the lease, so what this one planned no longer stands.
    pub(crate) async fn lease(&self, step: Step, ctx: &StepContext) -> Result<(), RotationError> {
        let now = self.clock.now();
        let held = ctx.run.lease();
        if held.as_ref().is_some_and(|l| now < l.expires - MARGIN) {
            return Ok(());
        }
        let holder = self.holder(ctx);
        // Where the label was: the run's look at the stages (taken a few calls ago, under the
        // process's lock) saves a request; any doubt is settled by a fresh look.
        let planned = ctx.run.info();
        let mut seen = match (&held, &planned) {
            (None, Some(info)) => info.clone(),
            _ => self.describe(step, ctx).await?,
        };
        if Lease::of(&seen).is_some_and(|l| l.live(now) && l.holder != holder)
            && held.is_none()
            && planned.is_some()
        {
            seen = self.describe(step, ctx).await?;
        }
        let on = seen.version_with(LEASE).map(str::to_string);
        if let Some(l) = on.as_deref().and_then(Lease::parse) {
            if l.live(now) && l.holder != holder {
                return Err(busy(step, &l));
            }
            if l.holder == holder && now < l.expires - MARGIN {
                // A step event of the rotation that holds it.
                return Ok(());
            }
        }
        let lease = self.take(step, ctx, &holder, on.as_deref()).await?;
        self.keep(ctx, lease);
        if let Some(held) = held {
            // Renewed with nobody holding it in between; or a rollback, which looks at
            // everything afresh anyway and must still undo what this attempt did.
            if on.as_deref() == Some(held.version.as_str()) || step == Step::Rollback {
                return Ok(());
            }
            // It ran out and another attempt held it in between: what this one planned may no
            // longer stand. The driver starts over from a fresh look (and resumes what this one
            // left, if anything).
            self.note(step, "this attempt's lease ran out and another attempt held the target meanwhile; starting over");
            return Err(RotationError::new(step, ErrorKind::Stale));
        }
        if self.stale(step, ctx, planned).await? {
            return Err(RotationError::new(step, ErrorKind::Stale));
        }
        Ok(())
    }

    /// Right after a take: did anyone change the stages since this attempt looked (`planned`, a
    /// run's look)? A compare-and-swap from a version the label left and came back to cannot
    /// tell. From now on nobody else changes anything, so the run's look is refreshed.
    async fn stale(
        &self,
        step: Step,
        ctx: &StepContext,
        planned: Option<SecretInfo>,
    ) -> Result<bool, RotationError> {
        let now_seen = self.describe(step, ctx).await?;
        // (Only a run that remembers has a plan.)
        Ok(match &planned {
            Some(planned) => {
                let moved = |stage| planned.version_with(stage) != now_seen.version_with(stage);
                let stale = moved(AWSCURRENT) || moved(AWSPENDING);
                ctx.run.set_info(now_seen);
                stale
            }
            // A step event's guard looked before the lease was taken: does it still stand?
            _ if step != Step::Rollback => {
                // (An in-process createSecret makes its version itself.)
                let made_here = ctx.in_process
                    && step == Step::CreateSecret
                    && !now_seen.versions.contains_key(&ctx.token);
                !made_here
                    && !now_seen.has(&ctx.token, AWSPENDING)
                    && !now_seen.has(&ctx.token, AWSCURRENT)
            }
            _ => false,
        })
    }

    async fn describe(&self, step: Step, ctx: &StepContext) -> Result<SecretInfo, RotationError> {
        self.store
            .describe(&ctx.secret_id)
            .await
            .map_err(|e| RotationError::store(step, e))
    }

    /// Writes a lease version and moves [`LEASE`] onto it from `from` (compare-and-swap). When
    /// the move is refused because the label moved elsewhere meanwhile and is free there (another
    /// attempt let go of it), the move is tried once more from there.
    async fn take(
        &self,
        step: Step,
        ctx: &StepContext,
        holder: &str,
        from: Option<&str>,
    ) -> Result<Lease, RotationError> {
        let expires = self.clock.now() + self.policy.lease;
        let version = Lease::id(holder, expires);
        let value = SecretString::from(
            serde_json::json!({"lease": "jamf-entra-rotator", "holder": holder, "expires_at": expires})
                .to_string(),
        );
        self.store
            .put_labelled(&ctx.secret_id, &version, &value, LEASE_NEXT)
            .await
            .map_err(|e| RotationError::store(step, e))?;
        let mut from = from.map(str::to_string);
        for again in [false, true] {
            let moved = self
                .store
                .move_label(&ctx.secret_id, LEASE, Some(&version), from.as_deref())
                .await;
            // A move from a version that carried the label is a compare-and-swap everywhere.
            if moved.is_ok() && from.is_some() {
                break;
            }
            // Refused, its answer lost, or taken from nowhere (the label's first use, which a
            // store may attach without compare-and-swap, giving it to two versions): look.
            let info = self.describe(step, ctx).await?;
            let carriers = carriers_of(&info);
            if self.won(step, ctx, &version, &carriers).await? {
                break;
            }
            match (moved, carriers.as_slice()) {
                // Free, on another version than this attempt saw it on: once more from there.
                (Err(_), [elsewhere]) if !again => from = Some(elsewhere.to_string()),
                (Err(e), _) => return Err(RotationError::store(step, e)),
                (Ok(()), _) => {
                    return Err(RotationError::new(
                        step,
                        ErrorKind::Concurrent("the lease label moved away as it was taken".into()),
                    ))
                }
            }
        }
        self.note(
            step,
            &format!(
                "holds the rotation's lease until {}",
                expires.format("%H:%M:%S UTC")
            ),
        );
        Ok(Lease {
            version,
            holder: holder.to_string(),
            expires,
        })
    }

    /// Lets go of the lease this attempt holds, moving the label onto `home` (a plain version:
    /// the label stays attached, so the next move is a compare-and-swap on every store). A lease
    /// that cannot be let go of runs out by itself.
    pub async fn release(&self, ctx: &StepContext, home: &str) {
        let lease = if ctx.run.remembers() {
            ctx.run.take_lease()
        } else {
            // A step event: its lease is the one named for its token.
            match self.store.describe(&ctx.secret_id).await {
                Ok(info) => Lease::of(&info).filter(|l| l.holder == self.holder(ctx)),
                Err(_) => None,
            }
        };
        let Some(lease) = lease else { return };
        match self
            .store
            .move_label(&ctx.secret_id, LEASE, Some(home), Some(&lease.version))
            .await
        {
            Ok(()) => tracing::debug!(step = "lease", "let go of the rotation's lease"),
            Err(e) => tracing::warn!(
                step = "lease",
                "could not let go of the rotation's lease (it runs out at {}): {e}",
                lease.expires
            ),
        }
    }

    /// Waits (polling with backoff, on the engine's clock) until no other attempt holds the
    /// target's lease, for at most twice the lease's length; returns the stages as last seen. An
    /// emergency waits rather than fail: the attempt in its way completes or rolls back within
    /// its lease, and the emergency then finds its result.
    pub(crate) async fn wait_for_lease(
        &self,
        secret_id: &str,
        mut info: SecretInfo,
    ) -> Result<SecretInfo, RotationError> {
        let step = Step::Guard;
        let deadline = self.clock.now() + self.policy.lease * 2;
        let mut pause = std::time::Duration::from_secs(2);
        while let Some(l) = Lease::of(&info).filter(|l| l.live(self.clock.now())) {
            let now = self.clock.now();
            if now >= deadline {
                break;
            }
            self.note(
                step,
                &format!(
                    "another attempt holds this target's lease until {}; waiting for it",
                    l.expires.format("%H:%M:%S UTC")
                ),
            );
            let left = (l.expires.min(deadline) - now)
                .to_std()
                .unwrap_or_default()
                .max(std::time::Duration::from_secs(1));
            self.clock.sleep(pause.min(left)).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(20));
            info = self
                .store
                .describe(secret_id)
                .await
                .map_err(|e| RotationError::store(step, e))?;
        }
        Ok(info)
    }

    /// Who this attempt is, to the lease.
    fn holder(&self, ctx: &StepContext) -> String {
        if ctx.run.remembers() {
            ctx.run.holder()
        } else {
            step_holder(&ctx.token)
        }
    }

    fn keep(&self, ctx: &StepContext, lease: Lease) {
        ctx.run.set_lease(lease);
    }
}

/// The versions that carry the lease label.
fn carriers_of(info: &SecretInfo) -> Vec<String> {
    (info.versions.iter())
        .filter(|(_, labels)| labels.iter().any(|l| l == LEASE))
        .map(|(v, _)| v.clone())
        .collect()
}

impl Engine {
    /// Judges a take of the lease by who carries the label now: true when this attempt's
    /// `version` alone does; [`ErrorKind::Busy`] when it shares the label (it lets go: only a
    /// sole holder holds it) or another attempt's live lease carries it; false when the lease
    /// is free to take again.
    async fn won(
        &self,
        step: Step,
        ctx: &StepContext,
        version: &str,
        carriers: &[String],
    ) -> Result<bool, RotationError> {
        let mine = carriers.iter().any(|v| v == version);
        if mine && carriers.len() == 1 {
            return Ok(true);
        }
        if mine {
            let _ = self
                .store
                .move_label(&ctx.secret_id, LEASE, None, Some(version))
                .await;
            return Err(busy(step, &Lease::parse(version).expect("our own id")));
        }
        let now = self.clock.now();
        match carriers
            .iter()
            .find_map(|v| Lease::parse(v))
            .filter(|l| l.live(now))
        {
            Some(live) => Err(busy(step, &live)),
            None => Ok(false),
        }
    }
}

fn busy(step: Step, lease: &Lease) -> RotationError {
    RotationError::new(
        step,
        ErrorKind::Busy {
            until: lease.expires,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_version_spells_its_holder_and_expiry_and_others_are_no_lease() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let id = Lease::id("0123456789abcdef0123456789abcdef", at);
        assert!(
            id.len() <= 64,
            "a ClientRequestToken is at most 64 characters"
        );
        let l = Lease::parse(&id).unwrap();
        assert_eq!(
            (l.holder.as_str(), l.expires),
            ("0123456789abcdef0123456789abcdef", at)
        );
        assert!(l.live(at - chrono::Duration::seconds(1)) && !l.live(at));
        assert!(Lease::parse("3f0c9a4e-0000-4000-8000-000000000000").is_none());
        assert!(Lease::parse("jer-lease-soon-x-y").is_none());
        assert_ne!(
            Lease::id("h", at),
            Lease::id("h", at),
            "every take is a new version"
        );
        assert_eq!(step_holder("t"), step_holder("t"));
        assert_ne!(step_holder("t"), step_holder("u"));
    }
}
