//! The release (`scripts/release`): its dry run names every command and file and builds nothing,
//! bad input and missing credentials are refused with exit 2 before anything is built, the
//! packaged template is `template.yaml` with only its code location changed, and the template's
//! Serverless Application Repository metadata matches Cargo.toml. The build itself is too slow
//! for CI (two LTO builds): docs/DEPLOY.md has its figures, and how to check it reproduces.

use serde_norway::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// The workspace version (the CLI's package takes it from `[workspace.package]`).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A new directory under the system's temporary one.
fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("release-{what}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes an executable `name` into `dir` that runs `body` (bash).
fn tool(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/usr/bin/env bash\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A directory with a `cargo` and an `aws` that only record that they ran (first on PATH: a
/// release that builds, or asks AWS anything, leaves a trace).
fn recording_tools() -> PathBuf {
    let dir = scratch("tools");
    let log = dir.join("calls");
    for name in ["cargo", "aws"] {
        tool(
            &dir,
            name,
            &format!("echo \"{name} $*\" >> '{}'\nexit 1", log.display()),
        );
    }
    dir
}

fn calls(tools: &Path) -> String {
    std::fs::read_to_string(tools.join("calls")).unwrap_or_default()
}

/// `scripts/release ARGS` with `tools` first on PATH and no AWS credentials anywhere it could
/// find them (the tests run beside moto's dummy ones).
fn release(tools: &Path, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg(Path::new(REPO).join("scripts/release"))
        .args(args)
        .env("PATH", path)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.output().expect("bash runs scripts/release")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_dry_run_names_every_command_and_file_and_builds_nothing() {
    let tools = recording_tools();
    let out = scratch("dry").join("release");
    let default_dir = Path::new(REPO).join("dist").join(VERSION);
    let had_default_dir = default_dir.exists();

    let run = release(&tools, &["--dry-run", "--out", out.to_str().unwrap()]);
    let default = release(&tools, &["--dry-run"]);

    let said = stderr(&run);
    assert_eq!(run.status.code(), Some(0), "{said}");
    for expected in [
        "$ bash scripts/check-shipped",
        "cargo lambda build --locked --release --arm64 --bin bootstrap --output-format zip",
        "cargo build --locked --release -p jamf-entra-rotator --bin jamf-entra-rotator",
        "SOURCE_DATE_EPOCH=",
        "--remap-path-prefix=",
        "$ rezip ",
    ] {
        assert!(
            said.contains(expected),
            "the dry run shows {expected:?}:\n{said}"
        );
    }
    let cli = format!("jamf-entra-rotator-{VERSION}-");
    for file in [
        "bootstrap.zip",
        &cli,
        "template.packaged.yaml",
        "SHA256SUMS",
    ] {
        let line = format!("would write {}/{file}", out.display());
        assert!(said.contains(&line), "the dry run names {file}:\n{said}");
    }
    assert!(
        !said.contains("features sim"),
        "the CLI ships without the stand-ins"
    );
    assert!(!out.exists(), "a dry run writes nothing");
    assert_eq!(
        calls(&tools),
        "",
        "a dry run runs no cargo and asks AWS nothing"
    );
    let said = stderr(&default);
    assert_eq!(default.status.code(), Some(0), "{said}");
    assert!(
        said.contains(&format!(
            "would write {}/bootstrap.zip",
            default_dir.display()
        )),
        "without --out, dist/<version>:\n{said}"
    );
    assert_eq!(
        default_dir.exists(),
        had_default_dir,
        "a dry run writes nothing"
    );
}

#[test]
fn bad_input_exits_2_naming_the_problem_and_builds_nothing() {
    let tools = recording_tools();
    let cases: &[(&[&str], &str)] = &[
        (&["--frobnicate"], "unknown argument '--frobnicate'"),
        (&["--out"], "--out needs a value"),
        (
            &["--bucket", "Not_A_Bucket"],
            "'Not_A_Bucket' is not an S3 bucket name",
        ),
        (&["--region", "moon-1"], "'moon-1' is not an AWS region"),
        (&["--publish"], "--publish needs --bucket NAME"),
        (
            &["--template-only", "--bucket", "releases"],
            "--template-only",
        ),
    ];
    for (args, expected) in cases {
        let run = release(&tools, args);
        let said = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {said}");
        assert!(
            said.contains(expected),
            "{args:?} says {expected:?}: {said}"
        );
    }
    let occupied = scratch("occupied");
    std::fs::write(occupied.join("notes.txt"), "mine").unwrap();
    let run = release(&tools, &["--out", occupied.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("holds no release"),
        "{}",
        stderr(&run)
    );
    assert_eq!(calls(&tools), "", "refused before building");
}

#[test]
fn publish_without_aws_credentials_refuses_before_building() {
    // The real AWS CLI, finding no credentials (a recording `aws` would prove nothing).
    let tools = recording_tools();
    std::fs::remove_file(tools.join("aws")).unwrap();
    let out = scratch("publish").join("release");

    let run = release(
        &tools,
        &[
            "--publish",
            "--bucket",
            "jer-releases",
            "--out",
            out.to_str().unwrap(),
        ],
    );

    let said = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{said}");
    assert!(said.contains("--publish"), "{said}");
    assert!(said.contains("needs AWS credentials"), "{said}");
    assert_eq!(calls(&tools), "", "nothing was built");
    assert!(!out.exists(), "nothing was written");
}

#[test]
fn missing_tools_are_each_named_with_how_to_install_them() {
    // A checkout without the project's .venv, on a PATH with the system's tools, a `cargo` and
    // an `aws` that has credentials: cargo-lambda, zig and sam are nowhere.
    let checkout = scratch("bare");
    std::fs::create_dir(checkout.join("scripts")).unwrap();
    for file in [
        "scripts/release",
        "scripts/runbook.sh",
        "Cargo.toml",
        "template.yaml",
        "README.md",
        "LICENSE",
    ] {
        std::fs::copy(Path::new(REPO).join(file), checkout.join(file)).unwrap();
    }
    let tools = recording_tools();
    tool(
        &tools,
        "aws",
        "echo arn:aws:iam::111122223333:user/releaser",
    );
    tool(&tools, "rustup", "echo aarch64-unknown-linux-gnu");

    let run = Command::new("bash")
        .arg(checkout.join("scripts/release"))
        .args(["--bucket", "jer-releases"])
        .env("PATH", format!("{}:/usr/bin:/bin", tools.display()))
        .output()
        .unwrap();

    let said = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{said}");
    for (missing, how) in [
        ("cargo-lambda:", "requirements/ci.txt (cargo-lambda 1.9.2)"),
        (
            "zig, which cargo-lambda links arm64 with:",
            "(ziglang 0.17.1)",
        ),
        ("sam:", "(aws-sam-cli 1.170.0)"),
    ] {
        let named = said
            .lines()
            .any(|l| l.contains(&format!("not found: {missing}")) && l.contains(how));
        assert!(named, "{missing} is named with {how:?}:\n{said}");
    }
    assert_eq!(calls(&tools), "", "nothing was built");
    let _ = std::fs::remove_dir_all(&checkout);
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap()
}

#[test]
fn the_packaged_template_is_template_yaml_with_only_its_code_location_changed() {
    let tools = recording_tools();
    let out = scratch("packaged");

    let run = release(&tools, &["--template-only", "--out", out.to_str().unwrap()]);

    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let mut packaged = yaml(&out.join("template.packaged.yaml"));
    let function = &mut packaged["Resources"]["RotatorFunction"];
    assert_eq!(function["Properties"]["CodeUri"], "bootstrap.zip");
    assert!(
        function.get("Metadata").is_none(),
        "nothing to build: no BuildMethod"
    );
    // Put back what packaging changed: the rest is template.yaml's, unchanged.
    let mut source = yaml(&Path::new(REPO).join("template.yaml"));
    let source_function = &mut source["Resources"]["RotatorFunction"];
    assert_eq!(source_function["Properties"]["CodeUri"], ".");
    source_function["Properties"]["CodeUri"] = Value::from("bootstrap.zip");
    source_function.as_mapping_mut().unwrap().remove("Metadata");
    assert_eq!(packaged, source);
    for file in ["README.md", "LICENSE"] {
        let copied = std::fs::read(out.join(file)).unwrap();
        assert_eq!(copied, std::fs::read(Path::new(REPO).join(file)).unwrap());
    }
    assert_eq!(calls(&tools), "", "packaging the template builds nothing");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_serverless_application_repository_metadata_matches_cargo_toml() {
    let template = yaml(&Path::new(REPO).join("template.yaml"));
    let app = &template["Metadata"]["AWS::ServerlessRepo::Application"];
    let text = |key: &str| {
        app[key]
            .as_str()
            .unwrap_or_else(|| panic!("SAR metadata has no {key}"))
            .to_string()
    };

    assert_eq!(text("SemanticVersion"), VERSION, "Cargo.toml's version");
    assert_eq!(text("SpdxLicenseId"), env!("CARGO_PKG_LICENSE"));
    assert_eq!(text("Name"), env!("CARGO_PKG_NAME"));
    for key in ["LicenseUrl", "ReadmeUrl"] {
        let file = Path::new(REPO).join(text(key));
        assert!(file.is_file(), "{key} names a file: {}", file.display());
    }
    let license = std::fs::read_to_string(Path::new(REPO).join(text("LicenseUrl"))).unwrap();
    assert!(license.contains("Apache License") && license.contains("Version 2.0"));
    // SAR's own limits: an author of lowercase letters, digits and single hyphens; a description
    // of at most 256 characters; at most 10 labels.
    let author = text("Author");
    assert!(
        author
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !author.starts_with('-')
            && !author.ends_with('-')
            && !author.contains("--"),
        "{author}"
    );
    assert!(text("Description").len() <= 256);
    assert!(app["Labels"].as_sequence().is_some_and(|l| l.len() <= 10));
    for key in ["HomePageUrl", "SourceCodeUrl"] {
        assert!(text(key).starts_with("https://"), "{key}");
    }
}
