//! The fault matrix: each fault of Graph, the token endpoint, Jamf Pro, Secrets Manager and SNS
//! gives the right outcome and the right alert, and the invariant holds afterwards.

use crate::common;

use common::{spawn_world_on_memory, spawn_world_on_moto};
use rotator_engine::ports::AlertKind;
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::RotateRequest;
use rotator_testkit::entra::EntraOp;
use rotator_testkit::inspect::StoreOp;
use rotator_testkit::jamf::JamfOp;
use std::time::Duration;

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

#[tokio::test]
async fn graph_503_on_reads_is_retried_and_the_rotation_completes() {
    let w = spawn_world_on_moto(10).await;
    w.entra.fail_next(EntraOp::GetApplication, 2, 503);
    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    assert!(w.alerts.sent().is_empty());
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn add_password_500_is_not_repeated_and_changes_nothing() {
    let w = spawn_world_on_moto(10).await;
    w.entra.fail_next(EntraOp::AddPassword, 1, 500);
    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::RolledBack, "{:?}", r.error);
    assert_eq!(r.error_class.as_deref(), Some("entra"));
    assert_eq!(
        w.entra.count(EntraOp::AddPassword),
        1,
        "a non-idempotent call is never repeated"
    );
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
    let a = w.alerts.sent();
    assert_eq!(a.len(), 1);
    assert!(
        a[0].message.contains("createSecret") && a[0].message.contains("entra"),
        "{}",
        a[0].message
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn an_expired_rotator_secret_fails_the_check_with_an_alert_that_says_what_to_do() {
    let w = spawn_world_on_moto(800).await;
    // Two years later the rotator's own secret (730 days) has expired.
    w.clock.advance(Duration::from_secs(86_400 * 760));
    let e = w.engine.check(&w.secret_id, false).await.unwrap_err();
    assert!(e.kind.to_string().contains("AADSTS7000222"), "{e}");
    let a = w.alerts.sent();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].kind, AlertKind::RotationFailed);
    assert!(a[0].message.contains("renew it"), "{}", a[0].message);
    w.assert_no_leaks(&[&e.to_string()]);
}

#[tokio::test]
async fn jamf_token_expiring_mid_flow_is_renewed_once() {
    let w = spawn_world_on_moto(10).await;
    let r0 = w.engine.check(&w.secret_id, true).await.unwrap();
    w.jamf.expire_tokens();
    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r), &json(&r0)]);
}

#[tokio::test]
async fn jamf_failing_the_write_rolls_back_to_the_old_secret() {
    let w = spawn_world_on_moto(10).await;
    w.jamf.fail_next(JamfOp::PutSmtp, 3, 503);
    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::RolledBack, "{:?}", r.error);
    assert_eq!(r.rollback.as_ref().unwrap().jamf_restored, Some(true));
    assert_eq!(
        w.entra.passwords(&w.app.object_id)[0].key_id,
        w.initial_key_id
    );
    assert_eq!(w.alerts.sent()[0].kind, AlertKind::RolledBack);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn secrets_manager_throttling_the_pending_write_removes_the_new_credential() {
    let (w, store) = spawn_world_on_memory(10).await;
    store.fail_next(StoreOp::PutPending, 1, "ThrottlingException");
    let before = store.snapshot();
    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::RolledBack, "{:?}", r.error);
    assert_eq!(r.error_class.as_deref(), Some("secrets-manager"));
    assert!(r.error.as_deref().unwrap().contains("ThrottlingException"));
    // Nothing stored, but the record of the rotation's lease (a version that holds no secret).
    let mut after = store.snapshot();
    for secret in after.values_mut() {
        secret
            .versions
            .retain(|id, _| !id.starts_with("jer-lease-"));
    }
    assert_eq!(after, before, "nothing stored");
    assert_eq!(
        w.entra.passwords(&w.app.object_id).len(),
        1,
        "the unstored credential is removed"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn secrets_manager_failing_the_promote_leaves_a_consistent_state_the_next_run_completes() {
    let (w, store) = spawn_world_on_memory(10).await;
    store.fail_next(StoreOp::Promote, 1, "InternalServiceError");
    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.failed_step.map(|s| s.as_str()), Some("finishSecret"));
    assert_eq!(w.alerts.sent()[0].kind, AlertKind::RotationFailed);
    w.assert_invariant().await;

    let again = w.engine.check(&w.secret_id, false).await.unwrap();
    assert_eq!(again.rotation.as_ref().unwrap().outcome, Outcome::Resumed);
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r), &json(&again)]);
}

#[tokio::test]
async fn sns_down_never_hides_the_original_error() {
    let w = spawn_world_on_moto(10).await;
    w.alerts.fail(true);
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 400);
    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::RolledBack);
    assert!(r.error.as_deref().unwrap().contains("testSecret"));
    assert!(
        common::logs().contains("could not send alert"),
        "the lost alert is logged"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}
