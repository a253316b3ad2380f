//! The double-fault matrix. A scheduled check that rotates a due secret is killed just before or
//! just after one of its external calls (every crash point of the crash matrix, each target
//! kind); a day later the resume meets a second fault:
//!
//! - a fault at each of its own external calls in turn: a transient failure (what a call
//!   surfaces once the SDK's or client's retries are spent), five in a row (an outage that also
//!   meets the rollback's own calls), and, at each Secrets Manager value read, a document that
//!   no longer parses;
//! - another attempt at the same rotation acting at each of the resume's removals (after the
//!   resume's lease ran out, so only the looks each step takes stand between them): one that
//!   completes the rotation, one that rolls it back, and one Secrets Manager drives (step events).
//!
//! After the faulty resume the invariant must hold (Jamf Pro on a secret Entra accepts, every
//! credential of this target's held by a version), and a clean check a day later must complete
//! the rotation: Jamf Pro on `AWSCURRENT`'s secret, only that credential on the app, nothing
//! pending, nothing leaked. Violations are collected and must number 0.
//!
//! The full matrix (`DOUBLE_FAULTS=full`, or `scripts/double-faults`) runs every cell; by default a
//! deterministic sample runs: every cell of the crash points just after Jamf Pro was written (the
//! critical rows), and a stride through the other crash points' cells that, across the crash
//! points, reaches every call position and every kind of racing attempt.

use crate::common;

use common::tripwire::{wired, At, Fault, Hook, Tripwire, When};
use common::TestWorld;
use rotator_engine::document::TargetKind;
use rotator_engine::ports::{AWSCURRENT, AWSPENDING};
use rotator_engine::rotation::error::ErrorKind;
use rotator_engine::rotation::{RotateRequest, RotationError, Step, StepContext};
use rotator_lambda::{route, Function, Targets};
use rotator_testkit::clock::{ManualClock, SharedClock};
use rotator_testkit::memory_store::MemoryStore;
use rotator_testkit::world::{spawn_world, WorldOptions};
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);
/// Longer than a rotation's lease.
const PAST_THE_LEASE: Duration = Duration::from_secs(16 * 60);

/// The second fault the resume meets.
#[derive(Debug, Clone, Copy)]
enum Second {
    /// Its `n`-th call meets the fault.
    Fault(usize, Fault),
    /// Its calls `n..n + 5` fail as transient.
    Outage(usize),
    /// Another attempt acts just before its `n`-th call: the look at the stages that precedes
    /// one of its removals.
    Race(usize, Other),
    /// Its `n`-th call fails as transient, and another attempt acts just before its `m`-th call:
    /// the look that precedes a removal that followed (its rollback's).
    FaultThenRace(usize, usize, Other),
}

/// Another attempt at the same target.
#[derive(Debug, Clone, Copy)]
enum Other {
    /// A manual rotation in another process: it resumes the rotation and completes it.
    Completes,
    /// Another process rolls the pending rotation back (as after its own failed Jamf test).
    RollsBack,
    /// Secrets Manager's own rotation: testSecret and finishSecret step events for the pending
    /// version, or, with none pending, a whole rotation of its own.
    SecretsManager,
}

/// A world of `kind` on the in-memory store (AWS's semantics), on virtual time.
async fn world(kind: TargetKind) -> (TestWorld, MemoryStore) {
    common::capture_logs();
    let clock = ManualClock::new(chrono::Utc::now());
    let shared: SharedClock = Arc::new(clock.clone());
    let store = MemoryStore::new();
    let mut opts = WorldOptions::new(shared, Arc::new(store.clone()), "jamf-prod");
    opts.target = kind;
    opts.observation_secs = Some(5);
    let world = spawn_world(opts).await.expect("world seeds the store");
    (TestWorld { world, clock }, store)
}

/// A world whose due rotation was killed at call `n`, `when`, a day ago; `None` when the
/// rotation never reached that call.
async fn crashed(kind: TargetKind, n: usize, when: When) -> Option<(TestWorld, MemoryStore)> {
    let (w, store) = world(kind).await;
    let trip = Tripwire::at(n, when);
    let engine = wired(&w.engine, trip.clone());
    let id = w.secret_id.clone();
    let mut task = tokio::spawn(async move { engine.check(&id, false).await });
    tokio::select! {
        _ = trip.crashed.notified() => task.abort(),
        _ = &mut task => return None,
    }
    let _ = task.await;
    w.clock.advance(DAY);
    Some((w, store))
}

/// What the other attempt does, as a hook run from inside the resume's call.
fn other_acts(w: &TestWorld, store: &MemoryStore, other: Other) -> Hook {
    let (engine, id, clock, store) = (
        w.world.second_engine(),
        w.secret_id.clone(),
        w.clock.clone(),
        store.clone(),
    );
    Box::new(move || {
        Box::pin(async move {
            clock.advance(PAST_THE_LEASE);
            let info = engine.store.describe(&id).await.unwrap();
            let pending = info.version_with(AWSPENDING).map(str::to_string);
            match (other, pending) {
                (Other::Completes, _) | (Other::RollsBack, None) => {
                    let _ = engine.rotate(&id, RotateRequest::default()).await;
                }
                (Other::RollsBack, Some(token)) => {
                    let ctx = StepContext {
                        secret_id: id.clone(),
                        token,
                        rotation_token: None,
                        request: RotateRequest::default(),
                        driver: rotator_engine::rotation::Driver::InProcess,
                        holder: rotator_engine::rotation::holder::Holder::new(),
                        looked: Default::default(),
                    };
                    let failure = RotationError::new(
                        Step::TestSecret,
                        ErrorKind::Concurrent("the other process's Jamf test failed".into()),
                    )
                    .touched();
                    let _ = engine.rollback(&ctx, &failure).await;
                    let home = engine.store.describe(&id).await.unwrap();
                    engine
                        .release(&ctx, home.version_with(AWSCURRENT).unwrap())
                        .await;
                }
                (Other::SecretsManager, pending) => {
                    let function = Function::new(engine, Targets::Ids(vec![id.clone()]))
                        .with_metrics(Arc::new(|_: &str| {}));
                    let (token, steps): (String, &[&str]) = match pending {
                        Some(t) => (t, &["testSecret", "finishSecret"]),
                        None => {
                            let t = uuid::Uuid::new_v4().to_string();
                            store.begin_rotation(&id, &t).unwrap();
                            (
                                t,
                                &["createSecret", "setSecret", "testSecret", "finishSecret"],
                            )
                        }
                    };
                    for step in steps {
                        let event = serde_json::json!({"Step": step, "SecretId": id, "ClientRequestToken": token});
                        if route(&function, event).await.is_err() {
                            break;
                        }
                    }
                }
            }
        })
    })
}

/// The calls of a fault-free resume of the crash at `n`, `when`.
async fn resume_calls(kind: TargetKind, n: usize, when: When) -> Option<Vec<String>> {
    let (w, _store) = crashed(kind, n, when).await?;
    let counter = Tripwire::counting();
    wired(&w.engine, counter.clone())
        .check(&w.secret_id, false)
        .await
        .ok()?;
    Some(counter.names())
}

/// The invariant, as a result: Jamf Pro holds a secret that Entra accepts and that a labelled
/// version holds, and every credential of this target on the app is held by a labelled version.
/// With `orphans_allowed`, a credential held by no version passes (Jamf Pro holds a stored secret,
/// so not this one): a credential whose secret could never be stored (the write failed, and so
/// did its removal's look), which exists nowhere but on the app, like the orphan a crash between
/// `addPassword` and the write leaves; the next check sweeps it.
async fn invariant(w: &TestWorld, orphans_allowed: bool) -> Result<(), String> {
    if !w.jamf_secret_works() {
        return Err("Jamf Pro's secret does not work at Entra".into());
    }
    let (held, secrets) = stored(w).await;
    let jamf = w.jamf_secret().unwrap_or_default();
    if !secrets.contains(&jamf) {
        return Err("Jamf Pro holds a secret no labelled version holds".into());
    }
    let arn = w.store.describe(&w.secret_id).await.unwrap().arn;
    let tag = rotator_engine::rotation::target_tag(&arn);
    for c in w.entra.passwords(&w.app.object_id) {
        if rotator_engine::rotation::is_ours_for(c.display_name.as_deref(), &tag)
            && !held.contains(&c.key_id.to_lowercase())
            && !orphans_allowed
        {
            return Err(format!(
                "credential {} of ours is held by no version",
                c.key_id
            ));
        }
    }
    Ok(())
}

/// The key ids and secrets the labelled versions hold.
async fn stored(w: &TestWorld) -> (Vec<String>, Vec<String>) {
    let info = w.store.describe(&w.secret_id).await.unwrap();
    let (mut keys, mut secrets) = (Vec::new(), Vec::new());
    for stage in ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"] {
        let Some(v) = info.version_with(stage) else {
            continue;
        };
        let Some(value) = w.store.value(&w.secret_id, v).await.unwrap() else {
            continue;
        };
        let doc = rotator_engine::document::TargetDocument::parse(value.expose_secret()).unwrap();
        keys.extend(doc.entra.key_id.map(|k| k.to_lowercase()));
        secrets.push(doc.entra.client_secret.expose_secret().to_string());
    }
    (keys, secrets)
}

/// One cell: the crash at `n`, `when`, then a resume that meets `second`. `Ok(None)` when the
/// cell does not exist (the resume never reached its call); `Err` names the violation.
async fn cell(
    kind: TargetKind,
    n: usize,
    when: When,
    second: Second,
) -> Result<Option<Vec<String>>, String> {
    let Some((w, store)) = crashed(kind, n, when).await else {
        return Ok(None);
    };
    let trip = match second {
        Second::Fault(i, fault) => Tripwire::failing(i, 1, fault),
        Second::Outage(i) => Tripwire::failing(i, 5, Fault::Transient),
        Second::Race(m, other) => Tripwire::interfering(At::Call(m), other_acts(&w, &store, other)),
        Second::FaultThenRace(i, m, other) => Tripwire::interfering_failing(
            At::Call(m),
            other_acts(&w, &store, other),
            i,
            1,
            Fault::Transient,
        ),
    };
    let faulty = wired(&w.engine, trip.clone())
        .check(&w.secret_id, false)
        .await;
    let reached = match second {
        Second::Race(..) => trip.hooked.lock().unwrap().is_some(),
        Second::FaultThenRace(..) => {
            trip.hooked.lock().unwrap().is_some() && !trip.faulted().is_empty()
        }
        _ => !trip.faulted().is_empty(),
    };
    if !reached {
        return Ok(None);
    }
    invariant(&w, true)
        .await
        .map_err(|e| format!("after the faulty resume: {e}"))?;
    let initial = w.secrets[0].expose_secret().to_string();
    // (A racing attempt may change Jamf Pro itself; this resume's alert speaks for this one.)
    let raced = matches!(second, Second::Race(..) | Second::FaultThenRace(..));
    if !raced && w.jamf_secret().as_deref() != Some(initial.as_str()) {
        if let Some(a) = w
            .alerts
            .sent()
            .iter()
            .find(|a| a.message.contains("Jamf Pro was not changed"))
        {
            return Err(format!(
                "an alert says Jamf Pro was not changed, but it was: {}",
                a.subject
            ));
        }
    }

    // The next clean check, a day later, completes the rotation.
    w.clock.advance(DAY);
    let report = w
        .engine
        .check(&w.secret_id, false)
        .await
        .map_err(|e| format!("the clean check failed: {e}"))?;
    if let Some(e) = report.rotation.as_ref().and_then(|r| r.error.clone()) {
        return Err(format!("the clean check's rotation failed: {e}"));
    }
    let settled = w.engine.check(&w.secret_id, true).await.unwrap();
    if settled.due {
        return Err("still due after the clean check".into());
    }
    let current = w.current_doc().await;
    if w.jamf_secret().as_deref() != Some(current.entra.client_secret.expose_secret()) {
        return Err("Jamf Pro does not hold AWSCURRENT's secret".into());
    }
    let keys: Vec<String> = w
        .entra
        .passwords(&w.app.object_id)
        .into_iter()
        .map(|c| c.key_id)
        .collect();
    if keys != [current.entra.key_id.clone().unwrap_or_default()] {
        return Err(format!("credentials left on the app: {keys:?}"));
    }
    let info = w.store.describe(&w.secret_id).await.unwrap();
    if info.version_with(AWSPENDING).is_some() {
        return Err("AWSPENDING left".into());
    }
    invariant(&w, false)
        .await
        .map_err(|e| format!("after the clean check: {e}"))?;
    let faulty = faulty
        .map(|r| serde_json::to_string(&r).unwrap())
        .unwrap_or_else(|e| e.to_string());
    w.assert_no_leaks(&[&faulty, &serde_json::to_string(&report).unwrap()]);
    Ok(Some(trip.names()))
}

/// True for the calls that read a stored document.
fn reads_a_document(call: &str) -> bool {
    call.starts_with("sm: GetSecretValue")
}

/// The cells of crash point `(n, when)` whose resume makes `calls`.
fn cells_of(calls: &[String]) -> Vec<Second> {
    let mut cells = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        cells.push(Second::Fault(i + 1, Fault::Transient));
        cells.push(Second::Outage(i + 1));
        if reads_a_document(call) {
            cells.push(Second::Fault(i + 1, Fault::Garbled));
        }
    }
    for m in looks_before_removals(calls, 0) {
        for other in [Other::Completes, Other::RollsBack, Other::SecretsManager] {
            cells.push(Second::Race(m, other));
        }
    }
    cells
}

/// The positions (1-based) of the looks at the stages that precede each removal at or after
/// call `from` (0-based). Another attempt acts there: before the look, not between the look and
/// the removal, where only a process stalled for longer than its lease could be caught (see
/// docs/RELIABILITY.md).
fn looks_before_removals(calls: &[String], from: usize) -> Vec<usize> {
    calls
        .iter()
        .enumerate()
        .filter(|(at, c)| *c == "graph: removePassword" && *at >= from)
        .filter_map(|(at, _)| calls[..at].iter().rposition(|c| c == "sm: DescribeSecret"))
        .map(|look| look + 1)
        .collect()
}

/// The cells a fault at call `i` opens, from the calls its resume made (`calls`): another
/// attempt acting at each removal that followed the fault (its rollback's).
fn races_after(i: usize, calls: &[String]) -> Vec<Second> {
    let mut cells = Vec::new();
    for m in looks_before_removals(calls, i) {
        for other in [Other::Completes, Other::RollsBack, Other::SecretsManager] {
            cells.push(Second::FaultThenRace(i, m, other));
        }
    }
    cells
}

/// Tallies of a matrix run.
#[derive(Default)]
struct Tally {
    cells: usize,
    ran: usize,
    compound: usize,
    violations: Vec<String>,
}

impl Tally {
    /// Runs `second` after the crash at `n`, `when` when `chosen`; returns the faulty resume's
    /// calls.
    async fn run(
        &mut self,
        kind: TargetKind,
        (n, when, name): (usize, When, &str),
        second: Second,
        chosen: bool,
    ) -> Option<Vec<String>> {
        self.cells += 1;
        if !chosen {
            return None;
        }
        self.ran += 1;
        match cell(kind, n, when, second).await {
            Ok(calls) => calls,
            Err(v) => {
                self.violations.push(format!(
                    "crash {when:?} call {n} ({name}), then {second:?}: {v}"
                ));
                None
            }
        }
    }
}

/// Runs the matrix (or its sample) for `kind`; returns the tally.
async fn matrix(kind: TargetKind) -> Tally {
    let full = std::env::var("DOUBLE_FAULTS").is_ok_and(|v| v == "full");
    let stride = 7;
    let (w, _) = world(kind).await;
    let counter = Tripwire::counting();
    wired(&w.engine, counter.clone())
        .check(&w.secret_id, false)
        .await
        .unwrap();
    let rotation = counter.names();
    let mut t = Tally::default();
    let mut offset = 0;
    for n in 1..=rotation.len() {
        for when in [When::Before, When::After] {
            let Some(calls) = resume_calls(kind, n, when).await else {
                continue;
            };
            let point = (n, when, rotation[n - 1].as_str());
            // Every cell of the crash points right after Jamf Pro got the new secret.
            let critical = rotation[n - 1] == "jamf: write secret" && when == When::After;
            for (k, second) in cells_of(&calls).into_iter().enumerate() {
                let chosen = full || critical || (k + offset) % stride == 0;
                let ran = t.run(kind, point, second, chosen).await;
                // A transient fault that led to a rollback: race its removals too.
                if let (Second::Fault(i, Fault::Transient), Some(ran)) = (second, ran) {
                    for (r, raced) in races_after(i, &ran).into_iter().enumerate() {
                        t.compound += 1;
                        let chosen = full || critical || (r + k + offset) % 3 == 0;
                        t.run(kind, point, raced, chosen).await;
                    }
                }
            }
            offset += 1;
        }
    }
    if full {
        println!(
            "double faults ({}): {} crash points, {} cells ({} of them a fault then a race at the rollback's removals), all run, {} violations",
            kind.as_str(), rotation.len() * 2, t.cells, t.compound, t.violations.len()
        );
    } else {
        println!(
            "double faults ({}): {} crash points, a sample of {} cells (DOUBLE_FAULTS=full runs the whole matrix), {} violations",
            kind.as_str(), rotation.len() * 2, t.ran, t.violations.len()
        );
    }
    assert!(
        t.violations.is_empty(),
        "{} violations:\n{}",
        t.violations.len(),
        t.violations.join("\n")
    );
    t
}

#[tokio::test]
async fn every_crash_point_then_a_faulty_or_raced_resume_keeps_the_invariant_smtp_graph() {
    matrix(TargetKind::SmtpGraph).await;
}

#[tokio::test]
async fn every_crash_point_then_a_faulty_or_raced_resume_keeps_the_invariant_conditional_access() {
    matrix(TargetKind::ConditionalAccess).await;
}
