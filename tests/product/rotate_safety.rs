//! `rotate`'s safety, through the real binary: `--dry-run` says what a rotation would do (the
//! target, its key id and expiry, whether due, the credentials it would remove) and changes
//! nothing; `--lockdown` without a terminal is refused unless `--yes`.

use crate::cli::{cli, world_env, Run};
use crate::common::{spawn_with, TestWorld};
use serde_json::Value;
use std::collections::HashMap;

/// What a rotation could change: the app's credentials, the secret's versions, Jamf's secret.
async fn state(w: &TestWorld) -> (Vec<String>, HashMap<String, Vec<String>>, Option<String>) {
    let mut keys: Vec<String> = w
        .entra
        .passwords(&w.app.object_id)
        .into_iter()
        .map(|c| c.key_id)
        .collect();
    keys.sort();
    let sm = crate::common::moto::secrets_client().await;
    let described = sm
        .describe_secret()
        .secret_id(&w.secret_id)
        .send()
        .await
        .unwrap();
    let versions = described
        .version_ids_to_stages()
        .cloned()
        .unwrap_or_default();
    (keys, versions, w.jamf.smtp_secret())
}

fn removes(plan: &Value) -> Vec<String> {
    plan["removes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key_id"].as_str().unwrap().to_string())
        .collect()
}

fn no_leaks(w: &TestWorld, runs: &[&Run]) {
    let all: Vec<&str> = runs
        .iter()
        .flat_map(|r| [r.stdout.as_str(), r.stderr.as_str()])
        .collect();
    w.assert_no_leaks(&all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_dry_run_says_what_would_happen_and_changes_nothing() {
    let w = spawn_with(10, |_| {}).await;
    let end = chrono::Utc::now() + chrono::Duration::days(200);
    let (stray, _) = w.entra.seed_password(&w.app.object_id, "made by hand", end);
    let env = world_env(&w).await;
    let id = w.secret_id.as_str();
    let before = state(&w).await;

    let plain = cli(&["rotate", "--secret-id", id, "--dry-run", "--json"], &env).await;
    let lockdown = cli(
        &[
            "rotate",
            "--secret-id",
            id,
            "--dry-run",
            "--lockdown",
            "--json",
        ],
        &env,
    )
    .await;
    let text = cli(
        &["rotate", "--secret-id", id, "--dry-run", "--lockdown"],
        &env,
    )
    .await;

    assert_eq!(plain.code, 0, "{}", plain.stderr);
    let p = plain.json();
    assert_eq!(p["dry_run"], true);
    assert_eq!(p["key_id"], w.initial_key_id.as_str());
    assert!(p["expires_at"].is_string(), "{p}");
    assert_eq!(p["due"], true, "{p}");
    assert_eq!(p["emergency"], false);
    assert_eq!(
        removes(&p),
        std::slice::from_ref(&w.initial_key_id),
        "only the old secret goes"
    );
    assert_eq!(lockdown.code, 0, "{}", lockdown.stderr);
    let l = lockdown.json();
    assert_eq!(l["lockdown"], true);
    let mut gone = removes(&l);
    gone.sort();
    let mut expected = vec![w.initial_key_id.clone(), stray.clone()];
    expected.sort();
    assert_eq!(
        gone, expected,
        "a lockdown removes every other credential: {l}"
    );
    assert!(
        text.stdout.contains("dry run, nothing was changed")
            && text.stdout.contains(&format!("would remove     {stray}")),
        "{}",
        text.stdout
    );
    assert_eq!(state(&w).await, before, "the dry runs changed nothing");
    no_leaks(&w, &[&plain, &lockdown, &text]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockdown_without_a_terminal_is_refused_unless_yes() {
    let w = spawn_with(10, |_| {}).await;
    let end = chrono::Utc::now() + chrono::Duration::days(200);
    let (stray, _) = w.entra.seed_password(&w.app.object_id, "made by hand", end);
    let env = world_env(&w).await;
    let id = w.secret_id.as_str();
    let before = state(&w).await;

    let refused = cli(&["rotate", "--secret-id", id, "--lockdown", "--json"], &env).await;

    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let e = refused.json();
    assert_eq!(e["error"]["kind"], "input");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("--yes"),
        "{e}"
    );
    assert_eq!(state(&w).await, before, "nothing changed");

    let confirmed = cli(
        &["rotate", "--secret-id", id, "--lockdown", "--yes", "--json"],
        &env,
    )
    .await;

    assert_eq!(confirmed.code, 0, "{}", confirmed.stderr);
    assert_eq!(confirmed.json()["outcome"], "rotated");
    let left: Vec<String> = w
        .entra
        .passwords(&w.app.object_id)
        .into_iter()
        .map(|c| c.key_id)
        .collect();
    assert!(
        !left.contains(&stray),
        "the lockdown removed the stray credential"
    );
    assert_eq!(left.len(), 1, "{left:?}");
    no_leaks(&w, &[&refused, &confirmed]);
}
