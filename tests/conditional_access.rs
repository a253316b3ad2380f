//! The `conditional-access` target end to end: rotations through the Jamf Pro web UI stand-in's
//! Conditional Access page, with Entra's stand-in and Secrets Manager on moto, on virtual time.
//! Every rotation test ends with the invariant and the leak scan.

mod common;

use common::{spawn_with, TestWorld};
use jamf_entra_rotator::clock::Clock;
use jamf_entra_rotator::config::Cloud;
use jamf_entra_rotator::document::TargetKind;
use jamf_entra_rotator::jamf::conditional_access::{describe_probe, probe};
use jamf_entra_rotator::ports::{AlertKind, SecretStore, AWSCURRENT};
use jamf_entra_rotator::rotation::driver::{Outcome, RotationReport};
use jamf_entra_rotator::rotation::RotateRequest;
use jamf_entra_rotator::sim::jamf_web::{Layout, SubmitControl};
use secrecy::ExposeSecret;
use std::sync::Arc;

const INTUNE: &str = "https://api.manage.microsoft.com/.default";

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

/// A world whose Jamf Pro holds the secret in the Microsoft Intune integration, laid out as
/// `layout` (the document's page path follows the layout's).
async fn ca_world(layout: Layout) -> TestWorld {
    let w = spawn_with(10, |o| o.target = TargetKind::ConditionalAccess).await;
    let path = layout.page_path.clone();
    w.jamf.web().set_layout(layout);
    if path != Layout::default().page_path {
        let mut doc = w.current_doc().await;
        doc.jamf.page_path = Some(format!("{}?o=u", path.trim_start_matches('/')));
        w.store
            .put_current(&w.secret_id, &doc.to_secret())
            .await
            .unwrap();
    }
    w
}

async fn rotate(w: &TestWorld) -> RotationReport {
    w.engine
        .rotate(
            &w.secret_id,
            RotateRequest {
                reason: "manual: test".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// Everything the web UI answered (HTML pages included), for the leak scan.
fn jamf_responses(w: &TestWorld) -> String {
    w.jamf
        .requests()
        .iter()
        .map(|r| r.response.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks a rotation that must have succeeded: Jamf holds the AWSCURRENT secret, Entra accepts
/// it for Intune, the old credential is gone, and nothing but the secret changed on the page.
async fn assert_rotated(w: &TestWorld, r: &RotationReport) {
    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    let before = w.jamf.web().settings().unwrap();
    let doc = w.current_doc().await;
    let held = w.jamf.web().secret().unwrap();
    assert_eq!(held, doc.entra.client_secret.expose_secret());
    assert_ne!(held, w.secrets[0].expose_secret());
    assert!(w.entra.accepts(&w.app.client_id, &held, INTUNE));
    assert!(!w
        .entra
        .accepts(&w.app.client_id, w.secrets[0].expose_secret(), INTUNE));
    assert!(
        before.enabled
            && before.cloud == Cloud::Global
            && before.domain == "contoso.onmicrosoft.com"
    );
    assert_eq!(before.application_id, w.app.client_id);
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    assert_eq!(
        w.jamf.web().sessions(),
        0,
        "every web session must be logged out"
    );
    assert!(w.alerts.sent().is_empty());
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(r), &jamf_responses(w)]);
}

#[tokio::test]
async fn rotates_the_intune_secret_through_the_settings_page() {
    let w = ca_world(Layout::default()).await;

    let r = rotate(&w).await;

    assert_rotated(&w, &r).await;
    let c = w.jamf.web().counts();
    assert_eq!(c.saves, 1, "one save: the new secret");
    assert_eq!(c.logins, c.logouts);
    assert!(
        w.jamf
            .requests()
            .iter()
            .any(|q| q.path == "/api/v1/auth/invalidate-token" && q.status == 204),
        "the API token is ended too"
    );
    let page_get = w
        .jamf
        .requests()
        .into_iter()
        .find(|q| q.method == "GET" && q.path.starts_with("/ConditionalAccess"))
        .unwrap();
    let cookies = page_get
        .headers
        .iter()
        .find(|(k, _)| k == "cookie")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(
        cookies.contains("JSESSIONID=") && cookies.contains("APBALANCEID="),
        "session and load-balancer cookies: {cookies}"
    );
    // The new secret went to Jamf Pro in the settings POST only; the password in logins only.
    let new_secret = w.jamf.web().secret().unwrap();
    let password = w.secrets[2].expose_secret();
    for req in w.jamf.requests() {
        if req.body.contains(&new_secret) {
            assert!(
                req.method == "POST" && req.path.starts_with("/ConditionalAccess.html"),
                "{} {}",
                req.method,
                req.path
            );
        }
        if req.body.contains(password) {
            assert!(
                req.method == "POST" && req.path == "/",
                "{} {}",
                req.method,
                req.path
            );
        }
    }
}

#[tokio::test]
async fn opaque_names_without_labels_are_handled() {
    let w = ca_world(Layout::opaque_names()).await;
    let r = rotate(&w).await;
    assert_rotated(&w, &r).await;
}

#[tokio::test]
async fn extra_controls_reverse_order_and_a_button_submit_are_handled() {
    let w = ca_world(Layout::extra_reordered_button()).await;
    let r = rotate(&w).await;
    assert_rotated(&w, &r).await;
}

#[tokio::test]
async fn cancel_and_save_submits_on_another_page_path_are_handled() {
    let w = ca_world(Layout::cancel_and_save()).await;
    let r = rotate(&w).await;
    assert_rotated(&w, &r).await;
    let post = w
        .jamf
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.starts_with("/legacy/"))
        .unwrap();
    assert!(
        post.body.contains("action=Save") && !post.body.contains("Cancel"),
        "{}",
        post.body
    );
}

#[tokio::test]
async fn a_nameless_save_button_is_handled() {
    let w = ca_world(Layout {
        submit: SubmitControl::Nameless,
        ..Layout::default()
    })
    .await;
    let r = rotate(&w).await;
    assert_rotated(&w, &r).await;
}

#[tokio::test]
async fn sso_enforced_logs_in_through_the_failover_url() {
    let w = ca_world(Layout::default()).await;
    w.jamf.web().set_sso_enforced(true);

    let r = rotate(&w).await;

    assert_rotated(&w, &r).await;
    let c = w.jamf.web().counts();
    assert!(c.sso_redirects >= 1 && c.logins >= 1, "{c:?}");
    let requests = w.jamf.requests();
    assert!(requests
        .iter()
        .any(|r| r.method == "GET" && r.path == "/api/v1/sso/failover"));
    assert!(requests
        .iter()
        .any(|r| r.method == "POST" && r.path.starts_with("/?failover=") && r.status == 302));
}

#[tokio::test]
async fn a_session_expiring_mid_flow_is_logged_in_again_once() {
    let w = ca_world(Layout::default()).await;
    w.jamf.web().expire_sessions_before_next_saves(1);

    let r = rotate(&w).await;

    assert_rotated(&w, &r).await;
    let c = w.jamf.web().counts();
    assert_eq!(
        c.save_posts, 2,
        "the save was repeated after logging in again"
    );
    assert_eq!(c.saves, 1);
}

#[tokio::test]
async fn a_session_that_keeps_expiring_fails_without_a_change() {
    let w = ca_world(Layout::default()).await;
    w.jamf.web().expire_sessions_before_next_saves(10);

    let r = rotate(&w).await;

    assert_ne!(r.outcome, Outcome::Rotated);
    assert_eq!(w.jamf.web().secret().unwrap(), w.secrets[0].expose_secret());
    assert!(
        r.error.as_deref().unwrap_or("").contains("login page"),
        "{:?}",
        r.error
    );
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn a_failing_save_time_test_rolls_back_and_alerts() {
    let w = ca_world(Layout {
        echo_secret_in_errors: true,
        ..Layout::default()
    })
    .await;
    w.jamf.web().fail_next_save_tests(1);

    let r = rotate(&w).await;

    assert_eq!(r.outcome, Outcome::RolledBack, "{:?}", r.error);
    let e = r.error.clone().unwrap();
    assert!(
        e.contains("save-time test") && e.contains("Unable to connect to Microsoft Intune"),
        "{e}"
    );
    let old = w.secrets[0].expose_secret();
    assert_eq!(
        w.jamf.web().secret().as_deref(),
        Some(old),
        "the old secret is configured"
    );
    assert!(
        w.entra.accepts(&w.app.client_id, old, INTUNE),
        "and still valid"
    );
    assert_eq!(
        w.entra.passwords(&w.app.object_id).len(),
        1,
        "the new credential was removed"
    );
    let alerts = w.alerts.sent();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::RolledBack);
    // The page quoted the secret in its error: the scan covers the pages and the alert.
    assert!(w
        .jamf
        .requests()
        .iter()
        .any(|q| q.response.contains("(client secret ")));
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r), &e]);
}

#[tokio::test]
async fn notifications_raised_after_the_change_roll_back() {
    let w = ca_world(Layout::default()).await;
    w.jamf
        .set_notifications(&["MII_INVENTORY_UPLOAD_FAILED_NOTIFICATION"]);
    w.jamf
        .web()
        .notify_after_next_change(&["MII_UNATHORIZED_RESPONSE_NOTIFICATION"]);

    let r = rotate(&w).await;

    assert_eq!(r.outcome, Outcome::RolledBack, "{:?}", r.error);
    let e = r.error.clone().unwrap();
    assert!(
        e.contains("MII_UNATHORIZED_RESPONSE_NOTIFICATION") && !e.contains("INVENTORY"),
        "{e}"
    );
    assert_eq!(
        w.jamf.web().secret().as_deref(),
        Some(w.secrets[0].expose_secret())
    );
    assert_eq!(
        w.jamf.web().counts().saves,
        2,
        "the new secret, then the old one back"
    );
    assert_eq!(w.alerts.sent()[0].kind, AlertKind::RolledBack);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn notifications_are_watched_for_the_observation_window_in_virtual_time() {
    let w = ca_world(Layout::default()).await;
    let started = w.clock.now();
    let r = rotate(&w).await;
    assert_rotated(&w, &r).await;
    assert!(
        w.clock.now() - started >= chrono::Duration::seconds(60),
        "the default window is 60 s"
    );
    let polls = w
        .jamf
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/notifications")
        .count();
    assert_eq!(
        polls, 2,
        "once before the change, once when the 60 s have passed"
    );
}

async fn assert_refused_before_any_change(w: &TestWorld, r: &RotationReport, says: &str) {
    assert_ne!(r.outcome, Outcome::Rotated);
    let e = r.error.clone().unwrap_or_default();
    assert!(e.contains(says), "{e}");
    assert_eq!(w.jamf.web().counts().save_posts, 0, "nothing was submitted");
    assert_eq!(
        w.jamf.web().secret().as_deref(),
        Some(w.secrets[0].expose_secret())
    );
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(r)]);
}

#[tokio::test]
async fn a_page_without_the_intune_form_is_refused() {
    let w = ca_world(Layout {
        no_form: true,
        ..Layout::default()
    })
    .await;
    let r = rotate(&w).await;
    assert_refused_before_any_change(&w, &r, "no form with a client-secret input").await;
}

#[tokio::test]
async fn two_password_inputs_are_refused_without_a_configured_name() {
    let w = ca_world(Layout {
        second_password: true,
        ..Layout::default()
    })
    .await;
    let r = rotate(&w).await;
    assert_refused_before_any_change(&w, &r, "jamf.secret_field").await;
}

#[tokio::test]
async fn two_password_inputs_with_a_configured_name_rotate() {
    let w = ca_world(Layout {
        second_password: true,
        ..Layout::default()
    })
    .await;
    let mut doc = w.current_doc().await;
    doc.jamf.secret_field = Some("clientSecret".into());
    w.store
        .put_current(&w.secret_id, &doc.to_secret())
        .await
        .unwrap();
    let r = rotate(&w).await;
    assert_rotated(&w, &r).await;
}

#[tokio::test]
async fn another_application_id_on_the_page_is_refused() {
    let w = ca_world(Layout::default()).await;
    let mut s = w.jamf.web().settings().unwrap();
    s.application_id = "99999999-9999-9999-9999-999999999999".into();
    w.jamf.web().configure(s);
    let r = rotate(&w).await;
    assert_ne!(r.outcome, Outcome::Rotated);
    assert!(
        r.error
            .as_deref()
            .unwrap_or("")
            .contains("99999999-9999-9999-9999-999999999999"),
        "{:?}",
        r.error
    );
    assert_eq!(w.jamf.web().counts().save_posts, 0);
}

#[tokio::test]
async fn an_api_client_credential_is_refused_clearly() {
    let w = spawn_with(10, |o| o.target = TargetKind::SmtpGraph).await;
    let mut doc = w.current_doc().await;
    doc.jamf.target = TargetKind::ConditionalAccess;
    w.store
        .put_current(&w.secret_id, &doc.to_secret())
        .await
        .unwrap();
    let r = rotate(&w).await;
    assert_ne!(r.outcome, Outcome::Rotated);
    assert!(
        r.error.as_deref().unwrap_or("").contains("username"),
        "{:?}",
        r.error
    );
}

#[tokio::test]
async fn probe_prints_the_form_and_changes_nothing() {
    let w = ca_world(Layout::extra_reordered_button()).await;
    let before = w.jamf.web().settings();
    let store: Arc<dyn SecretStore> = w.store.clone();
    let versions = store.describe(&w.secret_id).await.unwrap().versions;

    let report = probe(
        store.clone(),
        &w.settings,
        w.world.clock.clone(),
        &w.secret_id,
    )
    .await
    .unwrap();
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
        store.describe(&w.secret_id).await.unwrap().versions,
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
    let mut s = w.jamf.web().settings().unwrap();
    s.application_id = "99999999-9999-9999-9999-999999999999".into();
    w.jamf.web().configure(s);
    let report = probe(
        w.store.clone(),
        &w.settings,
        w.world.clock.clone(),
        &w.secret_id,
    )
    .await
    .unwrap();
    assert!(!report.application_id_matches);
    assert!(describe_probe(&report).contains("MISMATCH"));
}

#[tokio::test]
async fn the_heartbeat_raises_notifications_when_the_stored_secret_stops_working() {
    let w = ca_world(Layout::default()).await;
    let (_, value) = w
        .store
        .value_at(&w.jamf_credentials_id, AWSCURRENT)
        .await
        .unwrap()
        .unwrap();
    let creds = jamf_entra_rotator::jamf::JamfCredentials::parse(&value).unwrap();
    let client = jamf_entra_rotator::jamf::JamfClient::new(
        &w.jamf.url(),
        creds,
        &w.settings,
        w.world.clock.clone(),
    )
    .unwrap();
    assert!(client.notifications().await.unwrap().is_empty());
    let mut s = w.jamf.web().settings().unwrap();
    s.secret = "no-longer-valid-secret".into();
    w.jamf.web().configure(s);
    let kinds: Vec<String> = client
        .notifications()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.kind)
        .collect();
    assert!(
        kinds.contains(&"CONDITIONAL_ACCESS_CONNECTION_ERROR".to_string()),
        "{kinds:?}"
    );
    assert!(!w.jamf_secret_works());
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
    let stdout = String::from_utf8_lossy(&text.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&text.stderr).into_owned();
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
    assert_eq!(
        w.jamf.web().secret().as_deref(),
        Some(w.secrets[0].expose_secret())
    );
    let json_text = String::from_utf8_lossy(&json_out.stdout).into_owned();
    let json_err = String::from_utf8_lossy(&json_out.stderr).into_owned();
    w.assert_no_leaks(&[&stdout, &stderr, &json_text, &json_err]);
}

#[tokio::test]
async fn the_stand_in_refuses_a_save_without_the_pages_session_token() {
    let w = ca_world(Layout::default()).await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = w.jamf.url();
    let page_url = base.join("ConditionalAccess.html?o=u").unwrap();
    let login = [
        ("username", "svc-entra-rotator"),
        ("password", w.secrets[2].expose_secret()),
    ];
    assert_eq!(
        http.post(base.clone())
            .form(&login)
            .send()
            .await
            .unwrap()
            .status(),
        302
    );
    let page = http
        .get(page_url.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"name="session-token""#), "{page}");
    let body = format!(
        "session-token=forged&intuneEnabled=true&sovereignCloud=GLOBAL&domainName=contoso.onmicrosoft.com\
         &applicationId={}&clientSecret=other&action=Save",
        w.app.client_id
    );
    let post = http
        .post(page_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    assert_eq!(post.send().await.unwrap().status(), 403);
    assert_eq!(w.jamf.web().counts().saves, 0);
    assert_eq!(
        w.jamf.web().secret().as_deref(),
        Some(w.secrets[0].expose_secret())
    );
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

#[tokio::test]
async fn an_unrecognisable_answer_to_save_is_never_taken_for_success() {
    let w = ca_world(Layout {
        quiet_errors: true,
        ..Layout::default()
    })
    .await;
    w.jamf.web().fail_next_save_tests(1);

    let r = rotate(&w).await;

    assert_eq!(r.outcome, Outcome::RolledBack, "{:?}", r.error);
    assert!(
        r.error
            .as_deref()
            .unwrap_or("")
            .contains("no recognisable error"),
        "{:?}",
        r.error
    );
    assert_eq!(
        w.jamf.web().secret().as_deref(),
        Some(w.secrets[0].expose_secret())
    );
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn a_refused_web_login_fails_clearly_before_any_change() {
    let w = ca_world(Layout::default()).await;
    let wrong =
        serde_json::json!({"username": "svc-entra-rotator", "password": "not-the-password"})
            .to_string();
    w.store
        .put_current(&w.jamf_credentials_id, &secrecy::SecretString::from(wrong))
        .await
        .unwrap();

    let r = rotate(&w).await;

    assert_refused_before_any_change(&w, &r, "refused the login of 'svc-entra-rotator'").await;
    assert!(!r
        .error
        .as_deref()
        .unwrap_or("")
        .contains("not-the-password"));
}

#[tokio::test]
async fn the_stand_in_ends_idle_web_sessions_by_the_injected_clock() {
    let w = ca_world(Layout::default()).await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page_url = w.jamf.url().join("ConditionalAccess.html?o=u").unwrap();
    let login = [
        ("username", "svc-entra-rotator"),
        ("password", w.secrets[2].expose_secret()),
    ];
    http.post(w.jamf.url()).form(&login).send().await.unwrap();
    let page = http
        .get(page_url.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Microsoft Intune Integration"), "{page}");
    w.clock.advance(std::time::Duration::from_secs(31 * 60));
    let page = http
        .get(page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Jamf Pro Login"), "{page}");
    assert_eq!(w.jamf.web().sessions(), 0);
}

#[tokio::test]
async fn when_the_rollback_save_also_fails_jamf_keeps_a_working_secret() {
    let w = ca_world(Layout::default()).await;
    w.jamf.web().fail_next_save_tests(2);

    let r = rotate(&w).await;

    assert_ne!(r.outcome, Outcome::Rotated);
    assert_eq!(
        w.jamf.web().counts().saves,
        0,
        "neither save stored anything"
    );
    assert_eq!(
        w.jamf.web().secret().as_deref(),
        Some(w.secrets[0].expose_secret())
    );
    assert!(!w.alerts.sent().is_empty());
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(&r)]);
}

#[tokio::test]
async fn a_multipart_form_is_sent_in_its_own_encoding() {
    let w = ca_world(Layout {
        multipart: true,
        ..Layout::extra_reordered_button()
    })
    .await;

    let r = rotate(&w).await;

    assert_rotated(&w, &r).await;
    let post = w
        .jamf
        .requests()
        .into_iter()
        .find(|q| q.method == "POST" && q.path.starts_with("/ConditionalAccess"))
        .unwrap();
    let content_type = post
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    assert!(
        post.body
            .contains("name=\"notes\"\r\n\r\nmanaged by IT\r\n"),
        "{}",
        post.body
    );
}

#[tokio::test]
async fn sso_with_the_saml_post_binding_also_uses_the_failover_url() {
    let w = ca_world(Layout::default()).await;
    w.jamf.web().set_sso_enforced(true);
    w.jamf.web().set_sso_post_binding(true);

    let r = rotate(&w).await;

    assert_rotated(&w, &r).await;
    assert!(w.jamf.web().counts().sso_redirects >= 1);
    assert!(w
        .jamf
        .requests()
        .iter()
        .any(|q| q.method == "POST" && q.path.starts_with("/?failover=")));
}
