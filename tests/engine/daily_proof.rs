//! The daily proof (`jamf.daily_proof`, issue 21): the scheduled check runs Jamf Pro's own test
//! with the secret Jamf Pro holds. Jamf Pro holding a secret Entra refuses (pasted by an
//! administrator, or a late write of a secret that no longer exists) is found, alerted and
//! mended within one check; an opted-out target gets no test mail; a failure that is not the
//! secret's is alerted and nothing is written.

use crate::common;

use common::{spawn_with, TestWorld};
use rotator_engine::document::TargetKind;
use rotator_engine::ports::{Alert, AlertKind, LeaseStore};
use rotator_engine::rotation::check::{Action, CheckReport};
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::RotateRequest;
use rotator_testkit::jamf::JamfOp;
use secrecy::ExposeSecret;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A secret an administrator pastes into Jamf Pro: it looks like an Entra secret, and no app has it.
const PASTED: &str = "Xy7Q~pastedByAnAdminDuringAnOutage0123456789";

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A world whose target opts in to the daily proof, its secret far from due.
async fn opted_in(kind: TargetKind) -> TestWorld {
    spawn_with(90, |o| {
        o.target = kind;
        o.daily_proof = true;
        o.observation_secs = Some(5);
    })
    .await
}

fn key_ids(w: &TestWorld) -> Vec<String> {
    let mut keys: Vec<String> = w
        .entra
        .passwords(&w.app.object_id)
        .into_iter()
        .map(|c| c.key_id)
        .collect();
    keys.sort();
    keys
}

fn proof_alerts(w: &TestWorld) -> Vec<Alert> {
    w.alerts
        .sent()
        .into_iter()
        .filter(|a| a.kind == AlertKind::JamfProofFailed)
        .collect()
}

/// Runs one check with a metric sink; returns the report and the metric lines.
async fn check_with_metrics(w: &TestWorld) -> (CheckReport, Vec<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let engine = w.engine.clone().with_metrics(Arc::new(move |l: &str| {
        sink.lock().unwrap().push(l.to_string())
    }));
    let report = engine.check(&w.secret_id, false).await.unwrap();
    let lines = lines.lock().unwrap().clone();
    (report, lines)
}

/// The check found Jamf Pro's secret refused, alerted, and put AWSCURRENT's back: Jamf Pro now
/// holds AWSCURRENT's secret, which works, and the app's credentials are as they were.
async fn assert_found_and_put_back(w: &TestWorld, report: &CheckReport, keys_before: &[String]) {
    assert_eq!(report.action, Action::None);
    let proof = report.proof.as_ref().expect("the proof ran");
    assert!(proof.ran && !proof.passed && proof.repaired, "{proof:?}");
    let error = proof.error.as_deref().unwrap();
    assert!(error.contains("Unable to authenticate"), "{error}");
    let alerts = proof_alerts(w);
    assert_eq!(alerts.len(), 1, "{:?}", w.alerts.sent());
    let a = &alerts[0];
    assert!(
        a.subject.starts_with("Jamf Pro cannot use its secret: "),
        "{}",
        a.subject
    );
    for part in [
        "put AWSCURRENT's secret back into Jamf Pro",
        "What to do: In Jamf Pro, open Settings > System > SMTP Server",
    ] {
        assert!(a.message.contains(part), "{part:?} in {}", a.message);
    }
    let current = w.current_doc().await;
    assert_eq!(
        w.jamf_secret().as_deref(),
        Some(current.entra.client_secret.expose_secret())
    );
    assert!(w.jamf_secret_works(), "Jamf Pro's secret works after");
    assert_eq!(key_ids(w), keys_before, "no credential of the app changed");
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 1, "one write, AWSCURRENT's");
    let key = rotator_engine::rotation::lease::key_of(&w.secret_id);
    assert_eq!(
        w.leases.holder(&key).await.unwrap(),
        None,
        "the lease taken for the write is let go of"
    );
    w.assert_invariant().await;
}

#[tokio::test]
async fn an_unknown_secret_pasted_into_jamf_pro_is_found_alerted_and_replaced_in_one_check() {
    let w = opted_in(TargetKind::SmtpGraph).await;
    w.jamf.set_smtp_secret(PASTED);
    assert!(!w.jamf_secret_works());
    let keys_before = key_ids(&w);

    let (report, metrics) = check_with_metrics(&w).await;

    assert_found_and_put_back(&w, &report, &keys_before).await;
    assert_eq!(
        w.jamf.count(JamfOp::SmtpTest),
        2,
        "the proof, and the test after the write"
    );
    assert!(
        metrics.iter().any(|l| l.contains("\"JamfProofFailed\":1")),
        "{metrics:?}"
    );
    // The next check finds Jamf Pro working: no alert, no write.
    w.clock.advance(DAY);
    let next = w.engine.check(&w.secret_id, false).await.unwrap();
    let proof = next.proof.as_ref().unwrap();
    assert!(proof.passed && !proof.repaired && proof.error.is_none());
    assert_eq!(proof_alerts(&w).len(), 1);
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 1);

    let outputs = [
        serde_json::to_string(&report).unwrap(),
        serde_json::to_string(&next).unwrap(),
    ];
    w.assert_no_leaks(&[&outputs[0], &outputs[1]]);
    let alerts = serde_json::to_string(&w.alerts.sent()).unwrap();
    for text in [&alerts, &outputs[0], &common::logs()] {
        assert!(!text.contains(PASTED), "the pasted secret leaked");
    }
}

#[tokio::test]
async fn a_late_write_of_a_secret_that_no_longer_exists_is_found_and_replaced() {
    let w = spawn_with(10, |o| o.daily_proof = true).await;
    let r = w
        .engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    assert!(
        !key_ids(&w).contains(&w.initial_key_id),
        "the old one is gone"
    );
    // The write of the old secret Jamf Pro had given up on lands now.
    w.jamf.set_smtp_secret(w.secrets[0].expose_secret());
    assert!(!w.jamf_secret_works());
    let (puts, keys_before) = (w.jamf.count(JamfOp::PutSmtp), key_ids(&w));

    w.clock.advance(DAY);
    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    assert!(!report.due);
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), puts + 1);
    let proof = report.proof.as_ref().unwrap();
    assert!(proof.repaired, "{proof:?}");
    assert_eq!(proof_alerts(&w).len(), 1);
    assert!(w.jamf_secret_works());
    assert_eq!(key_ids(&w), keys_before, "no credential of the app changed");
    let current = w.current_doc().await;
    assert_eq!(
        w.jamf_secret().as_deref(),
        Some(current.entra.client_secret.expose_secret())
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&serde_json::to_string(&report).unwrap()]);
}

#[tokio::test]
async fn an_opted_out_target_gets_no_test_mail_and_an_opted_in_one_that_works_no_alert() {
    let out = spawn_with(90, |_| {}).await;
    out.jamf.set_smtp_secret(PASTED);
    let report = out.engine.check(&out.secret_id, false).await.unwrap();
    assert!(report.proof.is_none());
    assert_eq!(out.jamf.count(JamfOp::SmtpTest), 0, "no test mail");
    assert_eq!(
        out.jamf.count(JamfOp::Any),
        0,
        "Jamf Pro is not asked at all"
    );
    assert!(proof_alerts(&out).is_empty());
    assert_eq!(
        out.jamf_secret().as_deref(),
        Some(PASTED),
        "nothing written"
    );

    let opted = opted_in(TargetKind::SmtpGraph).await;
    let report = opted.engine.check(&opted.secret_id, false).await.unwrap();
    let proof = report.proof.unwrap();
    assert!(proof.ran && proof.passed && !proof.repaired, "{proof:?}");
    assert_eq!(opted.jamf.count(JamfOp::SmtpTest), 1, "one test mail");
    assert_eq!(opted.jamf.count(JamfOp::PutSmtp), 0);
    assert!(opted.alerts.sent().is_empty(), "{:?}", opted.alerts.sent());
}

#[tokio::test]
async fn the_status_report_and_a_due_rotation_run_no_proof() {
    let w = opted_in(TargetKind::SmtpGraph).await;
    w.jamf.set_smtp_secret(PASTED);
    let status = w.engine.check(&w.secret_id, true).await.unwrap();
    assert!(status.proof.is_none());
    assert_eq!(
        w.jamf.count(JamfOp::Any),
        0,
        "a dry run asks Jamf Pro nothing"
    );

    // A due target is proven by its rotation's own testSecret.
    let due = spawn_with(10, |o| o.daily_proof = true).await;
    let report = due.engine.check(&due.secret_id, false).await.unwrap();
    assert_eq!(report.action, Action::Rotated);
    assert!(report.proof.is_none());
    assert_eq!(due.jamf.count(JamfOp::SmtpTest), 1, "testSecret's only");
}

#[tokio::test]
async fn a_failure_that_is_not_the_secrets_is_alerted_and_nothing_is_written() {
    let w = opted_in(TargetKind::SmtpGraph).await;
    let mut settings = w.jamf.smtp_settings();
    settings["enabled"] = serde_json::json!(false);
    w.jamf.set_smtp_settings(settings);

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    let proof = report.proof.unwrap();
    assert!(proof.ran && !proof.passed && !proof.repaired, "{proof:?}");
    let alerts = proof_alerts(&w);
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0]
            .message
            .contains("Nothing was written to Jamf Pro"),
        "{}",
        alerts[0].message
    );
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
}

#[tokio::test]
async fn a_jamf_pro_that_cannot_be_reached_is_reported_not_alerted() {
    let w = opted_in(TargetKind::SmtpGraph).await;
    w.jamf.fail_next(JamfOp::SmtpTest, 10, 503);

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    let proof = report.proof.unwrap();
    assert!(!proof.ran && !proof.passed, "{proof:?}");
    assert!(
        proof.error.as_deref().unwrap().contains("could not run"),
        "{proof:?}"
    );
    assert!(proof_alerts(&w).is_empty());
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
}

#[tokio::test]
async fn conditional_access_a_connection_error_notification_alerts_and_nothing_is_written() {
    let w = opted_in(TargetKind::ConditionalAccess).await;
    w.jamf
        .set_notifications(&["CONDITIONAL_ACCESS_CONNECTION_ERROR"]);

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    let proof = report.proof.as_ref().unwrap();
    assert!(proof.ran && !proof.passed && !proof.repaired, "{proof:?}");
    assert!(
        proof
            .error
            .as_deref()
            .unwrap()
            .contains("CONDITIONAL_ACCESS_CONNECTION_ERROR"),
        "{proof:?}"
    );
    let alerts = proof_alerts(&w);
    assert_eq!(alerts.len(), 1);
    for part in [
        "Nothing was written to Jamf Pro",
        "Settings > Global > Conditional Access",
    ] {
        assert!(
            alerts[0].message.contains(part),
            "{part:?} in {}",
            alerts[0].message
        );
    }
    let web = w.jamf.web().counts();
    assert_eq!((web.save_posts, web.saves), (0, 0), "no save");
    assert!(w.jamf_secret_works());
    w.assert_no_leaks(&[&serde_json::to_string(&report).unwrap()]);
}

#[tokio::test]
async fn conditional_access_an_unauthorized_notification_puts_the_current_secret_back() {
    let w = opted_in(TargetKind::ConditionalAccess).await;
    let mut held = w.jamf.web().settings().unwrap();
    held.secret = PASTED.to_string();
    w.jamf.web().configure(held);
    w.jamf
        .set_notifications(&["MII_UNATHORIZED_RESPONSE_NOTIFICATION"]);
    assert!(!w.jamf_secret_works());

    let report = w.engine.check(&w.secret_id, false).await.unwrap();

    let proof = report.proof.as_ref().unwrap();
    assert!(proof.repaired, "{proof:?}");
    assert_eq!(w.jamf.web().counts().saves, 1, "one save, AWSCURRENT's");
    assert!(w.jamf_secret_works());
    assert_eq!(proof_alerts(&w).len(), 1);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&serde_json::to_string(&report).unwrap()]);
}

/// `init --daily-proof`, as an operator types it, opts the new target in: its first check
/// proves Jamf Pro, finds the pasted secret and puts the document's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_with_daily_proof_opts_the_target_in() {
    let w = spawn_with(90, |_| {}).await;
    let id = common::moto::unique("daily-proof-target");
    let jamf_url = w.jamf.url().to_string();
    let env: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL", common::moto::endpoint().await),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", common::moto::REGION.into()),
        ("ENTRA_LOGIN_URL", w.entra.url().to_string()),
        ("GRAPH_URL", w.entra.url().to_string()),
        ("ALLOW_LOOPBACK_HTTP", "true".into()),
        ("ROTATOR_CLIENT_ID", w.rotator_client_id.clone()),
        (
            "ROTATOR_CREDENTIALS_SECRET_ID",
            w.rotator_credentials_id.clone(),
        ),
        (
            "JER_CLIENT_SECRET",
            w.secrets[0].expose_secret().to_string(),
        ),
    ];
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_jamf-entra-rotator"))
        .args([
            "init",
            "--secret-id",
            &id,
            "--jamf-url",
            &jamf_url,
            "--target",
            "smtp-graph",
            "--jamf-credentials-secret-id",
            &w.jamf_credentials_id,
            "--tenant-id",
            rotator_testkit::world::TENANT_ID,
            "--client-id",
            &w.app.client_id,
            "--test-recipient",
            "it@example.com",
            "--daily-proof",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let (_, stored) = w.store.value_at(&id, "AWSCURRENT").await.unwrap().unwrap();
    let doc = rotator_engine::document::TargetDocument::parse(stored.expose_secret()).unwrap();
    assert!(doc.jamf.daily_proof);
    w.jamf.set_smtp_secret(PASTED);

    let report = w.engine.check(&id, false).await.unwrap();

    assert!(report.proof.unwrap().repaired);
    assert!(w.jamf_secret_works());
    let stdout = String::from_utf8_lossy(&out.stdout);
    w.assert_no_leaks(&[&stdout, &stderr]);
}

/// Another attempt takes the target's lease between the proof's failure and its write: the
/// proof writes nothing, says why, and leaves the target to that attempt.
#[tokio::test]
async fn the_proof_writes_only_under_the_targets_lease() {
    use common::tripwire::{wired, At, Tripwire};
    let w = opted_in(TargetKind::SmtpGraph).await;
    w.jamf.set_smtp_secret(PASTED);
    let (leases, key, clock) = (
        w.leases.clone(),
        rotator_engine::rotation::lease::key_of(&w.secret_id),
        w.clock.clone(),
    );
    let hook: common::tripwire::Hook = Box::new(move || {
        Box::pin(async move {
            let now = rotator_testkit::clock::Clock::now(&clock);
            let until = now + chrono::Duration::minutes(15);
            leases
                .acquire(&key, "another attempt", until, now, None)
                .await
                .unwrap();
        })
    });
    let trip = Tripwire::interfering(At::Named("entra: token with a secret", 1), hook);

    let report = wired(&w.engine, trip.clone())
        .check(&w.secret_id, false)
        .await
        .unwrap();

    assert!(
        trip.hooked.lock().unwrap().is_some(),
        "the other took the lease"
    );
    let proof = report.proof.unwrap();
    assert!(!proof.passed && !proof.repaired, "{proof:?}");
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0, "nothing written");
    assert_eq!(w.jamf_secret().as_deref(), Some(PASTED));
    let alerts = proof_alerts(&w);
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].message.contains(
            "Nothing was written to Jamf Pro: the rotator could not take the target's lease"
        ) && alerts[0].message.contains("holds its lease until"),
        "{}",
        alerts[0].message
    );
}
