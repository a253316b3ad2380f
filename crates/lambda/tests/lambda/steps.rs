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
async fn a_failing_test_secret_step_is_rolled_back_and_alerted() {
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
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(
        info.version_with(AWSPENDING).is_none(),
        "rollback drops AWSPENDING"
    );
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1);
    assert_eq!(
        creds[0].key_id, w.initial_key_id,
        "the new credential is removed, the old one kept"
    );
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some(w.secrets[0].expose_secret()),
        "Jamf Pro has the old secret back"
    );
    let alerts = w.alerts.sent();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::RolledBack);
    assert!(
        alerts[0].message.contains("Failed step: testSecret")
            && alerts[0].message.contains("What to do:"),
        "{}",
        alerts[0].message
    );
    assert_eq!(h.metric("RotationFailed", Some(&w.secret_id)), [1.0]);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&err.to_string()]);
}
