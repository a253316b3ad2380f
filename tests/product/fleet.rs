//! Many targets, on Secrets Manager (moto): the hand-off of a due rotation to Secrets Manager's
//! rotation engine (`RotateSecret`) through the SDK adapter, and `init --rotation-function-arn`.
//!
//! moto 5.2.5 invokes a rotation function only when its own Lambda knows it: the tests register
//! a stub there (it runs nothing), so they check what can be read back: the call made with the
//! right function, an empty `AWSPENDING` version for the token, `AWSCURRENT` untouched. (moto
//! also reports `RotationEnabled: false` after a `RotateSecret` without a schedule, where AWS
//! enables rotation with the function: the four step events themselves are driven against the
//! memory store, in `crates/lambda/tests/lambda/fleet.rs`.)

use crate::common;

use common::{moto, spawn_world_on_moto};
use rotator_engine::config::RotationMode;
use rotator_engine::ports::{AWSCURRENT, AWSPENDING};
use rotator_engine::rotation::check::{Action, CheckOptions};
use secrecy::ExposeSecret;
use std::process::Command;

#[tokio::test]
async fn a_fanned_out_check_hands_the_due_rotation_to_secrets_manager_with_this_function() {
    let w = spawn_world_on_moto(10).await;
    let function = moto::rotation_lambda().await;
    let before = w.store.describe(&w.secret_id).await.unwrap();
    let options = CheckOptions {
        mode: RotationMode::FanOut,
        rotation_function_arn: Some(function.clone()),
        deadline: Some(w.engine.clock.now() + chrono::Duration::minutes(15)),
        ..Default::default()
    };

    let report = w.engine.check_with(&w.secret_id, &options).await.unwrap();

    assert_eq!(report.action, Action::HandedOff, "{report:?}");
    let hand_off = report.hand_off.expect("the hand-off is reported");
    assert_eq!(hand_off.rotation_function_arn, function);
    let described = moto::secrets_client()
        .await
        .describe_secret()
        .secret_id(&w.secret_id)
        .send()
        .await
        .unwrap();
    assert_eq!(described.rotation_lambda_arn(), Some(function.as_str()));
    let info = w.store.describe(&w.secret_id).await.unwrap();
    assert!(info.has(&hand_off.token, AWSPENDING), "{info:?}");
    assert_eq!(
        info.version_with(AWSCURRENT),
        before.version_with(AWSCURRENT),
        "AWSCURRENT stays until the rotation's finishSecret"
    );
    assert_eq!(
        w.store
            .value(&w.secret_id, &hand_off.token)
            .await
            .unwrap()
            .map(|_| ()),
        None,
        "the pending version is empty: createSecret fills it"
    );
    assert!(w.jamf_secret_works(), "Jamf Pro was not touched");
    w.assert_no_leaks(&[]);
}

/// The CLI binary with `args`, in an environment pointing at moto: `(exit code, stdout, stderr)`.
async fn init(w: &common::TestWorld, args: &[&str]) -> (i32, String, String) {
    let jamf_url = w.jamf.url().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_jamf-entra-rotator"))
        .arg("init")
        .args(["--jamf-url", &jamf_url, "--target", "smtp-graph"])
        .args(["--jamf-credentials-secret-id", &w.jamf_credentials_id])
        .args(["--tenant-id", rotator_testkit::world::TENANT_ID])
        .args([
            "--client-id",
            &w.app.client_id,
            "--key-id",
            &w.initial_key_id,
        ])
        .args(["--json"])
        .args(args)
        .env_clear()
        .env("AWS_ENDPOINT_URL", moto::endpoint().await)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", moto::REGION)
        .env("JER_CLIENT_SECRET", w.secrets[0].expose_secret())
        .output()
        .expect("the CLI runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_configures_secrets_manager_rotation_with_the_function_given() {
    let w = spawn_world_on_moto(100).await;
    let function = moto::rotation_lambda().await;
    let id = moto::unique("init-rotation");

    let (code, stdout, stderr) = init(
        &w,
        &["--secret-id", &id, "--rotation-function-arn", &function],
    )
    .await;

    assert_eq!(code, 0, "{stderr}");
    let out: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(out["rotation"]["function_arn"], function.as_str(), "{out}");
    assert!(
        out["rotation"]["schedule"].is_null(),
        "no schedule unless asked: {out}"
    );
    let described = moto::secrets_client()
        .await
        .describe_secret()
        .secret_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(described.rotation_lambda_arn(), Some(function.as_str()));
    let doc = w
        .engine
        .current(rotator_engine::rotation::Step::Check, &id)
        .await;
    assert_eq!(
        doc.unwrap().1.entra.key_id.as_deref(),
        Some(w.initial_key_id.as_str()),
        "the document is written as without the option"
    );
    w.assert_no_leaks(&[&stdout, &stderr]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_refuses_a_bad_rotation_function_or_schedule_and_writes_nothing() {
    let w = spawn_world_on_moto(100).await;
    let function = moto::rotation_lambda().await;
    let id = moto::unique("init-bad-rotation");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--rotation-function-arn", "jamf-entra-rotator"],
            "must be a Lambda function's ARN",
        ),
        (
            &["--rotation-schedule", "rate(30 days)"],
            "needs --rotation-function-arn",
        ),
        (
            &[
                "--rotation-function-arn",
                &function,
                "--rotation-schedule",
                "daily",
            ],
            "must be rate(…) or cron(…)",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["--secret-id", id.as_str()];
        args.extend_from_slice(extra);

        let (code, _, stderr) = init(&w, &args).await;

        assert_eq!(code, 2, "{extra:?}: {stderr}");
        assert!(stderr.contains(want), "{extra:?}: {stderr}");
        let gone = w.store.describe(&id).await;
        assert!(
            matches!(
                gone,
                Err(rotator_engine::ports::StoreError::NotFound { .. })
            ),
            "{extra:?}: nothing is written: {gone:?}"
        );
    }
}
