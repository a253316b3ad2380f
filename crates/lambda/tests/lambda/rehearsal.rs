//! The deploy rehearsal, on real parts: `template.yaml` translated by SAM's own translator and
//! created as a stack in moto's CloudFormation (`scripts/rehearse-deploy`), the deployed
//! function's environment read back from moto, and the real `bootstrap` run under cargo-lambda's
//! emulator with exactly that environment, against the stack's target secret and alert topic:
//! the scheduled check's event rotates.
//!
//! The function gets the deployed environment and what Lambda itself sets (runtime API, name,
//! memory, region, credentials, `AWS_LAMBDA_LOG_LEVEL` from `LoggingConfig`), and only these
//! on top, none of which the template sets: where AWS and Microsoft are (moto, and the STS,
//! Entra and Graph stand-ins). The stack is deployed with `PropagationSuccesses=1` (the
//! stand-ins run on the system clock here: a second acceptance would wait in real time). As the runbook orders it, Entra
//! trusts the role ARN computed from the stack name before the stack exists.

use crate::common::moto;
use crate::emulator;
use crate::harness::{assert_first_action, text};
use rotator_testkit::sts::StsSim;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

/// The resource types of the translated template that moto's CloudFormation does not implement:
/// moto skips them (the stack still completes). The alarms, the asynchronous-invocation config,
/// the schedule and the topic policy are therefore checked by `tests/product/template.rs` and
/// `tests/product/crosscheck.rs` only; the check's event is taken from the schedule's `Input`.
const UNSUPPORTED_BY_MOTO: &[&str] = &[
    "AWS::Chatbot::MicrosoftTeamsChannelConfiguration",
    "AWS::Chatbot::SlackChannelConfiguration",
    "AWS::CloudWatch::Alarm",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::Scheduler::Schedule",
    "AWS::SecretsManager::RotationSchedule",
];

/// The project's Python with aws-sam-translator and boto3 (`scripts/test` and `.ci/run`
/// install them). Missing, the test fails with the command that installs them: it never passes
/// by skipping.
pub(crate) fn python() -> std::path::PathBuf {
    let venv = crate::common::moto::repo_root().join(".venv/bin/python");
    let ready = venv.is_file()
        && Command::new(&venv)
            .args(["-c", "import samtranslator, boto3"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ready,
        "aws-sam-translator is not installed: `bash scripts/test` installs it into .venv \
         (or: .venv/bin/pip install aws-sam-translator==1.115.0 boto3)"
    );
    venv
}

/// `scripts/rehearse-deploy` on this test's moto with `extra` arguments: whether it succeeded,
/// and what it printed (the deployed stack read back, or why it was not created).
async fn rehearse(
    python: &std::path::Path,
    stack: &str,
    params: &[(&str, &str)],
    extra: &[&str],
) -> (bool, Value) {
    let mut cmd = Command::new(python);
    cmd.arg(crate::common::moto::repo_root().join("scripts/rehearse-deploy"))
        .args(["--stack", stack])
        .args(extra)
        .env("AWS_ENDPOINT_URL", moto::endpoint().await)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", moto::REGION)
        .env_remove("AWS_PROFILE");
    for (k, v) in params {
        cmd.args(["--param", &format!("{k}={v}")]);
    }
    let out = cmd.output().expect("scripts/rehearse-deploy runs");
    let printed = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scripts/rehearse-deploy printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), printed)
}

/// The rehearsal of `template.yaml`, which must deploy.
pub(crate) async fn deploy(
    python: &std::path::Path,
    stack: &str,
    params: &[(&str, &str)],
) -> Value {
    let (ok, deployed) = rehearse(python, stack, params, &[]).await;
    assert!(ok, "scripts/rehearse-deploy failed: {deployed:#}");
    deployed
}

pub(crate) fn strings(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_translated_stack_deploys_on_moto_and_its_function_rotates_on_the_scheduled_check() {
    let python = python();
    let w = emulator::world(10).await;
    let (stack, function) = (moto::unique("rehearsal"), moto::unique("rotator"));
    // The Entra side first, against the role ARN the stack name gives.
    let role_arn = format!("arn:aws:iam::{}:role/{stack}-rotator", moto::ACCOUNT);
    let sts = StsSim::start(w.world.clock.clone()).await;
    sts.set_role_arn(&role_arn);
    w.entra.add_federated_credential(
        &w.rotator_client_id,
        &sts.issuer(),
        &role_arn,
        &["api://AzureADTokenExchange"],
    );
    w.entra
        .trust_issuer_key(&sts.issuer(), sts.kid(), sts.public_key_pem());
    let target = w.store.describe(&w.secret_id).await.unwrap().arn;
    let jamf = w.store.describe(&w.jamf_credentials_id).await.unwrap().arn;
    let recipient = w.settings.smtp_test_recipient.clone().unwrap();

    let deployed = deploy(
        &python,
        &stack,
        &[
            ("FunctionName", &function),
            ("TargetSecretArns", &target),
            ("JamfCredentialsSecretArns", &jamf),
            ("RotatorClientId", &w.rotator_client_id),
            ("SmtpTestRecipient", &recipient),
            ("AlertOnSuccess", "true"),
            // The stand-ins run on the system clock here: a second acceptance would wait in
            // real time.
            ("PropagationSuccesses", "1"),
        ],
    )
    .await;

    assert_eq!(deployed["stack_status"], "CREATE_COMPLETE", "{deployed:#}");
    assert_eq!(deployed["outputs"]["RotatorRoleArn"], role_arn.as_str());
    assert_eq!(
        deployed["role_arn"],
        role_arn.as_str(),
        "the function runs as the named role"
    );
    let unsupported: Vec<&str> = deployed["unsupported_by_moto"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        unsupported, UNSUPPORTED_BY_MOTO,
        "moto's support changed: update the docs"
    );
    let federated = &deployed["role_policies"]["federated-sign-in"]["Statement"][0];
    assert_eq!(
        federated["Condition"]["NumericLessThanEquals"]["sts:DurationSeconds"], "300",
        "the federated grant is deployed with its conditions, unchanged: {deployed:#}"
    );
    let deployed_env = strings(&deployed["environment"]);
    assert_eq!(deployed_env["TARGET_SECRET_IDS"], target);
    assert_eq!(deployed_env["ROTATOR_AUTH"], "federated");
    let topic = deployed["outputs"]["AlertTopicArn"].as_str().unwrap();
    assert_eq!(deployed_env["ALERT_TOPIC_ARN"], topic);
    // The stack's lease table: the function's leases live there.
    let leases = lease_table(&deployed_env["LEASE_TABLE_NAME"]).await;

    // What Lambda sets, then the stand-ins' addresses: none of them is the template's to set.
    let mut env = deployed_env.clone();
    env.extend(strings(&deployed["platform_environment"]));
    let memory = deployed["memory_size"].to_string();
    let endpoint = moto::endpoint().await;
    let entra = w.entra.url().to_string();
    let sts_url = sts.url();
    let overlay = [
        ("AWS_LAMBDA_FUNCTION_NAME", function.as_str()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &memory),
        ("AWS_REGION", moto::REGION),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", &endpoint),
        ("AWS_ENDPOINT_URL_STS", &sts_url),
        ("ENTRA_LOGIN_URL", &entra),
        ("GRAPH_URL", &entra),
        ("ALLOW_LOOPBACK_HTTP", "true"),
    ];
    for (k, v) in overlay {
        assert!(
            !deployed_env.contains_key(k),
            "the rehearsal overrides the deployed {k}"
        );
        env.insert(k.to_string(), v.to_string());
    }
    let sns = moto::sns_client().await;
    let inbox = moto::Inbox::subscribe(&sns, topic).await;
    let f = emulator::start_with_exactly(&env).await;

    let response = f.invoke(&deployed["schedule_input"]).await;

    assert_first_action(&response, "rotated");
    assert_eq!(response["failed"], 0, "{response}");
    assert_ne!(
        w.entra.passwords(&w.app.object_id)[0].key_id,
        w.initial_key_id
    );
    assert!(
        sts.requests() >= 1,
        "the function signed in through STS (federated)"
    );
    w.assert_invariant().await;
    assert_eq!(
        leases.items().await,
        0,
        "the rotation took its lease in the stack's table and let go of it"
    );
    assert!(
        f.output().contains("holds the rotation's lease until"),
        "the rotation held the lease"
    );
    let alerts = inbox.notifications().await;
    assert!(
        alerts
            .iter()
            .any(|n| n["Message"].as_str().is_some_and(|m| m.contains(&target))),
        "the success summary reached the stack's topic: {alerts:#?}"
    );
    f.assert_no_leaks(
        &w,
        &[&text(&response), &serde_json::to_string(&alerts).unwrap()],
    );
}

/// The stack's lease table on moto.
struct LeaseTable {
    client: aws_sdk_dynamodb::Client,
    name: String,
}

/// The lease table the stack created, checked as the template declares it (TTL on
/// `expires_at`; moto may not keep the TTL of a CloudFormation table, so only when it says).
async fn lease_table(name: &str) -> LeaseTable {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(moto::REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .endpoint_url(moto::endpoint().await)
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let table = client.describe_table().table_name(name).send().await;
    let key = table.expect("the stack created the lease table");
    let key = key.table().and_then(|t| t.key_schema().first());
    assert_eq!(key.map(|k| k.attribute_name()), Some("pk"));
    LeaseTable {
        client,
        name: name.to_string(),
    }
}

impl LeaseTable {
    async fn items(&self) -> usize {
        let scan = self.client.scan().table_name(&self.name).send().await;
        scan.unwrap().items().len()
    }
}

#[tokio::test]
async fn a_template_moto_refuses_fails_the_rehearsal() {
    let python = python();
    // template.yaml as it was: a bare number in the federated grant's condition, which moto
    // refuses as a malformed policy (AWS takes it).
    let template =
        std::fs::read_to_string(crate::common::moto::repo_root().join("template.yaml")).unwrap();
    let broken = template.replace("sts:DurationSeconds: \"300\"", "sts:DurationSeconds: 300");
    assert_ne!(broken, template, "the edit applies");
    let path = std::env::temp_dir().join(format!("{}.yaml", moto::unique("template")));
    std::fs::write(&path, broken).unwrap();
    let secret = format!(
        "arn:aws:secretsmanager:{}:{}:secret:t-AbCdEf",
        moto::REGION,
        moto::ACCOUNT
    );
    let function = moto::unique("refused");
    let params = [
        ("FunctionName", function.as_str()),
        ("TargetSecretArns", secret.as_str()),
        ("JamfCredentialsSecretArns", secret.as_str()),
        ("RotatorClientId", "11111111-1111-1111-1111-111111111111"),
    ];

    let (ok, printed) = rehearse(
        &python,
        &moto::unique("refused"),
        &params,
        &["--template", path.to_str().unwrap()],
    )
    .await;

    let _ = std::fs::remove_file(&path);
    assert!(!ok, "{printed:#}");
    assert_eq!(printed["stack_status"], "CREATE_FAILED");
    assert!(
        printed["stack_status_reason"]
            .as_str()
            .unwrap()
            .contains("MalformedPolicyDocument"),
        "{printed:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_deployment_names_its_targets_by_tag_and_deploys_the_tag_conditions() {
    let python = python();
    let (stack, function) = (moto::unique("by-tag"), moto::unique("rotator"));
    let jamf = format!(
        "arn:aws:secretsmanager:{}:{}:secret:jamf-AbCdEf",
        moto::REGION,
        moto::ACCOUNT
    );

    // No TargetSecretArns: the template's default.
    let deployed = deploy(
        &python,
        &stack,
        &[
            ("FunctionName", &function),
            ("JamfCredentialsSecretArns", &jamf),
            ("RotatorClientId", "11111111-1111-1111-1111-111111111111"),
        ],
    )
    .await;

    assert_eq!(deployed["stack_status"], "CREATE_COMPLETE", "{deployed:#}");
    let env = strings(&deployed["environment"]);
    assert_eq!(env["TARGET_SECRET_IDS"], "");
    assert_eq!(env["TARGET_TAG_KEY"], "jamf-entra-rotator:target");
    assert_eq!(
        env["TARGET_TAG_VALUE"], stack,
        "the stack's name by default"
    );
    let policy = deployed["role_policies"]["rotator"].to_string();
    let condition = format!("\"secretsmanager:ResourceTag/jamf-entra-rotator:target\":\"{stack}\"");
    assert_eq!(
        policy.matches(&condition).count(),
        3,
        "the target grants, the hand-off and the Deny name the tag: {policy}"
    );
    assert!(policy.contains("secretsmanager:ListSecrets"), "{policy}");
}

/// `scripts/release --template-only` into a new directory, and a stand-in `bootstrap.zip` beside
/// the packaged template (the release's build is too slow for CI: what is checked here is the
/// packaging). Returns the directory.
fn packaged_release(python: &std::path::Path) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(moto::unique("release"));
    let script = crate::common::moto::repo_root().join("scripts/release");
    let out = Command::new("bash")
        .arg(script)
        .args(["--template-only", "--out"])
        .arg(&dir)
        .output()
        .expect("bash runs scripts/release");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zip =
        "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').writestr('bootstrap', '#!/bin/sh')";
    let made = Command::new(python)
        .args(["-c", zip])
        .arg(dir.join("bootstrap.zip"))
        .status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "the stand-in zip is written"
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_packaged_release_deploys_its_zip_with_the_environment_template_yaml_gives() {
    let python = python();
    let release = packaged_release(&python);
    let packaged = release.join("template.packaged.yaml");
    let secret = format!(
        "arn:aws:secretsmanager:{}:{}:secret:t-AbCdEf",
        moto::REGION,
        moto::ACCOUNT
    );
    let (plain_stack, release_stack) = (moto::unique("plain"), moto::unique("release"));
    let (f1, f2) = (moto::unique("rotator"), moto::unique("rotator"));
    let params = |function| {
        [
            ("FunctionName", function),
            ("TargetSecretArns", secret.as_str()),
            ("JamfCredentialsSecretArns", secret.as_str()),
            ("RotatorClientId", "11111111-1111-1111-1111-111111111111"),
        ]
    };

    let plain = deploy(&python, &plain_stack, &params(&f1)).await;
    let (ok, deployed) = rehearse(
        &python,
        &release_stack,
        &params(&f2),
        &["--template", packaged.to_str().unwrap()],
    )
    .await;

    assert!(ok, "{deployed:#}");
    assert_eq!(deployed["stack_status"], "CREATE_COMPLETE", "{deployed:#}");
    // The function's code is the release's zip, uploaded as `sam deploy` uploads it.
    assert_eq!(deployed["package"]["code_uri"], "bootstrap.zip");
    let zip = std::fs::metadata(release.join("bootstrap.zip"))
        .unwrap()
        .len();
    assert_eq!(deployed["code_size"], zip);
    assert_eq!(deployed["code_sha256"], deployed["package"]["sha256"]);
    // The same environment, but for each stack's own topic and lease table.
    let mut environments = Vec::new();
    for (stack, d) in [(&plain_stack, &plain), (&release_stack, &deployed)] {
        let mut env = strings(&d["environment"]);
        assert_eq!(
            env.remove("ALERT_TOPIC_ARN").unwrap(),
            d["outputs"]["AlertTopicArn"]
        );
        let table = env.remove("LEASE_TABLE_NAME").unwrap();
        assert!(table.starts_with(&format!("{stack}-")), "{table}");
        environments.push(env);
    }
    assert_eq!(environments[0], environments[1]);
    for key in [
        "platform_environment",
        "schedule_input",
        "memory_size",
        "unsupported_by_moto",
    ] {
        assert_eq!(plain[key], deployed[key], "{key}");
    }
    let _ = std::fs::remove_dir_all(&release);
}
