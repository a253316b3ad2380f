//! The Secrets Manager rotation step events through `lambda::route`: the four in sequence
//! complete a rotation (a repeated `finishSecret` is a no-op), and a failing `testSecret` is
//! rolled back and alerted.

use crate::common;
use crate::harness::{
    assert_jamf_holds, begin_rotation, spawn, step_event, text, SAMPLE_ROTATION_TOKEN, STEPS,
};
use rotator_engine::ports::{AlertKind, AWSCURRENT, AWSPENDING};
use rotator_testkit::jamf::JamfOp;
use secrecy::ExposeSecret;

#[tokio::test]
async fn the_four_secrets_manager_step_events_in_sequence_complete_a_rotation() {
    let (w, h) = spawn(300).await;
    let token = begin_rotation(&w).await;
    let mut responses = Vec::new();

    for step in STEPS {
        let r = h.invoke(step_event(step, &w, &token)).await;
        let r = r.unwrap_or_else(|e| panic!("{step}: {e}"));
        assert_eq!(
            (r["step"].as_str(), r["ok"].as_bool()),
            (Some(step), Some(true))
        );
        responses.push(text(&r));
    }

    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(
        info.has(&token, AWSCURRENT),
        "the token's version is AWSCURRENT"
    );
    assert!(
        info.version_with(AWSPENDING).is_none(),
        "AWSPENDING is dropped"
    );
    let doc = w.current_doc().await;
    assert_ne!(doc.entra.key_id.as_deref(), Some(w.initial_key_id.as_str()));
    assert_jamf_holds(&w, &doc);
    assert_eq!(
        w.entra.passwords(&w.app.object_id).len(),
        1,
        "the replaced credential is retired"
    );
    assert_eq!(h.metric("RotationSucceeded", Some(&w.secret_id)), [1.0]);
    // A repeated finishSecret (Secrets Manager retries) is a no-op that succeeds.
    h.invoke(step_event("finishSecret", &w, &token))
        .await
        .unwrap();
    assert_eq!(h.metric("RotationSucceeded", Some(&w.secret_id)), [1.0]);
    assert!(
        !common::logs().contains(SAMPLE_ROTATION_TOKEN),
        "the RotationToken must never be logged"
    );
    w.assert_invariant().await;
    let responses: Vec<&str> = responses.iter().map(String::as_str).collect();
    w.assert_no_leaks(&responses);
}

#[tokio::test]
async fn a_failing_test_secret_step_puts_the_old_secret_back_keeps_the_rotation_for_the_retry_and_alerts(
) {
    let (w, h) = spawn(300).await;
    let token = begin_rotation(&w).await;
    for step in ["createSecret", "setSecret"] {
        h.invoke(step_event(step, &w, &token)).await.unwrap();
    }
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 400);

    let err = h
        .invoke(step_event("testSecret", &w, &token))
        .await
        .unwrap_err();

    assert!(err.to_string().contains("testSecret"), "{err}");
    assert_eq!(err.error_type(), "NonRetryable");
    // Secrets Manager retries the whole rotation with the same token: AWSPENDING and the new
    // credential stay for it (both valid); Jamf Pro is back on the old secret meanwhile.
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_eq!(info.version_with(AWSPENDING), Some(token.as_str()));
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 2);
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some(w.secrets[0].expose_secret()),
        "Jamf Pro has the old secret back"
    );
    let alerts = w.alerts.sent();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::RotationFailed);
    assert!(
        alerts[0].message.contains("Failed step: testSecret")
            && alerts[0]
                .message
                .contains("AWSPENDING and the new credential are kept")
            && alerts[0].message.contains("What to do:"),
        "{}",
        alerts[0].message
    );
    assert_eq!(h.metric("RotationFailed", Some(&w.secret_id)), [1.0]);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&err.to_string()]);

    // The retry completes the rotation.
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        h.invoke(step_event(step, &w, &token)).await.unwrap();
    }
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_eq!(info.version_with(AWSCURRENT), Some(token.as_str()));
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    w.assert_invariant().await;
}

/// A step event naming its secret by a partial ARN (no random suffix) and one naming it by its
/// full ARN contend for one lease: while an invocation of the full ARN holds it, the partial
/// one's createSecret is refused as busy and makes no credential.
#[tokio::test]
async fn a_partial_arn_step_event_contends_for_the_full_arns_lease() {
    use rotator_engine::clock::Clock;
    let (w, h) = spawn(300).await;
    let token = begin_rotation(&w).await;
    let arn = w.store.describe(&w.secret_id).await.unwrap().arn;
    let now = w.clock.now();
    let full_key = rotator_engine::rotation::lease::key_of(&arn);
    (w.engine.leases)
        .acquire(
            &full_key,
            "an invocation for the full ARN",
            now + chrono::Duration::minutes(10),
            now,
            None,
        )
        .await
        .unwrap();
    let keys_before = w.entra.passwords(&w.app.object_id).len();
    let mut partial = step_event("createSecret", &w, &token);
    partial["SecretId"] = arn[..arn.len() - 7].into();

    let e = h.invoke(partial).await.unwrap_err().to_string();

    assert!(e.contains("lease"), "{e}");
    assert_eq!(
        w.entra.passwords(&w.app.object_id).len(),
        keys_before,
        "no credential was made beside the lease's holder"
    );
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(!info.has(&token, AWSCURRENT), "nothing was promoted");
}
