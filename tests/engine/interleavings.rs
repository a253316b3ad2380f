//! Two attempts of one rotation interleaved at the worst moment (issue 13's scenarios): another
//! process acts from inside one of this process's calls, after this process's lease has run out
//! (the clock jumps past it first), so only the rules every removal and every restore obey keep
//! the invariant: a fresh read before every `removePassword`, never the key `AWSCURRENT` holds,
//! and Jamf Pro given `AWSCURRENT`'s secret again when the rotation moved under a restore.
//! The store is the in-memory one (AWS's semantics: a differing same-token write is refused).

use crate::common;

use common::tripwire::{wired, At, Fault, Hook, Tripwire, When};
use common::{spawn_world_on_memory, TestWorld};
use rotator_engine::clock::Clock;
use rotator_engine::document::TargetDocument;
use rotator_engine::ports::{AWSCURRENT, AWSPENDING};
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::{
    credential_name, target_tag, Engine, RotateRequest, Step, StepContext,
};
use rotator_lambda::route;
use rotator_testkit::jamf::JamfOp;
use rotator_testkit::memory_store::MemoryStore;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

/// Longer than any lease: whatever the first process holds has run out when the other acts.
const PAST_THE_LEASE: Duration = Duration::from_secs(16 * 60);

/// A step event's context (a Secrets Manager-driven attempt of version `token`).
fn step_ctx(w: &TestWorld, token: &str) -> StepContext {
    StepContext {
        secret_id: w.secret_id.clone(),
        token: token.to_string(),
        rotation_token: None,
        request: RotateRequest::default(),
        driver: rotator_engine::rotation::Driver::SecretsManager,
        holder: rotator_engine::rotation::holder::Holder::new(),
        looked: Default::default(),
    }
}

/// The other process: a second engine over the same services and store.
fn other(w: &TestWorld) -> Arc<Engine> {
    Arc::new(w.world.second_engine())
}

/// A hook that first lets the clock run past any lease, then runs `f`.
fn after_the_lease<F, Fut>(w: &TestWorld, f: F) -> Hook
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let clock = w.clock.clone();
    Box::new(move || {
        Box::pin(async move {
            clock.advance(PAST_THE_LEASE);
            f().await
        })
    })
}

#[tokio::test]
async fn a_rollback_never_removes_the_key_another_attempt_already_made_current() {
    let (w, _store) = spawn_world_on_memory(10).await;
    // While this process waits for Entra to accept the new secret, another process sharing its
    // token completes the rotation (Jamf Pro on the new key, the old one removed); then this
    // process's wait times out and it rolls back.
    let (o, id) = (other(&w), w.secret_id.clone());
    let hook = after_the_lease(&w, move || async move {
        let r = o.rotate(&id, RotateRequest::default()).await.unwrap();
        assert!(
            matches!(r.outcome, Outcome::Rotated | Outcome::Resumed),
            "{:?}: {:?}",
            r.outcome,
            r.error
        );
    });
    let trip = Tripwire::interfering_then(
        At::Named("entra: token with a secret", 1),
        hook,
        Fault::Transient,
    );

    let r = wired(&w.engine, trip.clone())
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert!(trip.hooked.lock().unwrap().is_some(), "the other acted");
    assert_eq!(r.failed_step, Some(Step::SetSecret), "{:?}", r.error);
    let current = w.current_doc().await;
    assert_ne!(
        current.entra.key_id.as_deref(),
        Some(w.initial_key_id.as_str())
    );
    assert!(
        w.entra
            .passwords(&w.app.object_id)
            .iter()
            .any(|c| Some(c.key_id.as_str()) == current.entra.key_id.as_deref()),
        "the key AWSCURRENT holds is still on the app"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

/// A world whose due rotation was killed just after Jamf Pro got the new secret, a day ago.
async fn killed_after_jamf_write() -> (TestWorld, MemoryStore) {
    let (w, store) = spawn_world_on_memory(10).await;
    let trip = Tripwire::at_call("jamf: write secret", When::After);
    let engine = wired(&w.engine, trip.clone());
    let id = w.secret_id.clone();
    let mut task = tokio::spawn(async move { engine.check(&id, false).await });
    tokio::select! {
        _ = trip.crashed.notified() => task.abort(),
        done = &mut task => panic!("Jamf Pro was never written: {:?}", done.map(|r| r.map(|r| r.action))),
    }
    let _ = task.await;
    w.clock.advance(Duration::from_secs(86_400));
    (w, store)
}

#[tokio::test]
async fn a_restore_that_a_finishing_attempt_overtakes_gives_jamf_the_current_secret_again() {
    let (w, _store) = killed_after_jamf_write().await;
    let pending = w
        .store
        .describe(&w.secret_id)
        .await
        .unwrap()
        .version_with(AWSPENDING)
        .unwrap()
        .to_string();
    // The resume fails its Jamf test; its rollback puts the old secret back. While that write is
    // on its way (tens of seconds for conditional-access), Secrets Manager's own attempt of the
    // same version passes testSecret and finishSecret, retiring the old key.
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 400);
    let (o, ctx) = (other(&w), step_ctx(&w, &pending));
    let hook = after_the_lease(&w, move || async move {
        o.run_step(Step::TestSecret, &ctx).await.unwrap();
        o.run_step(Step::FinishSecret, &ctx).await.unwrap();
    });
    // The resume writes Jamf Pro once (setSecret again); the restore is the second write.
    let trip = Tripwire::interfering(At::Named("jamf: write secret", 2), hook);

    let report = wired(&w.engine, trip.clone())
        .check(&w.secret_id, false)
        .await
        .unwrap();

    assert!(trip.hooked.lock().unwrap().is_some(), "the other acted");
    let r = report.rotation.as_ref().unwrap();
    assert_eq!(r.failed_step, Some(Step::TestSecret), "{:?}", r.error);
    let current = w.current_doc().await;
    assert!(
        w.jamf_secret().as_deref() == Some(current.entra.client_secret.expose_secret()),
        "Jamf Pro holds AWSCURRENT's secret"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&report)]);
}

#[tokio::test]
async fn a_secrets_manager_finish_that_finds_the_rotation_undone_puts_the_current_secret_back() {
    let (w, store) = spawn_world_on_memory(10).await;
    let token = uuid::Uuid::new_v4().to_string();
    store.begin_rotation(&w.secret_id, &token).unwrap();
    let function = rotator_lambda::Function::new(
        w.engine.clone(),
        rotator_lambda::Targets::Ids(vec![w.secret_id.clone()]),
    )
    .with_metrics(Arc::new(|_: &str| {}));
    for step in ["createSecret", "setSecret", "testSecret"] {
        route(&function, step_event(&w, step, &token))
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    assert_ne!(
        w.jamf_secret().as_deref(),
        Some(w.secrets[0].expose_secret()),
        "Jamf Pro holds the new secret"
    );
    // Another attempt undoes the rotation without knowing Jamf Pro has the new secret: the new
    // credential is removed and AWSPENDING dropped.
    let pending = TargetDocument::parse(
        w.store
            .value(&w.secret_id, &token)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
    )
    .unwrap();
    let new_key = pending.entra.key_id.clone().unwrap();
    w.world
        .second_engine()
        .directory
        .remove_password(&rotator_engine::ports::AppRef::of(&pending), &new_key)
        .await
        .unwrap();
    w.store.remove_pending(&w.secret_id, &token).await.unwrap();

    let finished = route(&function, step_event(&w, "finishSecret", &token)).await;

    assert!(
        finished.is_err(),
        "finishSecret cannot complete an undone rotation"
    );
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_ne!(info.version_with(AWSCURRENT), Some(token.as_str()));
    assert!(
        w.jamf_secret_works(),
        "Jamf Pro must be given AWSCURRENT's secret back"
    );
    let alerts = w.alerts.sent();
    assert!(
        alerts.iter().all(|a| !a
            .message
            .contains("Jamf Pro holds the new secret (verified)")),
        "{alerts:?}"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&format!("{finished:?}")]);
}

/// A Secrets Manager step event for `token`.
fn step_event(w: &TestWorld, step: &str, token: &str) -> serde_json::Value {
    serde_json::json!({"Step": step, "SecretId": w.secret_id, "ClientRequestToken": token})
}

#[tokio::test]
async fn create_secret_never_sweeps_a_young_credential_another_process_made_for_the_same_token() {
    let (w, _store) = spawn_world_on_memory(10).await;
    let info = w.store.describe(&w.secret_id).await.unwrap();
    // Another process with the same token is between its addPassword and its PutSecretValue.
    let token = uuid::Uuid::new_v4().to_string();
    let (theirs, _) = w.entra.seed_password(
        &w.app.object_id,
        &credential_name(&target_tag(&info.arn), &token),
        w.clock.now() + chrono::Duration::days(180),
    );
    let ctx = StepContext {
        driver: rotator_engine::rotation::Driver::InProcess,
        ..step_ctx(&w, &token)
    };

    w.engine.create_secret(&ctx).await.unwrap();

    assert!(
        w.entra
            .passwords(&w.app.object_id)
            .iter()
            .any(|c| c.key_id == theirs),
        "a young credential of an unspent token may still be stored by its maker"
    );
    // Once older than the minimum age it is an orphan like any other.
    w.clock.advance(Duration::from_secs(3_600));
    let report = w.engine.check(&w.secret_id, false).await.unwrap();
    assert!(
        !w.entra
            .passwords(&w.app.object_id)
            .iter()
            .any(|c| c.key_id == theirs),
        "{:?}",
        report.drift
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&report)]);
}

#[tokio::test]
async fn a_retried_test_secret_after_a_partial_rollback_proves_the_pending_secret_not_the_old_one()
{
    let (w, store) = spawn_world_on_memory(10).await;
    let token = uuid::Uuid::new_v4().to_string();
    store.begin_rotation(&w.secret_id, &token).unwrap();
    let function = rotator_lambda::Function::new(
        w.engine.clone(),
        rotator_lambda::Targets::Ids(vec![w.secret_id.clone()]),
    )
    .with_metrics(Arc::new(|_: &str| {}));
    for step in ["createSecret", "setSecret"] {
        route(&function, step_event(&w, step, &token))
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    // testSecret fails; Secrets Manager retries the rotation, so the failure puts the old secret
    // back into Jamf Pro and keeps AWSPENDING and the new credential for the retry.
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 400);
    let failed = route(&function, step_event(&w, "testSecret", &token)).await;
    assert!(failed.is_err());
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_eq!(info.version_with(AWSPENDING), Some(token.as_str()));
    assert!(
        w.jamf_secret().as_deref() == Some(w.secrets[0].expose_secret()),
        "the old secret is back in Jamf Pro"
    );

    // Secrets Manager retries testSecret, then finishSecret.
    let retried = route(&function, step_event(&w, "testSecret", &token)).await;
    let finished = route(&function, step_event(&w, "finishSecret", &token)).await;

    assert!(
        retried.is_ok() && finished.is_ok(),
        "{retried:?} {finished:?}"
    );
    let current = w.current_doc().await;
    assert!(
        w.jamf_secret().as_deref() == Some(current.entra.client_secret.expose_secret()),
        "Jamf Pro holds the secret finishSecret made current"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&format!("{retried:?} {finished:?}")]);
}

#[tokio::test]
async fn an_emergency_that_loses_the_race_still_retires_the_old_secret_at_once() {
    let (w, _store) = spawn_world_on_memory(10).await;
    // An earlier rotation was rolled back: its token is spent.
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 400);
    let first = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::RolledBack, "{:?}", first.error);
    // The emergency tries that token first; as it stores its new secret, a scheduled rotation
    // with a grace period (which keeps the old secret valid a day) completes in another process.
    let mut graced = w.world.second_engine();
    graced.policy.retire_grace = chrono::Duration::hours(24);
    let id = w.secret_id.clone();
    let hook = after_the_lease(&w, move || async move {
        let r = graced.rotate(&id, RotateRequest::default()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
        assert!(
            r.old_retire_pending.is_some(),
            "the grace period keeps the old secret"
        );
    });
    let trip = Tripwire::interfering(At::Named("sm: PutSecretValue(AWSPENDING)", 1), hook);

    let r = wired(&w.engine, trip.clone())
        .rotate(
            &w.secret_id,
            RotateRequest {
                reason: "manual: leaked".into(),
                revoke_old: rotator_engine::document::RevokeOld::Immediately,
                ..Default::default()
            },
        )
        .await
        .unwrap();

    assert!(trip.hooked.lock().unwrap().is_some(), "the other acted");
    assert_eq!(r.outcome, Outcome::AlreadyRotated, "{:?}", r.error);
    assert!(
        !w.entra
            .passwords(&w.app.object_id)
            .iter()
            .any(|c| c.key_id == w.initial_key_id),
        "the leaked secret is gone, grace period or not"
    );
    assert!(r.old_removed);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r), &json(&first)]);
}
