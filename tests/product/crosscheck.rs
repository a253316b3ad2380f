//! Cross-checks of the code against `template.yaml`:
//! - IAM: every AWS call the code can make, on the secret or topic it acts on, is allowed by the
//!   function's role, and the role allows nothing beyond that (and what Lambda itself needs), for
//!   each way of signing in and with the optional KMS key and VPC; an explicit `Deny` keeps the
//!   role off every other secret, and `RotateSecret` names this function only
//!   (`crosscheck/iam.rs`);
//! - environment: every variable the code reads is set by the template or documented in the
//!   README's configuration table, and nothing is set or documented that nothing reads
//!   (`crosscheck/env.rs`).
//!
//! Each check is also run on a broken copy (a grant removed or added, a call or a setting added
//! to the sources, a README row dropped) to show that it fails.

#[path = "crosscheck/cfn.rs"]
mod cfn;
#[path = "crosscheck/env.rs"]
mod env;
#[path = "crosscheck/iam.rs"]
mod iam;
#[path = "crosscheck/source.rs"]
mod source;

use cfn::Deployment;
use iam::Subject;
use source::File;

const SECRET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:rotator-AbCdEf";
const TARGET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:jamf-AbCdEf";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// The ways the template is deployed: each sign-in mode, targets by tag (the default) or by ARN,
/// and the options.
fn scenarios() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        ("federated (defaults)", vec![]),
        (
            "certificate",
            vec![
                ("RotatorAuth", "certificate"),
                ("RotatorCredentialsSecretArn", SECRET),
            ],
        ),
        (
            "client-secret",
            vec![
                ("RotatorAuth", "client-secret"),
                ("RotatorCredentialsSecretArn", SECRET),
            ],
        ),
        ("targets by ARN", vec![("TargetSecretArns", TARGET)]),
        (
            "client-secret, targets by ARN",
            vec![
                ("TargetSecretArns", TARGET),
                ("RotatorAuth", "client-secret"),
                ("RotatorCredentialsSecretArn", SECRET),
            ],
        ),
        (
            "federated, KMS key, VPC",
            vec![
                ("KmsKeyArn", KEY),
                ("SubnetIds", "subnet-1,subnet-2"),
                ("SecurityGroupIds", "sg-1"),
            ],
        ),
    ]
}

fn sources() -> Vec<File> {
    source::load(&source::repo_root())
}

fn readme() -> String {
    std::fs::read_to_string(source::repo_root().join("docs/CONFIGURATION.md")).unwrap()
}

/// The IAM problems of the template text `text` for the sources `files`, in every scenario.
fn iam_problems(files: &[File], text: &str) -> Vec<String> {
    let doc: serde_norway::Value = serde_norway::from_str(text).unwrap();
    let calls = iam::calls(files).unwrap_or_else(|p| panic!("{p:#?}"));
    let self_rotating = iam::self_rotation(files);
    scenarios()
        .into_iter()
        .flat_map(|(name, params)| {
            let d = Deployment::new(&doc, &params);
            let mut problems = iam::problems(&calls, self_rotating, &d);
            problems.extend(iam::guard_problems(&d));
            problems.into_iter().map(move |p| format!("{name}: {p}"))
        })
        .collect()
}

fn template_text() -> String {
    std::fs::read_to_string(source::repo_root().join("template.yaml")).unwrap()
}

#[test]
fn the_scan_finds_the_calls_the_function_makes_and_what_they_act_on() {
    let files = sources();
    let calls = iam::calls(&files).unwrap_or_else(|p| panic!("{p:#?}"));
    eprintln!("{calls:#?}\n{:#?}", env::reads(&files));
    let has = |action: &str, subject: Subject| {
        calls
            .iter()
            .any(|c| c.action == action && c.subject == subject)
    };
    for (action, subject) in [
        ("secretsmanager:DescribeSecret", Subject::Targets),
        ("secretsmanager:GetSecretValue", Subject::Targets),
        ("secretsmanager:PutSecretValue", Subject::Targets),
        ("secretsmanager:UpdateSecretVersionStage", Subject::Targets),
        ("secretsmanager:RotateSecret", Subject::Targets),
        ("secretsmanager:RotateSecret", Subject::Cli),
        ("secretsmanager:GetSecretValue", Subject::JamfCredentials),
        ("secretsmanager:GetSecretValue", Subject::RotatorCredential),
        ("secretsmanager:ListSecrets", Subject::TagListing),
        ("secretsmanager:CreateSecret", Subject::Cli),
        ("secretsmanager:PutSecretValue", Subject::Cli),
        ("sns:Publish", Subject::AlertTopic),
        ("sts:GetWebIdentityToken", Subject::NoResource),
    ] {
        assert!(
            has(action, subject),
            "{action} on {subject:?} not found in {calls:#?}"
        );
    }
    assert!(
        iam::self_rotation(&files),
        "the check adds the rotator's own document to its targets"
    );
}

#[test]
fn every_aws_call_the_code_can_make_is_granted_and_nothing_more() {
    let problems = iam_problems(&sources(), &template_text());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_iam_check_fails_when_the_role_loses_or_gains_a_grant() {
    let files = sources();
    let text = template_text();
    // Self-rotation needs PutSecretValue on the rotator's own secret (client-secret).
    let own = "                  Resource: !Ref RotatorCredentialsSecretArn";
    let lost = text.replacen(
        "                    - secretsmanager:PutSecretValue\n                    - secretsmanager:UpdateSecretVersionStage\n                  Resource: !Ref RotatorCredentialsSecretArn",
        &format!("                    - secretsmanager:UpdateSecretVersionStage\n{own}"),
        1,
    );
    assert_ne!(lost, text, "the edit applies");
    let problems = iam_problems(&files, &lost);
    assert!(
        problems.iter().any(|p| p.starts_with(
            "client-secret: missing: secretsmanager:PutSecretValue on RotatorCredentialsSecretArn (self-rotation"
        )),
        "{problems:#?}"
    );
    let gained = text.replacen(
        "                Action: sns:Publish\n",
        "                Action: [sns:Publish, sns:Subscribe]\n",
        1,
    );
    assert_ne!(gained, text);
    let problems = iam_problems(&files, &gained);
    assert!(
        problems.contains(
            &"federated (defaults): beyond what the code calls: sns:Subscribe on AlertTopic"
                .to_string()
        ),
        "{problems:#?}"
    );
}

#[test]
fn the_iam_check_fails_when_the_role_cannot_hand_rotations_to_secrets_manager() {
    let files = sources();
    let text = template_text();
    // Without RotateSecret on the targets…
    let grant = "              - Sid: HandRotationsToThisFunction\n";
    let at = text.find(grant).expect("the statement");
    let end = at + grant.len() + text[at + grant.len()..].find("\n              - ").unwrap() + 1;
    let no_rotate = format!("{}{}", &text[..at], &text[end..]);
    let problems = iam_problems(&files, &no_rotate);
    for (scenario, targets) in [
        ("federated (defaults)", iam::TARGET_TAG),
        ("targets by ARN", "TargetSecretArns"),
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(&format!(
                "{scenario}: missing: secretsmanager:RotateSecret on {targets} (called at crates/engine/src/rotation/start.rs"
            ))),
            "{problems:#?}"
        );
    }
    // …or without the right to name itself as the rotation function.
    let statement = format!(
        "                Action: lambda:InvokeFunction\n                Resource: !Sub {}\n",
        iam::OWN_FUNCTION
    );
    let no_invoke = text.replacen(&statement, "", 1);
    assert_ne!(no_invoke, text, "the edit applies");
    let problems = iam_problems(&files, &no_invoke);
    assert!(
        problems.iter().any(|p| p.contains(&format!(
            "missing: lambda:InvokeFunction on {} (RotateSecret with this function",
            iam::OWN_FUNCTION
        ))),
        "{problems:#?}"
    );
}

#[test]
fn the_iam_check_fails_without_the_deny_outside_the_roles_secrets() {
    let files = sources();
    let text = template_text();
    // The Deny dropped…
    let no_deny = text.replacen(
        "                Effect: Deny\n",
        "                Effect: Allow\n",
        1,
    );
    assert_ne!(no_deny, text, "the edit applies");
    let problems = iam_problems(&files, &no_deny);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("federated (defaults): no Deny of [")
                && p.contains("\"secretsmanager:GetSecretValue\"")
                && p.contains("\"secretsmanager:PutSecretValue\"")),
        "{problems:#?}"
    );
    // …or one of its actions…
    let fewer = text.replacen("                  - secretsmanager:PutSecretValue\n                  - secretsmanager:RemoveRegionsFromReplication\n", "                  - secretsmanager:RemoveRegionsFromReplication\n", 1);
    assert_ne!(fewer, text, "the edit applies");
    let problems = iam_problems(&files, &fewer);
    assert!(
        problems.iter().any(|p| p
            .starts_with("federated (defaults): no Deny of [\"secretsmanager:PutSecretValue\"]")),
        "{problems:#?}"
    );
    // …or the Jamf credentials forgotten in its NotResource (the Deny would lock the role out),
    // by ARN…
    let narrower = text.replace(
        "\n                          - !Join [\",\", !Ref JamfCredentialsSecretArns]\n",
        "\n",
    );
    assert_ne!(narrower, text, "the edit applies");
    let problems = iam_problems(&files, &narrower);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("targets by ARN: no Deny")
                && p.contains("with NotResource exactly the role's secrets")),
        "{problems:#?}"
    );
    // …and by tag.
    let narrower = text.replacen(
        "\n                    - !Ref JamfCredentialsSecretArns\n",
        "\n                    - !Ref RotatorCredentialsSecretArn\n",
        1,
    );
    assert_ne!(narrower, text, "the edit applies");
    let problems = iam_problems(&files, &narrower);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("federated (defaults): no Deny")),
        "{problems:#?}"
    );
    // By tag, a Deny that spares the tag's secrets by another condition (or none) is no guard.
    let unconditioned = text.replacen(
        "                  - StringNotEquals:\n",
        "                  - StringNotLike:\n",
        1,
    );
    assert_ne!(unconditioned, text, "the edit applies");
    let problems = iam_problems(&files, &unconditioned);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("federated (defaults): no Deny")
                && p.contains(
                    "StringNotEquals secretsmanager:ResourceTag/jamf-entra-rotator:target"
                )),
        "{problems:#?}"
    );
    assert!(
        !problems.iter().any(|p| p.starts_with("targets by ARN")),
        "{problems:#?}"
    );
}

#[test]
fn the_iam_check_fails_when_rotate_secret_may_name_another_function() {
    let files = sources();
    let text = template_text();
    let pin = format!(
        "                  - ArnEquals:\n                      secretsmanager:RotationLambdaARN: !Sub {}\n",
        iam::OWN_FUNCTION
    );
    // By tag (the tag condition alone left)…
    let unpinned = text.replacen(
        &format!("{pin}                    StringEquals:\n"),
        "                  - StringEquals:\n",
        1,
    );
    assert_ne!(unpinned, text, "the edit applies");
    let problems = iam_problems(&files, &unpinned);
    assert!(
        problems.contains(&format!(
            "federated (defaults): secretsmanager:RotateSecret on [\"*\"] without the condition secretsmanager:RotationLambdaARN = {}: the role could hand a rotation to another function",
            iam::OWN_FUNCTION
        )),
        "{problems:#?}"
    );
    // …and by ARN (no condition).
    let unpinned = text.replacen(
        &format!("{pin}              # The tag's"),
        "                  - !Ref AWS::NoValue\n              # The tag's",
        1,
    );
    assert_ne!(unpinned, text, "the edit applies");
    let problems = iam_problems(&files, &unpinned);
    assert!(
        problems.contains(&format!(
            "targets by ARN: secretsmanager:RotateSecret on [\"TargetSecretArns\"] without the condition secretsmanager:RotationLambdaARN = {}: the role could hand a rotation to another function",
            iam::OWN_FUNCTION
        )),
        "{problems:#?}"
    );
    // Self-rotation's own RotateSecret is pinned too.
    let own = format!(
        "                  Condition:\n                    ArnEquals:\n                      secretsmanager:RotationLambdaARN: !Sub {}\n",
        iam::OWN_FUNCTION
    );
    let unpinned = text.replacen(&own, "", 1);
    assert_ne!(unpinned, text, "the edit applies");
    let problems = iam_problems(&files, &unpinned);
    assert!(
        problems.iter().any(|p| p.starts_with("client-secret: secretsmanager:RotateSecret on [\"RotatorCredentialsSecretArn\"] without the condition")),
        "{problems:#?}"
    );
}

#[test]
fn the_iam_check_fails_when_the_code_gains_a_call() {
    let text = template_text();
    // The engine starts deleting secrets through a new store method…
    let mut files = sources();
    let store = files
        .iter_mut()
        .find(|f| f.code.contains("impl SecretStore for AwsSecretStore"))
        .unwrap();
    *store = File::new(
        &store.path.clone(),
        &format!(
            "{}\nimpl SecretStore for AwsSecretStore {{ async fn promote(&self) {{ self.client.delete_secret().send().await; }} }}",
            std::fs::read_to_string(source::repo_root().join(&store.path)).unwrap()
        ),
    );
    let problems = iam_problems(&files, &text);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("missing: secretsmanager:DeleteSecret on TargetSecretArns")),
        "{problems:#?}"
    );
    // …or a module the model does not know calls AWS.
    let mut files = sources();
    files.push(File::new(
        "crates/lambda/src/reports.rs",
        "use aws_sdk_sns::Client; async fn f(client: Client) { client.create_topic().send().await; }",
    ));
    let err = iam::calls(&files).unwrap_err();
    assert!(
        err.iter()
            .any(|p| p.contains("crates/lambda/src/reports.rs: f: .create_topic() (sns)")),
        "{err:#?}"
    );
}

#[test]
fn every_variable_the_code_reads_is_set_or_documented() {
    let files = sources();
    let reads = env::reads(&files);
    for name in [
        "TARGET_SECRET_IDS",
        "ROTATOR_AUTH",
        "PROPAGATION_TIMEOUT_SECS",
        "AWS_LAMBDA_LOG_LEVEL",
        "RUST_LOG",
        "JER_CLIENT_SECRET",
    ] {
        assert!(reads.contains_key(name), "{name} not found in {reads:#?}");
    }
    let doc = cfn::template();
    for (name, params) in scenarios() {
        let problems = env::problems(&files, &Deployment::new(&doc, &params), &readme());
        assert!(problems.is_empty(), "{name}: {problems:#?}");
    }
}

#[test]
fn the_environment_check_fails_on_an_unset_setting_a_dead_one_or_a_stale_row() {
    let doc = cfn::template();
    let d = Deployment::new(&doc, &[]);
    // The code reads a new setting nobody sets or documents.
    let mut files = sources();
    files.push(File::new(
        "src/knob.rs",
        r#"fn knob() -> Option<String> { std::env::var("ROTATION_KNOB").ok() }"#,
    ));
    let problems = env::problems(&files, &d, &readme());
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("ROTATION_KNOB is read")),
        "{problems:#?}"
    );
    // The template sets a variable nothing reads.
    let text = template_text().replacen(
        "          ROTATOR_AUTH: !Ref RotatorAuth\n",
        "          ROTATOR_AUTH: !Ref RotatorAuth\n          ROTATOR_MODE: fast\n",
        1,
    );
    let doc2: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let problems = env::problems(&sources(), &Deployment::new(&doc2, &[]), &readme());
    assert_eq!(
        problems,
        ["template.yaml sets ROTATOR_MODE, which nothing reads"]
    );
    // The README loses the row of an optional setting the template does not set.
    let readme = readme();
    let row = readme
        .lines()
        .find(|l| l.starts_with("| `HTTP_TIMEOUT_SECS`"))
        .expect("the row");
    let problems = env::problems(&sources(), &d, &readme.replace(row, ""));
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("HTTP_TIMEOUT_SECS is read")),
        "{problems:#?}"
    );
}

#[test]
fn the_lexer_keeps_calls_and_literals_apart_from_comments() {
    let f = File::new(
        "src/x.rs",
        "// store.put_pending(\"NOT_READ\")\nfn a() { let c = '\"'; x.store.value_at(\"A_B\", r#\"C_D\"#); /* .publish( */ }\n#[cfg(test)]\nmod tests { fn t() { std::env::var(\"TEST_ONLY\"); } }",
    );
    assert_eq!(f.literals, ["A_B", "C_D"]);
    let fns = f.functions();
    assert_eq!(fns.len(), 1, "{fns:?}");
    let calls = source::method_calls(&fns[0].1);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, "value_at");
    assert!(calls[0].1.ends_with(";x.store"), "{calls:?}");
}
