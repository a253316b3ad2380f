//! The chaos run, with double faults: the real CLI rotates against the stand-ins and Secrets
//! Manager on moto and is killed with SIGKILL at a random moment (the n-th request the Entra
//! stand-in sees; seeded, so a run is reproducible); the next scheduled check (the CLI again)
//! resumes and meets a random injected fault of its own (a run of Secrets Manager 500s past the
//! SDK's retries, a garbled stored document, Entra, Graph or Jamf Pro failing past the client's
//! retries, an answer over the size cap); after it Jamf Pro's secret must still work and be held
//! by `AWSCURRENT` or `AWSPENDING`; then a clean check must converge: the invariant holds and
//! exactly the `AWSCURRENT` credential is left on the app.
//!
//! `CHAOS_ITERATIONS` (default 10; `scripts/chaos` runs 100) and `CHAOS_SEED` (default 1).

use crate::common;
#[path = "chaos/proxy.rs"]
mod proxy;

use common::moto;
use proxy::{Faults, SmProxy};
use rand::{RngExt, SeedableRng};
use rotator_adapters::secrets_manager::AwsSecretStore;
use rotator_engine::clock::{SharedClock, SystemClock};
use rotator_testkit::entra::{Corruption, EntraOp};
use rotator_testkit::jamf::JamfOp;
use rotator_testkit::world::{spawn_world, World, WorldOptions};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_jamf-entra-rotator");

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The fault the resume meets.
#[derive(Debug, Clone, Copy)]
enum ResumeFault {
    /// Secrets Manager requests `first..first + 5` of the resume answer 500.
    SmTransient { first: usize },
    /// The resume's n-th `GetSecretValue` answers a document that no longer parses.
    SmGarbled { nth: usize },
    /// Every attempt of the resume's first request of this kind fails (503).
    Entra(EntraOp),
    /// Every attempt of the resume's first request of this kind fails (503).
    Jamf(JamfOp),
    /// Graph's application read answers 3 MiB.
    EntraOversized,
    /// Jamf Pro's SMTP settings read streams 256 MiB.
    JamfOversized,
}

impl ResumeFault {
    fn draw(rng: &mut impl RngExt) -> Self {
        let entra = [
            EntraOp::Token,
            EntraOp::GetApplication,
            EntraOp::AddPassword,
            EntraOp::RemovePassword,
        ];
        let jamf = [
            JamfOp::Token,
            JamfOp::GetSmtp,
            JamfOp::PutSmtp,
            JamfOp::SmtpTest,
        ];
        // Half of them in Secrets Manager, at one of the resume's first eight requests (a
        // resume makes about eight): where a second fault found Jamf Pro left on a removed
        // secret (issue 13, scenario 1).
        match rng.random_range(0..8) {
            0 | 1 => ResumeFault::SmTransient {
                first: rng.random_range(1..=8),
            },
            2 | 3 => ResumeFault::SmGarbled {
                nth: rng.random_range(1..=3),
            },
            4 => ResumeFault::Entra(entra[rng.random_range(0..entra.len())]),
            5 => ResumeFault::Jamf(jamf[rng.random_range(0..jamf.len())]),
            6 => ResumeFault::EntraOversized,
            _ => ResumeFault::JamfOversized,
        }
    }

    /// The kind, for the run's tally.
    fn kind(&self) -> &'static str {
        match self {
            ResumeFault::SmTransient { .. } => "secrets-manager 500 x5",
            ResumeFault::SmGarbled { .. } => "garbled document",
            ResumeFault::Entra(_) => "entra/graph failing",
            ResumeFault::Jamf(_) => "jamf failing",
            ResumeFault::EntraOversized => "graph answer over the cap",
            ResumeFault::JamfOversized => "jamf answer over the cap",
        }
    }

    /// Switches the fault on for the next requests.
    fn arm(&self, world: &World, sm: &SmProxy) {
        match *self {
            ResumeFault::SmTransient { first } => sm.arm(Faults {
                failing: Some((first, 5)),
                ..Faults::default()
            }),
            ResumeFault::SmGarbled { nth } => sm.arm(Faults {
                garbled_read: Some(nth),
                ..Faults::default()
            }),
            // Four attempts: the Entra client's retries are spent.
            ResumeFault::Entra(op) => world.entra.fail_next(op, 4, 503),
            ResumeFault::Jamf(op) => world.jamf.fail_next(op, 3, 503),
            ResumeFault::EntraOversized => {
                world
                    .entra
                    .corrupt_next(EntraOp::GetApplication, 1, Corruption::Oversized)
            }
            ResumeFault::JamfOversized => world.jamf.oversize_next(JamfOp::GetSmtp, 1),
        }
    }
}

/// Switches every fault off.
fn disarm(world: &World, sm: &SmProxy) {
    sm.arm(Faults::default());
    for op in [
        EntraOp::Token,
        EntraOp::GetApplication,
        EntraOp::AddPassword,
        EntraOp::RemovePassword,
    ] {
        world.entra.fail_next(op, 0, 503);
        world.entra.corrupt_next(op, 0, Corruption::Oversized);
    }
    for op in [
        JamfOp::Token,
        JamfOp::GetSmtp,
        JamfOp::PutSmtp,
        JamfOp::SmtpTest,
    ] {
        world.jamf.fail_next(op, 0, 503);
        world.jamf.oversize_next(op, 0);
    }
}

/// What the run counted.
#[derive(Default)]
struct Tally {
    killed: usize,
    met: usize,
    resumes_failed: usize,
    by_kind: BTreeMap<&'static str, usize>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_rotations_resume_to_the_invariant_through_a_second_fault() {
    common::capture_logs();
    let iterations = env_num("CHAOS_ITERATIONS", 10);
    let seed = env_num("CHAOS_SEED", 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // Real time here: the CLI runs in its own process on the system clock.
    let clock: SharedClock = Arc::new(SystemClock);
    let store = Arc::new(AwsSecretStore::new(moto::secrets_client().await));
    let world = spawn_world(WorldOptions::new(
        clock,
        store.clone(),
        &moto::unique("chaos"),
    ))
    .await
    .unwrap();
    let sm = SmProxy::start(moto::endpoint().await).await;
    let cli = Cli::new(&world, &sm).await;

    let started = std::time::Instant::now();
    let mut tally = Tally::default();
    let mut outputs = Vec::new();
    for i in 0..iterations {
        // A rotation makes about ten Entra requests: most iterations kill it.
        let k = rng.random_range(1..=11);
        let fault = ResumeFault::draw(&mut rng);
        let at = format!("iteration {i} (kill at Entra request {k}, then {fault:?}; seed {seed})");
        tally.killed += cli.rotate_killed_at(&world, k, &mut outputs).await as usize;
        assert!(
            world.jamf_secret_works(),
            "{at}: after the kill, Jamf Pro's secret must work"
        );

        // The next scheduled check resumes, and meets a fault of its own.
        let before = met_marks(&world, &sm);
        fault.arm(&world, &sm);
        let resume = cli
            .run(&["check", "--json", "--secret-id", &world.secret_id])
            .await;
        tally.met += (met_marks(&world, &sm) != before) as usize;
        disarm(&world, &sm);
        tally.resumes_failed += (!resume.0) as usize;
        *tally.by_kind.entry(fault.kind()).or_default() += 1;
        outputs.push(resume.1);
        assert_jamf_on_a_held_secret(&world, &at).await;

        // A clean check converges.
        let clean = cli
            .run(&["check", "--json", "--secret-id", &world.secret_id])
            .await;
        assert!(clean.0, "{at}: the clean check failed: {}", clean.1);
        outputs.push(clean.1);
        assert_converged(&world, &at).await;
    }
    println!(
        "chaos: {iterations} iterations (a kill, then a fault on the resume), {} killed mid-rotation, \
         {} resumes met their fault, {} faulty resumes failed (and alerted), faults {:?}, seed {seed}, \
         {:.0} s, 0 invariant violations",
        tally.killed,
        tally.met,
        tally.resumes_failed,
        tally.by_kind,
        started.elapsed().as_secs_f64()
    );
    assert_no_secret_in(&world, &outputs);
}

/// A fingerprint of what the stand-ins and the proxy saw of the faults: it changes when the
/// armed fault was met.
fn met_marks(world: &World, sm: &SmProxy) -> Vec<usize> {
    let mut marks = vec![sm.injected(), world.jamf.oversized_bytes_sent()];
    marks.extend(
        world
            .entra
            .requests()
            .iter()
            .filter(|r| r.status >= 500 || r.response.len() > 1024 * 1024)
            .map(|_| 1),
    );
    marks.push(
        world
            .jamf
            .requests()
            .iter()
            .filter(|r| r.status >= 500)
            .count(),
    );
    marks
}

/// The CLI with the world's settings; Secrets Manager through the proxy.
struct Cli {
    env: Vec<(&'static str, String)>,
}

impl Cli {
    async fn new(world: &World, sm: &SmProxy) -> Cli {
        let env = vec![
            ("AWS_ENDPOINT_URL", moto::endpoint().await),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", sm.url.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", moto::REGION.into()),
            ("ENTRA_LOGIN_URL", world.entra.url().to_string()),
            ("GRAPH_URL", world.entra.url().to_string()),
            ("ALLOW_LOOPBACK_HTTP", "true".into()),
            ("ROTATOR_CLIENT_ID", world.rotator_client_id.clone()),
            (
                "ROTATOR_CREDENTIALS_SECRET_ID",
                world.rotator_credentials_id.clone(),
            ),
            ("SMTP_TEST_RECIPIENT", "it@example.com".into()),
            // No real waiting in the CLI: the stand-in has no propagation lag.
            ("PROPAGATION_SUCCESSES", "1".into()),
            // The killed process is gone: its orphan may be swept at once, and its lease taken.
            ("ORPHAN_MIN_AGE_SECS", "0".into()),
            ("ROTATION_LEASE_SECS", "0".into()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
        ];
        Cli { env }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (*k, v.clone())))
            .kill_on_drop(true);
        c
    }

    /// Runs the CLI to its end: (succeeded, stdout + stderr).
    async fn run(&self, args: &[&str]) -> (bool, String) {
        let out = self.command(args).output().await.unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    /// A manual rotation killed with SIGKILL when the Entra stand-in sees its k-th request of
    /// this rotation (a rotation makes about a dozen); true when it was killed.
    async fn rotate_killed_at(&self, world: &World, k: usize, outputs: &mut Vec<String>) -> bool {
        let base = world.entra.requests().len();
        let args = [
            "rotate",
            "--json",
            "--secret-id",
            &world.secret_id,
            "--reason",
            "chaos",
        ];
        let mut child = self
            .command(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let killed = tokio::select! {
            _ = world.entra.wait_for_requests(base + k) => {
                child.start_kill().unwrap();
                true
            }
            _ = child.wait() => false,
        };
        let out = child.wait_with_output().await.unwrap();
        outputs.push(
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        );
        killed
    }
}

/// After a faulty resume: Jamf Pro's secret works, and Secrets Manager holds it as `AWSCURRENT`
/// or `AWSPENDING` (held only by `AWSPREVIOUS`, or by nothing, the next retirement or orphan
/// sweep would remove it from under Jamf Pro).
async fn assert_jamf_on_a_held_secret(world: &World, at: &str) {
    assert!(
        world.jamf_secret_works(),
        "{at}: after the faulty resume, Jamf Pro's secret must work"
    );
    let jamf = world.jamf_secret().unwrap_or_default();
    let mut held = false;
    for stage in ["AWSCURRENT", "AWSPENDING"] {
        if let Some((_, value)) = world.store.value_at(&world.secret_id, stage).await.unwrap() {
            let doc =
                rotator_engine::document::TargetDocument::parse(value.expose_secret()).unwrap();
            held |= doc.entra.client_secret.expose_secret() == jamf;
        }
    }
    assert!(
        held,
        "{at}: Jamf Pro's secret is held by neither AWSCURRENT nor AWSPENDING"
    );
}

/// After the clean check: Jamf Pro on `AWSCURRENT`'s secret, which works; only that credential
/// on the app; no rotation left half done.
async fn assert_converged(world: &World, at: &str) {
    assert!(
        world.jamf_secret_works(),
        "{at}: Jamf Pro's secret must work"
    );
    let (_, current) = store_current(world).await;
    let creds = world.entra.passwords(&world.app.object_id);
    assert_eq!(
        creds.iter().map(|c| c.key_id.clone()).collect::<Vec<_>>(),
        vec![current.entra.key_id.clone().unwrap()],
        "{at}: only the AWSCURRENT credential remains"
    );
    assert_eq!(
        world.jamf.smtp_secret().as_deref(),
        Some(current.entra.client_secret.expose_secret()),
        "{at}: Jamf Pro holds AWSCURRENT's secret"
    );
    let info = world.store.describe(&world.secret_id).await.unwrap();
    assert!(
        info.version_with("AWSPENDING").is_none(),
        "{at}: no rotation left half done"
    );
}

/// Nothing the CLI printed holds a secret.
fn assert_no_secret_in(world: &World, outputs: &[String]) {
    let mut secrets = world.secrets.clone();
    for r in world.entra.requests() {
        if r.path.ends_with("/addPassword") {
            if let Some(s) = serde_json::from_str::<serde_json::Value>(&r.response)
                .ok()
                .and_then(|v| v["secretText"].as_str().map(str::to_string))
            {
                secrets.push(secrecy::SecretString::from(s));
            }
        }
    }
    for s in &secrets {
        for o in outputs {
            assert!(
                !o.contains(s.expose_secret()),
                "a secret reached the CLI's output"
            );
        }
    }
}

async fn store_current(world: &World) -> (String, rotator_engine::document::TargetDocument) {
    let (v, value) = world
        .store
        .value_at(&world.secret_id, "AWSCURRENT")
        .await
        .unwrap()
        .unwrap();
    (
        v,
        rotator_engine::document::TargetDocument::parse(value.expose_secret()).unwrap(),
    )
}
