//! What an invocation through `lambda::route` may touch: a malformed event is refused with
//! nothing changed, a rotation must name one of the deployment's targets (or the only one),
//! targets may be found by tag, and a target that fails its check raises an SNS alert while the
//! others are still checked.

use crate::common::{moto, spawn_world_on_moto};
use crate::harness::{
    alert_topic, assert_one_check_failed, assert_unchanged, broken_target, event, spawn,
    step_event, text, Harness,
};
use rotator_adapters::sns::SnsAlerts;
use rotator_engine::rotation::Engine;
use rotator_lambda::{route, Function, LambdaError, Targets};
use rotator_testkit::entra::EntraOp;
use serde_json::Value;
use std::sync::Arc;

#[tokio::test]
async fn a_malformed_event_is_refused_with_a_clear_error_and_changes_nothing() {
    let (w, h) = spawn(10).await;
    let before = w.store.describe(&w.secret_id).await.unwrap();

    let err = h.invoke(event("malformed.json")).await.unwrap_err();

    assert!(matches!(err, LambdaError::BadEvent(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("unknown action \"rotate-everything\""),
        "{err}"
    );
    assert_eq!(err.error_type(), "NonRetryable");
    // A step event for a version that is not pending is refused too.
    let stray = step_event("setSecret", &w, &uuid::Uuid::new_v4().to_string());
    let err = h.invoke(stray).await.unwrap_err();
    assert!(
        err.to_string().contains("is not a version of secret"),
        "{err}"
    );
    assert_unchanged(&w, &before).await;
    assert!(h.metrics().is_empty() && w.alerts.sent().is_empty());
}

#[tokio::test]
async fn a_rotate_event_for_a_secret_that_is_not_a_target_is_refused() {
    let (w, h) = spawn(10).await;
    let mut e = event("rotate-manual.json");
    e["secret_id"] = w.jamf_credentials_id.clone().into();

    let err = h.invoke(e).await.unwrap_err();

    assert!(
        err.to_string()
            .contains("is not one of this deployment's targets"),
        "{err}"
    );
    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    let two = Harness::new(
        w.engine.clone(),
        vec![w.secret_id.clone(), "another".into()],
    );
    let err = two.invoke(event("rotate-manual.json")).await.unwrap_err();
    assert!(
        err.to_string().contains("has 2 targets; name the one"),
        "{err}"
    );
}

#[tokio::test]
async fn targets_found_by_tag_are_checked_and_a_manual_rotation_may_name_one_by_name() {
    let w = spawn_world_on_moto(10).await;
    let key = moto::unique("rotator-target");
    let tag = aws_sdk_secretsmanager::types::Tag::builder()
        .key(&key)
        .value("prod")
        .build();
    moto::secrets_client()
        .await
        .tag_resource()
        .secret_id(&w.secret_id)
        .tags(tag)
        .send()
        .await
        .expect("TagResource");
    let arn = w.store.describe(&w.secret_id).await.unwrap().arn;
    let targets = Targets::Tagged {
        key,
        value: Some("prod".into()),
    };
    let f = Function::new(w.engine.clone(), targets).with_metrics(Arc::new(|_: &str| {}));

    let status = route(&f, event("status.json")).await.unwrap();

    assert_eq!(status["targets"], 1);
    assert_eq!(
        status["results"][0]["secret_id"].as_str(),
        Some(arn.as_str())
    );
    let mut e = event("rotate-manual.json");
    e["secret_id"] = w.secret_id.clone().into();
    let rotated = route(&f, e).await.unwrap();
    assert_eq!(rotated["report"]["outcome"], "rotated");
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&status), &text(&rotated)]);
}

#[tokio::test]
async fn a_failing_target_raises_an_sns_alert_without_secrets_and_the_others_are_still_checked() {
    let w = spawn_world_on_moto(10).await;
    let (sns, topic, inbox) = alert_topic().await;
    let e = &w.engine;
    let engine = Engine::new(
        e.directory.clone(),
        e.targets.clone(),
        e.store.clone(),
        Arc::new(SnsAlerts::new(sns, topic)),
        e.clock.clone(),
        e.policy.clone(),
    );
    let broken = broken_target(&w).await;
    let h = Harness::new(engine, vec![broken.clone(), w.secret_id.clone()]).with_parallelism_of(1);

    let error = h.invoke(event("scheduled-check.json")).await.unwrap_err();

    // The invocation fails (an asynchronous invocation's response is read by nobody), naming
    // the failed target; the whole response travels with the error.
    let LambdaError::CheckFailed { report, .. } = &error else {
        panic!("not a failed check: {error}")
    };
    let response = report.clone();
    assert!(
        error.to_string().starts_with(&format!(
            "check: 1 of 2 targets failed: {broken} (document)"
        )),
        "{error}"
    );
    assert_eq!(
        error.error_type(),
        "NonRetryable",
        "the next scheduled check is the retry"
    );
    let notes = inbox.notifications().await;
    assert_one_check_failed(&response, &notes, &broken);
    let results = response["results"].as_array().unwrap();
    assert_eq!(
        (results[0]["secret_id"].as_str(), results[0]["ok"].as_bool()),
        (Some(broken.as_str()), Some(false))
    );
    assert_eq!(results[0]["error_class"], "document");
    assert_eq!(
        (
            results[1]["ok"].as_bool(),
            results[1]["report"]["action"].as_str()
        ),
        (Some(true), Some("rotated"))
    );
    let message = notes[0]["Message"].as_str().unwrap();
    assert!(
        message.contains(&format!("Target: {broken}")) && message.contains("What to do:"),
        "{message}"
    );
    assert_eq!(h.metric("RotationSucceeded", Some(&w.secret_id)), [1.0]);
    assert!(h.metric("DaysUntilExpiry", Some(&broken)).is_empty());
    assert!(
        !h.metric("DaysUntilExpiry", Some(&w.secret_id)).is_empty(),
        "the healthy target reports its days"
    );
    assert!(
        h.metric("DaysUntilExpiry", None).is_empty(),
        "no fleet minimum that would hide the target whose check failed (the dead man's switch)"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&response), &text(&Value::Array(notes))]);
}
