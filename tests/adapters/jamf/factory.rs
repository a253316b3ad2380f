//! Opening targets from documents: the SMTP test needs a recipient (from the document or the
//! settings), the `smtp-graph` factory opens no other kind, and the Jamf credentials secret must
//! exist and be complete.

use super::harness::spawn_world;
use rotator_adapters::jamf::JamfTargets;
use rotator_engine::config::Settings;
use rotator_engine::document::TargetKind;
use rotator_engine::ports::{TargetError, TargetFactory};
use std::sync::Arc;

#[tokio::test]
async fn the_factory_needs_a_recipient_and_usable_credentials() {
    let w = spawn_world().await;
    let no_recipient = w.document(&w.app.client_id, None);
    let e = w.open_err(&no_recipient).await;
    assert!(
        matches!(&e, TargetError::Config(m) if m.contains("SMTP_TEST_RECIPIENT")),
        "{e:?}"
    );
    let settings = Settings {
        smtp_test_recipient: Some("ops@example.com".into()),
        ..rotator_testkit::settings::on_loopback()
    };
    let f = JamfTargets::new(Arc::new(w.store.clone()), settings, w.shared_clock());
    f.open(&no_recipient).await.unwrap().verify().await.unwrap();

    let mut ca = w.document(&w.app.client_id, Some("it@example.com"));
    ca.jamf.target = TargetKind::ConditionalAccess;
    assert!(matches!(w.open_err(&ca).await, TargetError::Config(_)));

    let mut missing = w.document(&w.app.client_id, Some("it@example.com"));
    missing.jamf.credentials_secret_id = "jamf/nope".into();
    let e = w.open_err(&missing).await.to_string();
    assert!(e.contains("jamf/nope"), "{e}");
    w.store.insert("jamf/half", r#"{"client_id":"abc"}"#);
    missing.jamf.credentials_secret_id = "jamf/half".into();
    let e = w.open_err(&missing).await.to_string();
    assert!(
        e.contains("client_secret") && e.contains("jamf/half"),
        "{e}"
    );
}
