//! The chaos run: the real CLI rotates against the stand-ins and Secrets Manager on moto and is
//! killed with SIGKILL at a random moment (the n-th request the Entra stand-in sees; seeded, so a
//! run is reproducible); the next scheduled check (the CLI again) resumes; after every iteration
//! the invariant holds and exactly the AWSCURRENT credential is left on the app.
//!
//! `CHAOS_ITERATIONS` (default 10; `scripts/chaos` runs 100) and `CHAOS_SEED` (default 1).

mod common;

use common::moto;
use jamf_entra_rotator::clock::{SharedClock, SystemClock};
use jamf_entra_rotator::sim::world::{spawn_world, WorldOptions};
use jamf_entra_rotator::vault::AwsSecretStore;
use rand::{Rng, SeedableRng};
use secrecy::ExposeSecret;
use std::sync::Arc;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_jamf-entra-rotator");

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_rotations_always_resume_to_the_invariant() {
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
    let env: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL", moto::endpoint().await),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", moto::REGION.into()),
        ("ENTRA_LOGIN_URL", world.entra.url().to_string()),
        ("GRAPH_URL", world.entra.url().to_string()),
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
    let cli = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.clone())))
            .kill_on_drop(true);
        c
    };

    let mut killed = 0;
    let mut outputs = Vec::new();
    for i in 0..iterations {
        // Kill at the k-th Entra request of this rotation (a rotation makes about a dozen).
        let k = rng.gen_range(1..=14);
        let base = world.entra.requests().len();
        let mut child = cli(&[
            "rotate",
            "--json",
            "--secret-id",
            &world.secret_id,
            "--reason",
            "chaos",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
        tokio::select! {
            _ = world.entra.wait_for_requests(base + k) => {
                child.start_kill().unwrap();
                killed += 1;
            }
            _ = child.wait() => {}
        }
        let first = child.wait_with_output().await.unwrap();
        outputs.push(
            String::from_utf8_lossy(&first.stdout).into_owned()
                + &String::from_utf8_lossy(&first.stderr),
        );

        // The next scheduled check resumes (or finds nothing to do).
        let resume = cli(&["check", "--json", "--secret-id", &world.secret_id])
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&resume.stdout).into_owned()
            + &String::from_utf8_lossy(&resume.stderr);
        assert!(
            resume.status.success(),
            "iteration {i} (k={k}, seed {seed}): the resume failed: {text}"
        );
        outputs.push(text);

        // The invariant, and nothing left over.
        assert!(
            world.jamf_secret_works(),
            "iteration {i} (k={k}, seed {seed}): Jamf Pro's secret must work"
        );
        let (_, current) = store_current(&world).await;
        let creds = world.entra.passwords(&world.app.object_id);
        assert_eq!(
            creds.iter().map(|c| c.key_id.clone()).collect::<Vec<_>>(),
            vec![current.entra.key_id.clone().unwrap()],
            "iteration {i} (k={k}, seed {seed}): only the AWSCURRENT credential remains"
        );
        assert_eq!(
            world.jamf.smtp_secret().as_deref(),
            Some(current.entra.client_secret.expose_secret())
        );
        let info = world.store.describe(&world.secret_id).await.unwrap();
        assert!(
            info.version_with("AWSPENDING").is_none(),
            "iteration {i}: no rotation left half done"
        );
    }
    println!("chaos: {iterations} iterations, {killed} killed mid-rotation, seed {seed}, 0 invariant violations");

    // Nothing the CLI printed holds a secret.
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
        for o in &outputs {
            assert!(
                !o.contains(s.expose_secret()),
                "a secret reached the CLI's output"
            );
        }
    }
}

async fn store_current(
    world: &jamf_entra_rotator::sim::world::World,
) -> (String, jamf_entra_rotator::document::TargetDocument) {
    let (v, value) = world
        .store
        .value_at(&world.secret_id, "AWSCURRENT")
        .await
        .unwrap()
        .unwrap();
    (
        v,
        jamf_entra_rotator::document::TargetDocument::parse(value.expose_secret()).unwrap(),
    )
}
