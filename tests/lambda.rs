//! The Lambda function's entry point, `lambda::route`, invoked with the sample events in
//! `events/` against the Entra and Jamf Pro stand-ins and Secrets Manager and SNS on moto, on
//! virtual time. Each test reads like the invocation it checks.

mod common;

use common::{moto, spawn_world_on_moto, TestWorld};
use jamf_entra_rotator::alert::SnsAlerts;
use jamf_entra_rotator::lambda::{route, Function, LambdaError, Targets};
use jamf_entra_rotator::ports::{AlertKind, AWSCURRENT, AWSPENDING};
use jamf_entra_rotator::rotation::Engine;
use jamf_entra_rotator::sim::entra::EntraOp;
use jamf_entra_rotator::sim::jamf::JamfOp;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::{Arc, Mutex};

const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The `RotationToken` in the sample step events: it must never show up anywhere.
const SAMPLE_ROTATION_TOKEN: &str = "b7e2c1d0-example-rotation-token";

/// A sample event from `events/`.
fn event(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .expect("sample events are JSON")
}

/// A sample step event, aimed at `secret_id` and `token`.
fn step_event(name: &str, secret_id: &str, token: &str) -> Value {
    let mut e = event(name);
    e["SecretId"] = secret_id.into();
    e["ClientRequestToken"] = token.into();
    e
}

/// The function over `engine` for `targets`, with its metric lines captured.
struct Harness {
    function: Function,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Harness {
    fn new(engine: Engine, targets: Vec<String>) -> Self {
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let function =
            Function::new(engine, Targets::Ids(targets)).with_metrics(Arc::new(move |l: &str| {
                sink.lock().unwrap().push(l.to_string())
            }));
        Harness { function, lines }
    }
    fn with_parallelism_of(mut self, n: usize) -> Self {
        self.function = self.function.with_parallelism(n);
        self
    }
    fn of(w: &TestWorld) -> Self {
        Self::new(w.engine.clone(), vec![w.secret_id.clone()])
    }
    async fn invoke(&self, event: Value) -> Result<Value, LambdaError> {
        route(&self.function, event).await
    }
    /// `(metric, value, target)` of every metric line emitted so far.
    fn metrics(&self) -> Vec<(String, f64, Option<String>)> {
        let mut out = Vec::new();
        for line in self.lines.lock().unwrap().iter() {
            let v: Value = serde_json::from_str(line).expect("EMF line is JSON");
            for m in v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .expect("EMF metrics")
            {
                let name = m["Name"].as_str().unwrap().to_string();
                out.push((
                    name.clone(),
                    v[&name].as_f64().unwrap(),
                    v["Target"].as_str().map(str::to_string),
                ));
            }
        }
        out
    }
    fn metric(&self, name: &str, target: Option<&str>) -> Vec<f64> {
        self.metrics()
            .into_iter()
            .filter(|(n, _, t)| n == name && t.as_deref() == target)
            .map(|(_, v, _)| v)
            .collect()
    }
}

fn text(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn every_sample_event_is_understood_and_only_the_malformed_one_is_refused() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/events");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 10, "one sample per entry point: {names:?}");
    for name in names {
        let parsed = jamf_entra_rotator::lambda::Event::parse(&event(&name));
        assert_eq!(
            parsed.is_err(),
            name == "malformed.json",
            "{name}: {parsed:?}"
        );
    }
}

#[tokio::test]
async fn scheduled_check_event_rotates_a_due_target_and_prints_its_metrics() {
    let w = spawn_world_on_moto(10).await;
    let h = Harness::of(&w);

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
    w.assert_no_leaks(&[&text(&response), &h.lines.lock().unwrap().join("\n")]);
}

#[tokio::test]
async fn classic_scheduled_event_leaves_a_target_far_from_expiry_alone_and_reports_its_days() {
    let w = spawn_world_on_moto(90).await;
    let h = Harness::of(&w);
    let before = w.store.describe(&w.secret_id).await.unwrap();

    let response = h
        .invoke(event("scheduled-event-classic.json"))
        .await
        .unwrap();

    assert_eq!(response["results"][0]["report"]["action"], "none");
    assert_eq!(response["results"][0]["report"]["days_until_expiry"], 89);
    assert_eq!(
        w.store.describe(&w.secret_id).await.unwrap().versions,
        before.versions
    );
    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
    assert_eq!(h.metric("DaysUntilExpiry", Some(&w.secret_id)), [89.0]);
    assert!(h.metric("RotationSucceeded", Some(&w.secret_id)).is_empty());
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&response)]);
}

#[tokio::test]
async fn status_event_reports_without_changing_anything() {
    let w = spawn_world_on_moto(10).await;
    let h = Harness::of(&w);
    let before = w.store.describe(&w.secret_id).await.unwrap();

    let response = h.invoke(event("status.json")).await.unwrap();

    assert_eq!(response["action"], "status");
    let report = &response["results"][0]["report"];
    assert_eq!(
        (report["due"].as_bool(), report["action"].as_str()),
        (Some(true), Some("would-rotate"))
    );
    assert_eq!(
        w.store.describe(&w.secret_id).await.unwrap().versions,
        before.versions
    );
    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    assert!(
        h.metrics().is_empty(),
        "status is read-only: no metric lines"
    );
    assert!(w.alerts.sent().is_empty());
    w.assert_no_leaks(&[&text(&response)]);
}

#[tokio::test]
async fn manual_rotate_event_rotates_a_target_that_is_not_due() {
    let w = spawn_world_on_moto(300).await;
    let h = Harness::of(&w);

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
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some(doc.entra.client_secret.expose_secret())
    );
    assert_eq!(h.metric("RotationSucceeded", Some(&w.secret_id)), [1.0]);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&response)]);
}

#[tokio::test]
async fn emergency_rotate_event_removes_the_old_secret_once_the_new_one_is_verified() {
    let w = spawn_world_on_moto(300).await;
    let h = Harness::of(&w);
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
async fn the_four_secrets_manager_step_events_in_sequence_complete_a_rotation() {
    let w = spawn_world_on_moto(300).await;
    let h = Harness::of(&w);
    let token = uuid::Uuid::new_v4().to_string();
    // What `aws secretsmanager rotate-secret` does before the first step: an empty AWSPENDING.
    moto::begin_rotation(&moto::secrets_client().await, &w.secret_id, &token).await;
    let mut responses = Vec::new();

    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let r = h
            .invoke(step_event(
                &format!("secretsmanager-{step}.json"),
                &w.secret_id,
                &token,
            ))
            .await;
        let r = r.unwrap_or_else(|e| panic!("{step}: {e}"));
        assert_eq!(
            (r["step"].as_str(), r["ok"].as_bool()),
            (Some(step), Some(true))
        );
        responses.push(text(&r));
    }

    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(
        info.has(&token, AWSCURRENT),
        "the token's version is AWSCURRENT"
    );
    assert!(
        info.version_with(AWSPENDING).is_none(),
        "AWSPENDING is dropped"
    );
    let doc = w.current_doc().await;
    assert_ne!(doc.entra.key_id.as_deref(), Some(w.initial_key_id.as_str()));
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some(doc.entra.client_secret.expose_secret())
    );
    assert_eq!(
        w.entra.passwords(&w.app.object_id).len(),
        1,
        "the replaced credential is retired"
    );
    assert_eq!(h.metric("RotationSucceeded", Some(&w.secret_id)), [1.0]);
    // A repeated finishSecret (Secrets Manager retries) is a no-op that succeeds.
    h.invoke(step_event(
        "secretsmanager-finishSecret.json",
        &w.secret_id,
        &token,
    ))
    .await
    .unwrap();
    assert_eq!(h.metric("RotationSucceeded", Some(&w.secret_id)), [1.0]);
    assert!(
        !common::logs().contains(SAMPLE_ROTATION_TOKEN),
        "the RotationToken must never be logged"
    );
    w.assert_invariant().await;
    let responses: Vec<&str> = responses.iter().map(String::as_str).collect();
    w.assert_no_leaks(&responses);
}

#[tokio::test]
async fn a_failing_test_secret_step_is_rolled_back_and_alerted() {
    let w = spawn_world_on_moto(300).await;
    let h = Harness::of(&w);
    let token = uuid::Uuid::new_v4().to_string();
    moto::begin_rotation(&moto::secrets_client().await, &w.secret_id, &token).await;
    for step in ["createSecret", "setSecret"] {
        h.invoke(step_event(
            &format!("secretsmanager-{step}.json"),
            &w.secret_id,
            &token,
        ))
        .await
        .unwrap();
    }
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 400);

    let err = h
        .invoke(step_event(
            "secretsmanager-testSecret.json",
            &w.secret_id,
            &token,
        ))
        .await
        .unwrap_err();

    assert!(err.to_string().contains("testSecret"), "{err}");
    assert_eq!(err.error_type(), "NonRetryable");
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(
        info.version_with(AWSPENDING).is_none(),
        "rollback drops AWSPENDING"
    );
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1);
    assert_eq!(
        creds[0].key_id, w.initial_key_id,
        "the new credential is removed, the old one kept"
    );
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some(w.secrets[0].expose_secret()),
        "Jamf Pro has the old secret back"
    );
    let alerts = w.alerts.sent();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::RolledBack);
    assert!(
        alerts[0].message.contains("Failed step: testSecret")
            && alerts[0].message.contains("What to do:"),
        "{}",
        alerts[0].message
    );
    assert_eq!(h.metric("RotationFailed", Some(&w.secret_id)), [1.0]);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&err.to_string()]);
}

#[tokio::test]
async fn a_malformed_event_is_refused_with_a_clear_error_and_changes_nothing() {
    let w = spawn_world_on_moto(10).await;
    let h = Harness::of(&w);
    let before = w.store.describe(&w.secret_id).await.unwrap();

    let err = h.invoke(event("malformed.json")).await.unwrap_err();

    assert!(matches!(err, LambdaError::BadEvent(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("unknown action \"rotate-everything\""),
        "{err}"
    );
    assert_eq!(err.error_type(), "NonRetryable");
    // A step event for a version that is not pending is refused too.
    let stray = step_event(
        "secretsmanager-setSecret.json",
        &w.secret_id,
        &uuid::Uuid::new_v4().to_string(),
    );
    let err = h.invoke(stray).await.unwrap_err();
    assert!(
        err.to_string().contains("is not a version of secret"),
        "{err}"
    );
    assert_eq!(
        w.store.describe(&w.secret_id).await.unwrap().versions,
        before.versions
    );
    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
    assert!(h.metrics().is_empty() && w.alerts.sent().is_empty());
}

#[tokio::test]
async fn a_rotate_event_for_a_secret_that_is_not_a_target_is_refused() {
    let w = spawn_world_on_moto(10).await;
    let h = Harness::of(&w);
    let mut e = event("rotate-manual.json");
    e["secret_id"] = w.jamf_credentials_id.clone().into();

    let err = h.invoke(e).await.unwrap_err();

    assert!(
        err.to_string()
            .contains("is not one of this deployment's targets"),
        "{err}"
    );
    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    let two = Harness::new(
        w.engine.clone(),
        vec![w.secret_id.clone(), "another".into()],
    );
    let err = two.invoke(event("rotate-manual.json")).await.unwrap_err();
    assert!(
        err.to_string().contains("has 2 targets; name the one"),
        "{err}"
    );
}

#[tokio::test]
async fn targets_found_by_tag_are_checked_and_a_manual_rotation_may_name_one_by_name() {
    let w = spawn_world_on_moto(10).await;
    let key = moto::unique("rotator-target");
    let tag = aws_sdk_secretsmanager::types::Tag::builder()
        .key(&key)
        .value("prod")
        .build();
    moto::secrets_client()
        .await
        .tag_resource()
        .secret_id(&w.secret_id)
        .tags(tag)
        .send()
        .await
        .expect("TagResource");
    let arn = w.store.describe(&w.secret_id).await.unwrap().arn;
    let targets = Targets::Tagged {
        key,
        value: Some("prod".into()),
    };
    let f = Function::new(w.engine.clone(), targets).with_metrics(Arc::new(|_: &str| {}));

    let status = route(&f, event("status.json")).await.unwrap();

    assert_eq!(status["targets"], 1);
    assert_eq!(
        status["results"][0]["secret_id"].as_str(),
        Some(arn.as_str())
    );
    let mut e = event("rotate-manual.json");
    e["secret_id"] = w.secret_id.clone().into();
    let rotated = route(&f, e).await.unwrap();
    assert_eq!(rotated["report"]["outcome"], "rotated");
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&status), &text(&rotated)]);
}

#[tokio::test]
async fn a_failing_target_raises_an_sns_alert_without_secrets_and_the_others_are_still_checked() {
    let w = spawn_world_on_moto(10).await;
    let sns = moto::sns_client().await;
    let topic = sns
        .create_topic()
        .name(moto::unique("rotator-alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let inbox = moto::Inbox::subscribe(&sns, &topic).await;
    let e = &w.engine;
    let engine = Engine::new(
        e.directory.clone(),
        e.targets.clone(),
        e.store.clone(),
        Arc::new(SnsAlerts::new(sns, topic)),
        e.clock.clone(),
        e.policy.clone(),
    );
    // A target whose secret does not hold a usable document.
    let broken = moto::unique("jamf-broken");
    w.store
        .create(
            &broken,
            &SecretString::from(r#"{"schema":1}"#.to_string()),
            "not a target document",
        )
        .await
        .unwrap();
    let h = Harness::new(engine, vec![broken.clone(), w.secret_id.clone()]).with_parallelism_of(1);

    let response = h.invoke(event("scheduled-check.json")).await.unwrap();

    assert_eq!(
        (response["targets"].as_u64(), response["failed"].as_u64()),
        (Some(2), Some(1))
    );
    let results = response["results"].as_array().unwrap();
    assert_eq!(
        (results[0]["secret_id"].as_str(), results[0]["ok"].as_bool()),
        (Some(broken.as_str()), Some(false))
    );
    assert_eq!(results[0]["error_class"], "document");
    assert_eq!(
        (
            results[1]["ok"].as_bool(),
            results[1]["report"]["action"].as_str()
        ),
        (Some(true), Some("rotated"))
    );
    let notes = inbox.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        notes[0]["Subject"].as_str(),
        Some(format!("Check failed: {broken}").as_str())
    );
    let message = notes[0]["Message"].as_str().unwrap();
    assert!(
        message.contains(&format!("Target: {broken}")) && message.contains("What to do:"),
        "{message}"
    );
    assert_eq!(h.metric("RotationSucceeded", Some(&w.secret_id)), [1.0]);
    assert!(h.metric("DaysUntilExpiry", Some(&broken)).is_empty());
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&response), &text(&Value::Array(notes))]);
}

/// The real `bootstrap` binary under cargo lambda's runtime emulator (`cargo lambda watch
/// --only-lambda-apis`), invoked over HTTP with the files in `events/`, against the stand-ins and
/// moto. The stand-ins run on the system clock here, since the binary does; with
/// `PROPAGATION_SUCCESSES=1` and no injected lag, a rotation never waits.
mod emulated {
    use super::*;
    use jamf_entra_rotator::clock::SystemClock;
    use std::io::BufRead;
    use std::process::{Child, Command, Stdio};

    /// cargo-lambda from the project's .venv (`.ci/run` installs it) or PATH.
    fn cargo_lambda() -> Option<std::path::PathBuf> {
        let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/cargo-lambda");
        if venv.is_file() {
            return Some(venv);
        }
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join("cargo-lambda"))
            .find(|p| p.is_file())
    }

    /// A running emulator and function; both are killed on drop.
    pub struct Emulated {
        emulator: Child,
        function: Child,
        port: u16,
        /// Everything the function printed on stdout: JSON log lines and EMF metric lines.
        pub stdout: Arc<Mutex<Vec<String>>>,
    }

    impl Drop for Emulated {
        fn drop(&mut self) {
            for child in [&mut self.function, &mut self.emulator] {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// A world on moto whose stand-ins use the system clock.
    pub async fn world(expires_in_days: i64) -> TestWorld {
        common::spawn_with(expires_in_days, |o| o.clock = Arc::new(SystemClock)).await
    }

    /// Starts the emulator and the real function configured for `w`'s stand-ins, with `targets`
    /// and, when given, an alert topic. `None` when cargo-lambda is not installed outside CI.
    pub async fn start(w: &TestWorld, targets: &[&str], topic: Option<&str>) -> Option<Emulated> {
        let Some(cargo_lambda) = cargo_lambda() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "cargo-lambda is not installed (.ci/run installs it into .venv)"
            );
            eprintln!(
                "skipped: cargo-lambda is not installed (pip install cargo-lambda into .venv)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let emulator = Command::new(cargo_lambda)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo lambda watch starts");
        let mut tries = 0;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tries += 1;
            assert!(
                tries < 600,
                "cargo lambda watch did not listen on {port} within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let s = &w.settings;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
        cmd.env_remove("AWS_PROFILE")
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_ENDPOINT_URL", moto::endpoint().await)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", moto::REGION)
            .env("ENTRA_LOGIN_URL", w.entra.url().as_str())
            .env("GRAPH_URL", w.entra.url().as_str())
            .env("ROTATOR_CLIENT_ID", s.rotator_client_id.as_deref().unwrap())
            .env(
                "ROTATOR_CREDENTIALS_SECRET_ID",
                s.rotator_credentials_secret_id.as_deref().unwrap(),
            )
            .env(
                "SMTP_TEST_RECIPIENT",
                s.smtp_test_recipient.as_deref().unwrap(),
            )
            .env("PROPAGATION_SUCCESSES", "1")
            .env("TARGET_SECRET_IDS", targets.join(","))
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        match topic {
            Some(t) => cmd.env("ALERT_TOPIC_ARN", t),
            None => cmd.env_remove("ALERT_TOPIC_ARN"),
        };
        let mut function = cmd.spawn().expect("bootstrap starts");
        let stdout: Arc<Mutex<Vec<String>>> = Arc::default();
        let (pipe, sink) = (function.stdout.take().unwrap(), stdout.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Some(Emulated {
            emulator,
            function,
            port,
            stdout,
        })
    }

    impl Emulated {
        /// Invokes the function with `event` as `cargo lambda invoke` does; returns the response
        /// body (a function error comes back as `{"errorType","errorMessage"}`).
        pub async fn invoke(&self, event: &Value) -> Value {
            let url = format!(
                "http://127.0.0.1:{}/2015-03-31/functions/_/invocations",
                self.port
            );
            let resp = reqwest::Client::new()
                .post(url)
                .json(event)
                .timeout(std::time::Duration::from_secs(120))
                .send()
                .await
                .expect("the emulator answers");
            let body = resp.text().await.expect("response body");
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
        }

        /// Waits (up to 10 s) until the function's stdout, read by another thread, shows the
        /// metric `name` = `value` for `target`; returns every metric seen by then. The HTTP
        /// response can arrive before the reader thread has taken the line the function
        /// printed just before it answered.
        pub async fn await_metric(&self, name: &str, value: f64, target: &str) -> Vec<(String, f64, Option<String>)> {
            let want = (name.to_string(), value, Some(target.to_string()));
            for _ in 0..500 {
                let seen = self.metrics();
                if seen.contains(&want) {
                    return seen;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            self.metrics()
        }

        /// The EMF lines the function printed, as `(metric, value, target)`.
        pub fn metrics(&self) -> Vec<(String, f64, Option<String>)> {
            let lines = self.stdout.lock().unwrap().clone();
            lines
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v.get("_aws").is_some())
                .flat_map(|v| {
                    let names: Vec<String> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|m| m["Name"].as_str().map(str::to_string))
                        .collect();
                    names.into_iter().map(move |n| {
                        (
                            n.clone(),
                            v[&n].as_f64().unwrap_or(f64::NAN),
                            v["Target"].as_str().map(str::to_string),
                        )
                    })
                })
                .collect()
        }

        /// Everything printed so far, for the leak scan.
        pub fn output(&self) -> String {
            self.stdout.lock().unwrap().join("\n")
        }
    }
}

#[tokio::test]
async fn emulated_check_rotates_a_due_target_prints_metrics_and_refuses_a_malformed_event() {
    let w = emulated::world(10).await;
    let Some(f) = emulated::start(&w, &[&w.secret_id], None).await else {
        return;
    };

    let response = f.invoke(&event("scheduled-check.json")).await;

    assert_eq!(
        response["results"][0]["report"]["action"], "rotated",
        "{response}"
    );
    assert_ne!(
        w.entra.passwords(&w.app.object_id)[0].key_id,
        w.initial_key_id
    );
    let metrics = f.await_metric("DaysUntilExpiry", 179.0, &w.secret_id).await;
    let metrics = if metrics.contains(&("RotationSucceeded".into(), 1.0, Some(w.secret_id.clone()))) {
        metrics
    } else {
        f.await_metric("RotationSucceeded", 1.0, &w.secret_id).await
    };
    assert!(
        metrics.contains(&("DaysUntilExpiry".into(), 179.0, Some(w.secret_id.clone()))),
        "{metrics:?}"
    );
    assert!(
        metrics.contains(&("RotationSucceeded".into(), 1.0, Some(w.secret_id.clone()))),
        "{metrics:?}"
    );
    assert!(
        f.output().lines().any(|l| l.contains("\"request_id\"")),
        "log lines carry the request id:\n{}",
        f.output()
    );
    w.assert_invariant().await;

    let after = w.store.describe(&w.secret_id).await.unwrap();
    let refused = f.invoke(&event("malformed.json")).await;
    assert_eq!(refused["errorType"], "NonRetryable", "{refused}");
    assert!(
        refused["errorMessage"]
            .as_str()
            .unwrap()
            .contains("unknown action \"rotate-everything\""),
        "{refused}"
    );
    assert_eq!(
        w.store.describe(&w.secret_id).await.unwrap().versions,
        after.versions,
        "a malformed event changes nothing"
    );
    assert_eq!(w.entra.count(EntraOp::AddPassword), 1);
    w.assert_no_leaks(&[&text(&response), &f.output()]);
}

#[tokio::test]
async fn emulated_check_leaves_a_target_far_from_expiry_alone_and_prints_its_metric() {
    let w = emulated::world(90).await;
    let Some(f) = emulated::start(&w, &[&w.secret_id], None).await else {
        return;
    };

    let response = f.invoke(&event("scheduled-event-classic.json")).await;

    assert_eq!(
        response["results"][0]["report"]["action"], "none",
        "{response}"
    );
    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
    let metrics = f.await_metric("DaysUntilExpiry", 89.0, &w.secret_id).await;
    assert!(
        metrics.contains(&("DaysUntilExpiry".into(), 89.0, Some(w.secret_id.clone()))),
        "{metrics:?}"
    );
    w.assert_no_leaks(&[&text(&response), &f.output()]);
}

#[tokio::test]
async fn emulated_manual_then_emergency_rotation() {
    let w = emulated::world(300).await;
    let Some(f) = emulated::start(&w, &[&w.secret_id], None).await else {
        return;
    };

    let manual = f.invoke(&event("rotate-manual.json")).await;
    assert_eq!(manual["report"]["outcome"], "rotated", "{manual}");
    let second = w
        .current_doc()
        .await
        .entra
        .client_secret
        .expose_secret()
        .to_string();
    let emergency = f.invoke(&event("rotate-emergency.json")).await;

    assert_eq!(emergency["report"]["outcome"], "rotated", "{emergency}");
    assert_eq!(emergency["report"]["old_removed"], true);
    assert!(
        !w.entra.accepts(&w.app.client_id, &second, GRAPH_SCOPE),
        "the replaced secret no longer works"
    );
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&text(&manual), &text(&emergency), &f.output()]);
}

#[tokio::test]
async fn emulated_step_events_complete_a_rotation() {
    let w = emulated::world(300).await;
    let Some(f) = emulated::start(&w, &[&w.secret_id], None).await else {
        return;
    };
    let token = uuid::Uuid::new_v4().to_string();
    moto::begin_rotation(&moto::secrets_client().await, &w.secret_id, &token).await;

    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let r = f
            .invoke(&step_event(
                &format!("secretsmanager-{step}.json"),
                &w.secret_id,
                &token,
            ))
            .await;
        assert_eq!(r["ok"], true, "{step}: {r}");
    }

    assert!(w
        .store
        .describe(&w.secret_id)
        .await
        .unwrap()
        .has(&token, AWSCURRENT));
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some(w.current_doc().await.entra.client_secret.expose_secret())
    );
    assert!(
        !f.output().contains(SAMPLE_ROTATION_TOKEN),
        "the RotationToken is never logged"
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&f.output()]);
}

#[tokio::test]
async fn emulated_failing_target_raises_an_sns_alert_without_secrets() {
    let w = emulated::world(90).await;
    let sns = moto::sns_client().await;
    let topic = sns
        .create_topic()
        .name(moto::unique("rotator-alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let inbox = moto::Inbox::subscribe(&sns, &topic).await;
    let broken = moto::unique("jamf-broken");
    w.store
        .create(
            &broken,
            &SecretString::from(r#"{"schema":1}"#.to_string()),
            "not a target document",
        )
        .await
        .unwrap();
    let Some(f) = emulated::start(&w, &[&broken, &w.secret_id], Some(&topic)).await else {
        return;
    };

    let response = f.invoke(&event("scheduled-check.json")).await;

    assert_eq!(
        (response["targets"].as_u64(), response["failed"].as_u64()),
        (Some(2), Some(1)),
        "{response}"
    );
    assert_eq!(response["results"][1]["ok"], true);
    let notes = inbox.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        notes[0]["Subject"].as_str(),
        Some(format!("Check failed: {broken}").as_str())
    );
    w.assert_no_leaks(&[&text(&response), &text(&Value::Array(notes)), &f.output()]);
}

/// The deployment scripts: each parses, answers a wrong call with its usage line, and
/// `setup-azure --dry-run` prints the Azure CLI steps without running any.
mod scripts {
    use std::process::Command;

    fn script(name: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR")));
        c
    }

    #[test]
    fn every_script_parses_and_a_wrong_call_prints_its_usage() {
        for name in ["build", "deploy", "invoke", "local", "setup-azure"] {
            let path = format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR"));
            let parsed = Command::new("bash").args(["-n", &path]).status().unwrap();
            assert!(parsed.success(), "{name} does not parse");
        }
        for (name, args) in [
            ("build", &["extra"][..]),
            ("invoke", &["explode"]),
            ("setup-azure", &[]),
        ] {
            let out = script(name).args(args).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{name}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(&format!("scripts/{name}")),
                "{name} prints its usage"
            );
        }
    }

    #[test]
    fn setup_azure_dry_run_prints_the_steps_and_runs_nothing() {
        let jamf_app = "11111111-2222-3333-4444-555555555555";
        // An `az` that fails loudly if called: a dry run must not call it.
        let out = script("setup-azure")
            .args([
                "--dry-run",
                "--jamf-app-id",
                jamf_app,
                "--auth",
                "client-secret",
            ])
            .env("PATH", "/nonexistent:/usr/bin:/bin")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stderr);
        for step in [
            "az ad app create",
            "az ad sp create",
            "--api 00000003-0000-0000-c000-000000000000 --api-permissions 18a4783c-866b-4cc7-a460-3d5e5662c884=Role",
            "az ad app permission admin-consent",
            &format!("az ad app owner add --id {jamf_app}"),
            "aws secretsmanager create-secret",
        ] {
            assert!(printed.contains(step), "missing step {step:?} in:\n{printed}");
        }
    }
}
