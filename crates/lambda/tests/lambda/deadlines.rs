//! Deadlines: a manual rotation runs within its invocation's deadline, as a check does. An
//! emergency whose revoked secret Entra keeps honouring answers before Lambda would kill it, with
//! a `revocation-unconfirmed` alert that says the proof was cut short; an emergency that meets
//! a held lease with too little time left fails in time, and alerts when the lease ends. On
//! virtual time: the deadline is set against the world's `ManualClock`.

use crate::common::spawn_world_on_memory;
use crate::harness::{text, Harness};
use rotator_engine::ports::{AlertKind, LeaseStore};
use rotator_lambda::Invocation;
use serde_json::json;
use std::time::Duration;

fn emergency() -> serde_json::Value {
    json!({"action": "rotate", "reason": "leaked", "revoke_old": "immediately"})
}

/// `secs` seconds left in the invocation, on the world's clock.
fn within(w: &crate::common::TestWorld, secs: i64) -> Invocation {
    Invocation {
        deadline: Some(w.engine.clock.now() + chrono::Duration::seconds(secs)),
        function_arn: None,
    }
}

#[tokio::test]
async fn an_emergency_with_a_minute_left_answers_in_time_and_says_the_revocation_is_unconfirmed() {
    let (w, _store) = spawn_world_on_memory(200).await;
    // Entra keeps honouring the revoked secret for an hour; the proof's own limit is 480 s.
    w.entra.set_removal_lag(Duration::from_secs(3600));
    let mut engine = w.engine.clone();
    engine.policy.revocation_proof_timeout = Duration::from_secs(480);
    engine.policy.deadline_margin = Duration::from_secs(10);
    let h = Harness::new(engine, vec![w.secret_id.clone()]);
    let invocation = within(&w, 60);
    let deadline = invocation.deadline.unwrap();

    let r = h.invoke_within(emergency(), &invocation).await.unwrap();

    let answered = w.engine.clock.now();
    assert!(
        answered <= deadline - chrono::Duration::seconds(10),
        "answered {} s before the deadline",
        (deadline - answered).num_seconds()
    );
    let report = &r["report"];
    assert_eq!(report["outcome"], "rotated", "{r}");
    assert_eq!(report["old_removed"], true, "{r}");
    let proof = &report["revocation"][0];
    assert_eq!(proof["confirmed"], false, "{proof}");
    assert!(proof["attempts"].as_u64().unwrap() >= 2, "{proof}");
    assert!(proof["limit_secs"].as_u64().unwrap() < 60, "{proof}");
    let detail = proof["detail"].as_str().unwrap();
    assert!(
        detail.contains("still accepts the revoked secret")
            && detail.contains("s after its removal")
            && detail.contains("cut short by the invocation's deadline"),
        "{detail}"
    );
    let alerts: Vec<_> = (w.alerts.sent().into_iter())
        .filter(|a| a.kind == AlertKind::RevocationUnconfirmed)
        .collect();
    assert_eq!(alerts.len(), 1, "{:?}", w.alerts.sent());
    assert!(
        alerts[0]
            .message
            .contains("cut short by the invocation's deadline"),
        "{}",
        alerts[0].message
    );
    assert_eq!(
        h.metric("RevocationUnconfirmed", Some(&w.secret_id)),
        [1.0],
        "{}",
        h.output()
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&r), &h.output()]);
}

#[tokio::test]
async fn an_emergency_that_meets_a_held_lease_with_too_little_time_fails_in_time_and_alerts() {
    let (w, _store) = spawn_world_on_memory(200).await;
    // Another attempt holds the target for another 15 minutes.
    let now = w.engine.clock.now();
    let until = now + chrono::Duration::minutes(15);
    (w.leases
        .acquire(&w.secret_id, "another-invocation", until, now, None)
        .await)
        .unwrap();
    let h = Harness::new(w.engine.clone(), vec![w.secret_id.clone()]);
    // Time for the rotation (its budget, as the check counts it), the report, and 180 s more:
    // the emergency may wait 180 s.
    let budget = w.engine.rotation_budget(&w.current_doc().await);
    let margin = chrono::Duration::from_std(w.engine.policy.deadline_margin).unwrap();
    let invocation = within(&w, (budget + margin).num_seconds() + 180);
    let deadline = invocation.deadline.unwrap();

    let e = h.invoke_within(emergency(), &invocation).await.unwrap_err();

    let waited = (w.engine.clock.now() - now).num_seconds();
    assert!((150..=180).contains(&waited), "waited {waited} s");
    assert!(w.engine.clock.now() < deadline);
    let message = e.to_string();
    assert!(
        message.contains("holds this target's lease") && message.contains("leaves no time to wait"),
        "{message}"
    );
    let alerts = w.alerts.sent();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].kind, AlertKind::RotationFailed);
    let when = until.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    assert!(
        alerts[0].message.contains(&when) && alerts[0].message.contains("What to do:"),
        "{}",
        alerts[0].message
    );
    // Nothing changed: the old credential and AWSCURRENT stand, the lease is the other's.
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    assert_eq!(
        w.leases.record(&w.secret_id).unwrap().holder,
        "another-invocation"
    );
    w.assert_no_leaks(&[&message, &h.output()]);
}
