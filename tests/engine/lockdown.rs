//! Lockdown (`rotate --lockdown`): every other client secret of the app goes once the new one
//! works, but never a sibling target's working one (mail and Intune on one app registration):
//! the siblings are rotated too. A lockdown a crash interrupted is alerted by the next check,
//! which removes nothing on the document's flag alone; the operator's new request completes it.

use crate::common;

use common::tripwire::{wired, Tripwire, When};
use common::{spawn_world_on_memory, TestWorld};
use rotator_engine::clock::Clock;
use rotator_engine::config::Cloud;
use rotator_engine::document::{RevokeOld, TargetDocument, TargetKind};
use rotator_engine::ports::SecretStore;
use rotator_engine::rotation::RotateRequest;
use rotator_lambda::{route, Function, Targets};
use rotator_testkit::jamf_web::CaSettings;
use rotator_testkit::memory_store::MemoryStore;
use secrecy::{ExposeSecret, SecretString};

use std::sync::Arc;
use std::time::Duration;

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

/// A second target on the world's app registration: Jamf Pro's Intune integration
/// (conditional-access, on the same Jamf Pro server), with a client secret of its own, set by
/// hand. Returns its secret id and its first secret.
async fn intune_sibling(w: &TestWorld, store: &MemoryStore) -> (String, SecretString) {
    let (key, secret) = w.entra.seed_password(
        &w.app.object_id,
        "Intune integration, set by hand",
        w.clock.now() + chrono::Duration::days(300),
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
    let id = format!("{}-intune", w.secret_id);
    let creds = format!("{id}/jamf-credentials");
    store.insert(
        &creds,
        &serde_json::json!({"username": "svc-intune", "password": password, "jamf_url": w.jamf.url().as_str()}).to_string(),
    );
    let mut doc = w.current_doc().await;
    doc.entra.client_secret = secret.clone();
    doc.entra.key_id = Some(key);
    doc.jamf.target = TargetKind::ConditionalAccess;
    doc.jamf.credentials_secret_id = creds;
    doc.jamf.observation_secs = Some(5);
    store.insert(&id, doc.to_secret().expose_secret());
    (id, secret)
}

/// The AWSCURRENT document of `id`.
async fn current(store: &MemoryStore, id: &str) -> TargetDocument {
    let (_, v) = store.value_at(id, "AWSCURRENT").await.unwrap().unwrap();
    TargetDocument::parse(v.expose_secret()).unwrap()
}

#[tokio::test]
async fn a_lockdown_rotates_a_sibling_target_on_the_same_app_instead_of_cutting_it_off() {
    let (w, store) = spawn_world_on_memory(200).await;
    let (sibling, first) = intune_sibling(&w, &store).await;
    let (stray, _) = w.entra.seed_password(
        &w.app.object_id,
        "someone's test secret",
        w.clock.now() + chrono::Duration::days(300),
    );
    let sibling_key = current(&store, &sibling).await.entra.key_id.unwrap();
    let function = Function::new(
        w.engine.clone(),
        Targets::Ids(vec![w.secret_id.clone(), sibling.clone()]),
    )
    .with_metrics(Arc::new(|_: &str| {}));

    let out = route(
        &function,
        serde_json::json!({"action": "rotate", "secret_id": w.secret_id, "reason": "leaked",
            "revoke_old": "immediately", "lockdown": true}),
    )
    .await;

    let out = out.unwrap_or_else(|e| panic!("{e}"));
    let mine = current(&store, &w.secret_id).await;
    let theirs = current(&store, &sibling).await;
    assert_ne!(
        theirs.entra.key_id.as_deref(),
        Some(sibling_key.as_str()),
        "the sibling was rotated too"
    );
    let intune = w.jamf.web().secret().unwrap();
    assert!(
        intune == theirs.entra.client_secret.expose_secret()
            && w.entra
                .accepts(&w.app.client_id, &intune, Cloud::Global.intune_scope()),
        "the Intune integration holds its target's new secret, and it works"
    );
    let mut keys: Vec<String> = w
        .entra
        .passwords(&w.app.object_id)
        .into_iter()
        .map(|c| c.key_id)
        .collect();
    keys.sort();
    let mut expect = vec![mine.entra.key_id.unwrap(), theirs.entra.key_id.unwrap()];
    expect.sort();
    assert_eq!(
        keys, expect,
        "only the two new secrets remain (the stray {stray} is gone)"
    );
    w.assert_invariant().await;
    // And the sibling's half: its credential is the one its document holds.
    assert!(w.entra.accepts(
        &w.app.client_id,
        theirs.entra.client_secret.expose_secret(),
        Cloud::Global.intune_scope()
    ));
    let out = json(&out);
    w.assert_no_leaks(&[&out]);
    for s in [
        first.expose_secret(),
        theirs.entra.client_secret.expose_secret(),
    ] {
        assert!(
            !common::logs().contains(s) && !out.contains(s),
            "the sibling's secret leaked"
        );
    }
}

#[tokio::test]
async fn a_lockdown_refuses_when_the_app_holds_a_credential_of_a_target_it_does_not_know() {
    let (w, _store) = spawn_world_on_memory(200).await;
    // The rotator made this one for a target of another deployment (another tag).
    let (other, _) = w.entra.seed_password(
        &w.app.object_id,
        "jamf-entra-rotator ffff0000 4b1f0c2e-0000-5000-8000-000000000000",
        w.clock.now() + chrono::Duration::days(300),
    );
    let before = w.entra.passwords(&w.app.object_id);

    let r = w
        .engine
        .rotate(
            &w.secret_id,
            RotateRequest {
                reason: "manual: leaked".into(),
                revoke_old: RevokeOld::Immediately,
                lockdown: true,
                ..Default::default()
            },
        )
        .await;

    let e = match &r {
        Ok(r) => r.error.clone().unwrap_or_default(),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains(&other) && e.contains("ffff0000"),
        "the error names it: {e}"
    );
    assert_eq!(
        w.entra.passwords(&w.app.object_id),
        before,
        "nothing changed"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&e]);
}

#[tokio::test]
async fn a_lockdown_interrupted_after_the_switch_is_alerted_by_the_next_check_and_completed_by_a_new_request(
) {
    let (w, _store) = spawn_world_on_memory(200).await;
    let (stray, _) = w.entra.seed_password(
        &w.app.object_id,
        "someone's test secret",
        w.clock.now() + chrono::Duration::days(300),
    );
    // Killed at its first removal, after AWSCURRENT moved.
    let trip = Tripwire::at_call("graph: removePassword", When::Before);
    let engine = wired(&w.engine, trip.clone());
    let id = w.secret_id.clone();
    let lockdown = RotateRequest {
        reason: "manual: leaked".into(),
        revoke_old: RevokeOld::Immediately,
        lockdown: true,
        ..Default::default()
    };
    let request = lockdown.clone();
    let mut task = tokio::spawn(async move { engine.rotate(&id, request).await });
    tokio::select! {
        _ = trip.crashed.notified() => task.abort(),
        done = &mut task => panic!("never removed anything: {:?}", done.map(|r| r.map(|r| r.outcome))),
    }
    let _ = task.await;
    let switched = w.current_doc().await;
    assert_ne!(
        switched.entra.key_id.as_deref(),
        Some(w.initial_key_id.as_str())
    );

    w.clock.advance(Duration::from_secs(86_400));
    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    // The rotation's own retirement completes (the replaced secret goes); no other credential
    // goes on the document's flag alone: the check alerts instead.
    let keys = |w: &TestWorld| -> Vec<String> {
        let mut k: Vec<String> = (w.entra.passwords(&w.app.object_id).into_iter())
            .map(|c| c.key_id)
            .collect();
        k.sort();
        k
    };
    let mut expect = vec![switched.entra.key_id.clone().unwrap(), stray.clone()];
    expect.sort();
    assert_eq!(keys(&w), expect, "the stray {stray} is still there");
    let alert = (w.alerts.sent().into_iter())
        .find(|a| a.subject.starts_with("Lockdown interrupted"))
        .expect("the interrupted lockdown is alerted");
    assert!(
        alert.message.contains("Lockdown interrupted: 1 other credentials remain on the app; run rotate --lockdown again to remove them"),
        "{}",
        alert.message
    );

    // The operator's new request carries the lockdown out, in its own invocation.
    let again = w.engine.rotate(&w.secret_id, lockdown).await.unwrap();
    let now_current = w.current_doc().await.entra.key_id.unwrap();
    assert_eq!(keys(&w), vec![now_current], "the lockdown was completed");
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&report), &json(&again)]);
}
