//! The sample events for `status`, `check` and `rotate` through `lambda::route`: what each does
//! to a target and the metric lines it prints.

use crate::harness::{
    assert_first_action, assert_jamf_holds, assert_unchanged, event, spawn, text, GRAPH_SCOPE,
};
use secrecy::ExposeSecret;

#[test]
fn every_sample_event_is_understood_and_only_the_malformed_one_is_refused() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 10, "one sample per entry point: {names:?}");
    for name in names {
        let parsed = rotator_lambda::Event::parse(&event(&name));
        assert_eq!(
            parsed.is_err(),
            name == "malformed.json",
            "{name}: {parsed:?}"
        );
    }
}

#[tokio::test]
async fn status_event_reports_without_changing_anything() {
    let (w, h) = spawn(10).await;
    let before = w.store.describe(&w.secret_id).await.unwrap();

    let response = h.invoke(event("status.json")).await.unwrap();

    assert_eq!(response["action"], "status");
    let report = &response["results"][0]["report"];
    assert_eq!(
        (report["due"].as_bool(), report["action"].as_str()),
        (Some(true), Some("would-rotate"))
    );
    assert_unchanged(&w, &before).await;
    assert!(
        h.metrics().is_empty(),
        "status is read-only: no metric lines"
    );
    assert!(w.alerts.sent().is_empty());
    w.assert_no_leaks(&[&text(&response)]);
}

#[tokio::test]
async fn scheduled_check_event_rotates_a_due_target_and_prints_its_metrics() {
    let (w, h) = spawn(10).await;

    let response = h.invoke(event("scheduled-check.json")).await.unwrap();

    assert_eq!(
        (
            response["action"].as_str(),
            response["targets"].as_u64(),
            response["failed"].as_u64()
        ),
        (Some("check"), Some(1), Some(0))
    );
    let result = &response["results"][0];
    assert_eq!(
        (result["secret_id"].as_str(), result["ok"].as_bool()),
        (Some(w.secret_id.as_str()), Some(true))
    );
    assert_eq!(result["report"]["action"], "rotated");
    assert_eq!(result["report"]["rotation"]["outcome"], "rotated");
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1);
    assert_ne!(creds[0].key_id, w.initial_key_id);
    // Reported for the secret in use after the check: the new one (180-day lifetime).
    assert_eq!(h.metric("DaysUntilExpiry", Some(&w.secret_id)), [179.0]);
    assert_eq!(
        h.metric("DaysUntilExpiry", None),
        [179.0],
        "the fleet minimum, without a dimension"
    );
    assert_eq!(h.metric("RotationSucceeded", Some(&w.secret_id)), [1.0]);
    assert!(h.metric("RotationFailed", Some(&w.secret_id)).is_empty());
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&response), &h.output()]);
}

#[tokio::test]
async fn classic_scheduled_event_leaves_a_target_far_from_expiry_alone_and_reports_its_days() {
    let (w, h) = spawn(90).await;
    let before = w.store.describe(&w.secret_id).await.unwrap();

    let response = h
        .invoke(event("scheduled-event-classic.json"))
        .await
        .unwrap();

    assert_first_action(&response, "none");
    assert_eq!(response["results"][0]["report"]["days_until_expiry"], 89);
    assert_unchanged(&w, &before).await;
    assert_eq!(h.metric("DaysUntilExpiry", Some(&w.secret_id)), [89.0]);
    assert!(h.metric("RotationSucceeded", Some(&w.secret_id)).is_empty());
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&response)]);
}

#[tokio::test]
async fn manual_rotate_event_rotates_a_target_that_is_not_due() {
    let (w, h) = spawn(300).await;

    let response = h.invoke(event("rotate-manual.json")).await.unwrap();

    let report = &response["report"];
    assert_eq!(
        (response["secret_id"].as_str(), report["outcome"].as_str()),
        (Some(w.secret_id.as_str()), Some("rotated"))
    );
    assert_eq!(
        report["reason"],
        "manual: planned rotation before the audit"
    );
    assert_eq!(
        report["old_key_id"].as_str(),
        Some(w.initial_key_id.as_str())
    );
    let doc = w.current_doc().await;
    assert_eq!(doc.entra.key_id.as_deref(), report["new_key_id"].as_str());
    assert_jamf_holds(&w, &doc);
    assert_eq!(h.metric("RotationSucceeded", Some(&w.secret_id)), [1.0]);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&response)]);
}

#[tokio::test]
async fn emergency_rotate_event_removes_the_old_secret_once_the_new_one_is_verified() {
    let (w, h) = spawn(300).await;
    let leaked = w.secrets[0].expose_secret().to_string();

    let response = h.invoke(event("rotate-emergency.json")).await.unwrap();

    let report = &response["report"];
    assert_eq!(report["outcome"], "rotated");
    assert_eq!(
        (
            report["old_removed"].as_bool(),
            report["jamf_accepts_new"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert!(
        !w.entra.accepts(&w.app.client_id, &leaked, GRAPH_SCOPE),
        "the leaked secret must no longer work"
    );
    assert!(w
        .entra
        .passwords(&w.app.object_id)
        .iter()
        .all(|c| c.key_id != w.initial_key_id));
    let record = w
        .current_doc()
        .await
        .rotation
        .expect("the rotation is recorded");
    assert_eq!(
        serde_json::to_value(record.revoke_old).unwrap(),
        "immediately"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&response)]);
}

#[tokio::test]
async fn a_rotation_reports_how_long_entra_took_to_accept_the_new_secret() {
    let (w, h) = spawn(10).await;
    w.entra
        .set_propagation_lag(std::time::Duration::from_secs(30));

    let response = h.invoke(event("scheduled-check.json")).await.unwrap();

    assert_eq!(response["results"][0]["report"]["action"], "rotated");
    // From addPassword to the second acceptance in a row: the 30-second lag, the backoff's
    // overshoot and the confirming poll's pause, all in virtual time.
    let seconds = h.metric("PropagationSeconds", Some(&w.secret_id));
    assert_eq!(seconds.len(), 1, "{seconds:?}");
    assert!((30.0..=60.0).contains(&seconds[0]), "{seconds:?}");
    w.assert_no_leaks(&[&text(&response), &h.output()]);
}

#[tokio::test]
async fn a_large_fleets_check_gives_each_quiet_target_a_short_entry() {
    let (w, h) = spawn(90).await;
    let full = h.invoke(event("scheduled-check.json")).await.unwrap();
    assert_eq!(full["compact"], false, "{full}");
    let whole = &full["results"][0]["report"];
    assert!(whole["credentials"].is_array(), "{full}");

    // As if the fleet had more targets than a whole response may list.
    let h = h.with_full_response_up_to(0);
    let response = h.invoke(event("scheduled-check.json")).await.unwrap();

    assert_eq!(response["compact"], true, "{response}");
    assert_eq!(
        response["results"][0],
        serde_json::json!({
            "secret_id": w.secret_id,
            "ok": true,
            "state": "ok",
            "attention": false,
            "report": {
                "action": "none",
                "expires_at": whole["expires_at"],
                "days_until_expiry": 89,
            },
        })
    );
    // The metric is the same with a compact response (one line per check).
    assert_eq!(
        h.metric("DaysUntilExpiry", Some(&w.secret_id)),
        [89.0, 89.0]
    );
}

#[tokio::test]
async fn a_compact_check_response_keeps_the_whole_entry_of_a_target_it_rotated() {
    let (w, h) = spawn(10).await;
    let h = h.with_full_response_up_to(0);

    let response = h.invoke(event("scheduled-check.json")).await.unwrap();

    assert_eq!(response["compact"], true, "{response}");
    assert_first_action(&response, "rotated");
    let report = &response["results"][0]["report"];
    assert!(
        report["rotation"].is_object() && report["credentials"].is_array(),
        "{response}"
    );
    w.assert_invariant().await;
}
