//! `ROTATOR_AUTH=client-secret`: the rotator rotates its own client secret with the same steps,
//! from its own document in `ROTATOR_CREDENTIALS_SECRET_ID`, and the next start signs in with the
//! new one.

use crate::common;

use common::spawn_world_on_moto;
use rotator_adapters::entra::GraphDirectory;
use rotator_engine::config::{Cloud, Settings};
use rotator_engine::document::{EntraSection, JamfSection, TargetDocument, TargetKind};
use rotator_engine::ports::{AppRef, Directory};
use rotator_engine::rotation::check::Action;
use rotator_testkit::clock::Clock;
use rotator_testkit::world::TENANT_ID;
use secrecy::ExposeSecret;
use std::sync::Arc;

#[tokio::test]
async fn the_rotator_rotates_its_own_secret_and_signs_in_with_the_new_one() {
    let w = spawn_world_on_moto(200).await;
    let rotator_app = w.entra.object_id_of(&w.rotator_client_id).unwrap();
    // Application.ReadWrite.OwnedBy on itself: the rotator owns its own app registration.
    w.entra.make_owner(&w.rotator_client_id, &rotator_app);
    // Its current secret expires in 10 days; its document replaces the plain credentials secret.
    let (key, secret) = w.entra.seed_password(
        &rotator_app,
        "rotator, set by setup-azure",
        w.clock.now() + chrono::Duration::days(10),
    );
    let doc = TargetDocument {
        schema: 1,
        entra: EntraSection {
            cloud: Cloud::Global,
            tenant_id: TENANT_ID.into(),
            client_id: w.rotator_client_id.clone(),
            application_object_id: Some(rotator_app.clone()),
            client_secret: secret.clone(),
            key_id: Some(key.clone()),
            expires_at: None,
        },
        jamf: JamfSection {
            url: None,
            target: TargetKind::Rotator,
            credentials_secret_id: String::new(),
            test_recipient: None,
            page_path: None,
            secret_field: None,
            application_id_field: None,
            observation_secs: None,
            daily_proof: false,
        },
        rotation: None,
    };
    w.store
        .put_current(&w.rotator_credentials_id, &doc.to_secret())
        .await
        .unwrap();
    // The Lambda and the CLI's check add it to the targets by themselves.
    assert_eq!(
        rotator_adapters::wiring::own_secret_target(&w.settings, w.store.as_ref())
            .await
            .as_deref(),
        Some(w.rotator_credentials_id.as_str())
    );

    let report = w
        .engine
        .check(&w.rotator_credentials_id, false)
        .await
        .unwrap();

    assert_eq!(
        report.action,
        Action::Rotated,
        "{:?}",
        report.rotation.as_ref().and_then(|r| r.error.clone())
    );
    let r = report.rotation.as_ref().unwrap();
    assert!(r.old_removed);
    let keys: Vec<String> = w
        .entra
        .passwords(&rotator_app)
        .into_iter()
        .map(|c| c.key_id)
        .collect();
    assert!(!keys.contains(&key), "the old secret is retired");
    assert!(keys.contains(r.new_key_id.as_ref().unwrap()));
    assert!(!w.entra.accepts(
        &w.rotator_client_id,
        secret.expose_secret(),
        &Cloud::Global.graph_scope()
    ));

    // The next start reads the new secret from AWSCURRENT and Graph works with it.
    let settings = Settings {
        rotator_client_id: Some(w.rotator_client_id.clone()),
        ..w.settings.clone()
    };
    let identity = rotator_adapters::wiring::rotator_identity(&settings, w.store.as_ref())
        .await
        .unwrap();
    let graph = GraphDirectory::new(
        &settings,
        identity,
        Arc::new(rotator_testkit::clock::SystemClock),
    );
    let app = graph
        .application(&AppRef {
            cloud: Cloud::Global,
            tenant_id: TENANT_ID.into(),
            client_id: w.app.client_id.clone(),
            object_id: None,
        })
        .await
        .unwrap();
    assert_eq!(app.object_id, w.app.object_id);
    // The Jamf target is untouched.
    assert!(w.world.jamf_secret_works());
    w.assert_no_leaks(&[&serde_json::to_string(&report).unwrap()]);
}

#[tokio::test]
async fn a_warm_function_signs_in_with_its_new_secret_after_rotating_its_own() {
    use rotator_lambda::{route, Function, Targets};
    let w = spawn_world_on_moto(200).await;
    let rotator_app = w.entra.object_id_of(&w.rotator_client_id).unwrap();
    w.entra.make_owner(&w.rotator_client_id, &rotator_app);
    let (key, secret) = w.entra.seed_password(
        &rotator_app,
        "rotator",
        w.clock.now() + chrono::Duration::days(10),
    );
    let mut doc = TargetDocument::parse(
        &serde_json::json!({"schema": 1, "entra": {"tenant_id": TENANT_ID, "client_id": w.rotator_client_id,
            "application_object_id": rotator_app, "client_secret": secret.expose_secret(), "key_id": key},
            "jamf": {"target": "rotator"}})
        .to_string(),
    )
    .unwrap();
    doc.entra.cloud = Cloud::Global;
    w.store
        .put_current(&w.rotator_credentials_id, &doc.to_secret())
        .await
        .unwrap();
    // Its only other credential goes: the function signs in with what its document holds.
    let others: Vec<String> = w
        .entra
        .passwords(&rotator_app)
        .into_iter()
        .map(|c| c.key_id)
        .filter(|k| *k != key)
        .collect();
    for k in others {
        w.engine
            .directory
            .remove_password(
                &AppRef {
                    cloud: Cloud::Global,
                    tenant_id: TENANT_ID.into(),
                    client_id: w.rotator_client_id.clone(),
                    object_id: Some(rotator_app.clone()),
                },
                &k,
            )
            .await
            .unwrap();
    }
    let settings = w.settings.clone();
    let function = Function::new(w.engine.clone(), Targets::Ids(vec![w.secret_id.clone()]))
        .with_own_secret(
            rotator_adapters::wiring::own_secret_target(&settings, w.store.as_ref()).await,
            &settings,
        )
        .with_metrics(Arc::new(|_: &str| {}));

    let first = route(&function, serde_json::json!({"action": "check"}))
        .await
        .unwrap();
    assert!(first.to_string().contains("rotated"), "{first}");
    assert!(
        !w.entra
            .passwords(&rotator_app)
            .iter()
            .any(|c| c.key_id == key),
        "its old secret is retired"
    );

    // Two hours later the warm container's cached Graph token has expired.
    w.clock.advance(std::time::Duration::from_secs(7200));
    let second = route(&function, serde_json::json!({"action": "status"}))
        .await
        .unwrap();
    assert!(
        !second.to_string().contains("7000215"),
        "signed in with the retired secret: {second}"
    );
    w.assert_no_leaks(&[&first.to_string(), &second.to_string()]);
}
