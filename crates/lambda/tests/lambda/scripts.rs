//! The deployment scripts: each parses, answers a wrong call with its usage line, and
//! `setup-azure --dry-run` prints the Azure CLI steps without running any. The first-deploy
//! runbook's dry run, walked: every name and ARN a step uses exists (a step before produced it),
//! the Entra side comes before the deploy and trusts the role the template will name, and no
//! tool runs. `setup-azure` run against stand-in `az` and `aws` commands: it reuses what exists,
//! and never leaves a client secret on the app that nothing stores. The runbook heals itself: a
//! missing region is named, an empty credentials secret is filled, the first contact is `status`,
//! auto and fan-out set the rotation function, samconfig.toml is saved and used, and a stack left
//! in ROLLBACK_COMPLETE is deleted before the deploy; operators get their own federated credential
//! and `scripts/operator-env` the deployed settings.

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
        "operator-env",
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
        ("operator-env", &["--bogus"]),
    ] {
        let out = script(name).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!("scripts/{name}")),
            "{name} prints its usage"
        );
    }
}

const OWNED_BY: &str = "18a4783c-866b-4cc7-a460-3d5e5662c884";
const POLICY_READ: &str = "246dd0d5-5bd0-4def-940b-0421030a5b68";
const AUDIT_LOG: &str = "b0afded3-3588-46d8-8b3d-9842eff778da";
const GRAPH_APP: &str = "00000003-0000-0000-c000-000000000000";

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
        // A Graph POST makes a new app; `az ad app create` would patch one of the same name.
        "az rest --method POST --url https://graph.microsoft.com/v1.0/applications",
        &format!(
            r#""requiredResourceAccess": [{{"resourceAppId": "{GRAPH_APP}", "resourceAccess": [{{"id": "{OWNED_BY}", "type": "Role"}}]}}]"#
        ),
        "az ad sp create",
        &format!(
            r#"az rest --method POST --url https://graph.microsoft.com/v1.0/servicePrincipals/<graph-sp-object-id>/appRoleAssignedTo --headers Content-Type=application/json --body '{{"principalId": "<rotator-sp-object-id>", "resourceId": "<graph-sp-object-id>", "appRoleId": "{OWNED_BY}"}}'"#
        ),
        &format!("az ad app owner add --id {jamf_app}"),
        "aws secretsmanager create-secret",
    ] {
        assert!(
            printed.contains(step),
            "missing step {step:?} in:\n{printed}"
        );
    }
    for never in [
        "admin-consent",
        "az ad app list",
        "displayName eq",
        "az ad app create",
    ] {
        assert!(
            !printed.contains(never),
            "a new app is made, never found by name or consented wholesale ({never}):\n{printed}"
        );
    }
}

/// A stand-in `az` for an Entra tenant where the app `app-123` (service principal `sp-456`) is
/// pinned: `app` is its JSON (`az ad app show`), `owners` its owners, `sp` its service
/// principal's, `granted` the app role assignments of that service principal. The signed-in
/// user is `me-1`; Microsoft Graph's service principal is `graph-sp`; the Jamf Pro app
/// `jamf-app` is owned by `sp-456` already. Anything else fails (97).
fn pinned_app_az(app: &str, owners: &str, sp: &str, granted: &str) -> String {
    format!(
        r#"case "$*" in
  "cloud show "*) echo https://graph.microsoft.com/ ;;
  "ad signed-in-user show "*) echo me-1 ;;
  "ad sp show --id {GRAPH_APP} "*) echo graph-sp ;;
  "ad app show --id app-123 -o json") echo '{app}' ;;
  "ad app owner list --id app-123 -o json") echo '{owners}' ;;
  "ad app owner list --id jamf-app "*) echo sp-456 ;;
  "ad app federated-credential list --id app-123 -o json") echo '[]' ;;
  "ad sp list --filter appId eq 'app-123' -o json") echo '[{sp}]' ;;
  "ad sp owner list --id sp-456 -o json") echo '[]' ;;
  "rest --method GET --url https://graph.microsoft.com/v1.0/servicePrincipals/sp-456/appRoleAssignments") echo '{{"value": {granted}}}' ;;
  *) echo "unexpected az $*" >&2; exit 97 ;;
esac"#
    )
}

/// The pinned app as this script leaves it: requesting `roles` of Graph, no credentials.
fn clean_app(roles: &[&str]) -> String {
    let access: Vec<String> = roles
        .iter()
        .map(|r| format!(r#"{{"id": "{r}", "type": "Role"}}"#))
        .collect();
    format!(
        r#"{{"appId": "app-123", "passwordCredentials": [], "keyCredentials": [], "requiredResourceAccess": [{{"resourceAppId": "{GRAPH_APP}", "resourceAccess": [{}]}}]}}"#,
        access.join(", ")
    )
}

const ME_OWNER: &str = r#"[{"id": "me-1", "userPrincipalName": "admin@contoso.com"}]"#;
const CLEAN_SP: &str = r#"{"id": "sp-456", "passwordCredentials": [], "keyCredentials": []}"#;

/// `setup-azure --dry-run --rotator-app-id app-123` against `az`: its output and the calls made.
fn pinned_dry_run(az: &str, extra: &[&str]) -> (std::process::Output, String) {
    let dir = stand_ins(&[("az", az), ("aws", "exit 97")]);
    let out = script("setup-azure")
        .args(["--dry-run", "--rotator-app-id", "app-123"])
        .args(["--jamf-app-id", "jamf-app", "--auth", "client-secret"])
        .args(extra)
        .env("PATH", path_with(&dir))
        .output()
        .unwrap();
    (out, calls(&dir))
}

#[test]
fn setup_azure_refuses_a_pinned_app_with_an_unexpected_owner_or_extra_permissions() {
    let directory_rw = "19dbc75e-c2e2-444c-a770-ec69d8559fc7"; // Directory.ReadWrite.All
    let extra_permissions = format!(
        r#"{{"appId": "app-123", "passwordCredentials": [], "keyCredentials": [], "requiredResourceAccess": [{{"resourceAppId": "{GRAPH_APP}", "resourceAccess": [{{"id": "{OWNED_BY}", "type": "Role"}}, {{"id": "{directory_rw}", "type": "Role"}}, {{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}}]}}]}}"#
    );
    let squatter = r#"[{"id": "me-1", "userPrincipalName": "admin@contoso.com"}, {"id": "user-9", "userPrincipalName": "mallory@contoso.com"}]"#;
    let sp_secret = r#"{"id": "sp-456", "passwordCredentials": [{"keyId": "key-sp-1", "displayName": "jamf-entra-rotator"}], "keyCredentials": []}"#;
    let cases = [
        (
            "an owner who is not you",
            pinned_app_az(&clean_app(&[OWNED_BY]), squatter, CLEAN_SP, "[]"),
            vec!["owner of the app: user-9 (mallory@contoso.com)".to_string()],
        ),
        (
            "extra requested permissions",
            pinned_app_az(&extra_permissions, ME_OWNER, CLEAN_SP, "[]"),
            vec![
                format!("requested permission: Role {directory_rw} of API {GRAPH_APP}"),
                format!("requested permission: Scope e1fe6dd8-ba31-4d61-89e7-88639da4683d of API {GRAPH_APP}"),
            ],
        ),
        (
            "a client secret on its service principal, a role granted beyond the set",
            pinned_app_az(
                &clean_app(&[OWNED_BY]),
                ME_OWNER,
                sp_secret,
                &format!(r#"[{{"resourceId": "graph-sp", "appRoleId": "{directory_rw}", "resourceDisplayName": "Microsoft Graph"}}]"#),
            ),
            vec![
                "client secret on the service principal: key id key-sp-1 (jamf-entra-rotator)".to_string(),
                format!("granted app role: {directory_rw} of Microsoft Graph"),
            ],
        ),
    ];
    for (what, az, listed) in cases {
        let (out, log) = pinned_dry_run(&az, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: refused\n{stderr}");
        assert!(
            stderr.contains("refused: app registration app-123 (--rotator-app-id) holds what this rotator does not expect; nothing was changed"),
            "{what}: {stderr}"
        );
        for item in listed {
            assert!(
                stderr.contains(&format!("  - {item}\n")),
                "{what}: {item:?} not listed in\n{stderr}"
            );
        }
        assert!(
            !stderr.contains("owner of the app: me-1"),
            "{what}: you are an expected owner\n{stderr}"
        );
        for change in [
            "create",
            " add ",
            "update",
            "reset",
            "POST",
            "admin-consent",
        ] {
            assert!(
                !log.contains(change) && !stderr.contains(&format!("$ az {change}")),
                "{what}: a refused app is not changed ({change}):\n{log}"
            );
        }
        assert!(
            out.stdout.is_empty(),
            "{what}: no ROTATOR_CLIENT_ID for a refused app"
        );
    }

    // An owner or credential that is yours, named as such, passes.
    let (out, _) = pinned_dry_run(
        &pinned_app_az(&clean_app(&[OWNED_BY]), squatter, sp_secret, "[]"),
        &["--known-owner", "user-9", "--known-credential", "key-sp-1"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn setup_azure_dry_run_grants_a_pinned_app_exactly_its_roles() {
    // The pinned app requests and holds OwnedBy already; --grant-policy-read adds Policy.Read.All.
    let az = pinned_app_az(
        &clean_app(&[OWNED_BY]),
        ME_OWNER,
        CLEAN_SP,
        &format!(r#"[{{"resourceId": "graph-sp", "appRoleId": "{OWNED_BY}"}}]"#),
    );
    let (out, log) = pinned_dry_run(&az, &["--grant-policy-read"]);
    let printed = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next(),
        Some("ROTATOR_CLIENT_ID=app-123")
    );
    let changes: Vec<&str> = printed
        .lines()
        .filter(|l| {
            l.starts_with("$ az ")
                && !l.ends_with("(read)")
                && !l.contains("(nothing on a first deploy)")
        })
        .collect();
    let grants: Vec<&&str> = changes
        .iter()
        .filter(|l| l.contains("appRoleAssignedTo"))
        .collect();
    assert_eq!(
        grants,
        [&format!(r#"$ az rest --method POST --url https://graph.microsoft.com/v1.0/servicePrincipals/graph-sp/appRoleAssignedTo --headers Content-Type=application/json --body '{{"principalId": "sp-456", "resourceId": "graph-sp", "appRoleId": "{POLICY_READ}"}}'"#).as_str()],
        "exactly the role not held yet is granted:\n{printed}"
    );
    assert!(
        changes.contains(&format!("$ az ad app permission add --id app-123 --api {GRAPH_APP} --api-permissions {POLICY_READ}=Role").as_str()),
        "the app declares the role it is granted:\n{printed}"
    );
    assert!(
        printed.contains(&format!("Graph app role {OWNED_BY} already granted")),
        "{printed}"
    );
    for never in [
        "admin-consent",
        AUDIT_LOG,
        "ad app create",
        "ad sp create",
        "ad app owner add",
    ] {
        assert!(!printed.contains(never), "{never} in:\n{printed}");
    }
    // The dry run read the pinned app and changed nothing.
    for change in ["create", " add ", "update", "reset", "POST"] {
        assert!(
            !log.contains(change),
            "a dry run changed something ({change}):\n{log}"
        );
    }
    assert!(log.contains("az ad app show --id app-123 -o json"), "{log}");
}

/// A directory of stand-in commands: each named script runs `body` (a shell snippet) after
/// appending its name and arguments to `calls.log` in the directory.
pub(crate) fn stand_ins(commands: &[(&str, &str)]) -> PathBuf {
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

pub(crate) fn calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
}

/// `PATH` with the stand-ins first, then the system (python3, sed, …).
pub(crate) fn path_with(dir: &Path) -> String {
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
    // The operator's CLI: without the `sim` feature (no stand-ins, no test keys: check-shipped
    // proves that build holds no test kit), from the committed Cargo.lock.
    let cli_build = commands[at("cargo build")];
    assert!(
        cli_build.starts_with(
            "$ cargo build --release --locked --no-default-features --bin jamf-entra-rotator "
        ),
        "{cli_build}"
    );
    let order = [
        "aws iam enable-outbound-web-identity-federation",
        "az ad app federated-credential create",
        "aws secretsmanager create-secret --name jamf-entra-rotator/jamf-smtp-graph",
        "jamf-entra-rotator init --secret-id jamf-entra-rotator/smtp-graph",
        "sam build",
        "sam deploy",
        "RotatorRoleArn",
        "aws secretsmanager rotate-secret",
        "scripts/invoke status",
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
    // The first contact reads (status), never rotates.
    assert!(commands[at("scripts/invoke status")].contains(&format!("FUNCTION_NAME={function}")));
    assert!(
        !commands.iter().any(|c| c.contains("scripts/invoke check")
            || c.contains("scripts/invoke rotate")
            || c.contains("scripts/invoke emergency")),
        "{printed}"
    );
    assert!(
        printed.contains("success: scripts/invoke status exits 0"),
        "{printed}"
    );
    // samconfig.toml saved, so a later bare scripts/deploy does not fall into --guided.
    assert!(deploy.contains("--save-params"), "{deploy}");
    // RotationMode auto (the default) hands rotations to Secrets Manager: the target names the
    // deployed function as its rotation function, without a rotation now.
    assert!(overrides.contains(&("RotationMode", "auto")));
    let rotation = commands[at("aws secretsmanager rotate-secret")];
    assert!(
        rotation.contains("--secret-id <target-secret-arn>")
            && rotation.contains("--rotation-lambda-arn <function-arn>")
            && rotation.contains("--no-rotate-immediately"),
        "{rotation}"
    );
}

/// The first deploy's dry run with `extra` flags (and stand-ins that fail if called): its
/// printed commands.
fn first_deploy_dry_run(extra: &[&str]) -> String {
    let tools = [
        "aws",
        "az",
        "sam",
        "cargo",
        "cargo-lambda",
        "rustup",
        "curl",
    ];
    let dir = stand_ins(&tools.map(|t| (t, "exit 97")));
    let out = script("first-deploy")
        .args(["--dry-run", "--tenant-id", "contoso.onmicrosoft.com"])
        .args(["--jamf-url", "https://example.jamfcloud.com"])
        .args(["--jamf-app-id", "11111111-2222-3333-4444-555555555555"])
        .args(["--region", "eu-west-1"])
        .args(extra)
        .env("PATH", path_with(&dir))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{printed}");
    assert_eq!(calls(&dir), "", "a dry run runs no tool");
    printed
}

#[test]
fn first_deploy_sets_the_rotation_function_only_when_rotations_are_handed_to_secrets_manager() {
    let recipient = ["--test-recipient", "it@example.com"];
    let fan_out = first_deploy_dry_run(&[&recipient[..], &["--rotation-mode", "fan-out"]].concat());
    assert!(fan_out.contains("RotationMode=fan-out"), "{fan_out}");
    assert!(
        fan_out.contains("$ aws secretsmanager rotate-secret --secret-id <target-secret-arn> --region eu-west-1 --rotation-lambda-arn <function-arn> --no-rotate-immediately"),
        "{fan_out}"
    );
    let in_process =
        first_deploy_dry_run(&[&recipient[..], &["--rotation-mode", "in-process"]].concat());
    assert!(
        in_process.contains("RotationMode=in-process"),
        "{in_process}"
    );
    assert!(!in_process.contains("rotate-secret"), "{in_process}");
    // conditional-access: the first contact is status and probe, read only.
    let ca = first_deploy_dry_run(&["--target", "conditional-access"]);
    let status = ca.find("scripts/invoke status").expect("status first");
    let probe = ca
        .find("jamf-entra-rotator probe --secret-id jamf-entra-rotator/conditional-access")
        .unwrap_or_else(|| panic!("probe: {ca}"));
    assert!(status < probe, "{ca}");
    assert!(!ca.contains("scripts/invoke check"), "{ca}");
}

#[test]
fn first_deploy_passes_each_operator_role_to_setup_azure() {
    let printed = first_deploy_dry_run(&[
        "--test-recipient",
        "it@example.com",
        "--operator-role-arn",
        "arn:aws:iam::111122223333:role/jer-operators",
    ]);
    let fics: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("$ az ad app federated-credential create"))
        .collect();
    assert_eq!(
        fics.len(),
        2,
        "the function's and the operator's:\n{printed}"
    );
    assert!(
        fics[0].contains(r#""name": "aws-outbound-federation""#),
        "{}",
        fics[0]
    );
    assert!(
        fics[1].contains(r#""name": "operator-jer-operators""#)
            && fics[1].contains(r#""subject": "arn:aws:iam::111122223333:role/jer-operators""#),
        "{}",
        fics[1]
    );
}

#[test]
fn first_deploy_without_a_region_stops_at_once_and_says_how_to_give_one() {
    let aws = r#"case "$*" in
  "configure get region") exit 1 ;;
  *) exit 97 ;;
esac"#;
    let dir = stand_ins(&[("aws", aws)]);
    let out = script("first-deploy")
        .args(["--tenant-id", "contoso.onmicrosoft.com"])
        .args(["--jamf-url", "https://example.jamfcloud.com"])
        .args(["--jamf-app-id", "11111111-2222-3333-4444-555555555555"])
        .args(["--test-recipient", "it@example.com"])
        .env("PATH", path_with(&dir))
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no AWS region") && stderr.contains("--region"),
        "{stderr}"
    );
    assert_eq!(
        calls(&dir).trim(),
        "aws configure get region",
        "nothing else ran"
    );
}

#[test]
fn setup_azure_run_again_reuses_the_pinned_app_its_grants_ownership_and_federated_credential() {
    let issuer = "https://abc.tokens.sts.global.api.aws";
    let role = "arn:aws:iam::111122223333:role/jer-rotator";
    let az = pinned_app_az(
        &clean_app(&[OWNED_BY]),
        ME_OWNER,
        CLEAN_SP,
        &format!(r#"[{{"resourceId": "graph-sp", "appRoleId": "{OWNED_BY}"}}]"#),
    )
    .replace(
        r#""ad app federated-credential list --id app-123 -o json") echo '[]' ;;"#,
        &format!(
            r#""ad app federated-credential list --id app-123 -o json") echo '[{{"name": "aws-outbound-federation", "issuer": "{issuer}", "subject": "{role}"}}]' ;;"#
        ),
    );
    let dir = stand_ins(&[("az", az.as_str()), ("aws", "exit 97")]);

    let out = script("setup-azure")
        .args(["--rotator-app-id", "app-123", "--jamf-app-id", "jamf-app"])
        .args(["--role-arn", role, "--issuer", issuer])
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
    for change in [
        "create",
        " add ",
        "update",
        "reset",
        "POST",
        "admin-consent",
    ] {
        assert!(
            !log.contains(change),
            "a second run changed something ({change}):\n{log}"
        );
    }
}

#[test]
fn setup_azure_removes_a_client_secret_it_could_not_store() {
    let az = pinned_app_az(
        &clean_app(&[OWNED_BY]),
        ME_OWNER,
        CLEAN_SP,
        &format!(r#"[{{"resourceId": "graph-sp", "appRoleId": "{OWNED_BY}"}}]"#),
    )
    .replace(
        "  *) echo \"unexpected",
        "  \"ad app credential reset \"*) echo new-client-secret-XyZ ;;\n  \"ad app credential list \"*) echo key-789 ;;\n  \"ad app credential delete \"*) ;;\n  *) echo \"unexpected",
    );
    let aws = r#"case "$*" in
  "secretsmanager describe-secret "*) echo "ResourceNotFoundException" >&2; exit 254 ;;
  "secretsmanager create-secret "*) echo arn:aws:secretsmanager:us-east-1:111122223333:secret:rotator-AbCdEf ;;
  "secretsmanager put-secret-value "*) cat >/dev/null; echo "AccessDeniedException" >&2; exit 254 ;;
  *) exit 97 ;;
esac"#;
    let dir = stand_ins(&[("az", az.as_str()), ("aws", aws)]);

    let out = script("setup-azure")
        .args(["--rotator-app-id", "app-123"])
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

/// A Jamf Pro administrator's password with every character a curl config line could trip on.
const HOSTILE_PASSWORD: &str = r#"a "quoted\ pass\\" word $(x) `y` ;&|<>*?!#%^~'=end"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_jamf_hands_a_password_with_quotes_and_backslashes_to_jamf_pro_intact() {
    use rotator_testkit::jamf::{JamfSim, JamfSimConfig};
    let jamf = JamfSim::start(
        JamfSimConfig {
            entra_login_url: url::Url::parse("http://127.0.0.1:9/").unwrap(),
            tenant_id: "tenant".into(),
            client_id: "client".into(),
            secret: secrecy::SecretString::from("unused"),
            cloud: rotator_engine::config::Cloud::Global,
        },
        std::sync::Arc::new(rotator_engine::clock::SystemClock),
    )
    .await;
    jamf.add_user("admin", HOSTILE_PASSWORD);
    // The real curl, whose config (on stdin) carries the password, reaches the stand-in for the
    // token and its invalidation; the stand-in has no API roles or clients, so those answer here.
    let sim = jamf.url().to_string();
    let curl = format!(
        r#"url="${{@: -1}}"
case "$url" in
  */api/v1/auth/token | */api/v1/auth/invalidate-token) exec /usr/bin/curl "${{@:1:$#-1}}" "${{url/https:\/\/jamf.example.com\//{sim}}}" ;;
  */api/v1/api-roles\?* | */api/v1/api-integrations\?*) cat >/dev/null; echo '{{"totalCount": 0, "results": []}}' ;;
  */client-credentials) cat >/dev/null; echo '{{"clientId": "c-1", "clientSecret": "s-1"}}' ;;
  *) cat >/dev/null; echo '{{"id": "7"}}' ;;
esac"#
    );
    let aws = r#"case "$*" in
  "secretsmanager describe-secret "*) exit 254 ;;
  "secretsmanager create-secret "*) echo arn:aws:secretsmanager:us-east-1:111122223333:secret:jamf-AbCdEf ;;
  "secretsmanager put-secret-value "*) cat >/dev/null ;;
  *) exit 97 ;;
esac"#;
    let dir = stand_ins(&[("curl", curl.as_str()), ("aws", aws)]);

    let mut run = script("setup-jamf");
    run.args([
        "--jamf-url",
        "https://jamf.example.com",
        "--target",
        "smtp-graph",
    ])
    .env("PATH", path_with(&dir))
    .env("JAMF_ADMIN_USER", "admin")
    .env("JAMF_ADMIN_PASSWORD", HOSTILE_PASSWORD);
    // The stand-in serves on this runtime while the script runs.
    let out = tokio::task::spawn_blocking(move || run.output())
        .await
        .unwrap()
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let seen: Vec<(String, String, u16)> = jamf
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.status))
        .collect();
    let status_of = |path: &str| seen.iter().find(|(_, p, _)| p == path).map(|(_, _, s)| *s);
    assert_eq!(
        status_of("/api/v1/auth/token"),
        Some(200),
        "Jamf Pro got the password intact: {seen:?}"
    );
    assert_eq!(
        status_of("/api/v1/auth/invalidate-token"),
        Some(204),
        "and the bearer token it gave: {seen:?}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("JAMF_CREDENTIALS_SECRET_ARN=arn:aws"));
    let log = calls(&dir);
    for part in [HOSTILE_PASSWORD, "quoted", "pass"] {
        assert!(
            !log.contains(part),
            "the password on a command line:\n{log}"
        );
        assert!(!stderr.contains(part), "the password printed:\n{stderr}");
    }
}

#[test]
fn setup_azure_adds_an_operator_credential_beside_the_functions_and_checks_it_on_a_rerun() {
    let issuer = "https://abc.tokens.sts.global.api.aws";
    let role = "arn:aws:iam::111122223333:role/jer-rotator";
    let operator = "arn:aws:iam::111122223333:role/ops/jer-operators";
    let fic = |name: &str, subject: &str| {
        format!(r#"{{"name": "{name}", "issuer": "{issuer}", "subject": "{subject}"}}"#)
    };
    let az = pinned_app_az(
        &clean_app(&[OWNED_BY]),
        ME_OWNER,
        CLEAN_SP,
        &format!(r#"[{{"resourceId": "graph-sp", "appRoleId": "{OWNED_BY}"}}]"#),
    )
    .replace(
        r#""ad app federated-credential list --id app-123 -o json") echo '[]' ;;"#,
        &format!(
            r#""ad app federated-credential list --id app-123 -o json") echo '[{}]' ;;
  "ad app federated-credential create "*) ;;"#,
            fic("aws-outbound-federation", role)
        ),
    );
    let run = |az: &str, extra: &[&str]| {
        let dir = stand_ins(&[("az", az), ("aws", "exit 97")]);
        let out = script("setup-azure")
            .args(["--rotator-app-id", "app-123", "--jamf-app-id", "jamf-app"])
            .args(["--role-arn", role, "--issuer", issuer])
            .args(extra)
            .env("PATH", path_with(&dir))
            .output()
            .unwrap();
        (out, calls(&dir))
    };

    // The first time: one more credential, the function's untouched.
    let (out, log) = run(&az, &["--operator-role-arn", operator]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("federated-credential create") || l.contains("update"))
        .collect();
    assert_eq!(created.len(), 1, "{log}");
    assert!(
        created[0].contains(r#""name": "operator-jer-operators""#)
            && created[0].contains(&format!(r#""subject": "{operator}""#))
            && created[0].contains(&format!(r#""issuer": "{issuer}""#))
            && created[0].contains(r#""audiences": ["api://AzureADTokenExchange"]"#),
        "{log}"
    );

    // A rerun: both credentials there; with the operator role named, nothing changes ...
    let both = az.replace(
        &format!("echo '[{}]'", fic("aws-outbound-federation", role)),
        &format!(
            "echo '[{}, {}]'",
            fic("aws-outbound-federation", role),
            fic("operator-jer-operators", operator)
        ),
    );
    let (out, log) = run(&both, &["--operator-role-arn", operator]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!log.contains("create") && !log.contains("update"), "{log}");
    // ... and without it, the operator's credential is unexpected: refused, nothing changed.
    let (out, log) = run(&both, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("federated credential: operator-jer-operators"),
        "{stderr}"
    );
    assert!(!log.contains("create"), "{log}");

    // Not a role ARN: refused before anything runs.
    let (out, log) = run(
        &az,
        &["--operator-role-arn", "arn:aws:iam::111122223333:user/bob"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an IAM role ARN"));
    assert_eq!(log, "");
}

#[test]
fn setup_jamf_fills_a_credentials_secret_an_interrupted_run_left_empty() {
    let arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:jamf-AbCdEf";
    let aws = |versions: &str| {
        format!(
            r#"case "$*" in
  "secretsmanager describe-secret "*) echo {arn} ;;
  "secretsmanager list-secret-version-ids "*) echo {versions} ;;
  "secretsmanager put-secret-value "*) cat > "$(dirname "$0")/stored" ;;
  *) exit 97 ;;
esac"#
        )
    };
    let run = |versions: &str| {
        let dir = stand_ins(&[("aws", aws(versions).as_str())]);
        let out = script("setup-jamf")
            .args(["--jamf-url", "https://jamf.example.com"])
            .args(["--target", "conditional-access"])
            .env("PATH", path_with(&dir))
            .env("JAMF_ROTATOR_USER", "rotator")
            .env("JAMF_ROTATOR_PASSWORD", "pw-Secret-42")
            .output()
            .unwrap();
        let stored = std::fs::read_to_string(dir.join("stored")).unwrap_or_default();
        (out, calls(&dir), stored)
    };

    let (out, log, stored) = run("0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        log.contains(&format!(
            "secretsmanager put-secret-value --secret-id {arn}"
        )),
        "the empty secret is filled:\n{log}"
    );
    assert!(!log.contains("create-secret"), "{log}");
    let value: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(value["username"], "rotator");
    assert_eq!(value["jamf_url"], "https://jamf.example.com");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("JAMF_CREDENTIALS_SECRET_ARN={arn}")
    );
    assert!(
        stderr.contains("empty") && !stderr.contains("pw-Secret-42"),
        "{stderr}"
    );

    // Filled: kept as it is.
    let (out, log, _) = run("1");
    assert!(out.status.success());
    assert!(
        !log.contains("put-secret-value") && !log.contains("create-secret"),
        "{log}"
    );
}

/// A copy of the repository's `scripts/deploy` (and what it sources) in a directory of its own,
/// so that it finds no samconfig.toml and no .venv but what a test puts there.
fn deploy_copy() -> PathBuf {
    let root = std::env::temp_dir().join(format!("jer-repo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(root.join("scripts")).unwrap();
    let repo = crate::common::moto::repo_root();
    for name in ["deploy", "runbook.sh"] {
        std::fs::copy(
            repo.join("scripts").join(name),
            root.join("scripts").join(name),
        )
        .unwrap();
    }
    root
}

/// `aws` for a stack left in ROLLBACK_COMPLETE until it is deleted; `sam deploy` exits
/// `deploy_exit`.
fn rollback_stand_ins(deploy_exit: i32) -> PathBuf {
    let aws = r#"state="$(dirname "$0")/deleted"
case "$*" in
  "cloudformation describe-stacks "*) if [[ -f "$state" ]]; then echo "Stack does not exist" >&2; exit 254; else echo ROLLBACK_COMPLETE; fi ;;
  "cloudformation delete-stack "*) touch "$state" ;;
  "cloudformation wait stack-delete-complete "*) ;;
  "cloudformation describe-stack-events "*) echo "RotatorFunction	Specified ReservedConcurrentExecutions decreases the account's UnreservedConcurrentExecution below its minimum" ;;
  *) exit 97 ;;
esac"#;
    let sam = format!(
        r#"case "$1" in build) ;; deploy) [[ {deploy_exit} == 0 ]] || rm -f "$(dirname "$0")/deleted"; exit {deploy_exit} ;; esac"#
    );
    stand_ins(&[
        ("aws", aws),
        ("sam", &sam),
        ("cargo", ""),
        ("cargo-lambda", ""),
    ])
}

#[test]
fn deploy_deletes_a_stack_a_failed_first_deploy_left_in_rollback_complete_then_deploys() {
    let root = deploy_copy();
    let dir = rollback_stand_ins(0);

    let out = Command::new("bash")
        .arg(root.join("scripts/deploy"))
        .args([
            "--stack-name",
            "jer",
            "--region",
            "eu-west-1",
            "--parameter-overrides",
            "A=b",
        ])
        .env("PATH", path_with(&dir))
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("ROLLBACK_COMPLETE"), "{stderr}");
    let log = calls(&dir);
    let at = |what: &str| {
        log.find(what)
            .unwrap_or_else(|| panic!("no {what}:\n{log}"))
    };
    assert!(
        at("aws cloudformation describe-stacks --stack-name jer --region eu-west-1")
            < at("aws cloudformation delete-stack --stack-name jer --region eu-west-1")
    );
    assert!(at("delete-stack") < at("wait stack-delete-complete --stack-name jer"));
    assert!(
        at("wait stack-delete-complete")
            < at("sam deploy --capabilities CAPABILITY_NAMED_IAM --stack-name jer")
    );

    // A deploy that fails and leaves the stack in ROLLBACK_COMPLETE says what failed and that a
    // rerun deletes it.
    let dir = rollback_stand_ins(1);
    std::fs::write(dir.join("deleted"), "").unwrap();
    let out = Command::new("bash")
        .arg(root.join("scripts/deploy"))
        .args(["--stack-name", "jer", "--region", "eu-west-1"])
        .env("PATH", path_with(&dir))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ReservedConcurrentExecutions") && stderr.contains("run again"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn deploy_after_the_first_uses_the_saved_samconfig_never_guided() {
    let root = deploy_copy();
    std::fs::write(
        root.join("samconfig.toml"),
        "version = 0.1\n[default.deploy.parameters]\nstack_name = \"jer-saved\"\nregion = \"eu-west-1\"\n",
    )
    .unwrap();
    let aws = r#"case "$*" in "cloudformation describe-stacks "*) echo UPDATE_COMPLETE ;; *) exit 97 ;; esac"#;
    let dir = stand_ins(&[
        ("aws", aws),
        ("sam", ""),
        ("cargo", ""),
        ("cargo-lambda", ""),
    ]);

    let out = Command::new("bash")
        .arg(root.join("scripts/deploy"))
        .env("PATH", path_with(&dir))
        .output()
        .unwrap();

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = calls(&dir);
    assert!(
        log.contains("sam deploy --capabilities CAPABILITY_NAMED_IAM\n"),
        "{log}"
    );
    assert!(!log.contains("--guided"), "{log}");
    assert!(
        log.contains(
            "aws cloudformation describe-stacks --stack-name jer-saved --region eu-west-1"
        ),
        "the saved stack's status is read:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn operator_env_prints_the_deployed_functions_environment_as_quoted_exports() {
    let env = r#"{"ROTATOR_AUTH": "federated", "TARGET_SECRET_IDS": "arn:a,arn:b", "SMTP_TEST_RECIPIENT": "it's@example.com"}"#;
    let aws = format!(
        r#"case "$*" in
  "cloudformation describe-stacks --stack-name jer --region eu-west-1 "*) echo jer-fn ;;
  "lambda get-function-configuration --function-name jer-fn --region eu-west-1 --query Environment.Variables --output json") echo '{}' ;;
  *) exit 97 ;;
esac"#,
        env.replace('\'', r"'\''")
    );
    let dir = stand_ins(&[("aws", aws.as_str())]);
    let out = script("operator-env")
        .args(["--stack", "jer", "--region", "eu-west-1"])
        .env("PATH", path_with(&dir))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exports = String::from_utf8_lossy(&out.stdout).to_string();

    // What a shell makes of the lines is exactly the deployed environment, and the region.
    let shown = Command::new("bash")
        .arg("-c")
        .arg(r#"eval "$1"; printf '%s\n' "$ROTATOR_AUTH" "$TARGET_SECRET_IDS" "$SMTP_TEST_RECIPIENT" "$AWS_REGION""#)
        .arg("-")
        .arg(&exports)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout),
        "federated\narn:a,arn:b\nit's@example.com\neu-west-1\n",
        "{exports}"
    );

    let out = script("operator-env")
        .args(["--stack", "jer"])
        .env("PATH", path_with(&stand_ins(&[("aws", "exit 1")])))
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no AWS region"));
}

#[test]
fn setup_azure_fills_a_rotator_credentials_secret_an_interrupted_run_left_empty() {
    let az = pinned_app_az(
        &clean_app(&[OWNED_BY]),
        ME_OWNER,
        CLEAN_SP,
        &format!(r#"[{{"resourceId": "graph-sp", "appRoleId": "{OWNED_BY}"}}]"#),
    )
    .replace(
        "  *) echo \"unexpected",
        "  \"ad app credential reset \"*) echo new-client-secret-XyZ ;;\n  *) echo \"unexpected",
    );
    let arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:rotator-AbCdEf";
    let aws = format!(
        r#"case "$*" in
  "secretsmanager describe-secret "*) echo {arn} ;;
  "secretsmanager list-secret-version-ids "*) echo 0 ;;
  "secretsmanager put-secret-value "*) cat > "$(dirname "$0")/stored" ;;
  *) exit 97 ;;
esac"#
    );
    let dir = stand_ins(&[("az", az.as_str()), ("aws", aws.as_str())]);

    let out = script("setup-azure")
        .args(["--rotator-app-id", "app-123"])
        .args(["--jamf-app-id", "jamf-app", "--auth", "client-secret"])
        .env("PATH", path_with(&dir))
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let log = calls(&dir);
    assert!(!log.contains("create-secret"), "{log}");
    assert!(
        log.contains(&format!(
            "secretsmanager put-secret-value --secret-id {arn}"
        )),
        "{log}"
    );
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stored")).unwrap()).unwrap();
    assert_eq!(stored["client_id"], "app-123");
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("ROTATOR_CREDENTIALS_SECRET_ARN={arn}")));
    assert!(!stderr.contains("new-client-secret-XyZ"));
}
