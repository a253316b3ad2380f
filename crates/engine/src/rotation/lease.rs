//! The lease: attempts at one target's rotation (scheduled checks, manual rotations, CLI runs,
//! Secrets Manager's step events, in any number of processes) take turns. The lease lives in a
//! [`LeaseStore`] (the deployment's DynamoDB table, `LEASE_TABLE_NAME`), never in the target's
//! secret: a new version of a secret abandons the rotation Secrets Manager is running.
//!
//! - One item per target, keyed by the secret's name ([`key_of`]), holding the holder's id and
//!   the expiry. Taking it is a conditional write that succeeds only when nobody holds it, it ran
//!   out, or the taker holds it already; letting go deletes it only when the caller holds it.
//! - The holder is one invocation (one in-process run, or one step event): its id is random
//!   ([`super::holder::Holder`]), so two overlapping invocations of one token are two holders
//!   and never both pass.
//! - Fencing: before every change the holder asks the table ([`Engine::lease`]: a conditional
//!   renewal), and goes on only while the lease is still its own with more time left than the
//!   next call may take ([`Policy::call_budget`](super::Policy::call_budget)).
//! - A step event that ends with the rotation still under way parks the lease under
//!   [`BETWEEN_STEPS`]: the next step event of Secrets Manager's rotation may take it over, no
//!   other attempt can until it runs out. A step that finishes or undoes the rotation, and every
//!   in-process run, lets go of it.
//!
//! An attempt that finds the lease held changes nothing ([`ErrorKind::Busy`]); an emergency
//! rotation waits for it first ([`super::lease_wait`]). The rules every step obeys anyway (a
//! fresh look before every removal, never the key `AWSCURRENT` holds) keep the invariant should
//! a holder outlive its lease.

use super::{Driver, Engine, ErrorKind, RotationError, Step, StepContext};
use crate::ports::{
    LeaseError, LeaseRecord, LeaseStore, SecretInfo, StoreError, AWSCURRENT, AWSPENDING,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// The holder name a Secrets Manager rotation's lease is parked under between its step events:
/// a step event may take it over, nothing else may until it runs out.
pub const BETWEEN_STEPS: &str = "secretsmanager-rotation";
/// Clock skew between processes: a holder counts on its lease only this long less.
const MARGIN: chrono::Duration = chrono::Duration::seconds(30);

/// A lease this attempt holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it (the run's random id).
    pub holder: String,
    /// When it runs out.
    pub expires: DateTime<Utc>,
}

/// The lease key of a secret given by name or by full ARN: its name (Secrets Manager ends an
/// ARN with the name, a hyphen and six random characters), so every caller names one item.
pub fn key_of(secret_id: &str) -> String {
    match secret_id.split_once(":secret:") {
        Some((arn, rest)) if arn.starts_with("arn:") && rest.len() > 7 => {
            rest[..rest.len() - 7].to_string()
        }
        _ => secret_id.to_string(),
    }
}

/// One process's leases, in memory: the engine's lease store until a table is wired in (tests,
/// the CLI's `demo`). It keeps apart only the attempts that share it; the deployment wires the
/// DynamoDB table, which every process shares.
#[derive(Default)]
pub struct InProcessLeases {
    items: Mutex<HashMap<String, LeaseRecord>>,
}

impl InProcessLeases {
    fn items(&self) -> std::sync::MutexGuard<'_, HashMap<String, LeaseRecord>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl LeaseStore for InProcessLeases {
    async fn acquire(
        &self,
        key: &str,
        holder: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
        parked: Option<&str>,
    ) -> Result<(), LeaseError> {
        let mut items = self.items();
        if let Some(r) = items.get(key) {
            let free = r.expires < now || r.holder == holder || Some(r.holder.as_str()) == parked;
            if !free {
                return Err(LeaseError::Held(Some(r.clone())));
            }
        }
        let holder = holder.to_string();
        items.insert(key.to_string(), LeaseRecord { holder, expires });
        Ok(())
    }

    async fn renew(
        &self,
        key: &str,
        holder: &str,
        to: &str,
        expires: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        match self.items().get_mut(key) {
            Some(r) if r.holder == holder => {
                *r = LeaseRecord {
                    holder: to.to_string(),
                    expires,
                };
                Ok(())
            }
            other => Err(LeaseError::Held(other.cloned())),
        }
    }

    async fn release(&self, key: &str, holder: &str) -> Result<(), LeaseError> {
        let mut items = self.items();
        if items.get(key).is_some_and(|r| r.holder == holder) {
            items.remove(key);
        }
        Ok(())
    }

    async fn holder(&self, key: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        Ok(self.items().get(key).cloned())
    }
}

impl Engine {
    /// Makes sure this attempt holds the target's lease before it changes anything, asking the
    /// table every time: taken now (the first time), or renewed (a conditional write that fails
    /// when another attempt took it after it ran out). Fails with [`ErrorKind::Busy`] when
    /// another attempt holds it; with [`ErrorKind::Stale`] (still holding it) when another
    /// attempt acted before this one got it, so what this one planned no longer stands; and when
    /// less time is left than the next call may take.
    pub(crate) async fn lease(&self, step: Step, ctx: &StepContext) -> Result<(), RotationError> {
        self.lease_after(step, ctx, None).await
    }

    /// [`Self::lease`], for a step that planned its change from `planned` (the stages it read):
    /// when the lease is taken now and either stage moved since, the plan no longer stands
    /// ([`ErrorKind::Stale`]).
    pub(crate) async fn lease_after(
        &self,
        step: Step,
        ctx: &StepContext,
        planned: Option<&SecretInfo>,
    ) -> Result<(), RotationError> {
        if self.policy.lease <= chrono::Duration::zero() {
            // ROTATION_LEASE_SECS=0 keeps nobody out.
            return Ok(());
        }
        let (key, holder) = (key_of(&ctx.secret_id), ctx.holder.id().to_string());
        let expires = self.lease_end();
        if let Some(held) = ctx.holder.lease() {
            let renewed = self.leases.renew(&key, &holder, &holder, expires).await;
            match renewed {
                Ok(()) => return self.fenced(step, ctx, holder, expires),
                Err(LeaseError::Held(_)) => {}
                // The table did not answer: the lease it granted still holds as long as its
                // expiry is far enough (nobody takes a live lease), and then this change may go
                // on (a credential just made is stored rather than left an orphan).
                Err(e) => {
                    tracing::warn!(step = %step, "could not renew the rotation's lease (it holds until {}): {e}", held.expires);
                    return self
                        .fenced(step, ctx, holder, held.expires)
                        .map_err(|_| unavailable(step, &key, e));
                }
            }
            // It ran out and another attempt took it meanwhile.
            ctx.holder.take_lease();
            self.take(step, ctx, &key, &holder, expires).await?;
            // A rollback looks at everything afresh anyway and must still undo what this
            // attempt did; anything else starts over from a fresh look.
            if step == Step::Rollback {
                return self.fenced(step, ctx, holder, expires);
            }
            self.note(step, "this attempt's lease ran out and another attempt held the target meanwhile; starting over");
            ctx.holder.set_lease(Lease { holder, expires });
            return Err(RotationError::new(step, ErrorKind::Stale));
        }
        self.take(step, ctx, &key, &holder, expires).await?;
        ctx.holder.set_lease(Lease {
            holder: holder.clone(),
            expires,
        });
        if self.stale(step, ctx, planned).await? {
            return Err(RotationError::new(step, ErrorKind::Stale));
        }
        self.fenced(step, ctx, holder, expires)
    }

    /// The expiry of a lease taken or renewed now (whole seconds, as the table keeps it).
    fn lease_end(&self) -> DateTime<Utc> {
        let end = self.clock.now() + self.policy.lease;
        DateTime::from_timestamp(end.timestamp(), 0).unwrap_or(end)
    }

    /// One conditional take of the lease for `holder`; a step event may take it over from a
    /// step event of the same rotation that parked it.
    async fn take(
        &self,
        step: Step,
        ctx: &StepContext,
        key: &str,
        holder: &str,
        expires: DateTime<Utc>,
    ) -> Result<(), RotationError> {
        let parked = (ctx.driver == Driver::SecretsManager).then_some(BETWEEN_STEPS);
        let now = self.clock.now();
        match self.leases.acquire(key, holder, expires, now, parked).await {
            Ok(()) => {
                let until = expires.format("%H:%M:%S UTC");
                self.note(step, &format!("holds the rotation's lease until {until}"));
                Ok(())
            }
            Err(LeaseError::Held(record)) => Err(RotationError::new(
                step,
                ErrorKind::Busy {
                    until: record.map_or(expires, |r| r.expires),
                },
            )),
            Err(e) => Err(unavailable(step, key, e)),
        }
    }

    /// Records the lease as held and refuses when less of it is left than the next call may
    /// take (HTTP_TIMEOUT_SECS and the retries within it), and a margin for clock skew.
    fn fenced(
        &self,
        step: Step,
        ctx: &StepContext,
        holder: String,
        expires: DateTime<Utc>,
    ) -> Result<(), RotationError> {
        ctx.holder.set_lease(Lease { holder, expires });
        let left = expires - self.clock.now();
        if left < self.policy.call_budget + MARGIN {
            return Err(RotationError::new(
                step,
                ErrorKind::Concurrent(format!(
                    "the rotation's lease has {}s left, less than the next call may take ({}s): nothing more is changed",
                    left.num_seconds(),
                    (self.policy.call_budget + MARGIN).num_seconds()
                )),
            ));
        }
        Ok(())
    }

    /// Right after a take: does what the step read before it still stand? Neither stage may have
    /// moved since `planned` (the stages the step planned from), when given; otherwise its token
    /// must still be pending or current (or createSecret still free to make its version). A
    /// rollback looks at everything afresh anyway, and is never stale.
    async fn stale(
        &self,
        step: Step,
        ctx: &StepContext,
        planned: Option<&SecretInfo>,
    ) -> Result<bool, RotationError> {
        if step == Step::Rollback {
            return Ok(false);
        }
        let now_seen = self
            .store
            .describe(&ctx.secret_id)
            .await
            .map_err(|e| RotationError::store(step, e))?;
        Ok(match planned {
            Some(planned) => {
                let moved = |stage| planned.version_with(stage) != now_seen.version_with(stage);
                moved(AWSCURRENT) || moved(AWSPENDING)
            }
            None => {
                !super::guard::makes_its_version(step, &now_seen, &ctx.token)
                    && !now_seen.has(&ctx.token, AWSPENDING)
                    && !now_seen.has(&ctx.token, AWSCURRENT)
            }
        })
    }

    /// Lets go of the lease this attempt holds, if it holds one. A lease that cannot be let go
    /// of runs out by itself. (`_home` is where the old label lease went; nothing now.)
    pub async fn release(&self, ctx: &StepContext, _home: &str) {
        let Some(lease) = ctx.holder.take_lease() else {
            return;
        };
        let key = key_of(&ctx.secret_id);
        match self.leases.release(&key, &lease.holder).await {
            Ok(()) => tracing::debug!(step = "lease", "let go of the rotation's lease"),
            Err(e) => tracing::warn!(
                step = "lease",
                "could not let go of the rotation's lease (it runs out at {}): {e}",
                lease.expires
            ),
        }
    }

    /// A step event whose rotation goes on (a later step, or Secrets Manager's retry) parks the
    /// lease under [`BETWEEN_STEPS`] instead of letting go: the rotation's next step event takes
    /// it over, other attempts stay out until it runs out.
    pub async fn hand_on(&self, ctx: &StepContext) {
        let Some(lease) = ctx.holder.take_lease() else {
            return;
        };
        let (key, end) = (key_of(&ctx.secret_id), self.lease_end());
        match (self.leases)
            .renew(&key, &lease.holder, BETWEEN_STEPS, end)
            .await
        {
            Ok(()) => tracing::debug!(step = "lease", "lease kept for the rotation's next step"),
            Err(e) => tracing::warn!(
                step = "lease",
                "could not hand the rotation's lease on (it runs out at {}): {e}",
                lease.expires
            ),
        }
    }

    /// Until when another attempt holds the target's lease (`None`: free, or unreadable).
    pub(crate) async fn held_until(&self, secret_id: &str) -> Option<DateTime<Utc>> {
        let record = self.leases.holder(&key_of(secret_id)).await.ok()??;
        (record.expires > self.clock.now()).then_some(record.expires)
    }
}

/// A lease-table call that failed for another reason than the lease being held: a store error
/// (its code keeps whether a retry may help).
fn unavailable(step: Step, key: &str, e: LeaseError) -> RotationError {
    let (operation, code, message) = match e {
        LeaseError::Unavailable {
            operation,
            code,
            message,
        } => (operation, code, message),
        held => ("lease".into(), "Held".into(), held.to_string()),
    };
    RotationError::store(
        step,
        StoreError::Aws {
            operation: format!("lease table {operation}"),
            secret_id: key.to_string(),
            code,
            message,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secrets_arn_and_its_name_are_one_lease_key() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:jamf/smtp-graph-AbC123";
        assert_eq!(key_of(arn), "jamf/smtp-graph");
        assert_eq!(key_of("jamf/smtp-graph"), "jamf/smtp-graph");
        assert_eq!(
            key_of("arn:aws:secretsmanager:r:1:secret:x"),
            "arn:aws:secretsmanager:r:1:secret:x"
        );
    }

    #[tokio::test]
    async fn of_two_holders_one_holds_the_lease_until_it_runs_out_or_is_let_go() {
        let leases = InProcessLeases::default();
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        leases.acquire("k", "a", t(900), t(0), None).await.unwrap();
        let held = leases.acquire("k", "b", t(960), t(60), None).await;
        assert!(matches!(held, Err(LeaseError::Held(Some(r))) if r.holder == "a"));
        assert!(leases.renew("k", "b", "b", t(999)).await.is_err());
        leases.release("k", "b").await.unwrap();
        assert_eq!(leases.holder("k").await.unwrap().unwrap().holder, "a");
        // Parked between steps: a step event takes it over, nobody else.
        leases.renew("k", "a", BETWEEN_STEPS, t(900)).await.unwrap();
        assert!(leases.acquire("k", "c", t(999), t(60), None).await.is_err());
        (leases
            .acquire("k", "c", t(999), t(60), Some(BETWEEN_STEPS))
            .await)
            .unwrap();
        // Run out: anyone.
        leases
            .acquire("k", "d", t(2000), t(1000), None)
            .await
            .unwrap();
        leases.release("k", "d").await.unwrap();
        assert_eq!(leases.holder("k").await.unwrap(), None);
    }
}
