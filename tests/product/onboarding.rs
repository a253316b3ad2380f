//! Onboarding and every day, as an operator runs them: a second target added by `init` keeps the
//! first (targets by tag), `init --fresh` without the secret Jamf Pro uses (and what each failure
//! leaves), `retire` on the operator's word, and `ack-drift`. The CLI against the stand-ins and
//! moto, configured through the environment only.

use crate::cli::{cli, init_args, world_env, Run};
use crate::common::{moto, spawn_world_on_moto, TestWorld};
use rotator_engine::ports::{AlertKind, StoreError};
use rotator_engine::rotation::drift::DRIFT_ACK_TAG;
use rotator_testkit::jamf::JamfOp;
use secrecy::ExposeSecret;

/// `init` of a new smtp-graph target `id` of world `w`'s app, with `extra` flags and `env`.
async fn init(w: &TestWorld, id: &str, extra: &[&str], env: &[(&str, String)]) -> Run {
    let mut args = init_args(w, id);
    args.push("--json".into());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cli(&args, env).await
}

/// The tags of secret `id` on moto.
async fn tags(id: &str) -> Vec<(String, String)> {
    let out = moto::secrets_client()
        .await
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .unwrap();
    out.tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().into(),
                t.value().unwrap_or_default().into(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_target_added_by_init_keeps_the_first_and_the_check_sees_both() {
    let w = spawn_world_on_moto(100).await;
    let stack = moto::unique("stack");
    let mut env = world_env(&w).await;
    // The deployment's settings as the template sets them by default (targets by tag).
    env.push(("TARGET_TAG_KEY", "jamf-entra-rotator:target".into()));
    env.push(("TARGET_TAG_VALUE", stack.clone()));
    env.push((
        "JER_CLIENT_SECRET",
        w.secrets[0].expose_secret().to_string(),
    ));
    let (first, second) = (moto::unique("first"), moto::unique("second"));

    for id in [&first, &second] {
        let run = init(&w, id, &[], &env).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            run.json()["tag"],
            format!("jamf-entra-rotator:target={stack}")
        );
        assert!(
            tags(id)
                .await
                .contains(&("jamf-entra-rotator:target".into(), stack.clone())),
            "init tags the target with the deployment's tag"
        );
    }

    // The check finds its targets by the tag, with no list to replace: both.
    let check = cli(&["check", "--dry-run", "--json"], &env).await;
    let reports = check.json()["results"].as_array().cloned().unwrap();
    let checked: Vec<&str> = reports
        .iter()
        .map(|r| r["secret_id"].as_str().unwrap())
        .collect();
    assert_eq!(checked.len(), 2, "{checked:?}\n{}", check.stderr);
    for id in [&first, &second] {
        assert!(
            checked.iter().any(|c| c.contains(id.as_str())),
            "{id} in {checked:?}"
        );
    }
    // A flag overrides the deployment's value; a key without a value is refused, unwritten.
    let other = moto::unique("other");
    let run = init(&w, &other, &["--tag-value", "elsewhere"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(tags(&other)
        .await
        .contains(&("jamf-entra-rotator:target".into(), "elsewhere".into())));
    let lone = moto::unique("lone");
    let no_value: Vec<(&str, String)> = env
        .iter()
        .filter(|(k, _)| *k != "TARGET_TAG_VALUE")
        .cloned()
        .collect();
    let run = init(&w, &lone, &[], &no_value).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--tag-value"), "{}", run.stderr);
    assert!(matches!(
        w.store.describe(&lone).await,
        Err(StoreError::NotFound { .. })
    ));
    w.assert_no_leaks(&[&check.stdout, &check.stderr]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_fresh_makes_writes_and_tests_a_secret_then_the_old_one_is_retired_on_the_operators_word(
) {
    let w = spawn_world_on_moto(100).await;
    let env = world_env(&w).await;
    let id = moto::unique("fresh");
    let old = w.initial_key_id.clone();
    let before = w.jamf_secret();

    let run = init(&w, &id, &["--fresh"], &env).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.json();
    let new = out["key_id"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(
        creds.len(),
        2,
        "the old, unknown credential stays: {creds:?}"
    );
    assert_ne!(w.jamf_secret(), before, "Jamf Pro holds the new secret");
    assert!(w.jamf_secret_works());
    let doc = w
        .engine
        .current(rotator_engine::rotation::Step::Check, &id)
        .await
        .unwrap()
        .1;
    assert_eq!(doc.entra.key_id.as_deref(), Some(new.as_str()));
    assert_eq!(
        Some(doc.entra.client_secret.expose_secret().to_string()),
        w.jamf_secret()
    );

    // The key the target holds is never retired; one the rotator did not make, only with --yes.
    let retire = |key: String, yes: bool| {
        let env = env.clone();
        let id = id.clone();
        async move {
            let mut args = vec!["retire", "--json", "--secret-id", &id, "--key-id", &key];
            if yes {
                args.push("--yes");
            }
            cli(&args, &env).await
        }
    };
    let held = retire(new.clone(), true).await;
    assert_eq!(held.code, 2, "{}", held.stderr);
    assert!(held.stderr.contains("AWSCURRENT holds"), "{}", held.stderr);
    let unconfirmed = retire(old.clone(), false).await;
    assert_eq!(unconfirmed.code, 2, "{}", unconfirmed.stderr);
    assert!(
        unconfirmed.stderr.contains("pass --yes"),
        "{}",
        unconfirmed.stderr
    );
    assert_eq!(
        w.entra.passwords(&w.app.object_id).len(),
        2,
        "refusals change nothing"
    );
    let confirmed = retire(old.clone(), true).await;
    assert_eq!(confirmed.code, 0, "{}", confirmed.stderr);
    assert_eq!(confirmed.json()["key_id"], old.as_str());
    let left = w.entra.passwords(&w.app.object_id);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key_id, new);
    assert!(w.jamf_secret_works());
    w.assert_no_leaks(&[&run.stdout, &run.stderr, &confirmed.stdout, &held.stderr]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_fresh_failing_before_jamf_pro_is_written_removes_its_credential_and_changes_nothing()
{
    let w = spawn_world_on_moto(100).await;
    let env = world_env(&w).await;
    let id = moto::unique("fresh-refused");
    let before = w.jamf_secret();
    w.jamf.fail_next(JamfOp::PutSmtp, 10, 400);

    let run = init(&w, &id, &["--fresh"], &env).await;

    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    let creds = w.entra.passwords(&w.app.object_id);
    assert_eq!(creds.len(), 1, "the new credential is removed: {creds:?}");
    assert_eq!(creds[0].key_id, w.initial_key_id);
    assert_eq!(w.jamf_secret(), before);
    assert!(w.jamf_secret_works());
    assert!(matches!(
        w.store.describe(&id).await,
        Err(StoreError::NotFound { .. })
    ));
    w.assert_no_leaks(&[&run.stdout, &run.stderr]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_fresh_whose_jamf_test_fails_keeps_the_secret_jamf_pro_now_holds_and_says_what_to_do()
{
    let w = spawn_world_on_moto(100).await;
    let env = world_env(&w).await;
    let id = moto::unique("fresh-untested");
    let before = w.jamf_secret();
    w.jamf.fail_next(JamfOp::SmtpTest, 10, 400);

    let run = init(&w, &id, &["--fresh"], &env).await;

    assert_ne!(run.code, 0);
    for said in [
        "Jamf Pro now holds the new secret",
        "cannot put it back",
        "Nothing was stored",
        "run init --fresh again",
    ] {
        assert!(run.stderr.contains(said), "{said}: {}", run.stderr);
    }
    // Jamf Pro's old secret is gone from it; the new one it holds still works at Entra.
    assert_ne!(w.jamf_secret(), before);
    assert!(
        w.jamf_secret_works(),
        "the credential Jamf Pro holds is kept"
    );
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 2);
    assert!(matches!(
        w.store.describe(&id).await,
        Err(StoreError::NotFound { .. })
    ));
    w.assert_no_leaks(&[&run.stdout, &run.stderr]);
}

/// The digest a drift alert names (`--drift <digest>`).
fn alerted_digest(w: &TestWorld) -> Vec<String> {
    w.alerts
        .sent()
        .iter()
        .filter(|a| a.kind == AlertKind::Drift)
        .filter_map(|a| {
            let at = a.message.find("--drift ")? + "--drift ".len();
            Some(a.message[at..at + 36].to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_drift_is_not_alerted_again_and_a_new_finding_is() {
    let w = spawn_world_on_moto(200).await;
    let env = world_env(&w).await;
    let far = w.engine.clock.now() + chrono::Duration::days(300);
    w.entra.seed_password(&w.app.object_id, "break-glass", far);
    w.engine.check(&w.secret_id, false).await.unwrap();
    let digests = alerted_digest(&w);
    assert_eq!(digests.len(), 1, "{:?}", w.alerts.sent());

    // Without --drift, a read-only check finds the same drift the alert named.
    let ack = cli(&["ack-drift", "--json", "--secret-id", &w.secret_id], &env).await;
    assert_eq!(ack.code, 0, "{}", ack.stderr);
    assert_eq!(ack.json()["drift"], digests[0].as_str());
    assert!(tags(&w.secret_id)
        .await
        .contains(&(DRIFT_ACK_TAG.into(), digests[0].clone())));
    let versions = w.store.describe(&w.secret_id).await.unwrap().versions;

    w.engine.check(&w.secret_id, false).await.unwrap();
    assert_eq!(
        alerted_digest(&w).len(),
        1,
        "the same drift is not alerted again"
    );
    assert_eq!(
        w.store.describe(&w.secret_id).await.unwrap().versions,
        versions,
        "acknowledging wrote no secret version"
    );

    w.entra
        .seed_password(&w.app.object_id, "someone's test", far);
    w.engine.check(&w.secret_id, false).await.unwrap();
    let after = alerted_digest(&w);
    assert_eq!(after.len(), 2, "a new finding alerts");
    assert_ne!(after[1], digests[0]);

    // The digest from the alert itself needs no sign-in; a malformed one is refused.
    let bad = cli(
        &[
            "ack-drift",
            "--secret-id",
            &w.secret_id,
            "--drift",
            "yesterday",
        ],
        &env,
    )
    .await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    let given = cli(
        &[
            "ack-drift",
            "--secret-id",
            &w.secret_id,
            "--drift",
            &after[1],
        ],
        &[
            ("AWS_ENDPOINT_URL", moto::endpoint().await),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", moto::REGION.into()),
        ],
    )
    .await;
    assert_eq!(given.code, 0, "{}", given.stderr);
    w.engine.check(&w.secret_id, false).await.unwrap();
    assert_eq!(
        alerted_digest(&w).len(),
        2,
        "acknowledged from the alert's digest"
    );
    w.assert_no_leaks(&[&ack.stdout, &ack.stderr, &given.stderr]);
}
