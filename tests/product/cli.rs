//! The CLI binary as a user runs it: `demo --json`, and `init` + `status` + `rotate` against
//! servers that implement the contracts (here the stand-ins and moto), configured only through
//! the environment.

use crate::common;

use common::{moto, spawn_world_on_moto, TestWorld};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_jamf-entra-rotator");

/// What one run of the CLI left.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Its stdout as the one JSON object `--json` prints.
    pub fn json(&self) -> Value {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "one JSON object: {}{}",
            self.stdout,
            self.stderr
        );
        serde_json::from_str(lines[0]).expect("stdout is JSON")
    }
}

/// The environment of an operator's shell for world `w`: AWS on moto, Entra on its stand-in,
/// the rotator's client secret in Secrets Manager, the world's test mail recipient.
pub async fn world_env(w: &TestWorld) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto::endpoint().await),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", moto::REGION.into()),
        ("ENTRA_LOGIN_URL", w.entra.url().to_string()),
        ("GRAPH_URL", w.entra.url().to_string()),
        // The stand-ins serve plain http on loopback.
        ("ALLOW_LOOPBACK_HTTP", "true".into()),
        ("ROTATOR_CLIENT_ID", w.rotator_client_id.clone()),
        (
            "ROTATOR_CREDENTIALS_SECRET_ID",
            w.rotator_credentials_id.clone(),
        ),
        ("SMTP_TEST_RECIPIENT", "it-alerts@example.com".into()),
    ]
}

/// `init` of a new smtp-graph target `id` for world `w`'s app, as an operator types it (the client
/// secret comes from the environment).
pub fn init_args(w: &TestWorld, id: &str) -> Vec<String> {
    let jamf_url = w.jamf.url().to_string();
    [
        "init",
        "--secret-id",
        id,
        "--jamf-url",
        &jamf_url,
        "--target",
        "smtp-graph",
        "--jamf-credentials-secret-id",
        &w.jamf_credentials_id,
        "--tenant-id",
        rotator_testkit::world::TENANT_ID,
        "--client-id",
        &w.app.client_id,
        "--test-recipient",
        "it@example.com",
    ]
    .map(str::to_string)
    .to_vec()
}

/// Runs the CLI with `args` and only `env` (and PATH), stdin closed.
pub async fn cli(args: &[&str], env: &[(&str, String)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PROPAGATION_SUCCESSES", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("the CLI runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn demo_json_prints_one_object_describing_a_full_rotation() {
    let run = cli(&["demo", "--json", "--propagation-lag", "0"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one JSON object: {}", run.stdout);
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["outcome"], "rotated");
    assert!(v["old_key_id"].is_string() && v["new_key_id"].is_string());
    assert_ne!(v["old_key_id"], v["new_key_id"]);
    assert_eq!(v["old_removed"], true);
    assert_eq!(v["jamf_accepts_new"], true);
    assert_eq!(v["app_credentials"], 1);
    assert!(v["elapsed_ms"].is_i64());
    assert_eq!(v["jamf_secret_works"], true);
}

#[tokio::test]
async fn bad_input_exits_2_with_an_error_that_names_it() {
    let run = cli(
        &["rotate", "--secret-id", "x"],
        &[("ROTATION_THRESHOLD_DAYS", "soon".into())],
    )
    .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("ROTATION_THRESHOLD_DAYS"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_status_and_rotate_work_from_the_environment_alone() {
    let w = spawn_world_on_moto(10).await;
    let endpoint = moto::endpoint().await;
    let env: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", moto::REGION.into()),
        ("ENTRA_LOGIN_URL", w.entra.url().to_string()),
        ("GRAPH_URL", w.entra.url().to_string()),
        ("ALLOW_LOOPBACK_HTTP", "true".into()),
        ("ROTATOR_CLIENT_ID", w.rotator_client_id.clone()),
        (
            "ROTATOR_CREDENTIALS_SECRET_ID",
            w.rotator_credentials_id.clone(),
        ),
        (
            "JER_CLIENT_SECRET",
            w.secrets[0].expose_secret().to_string(),
        ),
    ];
    let id = moto::unique("cli-target");
    let jamf_url = w.jamf.url().to_string();
    let mut args = init_args(&w, &id);
    args.push("--json".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let init = cli(&args, &env).await;
    assert_eq!(init.code, 0, "{}", init.stderr);
    let v: Value = serde_json::from_str(init.stdout.trim()).unwrap();
    assert_eq!(v["action"], "created");
    assert_eq!(
        v["key_id"],
        w.initial_key_id.as_str(),
        "init finds the key id by the secret's hint"
    );

    let again = cli(
        &[
            "init",
            "--secret-id",
            &id,
            "--jamf-url",
            &jamf_url,
            "--target",
            "smtp-graph",
            "--jamf-credentials-secret-id",
            "x",
            "--tenant-id",
            "t",
            "--client-id",
            "c",
            "--key-id",
            "k",
        ],
        &env,
    )
    .await;
    assert_eq!(
        again.code, 2,
        "an existing document is not replaced without --overwrite: {}",
        again.stderr
    );

    let status = cli(&["status", "--json", "--secret-id", &id], &env).await;
    assert_eq!(
        status.code, 1,
        "a target inside the threshold needs attention: {}",
        status.stderr
    );
    let s: Value = serde_json::from_str(status.stdout.trim()).unwrap();
    assert_eq!(
        (s["targets"].as_u64(), s["attention"].as_u64()),
        (Some(1), Some(1))
    );
    let row = &s["results"][0];
    assert_eq!(row["state"], "due");
    assert_eq!(row["report"]["due"], true);
    assert_eq!(row["report"]["action"], "would-rotate");
    assert_eq!(
        w.entra.passwords(&w.app.object_id).len(),
        1,
        "status changes nothing"
    );

    let rotate = cli(
        &[
            "rotate",
            "--json",
            "--secret-id",
            &id,
            "--reason",
            "cli test",
        ],
        &env,
    )
    .await;
    assert_eq!(rotate.code, 0, "{}", rotate.stderr);
    let r: Value = serde_json::from_str(rotate.stdout.trim()).unwrap();
    assert_eq!(r["outcome"], "rotated");
    assert_eq!(r["reason"], "manual: cli test");
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1);
    assert_eq!(r["new_key_id"], creds[0].key_id.as_str());
    assert!(w.world.jamf_secret_works());

    w.assert_no_leaks(&[
        &init.stdout,
        &init.stderr,
        &status.stdout,
        &status.stderr,
        &rotate.stdout,
        &rotate.stderr,
    ]);
}

#[tokio::test]
async fn check_without_targets_exits_2_and_says_how_to_name_them() {
    let run = cli(&["check"], &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("TARGET_SECRET_IDS") && run.stderr.contains("TARGET_TAG_KEY"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_encrypts_a_new_secret_with_the_kms_key_given_and_refuses_it_for_an_existing_one() {
    let w = spawn_world_on_moto(100).await;
    let env: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL", moto::endpoint().await),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", moto::REGION.into()),
        (
            "JER_CLIENT_SECRET",
            w.secrets[0].expose_secret().to_string(),
        ),
    ];
    let id = moto::unique("cli-kms");
    let jamf_url = w.jamf.url().to_string();
    let init = |extra: &'static [&'static str]| {
        let mut args = vec![
            "init",
            "--secret-id",
            &id,
            "--jamf-url",
            &jamf_url,
            "--target",
            "smtp-graph",
            "--jamf-credentials-secret-id",
            &w.jamf_credentials_id,
            "--tenant-id",
            rotator_testkit::world::TENANT_ID,
            "--client-id",
            &w.app.client_id,
            "--key-id",
            &w.initial_key_id,
            "--kms-key-id",
            "alias/jamf-entra-rotator",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };

    let first = init(&[]);
    let created = cli(&first.iter().map(String::as_str).collect::<Vec<_>>(), &env).await;

    assert_eq!(created.code, 0, "{}", created.stderr);
    let sm = moto::secrets_client().await;
    let described = sm.describe_secret().secret_id(&id).send().await.unwrap();
    assert_eq!(described.kms_key_id(), Some("alias/jamf-entra-rotator"));
    let versions = described.version_ids_to_stages().cloned();

    let again = init(&["--overwrite"]);
    let refused = cli(&again.iter().map(String::as_str).collect::<Vec<_>>(), &env).await;

    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("--kms-key-id applies to a new secret"),
        "{}",
        refused.stderr
    );
    let after = sm.describe_secret().secret_id(&id).send().await.unwrap();
    assert_eq!(
        after.version_ids_to_stages().cloned(),
        versions,
        "nothing changed"
    );
    w.assert_no_leaks(&[&created.stdout, &created.stderr, &refused.stderr]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_covers_every_target_as_a_table_and_exits_1_when_one_needs_attention() {
    let w = spawn_world_on_moto(100).await;
    let endpoint = moto::endpoint().await;
    let env = |targets: String| -> Vec<(&str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", moto::REGION.into()),
            ("ENTRA_LOGIN_URL", w.entra.url().to_string()),
            ("GRAPH_URL", w.entra.url().to_string()),
            ("ALLOW_LOOPBACK_HTTP", "true".into()),
            ("ROTATOR_CLIENT_ID", w.rotator_client_id.clone()),
            (
                "ROTATOR_CREDENTIALS_SECRET_ID",
                w.rotator_credentials_id.clone(),
            ),
            ("TARGET_SECRET_IDS", targets),
        ]
    };
    let healthy = cli(&["status"], &env(w.secret_id.clone())).await;

    assert_eq!(healthy.code, 0, "{}{}", healthy.stdout, healthy.stderr);
    let lines: Vec<&str> = healthy.stdout.lines().collect();
    assert!(lines[0].starts_with("TARGET"), "{}", healthy.stdout);
    assert!(
        lines[1].starts_with(&w.secret_id)
            && lines[1].contains("   99")
            && lines[1].contains(" ok "),
        "{}",
        healthy.stdout
    );
    assert!(healthy
        .stdout
        .ends_with("0 of 1 target(s) need attention\n"));

    let missing = moto::unique("no-such-target");
    let both = format!("{},{missing}", w.secret_id);
    let broken = cli(&["status", "--json"], &env(both)).await;

    assert_eq!(broken.code, 1, "{}", broken.stderr);
    let s: Value = serde_json::from_str(broken.stdout.trim()).unwrap();
    assert_eq!(
        (s["targets"].as_u64(), s["attention"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(s["results"][0]["state"], "ok");
    assert_eq!(s["results"][1]["state"], "failed");
    assert!(s["results"][1]["error"]
        .as_str()
        .unwrap()
        .contains(&missing));
    assert_eq!(
        w.entra.passwords(&w.app.object_id).len(),
        1,
        "status changes nothing"
    );
    w.assert_no_leaks(&[
        &healthy.stdout,
        &healthy.stderr,
        &broken.stdout,
        &broken.stderr,
    ]);
}
