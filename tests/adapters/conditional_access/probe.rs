//! The read-only probe of the Conditional Access page (the library call and the `probe`
//! command), and `demo --target conditional-access` answering with the core demo's fields.

use super::harness::{
    assert_old_secret_kept, ca_world, edit_page, json, probe_page, OTHER_APPLICATION_ID,
};
use crate::common;
use rotator_adapters::jamf::conditional_access::describe_probe;
use rotator_testkit::jamf_web::Layout;

/// The output of the `jamf-entra-rotator` binary as text: `(stdout, stderr)`.
fn printed(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn probe_prints_the_form_and_changes_nothing() {
    let w = ca_world(Layout::extra_reordered_button()).await;
    let before = w.jamf.web().settings();
    let versions = w.store.describe(&w.secret_id).await.unwrap().versions;

    let report = probe_page(&w).await;
    let text = describe_probe(&report);

    assert_eq!(report.secret_field, "clientSecret");
    assert_eq!(report.application_id_field, "azure_client_id");
    assert!(report.application_id_matches);
    assert_eq!(report.application_id, w.app.client_id);
    let names: Vec<&str> = report.controls.iter().map(|c| c.name.as_str()).collect();
    for n in [
        "session-token",
        "intuneEnabled",
        "sovereignCloud",
        "domainName",
        "formVersion",
        "syncMode",
        "notes",
        "saveButton",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(
        !names.contains(&"beta") && !names.contains(&"legacy") && !names.contains(&"test"),
        "{names:?}"
    );
    let token = report
        .controls
        .iter()
        .find(|c| c.name == "session-token")
        .unwrap();
    assert_eq!(token.value, "[redacted]");
    assert!(report
        .would_submit
        .iter()
        .any(|p| p.name == "clientSecret" && p.value == "[new secret]"));
    assert!(
        text.contains("azure_client_id")
            && text.contains("match")
            && text.contains("nothing was changed"),
        "{text}"
    );
    // Nothing changed: the settings, the stored document, and only GETs besides the login.
    assert_eq!(w.jamf.web().settings(), before);
    assert_eq!(w.jamf.web().counts().save_posts, 0);
    assert_eq!(
        w.store.describe(&w.secret_id).await.unwrap().versions,
        versions
    );
    for r in w.jamf.requests() {
        assert!(
            r.method == "GET" || (r.method == "POST" && r.path == "/"),
            "{} {}",
            r.method,
            r.path
        );
    }
    assert_eq!(w.jamf.web().sessions(), 0);
    w.assert_no_leaks(&[&json(&report), &text]);
}

#[tokio::test]
async fn probe_reports_a_mismatched_application_id() {
    let w = ca_world(Layout::opaque_names()).await;
    edit_page(&w, |s| s.application_id = OTHER_APPLICATION_ID.into());
    let report = probe_page(&w).await;
    assert!(!report.application_id_matches);
    assert!(describe_probe(&report).contains("MISMATCH"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_command_prints_text_and_json_from_the_environment_alone() {
    let w = ca_world(Layout::default()).await;
    let env: Vec<(&str, String)> = vec![
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("AWS_ENDPOINT_URL", common::moto::endpoint().await),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", common::moto::REGION.into()),
        // The Jamf Pro stand-in listens on loopback.
        ("ALLOW_LOOPBACK_HTTP", "true".into()),
    ];
    let run = |json: bool| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_jamf-entra-rotator"));
        cmd.env_clear()
            .envs(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
        cmd.args(["probe", "--secret-id", &w.secret_id]);
        if json {
            cmd.arg("--json");
        }
        cmd.output()
    };
    let text = run(false).await.unwrap();
    let json_out = run(true).await.unwrap();
    let (stdout, stderr) = printed(&text);
    assert_eq!(text.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("clientSecret")
            && stdout.contains("<- client-secret")
            && stdout.contains("nothing was changed"),
        "{stdout}"
    );
    let v: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(v["application_id_matches"], true);
    assert_eq!(v["secret_field"], "clientSecret");
    assert_eq!(w.jamf.web().counts().save_posts, 0);
    assert_old_secret_kept(&w);
    let (json_text, json_err) = printed(&json_out);
    w.assert_no_leaks(&[&stdout, &stderr, &json_text, &json_err]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_conditional_access_json_has_the_fields_of_the_core_demo() {
    let demo = |target: &'static str| async move {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_jamf-entra-rotator"))
            .args([
                "demo",
                "--json",
                "--propagation-lag",
                "0",
                "--target",
                target,
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PROPAGATION_SUCCESSES", "1")
            .output()
            .await
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let ca = demo("conditional-access").await;
    let core = demo("smtp-graph").await;
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&ca), keys(&core));
    assert_eq!(ca["outcome"], "rotated");
    assert_eq!(ca["jamf_secret_works"], true);
    assert_eq!(ca["old_removed"], true);
    assert!(
        ca["target"]
            .as_str()
            .unwrap()
            .ends_with("conditional-access"),
        "{ca}"
    );
}

/// Hidden fields named `csrf`, `_xsrf` and `nonce`, and an innocent name holding a token-shaped
/// value, are `[redacted]` in the probe's report and text; a rotation still sends each of them
/// back exactly as rendered (the stand-in refuses a Save that changed any).
#[tokio::test]
async fn probe_redacts_token_fields_by_name_and_by_value() {
    use rotator_testkit::jamf_web::TOKEN_FIELDS;
    let layout = Layout {
        token_fields: true,
        ..Layout::default()
    };
    let w = ca_world(layout.clone()).await;
    let report = probe_page(&w).await;
    let text = describe_probe(&report);
    for (name, value) in TOKEN_FIELDS {
        let shown = report.controls.iter().find(|c| c.name == name).unwrap();
        assert_eq!(shown.value, "[redacted]", "{name}");
        assert!(
            !text.contains(value) && !json(&report).contains(value),
            "{name}: {text}"
        );
    }
    assert!(text.contains("domainName"), "{text}");
    drop(w);
    super::harness::rotated(layout).await;
}
