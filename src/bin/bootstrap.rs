//! The Lambda function (`provided.al2023`). At init it reads the settings, builds the AWS and
//! Graph clients once (`wiring::from_settings`) and the target list; each invocation goes to
//! `lambda::route`. Logs are JSON lines carrying the invocation's request id; metric lines (EMF)
//! go to stdout beside them.

use anyhow::Context as _;
use jamf_entra_rotator::config::Settings;
use jamf_entra_rotator::lambda::{self, Function, Targets};
use jamf_entra_rotator::wiring;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logs();
    let function = match init().await {
        Ok(f) => Arc::new(f),
        Err(e) => {
            // Lambda reports the init failure; the log says why.
            tracing::error!("init failed: {e:#}");
            return Err(format!("{e:#}").into());
        }
    };
    lambda_runtime::run(service_fn(move |event| handle(function.clone(), event))).await
}

/// Settings, clients and targets, once per execution environment.
async fn init() -> anyhow::Result<Function> {
    let settings = Settings::from_env().context("reading the function's settings")?;
    let targets = Targets::from_env()?;
    let wiring = wiring::from_settings(settings)
        .await
        .context("building the clients")?;
    let own = wiring::own_secret_target(&wiring.settings, wiring.store.as_ref()).await;
    tracing::info!(?targets, own_secret = ?own, "ready");
    Ok(Function::new(wiring.engine, targets).with_own_secret(own, &wiring.settings))
}

/// One invocation: route it, map an error to Lambda's error shape (`Retryable` /
/// `NonRetryable`).
async fn handle(function: Arc<Function>, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let (payload, context) = event.into_parts();
    let span = tracing::info_span!("invocation", request_id = %context.request_id);
    async move {
        lambda::route(&function, payload).await.map_err(|e| {
            tracing::error!(error_type = e.error_type(), "{e}");
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
    // A bare level applies to this crate only: at TRACE, lambda_runtime logs raw events, which
    // carry Secrets Manager's RotationToken. A full directive (`a=b,…`) is taken as given.
    let level = level.to_lowercase();
    let directive = if level.contains('=') {
        level
    } else {
        format!("warn,jamf_entra_rotator={level},bootstrap={level},lambda_runtime=info")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(directive)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .init();
}
