//! Many targets: the check's deadline gate and the fan-out on Secrets Manager's rotation engine.
//!
//! - A check starts no rotation it cannot finish before the invocation's deadline: the rotation
//!   is reported deferred (not failed, a `RotationDeferred` metric), and everything else the
//!   check does (reading, days until expiry, housekeeping) still runs.
//! - A check in `fan-out` mode (or `auto` without time) hands each due rotation to Secrets
//!   Manager (`RotateSecret` with the invoked function as rotation function); the memory store
//!   records the invocation Secrets Manager would make, and the test sends the four step events
//!   through the same entry point the deployed function uses.
//! - The same scenarios, run in process and fanned out, end the same way: Jamf Pro on the secret
//!   `AWSCURRENT` holds, the old credential retired (or, when Jamf Pro's test fails, the rotation
//!   rolled back), and the same alerts.
//!
//! All on virtual time: the deadline is set against the world's `ManualClock`.

use crate::common::{spawn_world_on_memory, TestWorld};
use crate::harness::{text, Harness, STEPS};
use rotator_engine::config::RotationMode;
use rotator_engine::document::TargetKind;
use rotator_engine::ports::{AlertKind, AWSCURRENT, AWSPENDING};
use rotator_lambda::Invocation;
use rotator_testkit::entra::EntraOp;
use rotator_testkit::jamf::JamfOp;
use rotator_testkit::memory_store::MemoryStore;
use serde_json::{json, Value};

pub(crate) const FUNCTION_ARN: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:jamf-entra-rotator";

/// What an smtp-graph rotation may take with the default settings: the propagation wait (300 s)
/// and its calls at their worst (one Graph call through every retry, 4 × 30 s + 3 × 30 s, and
/// the rollback's two calls, 2 × 30 s); the check keeps 60 s for its report.
const NEEDED_SECS: i64 = 300 + 270 + 60;

/// A world whose one target expires in 10 days (due), on the memory store, and the function
/// for it in `mode`.
async fn spawn_due(mode: RotationMode) -> (TestWorld, MemoryStore, Harness) {
    let (w, store) = spawn_world_on_memory(10).await;
    let h = function(&w, w.engine.clone(), mode).await;
    (w, store, h)
}

/// The function over `engine` in `mode`, its target named by ARN as the template names them
/// (and as Secrets Manager's step events do, so that every metric has the same `Target`).
pub(crate) async fn function(
    w: &TestWorld,
    engine: rotator_engine::rotation::Engine,
    mode: RotationMode,
) -> Harness {
    let arn = w.store.describe(&w.secret_id).await.unwrap().arn;
    Harness::new(engine, vec![arn]).with_rotation_mode(mode)
}

/// The target's ARN: the `Target` of its metrics.
async fn arn(w: &TestWorld) -> String {
    w.store.describe(&w.secret_id).await.unwrap().arn
}

/// The runtime's context: `secs` seconds left, this function's ARN.
pub(crate) fn with_secs_left(w: &TestWorld, secs: i64) -> Invocation {
    Invocation {
        deadline: Some(w.engine.clock.now() + chrono::Duration::seconds(secs)),
        function_arn: Some(FUNCTION_ARN.into()),
    }
}

pub(crate) fn check() -> Value {
    json!({"action": "check"})
}

#[tokio::test]
async fn a_check_defers_a_rotation_it_has_no_time_to_finish_and_reports_it_as_deferred() {
    let (w, store, h) = spawn_due(RotationMode::InProcess).await;
    let before = store.snapshot();

    let r = h
        .invoke_within(check(), &with_secs_left(&w, NEEDED_SECS - 1))
        .await
        .expect("a deferred rotation is not a failure");

    let report = &r["results"][0]["report"];
    assert_eq!(report["action"], "deferred", "{r}");
    assert!(
        report["deferred"]
            .as_str()
            .is_some_and(|why| why.contains("629 s were left")),
        "{r}"
    );
    assert_eq!(
        (r["failed"].as_u64(), r["deferred"].as_u64()),
        (Some(0), Some(1))
    );
    // The check itself ran: it read the expiry and reported it.
    assert_eq!(report["days_until_expiry"], 9, "{r}");
    assert_eq!(h.metric("DaysUntilExpiry", Some(&arn(&w).await)), [9.0]);
    assert_eq!(h.metric("RotationDeferred", Some(&arn(&w).await)), [1.0]);
    assert!(h.metric("RotationFailed", Some(&arn(&w).await)).is_empty());
    // Nothing started: no credential, no version, nothing to Jamf Pro. The secret has been due
    // for 22 daily checks (9 days left of a 30-day window: days 30 to 9): the deferral alerts.
    assert_eq!(store.snapshot(), before);
    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
    let subjects: Vec<_> = w.alerts.sent().into_iter().map(|a| a.subject).collect();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(
        subjects[0].starts_with("Rotation deferred 22 times"),
        "{subjects:?}"
    );
    w.assert_no_leaks(&[&text(&r), &h.output()]);
}

#[tokio::test]
async fn a_check_with_just_enough_time_left_rotates_in_process() {
    let (w, store, h) = spawn_due(RotationMode::InProcess).await;

    let r = h
        .invoke_within(check(), &with_secs_left(&w, NEEDED_SECS))
        .await
        .unwrap();

    assert_eq!(r["results"][0]["report"]["action"], "rotated", "{r}");
    assert_eq!(h.metric("RotationSucceeded", Some(&arn(&w).await)), [1.0]);
    assert!(h
        .metric("RotationDeferred", Some(&arn(&w).await))
        .is_empty());
    assert!(store.take_invocations().is_empty(), "nothing handed off");
    w.assert_invariant().await;
}

#[tokio::test]
async fn the_budget_counts_the_conditional_access_observation_window() {
    let (w, _store, _h) = spawn_due(RotationMode::Auto).await;
    let mut doc = w.current_doc().await;
    assert_eq!(w.engine.rotation_budget(&doc).num_seconds(), 300 + 270);
    doc.jamf.target = TargetKind::ConditionalAccess;
    assert_eq!(w.engine.rotation_budget(&doc).num_seconds(), 300 + 60 + 270);
    doc.jamf.observation_secs = Some(500);
    assert_eq!(
        w.engine.rotation_budget(&doc).num_seconds(),
        300 + 500 + 270
    );
}

/// A rotation deferred in check after check alerts once it has been due for three daily checks,
/// with the date the secret expires; the first two deferrals alert nothing. Nothing is written to
/// count them: the count comes from the days the secret has been within its rotation window.
#[tokio::test]
async fn a_rotation_deferred_in_three_daily_checks_alerts_with_its_expiry_date() {
    // 31 days to go, less a moment: 30 whole days, the first day of the 30-day window.
    let (w, store) = spawn_world_on_memory(31).await;
    let h = function(&w, w.engine.clone(), RotationMode::InProcess).await;
    let before = store.snapshot();
    let expires = w.current_doc().await.entra.expires_at.unwrap().date_naive();
    let mut deferred = Vec::new();
    for day in 0..3 {
        if day > 0 {
            w.clock.advance(std::time::Duration::from_secs(86_400));
        }
        let r = h
            .invoke_within(check(), &with_secs_left(&w, NEEDED_SECS - 1))
            .await
            .unwrap();
        deferred.push((
            r["results"][0]["report"]["action"].clone(),
            w.alerts.sent().len(),
        ));
    }
    assert_eq!(
        deferred,
        [
            (json!("deferred"), 0),
            (json!("deferred"), 0),
            (json!("deferred"), 1)
        ]
    );
    let alert = &w.alerts.sent()[0];
    assert_eq!(alert.kind, AlertKind::ExpiryClose);
    assert!(
        alert.subject.starts_with("Rotation deferred 3 times"),
        "{alert:?}"
    );
    assert!(
        alert.message.contains(&format!("expires on {expires}")),
        "{}",
        alert.message
    );
    assert!(alert.message.contains("ROTATION_MODE"), "{}", alert.message);
    assert_eq!(store.snapshot(), before, "no version written to count");
}

#[tokio::test]
async fn auto_hands_a_rotation_it_has_no_time_for_to_secrets_manager_which_completes_it() {
    let (w, store, h) = spawn_due(RotationMode::Auto).await;

    let r = h
        .invoke_within(check(), &with_secs_left(&w, 60))
        .await
        .unwrap();

    let report = &r["results"][0]["report"];
    assert_eq!(report["action"], "handed-off", "{r}");
    assert_eq!(report["hand_off"]["rotation_function_arn"], FUNCTION_ARN);
    assert_eq!(r["handed_off"], 1);
    assert_eq!(h.metric("RotationHandedOff", Some(&arn(&w).await)), [1.0]);
    assert!(h
        .metric("RotationSucceeded", Some(&arn(&w).await))
        .is_empty());
    // RotateSecret: this function as the rotation function, no schedule, an empty AWSPENDING.
    let calls = store.take_invocations();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].function_arn, FUNCTION_ARN);
    assert_eq!(report["hand_off"]["token"], calls[0].token.as_str());
    assert_eq!(
        store.rotation_config(&w.secret_id),
        Some((FUNCTION_ARN.to_string(), None))
    );
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(info.has(&calls[0].token, AWSPENDING));
    assert_eq!(
        w.entra.count(EntraOp::AddPassword),
        0,
        "the check itself made nothing"
    );

    let steps = secrets_manager_invokes(&h, &calls[0]).await;
    assert_eq!(steps, STEPS.len(), "every step succeeded");

    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(info.has(&calls[0].token, AWSCURRENT));
    assert_eq!(h.metric("RotationSucceeded", Some(&arn(&w).await)), [1.0]);
    let ended = Ended::of(&w).await;
    assert!(
        ended.jamf_on_current && ended.rotated && !ended.old_on_app,
        "{ended:?}"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&r), &h.output()]);
}

#[tokio::test]
async fn a_second_check_while_the_handed_off_rotation_is_pending_hands_off_nothing_more() {
    let (w, store, h) = spawn_due(RotationMode::FanOut).await;
    let plenty = with_secs_left(&w, 900);
    h.invoke_within(check(), &plenty).await.unwrap();
    let first = store.take_invocations();
    assert_eq!(first.len(), 1);

    // Secrets Manager has not run the steps yet; a half-done rotation cannot be handed off
    // again (RotateSecret refuses while AWSPENDING is on another version): it is resumed here.
    let r = h.invoke_within(check(), &plenty).await.unwrap();

    assert_eq!(r["results"][0]["report"]["action"], "rotated", "{r}");
    assert!(store.take_invocations().is_empty());
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(info.has(&first[0].token, AWSCURRENT), "the same version");
    // Secrets Manager's step events arrive late: the rotation is done, each step a no-op.
    assert_eq!(secrets_manager_invokes(&h, &first[0]).await, STEPS.len());
    assert_eq!(w.entra.count(EntraOp::AddPassword), 1, "one new credential");
    w.assert_invariant().await;
}

#[tokio::test]
async fn a_refused_hand_off_is_a_failure_that_alerts_and_changes_nothing() {
    let (w, store, h) = spawn_due(RotationMode::FanOut).await;
    store.fail_next(
        rotator_testkit::inspect::StoreOp::RotateSecret,
        1,
        "AccessDeniedException",
    );
    let before = store.snapshot();

    let e = h
        .invoke_within(check(), &with_secs_left(&w, 900))
        .await
        .unwrap_err();

    assert!(e.to_string().contains("1 of 1"), "{e}");
    assert_eq!(store.snapshot(), before);
    assert_eq!(h.metric("RotationFailed", Some(&arn(&w).await)), [1.0]);
    let kinds: Vec<AlertKind> = w.alerts.sent().iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [AlertKind::RotationFailed, AlertKind::ExpiryClose]);
    assert!(w.alerts.sent()[0].message.contains("AccessDeniedException"));
}

/// One scenario, run once in process and once fanned out.
#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    alert_on_success: bool,
    jamf_test_fails: bool,
}

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "due",
        alert_on_success: false,
        jamf_test_fails: false,
    },
    Scenario {
        name: "due, alert on success",
        alert_on_success: true,
        jamf_test_fails: false,
    },
    Scenario {
        name: "Jamf Pro's test fails",
        alert_on_success: false,
        jamf_test_fails: true,
    },
];

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ended {
    /// Jamf Pro holds the secret `AWSCURRENT` holds.
    jamf_on_current: bool,
    /// `AWSCURRENT` holds a new credential.
    rotated: bool,
    /// The first credential is still on the app.
    old_on_app: bool,
    /// Credentials on the app.
    credentials: usize,
    /// `AWSPENDING` is gone.
    no_pending: bool,
    /// The alerts, by kind.
    alerts: Vec<AlertKind>,
}

impl Ended {
    async fn of(w: &TestWorld) -> Ended {
        use secrecy::ExposeSecret;
        let doc = w.current_doc().await;
        let passwords = w.entra.passwords(&w.app.object_id);
        let info = w.store.describe(&w.secret_id).await.unwrap();
        Ended {
            jamf_on_current: w.jamf_secret().as_deref()
                == Some(doc.entra.client_secret.expose_secret()),
            rotated: doc.entra.key_id.as_deref() != Some(w.initial_key_id.as_str()),
            old_on_app: passwords.iter().any(|c| c.key_id == w.initial_key_id),
            credentials: passwords.len(),
            no_pending: info.version_with(AWSPENDING).is_none(),
            alerts: w.alerts.sent().iter().map(|a| a.kind).collect(),
        }
    }
}

/// What Secrets Manager does with a rotation handed to it: the four step events, in order,
/// until one fails (it would retry the whole rotation later). Returns how many succeeded.
pub(crate) async fn secrets_manager_invokes(
    h: &Harness,
    call: &rotator_testkit::memory_store::RotationInvocation,
) -> usize {
    let mut done = 0;
    for step in STEPS {
        let event =
            json!({"Step": step, "SecretId": call.secret_arn, "ClientRequestToken": call.token});
        if h.invoke(event).await.is_err() {
            break;
        }
        done += 1;
    }
    done
}

async fn run(s: Scenario, mode: RotationMode) -> (Ended, TestWorld) {
    let (w, store) = spawn_world_on_memory(10).await;
    let mut engine = w.engine.clone();
    engine.policy.alert_on_success = s.alert_on_success;
    let h = function(&w, engine, mode).await;
    if s.jamf_test_fails {
        w.jamf.fail_next(JamfOp::SmtpTest, 1, 400);
    }
    let r = h.invoke_within(check(), &with_secs_left(&w, 900)).await;
    let calls = store.take_invocations();
    match mode {
        RotationMode::FanOut => {
            let r = r.unwrap_or_else(|e| panic!("{}: handing off: {e}", s.name));
            assert_eq!(r["results"][0]["report"]["action"], "handed-off", "{r}");
            assert_eq!(calls.len(), 1, "{}", s.name);
            secrets_manager_invokes(&h, &calls[0]).await;
        }
        _ => assert!(calls.is_empty(), "{}: nothing handed off", s.name),
    }
    let rotated = usize::from(!s.jamf_test_fails);
    assert_eq!(
        h.metric("RotationSucceeded", Some(&arn(&w).await)).len(),
        rotated,
        "{}: {mode:?}",
        s.name
    );
    (Ended::of(&w).await, w)
}

#[tokio::test]
async fn the_same_scenarios_end_the_same_way_in_process_and_fanned_out() {
    for s in SCENARIOS {
        let (in_process, w1) = run(s, RotationMode::InProcess).await;
        let (fanned_out, w2) = run(s, RotationMode::FanOut).await;

        if s.jamf_test_fails {
            // Secrets Manager retries a failed rotation with the same token: its testSecret puts
            // the old secret back into Jamf Pro and keeps AWSPENDING and the new credential for
            // that retry; the in-process driver rolls back.
            let kept = Ended {
                credentials: 2,
                no_pending: false,
                alerts: vec![AlertKind::RotationFailed, AlertKind::ExpiryClose],
                ..in_process.clone()
            };
            assert_eq!(fanned_out, kept, "{}", s.name);
        } else {
            assert_eq!(in_process, fanned_out, "{}", s.name);
        }
        assert!(
            in_process.jamf_on_current && in_process.no_pending,
            "{}: {in_process:?}",
            s.name
        );
        if s.jamf_test_fails {
            // Rolled back: Jamf Pro back on the first secret, the new credential removed.
            assert!(!in_process.rotated && in_process.old_on_app, "{}", s.name);
            assert_eq!(
                in_process.alerts,
                [AlertKind::RolledBack, AlertKind::ExpiryClose],
                "{}",
                s.name
            );
        } else {
            assert!(in_process.rotated && !in_process.old_on_app, "{}", s.name);
            let want: &[AlertKind] = if s.alert_on_success {
                &[AlertKind::Rotated]
            } else {
                &[]
            };
            assert_eq!(in_process.alerts, want, "{}", s.name);
        }
        assert_eq!(in_process.credentials, 1, "{}", s.name);
        for w in [&w1, &w2] {
            w.assert_invariant().await;
            w.assert_no_leaks(&[]);
        }
    }
}
