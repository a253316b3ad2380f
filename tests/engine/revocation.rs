//! Revocation proof: after an emergency the rotator asks Entra's token endpoint with the revoked
//! secret until it is refused, reports how long that took (report, JSON, metric), and alerts
//! `revocation-unconfirmed` when the secret still signs in at the limit. The Entra stand-in's
//! removal lag plays Entra's eventually consistent removal; everything runs on virtual time.

use crate::common;

use common::{spawn_with, TestWorld};
use rotator_engine::clock::Clock;
use rotator_engine::document::RevokeOld;
use rotator_engine::ports::AlertKind;
use rotator_engine::rotation::report::{Outcome, RotateOptions};
use rotator_engine::rotation::RotateRequest;
use rotator_lambda::{route, Function, Targets};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Token requests that presented `secret` as the client secret.
fn tries_with(w: &TestWorld, secret: &str) -> usize {
    w.entra
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .filter(|r| {
            url::form_urlencoded::parse(r.body.as_bytes())
                .any(|(k, v)| k == "client_secret" && v == secret)
        })
        .count()
}

fn emergency() -> RotateRequest {
    RotateRequest {
        reason: "manual: leaked".into(),
        revoke_old: RevokeOld::Immediately,
        lockdown: false,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_quick_removal_is_proven_and_its_seconds_are_reported_in_the_json_and_a_metric() {
    let w = spawn_with(200, |_| {}).await;
    // Entra keeps accepting a removed secret for 30 s.
    w.entra.set_removal_lag(Duration::from_secs(30));
    let old = w.secrets[0].expose_secret().to_string();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let f = Function::new(w.engine.clone(), Targets::Ids(vec![w.secret_id.clone()]))
        .with_metrics(Arc::new(move |l: &str| sink.lock().unwrap().push(l.into())));
    let before = tries_with(&w, &old);

    let response = route(
        &f,
        json!({"action": "rotate", "reason": "leaked", "revoke_old": "immediately"}),
    )
    .await
    .unwrap();

    let report = &response["report"];
    assert_eq!(report["outcome"], "rotated", "{response}");
    assert_eq!(report["old_removed"], true);
    let proof = &report["revocation"][0];
    assert_eq!(proof["key_id"], w.initial_key_id.as_str());
    assert_eq!(proof["confirmed"], true, "{proof}");
    let seconds = proof["seconds"].as_u64().unwrap();
    assert!(
        (30..=60).contains(&seconds),
        "refused {seconds}s after the removal"
    );
    let tries = proof["attempts"].as_u64().unwrap() as usize;
    assert!(tries >= 3, "{proof}");
    // Every try was a real sign-in with the revoked secret, and the last ones were refused.
    assert_eq!(tries_with(&w, &old) - before, tries);
    assert!(!w.entra.accepts(
        &w.app.client_id,
        &old,
        "https://graph.microsoft.com/.default"
    ));
    let metrics = lines.lock().unwrap().join("\n");
    let line: Value = metrics
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v.get("RevocationSeconds").is_some())
        .expect("a RevocationSeconds metric line");
    assert_eq!(line["RevocationSeconds"].as_f64(), Some(seconds as f64));
    assert_eq!(line["Target"], w.secret_id.as_str());
    assert!(w
        .alerts
        .sent()
        .iter()
        .all(|a| a.kind != AlertKind::RevocationUnconfirmed));
    w.assert_invariant().await;
    w.assert_no_leaks(&[&response.to_string(), &metrics]);
}

#[tokio::test]
async fn a_revoked_secret_that_still_signs_in_at_the_limit_is_alerted() {
    // The limit is a setting (REVOCATION_PROOF_TIMEOUT_SECS): two minutes here.
    let w = spawn_with(200, |o| {
        o.settings.revocation_proof_timeout = Duration::from_secs(120);
    })
    .await;
    w.entra.set_removal_lag(Duration::from_secs(3600));
    let started = w.clock.now();

    let report = w.engine.rotate(&w.secret_id, emergency()).await.unwrap();

    assert_eq!(report.outcome, Outcome::Rotated, "{report:?}");
    let proof = &report.revocation.as_ref().expect("a proof was attempted")[0];
    assert!(!proof.confirmed && proof.seconds.is_none(), "{proof:?}");
    assert_eq!(proof.limit_secs, 120);
    let detail = proof.detail.as_deref().unwrap();
    assert!(
        detail.contains("still accepts the revoked secret"),
        "{detail}"
    );
    let waited = w.clock.now() - started;
    assert!(
        (120..=180).contains(&waited.num_seconds()),
        "tried up to the limit, not beyond: {waited}"
    );
    let alerts: Vec<_> = w
        .alerts
        .sent()
        .into_iter()
        .filter(|a| a.kind == AlertKind::RevocationUnconfirmed)
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0].subject,
        format!("Revocation unconfirmed: {}", report.target)
    );
    assert!(
        alerts[0].message.contains(&w.initial_key_id) && alerts[0].message.contains("What to do:"),
        "{}",
        alerts[0].message
    );
    // The old credential is gone from the app all the same; Jamf Pro is on the new secret.
    w.assert_invariant().await;
    w.assert_no_leaks(&[&format!("{report:?}")]);
}

#[tokio::test]
async fn a_rotation_that_is_no_emergency_never_tries_the_old_secret() {
    let w = spawn_with(10, |_| {}).await;
    w.entra.set_removal_lag(Duration::from_secs(3600));
    let old = w.secrets[0].expose_secret().to_string();
    let before = tries_with(&w, &old);

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    let rotation = report.rotation.expect("the due secret was rotated");
    assert_eq!(rotation.outcome, Outcome::Rotated);
    assert!(rotation.revocation.is_none());
    let json = serde_json::to_value(&rotation).unwrap();
    assert!(json.get("revocation").is_none(), "{json}");
    assert_eq!(
        tries_with(&w, &old),
        before,
        "no sign-in with the old secret"
    );
    assert!(w.alerts.sent().is_empty());
}

#[tokio::test]
async fn a_proof_the_deadline_leaves_no_time_for_alerts_at_once_instead_of_being_killed() {
    let w = spawn_with(200, |o| {
        o.settings.revocation_proof_timeout = Duration::from_secs(480);
    })
    .await;
    w.entra.set_removal_lag(Duration::from_secs(3600));
    let old = w.secrets[0].expose_secret().to_string();
    // 60 s left, and the default 60 s are kept for the report and the alerts.
    let deadline = w.clock.now() + chrono::Duration::seconds(60);
    let before = tries_with(&w, &old);

    let report = w
        .engine
        .rotate_within(
            &w.secret_id,
            emergency(),
            RotateOptions {
                deadline: Some(deadline),
            },
        )
        .await
        .unwrap();

    assert!(w.clock.now() < deadline, "answered in time");
    assert_eq!(report.outcome, Outcome::Rotated, "{report:?}");
    let proof = &report.revocation.as_ref().expect("a proof was due")[0];
    assert_eq!((proof.confirmed, proof.attempts), (false, 0), "{proof:?}");
    assert_eq!(
        tries_with(&w, &old),
        before,
        "no try started past the limit"
    );
    let detail = proof.detail.as_deref().unwrap();
    assert!(
        detail.contains("not tried") && detail.contains("cut short by the invocation's deadline"),
        "{detail}"
    );
    let alerts: Vec<_> = (w.alerts.sent().into_iter())
        .filter(|a| a.kind == AlertKind::RevocationUnconfirmed)
        .collect();
    assert_eq!(alerts.len(), 1, "{:?}", w.alerts.sent());
    w.assert_invariant().await;
    w.assert_no_leaks(&[&format!("{report:?}")]);
}

#[tokio::test]
async fn without_a_deadline_the_proof_keeps_its_own_limit() {
    let w = spawn_with(200, |o| {
        o.settings.revocation_proof_timeout = Duration::from_secs(120);
    })
    .await;
    w.entra.set_removal_lag(Duration::from_secs(3600));

    let report = w
        .engine
        .rotate_within(&w.secret_id, emergency(), RotateOptions::default())
        .await
        .unwrap();

    let proof = &report.revocation.as_ref().expect("a proof was due")[0];
    assert_eq!(proof.limit_secs, 120, "{proof:?}");
    let detail = proof.detail.as_deref().unwrap();
    assert!(!detail.contains("cut short"), "{detail}");
}
