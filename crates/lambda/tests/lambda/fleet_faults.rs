//! The fan-out's pair faults. A check in `fan-out` mode is killed just after it handed a due
//! rotation to Secrets Manager (`RotateSecret` returned: an empty `AWSPENDING` version exists,
//! the check never reported); a day later the next check meets a transient error at each of its
//! external calls in turn (call 1, 2, … until it makes no more calls). Secrets Manager's four
//! step events for the handed-off version never arrive, arrive before the next check, or arrive
//! after it (late).
//!
//! After every combination:
//! - the invariant holds after the faulty check (Jamf Pro on a secret Entra accepts, every
//!   credential of ours held by a version), and a check that failed alerted;
//! - late step events that find the rotation done change nothing;
//! - a third, clean check a day later (fanned out too: what it hands off, the steps complete)
//!   leaves the rotation complete: nothing due or pending, Jamf Pro on `AWSCURRENT`'s secret,
//!   one credential on the app, the new one;
//! - the first credential was removed only once Jamf Pro held another secret and had passed its
//!   test with it (a witness in front of Entra checks at the removal itself);
//! - nothing secret in the responses, the metric lines, the logs or the alerts.
//!
//! All on virtual time, on the memory store; each call numbered by `tests/common/tripwire.rs`.

use crate::common::tripwire::{wired, Fault, Tripwire, When};
use crate::common::{spawn_world_on_memory, TestWorld};
use crate::fleet::{check, function, secrets_manager_invokes, with_secs_left};
use crate::harness::{text, Harness, STEPS};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rotator_engine::config::RotationMode;
use rotator_engine::ports::*;
use rotator_engine::rotation::Engine;
use rotator_lambda::LambdaError;
use rotator_testkit::entra::EntraOp;
use rotator_testkit::jamf::JamfSim;
use rotator_testkit::memory_store::{MemoryStore, RotationInvocation};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);
/// Time left in every invocation: plenty for an in-process rotation.
const PLENTY: i64 = 900;

/// When Secrets Manager's step events for the handed-off version arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Steps {
    Never,
    /// Right after the kill, before the next check.
    Before,
    /// After the next check, before the third.
    After,
}

/// A world whose fanned-out check was killed just after `RotateSecret` returned.
struct Killed {
    w: TestWorld,
    store: MemoryStore,
    /// What every later invocation builds on: the world's adapters, Entra behind the witness.
    engine: Engine,
    witness: Arc<Witness>,
    /// The invocation Secrets Manager would now make of the function.
    call: RotationInvocation,
}

async fn killed_after_hand_off() -> Killed {
    let (w, store) = spawn_world_on_memory(10).await;
    let witness = Arc::new(Witness::of(&w));
    let e = &w.engine;
    let engine = Engine::new(
        witness.clone(),
        e.targets.clone(),
        e.store.clone(),
        e.alerts.clone(),
        e.clock.clone(),
        e.policy.clone(),
    );
    let trip = Tripwire::at_call("sm: RotateSecret", When::After);
    let h = function(&w, wired(&engine, trip.clone()), RotationMode::FanOut).await;
    let within = with_secs_left(&w, PLENTY);
    let mut task = tokio::spawn(async move { h.invoke_within(check(), &within).await.is_ok() });
    tokio::select! {
        _ = trip.crashed.notified() => task.abort(),
        _ = &mut task => panic!("the check ended instead of being killed after RotateSecret"),
    }
    let _ = task.await;
    let mut calls = store.take_invocations();
    assert_eq!(calls.len(), 1, "RotateSecret ran once before the kill");
    Killed {
        w,
        store,
        engine,
        witness,
        call: calls.remove(0),
    }
}

/// What one combination did (the figures the tally prints).
struct Figures {
    /// The faulted call's name.
    faulted: String,
    /// The faulty check's calls.
    calls: usize,
    /// The faulty check failed (a function error).
    failed: bool,
    /// Alerts the faulty check sent.
    alerts: Vec<AlertKind>,
    /// `addPassword` calls in the whole combination.
    added: usize,
    /// The third check's action.
    third: String,
}

/// One combination: the kill, the steps as `steps` says, the next check failing at call `i`,
/// then a clean check. `None` when the next check made fewer than `i` calls. Panics on a
/// violation.
async fn cell(i: usize, steps: Steps) -> Option<Figures> {
    let k = killed_after_hand_off().await;
    let w = &k.w;
    // Secrets Manager's invocations of the function, and the third check's.
    let sm = function(w, k.engine.clone(), RotationMode::FanOut).await;
    if steps == Steps::Before {
        let done = secrets_manager_invokes(&sm, &k.call).await;
        assert_eq!(
            done,
            STEPS.len(),
            "the steps complete the handed-off rotation"
        );
    }
    w.clock.advance(DAY);
    let alerted = w.alerts.sent().len();
    let trip = Tripwire::failing(i, 1, Fault::Transient);
    let h = function(w, wired(&k.engine, trip.clone()), RotationMode::FanOut).await;
    let second = h.invoke_within(check(), &with_secs_left(w, PLENTY)).await;
    let faulted = trip.faulted();
    if faulted.is_empty() {
        return None;
    }
    w.assert_invariant().await;
    let alerts: Vec<AlertKind> = w.alerts.sent()[alerted..].iter().map(|a| a.kind).collect();
    if second.is_err() && faulted != ["sns: Publish"] {
        assert!(
            alerts
                .iter()
                .any(|a| matches!(a, AlertKind::RotationFailed | AlertKind::RolledBack)),
            "the check failed without alerting: {alerts:?}"
        );
    }
    drain(&k, &sm).await;
    if steps == Steps::After {
        late_steps(&k, &sm).await;
    }
    w.clock.advance(DAY);
    let third = sm
        .invoke_within(check(), &with_secs_left(w, PLENTY))
        .await
        .expect("the clean check succeeds");
    drain(&k, &sm).await;
    assert_completed(&k).await;
    w.assert_no_leaks(&[&response(&second), &text(&third), &h.output(), &sm.output()]);
    Some(Figures {
        faulted: faulted[0].clone(),
        calls: trip.names().len(),
        failed: second.is_err(),
        alerts,
        added: w.entra.count(EntraOp::AddPassword),
        third: third["results"][0]["report"]["action"].to_string(),
    })
}

fn response(r: &Result<Value, LambdaError>) -> String {
    match r {
        Ok(v) => text(v),
        Err(e) => e.to_string(),
    }
}

/// Secrets Manager runs what was handed to it since: the four steps of each, all succeeding.
async fn drain(k: &Killed, sm: &Harness) {
    for call in k.store.take_invocations() {
        let done = secrets_manager_invokes(sm, &call).await;
        assert_eq!(done, STEPS.len(), "a rotation handed off by a clean check");
    }
}

/// The handed-off version's step events arriving after the next check. When the rotation is
/// done by then, each one succeeds and changes nothing: no credential made, no label moved
/// (lease bookkeeping aside), Jamf Pro untouched; at most finishSecret finishes retiring the
/// credential the rotation replaced, which the next check would retire too (the witness checks
/// that Jamf Pro was proved on the new one first).
async fn late_steps(k: &Killed, sm: &Harness) {
    let w = &k.w;
    let info = w.store.describe(&w.secret_id).await.unwrap();
    let done = info.version_with(AWSPENDING).is_none()
        && w.current_doc().await.entra.key_id.as_deref() != Some(w.initial_key_id.as_str());
    let before = (stages(&k.store), keys(w), w.jamf_secret());
    let steps = secrets_manager_invokes(sm, &k.call).await;
    if done {
        assert_eq!(steps, STEPS.len(), "late steps of a done rotation succeed");
        let mut kept = before.1.clone();
        kept.retain(|key| *key != w.initial_key_id);
        let now = keys(w);
        assert!(
            now == before.1 || now == kept,
            "late steps: {:?} → {now:?}",
            before.1
        );
        assert!(w.jamf_secret() == before.2, "late steps changed Jamf Pro");
        assert_eq!(stages(&k.store), before.0, "late steps moved a label");
    }
    w.assert_invariant().await;
}

/// The key ids on the app.
fn keys(w: &TestWorld) -> Vec<String> {
    let passwords = w.entra.passwords(&w.app.object_id);
    passwords.into_iter().map(|c| c.key_id).collect()
}

/// The store's versions and labels, the lease's bookkeeping left out.
fn stages(store: &MemoryStore) -> rotator_testkit::inspect::Snapshot {
    let mut snapshot = store.snapshot();
    for secret in snapshot.values_mut() {
        secret
            .versions
            .retain(|id, _| !id.starts_with("jer-lease-"));
        for v in secret.versions.values_mut() {
            v.labels.retain(|l| !l.starts_with("JER_LEASE"));
        }
    }
    snapshot
}

/// The rotation is complete: nothing due or pending, Jamf Pro on `AWSCURRENT`'s secret, one
/// credential on the app (`AWSCURRENT`'s, new), the first one retired only once Jamf Pro was
/// proved on another.
async fn assert_completed(k: &Killed) {
    let w = &k.w;
    let status = w.engine.check(&w.secret_id, true).await.unwrap();
    assert!(!status.due, "still due after the clean check");
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert_eq!(info.version_with(AWSPENDING), None, "AWSPENDING left");
    let doc = w.current_doc().await;
    assert_eq!(
        w.jamf_secret().as_deref(),
        Some(doc.entra.client_secret.expose_secret()),
        "Jamf Pro does not hold AWSCURRENT's secret"
    );
    let keys = keys(w);
    assert_eq!(
        keys,
        [doc.entra.key_id.clone().unwrap()],
        "credentials left"
    );
    assert_ne!(keys[0], w.initial_key_id, "not rotated");
    w.assert_invariant().await;
    let early = k.witness.violations.lock().unwrap().clone();
    assert!(early.is_empty(), "{early:?}");
}

/// Entra, with a witness at each removal of the first credential: Jamf Pro must hold another
/// secret by then, and its last successful write must have been followed by a passing test (the
/// stand-in's test asks Entra for a token with the secret it holds).
struct Witness {
    inner: Arc<dyn Directory>,
    jamf: JamfSim,
    first: (String, String),
    violations: Mutex<Vec<String>>,
}

impl Witness {
    fn of(w: &TestWorld) -> Self {
        Witness {
            inner: w.engine.directory.clone(),
            jamf: w.jamf.clone(),
            first: (
                w.initial_key_id.to_lowercase(),
                w.secrets[0].expose_secret().to_string(),
            ),
            violations: Mutex::default(),
        }
    }

    fn jamf_proved_on_another(&self) -> Result<(), String> {
        if self.jamf.smtp_secret().as_deref() == Some(self.first.1.as_str()) {
            return Err("the first credential removed while Jamf Pro still holds it".into());
        }
        let requests = self.jamf.requests();
        let ok = |r: &rotator_testkit::RecordedRequest, method: &str, path: &str| {
            r.method == method && r.path.starts_with(path) && (200..300).contains(&r.status)
        };
        let written = requests
            .iter()
            .rposition(|r| ok(r, "PUT", "/api/v2/smtp-server"))
            .ok_or("the first credential removed before Jamf Pro was written")?;
        if !requests[written..]
            .iter()
            .any(|r| ok(r, "POST", "/api/v1/smtp-server/test"))
        {
            return Err("the first credential removed before Jamf Pro passed its test".into());
        }
        Ok(())
    }
}

#[async_trait]
impl Directory for Witness {
    async fn application(&self, app: &AppRef) -> Result<Application, DirectoryError> {
        self.inner.application(app).await
    }
    async fn add_password(
        &self,
        app: &AppRef,
        name: &str,
        end: DateTime<Utc>,
    ) -> Result<NewPassword, DirectoryError> {
        self.inner.add_password(app, name, end).await
    }
    async fn remove_password(&self, app: &AppRef, key: &str) -> Result<(), DirectoryError> {
        if key.to_lowercase() == self.first.0 {
            if let Err(v) = self.jamf_proved_on_another() {
                self.violations.lock().unwrap().push(v);
            }
        }
        self.inner.remove_password(app, key).await
    }
    async fn max_password_lifetime(
        &self,
        app: &AppRef,
    ) -> Result<Option<chrono::Duration>, DirectoryError> {
        self.inner.max_password_lifetime(app).await
    }
    async fn key_last_used(
        &self,
        app: &AppRef,
        key: &str,
    ) -> Result<Option<DateTime<Utc>>, DirectoryError> {
        self.inner.key_last_used(app, key).await
    }
    async fn check_secret(
        &self,
        app: &AppRef,
        s: &SecretString,
        scope: &str,
    ) -> Result<SecretCheck, DirectoryError> {
        self.inner.check_secret(app, s, scope).await
    }
}

/// Runs the fault at call 1, 2, … of the next check until it makes no more calls; each
/// combination in its own task, so that a violation names it and the others still run.
async fn matrix(steps: Steps) {
    let (mut ran, mut violations) = (0, Vec::new());
    for i in 1..=100 {
        match tokio::spawn(cell(i, steps)).await {
            Ok(None) => break,
            Ok(Some(f)) => {
                ran += 1;
                println!(
                    "steps {steps:?}, fault at call {i} of {} ({}): failed {}, alerts {:?}, addPassword {}, third check {}",
                    f.calls, f.faulted, f.failed, f.alerts, f.added, f.third
                );
            }
            Err(e) => {
                let panic = e.into_panic();
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                violations.push(format!("steps {steps:?}, fault at call {i}: {why}"));
            }
        }
    }
    println!(
        "steps {steps:?}: {} combinations, {} violations",
        ran + violations.len(),
        violations.len()
    );
    assert!(ran > 0, "no combination ran");
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[tokio::test]
async fn a_check_killed_after_a_hand_off_then_a_faulty_check_without_steps_completes_cleanly() {
    matrix(Steps::Never).await;
}

#[tokio::test]
async fn a_check_killed_after_a_hand_off_then_its_steps_then_a_faulty_check_completes_cleanly() {
    matrix(Steps::Before).await;
}

#[tokio::test]
async fn a_check_killed_after_a_hand_off_then_a_faulty_check_then_late_steps_completes_cleanly() {
    matrix(Steps::After).await;
}

/// The calls of a fault-free check after the kill.
async fn next_check_calls() -> Vec<String> {
    let k = killed_after_hand_off().await;
    k.w.clock.advance(DAY);
    let counter = Tripwire::counting();
    let h = function(
        &k.w,
        wired(&k.engine, counter.clone()),
        RotationMode::FanOut,
    )
    .await;
    h.invoke_within(check(), &with_secs_left(&k.w, PLENTY))
        .await
        .unwrap();
    counter.names()
}

#[tokio::test]
async fn a_late_finish_secret_of_a_done_rotation_whose_lease_was_not_let_go_is_a_no_op() {
    let calls = next_check_calls().await;
    assert_eq!(calls.last().unwrap(), "lease: DeleteItem");
    let k = killed_after_hand_off().await;
    let w = &k.w;
    w.clock.advance(DAY);
    // The next check completes the rotation; letting go of its lease (its last call) fails.
    let trip = Tripwire::failing(calls.len(), 1, Fault::Transient);
    let h = function(w, wired(&k.engine, trip.clone()), RotationMode::FanOut).await;
    let r = h.invoke_within(check(), &with_secs_left(w, PLENTY)).await;
    assert_eq!(r.unwrap()["results"][0]["report"]["action"], "rotated");
    let alerted = w.alerts.sent().len();

    // Secrets Manager's step events arrive while that lease is still live.
    let sm = function(w, k.engine.clone(), RotationMode::FanOut).await;
    assert_eq!(secrets_manager_invokes(&sm, &k.call).await, STEPS.len());

    assert_eq!(w.alerts.sent().len(), alerted, "{:?}", w.alerts.sent());
    assert!(sm
        .metric("RotationFailed", Some(&k.call.secret_arn))
        .is_empty());
    assert_eq!(w.entra.count(EntraOp::AddPassword), 1);
    w.clock.advance(DAY);
    sm.invoke_within(check(), &with_secs_left(w, PLENTY))
        .await
        .unwrap();
    assert_completed(&k).await;
}
