//! `scripts/uninstall` against a stack the rehearsal deployed on moto: the dry run lists every
//! resource of the stack and everything the deployment made outside it, and changes nothing;
//! the real run removes the stack and keeps the secrets unless told otherwise.

use crate::common::moto;
use crate::emulator;
use crate::rehearsal::{deploy, python};
use std::process::{Command, Output};

/// `scripts/uninstall ARGS` on this test's moto, with the machine's AWS CLI.
async fn uninstall(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(moto::repo_root().join("scripts/uninstall"))
        .args(args)
        .env("AWS_ENDPOINT_URL", moto::endpoint().await)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", moto::REGION)
        .env_remove("AWS_PROFILE")
        .output()
        .expect("scripts/uninstall runs")
}

/// The stack's resources as moto lists them: (type, logical id), through boto3.
fn stack_resources(python: &std::path::Path, endpoint: &str, stack: &str) -> Vec<(String, String)> {
    let out = Command::new(python)
        .args([
            "-c",
            "import boto3, sys\nc = boto3.client('cloudformation', endpoint_url=sys.argv[1], region_name=sys.argv[3])\n\
             for r in c.list_stack_resources(StackName=sys.argv[2])['StackResourceSummaries']:\n    print(r['ResourceType'], r['LogicalResourceId'])",
            endpoint,
            stack,
            moto::REGION,
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(t, l)| (t.to_string(), l.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_lists_everything_the_deployment_made_and_a_dry_run_changes_nothing() {
    let python = python();
    let w = emulator::world(60).await;
    let (stack, function) = (moto::unique("uninstall"), moto::unique("rotator"));
    let target = w.store.describe(&w.secret_id).await.unwrap().arn;
    let jamf = w.store.describe(&w.jamf_credentials_id).await.unwrap().arn;
    deploy(
        &python,
        &stack,
        &[
            ("FunctionName", &function),
            ("TargetSecretArns", &target),
            ("JamfCredentialsSecretArns", &jamf),
            ("RotatorClientId", &w.rotator_client_id),
        ],
    )
    .await;
    let endpoint = moto::endpoint().await;
    let resources = stack_resources(&python, &endpoint, &stack);
    assert!(resources.len() > 5, "{resources:?}");

    let dry = uninstall(&["--dry-run", "--stack", &stack]).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&dry.stdout),
        String::from_utf8_lossy(&dry.stderr),
    );
    assert!(dry.status.success(), "{stdout}\n{stderr}");
    for (kind, logical) in &resources {
        assert!(
            stdout.contains(kind) && stdout.contains(logical),
            "the dry run does not list {kind} {logical}:\n{stdout}"
        );
    }
    for outside in [
        target.as_str(),
        jamf.as_str(),
        w.app.client_id.as_str(),
        w.rotator_client_id.as_str(),
        "federated identity",
        "app role assignments",
        "API role",
        "disable-outbound-web-identity-federation",
    ] {
        assert!(
            stdout.contains(outside),
            "the dry run does not name {outside}:\n{stdout}"
        );
    }
    assert!(stderr.contains("delete-stack"), "{stderr}");
    assert_eq!(
        stack_resources(&python, &endpoint, &stack),
        resources,
        "a dry run changes nothing"
    );
    w.assert_no_leaks(&[&stdout, &stderr]);

    let real = uninstall(&["--stack", &stack]).await;
    assert!(
        real.status.success(),
        "{}",
        String::from_utf8_lossy(&real.stderr)
    );
    assert!(
        stack_resources(&python, &endpoint, &stack).is_empty(),
        "the stack is gone"
    );
    assert!(
        w.store.describe(&w.secret_id).await.is_ok(),
        "the target secret is kept without --delete-secrets"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_finds_the_targets_of_a_stack_that_names_them_by_tag() {
    let python = python();
    let w = emulator::world(60).await;
    let (stack, function) = (moto::unique("uninstall-tag"), moto::unique("rotator"));
    let target = w.store.describe(&w.secret_id).await.unwrap().arn;
    let jamf = w.store.describe(&w.jamf_credentials_id).await.unwrap().arn;
    let sm = moto::secrets_client().await;
    let tag = aws_sdk_secretsmanager::types::Tag::builder()
        .key("jamf-entra-rotator:target")
        .value(&stack)
        .build();
    sm.tag_resource()
        .secret_id(&target)
        .tags(tag)
        .send()
        .await
        .unwrap();
    deploy(
        &python,
        &stack,
        &[
            ("FunctionName", &function),
            ("JamfCredentialsSecretArns", &jamf),
            ("RotatorClientId", &w.rotator_client_id),
        ],
    )
    .await;

    let dry = uninstall(&["--dry-run", "--stack", &stack]).await;
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("target secret {target}")),
        "the tagged target is listed:\n{stdout}"
    );
}

#[tokio::test]
async fn uninstall_refuses_a_stack_it_cannot_find() {
    let out = uninstall(&["--dry-run", "--stack", &moto::unique("absent")]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}
