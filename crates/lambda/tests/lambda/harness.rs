//! What the `lambda` tests share: the sample events, the function over a world's engine with
//! its metric lines captured, and the setup and checks more than one subject repeats.

use crate::common::{moto, spawn_world_on_moto, TestWorld};
use rotator_engine::document::TargetDocument;
use rotator_engine::ports::SecretInfo;
use rotator_engine::rotation::Engine;
use rotator_lambda::{route, route_within, Function, Invocation, LambdaError, Targets};
use rotator_testkit::entra::EntraOp;
use rotator_testkit::jamf::JamfOp;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::{Arc, Mutex};

pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The `RotationToken` in the sample step events: it must never show up anywhere.
pub const SAMPLE_ROTATION_TOKEN: &str = "b7e2c1d0-example-rotation-token";
/// The four Secrets Manager rotation steps, in the order Secrets Manager sends them.
pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// One metric line's `(metric, value, target)`.
pub type Metric = (String, f64, Option<String>);

/// A sample event from `events/`.
pub fn event(name: &str) -> Value {
    let path = format!(
        "{}/events/{name}",
        crate::common::moto::repo_root().display()
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .expect("sample events are JSON")
}

/// The sample event for rotation step `step` (`createSecret`…), aimed at `w`'s secret and `token`.
pub fn step_event(step: &str, w: &TestWorld, token: &str) -> Value {
    let mut e = event(&format!("secretsmanager-{step}.json"));
    e["SecretId"] = w.secret_id.as_str().into();
    e["ClientRequestToken"] = token.into();
    e
}

/// What `aws secretsmanager rotate-secret` does before the first step (an empty AWSPENDING for
/// a new token); returns the token.
pub async fn begin_rotation(w: &TestWorld) -> String {
    let token = uuid::Uuid::new_v4().to_string();
    moto::begin_rotation(&moto::secrets_client().await, &w.secret_id, &token).await;
    token
}

/// The response as one line, for the leak scan.
pub fn text(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

/// The function over `engine` for `targets`, with its metric lines captured.
pub struct Harness {
    function: Function,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Harness {
    pub fn new(engine: Engine, targets: Vec<String>) -> Self {
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let function =
            Function::new(engine, Targets::Ids(targets)).with_metrics(Arc::new(move |l: &str| {
                sink.lock().unwrap().push(l.to_string())
            }));
        Harness { function, lines }
    }
    pub fn with_parallelism_of(mut self, n: usize) -> Self {
        self.function = self.function.with_parallelism(n);
        self
    }
    pub fn with_full_response_up_to(mut self, n: usize) -> Self {
        self.function = self.function.with_full_response_up_to(n);
        self
    }
    pub fn with_rotation_mode(mut self, mode: rotator_engine::config::RotationMode) -> Self {
        self.function = self.function.with_rotation_mode(mode);
        self
    }
    pub async fn invoke(&self, event: Value) -> Result<Value, LambdaError> {
        route(&self.function, event).await
    }
    /// An invocation with a deadline and a function ARN, as the runtime's context gives them.
    pub async fn invoke_within(
        &self,
        event: Value,
        invocation: &Invocation,
    ) -> Result<Value, LambdaError> {
        route_within(&self.function, event, invocation).await
    }
    /// Every metric line emitted so far, for the leak scan.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
    /// `(metric, value, target)` of every metric line emitted so far.
    pub fn metrics(&self) -> Vec<Metric> {
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
    pub fn metric(&self, name: &str, target: Option<&str>) -> Vec<f64> {
        self.metrics()
            .into_iter()
            .filter(|(n, _, t)| n == name && t.as_deref() == target)
            .map(|(_, v, _)| v)
            .collect()
    }
}

/// A world on moto whose one target expires in `expires_in_days`, and the function for it.
pub async fn spawn(expires_in_days: i64) -> (TestWorld, Harness) {
    let w = spawn_world_on_moto(expires_in_days).await;
    let h = Harness::new(w.engine.clone(), vec![w.secret_id.clone()]);
    (w, h)
}

/// Checks what a check or status did to the first (or only) target: `action` in its report.
pub fn assert_first_action(response: &Value, action: &str) {
    assert_eq!(
        response["results"][0]["report"]["action"], action,
        "{response}"
    );
}

/// An SNS topic on moto and an inbox subscribed to it: `(client, topic ARN, inbox)`.
pub async fn alert_topic() -> (aws_sdk_sns::Client, String, moto::Inbox) {
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
    (sns, topic, inbox)
}

/// A target whose secret does not hold a usable document; returns its id.
pub async fn broken_target(w: &TestWorld) -> String {
    let broken = moto::unique("jamf-broken");
    w.store
        .create(
            &broken,
            &SecretString::from(r#"{"schema":1}"#.to_string()),
            "not a target document",
        )
        .await
        .unwrap();
    broken
}

/// Checks a check of two targets in which `broken` failed: the response counts one failure and
/// the topic got one notification, naming `broken`.
pub fn assert_one_check_failed(response: &Value, notes: &[Value], broken: &str) {
    assert_eq!(
        (response["targets"].as_u64(), response["failed"].as_u64()),
        (Some(2), Some(1)),
        "{response}"
    );
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        notes[0]["Subject"].as_str(),
        Some(format!("Check failed: {broken}").as_str())
    );
}

/// Checks that Jamf Pro holds the secret of `doc`.
pub fn assert_jamf_holds(w: &TestWorld, doc: &TargetDocument) {
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some(doc.entra.client_secret.expose_secret())
    );
}

/// Checks that nothing changed since `before`: the same versions, no credential added in Entra,
/// no secret put to Jamf Pro.
pub async fn assert_unchanged(w: &TestWorld, before: &SecretInfo) {
    assert_eq!(
        w.store.describe(&w.secret_id).await.unwrap().versions,
        before.versions
    );
    assert_eq!(w.entra.count(EntraOp::AddPassword), 0);
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
}
