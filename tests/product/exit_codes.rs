//! The exit-code table of docs/CLI.md, command by command, through the real binary: 0 ok, 1 needs
//! attention, 2 bad input or configuration, 3 could not run. Each failure is also run with
//! `--json`, which prints exactly one `{"error": {kind, message, exit_code}}` object.

use crate::cli::{cli, init_args, world_env, Run};
use crate::common::{moto, spawn_with, TestWorld};
use rotator_engine::document::TargetKind;
use rotator_testkit::jamf::JamfOp;
use secrecy::ExposeSecret;

/// An address nothing listens on: connections are refused at once.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/")
}

/// `env` with `changes` set over it (an empty value unsets: the CLI reads it as absent).
fn with(
    env: &[(&'static str, String)],
    changes: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = env
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .cloned()
        .collect();
    out.extend(changes.iter().map(|(k, v)| (*k, v.to_string())));
    out
}

/// The configuration error the issue found exiting 1: federated sign-in without
/// ROTATOR_CLIENT_ID, which reaches the CLI wrapped in `WiringError::Config`.
const FEDERATED_WITHOUT_CLIENT_ID: [(&str, &str); 2] =
    [("ROTATOR_AUTH", "federated"), ("ROTATOR_CLIENT_ID", "")];

/// Runs `args` with `--json` too, and checks the error object against `code` and `kind`.
async fn fails(args: &[&str], env: &[(&'static str, String)], code: i32, kind: &str) -> Run {
    let run = cli(args, env).await;
    assert_eq!(run.code, code, "{args:?}: {}{}", run.stdout, run.stderr);
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json = cli(&json_args, env).await;
    assert_eq!(json.code, code, "{args:?} --json: {}", json.stderr);
    let v = json.json();
    assert_eq!(v["error"]["kind"], kind, "{v}");
    assert_eq!(v["error"]["exit_code"], code, "{v}");
    assert!(!v["error"]["message"].as_str().unwrap().is_empty(), "{v}");
    json
}

/// Every output of `runs`, for the leak scan.
fn outputs(runs: &[&Run]) -> Vec<String> {
    runs.iter()
        .flat_map(|r| [r.stdout.clone(), r.stderr.clone()])
        .collect()
}

fn assert_no_leaks(w: &TestWorld, runs: &[&Run]) {
    let all = outputs(runs);
    w.assert_no_leaks(&all.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_exits_0_ok_1_attention_2_configuration_3_unreachable() {
    let w = spawn_with(100, |_| {}).await;
    let env = with(&world_env(&w).await, &[("TARGET_SECRET_IDS", &w.secret_id)]);

    let ok = cli(&["status"], &env).await;
    let due = cli(
        &["status"],
        &with(&env, &[("ROTATION_THRESHOLD_DAYS", "200")]),
    )
    .await;
    let config = fails(
        &["status"],
        &with(&env, &FEDERATED_WITHOUT_CLIENT_ID),
        2,
        "config",
    )
    .await;
    let unreachable = fails(
        &["status"],
        &with(&env, &[("AWS_ENDPOINT_URL", &closed_port())]),
        3,
        "unavailable",
    )
    .await;

    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert_eq!(due.code, 1, "a due target needs attention: {}", due.stdout);
    assert!(
        config.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ROTATOR_CLIENT_ID"),
        "{}",
        config.stdout
    );
    assert_no_leaks(&w, &[&ok, &due, &config, &unreachable]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_target_no_service_answered_for_exits_3_not_1() {
    let w = spawn_with(100, |_| {}).await;
    let env = with(&world_env(&w).await, &[("TARGET_SECRET_IDS", &w.secret_id)]);
    // Graph throttles every request (Retry-After: 0): the target's check could not run.
    w.entra.throttle_graph(1000, 0);

    let run = cli(&["status", "--json"], &env).await;

    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["results"][0]["state"], "failed", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exits_0_ok_1_failed_target_2_configuration_3_unreachable() {
    let w = spawn_with(100, |_| {}).await;
    let env = world_env(&w).await;
    let id = w.secret_id.as_str();
    let missing = moto::unique("no-such-target");

    let ok = cli(&["check", "--secret-id", id], &env).await;
    let failed = cli(&["check", "--secret-id", id, "--secret-id", &missing], &env).await;
    let config = fails(
        &["check", "--secret-id", id],
        &with(&env, &FEDERATED_WITHOUT_CLIENT_ID),
        2,
        "config",
    )
    .await;
    let unreachable = fails(
        &["check", "--secret-id", id],
        &with(&env, &[("AWS_ENDPOINT_URL", &closed_port())]),
        3,
        "unavailable",
    )
    .await;

    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
    assert_no_leaks(&w, &[&ok, &failed, &config, &unreachable]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_exits_0_rotated_1_rolled_back_2_configuration_3_unreachable() {
    let w = spawn_with(10, |_| {}).await;
    let env = world_env(&w).await;
    let id = w.secret_id.as_str();

    let config = fails(
        &["rotate", "--secret-id", id],
        &with(&env, &FEDERATED_WITHOUT_CLIENT_ID),
        2,
        "config",
    )
    .await;
    let unreachable = fails(
        &["rotate", "--secret-id", id],
        &with(&env, &[("AWS_ENDPOINT_URL", &closed_port())]),
        3,
        "unavailable",
    )
    .await;
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 400);
    let rolled_back = cli(&["rotate", "--json", "--secret-id", id], &env).await;
    let rotated = cli(&["rotate", "--json", "--secret-id", id], &env).await;

    assert_eq!(rolled_back.code, 1, "{}", rolled_back.stderr);
    assert_eq!(rolled_back.json()["outcome"], "rolled-back");
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let r = rotated.json();
    assert_eq!(r["outcome"], "rotated");
    assert_eq!(r["reason"], "manual", "no reason given: recorded as manual");
    assert_no_leaks(&w, &[&config, &unreachable, &rolled_back, &rotated]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_exits_2_bad_input_or_configuration_and_3_unreachable_or_throttled() {
    let w = spawn_with(100, |_| {}).await;
    let env = with(
        &world_env(&w).await,
        &[("JER_CLIENT_SECRET", w.secrets[0].expose_secret())],
    );
    let id = moto::unique("init-exit");
    let args = init_args(&w, &id);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let no_secret: Vec<_> = env
        .iter()
        .filter(|(k, _)| *k != "JER_CLIENT_SECRET")
        .cloned()
        .collect();

    let input = fails(&args, &no_secret, 2, "input").await;
    let config = fails(
        &args,
        &with(&env, &FEDERATED_WITHOUT_CLIENT_ID),
        2,
        "config",
    )
    .await;
    let unreachable = fails(
        &args,
        &with(&env, &[("AWS_ENDPOINT_URL", &closed_port())]),
        3,
        "unavailable",
    )
    .await;
    // Graph throttles every request: retries spent, init could not run (it was 2).
    w.entra.throttle_graph(1000, 0);
    let throttled = fails(&args, &env, 3, "unavailable").await;

    assert!(
        input.stdout.contains("JER_CLIENT_SECRET"),
        "{}",
        input.stdout
    );
    let sm = moto::secrets_client().await;
    assert!(
        sm.describe_secret().secret_id(&id).send().await.is_err(),
        "nothing was written"
    );
    assert_no_leaks(&w, &[&input, &config, &unreachable, &throttled]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_exits_2_bad_input_and_3_when_jamf_pro_is_unreachable() {
    let w = spawn_with(100, |_| {}).await;
    let env = world_env(&w).await;
    let creds = w.jamf_credentials_id.as_str();
    let jamf = w.jamf.url().to_string();

    let input = fails(&["discover", "--jamf-url", &jamf], &env, 2, "input").await;
    let config = fails(
        &[
            "discover",
            "--jamf-url",
            &jamf,
            "--jamf-credentials-secret-id",
            creds,
        ],
        &with(&env, &[("ROTATION_THRESHOLD_DAYS", "soon")]),
        2,
        "config",
    )
    .await;
    // Credentials bound to the closed port: the binding passes, and Jamf Pro does not answer.
    let closed = closed_port();
    bind_credentials(&w, &closed).await;
    let args = [
        "discover",
        "--jamf-url",
        &closed,
        "--jamf-credentials-secret-id",
        creds,
    ];
    let unreachable = cli(&args, &env).await;
    let store_unreachable = fails(
        &[
            "discover",
            "--jamf-url",
            &jamf,
            "--jamf-credentials-secret-id",
            creds,
        ],
        &with(&env, &[("AWS_ENDPOINT_URL", &closed_port())]),
        3,
        "unavailable",
    )
    .await;

    assert_eq!(
        unreachable.code, 3,
        "{}{}",
        unreachable.stdout, unreachable.stderr
    );
    assert_no_leaks(&w, &[&input, &config, &unreachable, &store_unreachable]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_exits_0_match_1_mismatch_2_not_conditional_access_3_unreachable() {
    let w = spawn_with(100, |o| o.target = TargetKind::ConditionalAccess).await;
    let env = world_env(&w).await;
    let id = w.secret_id.as_str();
    let doc = w.current_doc().await;
    let put = |edit: fn(&mut rotator_engine::document::TargetDocument, &str), arg: String| {
        let mut d = doc.clone();
        edit(&mut d, &arg);
        let store = w.store.clone();
        let id = id.to_string();
        async move { store.put_current(&id, &d.to_secret()).await.unwrap() }
    };

    let ok = cli(&["probe", "--secret-id", id], &env).await;
    put(
        |d, _| d.entra.client_id = "00000000-0000-0000-0000-00000000beef".into(),
        String::new(),
    )
    .await;
    let mismatch = cli(&["probe", "--secret-id", id], &env).await;
    let closed = closed_port();
    bind_credentials(&w, &closed).await;
    put(
        |d, url| d.jamf.url = Some(url.parse().unwrap()),
        closed.clone(),
    )
    .await;
    let unreachable = fails(&["probe", "--secret-id", id], &env, 3, "unavailable").await;
    put(|d, _| d.jamf.target = TargetKind::SmtpGraph, String::new()).await;
    let not_ca = fails(&["probe", "--secret-id", id], &env, 2, "config").await;

    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert_eq!(mismatch.code, 1, "{}{}", mismatch.stdout, mismatch.stderr);
    assert_no_leaks(&w, &[&ok, &mismatch, &unreachable, &not_ca]);
}

/// Binds the world's Jamf credentials to `url` (their `jamf_url`), as `bind-credentials` would.
async fn bind_credentials(w: &TestWorld, url: &str) {
    let (_, value) = w
        .store
        .value_at(&w.jamf_credentials_id, "AWSCURRENT")
        .await
        .unwrap()
        .unwrap();
    let mut creds: serde_json::Value = serde_json::from_str(value.expose_secret()).unwrap();
    creds["jamf_url"] = serde_json::Value::String(url.to_string());
    let bound = secrecy::SecretString::from(creds.to_string());
    w.store
        .put_current(&w.jamf_credentials_id, &bound)
        .await
        .unwrap();
}
