//! Secrets Manager's side, emulated with its documented rule on: a new version of a secret while
//! a rotation it started is under way (other than createSecret's `AWSPENDING` write under the
//! rotation's token) abandons that rotation. The old lease wrote such versions (a lease version
//! per take, `PutSecretValue` with a custom label), and under this rule every fanned-out rotation
//! failed at createSecret (issue 20); the lease table writes none. Step events are driven one
//! invocation each, as Secrets Manager invokes them: delivered twice at once, with a check
//! between two, with two overlapping invocations of one token, and meeting an in-process holder.

use crate::common;

use common::tripwire::{wired, At, Hook, Tripwire};
use common::{spawn_world_on_memory, TestWorld};
use rotator_engine::ports::{SecretStore, AWSCURRENT, AWSPENDING};
use rotator_engine::rotation::lease::BETWEEN_STEPS;
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::{Engine, RotateRequest};
use rotator_lambda::{route, Function, LambdaError, Targets};
use rotator_testkit::jamf::JamfOp;
use rotator_testkit::memory_store::MemoryStore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

type Lines = Arc<Mutex<Vec<String>>>;

/// A world on the in-memory store with Secrets Manager's rule on, and a rotation Secrets Manager
/// started: its token.
async fn sm_rotation() -> (TestWorld, MemoryStore, String) {
    let (w, store) = spawn_world_on_memory(10).await;
    store.abandon_rotations_on_new_versions(true);
    let token = uuid::Uuid::new_v4().to_string();
    store.begin_rotation(&w.secret_id, &token).unwrap();
    (w, store, token)
}

/// The function over `engine`, its metric lines kept in `metrics`.
fn function(w: &TestWorld, engine: Engine, metrics: &Lines) -> Function {
    let metrics = metrics.clone();
    Function::new(engine, Targets::Ids(vec![w.secret_id.clone()])).with_metrics(Arc::new(
        move |line: &str| metrics.lock().unwrap().push(line.to_string()),
    ))
}

fn event(w: &TestWorld, token: &str, step: &str) -> Value {
    json!({"Step": step, "SecretId": w.secret_id, "ClientRequestToken": token})
}

/// How many `RotationFailed` metric lines were written.
fn failed_metrics(metrics: &Lines) -> usize {
    let lines = metrics.lock().unwrap();
    lines
        .iter()
        .filter(|l| l.contains("RotationFailed"))
        .count()
}

#[test]
fn a_new_version_abandons_the_rotation_secrets_manager_runs_and_its_pending_write_does_not() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = MemoryStore::new();
        store.abandon_rotations_on_new_versions(true);
        let arn = store.insert("s", "{}");
        store.begin_rotation("s", "t1").unwrap();
        let value = SecretString::from("{\"v\":1}".to_string());
        store.put_pending("s", "t1", &value, None).await.unwrap();
        assert_eq!(store.abandoned_rotations(), vec![], "createSecret's write");
        // What the old lease did at every take: a version of its own (here: any new version).
        store.put_current(&arn, &value).await.unwrap();
        assert_eq!(store.abandoned_rotations(), vec![("s".into(), "t1".into())]);
        let info = store.describe("s").await.unwrap();
        assert_eq!(info.version_with(AWSPENDING), None, "AWSPENDING removed");
    });
}

#[tokio::test]
async fn a_fanned_out_rotation_completes_under_the_abandonment_rule() {
    let (w, store, token) = sm_rotation().await;
    let metrics = Lines::default();
    let f = function(&w, w.engine.clone(), &metrics);
    route(&f, event(&w, &token, "createSecret")).await.unwrap();
    // The same step delivered twice at once (at-least-once delivery): one runs it, the other
    // runs it again after it (idempotent) or meets its lease and settles quietly.
    let set = event(&w, &token, "setSecret");
    let (a, b) = tokio::join!(route(&f, set.clone()), route(&f, set.clone()));
    assert!(a.is_ok() || b.is_ok(), "{a:?} {b:?}");
    for r in [a, b] {
        if let Err(e) = r {
            assert!(e.elsewhere(), "{e}");
        }
    }
    // A check between two steps leaves the rotation alone.
    let check = (w.world.second_engine().check(&w.secret_id, false).await).unwrap();
    assert!(check.rotation.is_none(), "{:?}", check.rotation);
    assert!(check.rotation_in_progress_until.is_some());
    for step in ["testSecret", "finishSecret"] {
        (route(&f, event(&w, &token, step)).await).unwrap_or_else(|e| panic!("{step}: {e}"));
    }

    assert_eq!(store.abandoned_rotations(), vec![]);
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_eq!(info.version_with(AWSCURRENT), Some(token.as_str()));
    assert_eq!(info.version_with(AWSPENDING), None);
    assert_eq!(failed_metrics(&metrics), 0);
    assert!(w.alerts.sent().is_empty(), "{:?}", w.alerts.sent());
    assert_eq!(w.leases.record("jamf-prod"), None, "let go of");
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    w.assert_invariant().await;
}

#[tokio::test]
async fn two_overlapping_invocations_of_one_token_are_two_holders_and_jamf_pro_ends_on_a_working_secret(
) {
    let (w, store, token) = sm_rotation().await;
    let metrics = Lines::default();
    let f = function(&w, w.engine.clone(), &metrics);
    for step in ["createSecret", "setSecret"] {
        route(&f, event(&w, &token, step)).await.unwrap();
    }
    // testSecret A holds the target when Secrets Manager's retry B of setSecret arrives (a slow
    // step overlapped); then Jamf Pro's test fails, and A rolls back.
    let b_said: Arc<Mutex<Option<Result<Value, LambdaError>>>> = Arc::default();
    let hook: Hook = {
        let (b, set, said, jamf) = (
            function(&w, w.engine.clone(), &metrics),
            event(&w, &token, "setSecret"),
            b_said.clone(),
            w.jamf.clone(),
        );
        Box::new(move || {
            Box::pin(async move {
                *said.lock().unwrap() = Some(route(&b, set).await);
                jamf.fail_next(JamfOp::SmtpTest, 1, 400);
            })
        })
    };
    let trip = Tripwire::interfering(At::Named("jamf: test", 1), hook);
    let a = function(&w, wired(&w.engine, trip), &metrics);
    let a_said = route(&a, event(&w, &token, "testSecret")).await;

    assert!(a_said.is_err(), "A's test failed: {a_said:?}");
    let b_said = b_said.lock().unwrap().take().expect("B ran");
    let b_err = b_said.expect_err("B met A's lease");
    assert!(b_err.elsewhere(), "{b_err}");
    assert_eq!(failed_metrics(&metrics), 1, "A's failure only");
    assert!(
        w.jamf_secret_works(),
        "Jamf Pro is on a secret Entra accepts"
    );
    // Secrets Manager retries the whole rotation with the same token: A put the old secret back
    // into Jamf Pro and kept AWSPENDING and the new credential for that retry, and parked the
    // lease for it.
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_eq!(info.version_with(AWSPENDING), Some(token.as_str()), "kept");
    assert_eq!(store.abandoned_rotations(), vec![]);
    let parked = w.leases.record("jamf-prod").map(|r| r.holder);
    assert_eq!(
        parked.as_deref(),
        Some(BETWEEN_STEPS),
        "parked for the retry"
    );
    w.assert_invariant().await;

    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        (route(&f, event(&w, &token, step)).await).unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_eq!(
        info.version_with(AWSCURRENT),
        Some(token.as_str()),
        "the retry completed"
    );
    assert!(w.jamf_secret_works());
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    w.assert_invariant().await;
}

#[tokio::test]
async fn a_step_event_that_meets_an_in_process_holder_settles_quietly_and_the_rotation_completes() {
    let (w, store) = spawn_world_on_memory(10).await;
    store.set_rotation_enabled(&w.secret_id, true);
    let metrics = Lines::default();
    let said: Arc<Mutex<Option<Result<Value, LambdaError>>>> = Arc::default();
    // While the in-process rotation writes Jamf Pro, a step event of its pending version arrives
    // (another process: a retried or stray delivery).
    let hook: Hook = {
        let (f, id, said, store) = (
            function(&w, w.world.second_engine(), &metrics),
            w.secret_id.clone(),
            said.clone(),
            w.store.clone(),
        );
        Box::new(move || {
            Box::pin(async move {
                let info = store.describe(&id).await.unwrap();
                let token = info.version_with(AWSPENDING).unwrap().to_string();
                let e = json!({"Step": "setSecret", "SecretId": id, "ClientRequestToken": token});
                *said.lock().unwrap() = Some(route(&f, e).await);
            })
        })
    };
    let trip = Tripwire::interfering(At::Named("jamf: write secret", 1), hook);
    let r = wired(&w.engine, trip)
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    let step = said.lock().unwrap().take().expect("the step event ran");
    let e = step.expect_err("not done: Secrets Manager must not go on");
    assert!(e.elsewhere(), "{e}");
    assert_eq!(failed_metrics(&metrics), 0, "no RotationFailed");
    assert!(w.alerts.sent().is_empty(), "{:?}", w.alerts.sent());
    w.assert_invariant().await;
}

/// A duplicate testSecret that fails puts the old secret back into Jamf Pro and keeps the
/// rotation for Secrets Manager's retry; the finishSecret Secrets Manager sends next (the first
/// testSecret passed) must not make the new secret current and retire the old one while Jamf
/// Pro holds the old one: it proves Jamf Pro works with the pending secret first.
#[tokio::test]
async fn a_finish_secret_after_a_failed_duplicate_test_secret_proves_the_pending_secret_first() {
    let (w, _store, token) = sm_rotation().await;
    let metrics = Lines::default();
    let f = function(&w, w.engine.clone(), &metrics);
    for step in ["createSecret", "setSecret", "testSecret"] {
        (route(&f, event(&w, &token, step)).await).unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 503);
    let duplicate = route(&f, event(&w, &token, "testSecret")).await;
    assert!(duplicate.is_err(), "{duplicate:?}");
    assert_eq!(
        w.jamf_secret().as_deref(),
        Some(w.secrets[0].expose_secret()),
        "the old secret is back in Jamf Pro"
    );
    w.assert_invariant().await;

    route(&f, event(&w, &token, "finishSecret")).await.unwrap();

    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_eq!(info.version_with(AWSCURRENT), Some(token.as_str()));
    assert!(
        w.jamf_secret_works(),
        "Jamf Pro is on a secret Entra accepts"
    );
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    w.assert_invariant().await;
}
