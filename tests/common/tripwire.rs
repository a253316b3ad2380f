//! Wrappers around the engine's four adapters that number every external call and can "crash the
//! process" just before or just after the N-th one: the call never returns and the test aborts the
//! rotation's task, which is what a killed Lambda or CLI leaves behind.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rotator_engine::document::{TargetDocument, TargetKind};
use rotator_engine::ports::*;
use rotator_engine::rotation::Engine;
use secrecy::SecretString;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Just before or just after the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Before,
    After,
}

/// A fault a call meets instead of (or on top of) its real answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails as a transient error would after the SDK's or client's own retries.
    Transient,
    /// A Secrets Manager value read answers with a document that no longer parses (other calls
    /// are not affected).
    Garbled,
}

/// Another process's work, run from inside this one's call (see [`Tripwire::interfering`]).
pub type Hook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// True for the calls that change something (the others only read, or alert).
pub fn changes_target(call: &str) -> bool {
    [
        "graph: addPassword",
        "graph: removePassword",
        "jamf: write secret",
        "sm: PutSecretValue(AWSPENDING)",
        "sm: UpdateSecretVersionStage(AWSCURRENT)",
        "sm: UpdateSecretVersionStage(-AWSPENDING)",
    ]
    .contains(&call)
}

/// One sequence of several tripwires' calls: (tripwire id, call name).
pub type CallLog = Arc<Mutex<Vec<(usize, String)>>>;

/// Which call a [`Hook`] runs before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// The n-th call (1-based), whatever its name.
    Call(usize),
    /// The n-th call (1-based) with this name.
    Named(&'static str, usize),
}

/// Counts calls; crashes at the chosen one, or injects faults into a run of them.
#[derive(Default)]
pub struct Tripwire {
    seq: AtomicUsize,
    at: Option<(usize, When)>,
    at_name: Option<(&'static str, When)>,
    /// Calls `first..first + count` meet `fault`.
    faults: Option<(usize, usize, Fault)>,
    /// Set while a call that must answer garbled is in flight (value reads look at it).
    garble: std::sync::atomic::AtomicBool,
    /// Runs once, just before the chosen call (another process acting at that moment).
    hook: Mutex<Option<(At, Hook)>>,
    /// The fault the hooked call meets after the hook ran.
    hook_fault: Option<Fault>,
    /// A log shared by several tripwires: (this tripwire's id, call) in the order calls began.
    shared: Option<(usize, CallLog)>,
    /// The name of the call the hook ran before, once it ran.
    pub hooked: Mutex<Option<String>>,
    pub crashed: Notify,
    pub calls: Mutex<Vec<String>>,
}

impl Tripwire {
    /// Crashes at call `n` (1-based), `when`.
    pub fn at(n: usize, when: When) -> Arc<Self> {
        Arc::new(Self {
            at: Some((n, when)),
            ..Default::default()
        })
    }
    /// Crashes at the first call named `name` (see the wrappers below), `when`.
    pub fn at_call(name: &'static str, when: When) -> Arc<Self> {
        Arc::new(Self {
            at_name: Some((name, when)),
            ..Default::default()
        })
    }
    /// Never crashes; calls `first..first + count` (1-based) meet `fault`.
    pub fn failing(first: usize, count: usize, fault: Fault) -> Arc<Self> {
        Arc::new(Self {
            faults: Some((first, count, fault)),
            ..Default::default()
        })
    }
    /// Never crashes; runs `hook` (another process's work) just before the call `at` names, and
    /// then lets the call go on.
    pub fn interfering(at: At, hook: Hook) -> Arc<Self> {
        Arc::new(Self {
            hook: Mutex::new(Some((at, hook))),
            ..Default::default()
        })
    }
    /// As [`Self::interfering`], and calls `first..first + count` (1-based) meet `fault`.
    pub fn interfering_failing(
        at: At,
        hook: Hook,
        first: usize,
        count: usize,
        fault: Fault,
    ) -> Arc<Self> {
        Arc::new(Self {
            hook: Mutex::new(Some((at, hook))),
            faults: Some((first, count, fault)),
            ..Default::default()
        })
    }
    /// As [`Self::interfering`], and the call the hook ran before then meets `fault`.
    pub fn interfering_then(at: At, hook: Hook, fault: Fault) -> Arc<Self> {
        Arc::new(Self {
            hook: Mutex::new(Some((at, hook))),
            hook_fault: Some(fault),
            ..Default::default()
        })
    }
    /// The calls that met an injected fault so far.
    pub fn faulted(&self) -> Vec<String> {
        let Some((first, count, _)) = self.faults else {
            return Vec::new();
        };
        self.names()
            .into_iter()
            .skip(first - 1)
            .take(count)
            .collect()
    }
    /// Never crashes; only counts.
    pub fn counting() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// Never crashes; counts, and logs each call as `(id, name)` into `log`, which other
    /// tripwires share: one sequence of several processes' calls.
    pub fn logging(id: usize, log: CallLog) -> Arc<Self> {
        Arc::new(Self {
            shared: Some((id, log)),
            ..Default::default()
        })
    }
    async fn call<T: Injected>(&self, name: &str, f: impl Future<Output = T>) -> T {
        let n = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fault = self
            .faults
            .filter(|(first, count, _)| (*first..first + count).contains(&n))
            .map(|f| f.2);
        let (first_of_name, nth_of_name) = {
            let mut calls = self.calls.lock().unwrap();
            let seen = calls.iter().filter(|c| *c == name).count();
            calls.push(name.to_string());
            (seen == 0, seen + 1)
        };
        if let Some((id, log)) = &self.shared {
            log.lock().unwrap().push((*id, name.to_string()));
        }
        let hook = {
            let mut slot = self.hook.lock().unwrap();
            let due = slot.as_ref().is_some_and(|(at, _)| match at {
                At::Call(k) => *k == n,
                At::Named(m, k) => *m == name && *k == nth_of_name,
            });
            if due {
                slot.take().map(|(_, h)| h)
            } else {
                None
            }
        };
        if let Some(hook) = hook {
            *self.hooked.lock().unwrap() = Some(name.to_string());
            hook().await;
            fault = fault.or(self.hook_fault);
        }
        let here = |when| {
            self.at == Some((n, when))
                || (first_of_name && self.at_name.is_some_and(|(m, w)| m == name && w == when))
        };
        if here(When::Before) {
            self.hang().await;
        }
        if fault == Some(Fault::Transient) {
            return T::transient(name);
        }
        self.garble
            .store(fault == Some(Fault::Garbled), Ordering::SeqCst);
        let out = f.await;
        if here(When::After) {
            self.hang().await;
        }
        out
    }
    async fn hang(&self) -> ! {
        self.crashed.notify_one();
        std::future::pending::<()>().await;
        unreachable!()
    }
    /// True when the value read that just returned must answer garbled.
    fn garbled_now(&self) -> bool {
        self.garble.swap(false, Ordering::SeqCst)
    }
    /// The calls seen so far, in order.
    pub fn names(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

/// What an adapter call answers when a fault is injected into it: the error a transient failure
/// surfaces as once the adapter's own retries are spent.
pub trait Injected {
    fn transient(call: &str) -> Self;
}

impl<T> Injected for Result<T, StoreError> {
    fn transient(call: &str) -> Self {
        Err(StoreError::Aws {
            operation: call.to_string(),
            secret_id: "(injected)".into(),
            code: "InternalServiceError".into(),
            message: "injected: failed after the SDK's retries".into(),
        })
    }
}

impl<T> Injected for Result<T, DirectoryError> {
    fn transient(call: &str) -> Self {
        Err(DirectoryError::Unavailable {
            operation: call.to_string(),
            message: "injected: connection reset after retries".into(),
        })
    }
}

impl<T> Injected for Result<T, TargetError> {
    fn transient(call: &str) -> Self {
        Err(TargetError::Unavailable {
            operation: call.to_string(),
            message: "injected: connection reset after retries".into(),
        })
    }
}

impl Injected for Result<(), AlertError> {
    fn transient(_: &str) -> Self {
        Err(AlertError("injected: SNS unavailable".into()))
    }
}

/// A document that no longer parses, for [`Fault::Garbled`].
fn garbled_document() -> SecretString {
    SecretString::from("{\"entra\": 42, \"truncated\"".to_string())
}

/// An engine like `e`, with every adapter behind the tripwire.
pub fn wired(e: &Engine, trip: Arc<Tripwire>) -> Engine {
    Engine::new(
        Arc::new(Dir(e.directory.clone(), trip.clone())),
        Arc::new(Targets(e.targets.clone(), trip.clone())),
        Arc::new(Store(e.store.clone(), trip.clone())),
        Arc::new(Alarms(e.alerts.clone(), trip.clone())),
        e.clock.clone(),
        e.policy.clone(),
    )
    .with_leases(Arc::new(Leases(e.leases.clone(), trip)))
}

/// The lease table behind the tripwire: its calls are numbered too ("lease: PutItem", …).
struct Leases(Arc<dyn LeaseStore>, Arc<Tripwire>);

impl<T> Injected for Result<T, LeaseError> {
    fn transient(call: &str) -> Self {
        Err(LeaseError::Unavailable {
            operation: call.to_string(),
            code: "InternalServerError".into(),
            message: "injected: failed after the SDK's retries".into(),
        })
    }
}

#[async_trait]
impl LeaseStore for Leases {
    async fn acquire(
        &self,
        key: &str,
        holder: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
        parked: Option<&str>,
    ) -> Result<(), LeaseError> {
        let take = self.0.acquire(key, holder, expires, now, parked);
        self.1.call("lease: PutItem", take).await
    }
    async fn renew(
        &self,
        key: &str,
        holder: &str,
        to: &str,
        expires: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        let renew = self.0.renew(key, holder, to, expires);
        self.1.call("lease: UpdateItem", renew).await
    }
    async fn release(&self, key: &str, holder: &str) -> Result<(), LeaseError> {
        (self.1)
            .call("lease: DeleteItem", self.0.release(key, holder))
            .await
    }
    async fn holder(&self, key: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        self.1.call("lease: GetItem", self.0.holder(key)).await
    }
}

struct Dir(Arc<dyn Directory>, Arc<Tripwire>);
struct Store(Arc<dyn SecretStore>, Arc<Tripwire>);
struct Targets(Arc<dyn TargetFactory>, Arc<Tripwire>);
struct Target(Box<dyn SecretHolder>, Arc<Tripwire>);
struct Alarms(Arc<dyn Alerts>, Arc<Tripwire>);

#[async_trait]
impl Directory for Dir {
    async fn application(&self, app: &AppRef) -> Result<Application, DirectoryError> {
        self.1
            .call("graph: read app", self.0.application(app))
            .await
    }
    async fn add_password(
        &self,
        app: &AppRef,
        name: &str,
        end: DateTime<Utc>,
    ) -> Result<NewPassword, DirectoryError> {
        self.1
            .call("graph: addPassword", self.0.add_password(app, name, end))
            .await
    }
    async fn remove_password(&self, app: &AppRef, key: &str) -> Result<(), DirectoryError> {
        self.1
            .call("graph: removePassword", self.0.remove_password(app, key))
            .await
    }
    async fn max_password_lifetime(
        &self,
        app: &AppRef,
    ) -> Result<Option<chrono::Duration>, DirectoryError> {
        self.1
            .call("graph: read policy", self.0.max_password_lifetime(app))
            .await
    }
    async fn key_last_used(
        &self,
        app: &AppRef,
        key: &str,
    ) -> Result<Option<DateTime<Utc>>, DirectoryError> {
        self.1
            .call(
                "graph: read sign-in activity",
                self.0.key_last_used(app, key),
            )
            .await
    }
    async fn check_secret(
        &self,
        app: &AppRef,
        s: &SecretString,
        scope: &str,
    ) -> Result<SecretCheck, DirectoryError> {
        self.1
            .call(
                "entra: token with a secret",
                self.0.check_secret(app, s, scope),
            )
            .await
    }
}

#[async_trait]
impl SecretStore for Store {
    async fn describe(&self, id: &str) -> Result<SecretInfo, StoreError> {
        self.1.call("sm: DescribeSecret", self.0.describe(id)).await
    }
    async fn value(&self, id: &str, v: &str) -> Result<Option<SecretString>, StoreError> {
        let out = self
            .1
            .call("sm: GetSecretValue(version)", self.0.value(id, v))
            .await;
        match out {
            Ok(Some(_)) if self.1.garbled_now() => Ok(Some(garbled_document())),
            other => other,
        }
    }
    async fn version_exists(&self, id: &str, v: &str) -> Result<bool, StoreError> {
        self.1
            .call("sm: GetSecretValue(version)", self.0.version_exists(id, v))
            .await
    }
    async fn value_at(
        &self,
        id: &str,
        stage: &str,
    ) -> Result<Option<(String, SecretString)>, StoreError> {
        let out = self
            .1
            .call("sm: GetSecretValue(stage)", self.0.value_at(id, stage))
            .await;
        match out {
            Ok(Some((v, _))) if self.1.garbled_now() => Ok(Some((v, garbled_document()))),
            other => other,
        }
    }
    async fn put_pending(
        &self,
        id: &str,
        v: &str,
        value: &SecretString,
        rt: Option<&SecretString>,
    ) -> Result<(), StoreError> {
        self.1
            .call(
                "sm: PutSecretValue(AWSPENDING)",
                self.0.put_pending(id, v, value, rt),
            )
            .await
    }
    async fn promote(&self, id: &str, v: &str, from: &str) -> Result<(), StoreError> {
        self.1
            .call(
                "sm: UpdateSecretVersionStage(AWSCURRENT)",
                self.0.promote(id, v, from),
            )
            .await
    }
    async fn remove_pending(&self, id: &str, v: &str) -> Result<(), StoreError> {
        self.1
            .call(
                "sm: UpdateSecretVersionStage(-AWSPENDING)",
                self.0.remove_pending(id, v),
            )
            .await
    }
    async fn create(
        &self,
        name: &str,
        value: &SecretString,
        d: &str,
    ) -> Result<String, StoreError> {
        self.1
            .call("sm: CreateSecret", self.0.create(name, value, d))
            .await
    }
    async fn put_current(&self, id: &str, value: &SecretString) -> Result<(), StoreError> {
        self.1
            .call(
                "sm: PutSecretValue(AWSCURRENT)",
                self.0.put_current(id, value),
            )
            .await
    }
    async fn list_tagged(&self, k: &str, v: Option<&str>) -> Result<Vec<String>, StoreError> {
        self.1
            .call("sm: ListSecrets", self.0.list_tagged(k, v))
            .await
    }
    async fn rotate_secret(&self, id: &str, r: &RotateSecretRequest) -> Result<(), StoreError> {
        self.1
            .call("sm: RotateSecret", self.0.rotate_secret(id, r))
            .await
    }
}

#[async_trait]
impl TargetFactory for Targets {
    async fn open(&self, doc: &TargetDocument) -> Result<Box<dyn SecretHolder>, TargetError> {
        let t = self
            .1
            .call("jamf: read credentials + open", self.0.open(doc))
            .await?;
        Ok(Box::new(Target(t, self.1.clone())))
    }
}

#[async_trait]
impl SecretHolder for Target {
    fn kind(&self) -> TargetKind {
        self.0.kind()
    }
    fn scope(&self) -> String {
        self.0.scope()
    }
    async fn inspect(&self) -> Result<TargetConfig, TargetError> {
        self.1.call("jamf: read settings", self.0.inspect()).await
    }
    async fn install(&self, s: &SecretString) -> Result<(), TargetError> {
        self.1.call("jamf: write secret", self.0.install(s)).await
    }
    async fn verify(&self) -> Result<(), TargetError> {
        self.1.call("jamf: test", self.0.verify()).await
    }
    async fn prove(&self) -> Result<(), TargetError> {
        self.1.call("jamf: prove", self.0.prove()).await
    }
    async fn close(&self) {
        // Best effort (a logout); not a crash point of its own.
        self.0.close().await
    }
}

#[async_trait]
impl Alerts for Alarms {
    async fn send(&self, a: &Alert) -> Result<(), AlertError> {
        self.1.call("sns: Publish", self.0.send(a)).await
    }
}
