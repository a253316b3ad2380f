//! Whole rotations with the rotator signing in by assertion: `federated` through the engine and
//! through the CLI (STS found by `AWS_ENDPOINT_URL_STS`), `certificate` with the key and
//! certificate from Secrets Manager; no token, assertion or key anywhere it must not be.

use super::harness::{
    assert_nothing_secret_in, assertions_sent, engine_as, federated, issued,
    spawn_world_trusting_sts, CERT, CERT_KEY,
};
use crate::common;
use jsonwebtoken::Algorithm;
use rotator_adapters::entra::RotatorCredential;
use rotator_engine::config::{RotatorAuth, Settings};
use rotator_engine::rotation::check::Action;
use secrecy::SecretString;

#[tokio::test]
async fn federated_mode_rotates_end_to_end_with_no_stored_secret() {
    let (w, sts) = spawn_world_trusting_sts().await;
    let engine = engine_as(&w, federated(&w.rotator_client_id, &sts));

    let report = engine.check(&w.secret_id, false).await.unwrap();

    assert_eq!(report.action, Action::Rotated, "{report:?}");
    assert!(sts.requests() >= 1, "the rotator asked STS for its token");
    let sent = assertions_sent(&w.entra, &w.rotator_client_id);
    assert!(!sent.is_empty());
    let issued = issued(&sts);
    assert!(
        sent.iter().all(|a| issued.contains(a)),
        "every assertion is a token STS issued"
    );
    w.assert_invariant().await;
    let report = serde_json::to_string(&report).unwrap();
    w.assert_no_leaks(&[&report]);
    assert_nothing_secret_in(&w, &issued, &[&report]);
}

#[tokio::test]
async fn certificate_mode_rotates_end_to_end_with_the_key_from_secrets_manager() {
    let w = common::spawn_world_on_moto(10).await;
    w.entra.add_certificate(&w.rotator_client_id, CERT);
    // The rotator's credentials secret in certificate mode: the key and certificate as JSON.
    let creds_id = format!("{}/rotator-certificate", w.secret_id);
    let value =
        serde_json::json!({"private_key_pem": CERT_KEY, "certificate_pem": CERT}).to_string();
    w.store
        .create(&creds_id, &SecretString::from(value), "rotator certificate")
        .await
        .unwrap();
    let settings = Settings {
        rotator_auth: RotatorAuth::Certificate,
        rotator_credentials_secret_id: Some(creds_id),
        ..w.settings.clone()
    };
    let signin = rotator_adapters::wiring::rotator_identity(&settings, w.store.as_ref())
        .await
        .unwrap();
    assert!(matches!(
        signin.credential,
        RotatorCredential::Certificate(_)
    ));
    let debug = format!("{signin:?}");
    let engine = engine_as(&w, signin);

    let report = engine.check(&w.secret_id, false).await.unwrap();

    assert_eq!(report.action, Action::Rotated, "{report:?}");
    let sent = assertions_sent(&w.entra, &w.rotator_client_id);
    assert!(!sent.is_empty());
    let header = jsonwebtoken::decode_header(&sent[0]).unwrap();
    assert_eq!(header.alg, Algorithm::PS256);
    assert!(header.x5t_s256.is_some());
    w.assert_invariant().await;
    let report = serde_json::to_string(&report).unwrap();
    w.assert_no_leaks(&[&report]);
    assert_nothing_secret_in(&w, &sent, &[&report, &debug]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_in_federated_mode_finds_sts_through_aws_endpoint_url_sts() {
    let (w, sts) = spawn_world_trusting_sts().await;
    let env: Vec<(&str, String)> = vec![
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("PROPAGATION_SUCCESSES", "1".into()),
        ("AWS_ENDPOINT_URL", common::moto::endpoint().await),
        ("AWS_ENDPOINT_URL_STS", sts.url()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", common::moto::REGION.into()),
        ("ENTRA_LOGIN_URL", w.entra.url().to_string()),
        ("GRAPH_URL", w.entra.url().to_string()),
        ("ALLOW_LOOPBACK_HTTP", "true".into()),
        ("ROTATOR_AUTH", "federated".into()),
        ("ROTATOR_CLIENT_ID", w.rotator_client_id.clone()),
        ("SMTP_TEST_RECIPIENT", "it-alerts@example.com".into()),
    ];
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_jamf-entra-rotator"))
        .args([
            "rotate",
            "--json",
            "--secret-id",
            &w.secret_id,
            "--reason",
            "federated",
        ])
        .env_clear()
        .envs(env)
        .output()
        .await
        .expect("the CLI runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );

    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(r["outcome"], "rotated");
    assert!(sts.requests() >= 1, "the CLI asked the STS stand-in");
    assert!(!assertions_sent(&w.entra, &w.rotator_client_id).is_empty());
    w.assert_no_leaks(&[&stdout, &stderr]);
    assert_nothing_secret_in(&w, &issued(&sts), &[&stdout, &stderr]);
}
