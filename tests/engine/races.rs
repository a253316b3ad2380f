//! Races a review found in the in-process driver's carried state: another process (a second
//! engine over the same store and services) acts at the worst moment of a rotation, and the
//! invariant must hold anyway. It acts after this process's lease ran out (otherwise the lease
//! keeps it out, see tests/engine/lease.rs), so these races test the looks each step takes. The store
//! is the in-memory one, which refuses a differing same-token write as AWS does; the other
//! process acts from inside a store call.

use crate::common;

use async_trait::async_trait;
use common::TestWorld;
use rotator_engine::ports::*;
use rotator_engine::rotation::error::ErrorKind;
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::{Engine, RotateRequest, RotationError, Step, StepContext};
use rotator_testkit::clock::{ManualClock, SharedClock};
use rotator_testkit::memory_store::MemoryStore;
use rotator_testkit::world::{spawn_world, WorldOptions};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};

/// When the other process acts.
#[derive(Clone, Copy, PartialEq)]
enum At {
    /// After this process's testSecret, before its finishSecret looks at the stages (the first
    /// look after testSecret's read of the pending version, the second read of it): the other
    /// rolls back the same rotation (it had written Jamf Pro, so it puts the old secret back,
    /// removes the new credential and drops AWSPENDING).
    Finish,
    /// Inside this process's move of AWSCURRENT (after its look at the stages): the same
    /// rollback by the other process. Secrets Manager cannot make the move conditional on
    /// AWSPENDING, so only the look at the app before anything is retired can see it.
    Promote,
    /// Just before this process stores its new secret: the other runs a whole rotation of the
    /// same version (same token) first.
    Put,
}

/// The in-memory store, with the other process hooked into one call (once).
struct Racing {
    inner: MemoryStore,
    at: At,
    other: Mutex<Option<Engine>>,
    pending_reads: std::sync::atomic::AtomicUsize,
    clock: ManualClock,
}

impl Racing {
    async fn other_acts(&self, at: At, secret_id: &str, token: &str) {
        let Some(other) = (self.at == at)
            .then(|| self.other.lock().unwrap().take())
            .flatten()
        else {
            return;
        };
        // The other process acts once this one's lease ran out (a process stalled that long):
        // only the looks every step takes keep the invariant then.
        self.clock.advance(std::time::Duration::from_secs(16 * 60));
        match at {
            At::Finish | At::Promote => {
                let ctx = StepContext {
                    secret_id: secret_id.into(),
                    token: token.into(),
                    rotation_token: None,
                    request: RotateRequest::default(),
                    driver: rotator_engine::rotation::Driver::InProcess,
                    holder: rotator_engine::rotation::holder::Holder::new(),
                    looked: Default::default(),
                };
                let failure = RotationError::new(
                    Step::TestSecret,
                    ErrorKind::Concurrent("the other process's Jamf test failed".into()),
                )
                .touched();
                let rb = other.rollback(&ctx, &failure).await;
                assert!(rb.complete, "{rb:?}");
                // Done, it lets go of the lease, as its driver would.
                let current = self.inner.describe(secret_id).await.unwrap();
                other
                    .release(&ctx, current.version_with(AWSCURRENT).unwrap())
                    .await;
            }
            At::Put => {
                let r = other
                    .rotate(secret_id, RotateRequest::default())
                    .await
                    .unwrap();
                assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
            }
        }
    }
}

#[async_trait]
impl SecretStore for Racing {
    async fn describe(&self, s: &str) -> Result<SecretInfo, StoreError> {
        if self.pending_reads.load(std::sync::atomic::Ordering::SeqCst) == 2 {
            let token = (self.inner.describe(s).await?)
                .version_with(AWSPENDING)
                .map(str::to_string);
            if let Some(token) = token {
                self.other_acts(At::Finish, s, &token).await;
            }
        }
        self.inner.describe(s).await
    }
    async fn value(&self, s: &str, v: &str) -> Result<Option<SecretString>, StoreError> {
        let pending = self.inner.describe(s).await?.version_with(AWSPENDING) == Some(v);
        if pending {
            self.pending_reads
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.inner.value(s, v).await
    }
    async fn version_exists(&self, s: &str, v: &str) -> Result<bool, StoreError> {
        self.inner.version_exists(s, v).await
    }
    async fn value_at(
        &self,
        s: &str,
        stage: &str,
    ) -> Result<Option<(String, SecretString)>, StoreError> {
        self.inner.value_at(s, stage).await
    }
    async fn put_pending(
        &self,
        s: &str,
        v: &str,
        value: &SecretString,
        t: Option<&SecretString>,
    ) -> Result<(), StoreError> {
        self.other_acts(At::Put, s, v).await;
        self.inner.put_pending(s, v, value, t).await
    }
    async fn promote(&self, s: &str, v: &str, from: &str) -> Result<(), StoreError> {
        self.other_acts(At::Promote, s, v).await;
        self.inner.promote(s, v, from).await
    }
    async fn remove_pending(&self, s: &str, v: &str) -> Result<(), StoreError> {
        self.inner.remove_pending(s, v).await
    }
    async fn create(&self, n: &str, v: &SecretString, d: &str) -> Result<String, StoreError> {
        self.inner.create(n, v, d).await
    }
    async fn put_current(&self, s: &str, v: &SecretString) -> Result<(), StoreError> {
        self.inner.put_current(s, v).await
    }
    async fn list_tagged(&self, k: &str, v: Option<&str>) -> Result<Vec<String>, StoreError> {
        self.inner.list_tagged(k, v).await
    }
}

/// A world whose store lets another process act `at` the given moment.
async fn racing_world(at: At) -> TestWorld {
    common::capture_logs();
    let clock = ManualClock::new(chrono::Utc::now());
    let shared: SharedClock = Arc::new(clock.clone());
    let store = Arc::new(Racing {
        inner: MemoryStore::new(),
        at,
        other: Mutex::new(None),
        pending_reads: Default::default(),
        clock: clock.clone(),
    });
    let mut opts = WorldOptions::new(shared, store.clone(), "jamf-prod");
    opts.expires_in_days = 10;
    let world = spawn_world(opts).await.expect("world seeds the store");
    *store.other.lock().unwrap() = Some(world.second_engine());
    TestWorld { world, clock }
}

#[tokio::test]
async fn finish_never_promotes_a_version_another_process_rolled_back() {
    let w = racing_world(At::Finish).await;

    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    // Undone elsewhere after this one wrote Jamf Pro: its rollback puts AWSCURRENT's secret back.
    assert_eq!(r.outcome, Outcome::RolledBack, "{:?}", r.error);
    assert_eq!(
        r.rollback.as_ref().and_then(|rb| rb.jamf_restored),
        Some(true)
    );
    assert_eq!(r.failed_step, Some(Step::FinishSecret));
    assert!(
        !r.old_removed,
        "the old credential, back in Jamf Pro, stays"
    );
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1, "{creds:?}");
    assert_eq!(creds[0].key_id, w.initial_key_id);
    assert_eq!(
        w.current_doc().await.entra.key_id.as_deref(),
        Some(w.initial_key_id.as_str())
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&serde_json::to_string(&r).unwrap(), &format!("{r:?}")]);
}

#[tokio::test]
async fn a_rollback_inside_the_move_of_awscurrent_is_undone_not_retired_over() {
    let w = racing_world(At::Promote).await;

    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert!(
        matches!(r.outcome, Outcome::Failed | Outcome::RolledBack),
        "{:?}: {:?}",
        r.outcome,
        r.error
    );
    assert_eq!(r.failed_step, Some(Step::FinishSecret));
    assert!(
        !r.old_removed,
        "nothing is retired over a vanished new credential"
    );
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1, "{creds:?}");
    assert_eq!(creds[0].key_id, w.initial_key_id);
    assert_eq!(
        w.current_doc().await.entra.key_id.as_deref(),
        Some(w.initial_key_id.as_str()),
        "AWSCURRENT is moved back"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&serde_json::to_string(&r).unwrap(), &format!("{r:?}")]);
}

#[tokio::test]
async fn a_partner_that_completed_the_shared_token_is_followed_not_taken_for_a_spent_one() {
    let w = racing_world(At::Put).await;

    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert!(
        matches!(
            r.outcome,
            Outcome::Rotated | Outcome::Resumed | Outcome::AlreadyRotated
        ),
        "{:?}: {:?}",
        r.outcome,
        r.error
    );
    assert!(
        w.alerts.sent().is_empty(),
        "no failure to alert: {:?}",
        w.alerts.sent()
    );
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1, "only the partner's credential: {creds:?}");
    assert_eq!(
        w.current_doc().await.entra.key_id.as_deref(),
        Some(creds[0].key_id.as_str())
    );
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(
        info.version_with(AWSPENDING).is_none(),
        "{:?}",
        info.versions
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&serde_json::to_string(&r).unwrap(), &format!("{r:?}")]);
}
