//! Double faults: a rotation killed after Jamf Pro got the new secret, then a resume that meets a
//! second fault at each of its own external calls in turn. The invariant must hold after the
//! faulty resume (Jamf Pro on a secret Entra accepts, every credential of ours stored), and the
//! next clean check completes the rotation.

mod common;

use common::spawn_with;
use common::tripwire::{wired, Fault, Tripwire, When};
use common::TestWorld;
use rotator_engine::document::TargetKind;
use secrecy::ExposeSecret;
use std::time::Duration;

/// A world whose due rotation was killed just after Jamf Pro got the new secret.
async fn killed_after_jamf_write(target: TargetKind) -> TestWorld {
    let w = spawn_with(10, |o| o.target = target).await;
    let trip = Tripwire::at_call("jamf: write secret", When::After);
    let engine = wired(&w.engine, trip.clone());
    let id = w.secret_id.clone();
    let mut task = tokio::spawn(async move { engine.check(&id, false).await });
    tokio::select! {
        _ = trip.crashed.notified() => task.abort(),
        done = &mut task => panic!("Jamf Pro was never written: {:?}", done.map(|r| r.map(|r| r.action))),
    }
    let _ = task.await;
    assert_ne!(
        w.jamf_secret().as_deref(),
        Some(w.secrets[0].expose_secret()),
        "Jamf Pro holds the new secret at the crash"
    );
    w.clock.advance(Duration::from_secs(86_400));
    w
}

/// How many external calls a fault-free resume of that crash makes.
async fn resume_calls(target: TargetKind) -> Vec<String> {
    let w = killed_after_jamf_write(target).await;
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
    counter.names()
}

/// One row: the resume meets `fault` at calls `first..first + count`.
async fn resume_with_fault(
    target: TargetKind,
    first: usize,
    count: usize,
    fault: Fault,
) -> Vec<String> {
    let w = killed_after_jamf_write(target).await;
    let trip = Tripwire::failing(first, count, fault);
    let faulty = wired(&w.engine, trip.clone())
        .check(&w.secret_id, false)
        .await;
    let faulted = trip.faulted();
    let row = format!("{fault:?} at resume call {first} ({faulted:?})");
    assert!(
        w.jamf_secret_works(),
        "{row}: Jamf Pro must hold a secret Entra accepts after the faulty resume"
    );
    w.assert_invariant().await;
    for alert in w.alerts.sent() {
        if w.jamf_secret().as_deref() != Some(w.secrets[0].expose_secret()) {
            assert!(
                !alert.message.contains("Jamf Pro was not changed"),
                "{row}: the alert must not say Jamf Pro was not changed: {}",
                alert.message
            );
        }
    }

    // The next clean check completes the rotation.
    w.clock.advance(Duration::from_secs(86_400));
    let report = w
        .engine
        .check(&w.secret_id, false)
        .await
        .unwrap_or_else(|e| panic!("{row}: the clean check failed: {e}"));
    if let Some(r) = &report.rotation {
        assert!(r.error.is_none(), "{row}: {:?}", r.error);
    }
    let settled = w.engine.check(&w.secret_id, true).await.unwrap();
    assert!(!settled.due, "{row}: still due after the clean check");
    let current = w.current_doc().await;
    assert_eq!(
        w.jamf_secret().as_deref(),
        Some(current.entra.client_secret.expose_secret()),
        "{row}: Jamf Pro holds AWSCURRENT's secret"
    );
    w.assert_invariant().await;
    let faulty = faulty
        .map(|r| serde_json::to_string(&r).unwrap())
        .unwrap_or_else(|e| e.to_string());
    w.assert_no_leaks(&[&faulty, &serde_json::to_string(&report).unwrap()]);
    faulted
}

/// Every call of the resume meets a transient failure (one, then five in a row starting there),
/// and every value read a garbled document.
async fn matrix(target: TargetKind) {
    let calls = resume_calls(target).await;
    assert!(calls.len() > 6, "{calls:?}");
    let mut rows = 0;
    for first in 1..=calls.len() {
        // One failure (the call's retries spent once), and five in a row (an outage that also
        // meets the rollback's own calls).
        for count in [1, 5] {
            resume_with_fault(target, first, count, Fault::Transient).await;
            rows += 1;
        }
        if calls[first - 1].starts_with("sm: GetSecretValue") {
            resume_with_fault(target, first, 1, Fault::Garbled).await;
            rows += 1;
        }
    }
    println!("double faults ({}): crash after the Jamf write, resume of {} calls, {rows} faulty resumes, invariant held", target.as_str(), calls.len());
}

#[tokio::test]
async fn a_resume_after_the_jamf_write_that_meets_a_second_fault_leaves_jamf_on_a_working_secret_smtp_graph(
) {
    matrix(TargetKind::SmtpGraph).await;
}

#[tokio::test]
async fn a_resume_after_the_jamf_write_that_meets_a_second_fault_leaves_jamf_on_a_working_secret_conditional_access(
) {
    matrix(TargetKind::ConditionalAccess).await;
}
