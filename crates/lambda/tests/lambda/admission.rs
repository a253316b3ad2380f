//! Which secrets an event may make the function act for, through `lambda::route`: a step event
//! or a rotate request naming a secret that is not one of the deployment's targets (a copy of a
//! target's document, with its own `AWSPENDING`: the confused deputy) is refused before any call
//! to Entra, changes nothing and alerts; a `rotator` document is accepted only in the rotator's
//! own credential secret, naming the rotator's own app; a rotate request's reason is bounded.
//! The same refusals through the real `bootstrap` are in `emulated.rs`.

use crate::common::{moto, TestWorld};
use crate::harness::{event, spawn, text};
use rotator_engine::ports::{AlertKind, SecretInfo, AWSCURRENT};
use rotator_lambda::{route, Function, LambdaError, Targets};
use rotator_testkit::jamf::JamfOp;
use rotator_testkit::RecordedRequest;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::sync::Arc;

/// A secret that is not `w`'s target but holds a copy of its `AWSCURRENT` document, with a
/// rotation begun on it (an empty `AWSPENDING` for a new token), as anyone who may create a
/// secret and call `RotateSecret` can make: `(its ARN, the token)`.
pub async fn foreign_copy(w: &TestWorld) -> (String, String) {
    let (_, doc) = w
        .store
        .value_at(&w.secret_id, AWSCURRENT)
        .await
        .unwrap()
        .unwrap();
    foreign_secret(w, &doc).await
}

/// A secret of someone else's holding `value`, with a rotation begun on it: `(ARN, token)`.
pub async fn foreign_secret(w: &TestWorld, value: &SecretString) -> (String, String) {
    let id = moto::unique("not-a-target");
    w.store.create(&id, value, "someone else's").await.unwrap();
    let token = uuid::Uuid::new_v4().to_string();
    moto::begin_rotation(&moto::secrets_client().await, &id, &token).await;
    (w.store.describe(&id).await.unwrap().arn, token)
}

/// A `rotator` document (the rotator's own credential) naming the app `client_id`.
pub fn rotator_document(w: &TestWorld, client_id: &str) -> SecretString {
    let doc = json!({"schema": 1, "jamf": {"target": "rotator"}, "entra": {
        "tenant_id": rotator_testkit::world::TENANT_ID, "client_id": client_id,
        "client_secret": w.secrets[1].expose_secret()}});
    SecretString::from(doc.to_string())
}

/// `step` for `secret_id` and `token`, as Secrets Manager sends it.
pub fn step_for(step: &str, secret_id: &str, token: &str) -> Value {
    let mut e = event(&format!("secretsmanager-{step}.json"));
    e["SecretId"] = secret_id.into();
    e["ClientRequestToken"] = token.into();
    e
}

/// What a refusal must leave: `secret_id`'s versions as `before`, no request of any kind to
/// Entra beyond `entra_before`, the Jamf app's credentials and Jamf Pro untouched.
pub async fn assert_untouched(
    w: &TestWorld,
    secret_id: &str,
    before: &SecretInfo,
    entra_before: &[RecordedRequest],
) {
    assert_eq!(
        w.store.describe(secret_id).await.unwrap().versions,
        before.versions,
        "the secret's versions are unchanged"
    );
    let asked: Vec<String> = w.entra.requests()[entra_before.len()..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(asked.is_empty(), "no request to Entra or Graph: {asked:?}");
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(
        creds.iter().map(|c| c.key_id.as_str()).collect::<Vec<_>>(),
        [w.initial_key_id.as_str()],
        "the Jamf app's credentials are unchanged"
    );
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
}

/// Checks `err` is the refusal of `secret_id` for a reason containing `why`.
pub fn assert_refused(err: &str, secret_id: &str, why: &str) {
    assert!(
        err.starts_with(&format!("refused {secret_id}: ")) && err.contains(why),
        "{err}"
    );
}

#[tokio::test]
async fn a_step_event_for_a_copy_of_a_targets_document_is_refused_before_entra_and_alerts() {
    let (w, h) = spawn(10).await;
    let (foreign, token) = foreign_copy(&w).await;
    let before = w.store.describe(&foreign).await.unwrap();
    let entra_before = w.entra.requests();

    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let err = h
            .invoke(step_for(step, &foreign, &token))
            .await
            .unwrap_err();

        assert!(matches!(err, LambdaError::Refused { .. }), "{err:?}");
        assert_refused(
            &err.to_string(),
            &foreign,
            "is not one of this deployment's targets",
        );
        assert_eq!(err.error_type(), "NonRetryable");
    }

    assert_untouched(&w, &foreign, &before, &entra_before).await;
    let alerts = w.alerts.sent();
    assert_eq!(alerts.len(), 4, "one alert per refused event: {alerts:?}");
    assert_eq!(alerts[0].kind, AlertKind::Refused);
    assert_eq!(alerts[0].target, foreign);
    assert!(
        alerts[0]
            .message
            .starts_with(&format!("Target: {foreign}\n"))
            && alerts[0].message.contains("What to do:"),
        "{}",
        alerts[0].message
    );
    assert!(
        h.metrics().is_empty(),
        "a refusal is no rotation: no RotationFailed ({:?})",
        h.metrics()
    );
    w.assert_no_leaks(&[&text(&json!(alerts))]);
}

#[tokio::test]
async fn a_rotate_request_for_a_secret_that_is_not_a_target_is_refused_and_alerts() {
    let (w, h) = spawn(10).await;
    let (foreign, _) = foreign_copy(&w).await;
    let before = w.store.describe(&foreign).await.unwrap();
    let entra_before = w.entra.requests();
    let mut e = event("rotate-manual.json");
    e["secret_id"] = foreign.clone().into();

    let err = h.invoke(e).await.unwrap_err();

    assert_refused(
        &err.to_string(),
        &foreign,
        "is not one of this deployment's targets",
    );
    assert_untouched(&w, &foreign, &before, &entra_before).await;
    assert_eq!(w.alerts.sent()[0].kind, AlertKind::Refused);
}

#[tokio::test]
async fn a_target_holding_a_rotator_document_is_refused_before_entra() {
    let (w, _) = spawn(10).await;
    let (squatter, token) = foreign_secret(&w, &rotator_document(&w, &w.rotator_client_id)).await;
    let h = crate::harness::Harness::new(
        w.engine.clone(),
        vec![w.secret_id.clone(), squatter.clone()],
    );
    let before = w.store.describe(&squatter).await.unwrap();
    let entra_before = w.entra.requests();

    let err = h
        .invoke(step_for("createSecret", &squatter, &token))
        .await
        .unwrap_err();

    assert_refused(
        &err.to_string(),
        &squatter,
        "holds a rotator document (the rotator's own credential), which only the secret ROTATOR_CREDENTIALS_SECRET_ID may hold",
    );
    assert_untouched(&w, &squatter, &before, &entra_before).await;
    let rotator_app = w.entra.object_id_of(&w.rotator_client_id).unwrap();
    assert_eq!(
        w.entra.passwords(&rotator_app).len(),
        1,
        "the rotator's app has no new credential"
    );
    assert_eq!(w.alerts.sent()[0].kind, AlertKind::Refused);
    w.assert_no_leaks(&[&err.to_string()]);
}

#[tokio::test]
async fn the_rotators_own_credential_is_admitted_only_with_rotator_documents_naming_its_app() {
    let (w, _) = spawn(10).await;
    let own = &w.rotator_credentials_id;
    // Self-rotation: the credential secret holds the rotator's own document. (One naming another
    // app as AWSCURRENT fails every invocation at sign-in already: see `Function::refreshed`.)
    w.store
        .put_current(own, &rotator_document(&w, &w.rotator_client_id))
        .await
        .unwrap();
    let f = Function::new(w.engine.clone(), Targets::Ids(vec![w.secret_id.clone()]))
        .with_metrics(Arc::new(|_: &str| {}))
        .with_own_secret(Some(own.clone()), &w.settings);
    // A rotation of it whose AWSPENDING names the Jamf app instead: a forged pending document.
    let token = uuid::Uuid::new_v4().to_string();
    let sm = moto::secrets_client().await;
    moto::begin_rotation(&sm, own, &token).await;
    sm.put_secret_value()
        .secret_id(own)
        .client_request_token(&token)
        .secret_string(rotator_document(&w, &w.app.client_id).expose_secret())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    let before = w.store.describe(own).await.unwrap();
    let entra_before = w.entra.requests();

    let err = route(&f, step_for("setSecret", own, &token))
        .await
        .unwrap_err()
        .to_string();

    assert_refused(
        &err,
        own,
        &format!(
            "its rotator document names the app {}, which is not ROTATOR_CLIENT_ID ({})",
            w.app.client_id, w.rotator_client_id
        ),
    );
    assert_untouched(&w, own, &before, &entra_before).await;
    assert_eq!(w.alerts.sent()[0].kind, AlertKind::Refused);
    w.assert_no_leaks(&[&err]);
}

#[tokio::test]
async fn the_rotate_requests_reason_is_at_most_200_printable_characters() {
    let (w, h) = spawn(10).await;
    let before = w.store.describe(&w.secret_id).await.unwrap();
    let entra_before = w.entra.requests();

    for (reason, problem) in [
        (
            "x".repeat(201),
            "\"reason\" has 201 characters; at most 200 are accepted",
        ),
        (
            "leaked\nWhat to do: nothing".to_string(),
            "\"reason\" holds a control or formatting character (U+000A)",
        ),
    ] {
        let mut e = event("rotate-manual.json");
        e["reason"] = reason.into();
        let err = h.invoke(e).await.unwrap_err();
        assert!(matches!(err, LambdaError::BadEvent(_)), "{err:?}");
        assert!(err.to_string().contains(problem), "{err}");
    }

    assert_untouched(&w, &w.secret_id, &before, &entra_before).await;
    assert!(w.alerts.sent().is_empty());
    // The same event with a reason of 200 characters rotates.
    let mut e = event("rotate-manual.json");
    e["reason"] = "y".repeat(200).into();
    assert_eq!(h.invoke(e).await.unwrap()["report"]["outcome"], "rotated");
}

#[tokio::test]
async fn a_check_refuses_a_target_holding_a_rotator_document_before_entra_and_checks_the_others() {
    let (w, _) = spawn(90).await;
    let (squatter, _) = foreign_secret(&w, &rotator_document(&w, &w.rotator_client_id)).await;
    let h = crate::harness::Harness::new(
        w.engine.clone(),
        vec![squatter.clone(), w.secret_id.clone()],
    )
    .with_parallelism_of(1);
    let rotator_app = w.entra.object_id_of(&w.rotator_client_id).unwrap();

    let err = h.invoke(event("scheduled-check.json")).await.unwrap_err();

    let LambdaError::CheckFailed { report, .. } = &err else {
        panic!("not a failed check: {err}")
    };
    let refused = &report["results"][0];
    assert_eq!(refused["error_class"], "document", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("refused: it holds a rotator document"),
        "{refused}"
    );
    assert_eq!(
        report["results"][1]["ok"], true,
        "the other target is checked"
    );
    let asked_about_the_rotator = w
        .entra
        .requests()
        .iter()
        .any(|r| r.path.contains(&rotator_app) || r.path.contains(&w.rotator_client_id));
    assert!(
        !asked_about_the_rotator,
        "nothing asked of Graph about the rotator's app"
    );
    assert_eq!(w.entra.passwords(&rotator_app).len(), 1);
    let alerts = w.alerts.sent();
    assert_eq!(
        alerts
            .iter()
            .map(|a| (a.kind, a.target.as_str()))
            .collect::<Vec<_>>(),
        [(AlertKind::Refused, squatter.as_str())],
        "{alerts:?}"
    );
    w.assert_no_leaks(&[&text(report)]);
}
