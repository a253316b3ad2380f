//! The [`Function`]: the engine, the targets and where metric lines go, and the dispatch of an
//! event to what it asks.

use super::{Event, LambdaError, Targets};
use chrono::{DateTime, Utc};
use rotator_engine::config::RotationMode;
use rotator_engine::metrics;
use rotator_engine::rotation::Engine;
use serde_json::Value;
use std::sync::Arc;

/// What the runtime says about one invocation (lambda_runtime's `Context`), as plain values.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// When Lambda ends the invocation. `None`: no limit (a test, a local run).
    pub deadline: Option<DateTime<Utc>>,
    /// The function's ARN as invoked: the rotation function a check hands rotations to.
    pub function_arn: Option<String>,
}

impl Invocation {
    /// From the runtime's values, read at `now`: the deadline in milliseconds since the epoch,
    /// the invoked ARN. A deadline already past (cargo lambda's emulator sends 600,000 ms: ten
    /// minutes after the epoch) or an ARN that is none (it sends `function-arn`) is unknown: the
    /// check then runs without a limit and hands nothing off, as in the CLI.
    pub fn from_runtime(deadline_ms: u64, function_arn: &str, now: DateTime<Utc>) -> Self {
        let deadline = i64::try_from(deadline_ms)
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .filter(|d| *d > now);
        if deadline.is_none() {
            tracing::warn!(
                deadline_ms,
                "the runtime's deadline is already past; the check runs without one"
            );
        }
        Self {
            deadline,
            function_arn: Some(function_arn.to_string()).filter(|a| a.starts_with("arn:")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_context_gives_the_deadline_and_arn_unless_they_are_an_emulators_placeholders() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:jamf-entra-rotator";
        let real = Invocation::from_runtime(1_800_000_900_000, arn, now);
        assert_eq!(
            real.deadline,
            Some(now + chrono::Duration::seconds(900)),
            "{real:?}"
        );
        assert_eq!(real.function_arn.as_deref(), Some(arn));
        let emulated = Invocation::from_runtime(600_000, "function-arn", now);
        assert_eq!((emulated.deadline, emulated.function_arn), (None, None));
    }
}

/// How many rotations a check runs at once: enough to finish a burst well within the function's
/// timeout, few enough to stay far under Graph's per-app throttling and Secrets Manager's quotas.
/// Jamf Pro's limit (at most five concurrent connections per server) does not depend on this
/// number: every Jamf request waits for one of its server's five permits, shared process-wide
/// (`rotator_adapters::jamf::client::server_permits`), so a fleet whose targets all live on one
/// server still has at most five requests in flight to it. Measured (docs/PERFORMANCE.md, 200
/// targets, 50 ms per call): 3.3 s when 5 rotate (5 at once: 9.4 s); more than 16 saves little,
/// since a check that rotates lasts at least as long as one rotation.
pub const DEFAULT_PARALLELISM: usize = 16;

/// How many targets a check reads at once (a target that rotates also takes one of the
/// [`DEFAULT_PARALLELISM`] rotation slots). A read is two Secrets Manager requests and one Graph
/// request; measured (docs/PERFORMANCE.md, "Fleets"), 10,000 targets at 50 ms per call take
/// 25.7 s at 64 at once (102 s at 16).
pub const DEFAULT_LOOK_PARALLELISM: usize = 64;

/// Above this many targets, a check's response gives each quiet target (checked, not due,
/// nothing done or in progress, no drift) a short entry: its action, expiry and days left. Lambda refuses a response over
/// 6 MB, which about 10,000 full entries reach (docs/PERFORMANCE.md, "Fleets").
pub const FULL_RESPONSE_TARGETS: usize = 1_000;

/// Receives each EMF metric line (stdout in Lambda; tests capture them).
pub type MetricSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The function: the engine, the targets, where metric lines go. Built once per execution
/// environment, at its first invocation ([`Deferred`](super::Deferred)).
#[derive(Clone)]
pub struct Function {
    /// The rotation engine.
    pub engine: Engine,
    /// The deployment's targets.
    pub targets: Targets,
    metrics: MetricSink,
    /// Rotations at once.
    pub(super) parallelism: usize,
    /// Targets read at once.
    pub(super) look_parallelism: usize,
    /// Above this many targets, a check's response is compact ([`FULL_RESPONSE_TARGETS`]).
    pub(super) full_response_targets: usize,
    /// How the check runs due rotations (`ROTATION_MODE`).
    pub(super) rotation_mode: RotationMode,
    /// The rotator's own document (`ROTATOR_AUTH=client-secret`), checked with the targets; with
    /// it, the settings to re-read the rotator's secret at each invocation (a warm container must
    /// not keep signing in with a secret it has itself retired).
    pub(super) own_secret: Option<(String, rotator_engine::config::Settings)>,
}

impl Function {
    /// A function over `engine` for `targets`, writing metric lines to stdout.
    pub fn new(engine: Engine, targets: Targets) -> Self {
        let sink: MetricSink = Arc::new(metrics::emit);
        Self {
            engine: engine.with_metrics(sink.clone()),
            targets,
            metrics: sink,
            parallelism: DEFAULT_PARALLELISM,
            look_parallelism: DEFAULT_LOOK_PARALLELISM,
            full_response_targets: FULL_RESPONSE_TARGETS,
            rotation_mode: RotationMode::default(),
            own_secret: None,
        }
    }

    /// Also checks (and rotates when due) the rotator's own client secret, whose document is
    /// the secret `id`.
    pub fn with_own_secret(
        mut self,
        id: Option<String>,
        settings: &rotator_engine::config::Settings,
    ) -> Self {
        self.own_secret = id.map(|id| (id, settings.clone()));
        self
    }

    /// With self-rotation, this function with the rotator's identity read afresh from
    /// `AWSCURRENT` (one `GetSecretValue`): after the rotator rotated its own secret, the old one
    /// is gone.
    pub(super) async fn refreshed(&self) -> Result<Option<Function>, LambdaError> {
        let Some((_, settings)) = &self.own_secret else {
            return Ok(None);
        };
        let identity =
            rotator_adapters::wiring::rotator_identity(settings, self.engine.store.as_ref())
                .await
                .map_err(|e| LambdaError::Config(e.to_string()))?;
        let mut f = self.clone();
        f.engine.directory = Arc::new(rotator_adapters::entra::GraphDirectory::new(
            settings,
            identity,
            self.engine.clock.clone(),
        ));
        Ok(Some(f))
    }

    /// Sends metric lines to `sink` instead of stdout.
    pub fn with_metrics(mut self, sink: MetricSink) -> Self {
        self.engine = self.engine.with_metrics(sink.clone());
        self.metrics = sink;
        self
    }

    /// Checks at most `n` targets at once, reading or rotating (Jamf Pro's five per server hold
    /// for any `n`). By default a check reads [`DEFAULT_LOOK_PARALLELISM`] targets at once and
    /// rotates [`DEFAULT_PARALLELISM`] of them.
    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self.look_parallelism = n.max(1);
        self
    }

    /// Rotates at most `n` targets at once, reading up to [`DEFAULT_LOOK_PARALLELISM`] (or what
    /// [`Self::with_parallelism`] set).
    pub fn with_rotations_at_once(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    /// Gives quiet targets a short entry in a check's response when it has more than `n`
    /// targets ([`FULL_RESPONSE_TARGETS`] by default).
    pub fn with_full_response_up_to(mut self, n: usize) -> Self {
        self.full_response_targets = n;
        self
    }

    /// Runs due rotations as `mode` says (`ROTATION_MODE`; [`RotationMode::Auto`] by default).
    pub fn with_rotation_mode(mut self, mode: RotationMode) -> Self {
        self.rotation_mode = mode;
        self
    }

    pub(super) fn metric(&self, line: String) {
        (self.metrics)(&line);
    }
}

impl Function {
    /// Runs what `event` asks, within `invocation`'s deadline.
    pub(super) async fn dispatch(
        &self,
        event: Event,
        invocation: &Invocation,
    ) -> Result<Value, LambdaError> {
        match event {
            Event::Check => self.check_all(false, invocation).await,
            Event::Status => self.check_all(true, invocation).await,
            Event::Rotate(r) => self.rotate(r, invocation).await,
            Event::Step(s) => self.step(s).await,
        }
    }
}
