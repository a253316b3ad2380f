//! The Lambda function (`provided.al2023`). Its init only reads the settings and the target list
//! (bad configuration fails the init); the AWS and Graph clients and the rotator's identity are
//! built at the first invocation (`wiring::from_settings`, through `lambda::Deferred`) and kept
//! for the execution environment. Each invocation goes to `lambda::route`. Logs are JSON lines
//! carrying the invocation's request id; metric lines (EMF) go to stdout beside them.

use anyhow::Context as _;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use rotator_adapters::wiring;
use rotator_engine::config::Settings;
use rotator_lambda::{Deferred, Function, Invocation, LambdaError, Targets};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

// One thread: the function's concurrency (a check of many targets) is waiting on the network,
// and Lambda gives a function below 1,769 MB less than one vCPU anyway; worker threads would only
// cost their start at every cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logs();
    // A panic's message never reaches the log (it may hold anything); see `panics`.
    rotator_engine::panics::install_hook();
    let setup = match init() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            // Lambda reports the init failure; the log says why.
            tracing::error!("init failed: {e:#}");
            return Err(format!("{e:#}").into());
        }
    };
    let function = Arc::new(Deferred::new(move || build(setup.clone())));
    lambda_runtime::run(service_fn(move |event| handle(function.clone(), event))).await
}

/// What init reads: the settings and the targets. Cheap and local: no network, no certificates.
struct Setup {
    settings: Settings,
    targets: Targets,
}

/// Settings and targets, once per execution environment; a missing or malformed setting fails
/// the init here.
fn init() -> anyhow::Result<Setup> {
    let settings = Settings::from_env().context("reading the function's settings")?;
    wiring::check_rotator_settings(&settings).context("reading the function's settings")?;
    if let Some(why) = rotator_engine::rotation::budget::settings_never_fit(&settings) {
        anyhow::bail!("reading the function's settings: {why}");
    }
    let targets = Targets::from_env()?;
    tracing::info!(?targets, auth = ?settings.rotator_auth, "ready");
    Ok(Setup { settings, targets })
}

/// The clients and the rotator's identity (one read of its secret, which also tells whether it
/// rotates its own), at the first invocation.
async fn build(setup: Arc<Setup>) -> Result<Function, LambdaError> {
    // `handle` logs the error; the cell stays empty, so the next invocation builds again.
    let wiring = wiring::from_settings(setup.settings.clone())
        .await
        .map_err(|e| LambdaError::Build {
            transient: e.is_transient(),
            message: e.to_string(),
        })?;
    tracing::info!(own_secret = ?wiring.own_secret, "clients built");
    Ok(Function::new(wiring.engine, setup.targets.clone())
        .with_rotation_mode(setup.settings.rotation_mode)
        .with_own_secret(wiring.own_secret, &wiring.settings))
}

/// One invocation: route it, map an error to Lambda's error shape (`Retryable` /
/// `NonRetryable`).
async fn handle<B, F>(
    function: Arc<Deferred<B>>,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic>
where
    B: Fn() -> F,
    F: Future<Output = Result<Function, LambdaError>>,
{
    let (payload, context) = event.into_parts();
    let span = tracing::info_span!("invocation", request_id = %context.request_id);
    // The deadline and this function's ARN: a check starts no rotation it cannot finish, and
    // hands rotations to Secrets Manager with this function as their rotation function.
    let invocation = Invocation::from_runtime(
        context.deadline,
        &context.invoked_function_arn,
        chrono::Utc::now(),
    );
    async move {
        // Caught here rather than by lambda_runtime, whose error would quote the panic's message.
        let routed = function.route_within(payload, &invocation);
        let routed = match rotator_engine::panics::contained("invocation", routed).await {
            Ok(routed) => routed,
            Err(p) => Err(LambdaError::Panicked(p.to_string())),
        };
        routed.map_err(|e| {
            if e.elsewhere() {
                // Not a failure: another invocation is rotating the target.
                tracing::warn!(error_type = e.error_type(), "{e}");
            } else {
                tracing::error!(error_type = e.error_type(), "{e}");
            }
            Diagnostic {
                error_type: e.error_type().to_string(),
                error_message: e.to_string(),
            }
        })
    }
    .instrument(span)
    .await
}

/// JSON log lines on stdout, level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default `info`),
/// each carrying the current span's fields (the request id).
fn init_logs() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    // A bare level applies to the product's crates only. A full directive (`a=b,…`) is taken as given,
    // except for TRACE below.
    let level = level.to_lowercase();
    let directive = if level.contains('=') {
        level
    } else {
        let ours: Vec<String> = OUR_CRATES.iter().map(|c| format!("{c}={level}")).collect();
        format!("warn,{},lambda_runtime=info", ours.join(","))
    };
    let filter = tracing_subscriber::EnvFilter::try_new(directive)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Whatever the directive, other crates never log at TRACE: there lambda_runtime logs each raw
    // event (a step event's RotationToken, a manual rotation's words), and the AWS SDK each
    // request and response, whose bodies it hides only while LOG_SIGNABLE_BODY and
    // LOG_SENSITIVE_BODIES stay unset.
    let no_foreign_trace = tracing_subscriber::filter::filter_fn(|meta| {
        *meta.level() != tracing::Level::TRACE || is_ours(meta.target())
    });
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .finish()
        .with(no_foreign_trace)
        .init();
}

/// The product's crates and this binary: the log targets a bare level applies to.
const OUR_CRATES: [&str; 4] = [
    "rotator_engine",
    "rotator_adapters",
    "rotator_lambda",
    "bootstrap",
];

/// True for a log target of the product's crates or of this binary.
fn is_ours(target: &str) -> bool {
    OUR_CRATES.iter().any(|krate| {
        target
            .strip_prefix(krate)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}
