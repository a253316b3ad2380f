//! A Jamf Pro server whose Conditional Access page is hostile (thousands of small forms,
//! controls and labels): that target fails with the cap it broke, quickly, and the check's
//! other targets are checked and rotated as usual.

use crate::common::{spawn_world_on_memory, TestWorld};
use rotator_engine::clock::Clock;
use rotator_engine::config::Cloud;
use rotator_engine::ports::SecretStore;
use rotator_lambda::{route, Function, LambdaError, Targets};
use rotator_testkit::jamf_web::{CaSettings, Layout};
use rotator_testkit::memory_store::MemoryStore;
use secrecy::ExposeSecret;
use std::sync::Arc;

/// Bytes of hostile forms before the edit form: some 900 forms, far more than the cap (small
/// enough that a debug build on a busy machine reads it well within the time limit).
const HOSTILE_BYTES: usize = 128 * 1024;

/// A conditional-access target on the world's app and Jamf Pro server, due for rotation, whose
/// edit page carries [`HOSTILE_BYTES`] of hostile forms. Returns its secret id.
async fn hostile_intune_target(w: &TestWorld, store: &MemoryStore) -> String {
    let (key, secret) = w.entra.seed_password(
        &w.app.object_id,
        "Intune integration, set by hand",
        w.clock.now() + chrono::Duration::days(10),
    );
    let password = format!("Pw-{}", uuid::Uuid::new_v4().simple());
    w.jamf.add_user("svc-intune", &password);
    w.jamf.web().configure(CaSettings {
        enabled: true,
        cloud: Cloud::Global,
        domain: "contoso.onmicrosoft.com".into(),
        application_id: w.app.client_id.clone(),
        secret: secret.expose_secret().to_string(),
    });
    w.jamf.web().set_layout(Layout {
        hostile_bytes: HOSTILE_BYTES,
        ..Layout::default()
    });
    let id = format!("{}-intune", w.secret_id);
    let creds = format!("{id}/jamf-credentials");
    let mut doc = w.current_doc().await;
    let jamf_url = doc.jamf.url.as_ref().map(|u| u.to_string());
    store.insert(
        &creds,
        &serde_json::json!({"username": "svc-intune", "password": password, "jamf_url": jamf_url})
            .to_string(),
    );
    doc.entra.client_secret = secret;
    doc.entra.key_id = Some(key);
    doc.jamf.target = rotator_engine::document::TargetKind::ConditionalAccess;
    doc.jamf.credentials_secret_id = creds;
    store.insert(&id, doc.to_secret().expose_secret());
    id
}

/// On a current-thread runtime, as in the Lambda: the hostile target fails naming the forms cap
/// and its page (none of the page quoted), the SMTP target beside it is rotated, and nothing of
/// the hostile target changed.
#[tokio::test(flavor = "current_thread")]
async fn a_hostile_page_fails_its_target_and_the_other_targets_complete() {
    let (w, store) = spawn_world_on_memory(10).await;
    let hostile = hostile_intune_target(&w, &store).await;
    let intune_before = w.jamf.web().secret();
    let hostile_doc_before = store.value_at(&hostile, "AWSCURRENT").await.unwrap();
    let f = Function::new(
        w.engine.clone(),
        Targets::Ids(vec![hostile.clone(), w.secret_id.clone()]),
    )
    .with_parallelism(2)
    .with_metrics(Arc::new(|_: &str| {}));

    let report = match route(&f, serde_json::json!({"action": "check"})).await {
        Err(LambdaError::CheckFailed {
            failed: 1,
            targets: 2,
            report,
            ..
        }) => report,
        other => panic!("one failed target of two: {other:?}"),
    };
    let results = report["results"].as_array().unwrap();
    let of = |id: &str| {
        results
            .iter()
            .find(|r| r["secret_id"] == id)
            .unwrap_or_else(|| panic!("{id} in {report}"))
    };
    let failed = of(&hostile);
    let error = failed.to_string();
    assert_eq!(failed["ok"], false, "{failed}");
    assert!(
        error.contains("GET /ConditionalAccess.html")
            && error.contains(&format!(
                "more than {} forms",
                rotator_adapters::jamf::form::MAX_FORMS
            )),
        "{error}"
    );
    assert!(!error.contains("<form") && error.len() < 2_000, "{error}");
    assert_eq!(
        of(&w.secret_id)["report"]["action"],
        "rotated",
        "the other target completes: {report}"
    );
    assert_eq!(
        w.jamf.web().secret(),
        intune_before,
        "Jamf Pro's Intune secret unchanged"
    );
    assert_eq!(
        store
            .value_at(&hostile, "AWSCURRENT")
            .await
            .unwrap()
            .map(|(v, s)| (v, s.expose_secret().to_string())),
        hostile_doc_before.map(|(v, s)| (v, s.expose_secret().to_string())),
        "the hostile target's document unchanged"
    );
    w.assert_no_leaks(&[&report.to_string()]);
}
