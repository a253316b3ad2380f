//! The rotation engine. It reads like AWS's rotation template: one [`guard`], one dispatch
//! ([`Engine::run_step`]), four same-shaped idempotent steps ([`create`], [`set`], [`test`],
//! [`finish`]), plus what a rotation needs around them: the propagation wait
//! ([`propagation`]), the one checked way a credential leaves the app ([`remove`]), [`rollback`]
//! and how a failed step is [`settle`]d, the [`lease`] that keeps attempts at one target apart
//! (and an emergency's [`lease_wait`]), [`lockdown`], the in-process driver ([`driver`]: its
//! [`token`]s, and how an attempt ends, [`conclude`]), how alerts are sent ([`alerts`]), the
//! scheduled [`check`], its [`look`] and the [`drift`] it finds, how it starts a due rotation
//! within its invocation's deadline ([`start`]: in process, handed to Secrets Manager, or
//! deferred, as the rotation's [`budget`] allows), and the proof that Entra refuses a secret an
//! emergency revoked ([`revocation`]).
//!
//! Two drivers run the same steps: Secrets Manager (one Lambda invocation per step, keyed on the
//! `ClientRequestToken`), and the in-process driver used by the scheduled check, the manual
//! invoke and the CLI. Every step re-reads its state from the secret store, so a step can be
//! repeated or resumed by another process; attempts in different processes take turns (the
//! lease), and should one outlive its lease, the looks every step takes keep the invariant.
//!
//! The invariant: at every moment Jamf Pro holds a secret that Entra accepts, and Secrets Manager
//! holds every secret that exists on the app and is ours.

pub mod alerts;
pub mod budget;
pub mod check;
pub mod conclude;
pub mod create;
pub mod drift;
pub mod driver;
pub mod error;
pub mod finish;
pub mod guard;
pub mod holder;
mod housekeeping;
pub mod lease;
pub mod lease_wait;
pub mod ledger;
pub mod lockdown;
pub mod look;
pub mod looked;
pub mod policy;
pub mod proof;
pub mod propagation;
pub mod remove;
pub mod report;
pub mod retire;
pub mod revocation;
pub mod rollback;
pub mod set;
pub mod settle;
pub mod start;
pub mod step_event;
pub mod test;
pub mod token;

pub use error::{RotationError, Step};
pub use policy::Policy;

use crate::clock::SharedClock;
use crate::document::{RevokeOld, TargetDocument};
use crate::ports::{
    Alerts, AppRef, Application, Directory, LeaseStore, SecretStore, TargetFactory, AWSCURRENT,
};
use error::ErrorKind;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Display-name prefix that marks a credential as created by this product; the rotation token
/// follows it. Only credentials with this prefix are ever removed outside a lockdown.
pub const CREDENTIAL_PREFIX: &str = "jamf-entra-rotator ";

/// What a rotation was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RotateRequest {
    /// Why (goes into the document and the alerts): `scheduled`, `manual: leaked`, ….
    pub reason: String,
    /// How the old secret is retired.
    pub revoke_old: RevokeOld,
    /// Emergency lockdown: remove every other credential of the app once the new one works.
    pub lockdown: bool,
    /// The deployment's other targets (secret ids): a lockdown rotates those on the same app
    /// registration too instead of cutting them off (see [`lockdown`]).
    pub siblings: Vec<String>,
}

impl RotateRequest {
    /// True for an emergency (`--revoke-old immediately`, `--lockdown`): the old credential goes
    /// as soon as the new one is verified, whatever a grace period or the gate would keep.
    pub fn is_emergency(&self) -> bool {
        self.revoke_old == RevokeOld::Immediately || self.lockdown
    }
}

/// Receives one line per step event, for the CLI's progress output.
pub type ProgressFn = Arc<dyn Fn(Step, &str) + Send + Sync>;

/// Receives each EMF metric line the engine writes (`PropagationSeconds`).
pub type MetricFn = Arc<dyn Fn(&str) + Send + Sync>;

/// The rotation engine over the four adapters. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    /// Entra ID + Graph.
    pub directory: Arc<dyn Directory>,
    /// Opens the Jamf target of a document.
    pub targets: Arc<dyn TargetFactory>,
    /// Secrets Manager.
    pub store: Arc<dyn SecretStore>,
    /// Alerts.
    pub alerts: Arc<dyn Alerts>,
    /// Where the targets' leases live (see [`lease`]).
    pub leases: Arc<dyn LeaseStore>,
    /// Time and waiting.
    pub clock: SharedClock,
    /// Knobs.
    pub policy: Policy,
    progress: Option<ProgressFn>,
    metrics: Option<MetricFn>,
    /// Observes the propagation wait (see [`propagation`]).
    waits: Arc<dyn crate::ports::Progress>,
    locks: Arc<Mutex<HashMap<String, Arc<TargetLock>>>>,
}

impl Engine {
    /// An engine over the given adapters.
    pub fn new(
        directory: Arc<dyn Directory>,
        targets: Arc<dyn TargetFactory>,
        store: Arc<dyn SecretStore>,
        alerts: Arc<dyn Alerts>,
        clock: SharedClock,
        policy: Policy,
    ) -> Self {
        Self {
            directory,
            targets,
            store,
            alerts,
            leases: Arc::new(lease::InProcessLeases::default()),
            clock,
            policy,
            progress: None,
            metrics: None,
            waits: Arc::new(propagation::LogWaits),
            locks: Default::default(),
        }
    }

    /// Keeps the targets' leases in `leases` (the deployment's lease table) instead of this
    /// process's memory.
    pub fn with_leases(mut self, leases: Arc<dyn LeaseStore>) -> Self {
        self.leases = leases;
        self
    }

    /// Reports each step's progress to `f` (the CLI prints it).
    pub fn with_progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    /// Logs a step event and passes it to the progress observer. Never give it a secret.
    /// Writes the engine's own metric lines (EMF, [`crate::metrics`]) to `sink`; without one
    /// (the CLI) it writes none.
    pub fn with_metrics(mut self, sink: MetricFn) -> Self {
        self.metrics = Some(sink);
        self
    }

    pub(crate) fn metric(&self, line: String) {
        if let Some(sink) = &self.metrics {
            sink(&line);
        }
    }

    pub(crate) fn note(&self, step: Step, message: &str) {
        tracing::info!(step = %step, "{step}: {message}");
        if let Some(p) = &self.progress {
            p(step, message);
        }
    }

    /// The per-secret lock that keeps two rotations of one target in this process apart.
    pub(crate) fn lock_for(&self, secret_id: &str) -> Arc<TargetLock> {
        let mut map = self.locks.lock().expect("lock registry");
        map.entry(secret_id.to_string()).or_default().clone()
    }

    /// Dispatch: runs one step for `token` (what a Secrets Manager step event asks).
    pub async fn run_step(&self, step: Step, ctx: &StepContext) -> Result<(), RotationError> {
        match step {
            Step::CreateSecret => self.create_secret(ctx).await,
            Step::SetSecret => self.set_secret(ctx).await.map(|_| ()),
            Step::TestSecret => self.test_secret(ctx).await,
            Step::FinishSecret => self.finish_secret(ctx).await.map(|_| ()),
            other => Err(RotationError::new(other, ErrorKind::NotAStep(other))),
        }
    }

    /// Reads and parses the document of one version.
    pub(crate) async fn document(
        &self,
        step: Step,
        secret_id: &str,
        version: &str,
    ) -> Result<Option<TargetDocument>, RotationError> {
        let Some(value) = self
            .store
            .value(secret_id, version)
            .await
            .map_err(|e| RotationError::store(step, e))?
        else {
            return Ok(None);
        };
        TargetDocument::parse(value.expose_secret())
            .map(Some)
            .map_err(|e| RotationError::new(step, ErrorKind::Document(e)))
    }

    /// The document of `version` of the step's secret: what the caller read just before the
    /// step ([`looked`]), the first time, or read now.
    pub(crate) async fn document_of(
        &self,
        step: Step,
        ctx: &StepContext,
        version: &str,
    ) -> Result<Option<TargetDocument>, RotationError> {
        match ctx.looked.take_doc(version) {
            Some(doc) => Ok(doc),
            None => self.document(step, &ctx.secret_id, version).await,
        }
    }

    /// The `AWSCURRENT` version and document of the step's secret: what the caller read just
    /// before the step ([`looked`]), the first time, or read now.
    pub(crate) async fn current_of(
        &self,
        step: Step,
        ctx: &StepContext,
    ) -> Result<(String, TargetDocument), RotationError> {
        match ctx.looked.take_current() {
            Some(current) => Ok(current),
            None => self.current(step, &ctx.secret_id).await,
        }
    }

    /// The app the document names, as Graph lists it now.
    pub(crate) async fn listing(
        &self,
        step: Step,
        doc: &TargetDocument,
    ) -> Result<Application, RotationError> {
        (self.directory.application(&app_of(doc)).await)
            .map_err(|e| RotationError::directory(step, e))
    }

    /// Reads the `AWSCURRENT` document and its version id.
    pub async fn current(
        &self,
        step: Step,
        secret_id: &str,
    ) -> Result<(String, TargetDocument), RotationError> {
        let (version, value) = self
            .store
            .value_at(secret_id, AWSCURRENT)
            .await
            .map_err(|e| RotationError::store(step, e))?
            .ok_or_else(|| {
                RotationError::new(
                    step,
                    ErrorKind::NoCurrentVersion {
                        secret_id: secret_id.to_string(),
                    },
                )
            })?;
        let doc = TargetDocument::parse(value.expose_secret())
            .map_err(|e| RotationError::new(step, ErrorKind::Document(e)))?;
        Ok((version, doc))
    }
}

/// The per-target lock of one process, and how many rotations of the target it has let through:
/// a check that read the target before a rotation in this process changed it can tell.
#[derive(Default)]
pub(crate) struct TargetLock {
    /// Held for the whole of a rotation.
    pub(crate) mutex: tokio::sync::Mutex<()>,
    /// Rotations (attempted) so far.
    pub(crate) rotations: std::sync::atomic::AtomicU64,
}

impl TargetLock {
    /// Rotations attempted so far; `u64::MAX` while one holds the lock (whatever is read now may
    /// change before it ends).
    pub(crate) fn rotations(&self) -> u64 {
        match self.mutex.try_lock() {
            Ok(_) => self.rotations.load(std::sync::atomic::Ordering::SeqCst),
            Err(_) => u64::MAX,
        }
    }
}

/// Counts a rotation on the target's lock when dropped (at the end of the rotation, however it
/// ends).
pub(crate) struct CountOnRelease<'a>(pub(crate) &'a TargetLock);

impl Drop for CountOnRelease<'_> {
    fn drop(&mut self) {
        self.0
            .rotations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Who drives a rotation. The steps do the same either way; what differs is the driver's:
/// whose parked lease a step may take over ([`lease`]) and what a failed step leaves behind
/// ([`rollback`]: Secrets Manager retries a failed rotation, the in-process driver rolls back).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Driver {
    /// The scheduled check, a manual rotation, the CLI: all four steps in one invocation.
    #[default]
    InProcess,
    /// Secrets Manager: one Lambda invocation per step, keyed on the `ClientRequestToken`.
    SecretsManager,
}

/// What every step gets: which secret, which version (token), what the rotation was asked, who
/// drives it, and which invocation acts (the lease holder). Nothing else: each step reads what
/// it needs.
#[derive(Clone)]
pub struct StepContext {
    /// The target's secret id (name or ARN).
    pub secret_id: String,
    /// The version being created (`ClientRequestToken`).
    pub token: String,
    /// Secrets Manager's `RotationToken`, passed through to `PutSecretValue`.
    pub rotation_token: Option<SecretString>,
    /// What the rotation was asked to do (used by createSecret when it writes the document).
    pub request: RotateRequest,
    /// Who drives the rotation.
    pub driver: Driver,
    /// This invocation as the target's lease holder.
    pub holder: holder::Holder,
    /// What the caller read of the secret just before the step (see [`looked`]).
    pub looked: looked::Looked,
}

impl StepContext {
    /// The context of one invocation's steps for `token` of `secret_id`, with a new holder.
    pub fn new(secret_id: &str, token: &str, request: RotateRequest, driver: Driver) -> Self {
        Self {
            secret_id: secret_id.to_string(),
            token: token.to_string(),
            rotation_token: None,
            request,
            driver,
            holder: holder::Holder::new(),
            looked: looked::Looked::default(),
        }
    }
}

impl std::fmt::Debug for StepContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepContext")
            .field("secret_id", &self.secret_id)
            .field("token", &self.token)
            .field(
                "rotation_token",
                &self.rotation_token.as_ref().map(|_| "[redacted]"),
            )
            .field("request", &self.request)
            .field("driver", &self.driver)
            .field("holder", &self.holder)
            .field("looked", &self.looked)
            .finish()
    }
}

/// True when a credential's display name marks it as ours.
pub fn is_ours(display_name: Option<&str>) -> bool {
    display_name.is_some_and(|n| n.starts_with(CREDENTIAL_PREFIX))
}

/// A short tag naming the target (derived from its secret's ARN). Credentials carry it, so that
/// targets sharing one app registration (mail and Intune on one app; an MSP reusing an app) never
/// take each other's credentials for orphans.
pub fn target_tag(secret_arn: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, secret_arn.as_bytes())
        .simple()
        .to_string()[..8]
        .to_string()
}

/// The display name of the credential a rotation of the target tagged `tag` with `token` creates.
pub fn credential_name(tag: &str, token: &str) -> String {
    format!("{CREDENTIAL_PREFIX}{tag} {token}")
}

/// True when a credential's display name marks it as ours and made for the target tagged `tag`.
pub fn is_ours_for(display_name: Option<&str>, tag: &str) -> bool {
    display_name
        .and_then(|n| n.strip_prefix(CREDENTIAL_PREFIX))
        .is_some_and(|rest| rest.starts_with(&format!("{tag} ")))
}

/// The app a document names, with the object id when known.
pub(crate) fn app_of(doc: &TargetDocument) -> AppRef {
    AppRef::of(doc)
}
