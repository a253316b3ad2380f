//! `discover`, the read-only onboarding, as a user runs it: the CLI binary against the stand-ins
//! (Entra/Graph, Jamf Pro with its web UI) and moto, configured through the environment. Each
//! test checks what it reports, and that it changed nothing: no Jamf Pro request but GETs and
//! signing in and out, no Graph call but reading the app (and the rotator's own sign-in), no
//! Secrets Manager version added or moved.

use crate::common;

use common::{moto, spawn_with, spawn_world_on_moto, TestWorld};
use rotator_engine::document::TargetKind;
use rotator_engine::ports::SecretInfo;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_jamf-entra-rotator");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `jamf-entra-rotator discover args…` (with `--jamf-url <the world's Jamf>` unless `args`
/// name one) with the environment that points it at the world (moto, the stand-ins, the
/// rotator's credentials) plus `extra`.
async fn discover(w: &TestWorld, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("discover");
    if !args.contains(&"--jamf-url") {
        cmd.arg("--jamf-url").arg(w.jamf.url().as_str());
    }
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", moto::endpoint().await)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", moto::REGION)
        .env("ENTRA_LOGIN_URL", w.entra.url().as_str())
        .env("GRAPH_URL", w.entra.url().as_str())
        .env("ALLOW_LOOPBACK_HTTP", "true")
        .env("ROTATOR_CLIENT_ID", &w.rotator_client_id)
        .env("ROTATOR_CREDENTIALS_SECRET_ID", &w.rotator_credentials_id);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("the CLI runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON object on stdout ({e}): {}", run.stdout))
}

/// What Secrets Manager holds for the world's three secrets: versions and their stages.
async fn store_state(w: &TestWorld) -> Vec<SecretInfo> {
    let mut out = Vec::new();
    for id in [
        &w.secret_id,
        &w.jamf_credentials_id,
        &w.rotator_credentials_id,
    ] {
        out.push(
            w.store
                .describe(id)
                .await
                .expect("the world's secret exists"),
        );
    }
    out
}

/// Runs `run` and asserts it changed nothing anywhere: Jamf Pro got only GETs besides signing in
/// and out (no Save, no SMTP update or test mail), Graph got no write (only the rotator's token
/// requests and `GET /applications`), the app's credentials and Jamf's secrets are as before,
/// and Secrets Manager's versions and stages are unchanged.
async fn changes_nothing<F: std::future::Future<Output = Run>>(w: &TestWorld, run: F) -> Run {
    let store_before = store_state(w).await;
    let passwords_before = w.entra.passwords(&w.app.object_id);
    let (smtp_before, page_before) = (w.jamf.smtp_settings(), w.jamf.web().settings());
    let (jamf_seen, entra_seen) = (w.jamf.requests().len(), w.entra.requests().len());

    let out = run.await;

    // Signing in and out is all Jamf Pro gets besides GETs.
    let sign_in_out = [
        "/",
        "/api/v1/oauth/token",
        "/api/oauth/token",
        "/api/v1/auth/token",
        "/api/v1/auth/invalidate-token",
    ];
    let jamf = &w.jamf.requests()[jamf_seen..];
    assert!(!jamf.is_empty(), "discover read Jamf Pro");
    for r in jamf {
        assert!(
            r.method == "GET" || (r.method == "POST" && sign_in_out.contains(&r.path.as_str())),
            "discover sent Jamf Pro {} {}",
            r.method,
            r.path
        );
    }
    for r in &w.entra.requests()[entra_seen..] {
        let token = r.method == "POST" && r.path.ends_with("/oauth2/v2.0/token");
        assert!(
            token || (r.method == "GET" && r.path.starts_with("/v1.0/applications")),
            "discover sent Graph {} {}",
            r.method,
            r.path
        );
        assert!(
            !r.path.contains("Password"),
            "no addPassword/removePassword"
        );
    }
    assert_eq!(w.entra.passwords(&w.app.object_id), passwords_before);
    assert_eq!(w.jamf.smtp_settings(), smtp_before);
    assert_eq!(
        w.jamf.web().settings().map(|s| s.secret),
        page_before.map(|s| s.secret)
    );
    let store_after = store_state(w).await;
    for (before, after) in store_before.iter().zip(&store_after) {
        assert_eq!(
            before.versions, after.versions,
            "{}: Secrets Manager versions changed",
            before.name
        );
    }
    out
}

#[tokio::test]
async fn discover_reads_both_integrations_and_changes_nothing() {
    // The Intune integration and the mail both use the world's app; a target manages the former.
    let w = spawn_with(90, |o| o.target = TargetKind::ConditionalAccess).await;
    // A mail target for the same app on another Jamf Pro server does not manage this one's mail.
    let elsewhere = moto::unique("discover-other-server");
    let (_, doc) = w
        .store
        .value_at(&w.secret_id, "AWSCURRENT")
        .await
        .unwrap()
        .unwrap();
    let mut doc: Value = serde_json::from_str(secrecy::ExposeSecret::expose_secret(&doc)).unwrap();
    doc["jamf"]["target"] = json!("smtp-graph");
    doc["jamf"]["url"] = json!("https://other.example.com/");
    let doc = secrecy::SecretString::from(doc.to_string());
    w.store.create(&elsewhere, &doc, "test").await.unwrap();
    let args = [
        "--json",
        "--jamf-credentials-secret-id",
        &w.jamf_credentials_id,
        "--secret-id",
        &w.secret_id,
        "--secret-id",
        &elsewhere,
    ];
    let run = changes_nothing(&w, discover(&w, &args, &[])).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = json_of(&run);
    let [smtp, ca] = [&v["integrations"][0], &v["integrations"][1]];
    let app_id = w.app.client_id.as_str();

    assert_eq!(smtp["target"], "smtp-graph");
    assert_eq!(smtp["state"], "uses-entra-app");
    assert_eq!(smtp["client_id"], app_id);
    assert_eq!(smtp["tenant_id"], rotator_testkit::world::TENANT_ID);
    assert_eq!(
        smtp["managed"], "no",
        "one document is conditional-access, the other for another server"
    );
    assert_eq!(smtp["managed_by"], json!([]));
    let init = smtp["init_command"].as_str().expect("an init command");
    for part in [
        "jamf-entra-rotator init --secret-id ",
        "--target smtp-graph",
        &format!("--client-id {app_id}"),
        &format!("--jamf-credentials-secret-id {}", w.jamf_credentials_id),
        &format!("--tenant-id {}", rotator_testkit::world::TENANT_ID),
        "--test-recipient ",
    ] {
        assert!(init.contains(part), "{part} in {init}");
    }

    assert_eq!(ca["target"], "conditional-access");
    assert_eq!(ca["state"], "uses-entra-app");
    assert_eq!(ca["client_id"], app_id);
    assert_eq!(ca["tenant_id"], "contoso.onmicrosoft.com");
    assert_eq!(ca["managed"], "yes");
    assert_eq!(ca["managed_by"], json!([w.secret_id]));
    assert_eq!(v["managed_targets"], "2 target document(s) read");
    assert_eq!(ca["init_command"], Value::Null);
    assert_eq!(ca["legacy"], true);
    let advice = ca["advice"].as_str().unwrap();
    assert!(
        advice.contains("ended support") && advice.contains("Device Compliance"),
        "{advice}"
    );
    assert_eq!(smtp["legacy"], false);
    assert_eq!(smtp["advice"], Value::Null);
    assert_eq!(ca["jamf_holds_key_id"], w.initial_key_id.as_str());
    let creds = ca["app"]["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["key_id"], w.initial_key_id.as_str());
    assert_eq!(creds[0]["held_by_jamf"], true);
    assert!((88..=90).contains(&creds[0]["days_left"].as_i64().unwrap()));
    assert_eq!(creds[0]["hint"].as_str().map(str::len), Some(3));
    // The mail's app is the same one, but no document says which secret the mail uses.
    assert_eq!(smtp["app"]["credentials"][0]["held_by_jamf"], Value::Null);
    assert!(v["secret_sign_in"]
        .as_str()
        .unwrap()
        .starts_with("not attempted"));
    w.assert_no_leaks(&[&run.stdout, &run.stderr]);
}

#[tokio::test]
async fn the_readable_output_shows_what_was_found_and_holds_no_secret() {
    let w = spawn_with(90, |o| o.target = TargetKind::ConditionalAccess).await;
    let args = [
        "--jamf-credentials-secret-id",
        &w.jamf_credentials_id,
        "--secret-id",
        &w.secret_id,
    ];
    let run = changes_nothing(&w, discover(&w, &args, &[])).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = &run.stdout;
    for part in [
        "smtp-graph (uses-entra-app)",
        "conditional-access (uses-entra-app)",
        &w.initial_key_id,
        "<- Jamf Pro holds this one",
        &format!("managed       yes (by {})", w.secret_id),
        "jamf-entra-rotator init --secret-id",
        "nothing was changed",
        "not attempted",
        "LEGACY        legacy: Microsoft has ended support",
        "Device Compliance",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
    assert!(
        run.stderr
            .contains("discover: reading the SMTP server settings"),
        "progress goes to stderr: {}",
        run.stderr
    );
    w.assert_no_leaks(&[&run.stdout, &run.stderr]);
}

#[tokio::test]
async fn an_app_the_rotator_does_not_own_gets_the_az_command_that_fixes_it() {
    let w = spawn_world_on_moto(90).await;
    // Jamf Pro mails as another app of the tenant, which the rotator does not own; the rotator
    // holds only Application.ReadWrite.OwnedBy, so Graph refuses it that app.
    let other = w
        .entra
        .add_app(rotator_testkit::world::TENANT_ID, "Jamf Pro mail");
    let mut smtp = w.jamf.smtp_settings();
    smtp["graphApiCredentials"]["clientId"] = json!(other.client_id);
    w.jamf.set_smtp_settings(smtp);
    w.entra.set_read_requires_ownership(true);

    let args = [
        "--json",
        "--jamf-credentials-secret-id",
        &w.jamf_credentials_id,
    ];
    let run = changes_nothing(&w, discover(&w, &args, &[])).await;
    assert_eq!(
        run.code, 1,
        "an app it cannot see needs a fix: {}",
        run.stderr
    );
    let v = json_of(&run);
    let smtp = &v["integrations"][0];
    assert_eq!(smtp["client_id"], other.client_id.as_str());
    assert_eq!(smtp["app"]["visible"], false);
    assert!(smtp["app"]["error"]
        .as_str()
        .unwrap()
        .contains("Authorization_RequestDenied"));
    assert_eq!(
        smtp["app"]["owner_command"],
        format!(
            "az ad app owner add --id {} --owner-object-id \"$(az ad sp show --id {} --query id -o tsv)\"",
            other.client_id, w.rotator_client_id
        )
    );
    // Without a user account, the Intune integration's page is not read: reported, not an error.
    assert_eq!(v["integrations"][1]["state"], "not-read");
    assert_eq!(v["problems"], 1);

    let text = discover(&w, &args[1..], &[]).await;
    assert!(text.stdout.contains("CANNOT SEE IT"), "{}", text.stdout);
    assert!(
        text.stdout.contains("az ad app owner add --id"),
        "{}",
        text.stdout
    );
    w.assert_no_leaks(&[&run.stdout, &run.stderr, &text.stdout, &text.stderr]);
}

#[tokio::test]
async fn a_jamf_without_graph_mail_is_reported_and_the_json_shape_is_stable() {
    let w = spawn_world_on_moto(90).await;
    w.jamf.set_smtp_settings(json!({
        "enabled": true,
        "authenticationType": "BASIC",
        "connectionSettings": {"host": "smtp.example.com", "port": 587, "encryptionType": "TLS_1_2", "connectionTimeout": 5},
        "senderSettings": {"displayName": "Jamf Pro Server", "emailAddress": "jamf@example.com"},
    }));
    let args = [
        "--json",
        "--jamf-credentials-secret-id",
        &w.jamf_credentials_id,
    ];
    let run = changes_nothing(&w, discover(&w, &args, &[])).await;
    assert_eq!(
        run.code, 0,
        "nothing to manage is not an error: {}",
        run.stderr
    );
    let v = json_of(&run);

    let keys = |o: &Value| -> BTreeSet<String> {
        o.as_object().expect("an object").keys().cloned().collect()
    };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        keys(&v),
        set(&[
            "jamf_url",
            "integrations",
            "managed_targets",
            "secret_sign_in",
            "problems"
        ])
    );
    let integration_keys = set(&[
        "target",
        "state",
        "detail",
        "enabled",
        "tenant_id",
        "client_id",
        "app",
        "managed",
        "managed_by",
        "jamf_holds_key_id",
        "jamf_holds",
        "init_command",
        "legacy",
        "advice",
    ]);
    let items = v["integrations"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for i in items {
        assert_eq!(keys(i), integration_keys, "{i}");
    }
    let smtp = &items[0];
    assert_eq!(smtp["state"], "not-configured");
    assert!(smtp["detail"].as_str().unwrap().contains("BASIC"), "{smtp}");
    assert_eq!(smtp["client_id"], Value::Null);
    assert_eq!(smtp["init_command"], Value::Null);
    assert_eq!(items[1]["state"], "not-read");
    assert!(
        v["managed_targets"]
            .as_str()
            .unwrap()
            .starts_with("unknown"),
        "no targets named: {v}"
    );
    assert!(
        w.entra
            .requests()
            .iter()
            .all(|r| !r.path.contains("/applications")),
        "no app to look up"
    );
}

#[tokio::test]
async fn bad_input_is_named_and_exits_2() {
    let w = spawn_world_on_moto(90).await;
    let plain = discover(
        &w,
        &[
            "--jamf-url",
            "http://jamf.example.com/",
            "--jamf-credentials-secret-id",
            &w.jamf_credentials_id,
        ],
        &[],
    )
    .await;
    assert_eq!(plain.code, 2, "{}", plain.stderr);
    assert!(plain.stderr.contains("plain http"), "{}", plain.stderr);

    let no_credentials = discover(&w, &[], &[]).await;
    assert_eq!(no_credentials.code, 2);
    assert!(
        no_credentials
            .stderr
            .contains("--jamf-credentials-secret-id"),
        "{}",
        no_credentials.stderr
    );

    let not_a_url = discover(&w, &["--jamf-url", "not a url"], &[]).await;
    assert_eq!(not_a_url.code, 2, "{}", not_a_url.stderr);
}

#[tokio::test]
async fn refusals_by_jamf_pro_and_entra_are_named_and_exit_1() {
    let w = spawn_world_on_moto(90).await;
    let wrong_jamf = moto::unique("discover-wrong-jamf");
    let wrong = secrecy::SecretString::from(
        json!({"client_id": "no-such-client", "client_secret": "not-the-secret", "jamf_url": w.jamf.url().as_str()}).to_string(),
    );
    w.store.create(&wrong_jamf, &wrong, "test").await.unwrap();
    let args = ["--json", "--jamf-credentials-secret-id", &wrong_jamf];
    let jamf = changes_nothing(&w, discover(&w, &args, &[])).await;
    assert_eq!(jamf.code, 1, "{}", jamf.stderr);
    let smtp = &json_of(&jamf)["integrations"][0];
    assert_eq!(smtp["state"], "failed");
    assert!(
        smtp["detail"]
            .as_str()
            .unwrap()
            .contains("refused the rotator's credentials"),
        "{smtp}"
    );

    // The rotator's own secret is wrong: Entra refuses its sign-in, and says so per app.
    let wrong_rotator = moto::unique("discover-wrong-rotator");
    let wrong = secrecy::SecretString::from(
        json!({"client_id": w.rotator_client_id, "client_secret": "not-the-secret"}).to_string(),
    );
    w.store
        .create(&wrong_rotator, &wrong, "test")
        .await
        .unwrap();
    let args = [
        "--json",
        "--jamf-credentials-secret-id",
        &w.jamf_credentials_id,
    ];
    let entra = discover(
        &w,
        &args,
        &[("ROTATOR_CREDENTIALS_SECRET_ID", wrong_rotator.as_str())],
    )
    .await;
    assert_eq!(entra.code, 1, "{}", entra.stderr);
    let app = &json_of(&entra)["integrations"][0]["app"];
    assert_eq!(app["visible"], false);
    assert_eq!(
        app["owner_command"],
        Value::Null,
        "not an ownership problem"
    );
    let error = app["error"].as_str().unwrap();
    assert!(
        error.starts_with("Graph refused: Entra token endpoint refused")
            && error.contains("AADSTS7000215"),
        "{error}"
    );
    w.assert_no_leaks(&[&jamf.stdout, &jamf.stderr, &entra.stdout, &entra.stderr]);
}

#[tokio::test]
async fn jamf_credentials_bound_to_another_server_are_never_sent_to_this_one() {
    let w = spawn_world_on_moto(90).await;
    let (_, value) = w
        .store
        .value_at(&w.jamf_credentials_id, "AWSCURRENT")
        .await
        .unwrap()
        .unwrap();
    let mut bound: Value = serde_json::from_str(value.expose_secret()).unwrap();
    bound["jamf_url"] = json!("https://other.jamfcloud.com");
    let elsewhere = moto::unique("discover-bound-elsewhere");
    let secret = secrecy::SecretString::from(bound.to_string());
    w.store.create(&elsewhere, &secret, "test").await.unwrap();
    let jamf_seen = w.jamf.requests().len();

    let run = discover(&w, &["--jamf-credentials-secret-id", &elsewhere], &[]).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("other.jamfcloud.com"),
        "the error names the server the credentials belong to: {}",
        run.stderr
    );
    assert_eq!(
        w.jamf.requests().len(),
        jamf_seen,
        "nothing was sent to this Jamf Pro"
    );
    w.assert_no_leaks(&[&run.stdout, &run.stderr]);
}
