//! The deployment scripts: each parses, answers a wrong call with its usage line, and
//! `setup-azure --dry-run` prints the Azure CLI steps without running any. The first-deploy
//! runbook's dry run, walked: every name and ARN a step uses exists (a step before produced it),
//! the Entra side comes before the deploy and trusts the role the template will name, and no
//! tool runs. `setup-azure` run against stand-in `az` and `aws` commands: it reuses what exists,
//! and never leaves a client secret on the app that nothing stores.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script(name: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg(format!(
        "{}/scripts/{name}",
        crate::common::moto::repo_root().display()
    ));
    c
}

#[test]
fn every_script_parses_and_a_wrong_call_prints_its_usage() {
    for name in [
        "bench-fleet",
        "build",
        "deploy",
        "first-deploy",
        "invoke",
        "local",
        "runbook.sh",
        "setup-azure",
        "setup-jamf",
    ] {
        let path = format!(
            "{}/scripts/{name}",
            crate::common::moto::repo_root().display()
        );
        let parsed = Command::new("bash").args(["-n", &path]).status().unwrap();
        assert!(parsed.success(), "{name} does not parse");
    }
    for (name, args) in [
        ("build", &["extra"][..]),
        ("bench-fleet", &["--bogus"]),
        ("invoke", &["explode"]),
        ("setup-azure", &[]),
        ("setup-jamf", &[]),
        ("first-deploy", &[]),
    ] {
        let out = script(name).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!("scripts/{name}")),
            "{name} prints its usage"
        );
    }
}

#[test]
fn setup_azure_dry_run_prints_the_steps_and_runs_nothing() {
    let jamf_app = "11111111-2222-3333-4444-555555555555";
    // An `az` that fails loudly if called: a dry run must not call it.
    let out = script("setup-azure")
        .args([
            "--dry-run",
            "--jamf-app-id",
            jamf_app,
            "--auth",
            "client-secret",
        ])
        .env("PATH", "/nonexistent:/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stderr);
    for step in [
        "az ad app create",
        "az ad sp create",
        "--api 00000003-0000-0000-c000-000000000000 --api-permissions 18a4783c-866b-4cc7-a460-3d5e5662c884=Role",
        "az ad app permission admin-consent",
        &format!("az ad app owner add --id {jamf_app}"),
        "aws secretsmanager create-secret",
    ] {
        assert!(printed.contains(step), "missing step {step:?} in:\n{printed}");
    }
}

/// A directory of stand-in commands: each named script runs `body` (a shell snippet) after
/// appending its name and arguments to `calls.log` in the directory.
fn stand_ins(commands: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jer-stand-ins-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in commands {
        let path = dir.join(name);
        let script = format!(
            "#!/bin/bash\necho \"{name} $*\" >> '{}/calls.log'\n{body}\n",
            dir.display()
        );
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
}

/// `PATH` with the stand-ins first, then the system (python3, sed, …).
fn path_with(dir: &Path) -> String {
    format!("{}:/usr/bin:/bin", dir.display())
}

/// The placeholders (`<rotator-app-id>`) in `text`.
fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let tail = &rest[start + 1..];
        let len = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
            .unwrap_or(tail.len());
        if len > 0 && tail[len..].starts_with('>') {
            out.push(format!("<{}>", &tail[..len]));
        }
        rest = tail;
    }
    out
}

/// The template's `RoleName` for the stack `stack`.
fn role_name_for(stack: &str) -> String {
    let text =
        std::fs::read_to_string(crate::common::moto::repo_root().join("template.yaml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("RoleName: !Sub "))
        .expect("the function's role has a RoleName");
    line.trim_start()
        .trim_start_matches("RoleName: !Sub ")
        .replace("${AWS::StackName}", stack)
}

/// The template's parameters: `(name, has a default)`.
fn template_parameters() -> Vec<(String, bool)> {
    let text =
        std::fs::read_to_string(crate::common::moto::repo_root().join("template.yaml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    doc["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.get("Default").is_some()))
        .collect()
}

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[test]
fn the_first_deploy_dry_run_uses_every_name_and_arn_only_after_a_step_made_it() {
    let tools = [
        "aws",
        "az",
        "sam",
        "cargo",
        "cargo-lambda",
        "rustup",
        "curl",
        "openssl",
    ];
    let dir = stand_ins(&tools.map(|t| (t, "exit 97")));
    let (stack, function) = ("jer-prod", "jer-prod-fn");
    let out = script("first-deploy")
        .args([
            "--dry-run",
            "--tenant-id",
            "contoso.onmicrosoft.com",
            "--jamf-url",
            "https://example.jamfcloud.com",
            "--jamf-app-id",
            "11111111-2222-3333-4444-555555555555",
            "--test-recipient",
            "it@example.com",
            "--stack",
            stack,
            "--function-name",
            function,
            "--kms-key-id",
            KEY,
        ])
        .env("PATH", path_with(&dir))
        .env("JER_CLIENT_SECRET", "jamf-secret-value-7Q")
        .env("JAMF_ADMIN_USER", "admin")
        .env("JAMF_ADMIN_PASSWORD", "admin-password-9Z")
        .env_remove("AWS_REGION")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{printed}");
    assert_eq!(calls(&dir), "", "a dry run runs no tool");
    for secret in ["jamf-secret-value-7Q", "admin-password-9Z"] {
        assert!(
            !printed.contains(secret),
            "a secret in the dry run's output"
        );
    }

    let commands: Vec<&str> = printed.lines().filter(|l| l.starts_with("$ ")).collect();
    let mut made: Vec<String> = Vec::new();
    for line in &commands {
        let (command, produces) = line.rsplit_once(" -> ").unwrap_or((line, ""));
        for used in placeholders(command) {
            assert!(
                made.contains(&used),
                "{used} is used before a step made it:\n{line}"
            );
        }
        made.extend(placeholders(produces));
    }
    for needed in [
        "<rotator-app-id>",
        "<jamf-credentials-secret-arn>",
        "<jamf-secret-key-id>",
        "<target-secret-arn>",
    ] {
        assert!(made.contains(&needed.to_string()), "nothing makes {needed}");
    }

    let at = |what: &str| {
        commands
            .iter()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no step {what:?} in:\n{printed}"))
    };
    let order = [
        "aws iam enable-outbound-web-identity-federation",
        "az ad app federated-credential create",
        "aws secretsmanager create-secret --name jamf-entra-rotator/jamf-smtp-graph",
        "jamf-entra-rotator init --secret-id jamf-entra-rotator/smtp-graph",
        "sam build",
        "sam deploy",
        "aws cloudformation describe-stacks",
        "scripts/invoke check",
    ];
    for pair in order.windows(2) {
        assert!(
            at(pair[0]) < at(pair[1]),
            "{} must come before {}",
            pair[0],
            pair[1]
        );
    }
    // Entra trusts, before the stack exists, the role the template will name.
    let role = format!(
        "arn:<partition>:iam::<account>:role/{}",
        role_name_for(stack)
    );
    let fic = commands[at("az ad app federated-credential create")];
    assert!(fic.contains(&format!("\"subject\": \"{role}\"")), "{fic}");

    // The deploy names every parameter without a default, and only the template's parameters.
    let deploy = commands[at("sam deploy")];
    let overrides: Vec<(&str, &str)> = deploy
        .split_once("--parameter-overrides ")
        .expect("--parameter-overrides")
        .1
        .split(' ')
        .map(|kv| kv.split_once('=').expect("KEY=VALUE"))
        .collect();
    let params = template_parameters();
    for (k, _) in &overrides {
        assert!(
            params.iter().any(|(p, _)| p == k),
            "{k} is not a template parameter"
        );
    }
    for (p, has_default) in &params {
        assert!(
            *has_default || overrides.iter().any(|(k, _)| k == p),
            "the deploy leaves {p} out"
        );
    }
    assert!(overrides.contains(&("FunctionName", function)));
    assert!(overrides.contains(&("RotatorClientId", "<rotator-app-id>")));
    // The customer managed key: the template's grant, init's new secret, the Jamf credentials.
    assert!(overrides.contains(&("KmsKeyArn", KEY)));
    let init = commands[at("jamf-entra-rotator init")];
    assert!(
        init.contains(&format!("--kms-key-id {KEY}"))
            && init.contains("--key-id <jamf-secret-key-id>"),
        "{init}"
    );
    assert!(commands[at("create-secret --name jamf-entra-rotator/jamf-smtp-graph")].contains(KEY));
    assert!(
        deploy.contains("--capabilities CAPABILITY_NAMED_IAM"),
        "{deploy}"
    );
    assert!(commands[at("scripts/invoke check")].contains(&format!("FUNCTION_NAME={function}")));
    assert!(
        printed.contains("success: scripts/invoke exits 0"),
        "{printed}"
    );
}

#[test]
fn setup_azure_run_again_reuses_the_app_its_grants_ownership_and_federated_credential() {
    let issuer = "https://abc.tokens.sts.global.api.aws";
    let role = "arn:aws:iam::111122223333:role/jer-rotator";
    let az = format!(
        r#"case "$*" in
  "ad app list "*) echo app-123 ;;
  "ad sp list "*) echo sp-456 ;;
  "ad app permission list "*) echo 18a4783c-866b-4cc7-a460-3d5e5662c884 ;;
  "ad app permission admin-consent "*) ;;
  "ad app owner list "*) echo sp-456 ;;
  "ad app federated-credential list "*) printf '%s\t%s\n' '{issuer}' '{role}' ;;
  *) echo "unexpected az $*" >&2; exit 97 ;;
esac"#
    );
    let dir = stand_ins(&[("az", az.as_str()), ("aws", "exit 97")]);

    let out = script("setup-azure")
        .args([
            "--jamf-app-id",
            "jamf-app",
            "--role-arn",
            role,
            "--issuer",
            issuer,
        ])
        .env("PATH", path_with(&dir))
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ROTATOR_CLIENT_ID=app-123"
    );
    let log = calls(&dir);
    for change in ["create", " add ", "update", "reset"] {
        assert!(
            !log.contains(change),
            "a second run changed something ({change}):\n{log}"
        );
    }
    assert!(
        log.contains("ad app permission admin-consent --id app-123"),
        "{log}"
    );
}

#[test]
fn setup_azure_removes_a_client_secret_it_could_not_store() {
    let az = r#"case "$*" in
  "ad app list "*) echo app-123 ;;
  "ad sp list "*) echo sp-456 ;;
  "ad app permission list "*) echo 18a4783c-866b-4cc7-a460-3d5e5662c884 ;;
  "ad app owner list "*) echo sp-456 ;;
  "ad app credential reset "*) echo new-client-secret-XyZ ;;
  "ad app credential list "*) echo key-789 ;;
  *) ;;
esac"#;
    let aws = r#"case "$*" in
  "secretsmanager describe-secret "*) echo "ResourceNotFoundException" >&2; exit 254 ;;
  "secretsmanager create-secret "*) echo arn:aws:secretsmanager:us-east-1:111122223333:secret:rotator-AbCdEf ;;
  "secretsmanager put-secret-value "*) cat >/dev/null; echo "AccessDeniedException" >&2; exit 254 ;;
  *) exit 97 ;;
esac"#;
    let dir = stand_ins(&[("az", az), ("aws", aws)]);

    let out = script("setup-azure")
        .args(["--jamf-app-id", "jamf-app", "--auth", "client-secret"])
        .env("PATH", path_with(&dir))
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "storing failed, so the run fails");
    let log = calls(&dir);
    let created = log
        .find("secretsmanager create-secret")
        .expect("the secret first");
    let reset = log
        .find("ad app credential reset")
        .expect("then the client secret");
    assert!(
        created < reset,
        "the secret exists before the client secret does:\n{log}"
    );
    assert!(
        log.contains("--append"),
        "earlier client secrets stay:\n{log}"
    );
    assert!(
        log.contains("ad app credential delete --id app-123 --key-id key-789"),
        "the unstored client secret is removed from the app:\n{log}"
    );
    assert!(stderr.contains("removed from the app again"), "{stderr}");
    let everything = format!("{stderr}{}{log}", String::from_utf8_lossy(&out.stdout));
    assert!(
        !everything.contains("new-client-secret-XyZ"),
        "the client secret was printed"
    );
}
