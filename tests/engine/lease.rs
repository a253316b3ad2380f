//! The lease: attempts at one target's rotation, in any number of processes, never run at once.
//! The lease table enforces it (conditional writes; every engine of a test world shares one
//! table, as every process of a deployment shares the DynamoDB table), one holder per invocation;
//! a crashed holder's lease runs out, and then the next check resumes its work. The lease never
//! writes a version of the target's secret: Secrets Manager's rule that a new version abandons
//! its rotation is on in the tests of step events here.

use crate::common;

use common::tripwire::{changes_target, wired, At, Hook, Tripwire, When};
use common::{spawn_with, spawn_world_on_memory, TestWorld};
use rotator_engine::ports::{AWSCURRENT, AWSPENDING};
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::{Engine, RotateRequest};
use rotator_lambda::{route, Function, Targets};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

/// The calls among `calls` that change something.
fn changes(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| changes_target(c))
        .cloned()
        .collect()
}

/// A hook that runs another process's manual rotation, counting its calls into `calls`.
fn other_rotates(
    w: &TestWorld,
    calls: Arc<Mutex<Vec<String>>>,
    outcome: Arc<Mutex<Option<Outcome>>>,
) -> Hook {
    let (other, id) = (w.world.second_engine(), w.secret_id.clone());
    Box::new(move || {
        Box::pin(async move {
            let counter = Tripwire::counting();
            let r = wired(&other, counter.clone())
                .rotate(&id, RotateRequest::default())
                .await
                .unwrap();
            *calls.lock().unwrap() = counter.names();
            *outcome.lock().unwrap() = Some(r.outcome);
        })
    })
}

#[tokio::test]
async fn an_attempt_that_finds_another_holding_the_lease_changes_nothing() {
    let (w, _store) = spawn_world_on_memory(10).await;
    let (calls, outcome) = (Arc::default(), Arc::default());
    // While this process writes Jamf Pro, another process starts a rotation of the same target.
    let trip = Tripwire::interfering(
        At::Named("jamf: write secret", 1),
        other_rotates(&w, Arc::clone(&calls), Arc::clone(&outcome)),
    );

    let r = wired(&w.engine, trip)
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    let other = calls.lock().unwrap().clone();
    assert!(!other.is_empty(), "the other process ran");
    assert_eq!(
        changes(&other),
        Vec::<String>::new(),
        "the other changed nothing: {other:?}"
    );
    assert_eq!(*outcome.lock().unwrap(), Some(Outcome::Failed));
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1, "{creds:?}");
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn a_secrets_manager_rotation_holds_the_lease_across_its_step_events() {
    let (w, store) = spawn_world_on_memory(10).await;
    store.abandon_rotations_on_new_versions(true);
    let token = uuid::Uuid::new_v4().to_string();
    store.begin_rotation(&w.secret_id, &token).unwrap();
    let function = Function::new(w.engine.clone(), Targets::Ids(vec![w.secret_id.clone()]))
        .with_metrics(Arc::new(|_: &str| {}));
    let event = |step: &str| serde_json::json!({"Step": step, "SecretId": w.secret_id, "ClientRequestToken": token});
    route(&function, event("createSecret")).await.unwrap();

    // Between two step events, a manual rotation in another process: it must not take over.
    let counter = Tripwire::counting();
    let manual = wired(&w.world.second_engine(), counter.clone())
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    // And the scheduled check leaves the rotation in progress alone.
    let check = w
        .world
        .second_engine()
        .check(&w.secret_id, false)
        .await
        .unwrap();

    assert_eq!(manual.outcome, Outcome::Failed, "{:?}", manual.error);
    assert_eq!(manual.error_class.as_deref(), Some("concurrent"));
    assert_eq!(changes(&counter.names()), Vec::<String>::new());
    assert!(check.rotation.is_none(), "{:?}", check.rotation);
    for step in ["setSecret", "testSecret", "finishSecret"] {
        route(&function, event(step))
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_eq!(info.version_with(AWSCURRENT), Some(token.as_str()));
    assert_eq!(store.abandoned_rotations(), vec![]);
    assert_eq!(w.leases.record("jamf-prod"), None, "let go of");
    // Let go of: the next rotation needs no wait.
    let next = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(next.outcome, Outcome::Rotated, "{:?}", next.error);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&manual), &json(&check), &json(&next)]);
}

#[tokio::test]
async fn a_crashed_holders_lease_runs_out_and_then_the_next_check_resumes() {
    let w = spawn_with(10, |_| {}).await;
    let trip = Tripwire::at_call("jamf: write secret", When::After);
    let engine = wired(&w.engine, trip.clone());
    let id = w.secret_id.clone();
    let mut task = tokio::spawn(async move { engine.check(&id, false).await });
    tokio::select! {
        _ = trip.crashed.notified() => task.abort(),
        done = &mut task => panic!("Jamf Pro was never written: {:?}", done.map(|r| r.map(|r| r.action))),
    }
    let _ = task.await;

    // A minute later the crashed attempt's lease still holds: the check changes nothing.
    w.clock.advance(Duration::from_secs(60));
    let counter = Tripwire::counting();
    let early = wired(&w.world.second_engine(), counter.clone())
        .check(&w.secret_id, false)
        .await
        .unwrap();
    assert!(early.rotation.is_none(), "{:?}", early.rotation);
    assert_eq!(changes(&counter.names()), Vec::<String>::new());
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(info.version_with(AWSPENDING).is_some());

    // Once it ran out, the next check resumes and completes the rotation.
    w.clock.advance(Duration::from_secs(15 * 60));
    let late = w
        .world
        .second_engine()
        .check(&w.secret_id, false)
        .await
        .unwrap();
    let r = late.rotation.as_ref().expect("resumed");
    assert_eq!(r.outcome, Outcome::Resumed, "{:?}", r.error);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&early), &json(&late)]);
}

/// Four attempts at once (a manual rotation and a check in each of two processes), every call
/// logged in one sequence as (attempt, call).
async fn race(w: &TestWorld) -> Vec<(usize, String)> {
    let log: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let (one, two) = (w.engine.clone(), w.world.second_engine());
    let e = |i: usize, engine: &Engine| wired(engine, Tripwire::logging(i, log.clone()));
    let (e0, e1, e2, e3) = (e(0, &one), e(1, &one), e(2, &two), e(3, &two));
    let id = &w.secret_id;
    let (a, b, c, d) = tokio::join!(
        e0.rotate(id, RotateRequest::default()),
        e1.check(id, false),
        e2.rotate(id, RotateRequest::default()),
        e3.check(id, false),
    );
    w.assert_no_leaks(&[
        &json(&a.unwrap()),
        &json(&b.unwrap()),
        &json(&c.unwrap()),
        &json(&d.unwrap()),
    ]);
    let out = log.lock().unwrap().clone();
    out
}

#[tokio::test]
async fn attempts_racing_for_one_target_never_change_it_at_once() {
    for on_moto in [false, true] {
        let w = if on_moto {
            spawn_with(10, |_| {}).await
        } else {
            spawn_world_on_memory(10).await.0
        };
        let log = race(&w).await;
        // From an attempt's first change to its last, no other attempt changes anything.
        let changing: Vec<(usize, usize)> = log
            .iter()
            .enumerate()
            .filter(|(_, (_, call))| changes_target(call))
            .map(|(at, (who, _))| (at, *who))
            .collect();
        for who in 0..4 {
            let mine: Vec<usize> = changing
                .iter()
                .filter(|(_, w)| *w == who)
                .map(|(at, _)| *at)
                .collect();
            if let (Some(first), Some(last)) = (mine.first(), mine.last()) {
                let others: Vec<&(usize, String)> = changing
                    .iter()
                    .filter(|(at, w)| *w != who && (first..=last).contains(&at))
                    .map(|(at, _)| &log[*at])
                    .collect();
                assert!(others.is_empty(), "moto {on_moto}: attempt {who} changed the target from call {first} to {last}, and so did {others:?}");
            }
        }
        assert!(!changing.is_empty(), "someone rotated: {log:?}");
        let creds = w.entra.passwords(&w.app.object_id);
        assert_eq!(creds.len(), 1, "one credential: {creds:?}");
        w.assert_invariant().await;
    }
}

#[tokio::test]
async fn an_emergency_waits_for_the_attempt_that_holds_the_lease_then_retires_what_it_kept() {
    let (w, _store) = spawn_world_on_memory(10).await;
    // A scheduled rotation with a grace period (the old secret stays valid a day) holds the
    // lease, paused at its Jamf test.
    let (paused, resume, finished) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let mut graced = w.world.second_engine();
    graced.policy.retire_grace = chrono::Duration::hours(24);
    let pause: Hook = {
        let (paused, resume) = (paused.clone(), resume.clone());
        Box::new(move || {
            Box::pin(async move {
                paused.notify_one();
                resume.notified().await;
            })
        })
    };
    let graced = wired(
        &graced,
        Tripwire::interfering(At::Named("jamf: test", 1), pause),
    );
    let (id, done) = (w.secret_id.clone(), finished.clone());
    let scheduled = tokio::spawn(async move {
        let r = graced.rotate(&id, RotateRequest::default()).await.unwrap();
        done.notify_one();
        r
    });
    paused.notified().await;

    // The emergency finds the lease held and waits; at its first look again, the other one
    // goes on and completes.
    let go_on: Hook = Box::new(move || {
        Box::pin(async move {
            resume.notify_one();
            finished.notified().await;
        })
    });
    let r = wired(
        &w.engine,
        Tripwire::interfering(At::Named("sm: DescribeSecret", 2), go_on),
    )
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

    let first = scheduled.await.unwrap();
    assert_eq!(first.outcome, Outcome::Rotated, "{:?}", first.error);
    assert!(
        first.old_retire_pending.is_some(),
        "the grace period kept the old secret"
    );
    assert_eq!(r.outcome, Outcome::AlreadyRotated, "{:?}", r.error);
    assert!(r.old_removed, "the emergency retired it at once");
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1, "{creds:?}");
    assert_ne!(creds[0].key_id, w.initial_key_id);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r), &json(&first)]);
}

#[tokio::test]
async fn a_lease_with_less_time_left_than_the_next_call_may_take_changes_nothing() {
    // 100 s of lease, and a call may take 3 × 30 s (HTTP_TIMEOUT_SECS and the SDK's retries)
    // plus the margin for clock skew: every change is refused before it is made.
    let w = spawn_with(10, |o| o.settings.rotation_lease = Duration::from_secs(100)).await;
    let counter = Tripwire::counting();
    let r = wired(&w.engine, counter.clone())
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert_ne!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    assert!(
        r.error
            .as_deref()
            .unwrap_or_default()
            .contains("less than the next call may take"),
        "{:?}",
        r.error
    );
    assert_eq!(changes(&counter.names()), Vec::<String>::new());
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    assert_eq!(w.leases.record(&w.secret_id), None, "let go of");
    w.assert_invariant().await;
}
