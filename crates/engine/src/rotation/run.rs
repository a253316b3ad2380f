//! What the in-process driver carries from one step to the next. Secrets Manager drives a
//! rotation one invocation per step, so each step there re-reads its state; the in-process
//! driver (scheduled check, manual rotate, CLI) runs all four steps in one process and already
//! holds most of it: the stages and document it just read, the app it just listed, the document
//! it just stored, the Jamf target it just opened and checked. Carrying them saves about two
//! thirds of a rotation's requests (docs/PERFORMANCE.md).
//!
//! What is never taken from here: the re-check that this rotation is still the pending one
//! after the propagation wait and before Jamf Pro is written (setSecret reads `AWSPENDING`
//! again), the look at the stages right before the new version becomes `AWSCURRENT` and the
//! compare-and-swap that moves it (Secrets Manager refuses it when `AWSCURRENT` moved
//! meanwhile), and the listing of the app right before anything is retired (finishSecret).
//! Every failure path re-reads as before.

use crate::document::TargetDocument;
use crate::ports::{Application, SecretHolder, SecretInfo};
use std::sync::{Arc, Mutex};

/// The state of one rotation as its steps read it: what the in-process driver carries from one
/// step to the next, or, for a Secrets Manager step event (and the engine's one-off steps), a run
/// that remembers nothing, so that every read goes to the store, the app or Jamf Pro. Steps read
/// through it the same way either way. Cheap to clone (shared).
#[derive(Clone)]
pub struct Run {
    inner: Arc<Mutex<Known>>,
    target: Arc<tokio::sync::Mutex<Option<Arc<dyn SecretHolder>>>>,
    remembers: bool,
}

impl Default for Run {
    /// A run that remembers what its steps read and wrote.
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            target: Arc::default(),
            remembers: true,
        }
    }
}

/// What a check read just before deciding to rotate, handed to the rotation.
#[derive(Clone)]
pub struct Seen {
    /// The secret's stages.
    pub info: SecretInfo,
    /// The `AWSCURRENT` version and its document.
    pub current: (String, TargetDocument),
    /// The app as the check listed it.
    pub application: Application,
    /// Rotations this process had let through the target's lock when the check read it.
    pub generation: u64,
}

#[derive(Default)]
struct Known {
    info: Option<SecretInfo>,
    current: Option<(String, TargetDocument)>,
    application: Option<Application>,
    pending: Option<TargetDocument>,
    followed: bool,
    holder: Option<String>,
    lease: Option<super::lease::Lease>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Documents hold secrets: only say what is known.
        let k = self.known();
        f.debug_struct("Run")
            .field("info", &k.info.is_some())
            .field("current", &k.current.as_ref().map(|(v, _)| v.clone()))
            .field("application", &k.application.is_some())
            .field("pending", &k.pending.is_some())
            .field("lease", &k.lease)
            .finish()
    }
}

impl Run {
    /// A run that remembers nothing: every step re-reads what it needs (a Secrets Manager step
    /// event, which is one invocation per step).
    pub fn rereading() -> Self {
        Self {
            remembers: false,
            ..Self::default()
        }
    }

    /// True when the run carries what its steps read and wrote from one step to the next (the
    /// in-process driver); false when every step re-reads.
    pub fn remembers(&self) -> bool {
        self.remembers
    }

    /// A run that starts from what a check saw.
    pub fn from_seen(seen: Seen) -> Self {
        let run = Self::default();
        {
            let mut k = run.known();
            k.info = Some(seen.info);
            k.current = Some(seen.current);
            k.application = Some(seen.application);
        }
        run
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `write` to what the run knows, if it remembers anything.
    fn remember(&self, write: impl FnOnce(&mut Known)) {
        if self.remembers {
            write(&mut self.known());
        }
    }

    /// The stages as last seen.
    pub fn info(&self) -> Option<SecretInfo> {
        self.known().info.clone()
    }

    /// Records the stages.
    pub fn set_info(&self, info: SecretInfo) {
        self.remember(|k| k.info = Some(info));
    }

    /// The `AWSCURRENT` version and document, as read when the run started.
    pub fn current(&self) -> Option<(String, TargetDocument)> {
        self.known().current.clone()
    }

    /// Records the `AWSCURRENT` version and document.
    pub fn set_current(&self, version: String, doc: TargetDocument) {
        self.remember(|k| k.current = Some((version, doc)));
    }

    /// The app as last listed (kept up to date with this run's own additions and removals).
    pub fn application(&self) -> Option<Application> {
        self.known().application.clone()
    }

    /// Records the app's listing.
    pub fn set_application(&self, app: Application) {
        self.remember(|k| k.application = Some(app));
    }

    /// Notes that this run removed credential `key_id` from the app.
    pub fn removed(&self, key_id: &str) {
        if let Some(app) = self.known().application.as_mut() {
            app.passwords
                .retain(|c| !c.key_id.eq_ignore_ascii_case(key_id));
        }
    }

    /// Notes that this run added `credential` to the app.
    pub fn added(&self, credential: crate::ports::PasswordCredential) {
        if let Some(app) = self.known().application.as_mut() {
            app.passwords.push(credential);
        }
    }

    /// The document this run stored in the token's version.
    pub fn pending(&self) -> Option<TargetDocument> {
        self.known().pending.clone()
    }

    /// Records the document stored in the token's version.
    pub fn set_pending(&self, doc: TargetDocument) {
        self.remember(|k| k.pending = Some(doc));
    }

    /// True when the pending credential is a concurrent attempt's that this run follows, not
    /// its own: then a failure of this run leaves it (and Jamf Pro) to that attempt.
    pub fn followed(&self) -> bool {
        self.known().followed
    }

    /// Records that this run follows a concurrent attempt's credential.
    pub fn set_followed(&self) {
        self.remember(|k| k.followed = true);
    }

    /// This run's id as a holder of the target's lease: random, made at first use, so every
    /// invocation (every step event too) is a holder of its own.
    pub fn holder(&self) -> String {
        self.known()
            .holder
            .get_or_insert_with(|| uuid::Uuid::new_v4().simple().to_string())
            .clone()
    }

    /// The lease this run holds, if it took one.
    pub fn lease(&self) -> Option<super::lease::Lease> {
        self.known().lease.clone()
    }

    /// Records the lease this run holds (kept by every run, a step event's too: it is this
    /// invocation's to let go of).
    pub fn set_lease(&self, lease: super::lease::Lease) {
        self.known().lease = Some(lease);
    }

    /// Takes over a lease an earlier go of the same rotation took (its holder id too).
    pub fn adopt_lease(&self, lease: super::lease::Lease) {
        let mut k = self.known();
        k.holder = Some(lease.holder.clone());
        k.lease = Some(lease);
    }

    /// A step context for this run's target with no token of its own (for letting go of the
    /// lease).
    pub fn context(&self, secret_id: &str) -> super::StepContext {
        super::StepContext {
            secret_id: secret_id.to_string(),
            token: String::new(),
            rotation_token: None,
            request: Default::default(),
            in_process: true,
            run: self.clone(),
        }
    }

    /// Forgets the lease (it is being let go of) and returns it.
    pub fn take_lease(&self) -> Option<super::lease::Lease> {
        self.known().lease.take()
    }

    /// The Jamf target this run opened and checked, if any.
    pub async fn target(&self) -> Option<Arc<dyn SecretHolder>> {
        self.target.lock().await.clone()
    }

    /// Keeps the opened target for the run's later steps.
    pub async fn keep_target(&self, target: Arc<dyn SecretHolder>) {
        if self.remembers {
            *self.target.lock().await = Some(target);
        }
    }

    /// Ends the kept target's session (logout, token): the run is over.
    pub async fn close(&self) {
        if let Some(t) = self.target.lock().await.take() {
            t.close().await;
        }
    }
}
