//! The Lambda function's routing: one entry point, [`route`], for every event the deployed
//! function receives (see [`event::Event`]):
//!
//! - `{"action":"check"}` (EventBridge Scheduler) or a classic `Scheduled Event`: the scheduled
//!   check of every target, with bounded parallelism; one failing target never stops the others.
//! - `{"action":"status"}`: the same, read-only (a dry run); nothing changes, nothing alerts.
//! - `{"action":"rotate", ...}`: a rotation by hand (emergency: `"revoke_old":"immediately"`).
//! - Secrets Manager step events: one step of a rotation that `rotate-secret` drives.
//!
//! The binary (`src/bin/bootstrap.rs`) reads its settings at init and builds the clients at the
//! first invocation ([`Deferred`]), then calls [`route`]; tests call it directly with the files in
//! `events/`.

pub mod error;
pub mod event;

pub use error::LambdaError;
pub use event::{Event, RotateEvent, StepEvent};

use crate::metrics;
use crate::ports::{AlertKind, SecretStore};
use crate::rotation::check::{Action, CheckReport};
use crate::rotation::driver::Outcome;
use crate::rotation::guard::{standing, Standing};
use crate::rotation::{Engine, RotateRequest, RotationError, Step, StepContext};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

/// How many targets a check works on at once: enough to finish a fleet well within the
/// function's timeout, few enough to stay far under Graph's per-app throttling and Secrets
/// Manager's quotas. Jamf Pro's limit (at most five concurrent connections per server) does not
/// depend on this number: every Jamf request waits for one of its server's five permits, shared
/// process-wide ([`crate::jamf::client::server_permits`]), so a fleet whose targets all live on
/// one server still has at most five requests in flight to it. Measured (docs/PERFORMANCE.md,
/// 200 targets, 50 ms per call): 16 at once checks them in about 2 s, 3.3 s when 5 rotate (5 at
/// once: 6.4 s and 9.4 s); more than 16 saves little, since a check that rotates lasts at least
/// as long as one rotation.
pub const DEFAULT_PARALLELISM: usize = 16;

/// Where the deployment's targets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// `TARGET_SECRET_IDS`: a comma-separated list of secret ids (names or ARNs).
    Ids(Vec<String>),
    /// `TARGET_TAG_KEY` (and optionally `TARGET_TAG_VALUE`): every secret carrying the tag.
    Tagged {
        /// Tag key.
        key: String,
        /// Tag value; any value when absent.
        value: Option<String>,
    },
}

impl Targets {
    /// Reads the targets from the process environment.
    pub fn from_env() -> Result<Self, LambdaError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the targets through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, LambdaError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let ids: Vec<String> = get("TARGET_SECRET_IDS")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        match (ids.is_empty(), get("TARGET_TAG_KEY")) {
            (false, None) => Ok(Targets::Ids(ids)),
            (true, Some(key)) => Ok(Targets::Tagged { key, value: get("TARGET_TAG_VALUE") }),
            (false, Some(_)) => Err(LambdaError::Config("set TARGET_SECRET_IDS or TARGET_TAG_KEY, not both".into())),
            (true, None) => Err(LambdaError::Config(
                "no targets: set TARGET_SECRET_IDS (comma-separated secret ids) or TARGET_TAG_KEY (and TARGET_TAG_VALUE)".into(),
            )),
        }
    }

    /// The secret ids of the targets, now.
    pub async fn resolve(&self, store: &dyn SecretStore) -> Result<Vec<String>, LambdaError> {
        match self {
            Targets::Ids(ids) => Ok(ids.clone()),
            Targets::Tagged { key, value } => {
                let ids = store
                    .list_tagged(key, value.as_deref())
                    .await
                    .map_err(|source| LambdaError::ListTargets {
                        key: key.clone(),
                        source,
                    })?;
                if ids.is_empty() {
                    return Err(LambdaError::Config(format!(
                        "no secret carries the tag {key}{}",
                        value.as_ref().map(|v| format!("={v}")).unwrap_or_default()
                    )));
                }
                Ok(ids)
            }
        }
    }
}

/// Receives each EMF metric line (stdout in Lambda; tests capture them).
pub type MetricSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The function: the engine, the targets, where metric lines go. Built once per execution
/// environment, at its first invocation ([`Deferred`]).
#[derive(Clone)]
pub struct Function {
    /// The rotation engine.
    pub engine: Engine,
    /// The deployment's targets.
    pub targets: Targets,
    metrics: MetricSink,
    parallelism: usize,
    /// The rotator's own document (`ROTATOR_AUTH=client-secret`), checked with the targets; with
    /// it, the settings to re-read the rotator's secret at each invocation (a warm container must
    /// not keep signing in with a secret it has itself retired).
    own_secret: Option<(String, crate::config::Settings)>,
}

impl Function {
    /// A function over `engine` for `targets`, writing metric lines to stdout.
    pub fn new(engine: Engine, targets: Targets) -> Self {
        Self {
            engine,
            targets,
            metrics: Arc::new(metrics::emit),
            parallelism: DEFAULT_PARALLELISM,
            own_secret: None,
        }
    }

    /// Also checks (and rotates when due) the rotator's own client secret, whose document is
    /// the secret `id`.
    pub fn with_own_secret(mut self, id: Option<String>, settings: &crate::config::Settings) -> Self {
        self.own_secret = id.map(|id| (id, settings.clone()));
        self
    }

    /// With self-rotation, this function with the rotator's identity read afresh from
    /// `AWSCURRENT` (one `GetSecretValue`): after the rotator rotated its own secret, the old one
    /// is gone.
    async fn refreshed(&self) -> Result<Option<Function>, LambdaError> {
        let Some((_, settings)) = &self.own_secret else { return Ok(None) };
        let identity = crate::wiring::rotator_identity(settings, self.engine.store.as_ref())
            .await
            .map_err(|e| LambdaError::Config(e.to_string()))?;
        let mut f = self.clone();
        f.engine.directory = Arc::new(crate::entra::GraphDirectory::new(settings, identity, self.engine.clock.clone()));
        Ok(Some(f))
    }

    /// Sends metric lines to `sink` instead of stdout.
    pub fn with_metrics(mut self, sink: MetricSink) -> Self {
        self.metrics = sink;
        self
    }

    /// Checks at most `n` targets at once (Jamf Pro's five per server hold for any `n`).
    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    fn metric(&self, line: String) {
        (self.metrics)(&line);
    }
}

/// Handles one invocation: parses the event, runs what it asks, returns the response. An event
/// that is not understood is refused before anything runs.
pub async fn route(function: &Function, event: Value) -> Result<Value, LambdaError> {
    let event = Event::parse(&event)?;
    let refreshed = function.refreshed().await?;
    refreshed.as_ref().unwrap_or(function).dispatch(event).await
}

/// A [`Function`] built at its first invocation rather than at init: building it loads the AWS
/// configuration and the platform's root certificates and reads the rotator's secret, none of
/// which a cold start should wait for before it asks for its first event. Built once and kept;
/// when the build fails, that invocation fails with the build's error and the next one tries again
/// (a failure is not kept).
pub struct Deferred<B> {
    build: B,
    function: tokio::sync::OnceCell<Function>,
}

impl<B, F> Deferred<B>
where
    B: Fn() -> F,
    F: std::future::Future<Output = Result<Function, LambdaError>>,
{
    /// A function that `build` makes at the first invocation (again at the next one if it fails).
    pub fn new(build: B) -> Self {
        Self { build, function: tokio::sync::OnceCell::new() }
    }

    /// The function, once built.
    pub fn get(&self) -> Option<&Function> {
        self.function.get()
    }

    /// [`route`], building the function first if need be. An event that is not understood is
    /// refused before anything is built. The invocation that builds the function does not read
    /// the rotator's secret again (self-rotation): the build has just read it.
    pub async fn route(&self, event: Value) -> Result<Value, LambdaError> {
        let event = Event::parse(&event)?;
        let mut built_now = false;
        let function = self
            .function
            .get_or_try_init(|| {
                built_now = true;
                (self.build)()
            })
            .await?;
        if built_now {
            return function.dispatch(event).await;
        }
        let refreshed = function.refreshed().await?;
        refreshed.as_ref().unwrap_or(function).dispatch(event).await
    }
}

impl Function {
    /// Runs what `event` asks.
    async fn dispatch(&self, event: Event) -> Result<Value, LambdaError> {
        match event {
            Event::Check => self.check_all(false).await,
            Event::Status => self.check_all(true).await,
            Event::Rotate(r) => self.rotate(r).await,
            Event::Step(s) => self.step(s).await,
        }
    }
}

impl Function {
    /// The scheduled check (or, with `dry_run`, the status report) of every target, at most
    /// `parallelism` at once. A target that fails is reported (the engine alerts) and the others go on.
    async fn check_all(&self, dry_run: bool) -> Result<Value, LambdaError> {
        let mut ids = self.targets.resolve(self.engine.store.as_ref()).await?;
        if let Some((own, _)) = self.own_secret.as_ref().filter(|(o, _)| !ids.contains(o)) {
            ids.push(own.clone());
        }
        let permits = Arc::new(Semaphore::new(self.parallelism));
        let mut tasks = JoinSet::new();
        let mut index_of = HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            let (engine, permits, id) = (self.engine.clone(), permits.clone(), id.clone());
            // The task keeps the invocation's span, so its log lines carry the request id.
            let check = async move {
                let _permit = permits.acquire_owned().await.ok();
                engine.check(&id, dry_run).await
            };
            let handle = tasks.spawn(check.instrument(tracing::Span::current()));
            index_of.insert(handle.id(), i);
        }
        let mut results: Vec<Value> = vec![Value::Null; ids.len()];
        let mut days: Vec<i64> = Vec::new();
        while let Some(joined) = tasks.join_next_with_id().await {
            let (i, outcome) = match joined {
                Ok((task, outcome)) => (index_of[&task], outcome),
                Err(e) => {
                    let i = index_of[&e.id()];
                    tracing::error!(step = "check", "check of {} crashed: {e}", ids[i]);
                    results[i] = json!({"secret_id": ids[i], "ok": false, "error": "the check of this target crashed; see the function's log"});
                    continue;
                }
            };
            let (result, left) = self.checked(&ids[i], outcome, dry_run).await;
            results[i] = result;
            days.extend(left);
        }
        if !dry_run {
            // The fleet's minimum, without a dimension: the alarm watches this one series, and
            // its absence (no check ran, or every target failed) is the dead man's switch.
            if let Some(min) = days.iter().min() {
                self.metric(metrics::emf_line(
                    metrics::NAMESPACE,
                    &[],
                    &[("DaysUntilExpiry", *min as f64, "None")],
                    chrono::Utc::now().timestamp_millis(),
                ));
            }
        }
        let failed = results
            .iter()
            .filter(|r| r["ok"] != Value::Bool(true))
            .count();
        Ok(json!({
            "action": if dry_run { "status" } else { "check" },
            "targets": ids.len(),
            "failed": failed,
            "results": results,
        }))
    }

    /// One target's check result: its metric lines, its entry in the response, and the days
    /// until its secret expires after the check.
    async fn checked(
        &self,
        secret_id: &str,
        outcome: Result<CheckReport, RotationError>,
        dry_run: bool,
    ) -> (Value, Option<i64>) {
        let report = match outcome {
            Ok(report) => report,
            Err(e) => {
                // The engine has alerted already: a check that cannot run is a failure too.
                tracing::error!(step = %e.step, class = e.class(), "check of {secret_id} failed: {e}");
                let entry = json!({"secret_id": secret_id, "ok": false, "error": e.to_string(), "error_class": e.class(), "advice": e.advice()});
                return (entry, None);
            }
        };
        let mut days = report.days_until_expiry;
        if !dry_run {
            match report.rotation.as_ref().map(|r| r.outcome) {
                Some(outcome @ (Outcome::Rotated | Outcome::Resumed | Outcome::AlreadyRotated)) => {
                    // The secret in use now is the new one: its expiry is what the alarm watches.
                    let new_expiry = report.rotation.as_ref().and_then(|r| r.new_expires_at);
                    days = match new_expiry {
                        Some(at) => Some((at - self.engine.clock.now()).num_days()),
                        None => self.days_left(secret_id).await,
                    }
                    .or(days);
                    if outcome != Outcome::AlreadyRotated {
                        self.metric(metrics::rotation_succeeded(secret_id));
                    }
                }
                Some(Outcome::Failed | Outcome::RolledBack) => {
                    self.metric(metrics::rotation_failed(secret_id))
                }
                None => {}
            }
            if let Some(d) = days {
                self.metric(metrics::days_until_expiry(secret_id, d));
            }
        }
        let ok = report.action != Action::RotationFailed;
        (
            json!({"secret_id": secret_id, "ok": ok, "report": report}),
            days,
        )
    }

    /// Whole days until the `AWSCURRENT` secret of `secret_id` expires, when the document says.
    async fn days_left(&self, secret_id: &str) -> Option<i64> {
        let (_, doc) = self.engine.current(Step::Check, secret_id).await.ok()?;
        Some((doc.entra.expires_at? - self.engine.clock.now()).num_days())
    }

    /// A rotation by hand. The target must be one of the deployment's; with only one target,
    /// `secret_id` may be left out.
    async fn rotate(&self, r: RotateEvent) -> Result<Value, LambdaError> {
        let ids = self.targets.resolve(self.engine.store.as_ref()).await?;
        let secret_id = match r.secret_id {
            Some(id) => self.ensure_target(&ids, id).await?,
            None => match ids.as_slice() {
                [one] => one.clone(),
                many => {
                    return Err(LambdaError::Target(format!(
                        "this deployment has {} targets; name the one to rotate with \"secret_id\"",
                        many.len()
                    )))
                }
            },
        };
        let request = RotateRequest {
            reason: format!("manual: {}", r.reason),
            revoke_old: r.revoke_old,
            lockdown: r.lockdown,
        };
        tracing::info!(
            step = "rotate",
            "manual rotation of {secret_id} ({}, revoke_old {:?}, lockdown {})",
            request.reason,
            request.revoke_old,
            request.lockdown
        );
        let report = self
            .engine
            .rotate(&secret_id, request)
            .await
            .map_err(|source| LambdaError::rotation(&secret_id, source))?;
        match report.outcome {
            Outcome::Rotated | Outcome::Resumed => {
                self.metric(metrics::rotation_succeeded(&secret_id))
            }
            Outcome::AlreadyRotated => {}
            Outcome::Failed | Outcome::RolledBack => {
                self.metric(metrics::rotation_failed(&secret_id));
                let outcome = serde_json::to_value(report.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                return Err(LambdaError::RotationFailed {
                    secret_id,
                    outcome,
                    error: report.error.unwrap_or_default(),
                    class: report.error_class.unwrap_or_default(),
                    advice: report.advice.unwrap_or_default(),
                });
            }
        }
        Ok(json!({"action": "rotate", "secret_id": secret_id, "report": report}))
    }

    /// `id` if it is one of `ids` (by id, or by the ARN Secrets Manager reports for it).
    async fn ensure_target(&self, ids: &[String], id: String) -> Result<String, LambdaError> {
        if ids.contains(&id) {
            return Ok(id);
        }
        let not_ours = || {
            LambdaError::Target(format!("secret {id} is not one of this deployment's targets (TARGET_SECRET_IDS or the target tag)"))
        };
        match self.engine.store.describe(&id).await {
            Ok(info) if ids.iter().any(|t| *t == info.arn || *t == info.name) => Ok(id),
            _ => Err(not_ours()),
        }
    }

    /// One step of a rotation Secrets Manager drives. The guard runs first (rotation enabled,
    /// token a pending version); a failing setSecret or testSecret is rolled back (Jamf Pro gets
    /// the old secret back, the new credential goes) and alerted.
    async fn step(&self, s: StepEvent) -> Result<Value, LambdaError> {
        let (step, secret_id) = (s.step, s.secret_id.clone());
        let err = |source: RotationError| LambdaError::rotation(&secret_id, source);
        tracing::info!(step = %step, "{step}: step event for {secret_id}, version {}", s.token);
        let info = self
            .engine
            .store
            .describe(&secret_id)
            .await
            .map_err(|e| err(RotationError::store(step, e)))?;
        let was = standing(&info, &s.token, step, true).map_err(err)?;
        let ctx = StepContext {
            secret_id: secret_id.clone(),
            token: s.token.clone(),
            rotation_token: s.rotation_token,
            request: RotateRequest {
                reason: "secretsmanager: rotate-secret".into(),
                ..Default::default()
            },
            in_process: false,
            run: None,
        };
        match self.engine.run_step(step, &ctx).await {
            Ok(()) => {
                if step == Step::FinishSecret && was == Standing::Pending {
                    self.metric(metrics::rotation_succeeded(&secret_id));
                }
                Ok(json!({"step": step, "secret_id": secret_id, "token": s.token, "ok": true}))
            }
            Err(e) => {
                self.step_failed(&ctx, &e).await;
                Err(err(e))
            }
        }
    }

    /// What a failed step leaves behind: rollback where it helps, a metric, an alert.
    async fn step_failed(&self, ctx: &StepContext, e: &RotationError) {
        tracing::error!(step = %e.step, class = e.class(), "{}: rotation of {} failed: {e}", e.step, ctx.secret_id);
        self.metric(metrics::rotation_failed(&ctx.secret_id));
        let (kind, state) = match e.step {
            Step::SetSecret | Step::TestSecret => {
                let rb = self.engine.rollback(ctx, e).await;
                let kind = if rb.complete { AlertKind::RolledBack } else { AlertKind::RotationFailed };
                (kind, crate::rotation::driver::rollback_state(&rb))
            }
            Step::FinishSecret => (
                AlertKind::RotationFailed,
                "Jamf Pro holds the new secret (verified); the old credential is still valid. Secrets Manager's retry, or the next check, completes the rotation.".to_string(),
            ),
            _ => (AlertKind::RotationFailed, "Jamf Pro was not changed and keeps the old secret, which still works.".to_string()),
        };
        let message = format!(
            "Target: {}\nDriver: Secrets Manager rotation, version {}\nFailed step: {}\nError class: {}\nError: {e}\nState left: {state}\nWhat to do: {}",
            ctx.secret_id,
            ctx.token,
            e.step,
            e.class(),
            e.advice()
        );
        self.engine
            .alert(
                kind,
                &ctx.secret_id,
                format!("Rotation failed: {}", ctx.secret_id),
                message,
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn targets(pairs: &[(&str, &str)]) -> Result<Targets, LambdaError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Targets::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn targets_come_from_a_list_or_a_tag_never_both() {
        assert_eq!(
            targets(&[("TARGET_SECRET_IDS", " a, b ,,")]).unwrap(),
            Targets::Ids(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            targets(&[
                ("TARGET_TAG_KEY", "jamf-entra-rotator"),
                ("TARGET_TAG_VALUE", "prod")
            ])
            .unwrap(),
            Targets::Tagged {
                key: "jamf-entra-rotator".into(),
                value: Some("prod".into())
            }
        );
        assert!(targets(&[])
            .unwrap_err()
            .to_string()
            .contains("TARGET_SECRET_IDS"));
        assert!(
            targets(&[("TARGET_SECRET_IDS", "a"), ("TARGET_TAG_KEY", "k")])
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
    }
}
