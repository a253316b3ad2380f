//! A target document is bound to what it may touch: its Jamf credentials go only to the Jamf
//! origin they name, `AWSPENDING` may differ from `AWSCURRENT` only in the credential and the
//! rotation record, a lockdown flag found in a document removes nothing, and URLs are https
//! without user-info (plain http to loopback only where `ALLOW_LOOPBACK_HTTP` allows it).
//! Each refusal is clear and changes nothing: the app's credentials and the secret's versions
//! stay as they were, and nothing reaches the foreign host.

use crate::common;

use common::tripwire::{wired, Tripwire, When};
use common::TestWorld;
use rotator_engine::clock::Clock;
use rotator_engine::document::{RotationRecord, TargetDocument};
use rotator_engine::ports::{AlertKind, AWSCURRENT};
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::Engine;
use rotator_testkit::jamf::{JamfSim, JamfSimConfig};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The version a tampered `AWSPENDING` is written to (a Secrets Manager token: 32-64 characters).
const TAMPERED: &str = "7a3f0c1e-0000-4000-8000-00000000beef";

/// What a refusal must leave as it was: the app's key ids and the secret's versions and stages.
async fn state(w: &TestWorld) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let mut keys: Vec<String> = (w.entra.passwords(&w.app.object_id).into_iter())
        .map(|c| c.key_id)
        .collect();
    keys.sort();
    let info = w.store.describe(&w.secret_id).await.unwrap();
    let mut versions: BTreeMap<String, Vec<String>> = info.versions.into_iter().collect();
    versions.values_mut().for_each(|stages| stages.sort());
    (keys, versions)
}

/// Another Jamf Pro server (the foreign host a tampered document names).
async fn foreign_jamf(w: &TestWorld) -> JamfSim {
    JamfSim::start(
        JamfSimConfig {
            entra_login_url: w.entra.url(),
            tenant_id: rotator_testkit::world::TENANT_ID.into(),
            client_id: w.app.client_id.clone(),
            secret: SecretString::from("the-foreign-servers-own".to_string()),
            cloud: rotator_engine::config::Cloud::Global,
        },
        w.world.clock.clone(),
    )
    .await
}

/// Writes `doc` as a new `AWSCURRENT` of the target (a `PutSecretValue` by someone else).
async fn put_current(w: &TestWorld, doc: &TargetDocument) {
    w.store
        .put_current(&w.secret_id, &doc.to_secret())
        .await
        .unwrap();
}

/// Runs the check (with `engine`) and returns its rotation's error: it must have failed (a
/// createSecret refused before anything was made reports "rolled back" with nothing to undo).
async fn failed_rotation_with(w: &TestWorld, engine: &Engine) -> String {
    let report = engine.check(&w.secret_id, false).await.unwrap();
    let rotation = report.rotation.expect("the due target was rotated");
    assert!(
        matches!(rotation.outcome, Outcome::Failed | Outcome::RolledBack),
        "{rotation:?}"
    );
    rotation.error.unwrap()
}

/// [`failed_rotation_with`] the world's engine.
async fn failed_rotation(w: &TestWorld) -> String {
    failed_rotation_with(w, &w.engine).await
}

#[tokio::test]
async fn a_document_naming_a_foreign_jamf_url_is_refused_and_nothing_reaches_that_host() {
    let w = common::spawn_world_on_moto(10).await;
    let foreign = foreign_jamf(&w).await;
    let mut doc = w.current_doc().await;
    doc.jamf.url = Some(foreign.url());
    put_current(&w, &doc).await;
    let before = state(&w).await;

    let e = failed_rotation(&w).await;

    let (ours, theirs) = (w.jamf.url().origin(), foreign.url().origin());
    assert!(
        e.contains(&ours.ascii_serialization())
            && e.contains(&theirs.ascii_serialization())
            && e.contains(&w.jamf_credentials_id),
        "{e}"
    );
    assert_eq!(state(&w).await, before, "nothing changed");
    assert!(
        foreign.requests().is_empty(),
        "nothing reached the foreign host"
    );
    assert!(w.jamf_secret_works());
    w.assert_no_leaks(&[&e]);
}

#[tokio::test]
async fn jamf_credentials_without_jamf_url_are_refused_naming_the_fix() {
    let w = common::spawn_world_on_moto(10).await;
    let (_, creds) = (w.store.value_at(&w.jamf_credentials_id, AWSCURRENT).await)
        .unwrap()
        .unwrap();
    let mut unbound: serde_json::Value = serde_json::from_str(creds.expose_secret()).unwrap();
    unbound.as_object_mut().unwrap().remove("jamf_url");
    let unbound = SecretString::from(unbound.to_string());
    w.store
        .put_current(&w.jamf_credentials_id, &unbound)
        .await
        .unwrap();
    let jamf_requests = w.jamf.requests().len();
    let before = state(&w).await;

    let e = failed_rotation(&w).await;

    assert!(
        e.contains("\"jamf_url\"")
            && e.contains(&format!(
                "bind-credentials --secret-id {}",
                w.jamf_credentials_id
            )),
        "{e}"
    );
    assert_eq!(state(&w).await, before, "nothing changed");
    assert_eq!(
        w.jamf.requests().len(),
        jamf_requests,
        "nothing sent to Jamf Pro"
    );
    w.assert_no_leaks(&[&e]);
}

#[tokio::test]
async fn a_tampered_awspending_is_refused_naming_the_fields_and_nothing_changes() {
    let w = common::spawn_world_on_moto(10).await;
    let foreign = foreign_jamf(&w).await;
    let current = w.current_doc().await;
    let mut pending = current.clone();
    pending.jamf.url = Some(foreign.url());
    pending.jamf.credentials_secret_id = "jamf/another-servers-credentials".into();
    pending.rotation = Some(RotationRecord {
        token: TAMPERED.into(),
        replaces_key_id: current.entra.key_id.clone(),
        reason: "scheduled".into(),
        started_at: w.clock.now(),
        revoke_old: Default::default(),
        lockdown: false,
        lockdown_siblings: Vec::new(),
    });
    w.store
        .put_pending(&w.secret_id, TAMPERED, &pending.to_secret(), None)
        .await
        .unwrap();
    let before = state(&w).await;

    // The check finds the rotation half done and resumes it: setSecret reads both documents.
    let e = failed_rotation(&w).await;

    assert!(
        e.contains("AWSPENDING")
            && e.contains("jamf.url, jamf.credentials_secret_id")
            && !e.contains(foreign.url().host_str().unwrap_or("?")),
        "{e}"
    );
    assert_eq!(
        state(&w).await,
        before,
        "nothing changed, AWSPENDING included"
    );
    assert!(
        foreign.requests().is_empty(),
        "nothing reached the foreign host"
    );
    assert!(w.jamf_secret_works());
    w.assert_no_leaks(&[&e]);
}

#[tokio::test]
async fn a_forged_lockdown_flag_makes_the_next_check_remove_nothing_and_alert() {
    let w = common::spawn_world_on_moto(200).await;
    let (stray, _) = w.entra.seed_password(
        &w.app.object_id,
        "someone's test secret",
        w.clock.now() + chrono::Duration::days(300),
    );
    let mut doc = w.current_doc().await;
    doc.rotation = Some(RotationRecord {
        token: "forged".into(),
        replaces_key_id: None,
        reason: "manual: leaked".into(),
        started_at: w.clock.now() + chrono::Duration::seconds(1),
        revoke_old: Default::default(),
        lockdown: true,
        lockdown_siblings: Vec::new(),
    });
    put_current(&w, &doc).await;
    let before = state(&w).await;

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    assert!(report.rotation.is_none(), "not due: no rotation");
    assert_eq!(
        state(&w).await,
        before,
        "the stray {stray} and the rest stay"
    );
    let alert = (w.alerts.sent().into_iter())
        .find(|a| a.subject.starts_with("Lockdown interrupted"))
        .expect("the interrupted lockdown is alerted");
    assert_eq!(alert.kind, AlertKind::Drift);
    assert!(
        alert.message.contains(
            "Lockdown interrupted: 1 other credentials remain on the app; run rotate --lockdown again to remove them"
        ) && alert.message.contains(&stray),
        "{}",
        alert.message
    );
    w.assert_no_leaks(&[]);
}

#[tokio::test]
async fn plain_http_to_loopback_is_refused_without_allow_loopback_http() {
    let w = common::spawn_world_on_moto(10).await;
    // The deployed function's settings: everything as the world's but ALLOW_LOOPBACK_HTTP.
    let settings = rotator_engine::config::Settings {
        loopback_http: rotator_engine::endpoint::LoopbackHttp::Refused,
        ..w.settings.clone()
    };
    let mut engine = w.engine.clone();
    engine.targets = Arc::new(rotator_adapters::jamf::JamfTargets::new(
        w.store.clone(),
        settings,
        w.world.clock.clone(),
    ));
    let jamf_requests = w.jamf.requests().len();
    let before = state(&w).await;

    let e = failed_rotation_with(&w, &engine).await;

    assert!(
        e.contains("plain http") && e.contains("ALLOW_LOOPBACK_HTTP"),
        "{e}"
    );
    assert_eq!(state(&w).await, before, "nothing changed");
    assert_eq!(
        w.jamf.requests().len(),
        jamf_requests,
        "nothing sent to Jamf Pro"
    );
}

#[tokio::test]
async fn a_jamf_url_with_user_info_is_refused_and_not_echoed() {
    let w = common::spawn_world_on_moto(10).await;
    let mut doc = serde_json::to_value(w.current_doc().await).unwrap();
    doc["entra"]["client_secret"] = "a-secret-for-parsing".into();
    let mut url = w.jamf.url();
    url.set_username("admin").unwrap();
    url.set_password(Some("hunter2-pw")).unwrap();
    doc["jamf"]["url"] = url.as_str().into();

    let e = TargetDocument::parse(&doc.to_string())
        .unwrap_err()
        .to_string();

    assert!(
        e.contains("jamf.url") && e.contains("user name or password"),
        "{e}"
    );
    assert!(!e.contains("hunter2-pw") && !e.contains("admin"), "{e}");
}

#[tokio::test]
async fn a_lockdown_flag_written_into_awspending_removes_nothing_when_the_rotation_is_resumed() {
    let w = common::spawn_world_on_moto(10).await;
    let (stray, _) = w.entra.seed_password(
        &w.app.object_id,
        "someone's test secret",
        w.clock.now() + chrono::Duration::days(300),
    );
    // A scheduled rotation dies after it stored AWSPENDING, before Jamf Pro is written.
    let trip = Tripwire::at_call("jamf: write secret", When::Before);
    let engine = wired(&w.engine, trip.clone());
    let id = w.secret_id.clone();
    let mut task = tokio::spawn(async move { engine.check(&id, false).await });
    tokio::select! {
        _ = trip.crashed.notified() => task.abort(),
        done = &mut task => panic!("never reached Jamf Pro: {:?}", done.map(|r| r.map(|r| r.rotation))),
    }
    let _ = task.await;
    // Someone adds a lockdown flag to the pending document (the record may differ from
    // AWSCURRENT: a rotation writes it).
    let info = w.store.describe(&w.secret_id).await.unwrap();
    let token = info.version_with("AWSPENDING").unwrap().to_string();
    let (_, value) = w
        .store
        .value_at(&w.secret_id, "AWSPENDING")
        .await
        .unwrap()
        .unwrap();
    let mut pending = TargetDocument::parse(value.expose_secret()).unwrap();
    pending.rotation.as_mut().unwrap().lockdown = true;
    w.store
        .put_pending(&w.secret_id, &token, &pending.to_secret(), None)
        .await
        .unwrap();
    let (_, value) = w
        .store
        .value_at(&w.secret_id, "AWSPENDING")
        .await
        .unwrap()
        .unwrap();
    assert!(
        value.expose_secret().contains("\"lockdown\":true"),
        "the flag is written"
    );

    w.clock.advance(std::time::Duration::from_secs(16 * 60));
    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    let rotation = report.rotation.expect("the half-done rotation is resumed");
    assert_eq!(rotation.outcome, Outcome::Resumed, "{:?}", rotation.error);
    assert!(
        (w.entra.passwords(&w.app.object_id).iter()).any(|c| c.key_id == stray),
        "the stray {stray} is kept: the flag came from a document, not a request"
    );
    w.clock.advance(std::time::Duration::from_secs(86_400));
    w.engine.check(&w.secret_id, false).await.unwrap();
    assert!(
        (w.alerts.sent().iter()).any(|a| a.subject.starts_with("Lockdown interrupted")),
        "{:?}",
        w.alerts.sent()
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[]);
}
