//! The deployment scripts: each parses, answers a wrong call with its usage line, and
//! `setup-azure --dry-run` prints the Azure CLI steps without running any.

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
    for name in ["build", "deploy", "invoke", "local", "setup-azure"] {
        let path = format!(
            "{}/scripts/{name}",
            crate::common::moto::repo_root().display()
        );
        let parsed = Command::new("bash").args(["-n", &path]).status().unwrap();
        assert!(parsed.success(), "{name} does not parse");
    }
    for (name, args) in [
        ("build", &["extra"][..]),
        ("invoke", &["explode"]),
        ("setup-azure", &[]),
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
