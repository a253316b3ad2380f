//! The hostile-input corpus: malformed documents, credentials, settings, step requests and server
//! responses. Each case gets a clear error that names the problem, never a panic, and a
//! before/after snapshot of every piece of state (Secrets Manager, the app's credentials, Jamf
//! Pro's settings and secret) shows that nothing changed.

use crate::common;

use common::{spawn_world_on_memory, TestWorld};
use rotator_engine::ports::SecretStore;
use rotator_engine::rotation::{RotateRequest, Step, StepContext};
use rotator_testkit::entra::{Corruption, EntraOp};
use rotator_testkit::memory_store::MemoryStore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// Everything a rotation could change.
async fn state(w: &TestWorld, store: &MemoryStore) -> String {
    format!(
        "{:?}|{:?}|{}|{:?}",
        store.snapshot(),
        w.entra.passwords(&w.app.object_id),
        w.jamf.smtp_settings(),
        w.jamf.smtp_secret()
    )
}

/// Runs the check and a manual rotation; both must fail with an error containing `expect`, and
/// change nothing. Returns the errors (for the leak scan).
async fn refused(w: &TestWorld, store: &MemoryStore, expect: &str) {
    let before = state(w, store).await;
    let check = w.engine.check(&w.secret_id, false).await;
    let rotate = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await;
    let check_err = match &check {
        Err(e) => e.to_string(),
        Ok(r) => r
            .rotation
            .as_ref()
            .and_then(|r| r.error.clone())
            .unwrap_or_else(|| panic!("check accepted it: {:?}", r.action)),
    };
    let rotate_err = match &rotate {
        Err(e) => e.to_string(),
        Ok(r) => r
            .error
            .clone()
            .unwrap_or_else(|| panic!("rotate accepted it: {:?}", r.outcome)),
    };
    for e in [&check_err, &rotate_err] {
        assert!(e.contains(expect), "error {e:?} must name {expect:?}");
    }
    assert_eq!(state(w, store).await, before, "nothing may change");
    w.assert_no_leaks(&[&check_err, &rotate_err]);
}

/// Replaces the target document with `f(document)`.
async fn plant(w: &TestWorld, store: &MemoryStore, f: impl FnOnce(&mut Value) -> Option<String>) {
    let (_, v) = store
        .value_at(&w.secret_id, "AWSCURRENT")
        .await
        .unwrap()
        .unwrap();
    let mut doc: Value = serde_json::from_str(v.expose_secret()).unwrap();
    let text = f(&mut doc).unwrap_or_else(|| doc.to_string());
    store
        .put_current(&w.secret_id, &SecretString::from(text))
        .await
        .unwrap();
}

macro_rules! hostile_document {
    ($($name:ident: $expect:literal => $mutate:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let (w, store) = spawn_world_on_memory(10).await;
            plant(&w, &store, $mutate).await;
            refused(&w, &store, $expect).await;
        }
    )*};
}

hostile_document! {
    empty_document: "EOF" => |_| Some(String::new());
    document_that_is_not_json: "expected value" => |_| Some("hello".into());
    document_that_is_an_array: "invalid type" => |_| Some("[1,2]".into());
    document_without_entra: "missing field `entra`" => |d| { d.as_object_mut().unwrap().remove("entra"); None };
    document_without_jamf: "missing field `jamf`" => |d| { d.as_object_mut().unwrap().remove("jamf"); None };
    document_of_a_future_schema: "schema 2" => |d| { d["schema"] = 2.into(); None };
    unknown_top_level_field: "unknown field `extra`" => |d| { d["extra"] = 1.into(); None };
    misspelt_entra_field: "unknown field `tenant`" => |d| { d["entra"]["tenant"] = "x".into(); None };
    secret_of_the_wrong_type: "invalid type: integer" => |d| { d["entra"]["client_secret"] = 42.into(); None };
    empty_secret: "entra.client_secret is empty" => |d| { d["entra"]["client_secret"] = "".into(); None };
    tenant_with_a_path: "entra.tenant_id" => |d| { d["entra"]["tenant_id"] = "../../common".into(); None };
    empty_client_id: "entra.client_id is empty" => |d| { d["entra"]["client_id"] = " ".into(); None };
    plain_http_jamf_url: "plain http" => |d| { d["jamf"]["url"] = "http://jamf.example.com/".into(); None };
    ftp_jamf_url: "scheme 'ftp'" => |d| { d["jamf"]["url"] = "ftp://jamf.example.com/".into(); None };
    jamf_url_that_is_no_url: "jamf" => |d| { d["jamf"]["url"] = "not a url".into(); None };
    unknown_target_kind: "unknown variant `email`" => |d| { d["jamf"]["target"] = "email".into(); None };
    unknown_cloud: "unknown variant `mars`" => |d| { d["entra"]["cloud"] = "mars".into(); None };
    malformed_expiry: "expires_at" => |d| { d["entra"]["expires_at"] = "next tuesday".into(); None };
    empty_credentials_secret_id: "jamf.credentials_secret_id is empty" => |d| { d["jamf"]["credentials_secret_id"] = "".into(); None };
    oversized_document: "byte limit" => |d| { d["entra"]["client_secret"] = "x".repeat(20_000).into(); None };
    truncated_document: "EOF" => |d| { let s = d.to_string(); Some(s[..s.len() / 2].to_string()) };
}

/// Replaces the Jamf credentials secret.
async fn plant_jamf_credentials(w: &TestWorld, store: &MemoryStore, text: &str) {
    store
        .put_current(
            &w.jamf_credentials_id,
            &SecretString::from(text.to_string()),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn jamf_credentials_that_are_not_json() {
    let (w, store) = spawn_world_on_memory(10).await;
    plant_jamf_credentials(&w, &store, "hunter2-not-json").await;
    refused(&w, &store, "Jamf").await;
}

#[tokio::test]
async fn jamf_credentials_without_a_secret() {
    let (w, store) = spawn_world_on_memory(10).await;
    plant_jamf_credentials(&w, &store, r#"{"client_id":"abc"}"#).await;
    refused(&w, &store, "Jamf").await;
}

#[tokio::test]
async fn graph_answering_html_is_refused() {
    let (w, store) = spawn_world_on_memory(10).await;
    w.entra
        .corrupt_next(EntraOp::GetApplication, 10, Corruption::Html);
    refused(&w, &store, "unexpected response").await;
}

#[tokio::test]
async fn graph_answering_truncated_json_is_refused() {
    let (w, store) = spawn_world_on_memory(10).await;
    w.entra
        .corrupt_next(EntraOp::GetApplication, 10, Corruption::Truncated);
    refused(&w, &store, "unexpected response").await;
}

#[tokio::test]
async fn jamf_configured_for_basic_auth_is_not_changed() {
    let (w, store) = spawn_world_on_memory(10).await;
    let mut s = w.jamf.smtp_settings();
    s["authenticationType"] = "BASIC".into();
    w.jamf.set_smtp_settings(s);
    let before = state(&w, &store).await;
    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert!(
        r.error.as_deref().unwrap().contains("does not match"),
        "{:?}",
        r.error
    );
    assert_eq!(
        w.entra.passwords(&w.app.object_id).len(),
        1,
        "the new credential is removed again"
    );
    assert_eq!(
        w.jamf.smtp_settings(),
        serde_json::from_str::<Value>(before.split('|').nth(2).unwrap()).unwrap()
    );
    w.assert_no_leaks(&[&serde_json::to_string(&r).unwrap()]);
}

#[tokio::test]
async fn jamf_configured_for_another_app_is_not_changed() {
    let (w, store) = spawn_world_on_memory(10).await;
    let mut s = w.jamf.smtp_settings();
    s["graphApiCredentials"]["clientId"] = "99999999-9999-9999-9999-999999999999".into();
    w.jamf.set_smtp_settings(s.clone());
    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("99999999-9999-9999-9999-999999999999"),
        "{:?}",
        r.error
    );
    assert_eq!(w.jamf.smtp_settings(), s);
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    let _ = store;
}

/// A step request whose token is not a pending version of the secret changes nothing.
async fn bad_step(token: impl FnOnce(&TestWorld) -> String, step: Step, expect: &str) {
    let (w, store) = spawn_world_on_memory(10).await;
    let before = state(&w, &store).await;
    let event = rotator_engine::rotation::step_event::StepEvent {
        step,
        secret_id: w.secret_id.clone(),
        token: token(&w),
        rotation_token: None,
        looked: Default::default(),
    };
    let info = store.describe(&w.secret_id).await.unwrap();
    let e = (w.engine.step_event(event, &info).await)
        .unwrap_err()
        .to_string();
    assert!(e.contains(expect), "{e}");
    assert_eq!(state(&w, &store).await, before);
}

#[tokio::test]
async fn step_with_a_token_that_is_no_version() {
    bad_step(
        |_| uuid::Uuid::new_v4().to_string(),
        Step::CreateSecret,
        "is not a version",
    )
    .await;
}

#[tokio::test]
async fn step_with_a_token_that_is_not_pending() {
    let (w, store) = spawn_world_on_memory(10).await;
    store
        .put_current(
            &w.secret_id,
            &store
                .value_at(&w.secret_id, "AWSCURRENT")
                .await
                .unwrap()
                .unwrap()
                .1,
        )
        .await
        .unwrap();
    let info = store.describe(&w.secret_id).await.unwrap();
    let previous = info.version_with("AWSPREVIOUS").unwrap().to_string();
    let before = state(&w, &store).await;
    let ctx = StepContext {
        secret_id: w.secret_id.clone(),
        token: previous,
        rotation_token: None,
        request: RotateRequest::default(),
        driver: rotator_engine::rotation::Driver::SecretsManager,
        holder: rotator_engine::rotation::holder::Holder::new(),
        looked: Default::default(),
    };
    let e = w
        .engine
        .run_step(Step::SetSecret, &ctx)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not AWSPENDING"), "{e}");
    assert_eq!(state(&w, &store).await, before);
}

#[tokio::test]
async fn a_step_that_is_not_a_rotation_step() {
    bad_step(|w| w.secret_id.clone(), Step::Check, "not a rotation step").await;
}

#[tokio::test]
async fn step_for_a_secret_that_does_not_exist() {
    let (w, store) = spawn_world_on_memory(10).await;
    let before = state(&w, &store).await;
    let ctx = StepContext {
        secret_id: "no-such-secret".into(),
        token: "t".into(),
        rotation_token: None,
        request: RotateRequest::default(),
        driver: rotator_engine::rotation::Driver::SecretsManager,
        holder: rotator_engine::rotation::holder::Holder::new(),
        looked: Default::default(),
    };
    let e = w
        .engine
        .run_step(Step::CreateSecret, &ctx)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not found"), "{e}");
    assert_eq!(state(&w, &store).await, before);
}
