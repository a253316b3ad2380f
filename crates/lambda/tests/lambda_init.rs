//! The Lambda's init does only local work: the real `bootstrap` asks for its first event before it
//! has sent a single request to AWS or Entra, and builds its clients (one read of the rotator's
//! secret) at the first invocation, which reports a failure clearly; the next invocation tries
//! again. The binary runs against a runtime-API stub and an AWS endpoint in front of moto that
//! records every request and can refuse them.

#[path = "../../../tests/common/mod.rs"]
mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::moto;
use rotator_lambda::{Deferred, Function, LambdaError, Targets};
use rotator_testkit::clock::{Clock, SystemClock};
use rotator_testkit::world::TENANT_ID;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long any one step may take before the test gives up (a debug build on a shared machine).
const PATIENCE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_deferred_function_is_built_at_its_first_invocation_and_a_failed_build_is_retried() {
    let (w, _store) = common::spawn_world_on_memory(90).await;
    let builds = Arc::new(AtomicUsize::new(0));
    let (engine, ids, count) = (w.engine.clone(), vec![w.secret_id.clone()], builds.clone());
    let deferred = Deferred::new(move || {
        let n = count.fetch_add(1, Ordering::SeqCst);
        let f = Function::new(engine.clone(), Targets::Ids(ids.clone()))
            .with_metrics(Arc::new(|_: &str| {}));
        async move {
            match n {
                0 => Err(LambdaError::Config("the store is unreachable".into())),
                _ => Ok(f),
            }
        }
    });
    assert_eq!(
        builds.load(Ordering::SeqCst),
        0,
        "nothing is built before an invocation"
    );

    let bad = deferred
        .route(json!({"action": "explode"}))
        .await
        .unwrap_err();
    assert!(matches!(bad, LambdaError::BadEvent(_)), "{bad}");
    assert_eq!(
        builds.load(Ordering::SeqCst),
        0,
        "a malformed event is refused before the build"
    );

    let first = deferred
        .route(json!({"action": "status"}))
        .await
        .unwrap_err();
    assert!(
        first.to_string().contains("the store is unreachable"),
        "{first}"
    );
    assert!(deferred.get().is_none(), "a failed build is not kept");

    for _ in 0..2 {
        let ok = deferred.route(json!({"action": "status"})).await.unwrap();
        assert_eq!(
            (ok["action"].as_str(), ok["failed"].as_u64()),
            (Some("status"), Some(0)),
            "{ok}"
        );
    }
    assert_eq!(
        builds.load(Ordering::SeqCst),
        2,
        "built again after the failure, then kept"
    );
}

#[tokio::test]
async fn bootstrap_init_makes_no_request_and_its_first_invocation_reads_the_secret_once() {
    let w = common::spawn_with(90, |o| o.clock = Arc::new(SystemClock)).await;
    // Self-rotation: the rotator's secret is its own target document, which every invocation of a
    // warm function reads afresh.
    let rotator_app = w.entra.object_id_of(&w.rotator_client_id).unwrap();
    w.entra.make_owner(&w.rotator_client_id, &rotator_app);
    let (key, secret) = w.entra.seed_password(
        &rotator_app,
        "rotator",
        SystemClock.now() + chrono::Duration::days(200),
    );
    let doc = json!({"schema": 1, "entra": {"tenant_id": TENANT_ID, "client_id": w.rotator_client_id,
        "application_object_id": rotator_app, "client_secret": secret.expose_secret(), "key_id": key},
        "jamf": {"target": "rotator"}});
    let mut doc = rotator_engine::document::TargetDocument::parse(&doc.to_string()).unwrap();
    doc.entra.cloud = rotator_engine::config::Cloud::Global;
    w.store
        .put_current(&w.rotator_credentials_id, &doc.to_secret())
        .await
        .unwrap();
    let rotator_secret_id = w.rotator_credentials_id.clone();

    let aws = AwsEndpoint::start(moto::endpoint().await).await;
    let runtime = RuntimeApi::start().await;
    let s = &w.settings;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("127.0.0.1:{}", runtime.port),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "jamf-entra-rotator")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_ENDPOINT_URL", &aws.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", moto::REGION)
        .env("ENTRA_LOGIN_URL", w.entra.url().as_str())
        .env("GRAPH_URL", w.entra.url().as_str())
        .env("ALLOW_LOOPBACK_HTTP", "true")
        .env("ROTATOR_CLIENT_ID", &w.rotator_client_id)
        .env("ROTATOR_CREDENTIALS_SECRET_ID", &rotator_secret_id)
        .env(
            "SMTP_TEST_RECIPIENT",
            s.smtp_test_recipient.as_deref().unwrap(),
        )
        .env("TARGET_SECRET_IDS", &w.secret_id)
        .env("AWS_LAMBDA_LOG_LEVEL", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("bootstrap starts");
    let stdout: Arc<Mutex<Vec<String>>> = Arc::default();
    let (pipe, sink) = (child.stdout.take().unwrap(), stdout.clone());
    let (line_read, mut lines_read) = watch::channel(0usize);
    let _child = KillOnDrop(child);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut lines = sink.lock().unwrap();
            lines.push(line);
            let _ = line_read.send(lines.len());
        }
    });

    // Init: done when it asks for its first event. Nothing reached AWS or Entra before that.
    runtime.wait_for_next(1).await;
    assert_eq!(
        aws.requests(),
        Vec::<(String, String)>::new(),
        "init sent requests to AWS"
    );
    assert!(w.entra.requests().is_empty(), "init sent requests to Entra");

    // First invocation, Secrets Manager refuses: a clear error, logged; nothing is kept.
    aws.refuse(true);
    let (kind, body) = runtime.invoke(json!({"action": "status"})).await;
    assert_eq!(kind, "error", "{body}");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    for part in [
        "the rotator's credentials",
        "AccessDeniedException",
        "the next invocation tries again",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
    assert_eq!(aws.reads_of(&rotator_secret_id), 1);
    // The function writes its log line before it answers, but the pipe is read by another thread:
    // wait for that thread to have read it (each line read wakes this up).
    let logged = |lines: &[String]| {
        lines
            .iter()
            .any(|l| l.contains("\"ERROR\"") && l.contains("AccessDeniedException"))
    };
    while !logged(&stdout.lock().unwrap()) {
        let read = tokio::time::timeout(Duration::from_secs(30), lines_read.changed()).await;
        assert!(
            matches!(read, Ok(Ok(()))),
            "no error log line: {:?}",
            stdout.lock().unwrap()
        );
    }

    // Second invocation, Secrets Manager answers: built now, one read of the rotator's secret for
    // the identity (and the check's own reads of that document, as any invocation makes).
    aws.refuse(false);
    aws.clear();
    let (kind, cold) = runtime.invoke(json!({"action": "status"})).await;
    assert_eq!(kind, "response", "{cold}");
    assert_eq!(
        (cold["targets"].as_u64(), cold["failed"].as_u64()),
        (Some(2), Some(0)),
        "{cold}"
    );
    let cold_reads = aws.reads_of(&rotator_secret_id);

    // Third, warm: the identity is read afresh (self-rotation), the clients are kept.
    aws.clear();
    let (kind, warm) = runtime.invoke(json!({"action": "status"})).await;
    assert_eq!(kind, "response", "{warm}");
    assert_eq!(warm["failed"].as_u64(), Some(0), "{warm}");
    let warm_reads = aws.reads_of(&rotator_secret_id);
    assert!(
        warm_reads >= 2,
        "the warm invocation re-reads the identity and checks the document: {warm_reads}"
    );
    assert_eq!(
        cold_reads, warm_reads,
        "the building invocation read the rotator's secret more often than a warm one"
    );

    let output = stdout.lock().unwrap().join("\n");
    w.assert_no_leaks(&[&output, message, &cold.to_string(), &warm.to_string()]);
}

#[tokio::test]
async fn bootstrap_init_still_fails_on_a_missing_setting_without_a_request() {
    let aws = AwsEndpoint::start(moto::endpoint().await).await;
    let runtime = RuntimeApi::start().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("127.0.0.1:{}", runtime.port),
        )
        .env("AWS_ENDPOINT_URL", &aws.url)
        .env("AWS_REGION", moto::REGION)
        .env("ROTATOR_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
        .env("TARGET_SECRET_IDS", "jamf-entra-rotator/x")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PATIENCE, out)
        .await
        .expect("init ends")
        .expect("bootstrap runs");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        log.contains("init failed") && log.contains("ROTATOR_CREDENTIALS_SECRET_ID"),
        "{log}"
    );
    assert!(
        aws.requests().is_empty() && *runtime.nexts.borrow() == 0,
        "it asked for nothing"
    );
}

/// Even a directive that raises every crate to TRACE leaves the raw event (a step event's
/// `RotationToken`) and the AWS SDK's requests out of the log: no crate but ours logs at TRACE.
#[tokio::test]
async fn bootstrap_at_trace_logs_no_raw_event_and_no_sdk_request() {
    let aws = AwsEndpoint::start(moto::endpoint().await).await;
    aws.refuse(true);
    let runtime = RuntimeApi::start().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("127.0.0.1:{}", runtime.port),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "jamf-entra-rotator")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_ENDPOINT_URL", &aws.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", moto::REGION)
        .env("ROTATOR_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
        .env(
            "ROTATOR_CREDENTIALS_SECRET_ID",
            "jamf-entra-rotator/rotator",
        )
        .env("TARGET_SECRET_IDS", "jamf-entra-rotator/x")
        .env(
            "AWS_LAMBDA_LOG_LEVEL",
            "trace,rotator_engine=trace,rotator_adapters=trace",
        )
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("bootstrap starts");
    let stdout = child.stdout.take().unwrap();

    let rotation_token = "rotation-token-that-must-never-be-logged";
    let (kind, body) = runtime
        .invoke(
            json!({"Step": "testSecret", "SecretId": "jamf-entra-rotator/x",
            "ClientRequestToken": "00000000-0000-0000-0000-00000000000a",
            "RotationToken": rotation_token}),
        )
        .await;
    assert_eq!(kind, "error", "{body}");
    assert!(
        aws.reads_of("jamf-entra-rotator/rotator") >= 1,
        "the invocation sent the SDK request whose logging is checked"
    );
    runtime.wait_for_next(2).await;
    child.kill().await.unwrap();
    let mut log = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut tokio::io::BufReader::new(stdout), &mut log)
        .await
        .unwrap();
    assert!(
        log.contains("\"ERROR\"") && log.contains("AccessDeniedException"),
        "the function logged: {log}"
    );
    assert!(
        !log.contains(rotation_token),
        "the raw event was logged: {log}"
    );
    let traced: Vec<&str> = log.lines().filter(|l| l.contains("\"TRACE\"")).collect();
    assert!(traced.is_empty(), "lines at TRACE: {traced:#?}");
}

/// Kills the function when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An AWS endpoint in front of moto: records `(operation, SecretId)` of every request; when
/// refusing, answers each with Secrets Manager's `AccessDeniedException` (not retried).
struct AwsEndpoint {
    url: String,
    state: Arc<AwsState>,
}

struct AwsState {
    moto: String,
    refuse: AtomicBool,
    seen: Mutex<Vec<(String, String)>>,
    http: reqwest::Client,
}

impl AwsEndpoint {
    async fn start(moto: String) -> Self {
        let state = Arc::new(AwsState {
            moto,
            refuse: AtomicBool::new(false),
            seen: Mutex::default(),
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .fallback(aws_request)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        AwsEndpoint { url, state }
    }
    fn refuse(&self, on: bool) {
        self.state.refuse.store(on, Ordering::SeqCst);
    }
    fn clear(&self) {
        self.state.seen.lock().unwrap().clear();
    }
    fn requests(&self) -> Vec<(String, String)> {
        self.state.seen.lock().unwrap().clone()
    }
    /// `GetSecretValue` requests for `secret_id`.
    fn reads_of(&self, secret_id: &str) -> usize {
        self.requests()
            .iter()
            .filter(|(op, id)| op == "secretsmanager.GetSecretValue" && id == secret_id)
            .count()
    }
}

async fn aws_request(
    State(s): State<Arc<AwsState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["SecretId"].as_str().map(str::to_string));
    s.seen.lock().unwrap().push((op, id.unwrap_or_default()));
    if s.refuse.load(Ordering::SeqCst) {
        let body = json!({"__type": "AccessDeniedException",
            "message": "User: arn:aws:sts::123456789012:assumed-role/rotator/x is not authorized to perform: secretsmanager:GetSecretValue"});
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.1")],
            body.to_string(),
        )
            .into_response();
    }
    let mut req = s.http.request(
        method,
        format!(
            "{}{}",
            s.moto,
            uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
        ),
    );
    for (k, v) in headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "host" | "content-length"))
    {
        req = req.header(k, v);
    }
    let resp = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("moto: {e}")).into_response(),
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    let mut out = (status, body).into_response();
    for (k, v) in headers.iter().filter(|(k, _)| {
        !matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        )
    }) {
        out.headers_mut().insert(k, v.clone());
    }
    out
}

/// The Lambda runtime API: hands out one queued event per `next`, collects the results.
struct RuntimeApi {
    port: u16,
    events: mpsc::UnboundedSender<Value>,
    results: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    nexts: watch::Receiver<usize>,
}

struct RuntimeState {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>,
    results: mpsc::UnboundedSender<(String, Value)>,
    nexts: watch::Sender<usize>,
    served: AtomicUsize,
}

impl RuntimeApi {
    async fn start() -> Self {
        let (events, events_rx) = mpsc::unbounded_channel();
        let (results_tx, results) = mpsc::unbounded_channel();
        let (nexts_tx, nexts) = watch::channel(0);
        let state = Arc::new(RuntimeState {
            events: tokio::sync::Mutex::new(events_rx),
            results: results_tx,
            nexts: nexts_tx,
            served: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route(
                "/2018-06-01/runtime/invocation/next",
                axum::routing::get(next),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                axum::routing::post(result_of("response")),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                axum::routing::post(result_of("error")),
            )
            .route(
                "/2018-06-01/runtime/init/error",
                axum::routing::post(result_of("init-error")),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        RuntimeApi {
            port,
            events,
            results: tokio::sync::Mutex::new(results),
            nexts,
        }
    }

    /// Waits until the function has asked for its `n`th event.
    async fn wait_for_next(&self, n: usize) {
        let mut nexts = self.nexts.clone();
        tokio::time::timeout(PATIENCE, nexts.wait_for(|k| *k >= n))
            .await
            .unwrap_or_else(|_| {
                panic!("the function did not ask for event {n} within {PATIENCE:?}")
            })
            .unwrap();
    }

    /// Hands `event` to the function; returns `("response" | "error" | "init-error", body)`.
    async fn invoke(&self, event: Value) -> (String, Value) {
        self.events.send(event).unwrap();
        tokio::time::timeout(PATIENCE, async { self.results.lock().await.recv().await })
            .await
            .unwrap_or_else(|_| panic!("no result within {PATIENCE:?}"))
            .expect("runtime API running")
    }
}

async fn next(State(s): State<Arc<RuntimeState>>) -> Response {
    s.nexts.send_modify(|n| *n += 1);
    let Some(event) = s.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let id = format!("test-{}", s.served.fetch_add(1, Ordering::SeqCst));
    let deadline = (SystemClock.now() + chrono::Duration::minutes(15)).timestamp_millis();
    let headers = [
        ("content-type", "application/json".to_string()),
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:jamf-entra-rotator".into(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".into(),
        ),
    ];
    let mut out = event.to_string().into_response();
    for (k, v) in headers {
        out.headers_mut().insert(k, v.parse().unwrap());
    }
    out
}

fn result_of(
    kind: &'static str,
) -> impl Fn(State<Arc<RuntimeState>>, Bytes) -> std::future::Ready<StatusCode> + Clone {
    move |State(s): State<Arc<RuntimeState>>, body: Bytes| {
        let v = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        let _ = s.results.send((kind.to_string(), v));
        std::future::ready(StatusCode::ACCEPTED)
    }
}
