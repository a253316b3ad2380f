//! The crash matrix: a scheduled check that rotates a due secret is stopped just before and just
//! after each external call it makes, then resumed the way production would (the next scheduled
//! check, a day later). After the resume: the rotation completed, Jamf Pro holds the AWSCURRENT
//! secret and Entra accepts it, no credential of ours is held by no version, and the old
//! credential is gone exactly when the rotation completed. At the crash itself Jamf Pro's secret
//! must already work.

use crate::common;

use common::spawn_with;
use common::tripwire::{wired, Tripwire, When};
use rotator_engine::document::TargetKind;
use std::time::Duration;

/// Runs the matrix row for call `n`, `when`; returns the call's name.
async fn crash_and_resume(target: TargetKind, n: usize, when: When) -> String {
    let w = spawn_with(10, |o| o.target = target).await;
    let trip = Tripwire::at(n, when);
    let engine = wired(&w.engine, trip.clone());
    let id = w.secret_id.clone();
    let mut task = tokio::spawn(async move { engine.check(&id, false).await });
    tokio::select! {
        _ = trip.crashed.notified() => task.abort(),
        done = &mut task => panic!("call {n} was never reached: {:?}", done.map(|r| r.map(|r| r.action))),
    }
    let _ = task.await;
    let name = trip.names().last().cloned().unwrap_or_default();
    assert!(
        w.world.jamf_secret_works(),
        "{name} ({when:?}): Jamf Pro's secret must work at the crash"
    );

    w.clock.advance(Duration::from_secs(86_400));
    let report = w
        .engine
        .check(&w.secret_id, false)
        .await
        .unwrap_or_else(|e| panic!("{name} ({when:?}): resume failed: {e}"));
    if let Some(r) = &report.rotation {
        assert!(r.error.is_none(), "{name} ({when:?}): {:?}", r.error);
    }
    // A second check finds nothing left to do.
    let settled = w.engine.check(&w.secret_id, true).await.unwrap();
    assert!(
        !settled.due,
        "{name} ({when:?}): still due after the resume"
    );

    let current = w.current_doc().await;
    assert_ne!(
        current.entra.key_id.as_deref(),
        Some(w.initial_key_id.as_str()),
        "{name} ({when:?}): rotation completed"
    );
    let keys: Vec<String> = w
        .entra
        .passwords(&w.app.object_id)
        .into_iter()
        .map(|c| c.key_id)
        .collect();
    assert_eq!(
        keys,
        vec![current.entra.key_id.clone().unwrap()],
        "{name} ({when:?}): only the new credential remains"
    );
    use secrecy::ExposeSecret;
    assert_eq!(
        w.jamf_secret().as_deref(),
        Some(current.entra.client_secret.expose_secret())
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&serde_json::to_string(&report).unwrap()]);
    name
}

/// Counts the calls of an uninterrupted rotation of `target`, then crashes before and after each.
async fn matrix(target: TargetKind) {
    let w = spawn_with(10, |o| o.target = target).await;
    let counter = Tripwire::counting();
    let report = wired(&w.engine, counter.clone())
        .check(&w.secret_id, false)
        .await
        .unwrap();
    assert!(
        report.rotation.as_ref().is_some_and(|r| r.error.is_none()),
        "{:?}",
        report.rotation
    );
    let calls = counter.names();
    assert!(calls.len() > 12, "{calls:?}");

    let mut rows = Vec::new();
    for n in 1..=calls.len() {
        for when in [When::Before, When::After] {
            let name = crash_and_resume(target, n, when).await;
            assert_eq!(name, calls[n - 1], "the same call sequence every time");
            rows.push(format!("{n:>3} {when:?} {name}"));
        }
    }
    // The matrix, for docs/RELIABILITY.md (`cargo test --test crash_matrix -- --nocapture`).
    println!(
        "crash matrix ({}): {} calls x 2 = {} crash points, all resumed\n{}",
        target.as_str(),
        calls.len(),
        rows.len(),
        rows.join("\n")
    );
}

#[tokio::test]
async fn every_call_of_an_smtp_graph_rotation_survives_a_crash_before_and_after_it() {
    matrix(TargetKind::SmtpGraph).await;
}

#[tokio::test]
async fn every_call_of_a_conditional_access_rotation_survives_a_crash_before_and_after_it() {
    matrix(TargetKind::ConditionalAccess).await;
}
