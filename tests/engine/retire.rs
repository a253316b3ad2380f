//! Retiring the old credential later: a grace period, and the observed-use gate (Entra's
//! credential sign-in activity must show the new key in use). Emergencies ignore both.

use crate::common;

use common::{spawn_with, TestWorld};
use rotator_engine::document::RevokeOld;
use rotator_engine::ports::AlertKind;
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::RotateRequest;
use rotator_testkit::world::TENANT_ID;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

fn keys(w: &TestWorld) -> Vec<String> {
    w.entra
        .passwords(&w.app.object_id)
        .into_iter()
        .map(|c| c.key_id)
        .collect()
}

/// Jamf Pro signs in with the secret it holds, as it does when it sends mail.
async fn jamf_uses_its_secret(w: &TestWorld) {
    let secret = w.jamf.smtp_secret().unwrap();
    let url = format!("{}{TENANT_ID}/oauth2/v2.0/token", w.entra.url());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", w.app.client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let status = reqwest::Client::new()
        .post(url)
        .form(&form)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success());
}

#[tokio::test]
async fn a_grace_period_keeps_the_old_secret_until_a_later_check() {
    let w = spawn_with(10, |o| o.settings.retire_grace = 48 * HOUR).await;

    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    assert!(!r.old_removed);
    assert!(r
        .old_retire_pending
        .as_deref()
        .unwrap()
        .contains("grace period"));
    assert_eq!(keys(&w).len(), 2, "both valid during the grace period");
    w.assert_invariant().await;

    w.clock.advance(24 * HOUR);
    w.engine.check(&w.secret_id, false).await.unwrap();
    assert!(
        keys(&w).contains(&w.initial_key_id),
        "still in the grace period"
    );

    w.clock.advance(25 * HOUR);
    let report = w.engine.check(&w.secret_id, false).await.unwrap();
    assert!(
        !keys(&w).contains(&w.initial_key_id),
        "retired after the grace period"
    );
    assert_eq!(keys(&w).len(), 1);
    w.assert_invariant().await;
    w.assert_no_leaks(&[
        &serde_json::to_string(&r).unwrap(),
        &serde_json::to_string(&report).unwrap(),
    ]);
}

#[tokio::test]
async fn the_gate_keeps_the_old_secret_until_the_new_one_is_seen_signing_in() {
    let w = spawn_with(10, |o| o.settings.retire_after_observed_use = true).await;
    w.entra.set_sign_in_report_lag(HOUR);

    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    assert!(r
        .old_retire_pending
        .as_deref()
        .unwrap()
        .contains("not been seen signing in"));

    // The rotator's own checks of the new secret do not count as Jamf using it.
    w.clock.advance(3 * HOUR);
    w.engine.check(&w.secret_id, false).await.unwrap();
    assert_eq!(keys(&w).len(), 2);

    // Jamf Pro signs in with the new secret; the report shows it an hour later.
    jamf_uses_its_secret(&w).await;
    w.engine.check(&w.secret_id, false).await.unwrap();
    assert_eq!(keys(&w).len(), 2, "not in the report yet");
    w.clock.advance(HOUR);
    w.engine.check(&w.secret_id, false).await.unwrap();
    assert_eq!(keys(&w).len(), 1, "retired once use was seen");
    assert!(!keys(&w).contains(&w.initial_key_id));
    assert!(w
        .alerts
        .sent()
        .iter()
        .all(|a| a.kind != AlertKind::Drift || !a.subject.contains("not seen")));
    w.assert_invariant().await;
    w.assert_no_leaks(&[]);
}

#[tokio::test]
async fn the_gate_alerts_when_the_new_secret_is_never_seen_in_use() {
    let w = spawn_with(10, |o| {
        o.settings.retire_after_observed_use = true;
        o.settings.observed_use_alert_days = 3;
    })
    .await;
    w.engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    w.clock.advance(2 * 24 * HOUR);
    w.engine.check(&w.secret_id, false).await.unwrap();
    assert!(w.alerts.sent().is_empty(), "not yet overdue");

    w.clock.advance(2 * 24 * HOUR);
    w.engine.check(&w.secret_id, false).await.unwrap();
    let alerts = w.alerts.sent();
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].subject.contains("not seen in use"),
        "{}",
        alerts[0].subject
    );
    assert!(alerts[0].message.contains("What to do"));
    assert_eq!(
        keys(&w).len(),
        2,
        "the old credential is kept: Jamf Pro may still use it"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[]);
}

#[tokio::test]
async fn an_emergency_rotation_ignores_grace_and_gate() {
    let w = spawn_with(200, |o| {
        o.settings.retire_grace = 48 * HOUR;
        o.settings.retire_after_observed_use = true;
    })
    .await;
    let r = w
        .engine
        .rotate(
            &w.secret_id,
            RotateRequest {
                reason: "manual: leaked".into(),
                revoke_old: RevokeOld::Immediately,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    assert!(r.old_removed && r.old_retire_pending.is_none());
    assert_eq!(keys(&w), vec![r.new_key_id.clone().unwrap()]);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&serde_json::to_string(&r).unwrap()]);
}

#[tokio::test]
async fn a_new_rotation_supersedes_a_pending_retirement() {
    let w = spawn_with(10, |o| o.settings.retire_grace = 48 * HOUR).await;
    let first = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    let second = w
        .engine
        .rotate(
            &w.secret_id,
            RotateRequest {
                reason: "manual: again".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(second.outcome, Outcome::Rotated, "{:?}", second.error);
    let k = keys(&w);
    assert_eq!(
        k.len(),
        2,
        "the second rotation's old (the first's new) waits; the first's old is gone: {k:?}"
    );
    assert!(!k.contains(&w.initial_key_id));
    assert!(k.contains(first.new_key_id.as_ref().unwrap()));
    w.assert_invariant().await;
    w.assert_no_leaks(&[]);
}

#[tokio::test]
async fn a_retirement_graph_refuses_alerts_and_the_next_check_retires_it() {
    let w = spawn_with(10, |o| o.settings.retire_grace = 48 * HOUR).await;
    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    w.clock.advance(49 * HOUR);
    w.entra
        .fail_next(rotator_testkit::entra::EntraOp::RemovePassword, 1, 403);
    let before = w.alerts.sent().len();

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    assert!(
        keys(&w).contains(&w.initial_key_id),
        "Graph refused the removal"
    );
    let alerts = w.alerts.sent()[before..].to_vec();
    let housekeeping: Vec<_> = alerts
        .iter()
        .filter(|a| a.subject.starts_with("Housekeeping failed:"))
        .collect();
    assert_eq!(housekeeping.len(), 1, "{alerts:#?}");
    assert_eq!(housekeeping[0].kind, AlertKind::Drift);
    let message = &housekeeping[0].message;
    assert!(
        message.contains(&format!("retire-pending credential {}", w.initial_key_id))
            && message.contains("What to do:"),
        "{message}"
    );
    w.assert_invariant().await;

    w.engine.check(&w.secret_id, false).await.unwrap();
    assert!(
        !keys(&w).contains(&w.initial_key_id),
        "the next check retires it"
    );
    w.assert_no_leaks(&[&serde_json::to_string(&report).unwrap(), message]);
}
