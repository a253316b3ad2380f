//! The `smtp-graph` target: install changes only the Graph secret, verify asks Jamf Pro's SMTP
//! test (which asks Entra), another app or auth type is refused with nothing changed, and inspect
//! and scope describe the Graph mail settings.

use super::harness::{assert_mismatch, header, secret, spawn_world, RECIPIENT, TENANT};
use rotator_engine::config::Cloud;
use rotator_engine::ports::{TargetError, TargetFactory};
use rotator_testkit::jamf::JamfOp;
use secrecy::ExposeSecret;

#[tokio::test]
async fn install_changes_only_the_graph_secret() {
    let w = spawn_world().await;
    let target = w.target().await;
    let before = w.jamf.smtp_settings();
    target
        .install(&secret("Nw8~the-new-graph-secret"))
        .await
        .unwrap();
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some("Nw8~the-new-graph-secret")
    );
    assert_eq!(
        w.jamf.smtp_settings(),
        before,
        "nothing but the write-only secret changed"
    );
    let put = w.request(|r| r.method == "PUT");
    assert_eq!(
        header(&put, "content-type"),
        Some("application/merge-patch+json")
    );
    let patch: serde_json::Value = serde_json::from_str(&put.body).unwrap();
    assert_eq!(
        patch["graphApiCredentials"]["clientId"],
        w.app.client_id.as_str()
    );
    assert_eq!(patch["graphApiCredentials"]["tenantId"], TENANT);
    // Read, write, read back (on the pinned node).
    let order: Vec<_> = w
        .paths()
        .into_iter()
        .filter(|p| p.contains("smtp-server"))
        .collect();
    assert_eq!(
        order,
        [
            "GET /api/v2/smtp-server",
            "PUT /api/v2/smtp-server",
            "GET /api/v2/smtp-server"
        ]
    );
}

#[tokio::test]
async fn verify_passes_when_entra_accepts_the_stored_secret_and_is_rejected_when_it_refuses() {
    let w = spawn_world().await;
    let target = w.target().await;
    target.verify().await.unwrap();
    let test = w.request(|r| r.path == "/api/v1/smtp-server/test");
    assert_eq!(test.status, 202);
    assert_eq!(test.body, format!(r#"{{"recipientEmail":"{RECIPIENT}"}}"#));
    assert!(w.entra.accepts(
        &w.app.client_id,
        w.graph_secret.expose_secret(),
        &Cloud::Global.graph_scope()
    ));

    // A secret Entra does not know: Jamf Pro's test fails, and says why.
    target
        .install(&secret("Unkn0wn~secret-value"))
        .await
        .unwrap();
    match target.verify().await.unwrap_err() {
        TargetError::Rejected(m) => {
            assert!(m.contains("7000215") && m.contains(RECIPIENT), "{m}");
            assert!(!m.contains("Unkn0wn~secret-value"));
        }
        other => panic!("{other:?}"),
    }
    // Rollback is installing the old secret again; then the test passes again.
    target.install(&w.graph_secret).await.unwrap();
    target.verify().await.unwrap();
}

#[tokio::test]
async fn another_client_id_or_auth_type_is_refused_with_nothing_changed() {
    let w = spawn_world().await;
    let must_not_land = secret("Zz9~must-not-land");
    let doc = w.document(
        "99999999-9999-4999-8999-999999999999",
        Some("it@example.com"),
    );
    let target = w.factory().open(&doc).await.unwrap();
    let e = target.install(&must_not_land).await.unwrap_err();
    assert_mismatch(&e, &w.app.client_id);
    assert!(!e.to_string().contains("must-not-land"));

    let mut basic = w.jamf.smtp_settings();
    basic["authenticationType"] = "BASIC".into();
    w.jamf.set_smtp_settings(basic);
    let e = w.target().await.install(&must_not_land).await.unwrap_err();
    assert_mismatch(&e, "BASIC");
    assert_eq!(w.jamf.count(JamfOp::PutSmtp), 0);
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some(w.graph_secret.expose_secret())
    );
}

#[tokio::test]
async fn inspect_and_scope_describe_the_graph_mail_settings() {
    let w = spawn_world().await;
    let target = w.target().await;
    assert_eq!(target.scope(), "https://graph.microsoft.com/.default");
    let cfg = target.inspect().await.unwrap();
    assert!(cfg.enabled);
    assert_eq!(cfg.client_id.as_deref(), Some(w.app.client_id.as_str()));
    assert_eq!(cfg.tenant_id.as_deref(), Some(TENANT));
    assert!(cfg.detail.contains("Microsoft Graph"), "{}", cfg.detail);
}
