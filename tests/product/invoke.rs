//! `scripts/invoke` against a stand-in `aws` command (first on PATH, recording its arguments):
//! the read timeout outlasts the function's, a lockdown is confirmed as the CLI's is (refused
//! without a terminal unless `--yes`), and a function that cannot be invoked exits 3.

use std::path::{Path, PathBuf};
use std::process::Output;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/invoke");

/// A directory with an `aws` that answers `get-function-configuration` with a 300 s timeout
/// (or fails, with `broken`) and `invoke` with `{"ok": true}`, logging each call's arguments.
fn fake_aws(broken: bool) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("invoke-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        r#"#!/usr/bin/env bash
printf '%s\n' "$*" >> "{log}"
case "$2" in
    get-function-configuration) {config} ;;
    invoke) printf '{{"ok": true}}' > "${{@: -1}}"; echo None ;;
esac
"#,
        log = dir.join("calls").display(),
        config = if broken { "exit 255" } else { "echo 300" },
    );
    let aws = dir.join("aws");
    std::fs::write(&aws, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

async fn invoke(dir: &Path, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    tokio::process::Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .env("PATH", path)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap()
}

fn calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls")).unwrap_or_default()
}

#[tokio::test]
async fn a_lockdown_without_a_terminal_is_refused_unless_yes_and_then_sent() {
    let dir = fake_aws(false);

    let refused = invoke(&dir, &["emergency", "leaked", "jamf/prod", "--lockdown"]).await;

    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("--yes") && said.contains("Nothing was changed"),
        "{said}"
    );
    assert_eq!(calls(&dir), "", "the function was not invoked");

    let sent = invoke(
        &dir,
        &["emergency", "leaked", "jamf/prod", "--lockdown", "--yes"],
    )
    .await;

    assert_eq!(
        sent.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let log = calls(&dir);
    let invoked = log
        .lines()
        .find(|l| l.starts_with("lambda invoke"))
        .unwrap();
    assert!(
        invoked.contains("--cli-read-timeout 360"),
        "the function's 300 s and a minute: {invoked}"
    );
    for field in [
        r#""lockdown": true"#,
        r#""revoke_old": "immediately""#,
        r#""secret_id": "jamf/prod""#,
        r#""reason": "emergency: leaked""#,
    ] {
        assert!(invoked.contains(field), "{field} in {invoked}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_function_whose_configuration_cannot_be_read_is_not_invoked_and_exits_3() {
    let dir = fake_aws(true);

    let run = invoke(&dir, &["status"]).await;

    assert_eq!(run.status.code(), Some(3));
    assert!(!calls(&dir).contains("lambda invoke"));
    std::fs::remove_dir_all(&dir).unwrap();
}
