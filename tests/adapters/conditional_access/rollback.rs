//! What follows the change: the save-time test and the notifications watched for the
//! observation window; a failure there rolls back to the old secret and alerts, an unreadable
//! answer never counts as success, and a failing rollback still leaves Jamf a working secret.
//! The heartbeat's notifications when the stored secret stops working.

use super::harness::{
    any_request, assert_old_secret_kept, assert_rotated, assert_safe, ca_world, count_requests,
    edit_page, json, layout, rolled_back_by_a_failing_save_test, rotate, INTUNE,
};
use rotator_engine::ports::{AlertKind, AWSCURRENT};
use rotator_engine::rotation::report::Outcome;
use rotator_testkit::clock::Clock;
use rotator_testkit::jamf_web::Layout;
use secrecy::ExposeSecret;

#[tokio::test]
async fn a_failing_save_time_test_rolls_back_and_alerts() {
    let (w, r, e) =
        rolled_back_by_a_failing_save_test(layout(|l| l.echo_secret_in_errors = true)).await;

    assert!(
        e.contains("save-time test") && e.contains("Unable to connect to Microsoft Intune"),
        "{e}"
    );
    let old = w.secrets[0].expose_secret();
    assert_eq!(
        w.jamf.web().secret().as_deref(),
        Some(old),
        "the old secret is configured"
    );
    assert!(
        w.entra.accepts(&w.app.client_id, old, INTUNE),
        "and still valid"
    );
    assert_eq!(
        w.entra.passwords(&w.app.object_id).len(),
        1,
        "the new credential was removed"
    );
    let alerts = w.alerts.sent();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::RolledBack);
    // The page quoted the secret in its error: the scan covers the pages and the alert.
    assert!(any_request(&w, |q| q.response.contains("(client secret ")));
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r), &e]);
}

#[tokio::test]
async fn notifications_raised_after_the_change_roll_back() {
    let w = ca_world(Layout::default()).await;
    w.jamf
        .set_notifications(&["MII_INVENTORY_UPLOAD_FAILED_NOTIFICATION"]);
    w.jamf
        .web()
        .notify_after_next_change(&["MII_UNATHORIZED_RESPONSE_NOTIFICATION"]);

    let r = rotate(&w).await;

    assert_eq!(r.outcome, Outcome::RolledBack, "{:?}", r.error);
    let e = r.error.clone().unwrap();
    assert!(
        e.contains("MII_UNATHORIZED_RESPONSE_NOTIFICATION") && !e.contains("INVENTORY"),
        "{e}"
    );
    assert_old_secret_kept(&w);
    assert_eq!(
        w.jamf.web().counts().saves,
        2,
        "the new secret, then the old one back"
    );
    assert_eq!(w.alerts.sent()[0].kind, AlertKind::RolledBack);
    assert_safe(&w, &r).await;
}

#[tokio::test]
async fn notifications_are_watched_for_the_observation_window_in_virtual_time() {
    let w = ca_world(Layout::default()).await;
    let started = w.clock.now();
    let r = rotate(&w).await;
    assert_rotated(&w, &r).await;
    assert!(
        w.clock.now() - started >= chrono::Duration::seconds(60),
        "the default window is 60 s"
    );
    let polls = count_requests(&w, |r| r.path == "/api/v1/notifications");
    assert_eq!(
        polls, 2,
        "once before the change, once when the 60 s have passed"
    );
}

#[tokio::test]
async fn an_unrecognisable_answer_to_save_is_never_taken_for_success() {
    let (w, r, e) = rolled_back_by_a_failing_save_test(layout(|l| l.quiet_errors = true)).await;

    assert!(e.contains("no recognisable error"), "{e}");
    assert_old_secret_kept(&w);
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    assert_safe(&w, &r).await;
}

#[tokio::test]
async fn when_the_rollback_save_also_fails_jamf_keeps_a_working_secret() {
    let w = ca_world(Layout::default()).await;
    w.jamf.web().fail_next_save_tests(2);

    let r = rotate(&w).await;

    assert_ne!(r.outcome, Outcome::Rotated);
    assert_eq!(
        w.jamf.web().counts().saves,
        0,
        "neither save stored anything"
    );
    assert_old_secret_kept(&w);
    assert!(!w.alerts.sent().is_empty());
    assert_safe(&w, &r).await;
}

#[tokio::test]
async fn the_heartbeat_raises_notifications_when_the_stored_secret_stops_working() {
    let w = ca_world(Layout::default()).await;
    let (_, value) = w
        .store
        .value_at(&w.jamf_credentials_id, AWSCURRENT)
        .await
        .unwrap()
        .unwrap();
    let creds = rotator_adapters::jamf::JamfCredentials::parse(&value).unwrap();
    let client = rotator_adapters::jamf::JamfClient::new(
        &w.jamf.url(),
        creds,
        &w.settings,
        w.world.clock.clone(),
    )
    .unwrap();
    assert!(client.notifications().await.unwrap().is_empty());
    edit_page(&w, |s| s.secret = "no-longer-valid-secret".into());
    let kinds: Vec<String> = client
        .notifications()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.kind)
        .collect();
    assert!(
        kinds.contains(&"CONDITIONAL_ACCESS_CONNECTION_ERROR".to_string()),
        "{kinds:?}"
    );
    assert!(!w.jamf_secret_works());
}
