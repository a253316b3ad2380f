//! Resource limits: an answer over the response-size cap (Jamf Pro, Entra/Graph) fails the
//! call with an error that names the operation and the cap, is never read whole and is not
//! retried; one target's panic is that target's failure while the others are checked, and the
//! panic's message reaches no log, report or alert.
//!
//! On the in-memory secret store (no moto needed) and virtual time.

use crate::common;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::{spawn_world_on_memory, TestWorld};
use rotator_engine::ports::*;
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::{Engine, RotateRequest};
use rotator_lambda::{route, Function, LambdaError, Targets};
use rotator_testkit::entra::{Corruption, EntraOp};
use rotator_testkit::jamf::JamfOp;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use std::sync::Arc;

fn manual() -> RotateRequest {
    RotateRequest {
        reason: "manual: limits".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_jamf_answer_over_the_size_cap_fails_the_rotation_clearly_and_is_never_read_whole() {
    let (w, _) = spawn_world_on_memory(10).await;
    let before = w.jamf_secret();
    // The preflight's read of the SMTP settings answers 256 MiB, streamed without a length.
    w.jamf.oversize_next(JamfOp::GetSmtp, 5);

    let report = w.engine.rotate(&w.secret_id, manual()).await.unwrap();

    assert!(
        matches!(report.outcome, Outcome::Failed | Outcome::RolledBack),
        "{report:?}"
    );
    let error = report.error.clone().unwrap_or_default();
    assert!(
        error.contains("GET /api/v2/smtp-server") && error.contains("2 MiB limit"),
        "{error}"
    );
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 1, "not retried");
    let sent = w.jamf.oversized_bytes_sent();
    println!("the stand-in handed {sent} bytes of the 256 MiB body to the connection");
    assert!(
        sent > 0 && sent < 32 * 1024 * 1024,
        "the client stopped reading near the cap, not after the whole body: {sent} bytes went out"
    );
    // Refused before anything was created: Jamf Pro and the app as they were.
    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    assert_eq!(w.jamf_secret(), before);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&format!("{report:?}")]);
}

#[tokio::test]
async fn an_entra_answer_over_the_size_cap_fails_the_check_clearly_and_is_not_retried() {
    let (w, _) = spawn_world_on_memory(10).await;
    w.entra
        .corrupt_next(EntraOp::GetApplication, 5, Corruption::Oversized);

    let e = w.engine.check(&w.secret_id, false).await.unwrap_err();

    let text = e.to_string();
    assert!(
        text.contains("GET application") && text.contains("2 MiB limit"),
        "{text}"
    );
    assert_eq!(e.class(), "entra");
    assert_eq!(w.entra.count(EntraOp::GetApplication), 1, "not retried");
    let alerts = w.alerts.sent();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].message.contains("2 MiB limit"), "{alerts:?}");
    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text]);
}

/// A directory that panics, quoting a secret, when asked about the app `client_id`: a bug of
/// the worst kind, whose message must go nowhere.
struct PanicsFor {
    inner: Arc<dyn Directory>,
    client_id: String,
    quoted: SecretString,
}

#[async_trait]
impl Directory for PanicsFor {
    async fn application(&self, app: &AppRef) -> Result<Application, DirectoryError> {
        if app.client_id == self.client_id {
            panic!("unexpected state for {}", self.quoted.expose_secret());
        }
        self.inner.application(app).await
    }
    async fn add_password(
        &self,
        app: &AppRef,
        name: &str,
        end: DateTime<Utc>,
    ) -> Result<NewPassword, DirectoryError> {
        self.inner.add_password(app, name, end).await
    }
    async fn remove_password(&self, app: &AppRef, key: &str) -> Result<(), DirectoryError> {
        self.inner.remove_password(app, key).await
    }
    async fn max_password_lifetime(
        &self,
        app: &AppRef,
    ) -> Result<Option<chrono::Duration>, DirectoryError> {
        self.inner.max_password_lifetime(app).await
    }
    async fn key_last_used(
        &self,
        app: &AppRef,
        key: &str,
    ) -> Result<Option<DateTime<Utc>>, DirectoryError> {
        self.inner.key_last_used(app, key).await
    }
    async fn check_secret(
        &self,
        app: &AppRef,
        secret: &SecretString,
        scope: &str,
    ) -> Result<SecretCheck, DirectoryError> {
        self.inner.check_secret(app, secret, scope).await
    }
}

/// A second target like `w`'s, for another app registration (client id), whose check panics.
async fn panicking_target(w: &TestWorld) -> (Engine, String) {
    let mut doc = w.current_doc().await;
    doc.entra.client_id = "99999999-9999-4999-8999-999999999999".into();
    let id = "jamf-panics".to_string();
    w.store
        .create(&id, &doc.to_secret(), "a target whose check panics")
        .await
        .unwrap();
    let e = &w.engine;
    let directory = PanicsFor {
        inner: e.directory.clone(),
        client_id: doc.entra.client_id.clone(),
        quoted: w.secrets[0].clone(),
    };
    let engine = Engine::new(
        Arc::new(directory),
        e.targets.clone(),
        e.store.clone(),
        e.alerts.clone(),
        e.clock.clone(),
        e.policy.clone(),
    );
    (engine, id)
}

#[tokio::test]
async fn a_panicking_target_is_reported_failed_and_the_other_targets_are_still_checked() {
    let (w, _) = spawn_world_on_memory(10).await;
    let (engine, panics) = panicking_target(&w).await;
    // What the Lambda and the CLI install at start; taken back at the end of this test.
    rotator_engine::panics::install_hook();
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let f = Function::new(
        engine,
        Targets::Ids(vec![panics.clone(), w.secret_id.clone()]),
    )
    .with_parallelism(1)
    .with_metrics(Arc::new(move |l: &str| sink.lock().unwrap().push(l.into())));

    let response = route(&f, json!({"action": "check"})).await;
    let _ = std::panic::take_hook();

    // The panic is that target's failure, reported like any other: the check runs to its end
    // and, since a target failed, ends in the function error that carries the whole report.
    let response = match response {
        Err(LambdaError::CheckFailed {
            failed: 1,
            targets: 2,
            report,
            ..
        }) => report,
        other => panic!("the check runs to its end and reports one failed target: {other:?}"),
    };
    assert_eq!(
        (response["targets"].as_u64(), response["failed"].as_u64()),
        (Some(2), Some(1)),
        "{response}"
    );
    let failed = &response["results"][0];
    assert_eq!(failed["secret_id"], panics.as_str());
    assert_eq!(failed["ok"], false);
    assert_eq!(failed["error_class"], "panic", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("panicked at tests/adapters/limits.rs:"),
        "{error}"
    );
    let checked = &response["results"][1];
    assert_eq!(checked["report"]["action"], "rotated", "{checked}");
    let alerts = w.alerts.sent();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].subject, format!("Check failed: {panics}"));
    let logs = common::logs();
    assert!(
        logs.contains("the rotator panicked") && logs.contains(&format!("scope=\"{panics}\"")),
        "the hook logs where and in which target's check"
    );
    assert!(
        !logs.contains("unexpected state for"),
        "the message is withheld"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&response.to_string(), &lines.lock().unwrap().join("\n")]);
}

#[test]
fn the_release_build_unwinds_so_that_a_panic_can_be_caught_per_target() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .expect("a release profile")
        .split("\n[")
        .next()
        .unwrap();
    let panic = release
        .lines()
        .find(|l| l.trim_start().starts_with("panic"))
        .map(|l| l.split('=').nth(1).unwrap().trim().trim_matches('"'));
    assert!(
        matches!(panic, None | Some("unwind")),
        "with panic = \"abort\" one target's panic ends every target's check: {panic:?}"
    );
}
