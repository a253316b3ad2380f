//! The fleet benchmark (issue 15; docs/PERFORMANCE.md, "Fleets"), run by `scripts/bench-fleet`:
//!
//! - a scheduled check of 10,000 targets, none due, 50 ms on every call: wall time, peak RSS,
//!   the response's size, requests;
//! - 500 targets due at once, each on its own Jamf Pro server, Entra accepting a new secret 15 s
//!   after it is made: the check in a 15-minute invocation in process (how many rotated, how many
//!   deferred, when it returned), `auto`, and fanned out (every rotation handed to Secrets
//!   Manager in the one invocation, Secrets Manager requests per target), then Secrets Manager's
//!   step invocations of the handed-off rotations, the longest of them against Lambda's 15
//!   minutes;
//! - in all of them, at most five requests in flight to any one Jamf Pro server.
//!
//! The burst runs on a [`ScaledClock`]: time runs `SCALE` times as fast, so the 15-minute
//! invocation lasts 45 s and 50 ms of latency is 2.5 ms of real time; concurrent waits overlap as
//! they would. Each timed test writes `target/bench/fleet-<name>.json`; CI runs only
//! [`a_small_fleet_hands_off_every_due_rotation_and_secrets_manager_completes_them`], which
//! proves the harness on virtual time.

use super::bench_requests::{write, Slow, LATENCY};
use rotator_adapters::entra::{GraphDirectory, RotatorIdentity};
use rotator_engine::clock::Pacer;
use rotator_engine::config::{Cloud, RotationMode, Settings};
use rotator_engine::document::{EntraSection, JamfSection, TargetDocument, TargetKind};
use rotator_engine::ports::{RotateSecretRequest, SecretInfo, SecretStore, StoreError, AWSCURRENT};
use rotator_engine::rotation::budget::Budget;
use rotator_engine::rotation::check::{Action, CheckOptions};
use rotator_engine::rotation::{Engine, Policy};
use rotator_lambda::{route, route_within, Function, Invocation, LambdaError, Targets};
use rotator_testkit::alerts::MemoryAlerts;
use rotator_testkit::clock::{ManualClock, ScaledClock, SharedClock, SystemClock};
use rotator_testkit::entra::EntraSim;
use rotator_testkit::jamf::{JamfSim, JamfSimConfig};
use rotator_testkit::memory_store::{MemoryStore, RotationInvocation};
use rotator_testkit::world::TENANT_ID;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How much faster than real time the burst runs.
const SCALE: u32 = 20;
/// Lambda's longest invocation, the template's `Timeout`.
const INVOCATION_SECS: i64 = 900;
/// How long after it is made Entra accepts a new secret (observed: 4–18 s, sometimes minutes).
const PROPAGATION_LAG: Duration = Duration::from_secs(15);
/// Rotations Secrets Manager runs at once: the function's reserved concurrency for a fanned-out
/// fleet (AWS warns that a rotation function with less than 10 may be throttled; README, "Many
/// targets").
const STEP_CONCURRENCY: usize = 10;
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:jamf-entra-rotator";
const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// The shape of a fleet.
pub(super) struct FleetSpec {
    pub targets: usize,
    /// The first `due` targets expire in 10 days (due), the others in 90.
    pub due: usize,
    /// Every target on one Jamf Pro server; else each due target on its own and the others on
    /// one shared server (which a check that rotates nothing never calls).
    pub one_jamf_server: bool,
    pub clock: SharedClock,
    /// Real time added to every Entra, Graph, Jamf and Secrets Manager call.
    pub latency: Duration,
    /// By the clock: how long Entra refuses a new secret.
    pub propagation_lag: Duration,
}

/// A fleet of smtp-graph targets in one Entra tenant, on the in-memory Secrets Manager behind
/// [`Slow`], and the engine over it.
pub(super) struct Fleet {
    pub entra: EntraSim,
    pub rotator_client_id: String,
    pub memory: MemoryStore,
    /// Secrets Manager calls by operation.
    pub sm_calls: Arc<Mutex<BTreeMap<String, usize>>>,
    pub jamfs: Vec<JamfSim>,
    /// The targets' ARNs, due ones first.
    pub ids: Vec<String>,
    pub engine: Engine,
}

impl Fleet {
    pub async fn build(spec: &FleetSpec) -> Fleet {
        let clock = spec.clock.clone();
        let entra = EntraSim::start(clock.clone()).await;
        entra.add_tenant(TENANT_ID, Some("contoso.onmicrosoft.com"));
        let (rotator_client_id, rotator_secret) = entra.add_rotator(TENANT_ID);
        let memory = MemoryStore::new();
        let mut jamfs: Vec<JamfSim> = Vec::new();
        let mut shared: Option<(JamfSim, String)> = None;
        let mut ids = Vec::with_capacity(spec.targets);
        for i in 0..spec.targets {
            let due = i < spec.due;
            let app = entra.add_app(TENANT_ID, &format!("Jamf Pro {i}"));
            entra.make_owner(&rotator_client_id, &app.object_id);
            let expires = clock.now() + chrono::Duration::days(if due { 10 } else { 90 });
            let (key_id, secret) = entra.seed_password(&app.object_id, "set by hand", expires);
            let config = JamfSimConfig {
                entra_login_url: entra.url(),
                tenant_id: TENANT_ID.into(),
                client_id: app.client_id.clone(),
                secret: secret.clone(),
                cloud: Cloud::Global,
            };
            let (jamf, creds_id) = match &shared {
                Some(s) if !due || spec.one_jamf_server => s.clone(),
                _ => {
                    let jamf = JamfSim::start(config, clock.clone()).await;
                    let creds_id = jamf_credentials(&memory, &jamf, jamfs.len());
                    jamfs.push(jamf.clone());
                    if !due || spec.one_jamf_server {
                        shared = Some((jamf.clone(), creds_id.clone()));
                    }
                    (jamf, creds_id)
                }
            };
            let doc = target_document(&app.client_id, &app.object_id, secret, key_id, expires);
            let doc = TargetDocument {
                jamf: JamfSection {
                    url: Some(jamf.url()),
                    credentials_secret_id: creds_id,
                    ..doc.jamf
                },
                ..doc
            };
            let arn = memory.insert(&format!("fleet/{i}"), doc.to_secret().expose_secret());
            ids.push(arn);
        }
        let sm_calls: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let store: Arc<dyn SecretStore> = Arc::new(Slow {
            inner: Arc::new(memory.clone()),
            latency: spec.latency,
            calls: sm_calls.clone(),
        });
        let engine = engine(&entra, &rotator_client_id, rotator_secret, store, clock);
        entra.set_latency(spec.latency);
        entra.set_propagation_lag(spec.propagation_lag);
        for j in &jamfs {
            j.set_latency(spec.latency);
        }
        Fleet {
            entra,
            rotator_client_id,
            memory,
            sm_calls,
            jamfs,
            ids,
            engine,
        }
    }

    /// The function over this fleet, every target by ARN, with the default parallelism unless
    /// `parallelism` says.
    pub fn function(&self, mode: RotationMode, parallelism: Option<usize>) -> Function {
        let function = Function::new(self.engine.clone(), Targets::Ids(self.ids.clone()))
            .with_metrics(Arc::new(|_: &str| {}))
            .with_rotation_mode(mode);
        match parallelism {
            Some(n) => function.with_parallelism(n),
            None => function,
        }
    }

    /// The most requests ever in flight at once to one Jamf Pro server.
    pub fn max_in_flight_per_jamf_server(&self) -> usize {
        let most = self.jamfs.iter().map(JamfSim::max_concurrent).max();
        let most = most.unwrap_or(0);
        let limit = rotator_adapters::jamf::client::MAX_CONNECTIONS;
        assert!(
            most <= limit,
            "{most} requests in flight to one Jamf Pro server (limit {limit})"
        );
        most
    }

    /// Secrets Manager calls since the last look, by operation.
    pub fn take_sm_calls(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.sm_calls.lock().unwrap())
    }

    /// How many of the first `due` targets have Jamf Pro on the secret of `AWSCURRENT`, which
    /// Entra's app holds under a newer credential than the one seeded.
    pub async fn jamf_on_current(&self, due: usize) -> usize {
        let mut on_current = 0;
        for (arn, jamf) in self.ids.iter().zip(&self.jamfs).take(due) {
            let (_, value) = self
                .memory
                .value_at(arn, AWSCURRENT)
                .await
                .unwrap()
                .unwrap();
            let doc: Value = serde_json::from_str(value.expose_secret()).unwrap();
            let current = doc["entra"]["client_secret"].as_str();
            on_current += usize::from(jamf.smtp_secret().as_deref() == current);
        }
        on_current
    }
}

/// The Jamf Pro API client of server number `n`, stored as its credentials secret.
fn jamf_credentials(memory: &MemoryStore, jamf: &JamfSim, n: usize) -> String {
    let (client_id, secret) = jamf.add_api_client();
    let id = format!("fleet/jamf-{n}/credentials");
    let value = json!({"client_id": client_id, "client_secret": secret.expose_secret(), "jamf_url": jamf.url().as_str()});
    memory.insert(&id, &value.to_string());
    id
}

/// An smtp-graph target document for the app, its Jamf section to be filled in.
fn target_document(
    client_id: &str,
    object_id: &str,
    secret: SecretString,
    key_id: String,
    expires: chrono::DateTime<chrono::Utc>,
) -> TargetDocument {
    TargetDocument {
        schema: 1,
        entra: EntraSection {
            cloud: Cloud::Global,
            tenant_id: TENANT_ID.into(),
            client_id: client_id.into(),
            application_object_id: Some(object_id.into()),
            client_secret: secret,
            key_id: Some(key_id),
            expires_at: Some(expires),
        },
        jamf: JamfSection {
            url: None,
            target: TargetKind::SmtpGraph,
            credentials_secret_id: String::new(),
            test_recipient: None,
            page_path: None,
            secret_field: None,
            application_id_field: None,
            observation_secs: None,
            daily_proof: false,
        },
        rotation: None,
    }
}

fn engine(
    entra: &EntraSim,
    rotator_client_id: &str,
    rotator_secret: SecretString,
    store: Arc<dyn SecretStore>,
    clock: SharedClock,
) -> Engine {
    let settings = Settings {
        entra_login_url: Some(entra.url()),
        graph_url: Some(entra.url()),
        rotator_client_id: Some(rotator_client_id.into()),
        smtp_test_recipient: Some("it-alerts@example.com".into()),
        ..rotator_testkit::settings::on_loopback()
    };
    let identity = RotatorIdentity {
        client_id: rotator_client_id.into(),
        secret: rotator_secret,
    };
    Engine::new(
        Arc::new(GraphDirectory::new(&settings, identity, clock.clone())),
        Arc::new(rotator_adapters::jamf::JamfTargets::new(
            store.clone(),
            settings.clone(),
            clock.clone(),
        )),
        store,
        Arc::new(MemoryAlerts::default()),
        clock,
        Policy::from_settings(&settings),
    )
}

/// A check's response, whether or not it left targets failed (then it is a function error
/// carrying the whole response).
pub(super) fn response_of(result: Result<Value, LambdaError>) -> Value {
    match result {
        Ok(response) => response,
        Err(LambdaError::CheckFailed { report, .. }) => report,
        Err(e) => panic!("the check runs: {e}"),
    }
}

/// One check invocation of `fleet` in `mode`, with Lambda's 15 minutes from now by its clock:
/// its response and when it returned, in seconds of the clock.
async fn invoke_check(
    fleet: &Fleet,
    mode: RotationMode,
    parallelism: Option<usize>,
) -> (Value, f64) {
    let function = fleet.function(mode, parallelism);
    invoke_check_within(fleet, &function, INVOCATION_SECS).await
}

/// One check invocation of `function` with `secs` seconds left: its response and when it
/// returned, in seconds of the clock, asserting that it returned before its deadline.
async fn invoke_check_within(fleet: &Fleet, function: &Function, secs: i64) -> (Value, f64) {
    let clock = fleet.engine.clock.clone();
    let started = clock.now();
    let invocation = Invocation {
        deadline: Some(started + chrono::Duration::seconds(secs)),
        function_arn: Some(FUNCTION_ARN.into()),
    };
    let result = route_within(function, json!({"action": "check"}), &invocation).await;
    let took = (clock.now() - started).num_milliseconds() as f64 / 1000.0;
    assert!(
        took < secs as f64,
        "the check returned after {took} s of {secs}: Lambda would have killed it"
    );
    (response_of(result), took)
}

/// How many results have `action`.
fn count_action(response: &Value, action: &str) -> usize {
    let results = response["results"].as_array().unwrap();
    results
        .iter()
        .filter(|r| r["report"]["action"] == action)
        .count()
}

/// What Secrets Manager does with the rotations handed to it: for each, the four step events in
/// order, back to back (until one fails), at most `concurrency` rotations at once (the function's
/// reserved concurrency; Secrets Manager retries a throttled invocation later). Returns how many
/// rotations completed every step and the longest single step invocation, in seconds of the
/// clock.
async fn secrets_manager_runs(
    fleet: &Fleet,
    calls: Vec<RotationInvocation>,
    concurrency: usize,
) -> (usize, f64) {
    let function = Arc::new(fleet.function(RotationMode::Auto, Some(1)));
    let permits = Arc::new(Semaphore::new(concurrency));
    let clock = fleet.engine.clock.clone();
    let mut rotations = JoinSet::new();
    for call in calls {
        let (function, permits, clock) = (function.clone(), permits.clone(), clock.clone());
        rotations.spawn(async move {
            let _running = permits.acquire().await.unwrap();
            let mut longest: f64 = 0.0;
            for step in STEPS {
                let started = clock.now();
                let event = json!({"Step": step, "SecretId": call.secret_arn, "ClientRequestToken": call.token});
                let result = route(&function, event).await;
                let took = (clock.now() - started).num_milliseconds() as f64 / 1000.0;
                longest = longest.max(took);
                if result.is_err() {
                    return (false, longest);
                }
            }
            (true, longest)
        });
    }
    let (mut completed, mut longest) = (0, 0.0_f64);
    while let Some(joined) = rotations.join_next().await {
        let (done, took) = joined.unwrap();
        completed += usize::from(done);
        longest = longest.max(took);
    }
    (completed, longest)
}

/// Secrets Manager calls per target, by operation.
fn per_target(calls: &BTreeMap<String, usize>, targets: usize) -> Value {
    let per: BTreeMap<&String, f64> = calls
        .iter()
        .map(|(op, n)| (op, *n as f64 / targets as f64))
        .collect();
    json!({"total": calls.values().sum::<usize>() as f64 / targets as f64, "by_operation": per})
}

/// A figure from `/proc/self/status`, in kB (`VmRSS`, `VmHWM`).
fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS: false where the kernel refuses.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A check of 10,000 targets, none due, with 50 ms on every call: wall time and peak RSS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: 10,000 targets, sleeps for real (scripts/bench-fleet runs it)"]
async fn fleet_check_of_10000_targets_none_due() {
    let targets = bench_number("BENCH_TARGETS").unwrap_or(10_000);
    let spec = FleetSpec {
        targets,
        due: 0,
        one_jamf_server: false,
        clock: Arc::new(SystemClock),
        latency: LATENCY,
        propagation_lag: PROPAGATION_LAG,
    };
    let fleet = Fleet::build(&spec).await;
    fleet.entra.forget_bodies();
    let parallelism = bench_parallelism();
    let rss_before = proc_status_kb("VmRSS").unwrap_or(0);
    let peak_reset = reset_peak_rss();
    let graph_before = fleet.entra.requests().len();
    let started = Instant::now();
    let (response, _) = invoke_check(&fleet, RotationMode::Auto, parallelism).await;
    let wall = started.elapsed().as_secs_f64();
    let peak = proc_status_kb("VmHWM").unwrap_or(0);
    let response_bytes = serde_json::to_vec(&response).unwrap().len();

    assert_eq!(response["failed"], 0, "{}", head(&response, 2000));
    assert_eq!(count_action(&response, "none"), targets, "nothing done");
    let sm = fleet.take_sm_calls();
    let figures = json!({
        "targets": targets,
        "latency_ms": LATENCY.as_millis() as u64,
        "parallelism": parallelism_figure(parallelism),
        "wall_s": wall,
        "rss_before_check_kb": rss_before,
        "peak_rss_during_check_kb": peak,
        "peak_rss_is_of_the_check_alone": peak_reset,
        "response_bytes": response_bytes,
        "requests": {
            "graph_and_entra": fleet.entra.requests().len() - graph_before,
            "secrets_manager": sm.values().sum::<usize>(),
            "secrets_manager_by_operation": sm,
            "jamf": fleet.jamfs.iter().map(|j| j.requests().len()).sum::<usize>(),
        },
        "max_in_flight_per_jamf_server": fleet.max_in_flight_per_jamf_server(),
    });
    println!("{}", serde_json::to_string_pretty(&figures).unwrap());
    write("fleet-none-due", &figures);
}

/// `BENCH_PARALLELISM` (targets at once, reading or rotating), or `None`: the function's
/// defaults.
pub(super) fn bench_parallelism() -> Option<usize> {
    bench_number("BENCH_PARALLELISM")
}

/// A number scripts/bench-fleet passes in the environment variable `name`.
fn bench_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The start of `response`, for a failed assertion's message (a char boundary, not a byte).
fn head(response: &Value, chars: usize) -> String {
    response.to_string().chars().take(chars).collect()
}

/// The parallelism a figure was measured with.
pub(super) fn parallelism_figure(parallelism: Option<usize>) -> Value {
    match parallelism {
        Some(n) => json!(n),
        None => json!({
            "read": rotator_lambda::DEFAULT_LOOK_PARALLELISM,
            "rotate": rotator_lambda::DEFAULT_PARALLELISM,
        }),
    }
}

/// 500 targets due at once, one check invocation in `mode` on the scaled clock; with fan-out,
/// then Secrets Manager's step invocations. Returns the figures.
async fn burst(mode: RotationMode, due: usize) -> Value {
    let scaled = ScaledClock::new(chrono::Utc::now(), SCALE);
    let spec = FleetSpec {
        targets: due,
        due,
        one_jamf_server: false,
        latency: scaled.real(LATENCY),
        clock: Arc::new(scaled),
        propagation_lag: PROPAGATION_LAG,
    };
    let fleet = Fleet::build(&spec).await;
    let (response, check_s) = invoke_check(&fleet, mode, bench_parallelism()).await;
    let check_sm = fleet.take_sm_calls();
    let handed_off = fleet.memory.take_invocations();
    let mut figures = json!({
        "mode": mode,
        "due": due,
        "check_returned_after_s": check_s,
        "invocation_s": INVOCATION_SECS,
        "rotated": count_action(&response, "rotated"),
        "deferred": count_action(&response, "deferred"),
        "handed_off": handed_off.len(),
        "failed": response["failed"],
        "check_secrets_manager_requests_per_target": per_target(&check_sm, due),
    });
    assert_eq!(response["failed"], 0, "{}", head(&response, 3000));
    if !handed_off.is_empty() {
        let started = fleet.engine.clock.now();
        let (completed, longest) = secrets_manager_runs(&fleet, handed_off, STEP_CONCURRENCY).await;
        let took = (fleet.engine.clock.now() - started).num_seconds();
        figures["steps"] = json!({
            "concurrent_invocations": STEP_CONCURRENCY,
            "rotations_completed": completed,
            "longest_step_invocation_s": longest,
            "all_done_after_s": took,
            "secrets_manager_requests_per_rotation": per_target(&fleet.take_sm_calls(), completed.max(1)),
        });
    }
    // The invariant, target by target: Jamf Pro holds the secret of AWSCURRENT, rotated or not.
    let on_current = fleet.jamf_on_current(due).await;
    assert_eq!(on_current, due, "Jamf Pro on AWSCURRENT");
    figures["jamf_on_current_secret"] = json!(on_current);
    figures["max_in_flight_per_jamf_server"] = json!(fleet.max_in_flight_per_jamf_server());
    println!("{}", serde_json::to_string_pretty(&figures).unwrap());
    figures
}

/// 500 due at once: in process with the deadline, `auto`, and fanned out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: 500 rotations on a clock 20 times as fast as real time (scripts/bench-fleet runs it)"]
async fn fleet_burst_of_500_due() {
    let due = bench_number("BENCH_DUE").unwrap_or(500);
    let in_process = burst(RotationMode::InProcess, due).await;
    let auto = burst(RotationMode::Auto, due).await;
    let fan_out = burst(RotationMode::FanOut, due).await;
    write(
        "fleet-burst",
        &json!({"in_process": in_process, "auto": auto, "fan_out": fan_out, "scale": SCALE, "propagation_lag_s": PROPAGATION_LAG.as_secs(), "latency_ms": LATENCY.as_millis() as u64}),
    );
}

/// The harness on virtual time, in CI: a fanned-out check of 30 due targets hands every one off
/// in one invocation, no faster than Secrets Manager's quota allows, and Secrets Manager's step
/// invocations complete them all, Jamf Pro on the new secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_fleet_hands_off_every_due_rotation_and_secrets_manager_completes_them() {
    let due = 30;
    let spec = FleetSpec {
        targets: due + 10,
        due,
        one_jamf_server: false,
        clock: Arc::new(ManualClock::new(chrono::Utc::now())),
        latency: Duration::ZERO,
        propagation_lag: PROPAGATION_LAG,
    };
    let fleet = Fleet::build(&spec).await;
    let (response, took) = invoke_check(&fleet, RotationMode::FanOut, None).await;
    assert_eq!(response["handed_off"], due, "{response}");
    // RotateSecret, spaced: Secrets Manager allows 50 per second per Region, account-wide.
    let spaced = (due - 1) as f64 / f64::from(rotator_lambda::HAND_OFFS_PER_SECOND);
    assert!(took >= spaced, "{due} hand-offs in {took} s");
    assert_eq!(count_action(&response, "none"), 10);
    let handed_off = fleet.memory.take_invocations();
    assert_eq!(handed_off.len(), due);
    let sm = fleet.take_sm_calls();
    assert_eq!(sm.get("RotateSecret"), Some(&due), "{sm:?}");

    let (completed, _) = secrets_manager_runs(&fleet, handed_off, STEP_CONCURRENCY).await;
    assert_eq!(completed, due);
    assert_eq!(fleet.jamf_on_current(due).await, due);
    assert!(fleet.max_in_flight_per_jamf_server() >= 1);
}

/// A rotation that waited for one of the check's rotation slots starts only if it still fits
/// before the deadline: of three due targets, read at once, rotated one at a time, with time for
/// one rotation, one rotates and the other two are deferred (in-process mode), and the check
/// returns before its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_that_waited_for_its_turn_starts_only_if_it_still_fits() {
    let spec = FleetSpec {
        targets: 3,
        due: 3,
        one_jamf_server: false,
        clock: Arc::new(ManualClock::new(chrono::Utc::now())),
        latency: Duration::ZERO,
        propagation_lag: PROPAGATION_LAG,
    };
    let fleet = Fleet::build(&spec).await;
    let function = fleet
        .function(RotationMode::InProcess, Some(3))
        .with_rotations_at_once(1);
    // A rotation's budget (300 s of propagation wait and 270 s for its calls at their worst) and
    // the check's margin (60 s) fit, with 10 s to spare: less than one rotation takes (the 15 s
    // propagation lag).
    let secs = 300 + 270 + 60 + 10;

    let (response, _) = invoke_check_within(&fleet, &function, secs).await;

    assert_eq!(response["failed"], 0, "{response}");
    assert_eq!(count_action(&response, "rotated"), 1, "{response}");
    assert_eq!(count_action(&response, "deferred"), 2, "{response}");
    assert_eq!(
        fleet.jamf_on_current(3).await,
        3,
        "Jamf Pro on AWSCURRENT everywhere"
    );
}

/// A store that notes, at each `RotateSecret`, how many of the check's rotation slots are free.
struct SlotsAtHandOff {
    inner: Arc<dyn SecretStore>,
    slots: Arc<Semaphore>,
    free: Arc<Mutex<Vec<usize>>>,
}

#[async_trait::async_trait]
impl SecretStore for SlotsAtHandOff {
    async fn describe(&self, id: &str) -> Result<SecretInfo, StoreError> {
        self.inner.describe(id).await
    }
    async fn value(&self, id: &str, v: &str) -> Result<Option<SecretString>, StoreError> {
        self.inner.value(id, v).await
    }
    async fn version_exists(&self, id: &str, v: &str) -> Result<bool, StoreError> {
        self.inner.version_exists(id, v).await
    }
    async fn value_at(
        &self,
        id: &str,
        stage: &str,
    ) -> Result<Option<(String, SecretString)>, StoreError> {
        self.inner.value_at(id, stage).await
    }
    async fn put_pending(
        &self,
        id: &str,
        v: &str,
        value: &SecretString,
        rt: Option<&SecretString>,
    ) -> Result<(), StoreError> {
        self.inner.put_pending(id, v, value, rt).await
    }
    async fn promote(&self, id: &str, v: &str, from: &str) -> Result<(), StoreError> {
        self.inner.promote(id, v, from).await
    }
    async fn remove_pending(&self, id: &str, v: &str) -> Result<(), StoreError> {
        self.inner.remove_pending(id, v).await
    }
    async fn create(
        &self,
        name: &str,
        value: &SecretString,
        description: &str,
    ) -> Result<String, StoreError> {
        self.inner.create(name, value, description).await
    }
    async fn put_current(&self, id: &str, value: &SecretString) -> Result<(), StoreError> {
        self.inner.put_current(id, value).await
    }
    async fn list_tagged(&self, key: &str, value: Option<&str>) -> Result<Vec<String>, StoreError> {
        self.inner.list_tagged(key, value).await
    }
    async fn rotate_secret(
        &self,
        id: &str,
        request: &RotateSecretRequest,
    ) -> Result<(), StoreError> {
        self.free
            .lock()
            .unwrap()
            .push(self.slots.available_permits());
        self.inner.rotate_secret(id, request).await
    }
}

/// A hand-off gives its rotation slot back before it waits on the pacer and calls
/// `RotateSecret`: with one slot, of two due targets checked at once, one rotates in process
/// while the other waits for the slot; when it has the slot the time left no longer fits, so it
/// is handed off, and at its `RotateSecret` the slot is free for another due target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_off_gives_its_rotation_slot_back_before_rotate_secret() {
    let spec = FleetSpec {
        targets: 2,
        due: 2,
        one_jamf_server: false,
        clock: Arc::new(ManualClock::new(chrono::Utc::now())),
        latency: Duration::ZERO,
        propagation_lag: PROPAGATION_LAG,
    };
    let fleet = Fleet::build(&spec).await;
    let slots = Arc::new(Semaphore::new(1));
    let free = Arc::new(Mutex::new(Vec::new()));
    let e = &fleet.engine;
    let store = Arc::new(SlotsAtHandOff {
        inner: e.store.clone(),
        slots: slots.clone(),
        free: free.clone(),
    });
    let engine = Engine::new(
        e.directory.clone(),
        e.targets.clone(),
        store,
        e.alerts.clone(),
        e.clock.clone(),
        e.policy.clone(),
    );
    // Time for one rotation and the report, 10 s to spare: less than a rotation takes.
    let needed = Budget::new(&e.policy, Duration::ZERO)
        .in_process()
        .as_secs() as i64;
    let options = CheckOptions {
        deadline: Some(e.clock.now() + chrono::Duration::seconds(needed + 10)),
        mode: RotationMode::Auto,
        rotation_function_arn: Some(FUNCTION_ARN.into()),
        rotation_slots: Some(slots.clone()),
        hand_off_pacer: Some(Arc::new(Pacer::per_second(50))),
        ..CheckOptions::default()
    };

    let (first, second) = tokio::join!(
        engine.check_with(&fleet.ids[0], &options),
        engine.check_with(&fleet.ids[1], &options)
    );

    let actions = [first.unwrap().action, second.unwrap().action];
    assert!(
        actions.contains(&Action::Rotated) && actions.contains(&Action::HandedOff),
        "{actions:?}"
    );
    assert_eq!(
        *free.lock().unwrap(),
        [1],
        "the slot was free at RotateSecret"
    );
    assert_eq!(slots.available_permits(), 1);
}
