//! The real `bootstrap` binary under cargo lambda's runtime emulator (`cargo lambda watch
//! --only-lambda-apis`), invoked over HTTP as `cargo lambda invoke` does, against the stand-ins
//! and moto. The stand-ins run on the system clock here, since the binary does; with
//! `PROPAGATION_SUCCESSES=1` and no injected lag, a rotation never waits.

use crate::common::{self, moto, TestWorld};
use crate::harness::Metric;
use rotator_engine::clock::SystemClock;
use serde_json::Value;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// cargo-lambda from the project's .venv (`.ci/run` installs it) or PATH.
fn cargo_lambda() -> Option<std::path::PathBuf> {
    let venv = crate::common::moto::repo_root().join(".venv/bin/cargo-lambda");
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
    stdout: Arc<Mutex<Vec<String>>>,
    /// More function processes polling the same emulator ([`Emulated::add_process`]).
    more: Vec<Child>,
}

impl Drop for Emulated {
    fn drop(&mut self) {
        let more = self.more.iter_mut();
        for child in more.chain([&mut self.function, &mut self.emulator]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A world on moto whose stand-ins use the system clock.
pub async fn world(expires_in_days: i64) -> TestWorld {
    common::spawn_with(expires_in_days, |o| o.clock = Arc::new(SystemClock)).await
}

/// A world whose one target expires in `expires_in_days`, and the function for that target
/// without an alert topic.
pub async fn for_one_target(expires_in_days: i64) -> (TestWorld, Emulated) {
    let w = world(expires_in_days).await;
    let f = start(&w, &[&w.secret_id], None).await;
    (w, f)
}

/// Starts the emulator and the real function configured for `w`'s stand-ins, with `targets`
/// and, when given, an alert topic.
pub async fn start(w: &TestWorld, targets: &[&str], topic: Option<&str>) -> Emulated {
    start_with(w, targets, topic, &[]).await
}

/// As [`start`], with `extra` added to the function's environment (over what `start` sets).
pub async fn start_with(
    w: &TestWorld,
    targets: &[&str],
    topic: Option<&str>,
    extra: &[(&str, &str)],
) -> Emulated {
    let (emulator, port) = runtime_api().await;
    let cmd = function_command(w, targets, topic, extra, port).await;
    launch(cmd, emulator, port)
}

/// The real function configured for `w`'s stand-ins, `targets`, `topic` and `extra`, polling
/// the emulator on `port`.
async fn function_command(
    w: &TestWorld,
    targets: &[&str],
    topic: Option<&str>,
    extra: &[(&str, &str)],
    port: u16,
) -> Command {
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
        .env("ALLOW_LOOPBACK_HTTP", "true")
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
        .env("RUST_LOG", "info");
    match topic {
        Some(t) => cmd.env("ALERT_TOPIC_ARN", t),
        None => cmd.env_remove("ALERT_TOPIC_ARN"),
    };
    cmd.envs(extra.iter().copied());
    cmd
}

/// Starts the emulator and the real function with exactly `env` (nothing inherited from the
/// test process) plus the variables a Lambda runtime sets (`AWS_LAMBDA_RUNTIME_API`,
/// `AWS_LAMBDA_FUNCTION_VERSION`).
pub async fn start_with_exactly(env: &std::collections::BTreeMap<String, String>) -> Emulated {
    let (emulator, port) = runtime_api().await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    cmd.env_clear()
        .envs(env)
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        )
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    launch(cmd, emulator, port)
}

/// `cargo lambda watch --only-lambda-apis` on a free port, once it listens: the Lambda runtime
/// API the function polls, and the invoke API the tests call.
async fn runtime_api() -> (Child, u16) {
    // A missing cargo-lambda fails the test: it never passes by skipping.
    let cargo_lambda = cargo_lambda().expect(
        "cargo-lambda is not installed: `bash scripts/test` installs it into .venv \
         (or: .venv/bin/pip install cargo-lambda==1.9.2)",
    );
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
        .current_dir(crate::common::moto::repo_root())
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
    (emulator, port)
}

/// Spawns the function `cmd` against the emulator on `port`, its stdout captured.
fn launch(cmd: Command, emulator: Child, port: u16) -> Emulated {
    let stdout: Arc<Mutex<Vec<String>>> = Arc::default();
    let function = spawn_function(cmd, &stdout);
    Emulated {
        emulator,
        function,
        port,
        stdout,
        more: Vec::new(),
    }
}

/// Spawns the function `cmd`, its stdout lines collected into `sink`.
fn spawn_function(mut cmd: Command, sink: &Arc<Mutex<Vec<String>>>) -> Child {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut function = cmd.spawn().expect("bootstrap starts");
    let (pipe, sink) = (function.stdout.take().unwrap(), sink.clone());
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    function
}

impl Emulated {
    /// Starts one more function process, configured as [`start_with`] does, polling the same
    /// emulator: the emulator hands concurrent invocations to different processes, as Lambda
    /// runs concurrent invocations in different execution environments.
    pub async fn add_process(
        &mut self,
        w: &TestWorld,
        targets: &[&str],
        topic: Option<&str>,
        extra: &[(&str, &str)],
    ) {
        let cmd = function_command(w, targets, topic, extra, self.port).await;
        self.more.push(spawn_function(cmd, &self.stdout));
    }

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

    /// Checks that the function printed every metric `(name, value)` in `want` for `target`.
    /// Waits (up to 10 s) for them: the HTTP response can arrive before the thread reading
    /// stdout has taken the lines the function printed just before it answered.
    pub async fn assert_printed(&self, want: &[(&str, f64)], target: &str) {
        let want: Vec<Metric> = want
            .iter()
            .map(|(name, value)| (name.to_string(), *value, Some(target.to_string())))
            .collect();
        let mut seen = self.metrics();
        for _ in 0..500 {
            if want.iter().all(|m| seen.contains(m)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            seen = self.metrics();
        }
        for m in &want {
            assert!(seen.contains(m), "{m:?} not in {seen:?}");
        }
    }

    /// The EMF lines the function printed, as `(metric, value, target)`.
    pub fn metrics(&self) -> Vec<Metric> {
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

    /// The leak scan over `captured` and everything the function printed so far.
    pub fn assert_no_leaks(&self, w: &TestWorld, captured: &[&str]) {
        let output = self.output();
        w.assert_no_leaks(&[captured, &[output.as_str()]].concat());
    }
}
