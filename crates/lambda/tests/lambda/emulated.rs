//! The sample events through the real `bootstrap` binary under cargo lambda's emulator
//! (`emulator.rs`): a check, a manual then an emergency rotation, the four steps, and an SNS
//! alert for a failing target, each against the stand-ins and moto; and step events for secrets
//! that are not the deployment's own, refused before any call to Entra, with an alert.

use crate::admission::{
    assert_refused, assert_untouched, foreign_copy, foreign_secret, rotator_document, step_for,
};
use crate::emulator;
use crate::harness::{
    alert_topic, assert_first_action, assert_jamf_holds, begin_rotation, broken_target, event,
    step_event, text, GRAPH_SCOPE, SAMPLE_ROTATION_TOKEN, STEPS,
};
use rotator_engine::ports::AWSCURRENT;
use rotator_testkit::entra::EntraOp;
use rotator_testkit::jamf::JamfOp;
use secrecy::ExposeSecret;
use serde_json::Value;

#[tokio::test]
async fn emulated_check_rotates_a_due_target_prints_metrics_and_refuses_a_malformed_event() {
    let (w, f) = emulator::for_one_target(10).await;

    let response = f.invoke(&event("scheduled-check.json")).await;

    assert_first_action(&response, "rotated");
    assert_ne!(
        w.entra.passwords(&w.app.object_id)[0].key_id,
        w.initial_key_id
    );
    f.assert_printed(
        &[("DaysUntilExpiry", 179.0), ("RotationSucceeded", 1.0)],
        &w.secret_id,
    )
    .await;
    assert!(
        f.output().lines().any(|l| l.contains("\"request_id\"")),
        "log lines carry the request id:\n{}",
        f.output()
    );
    w.assert_invariant().await;

    let after = w.store.describe(&w.secret_id).await.unwrap();
    let refused = f.invoke(&event("malformed.json")).await;
    assert_eq!(refused["errorType"], "NonRetryable", "{refused}");
    assert!(
        refused["errorMessage"]
            .as_str()
            .unwrap()
            .contains("unknown action \"rotate-everything\""),
        "{refused}"
    );
    assert_eq!(
        w.store.describe(&w.secret_id).await.unwrap().versions,
        after.versions,
        "a malformed event changes nothing"
    );
    assert_eq!(w.entra.count(EntraOp::AddPassword), 1);
    f.assert_no_leaks(&w, &[&text(&response)]);
}

#[tokio::test]
async fn emulated_step_events_complete_a_rotation() {
    let (w, f) = emulator::for_one_target(300).await;
    let token = begin_rotation(&w).await;

    for step in STEPS {
        let r = f.invoke(&step_event(step, &w, &token)).await;
        assert_eq!(r["ok"], true, "{step}: {r}");
    }

    assert!(w
        .store
        .describe(&w.secret_id)
        .await
        .unwrap()
        .has(&token, AWSCURRENT));
    assert_jamf_holds(&w, &w.current_doc().await);
    assert!(
        !f.output().contains(SAMPLE_ROTATION_TOKEN),
        "the RotationToken is never logged"
    );
    w.assert_invariant().await;
    f.assert_no_leaks(&w, &[]);
}

#[tokio::test]
async fn emulated_check_leaves_a_target_far_from_expiry_alone_and_prints_its_metric() {
    let (w, f) = emulator::for_one_target(90).await;

    let response = f.invoke(&event("scheduled-event-classic.json")).await;

    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
    assert_first_action(&response, "none");
    f.assert_printed(&[("DaysUntilExpiry", 89.0)], &w.secret_id)
        .await;
    f.assert_no_leaks(&w, &[&text(&response)]);
}

#[tokio::test]
async fn emulated_failing_target_raises_an_sns_alert_without_secrets() {
    let w = emulator::world(90).await;
    let (_, topic, inbox) = alert_topic().await;
    let broken = broken_target(&w).await;
    let f = emulator::start(&w, &[&broken, &w.secret_id], Some(&topic)).await;

    let response = f.invoke(&event("scheduled-check.json")).await;

    // A function error: what the Errors alarm and the OnFailure queue see.
    assert_eq!(response["errorType"], "NonRetryable", "{response}");
    let message = response["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "check: 1 of 2 targets failed: {broken} (document)"
        )),
        "{message}"
    );
    let notes = inbox.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["Subject"], format!("Check failed: {broken}"));
    // The other target was still checked.
    f.assert_printed(&[("DaysUntilExpiry", 89.0)], &w.secret_id)
        .await;
    f.assert_no_leaks(&w, &[&text(&response), &text(&Value::Array(notes))]);
}

#[tokio::test]
async fn emulated_manual_then_emergency_rotation() {
    let (w, f) = emulator::for_one_target(300).await;

    let manual = f.invoke(&event("rotate-manual.json")).await;
    assert_eq!(manual["report"]["outcome"], "rotated", "{manual}");
    let second = w
        .current_doc()
        .await
        .entra
        .client_secret
        .expose_secret()
        .to_string();
    let emergency = f.invoke(&event("rotate-emergency.json")).await;

    assert_eq!(emergency["report"]["outcome"], "rotated", "{emergency}");
    assert_eq!(emergency["report"]["old_removed"], true);
    assert!(
        !w.entra.accepts(&w.app.client_id, &second, GRAPH_SCOPE),
        "the replaced secret no longer works"
    );
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    w.assert_invariant().await;
    f.assert_no_leaks(&w, &[&text(&manual), &text(&emergency)]);
}

#[tokio::test]
async fn emulated_step_event_for_a_copy_of_a_targets_document_is_refused_before_entra_and_alerts() {
    let w = emulator::world(300).await;
    let (_, topic, inbox) = alert_topic().await;
    let f = emulator::start(&w, &[&w.secret_id], Some(&topic)).await;
    // Someone copies the target's document into a secret of their own and begins a rotation
    // of it (an AWSPENDING of its own), then sends the function its createSecret.
    let (foreign, token) = foreign_copy(&w).await;
    let before = w.store.describe(&foreign).await.unwrap();
    let entra_before = w.entra.requests();

    let refused = f.invoke(&step_for("createSecret", &foreign, &token)).await;

    assert_eq!(refused["errorType"], "NonRetryable", "{refused}");
    assert_refused(
        refused["errorMessage"].as_str().unwrap(),
        &foreign,
        "is not one of this deployment's targets",
    );
    assert_untouched(&w, &foreign, &before, &entra_before).await;
    let notes = inbox.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0]["Subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("Refused: arn:aws:secretsmanager:")),
        "{notes:?}"
    );
    let message = notes[0]["Message"].as_str().unwrap();
    assert!(
        message.contains(&format!("Target: {foreign}\n")) && message.contains("Kind: refused"),
        "{message}"
    );
    f.assert_no_leaks(&w, &[&text(&refused), &text(&Value::Array(notes))]);
}

#[tokio::test]
async fn emulated_step_event_for_a_target_holding_a_rotator_document_is_refused_before_entra() {
    let w = emulator::world(300).await;
    let (_, topic, inbox) = alert_topic().await;
    // A secret among the targets (named by mistake, or tagged by someone who may tag) holding
    // the rotator's own document: rotating it would hand out a credential of the rotator's app.
    let (squatter, token) = foreign_secret(&w, &rotator_document(&w, &w.rotator_client_id)).await;
    let f = emulator::start(&w, &[&w.secret_id, &squatter], Some(&topic)).await;
    let before = w.store.describe(&squatter).await.unwrap();
    let entra_before = w.entra.requests();

    let refused = f.invoke(&step_for("createSecret", &squatter, &token)).await;

    assert_eq!(refused["errorType"], "NonRetryable", "{refused}");
    assert_refused(
        refused["errorMessage"].as_str().unwrap(),
        &squatter,
        "holds a rotator document",
    );
    assert_untouched(&w, &squatter, &before, &entra_before).await;
    let rotator_app = w.entra.object_id_of(&w.rotator_client_id).unwrap();
    assert_eq!(w.entra.passwords(&rotator_app).len(), 1);
    let notes = inbox.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0]["Message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("Target: {squatter}\n"))),
        "{notes:?}"
    );
    f.assert_no_leaks(&w, &[&text(&refused), &text(&Value::Array(notes))]);
}
