//! A forged `AWSPENDING` (a copy of `AWSCURRENT` with a made-up secret and the key id of a
//! credential someone wants gone, written by anyone with `PutSecretValue`) removes nothing when
//! the next check resumes it and its rollback runs: the rollback removes only a credential Graph
//! shows under the name this target's rotation gives its own, on the app `AWSCURRENT` names.

use crate::common;

use common::TestWorld;
use rotator_engine::clock::Clock;
use rotator_engine::document::RotationRecord;
use rotator_engine::rotation::{credential_name, target_tag};
use secrecy::SecretString;

/// The version the forged `AWSPENDING` is written to (a Secrets Manager token).
const FORGED: &str = "7a3f0c1e-0000-4000-8000-0000000f0e9d";

/// Writes the forged `AWSPENDING` naming credential `victim`, runs the check that resumes it,
/// and asserts that `victim` is still on the app and the failure is alerted naming it.
async fn forged_pending_leaves(w: &TestWorld, victim: &str) {
    let mut pending = w.current_doc().await;
    pending.entra.client_secret = SecretString::from("made-up~secret-nobody-issued".to_string());
    pending.entra.key_id = Some(victim.to_string());
    pending.rotation = Some(RotationRecord {
        token: FORGED.into(),
        replaces_key_id: w.current_doc().await.entra.key_id,
        reason: "scheduled".into(),
        started_at: w.clock.now(),
        revoke_old: Default::default(),
        lockdown: false,
        lockdown_siblings: Vec::new(),
    });
    w.store
        .put_pending(&w.secret_id, FORGED, &pending.to_secret(), None)
        .await
        .unwrap();

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    let rotation = report.rotation.expect("the pending rotation is resumed");
    assert!(rotation.error.is_some(), "{rotation:?}");
    assert!(
        (w.entra.passwords(&w.app.object_id).iter()).any(|c| c.key_id == victim),
        "the credential {victim} the forged document names stays on the app"
    );
    let alert = (w.alerts.sent().into_iter())
        .find(|a| a.message.contains(&format!("credential {victim} was kept")))
        .unwrap_or_else(|| panic!("the kept credential is alerted: {:?}", w.alerts.sent()));
    assert!(alert.message.contains("forged"), "{}", alert.message);
    assert!(w.jamf_secret_works(), "Jamf Pro holds a working secret");
    w.assert_no_leaks(&[&alert.message]);
}

#[tokio::test]
async fn a_forged_awspending_naming_an_unmanaged_credential_removes_nothing_and_alerts() {
    let (w, _store) = common::spawn_world_on_memory(10).await;
    let (stray, _) = w.entra.seed_password(
        &w.app.object_id,
        "someone's test secret",
        w.clock.now() + chrono::Duration::days(300),
    );
    forged_pending_leaves(&w, &stray).await;
}

#[tokio::test]
async fn a_forged_awspending_naming_a_sibling_targets_credential_removes_nothing_and_alerts() {
    let (w, _store) = common::spawn_world_on_memory(10).await;
    let sibling =
        target_tag("arn:aws:secretsmanager:eu-west-1:123456789012:secret:jamf-intune-AbCdEf");
    let (theirs, _) = w.entra.seed_password(
        &w.app.object_id,
        &credential_name(&sibling, FORGED),
        w.clock.now() + chrono::Duration::days(300),
    );
    forged_pending_leaves(&w, &theirs).await;
}
