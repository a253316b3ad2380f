//! No secret or token that crossed the wire shows up in an error, in `Debug` output, or in the
//! stand-in's log of request headers.

use super::harness::{header, secret, spawn_world};
use rotator_adapters::jamf::SmtpGraphTarget;
use rotator_engine::ports::SecretHolder;
use rotator_testkit::jamf::JamfOp;
use secrecy::ExposeSecret;

#[tokio::test]
async fn no_secret_or_token_reaches_an_error_or_debug_output() {
    let w = spawn_world().await;
    let doc = w.document(&w.app.client_id, Some("it@example.com"));
    let target = SmtpGraphTarget::new(w.client(), &doc, "it@example.com");
    let rejected = secret("Lk7~leaked-if-you-see-this");
    target.install(&rejected).await.unwrap();
    let mut shown = vec![format!("{target:?}"), format!("{:?}", w.client())];
    let e = target.verify().await.unwrap_err();
    shown.push(format!("{e} {e:?}"));
    w.jamf.fail_next(JamfOp::PutSmtp, 1, 422);
    let e = target.install(&rejected).await.unwrap_err();
    shown.push(format!("{e} {e:?}"));
    let c = w.client();
    shown.push(format!("{:?}", c.sso_failover().await.unwrap()));
    shown.push(format!("{:?}", c.smtp_server().await.unwrap()));
    // Every secret and token that crossed the wire.
    let mut secrets = vec![
        rejected.expose_secret().to_string(),
        w.graph_secret.expose_secret().to_string(),
        w.jamf_client_secret.expose_secret().to_string(),
    ];
    for r in w.jamf.requests() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.response) {
            for k in ["access_token", "token", "failoverUrl"] {
                if let Some(s) = v.get(k).and_then(|s| s.as_str()) {
                    secrets.push(s.to_string());
                }
            }
        }
    }
    assert!(secrets.len() >= 5, "{secrets:?}");
    for text in &shown {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a secret in: {text}");
        }
    }
    // The stand-in's log never records the Authorization header.
    assert!(w
        .jamf
        .requests()
        .iter()
        .all(|r| header(r, "authorization").is_none()));
}
