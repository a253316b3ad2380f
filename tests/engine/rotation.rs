//! End-to-end rotations against the Entra and Jamf Pro stand-ins and Secrets Manager on moto,
//! on virtual time. Every test ends with the invariant and the leak scan.

use crate::common;

use common::tripwire::{wired, Tripwire, When};
use common::{spawn_with, spawn_world_on_memory, spawn_world_on_moto, TestWorld};
use rotator_engine::ports::{AlertKind, AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rotator_engine::rotation::check::Action;
use rotator_engine::rotation::drift::DriftKind;
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::RotateRequest;
use rotator_testkit::clock::Clock;
use rotator_testkit::entra::EntraOp;
use rotator_testkit::jamf::JamfOp;
use secrecy::ExposeSecret;
use std::time::Duration;

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

/// Runs a rotation that "crashes" (the call never returns; the task is aborted) at the first
/// call named `call`, `when`.
async fn rotate_and_crash(w: &TestWorld, call: &'static str, when: When) {
    let trip = Tripwire::at_call(call, when);
    let engine = wired(&w.engine, trip.clone());
    let id = w.secret_id.clone();
    let task = tokio::spawn(async move {
        engine
            .rotate(
                &id,
                RotateRequest {
                    reason: "manual: test".into(),
                    ..Default::default()
                },
            )
            .await
    });
    trip.crashed.notified().await;
    task.abort();
    let _ = task.await;
    // The next run comes later: by then the crashed attempt's lease has run out.
    w.clock.advance(PAST_THE_LEASE);
}

/// Longer than a rotation's lease (15 minutes by default).
const PAST_THE_LEASE: Duration = Duration::from_secs(16 * 60);

#[tokio::test]
async fn scheduled_check_rotates_a_due_secret_end_to_end() {
    let w = spawn_world_on_moto(10).await;
    let old_secret = w.secrets[0].expose_secret().to_string();

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    assert_eq!(report.action, Action::Rotated);
    let r = report.rotation.as_ref().unwrap();
    assert_eq!(r.outcome, Outcome::Rotated);
    assert_eq!(r.old_key_id.as_deref(), Some(w.initial_key_id.as_str()));
    assert_ne!(r.new_key_id, r.old_key_id);
    assert!(r.old_removed && r.jamf_accepts_new);
    assert_eq!(r.app_credentials, Some(1));
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1);
    assert_eq!(Some(creds[0].key_id.clone()), r.new_key_id);
    // Jamf holds exactly the AWSCURRENT secret; the old one is gone at Entra; AWSPREVIOUS keeps it.
    let doc = w.current_doc().await;
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some(doc.entra.client_secret.expose_secret())
    );
    assert!(!w.entra.accepts(
        &w.app.client_id,
        &old_secret,
        "https://graph.microsoft.com/.default"
    ));
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(
        info.version_with(AWSPENDING).is_none(),
        "AWSPENDING must be dropped"
    );
    let prev = w
        .store
        .value(&w.secret_id, info.version_with(AWSPREVIOUS).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(prev.expose_secret().contains(&old_secret));
    // Jamf settings other than the secret are unchanged.
    assert_eq!(w.jamf.smtp_settings()["authenticationType"], "GRAPH_API");
    assert!(w.alerts.sent().is_empty());
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&report)]);
}

#[tokio::test]
async fn a_secret_far_from_expiry_is_left_alone() {
    let w = spawn_world_on_moto(90).await;
    let before = w.store.describe(&w.secret_id).await.unwrap();

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    assert!(!report.due);
    assert_eq!(report.action, Action::None);
    assert_eq!(report.days_until_expiry, Some(89));
    assert_eq!(
        w.store.describe(&w.secret_id).await.unwrap().versions,
        before.versions
    );
    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
    assert_eq!(
        w.entra.passwords(&w.app.object_id)[0].key_id,
        w.initial_key_id
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&report)]);
}

#[tokio::test]
async fn rotation_waits_out_a_30_second_propagation_lag_in_virtual_time() {
    let w = spawn_world_on_moto(10).await;
    w.entra.set_propagation_lag(Duration::from_secs(30));
    let started = w.clock.now();
    let tokens_before = w.entra.count(EntraOp::Token);

    let r = w
        .engine
        .rotate(
            &w.secret_id,
            RotateRequest {
                reason: "manual: lag".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    let waited = w.clock.now() - started;
    assert!(
        waited >= chrono::Duration::seconds(30),
        "waited only {waited}"
    );
    assert!(
        waited < chrono::Duration::seconds(90),
        "waited too long: {waited}"
    );
    // Polled more than twice (refused while propagating, then two successes in a row).
    assert!(w.entra.count(EntraOp::Token) - tokens_before >= 4);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn rotation_honours_graph_throttling() {
    let w = spawn_world_on_moto(10).await;
    w.entra.throttle_graph(2, 7);
    let started = w.clock.now();

    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    assert!(
        w.clock.now() - started >= chrono::Duration::seconds(14),
        "Retry-After: 7 twice must be honoured"
    );
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn jamf_rejecting_the_new_secret_rolls_back_and_alerts() {
    let w = spawn_world_on_moto(10).await;
    let old_secret = w.secrets[0].expose_secret().to_string();
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 400);

    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert_eq!(r.outcome, Outcome::RolledBack, "{:?}", r.error);
    assert_eq!(r.failed_step.map(|s| s.as_str()), Some("testSecret"));
    let rb = r.rollback.as_ref().unwrap();
    assert_eq!(rb.jamf_restored, Some(true));
    assert!(rb.new_removed && rb.pending_dropped);
    // Jamf is back on the old secret, which still works; the new credential is gone.
    assert_eq!(w.jamf.smtp_secret().as_deref(), Some(old_secret.as_str()));
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].key_id, w.initial_key_id);
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(info.version_with(AWSPENDING).is_none());
    assert_eq!(
        w.current_doc().await.entra.key_id.as_deref(),
        Some(w.initial_key_id.as_str())
    );
    let alerts = w.alerts.sent();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::RolledBack);
    assert!(
        alerts[0].message.contains("testSecret") && alerts[0].message.contains("What to do"),
        "{}",
        alerts[0].message
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

/// A rotation rolled back spends its token (the version keeps the value, unlabelled). The next
/// rotation of the same version tries that token first without asking: Secrets Manager (here the
/// in-memory store, which refuses a differing same-token write as AWS does) refuses it, and the
/// driver moves on to the next token. On moto, which overwrites, the first token simply works.
async fn rotate_again_after_a_rollback(w: &TestWorld) -> (String, String) {
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 400);
    let first = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::RolledBack, "{:?}", first.error);

    let second = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert_eq!(second.outcome, Outcome::Rotated, "{:?}", second.error);
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1, "only the new credential: {creds:?}");
    assert_eq!(second.new_key_id.as_deref(), Some(creds[0].key_id.as_str()));
    assert_eq!(
        w.current_doc().await.entra.key_id.as_deref(),
        Some(creds[0].key_id.as_str())
    );
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some(w.current_doc().await.entra.client_secret.expose_secret())
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&first), &json(&second)]);
    (first.token.unwrap(), second.token.unwrap())
}

#[tokio::test]
async fn a_rotation_after_a_rollback_moves_past_the_spent_token_where_secrets_manager_refuses_it() {
    let (w, _store) = spawn_world_on_memory(10).await;
    let (spent, used) = rotate_again_after_a_rollback(&w).await;
    assert_ne!(spent, used, "the spent token is not reused");
    assert_eq!(
        w.entra.count(EntraOp::AddPassword),
        3,
        "the rolled-back one, the refused one, the one that worked"
    );
}

#[tokio::test]
async fn a_rotation_after_a_rollback_works_where_the_store_overwrites_the_spent_token() {
    let w = spawn_world_on_moto(10).await;
    rotate_again_after_a_rollback(&w).await;
}

#[tokio::test]
async fn a_tenant_policy_shorter_than_the_lifetime_caps_the_new_secret_after_graph_refuses_the_first(
) {
    let w = spawn_world_on_moto(10).await;
    w.entra
        .set_max_password_lifetime(Some(chrono::Duration::days(90)));

    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(
        creds.len(),
        1,
        "the refused attempt created nothing: {creds:?}"
    );
    let end = creds[0].end.expect("an expiry");
    assert!(
        end <= w.clock.now() + chrono::Duration::days(90),
        "{end} is within the policy"
    );
    assert!(
        end >= w.clock.now() + chrono::Duration::days(89),
        "{end} uses what the policy allows"
    );
    assert_eq!(
        w.entra.count(EntraOp::AddPassword),
        2,
        "ours refused, then the capped one"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn propagation_slower_than_the_limit_rolls_back_without_touching_jamf() {
    let w = spawn_with(10, |o| {
        o.settings.propagation_timeout = Duration::from_secs(60)
    })
    .await;
    w.entra.set_propagation_lag(Duration::from_secs(600));

    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert_eq!(r.outcome, Outcome::RolledBack);
    assert_eq!(r.error_class.as_deref(), Some("propagation"));
    assert_eq!(
        r.rollback.as_ref().unwrap().jamf_restored,
        None,
        "Jamf was never changed"
    );
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    assert_eq!(w.alerts.sent()[0].kind, AlertKind::RolledBack);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn rotation_resumed_after_crash_after_add_password_removes_the_orphan() {
    let w = spawn_world_on_moto(10).await;
    rotate_and_crash(&w, "sm: PutSecretValue(AWSPENDING)", When::Before).await;
    // The crash left a credential of ours whose secret exists nowhere.
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 2);
    assert!(w.world.jamf_secret_works());

    // The next scheduled check, a day later.
    w.clock.advance(Duration::from_secs(86_400));
    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    assert!(
        report.drift.iter().any(|d| d.kind == DriftKind::Orphan),
        "{:?}",
        report.drift
    );
    let r = report.rotation.as_ref().unwrap();
    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1, "orphan and old credential are gone");
    assert_eq!(Some(creds[0].key_id.clone()), r.new_key_id);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&report)]);
}

#[tokio::test]
async fn rotation_found_half_done_is_resumed_not_duplicated() {
    let w = spawn_world_on_moto(10).await;
    rotate_and_crash(&w, "sm: PutSecretValue(AWSPENDING)", When::After).await;
    let info = w.store.describe(&w.secret_id).await.unwrap();
    let pending = info
        .version_with(AWSPENDING)
        .expect("pending stored before the crash")
        .to_string();

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    let r = report.rotation.as_ref().unwrap();
    assert_eq!(r.outcome, Outcome::Resumed, "{:?}", r.error);
    assert_eq!(r.token.as_deref(), Some(pending.as_str()));
    assert_eq!(
        w.entra.count(EntraOp::AddPassword),
        1,
        "no second credential"
    );
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_eq!(info.version_with(AWSCURRENT), Some(pending.as_str()));
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&report)]);
}

#[tokio::test]
async fn crash_after_promote_is_finished_by_the_next_check() {
    let w = spawn_world_on_moto(10).await;
    rotate_and_crash(&w, "sm: UpdateSecretVersionStage(AWSCURRENT)", When::After).await;
    assert_eq!(
        w.entra.passwords(&w.app.object_id).len(),
        2,
        "old credential not yet retired"
    );
    w.assert_invariant().await;

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    assert!(
        report
            .drift
            .iter()
            .any(|d| d.kind == DriftKind::RetirePending),
        "{:?}",
        report.drift
    );
    assert!(!report.due);
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1);
    assert_ne!(creds[0].key_id, w.initial_key_id);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&report)]);
}

#[tokio::test]
async fn two_rotations_started_at_once_end_with_one_new_credential() {
    let w = spawn_world_on_moto(10).await;
    let other_process = w.world.second_engine();
    let req = || RotateRequest {
        reason: "manual: race".into(),
        ..Default::default()
    };

    let (a, b, c) = tokio::join!(
        w.engine.rotate(&w.secret_id, req()),
        other_process.rotate(&w.secret_id, req()),
        w.engine.check(&w.secret_id, false),
    );

    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    // One rotates; the others find it done, or find its lease and change nothing.
    let done = |r: &rotator_engine::rotation::report::RotationReport| {
        matches!(
            r.outcome,
            Outcome::Rotated | Outcome::Resumed | Outcome::AlreadyRotated
        )
    };
    for r in [&a, &b] {
        assert!(
            done(r) || r.error_class.as_deref() == Some("concurrent"),
            "{:?}: {:?}",
            r.outcome,
            r.error
        );
    }
    assert!(
        done(&a) || done(&b) || c.rotation.as_ref().is_some_and(done),
        "someone rotated"
    );
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1, "exactly one credential left: {creds:?}");
    assert_ne!(creds[0].key_id, w.initial_key_id);
    assert_eq!(
        w.current_doc().await.entra.key_id.as_deref(),
        Some(creds[0].key_id.as_str())
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&a), &json(&b), &json(&c)]);
}

#[tokio::test]
async fn emergency_lockdown_removes_every_other_secret() {
    let w = spawn_world_on_moto(200).await;
    let (_stray, _) = w.entra.seed_password(
        &w.app.object_id,
        "someone's test secret",
        w.clock.now() + chrono::Duration::days(300),
    );
    let status = w.engine.check(&w.secret_id, true).await.unwrap();
    assert!(status.drift.iter().any(|d| d.kind == DriftKind::Unmanaged));
    assert_eq!(
        w.entra.count(EntraOp::RemovePassword),
        0,
        "status changes nothing"
    );

    let r = w
        .engine
        .rotate(
            &w.secret_id,
            RotateRequest {
                reason: "manual: leaked".into(),
                revoke_old: rotator_engine::document::RevokeOld::Immediately,
                lockdown: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();

    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1);
    assert_eq!(Some(creds[0].key_id.clone()), r.new_key_id);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r), &json(&status)]);
}

#[tokio::test]
async fn without_lockdown_secrets_the_rotator_does_not_manage_are_kept() {
    let w = spawn_world_on_moto(10).await;
    let (stray, _) = w.entra.seed_password(
        &w.app.object_id,
        "break-glass",
        w.clock.now() + chrono::Duration::days(300),
    );

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    assert_eq!(report.rotation.as_ref().unwrap().outcome, Outcome::Rotated);
    let keys: Vec<String> = w
        .entra
        .passwords(&w.app.object_id)
        .into_iter()
        .map(|c| c.key_id)
        .collect();
    assert!(
        keys.contains(&stray),
        "never remove a credential that is not ours"
    );
    assert!(!keys.contains(&w.initial_key_id));
    // The unmanaged credential is reported as drift, with an alert.
    assert!(w.alerts.sent().iter().any(|a| a.kind == AlertKind::Drift));
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&report)]);
}

#[tokio::test]
async fn secrets_manager_steps_racing_the_in_process_driver_end_with_one_new_credential() {
    use rotator_engine::rotation::{Step, StepContext};
    let w = spawn_world_on_moto(10).await;
    // `aws secretsmanager rotate-secret`: an empty AWSPENDING version, then one step event each.
    let token = uuid::Uuid::new_v4().to_string();
    common::moto::begin_rotation(&common::moto::secrets_client().await, &w.secret_id, &token).await;
    let sm_driver = async {
        let ctx = StepContext {
            secret_id: w.secret_id.clone(),
            token: token.clone(),
            rotation_token: None,
            request: RotateRequest::default(),
            driver: rotator_engine::rotation::Driver::SecretsManager,
            holder: rotator_engine::rotation::holder::Holder::new(),
            looked: Default::default(),
        };
        let engine = w.world.second_engine();
        for step in [
            Step::CreateSecret,
            Step::SetSecret,
            Step::TestSecret,
            Step::FinishSecret,
        ] {
            // Secrets Manager retries a step that failed; one refused because an in-process
            // attempt holds the lease succeeds once that attempt is done.
            let mut tries = 0;
            loop {
                match engine.run_step(step, &ctx).await {
                    Err(e) if e.class() == "concurrent" && tries < 1000 => {
                        tries += 1;
                        tokio::task::yield_now().await;
                    }
                    other => break other?,
                }
            }
        }
        Ok::<_, rotator_engine::rotation::RotationError>(())
    };

    let (sm, manual, scheduled) = tokio::join!(
        sm_driver,
        w.engine.rotate(
            &w.secret_id,
            RotateRequest {
                reason: "manual: race".into(),
                ..Default::default()
            }
        ),
        w.engine.check(&w.secret_id, false),
    );

    sm.unwrap();
    let (manual, scheduled) = (manual.unwrap(), scheduled.unwrap());
    assert!(
        manual.error.is_none() || manual.error_class.as_deref() == Some("concurrent"),
        "{:?}",
        manual.error
    );
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_eq!(
        info.version_with(AWSCURRENT),
        Some(token.as_str()),
        "the Secrets Manager rotation's version won"
    );
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1, "one new credential, no orphan: {creds:?}");
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&manual), &json(&scheduled)]);
}

#[tokio::test]
async fn a_resumed_rotation_that_fails_puts_the_old_secret_back_before_removing_the_new_one() {
    let w = spawn_world_on_moto(10).await;
    // Crash right after Jamf Pro got the new secret.
    let counter = Tripwire::counting();
    let probe = spawn_world_on_moto(10).await;
    wired(&probe.engine, counter.clone())
        .check(&probe.secret_id, false)
        .await
        .unwrap();
    let n = counter
        .names()
        .iter()
        .position(|c| c == "jamf: write secret")
        .unwrap()
        + 1;
    let trip = Tripwire::at(n, When::After);
    let engine = wired(&w.engine, trip.clone());
    let id = w.secret_id.clone();
    let task = tokio::spawn(async move { engine.check(&id, false).await });
    trip.crashed.notified().await;
    task.abort();
    let _ = task.await;
    let old = w.secrets[0].expose_secret().to_string();
    assert_ne!(
        w.jamf.smtp_secret().as_deref(),
        Some(old.as_str()),
        "Jamf holds the new secret"
    );

    // The resume (once the crashed attempt's lease ran out) cannot read Jamf's settings (three
    // 503s): the rotation fails before its own write.
    w.clock.advance(PAST_THE_LEASE);
    w.jamf.fail_next(JamfOp::GetSmtp, 3, 503);
    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    let r = report.rotation.as_ref().unwrap();
    assert!(r.error.is_some());
    // Whatever was undone, Jamf's secret works and every credential of ours is held.
    w.assert_invariant().await;
    if r.rollback.as_ref().is_some_and(|rb| rb.new_removed) {
        assert_eq!(
            w.jamf.smtp_secret().as_deref(),
            Some(old.as_str()),
            "the old secret went back first"
        );
    }
    w.assert_no_leaks(&[&json(&report)]);
}

#[tokio::test]
async fn credentials_the_rotator_made_for_another_target_on_the_same_app_are_left_alone() {
    let w = spawn_world_on_moto(10).await;
    // Another target (say, the Intune integration) shares this app registration.
    let (other, _) = w.entra.seed_password(
        &w.app.object_id,
        "jamf-entra-rotator ffff0000 4b1f0c2e-0000-5000-8000-000000000000",
        w.clock.now() + chrono::Duration::days(300),
    );
    w.clock.advance(Duration::from_secs(86_400));

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    assert!(
        report.drift.iter().any(
            |d| d.kind == DriftKind::OtherTarget && d.key_id.as_deref() == Some(other.as_str())
        ),
        "{:?}",
        report.drift
    );
    assert_eq!(report.rotation.as_ref().unwrap().outcome, Outcome::Rotated);
    let keys: Vec<String> = w
        .entra
        .passwords(&w.app.object_id)
        .into_iter()
        .map(|c| c.key_id)
        .collect();
    assert!(keys.contains(&other), "never an orphan of this target");
    assert!(
        w.alerts.sent().is_empty(),
        "not drift worth an alert: {:?}",
        w.alerts.sent()
    );
    w.assert_no_leaks(&[&json(&report)]);
}
