//! The Jamf Pro API client and the `smtp-graph` target against the Jamf Pro stand-in, which in
//! turn asks the Entra stand-in whether the secret it holds works. Real HTTP on loopback; time is
//! a `ManualClock`, so token expiry and backoff never wait.

use chrono::{TimeZone, Utc};
use jamf_entra_rotator::clock::{Clock, ManualClock, SharedClock};
use jamf_entra_rotator::config::{Cloud, Settings};
use jamf_entra_rotator::document::TargetDocument;
use jamf_entra_rotator::jamf::{JamfClient, JamfCredentials, SmtpGraphTarget, Targets};
use jamf_entra_rotator::ports::{JamfTarget, TargetError, TargetFactory};
use jamf_entra_rotator::sim::entra::{EntraSim, SimApp};
use jamf_entra_rotator::sim::jamf::{JamfOp, JamfSim, JamfSimConfig};
use jamf_entra_rotator::vault::MemoryStore;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

const TENANT: &str = "5f1a2b3c-0000-4000-8000-000000000001";
const CREDS_ID: &str = "jamf/rotator-api-client";

/// Entra with one app and one secret; Jamf Pro sending mail as that app with that secret; an
/// API client for the rotator; its credentials in a secret store.
struct World {
    clock: ManualClock,
    entra: EntraSim,
    jamf: JamfSim,
    app: SimApp,
    graph_secret: SecretString,
    jamf_client_id: String,
    jamf_client_secret: SecretString,
    store: MemoryStore,
}

async fn spawn_world() -> World {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap());
    let shared: SharedClock = Arc::new(clock.clone());
    let entra = EntraSim::start(shared.clone()).await;
    entra.add_tenant(TENANT, None);
    let app = entra.add_app(TENANT, "Jamf Pro mail");
    let (_, graph_secret) = entra.seed_password(
        &app.object_id,
        "initial",
        clock.now() + chrono::Duration::days(365),
    );
    let jamf = JamfSim::start(
        JamfSimConfig {
            entra_login_url: entra.url(),
            tenant_id: TENANT.into(),
            client_id: app.client_id.clone(),
            secret: graph_secret.clone(),
            cloud: Cloud::Global,
        },
        shared,
    )
    .await;
    let (jamf_client_id, jamf_client_secret) = jamf.add_api_client();
    let store = MemoryStore::new();
    store.insert(
        CREDS_ID,
        &serde_json::json!({"client_id": jamf_client_id, "client_secret": jamf_client_secret.expose_secret()}).to_string(),
    );
    World {
        clock,
        entra,
        jamf,
        app,
        graph_secret,
        jamf_client_id,
        jamf_client_secret,
        store,
    }
}

impl World {
    fn shared_clock(&self) -> SharedClock {
        Arc::new(self.clock.clone())
    }

    fn client_with(&self, creds: serde_json::Value) -> JamfClient {
        let creds = JamfCredentials::parse(&SecretString::from(creds.to_string())).unwrap();
        JamfClient::new(
            &self.jamf.url(),
            creds,
            &Settings::default(),
            self.shared_clock(),
        )
        .unwrap()
    }

    fn client(&self) -> JamfClient {
        self.client_with(serde_json::json!({
            "client_id": self.jamf_client_id, "client_secret": self.jamf_client_secret.expose_secret()
        }))
    }

    fn document(&self, client_id: &str, recipient: Option<&str>) -> TargetDocument {
        let mut jamf = serde_json::json!({
            "url": self.jamf.url().as_str(), "target": "smtp-graph", "credentials_secret_id": CREDS_ID
        });
        if let Some(r) = recipient {
            jamf["test_recipient"] = r.into();
        }
        let doc = serde_json::json!({
            "schema": 1,
            "entra": {"cloud": "global", "tenant_id": TENANT, "client_id": client_id,
                      "client_secret": self.graph_secret.expose_secret()},
            "jamf": jamf,
        });
        TargetDocument::parse(&doc.to_string()).unwrap()
    }

    async fn target(&self) -> Box<dyn JamfTarget> {
        let doc = self.document(&self.app.client_id, Some("it-alerts@example.com"));
        self.factory().open(&doc).await.unwrap()
    }

    fn factory(&self) -> Targets {
        Targets::new(
            Arc::new(self.store.clone()),
            Settings::default(),
            self.shared_clock(),
        )
    }

    /// Paths of the recorded requests, in order.
    fn paths(&self) -> Vec<String> {
        self.jamf
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

#[tokio::test]
async fn api_client_token_is_reused_until_shortly_before_it_expires() {
    let w = spawn_world().await;
    let c = w.client();
    for _ in 0..3 {
        c.smtp_server().await.unwrap();
    }
    assert_eq!(w.jamf.count(JamfOp::Token), 1, "{:?}", w.paths());
    assert!(w.paths()[0].starts_with("POST /api/v1/oauth/token"));
    // The stand-in's token lives 1799 s; 28 minutes in, it is still good.
    w.clock.advance(Duration::from_secs(28 * 60));
    c.version().await.unwrap();
    assert_eq!(w.jamf.count(JamfOp::Token), 1);
    // Within the last minute, it is replaced before it can expire mid-flight.
    w.clock.advance(Duration::from_secs(90));
    c.version().await.unwrap();
    assert_eq!(w.jamf.count(JamfOp::Token), 2);
}

#[tokio::test]
async fn older_servers_get_the_legacy_oauth_path_and_keep_it() {
    let w = spawn_world().await;
    w.jamf.set_legacy_oauth_only(true);
    let c = w.client();
    c.smtp_server().await.unwrap();
    w.clock.advance(Duration::from_secs(3600));
    c.smtp_server().await.unwrap();
    let paths = w.paths();
    let v1 = paths
        .iter()
        .filter(|p| p.as_str() == "POST /api/v1/oauth/token")
        .count();
    let legacy = paths
        .iter()
        .filter(|p| p.as_str() == "POST /api/oauth/token")
        .count();
    assert_eq!((v1, legacy), (1, 2), "{paths:?}");
}

#[tokio::test]
async fn a_bad_api_client_is_an_auth_error_that_never_shows_the_secret() {
    let w = spawn_world().await;
    let c = w.client_with(
        serde_json::json!({"client_id": w.jamf_client_id, "client_secret": "Wr0ng-but-secret"}),
    );
    let e = c.smtp_server().await.unwrap_err();
    assert!(matches!(e, TargetError::Auth { .. }), "{e:?}");
    let shown = format!("{e} {e:?} {c:?}");
    assert!(shown.contains("invalid_client"), "{shown}");
    assert!(!shown.contains("Wr0ng-but-secret"), "{shown}");
}

#[tokio::test]
async fn a_user_account_gets_a_bearer_token_and_close_invalidates_it() {
    let w = spawn_world().await;
    w.jamf.add_user("rotator", "pa55:word!");
    let c = w.client_with(serde_json::json!({"username": "rotator", "password": "pa55:word!"}));
    assert!(c.version().await.unwrap().starts_with("11."));
    assert!(w.paths()[0].starts_with("POST /api/v1/auth/token"));
    c.close().await.unwrap();
    let last = w.jamf.requests().pop().unwrap();
    assert_eq!(
        (last.path.as_str(), last.status),
        ("/api/v1/auth/invalidate-token", 204)
    );
    // The invalidated token is gone: the next call signs in again.
    c.version().await.unwrap();
    assert_eq!(w.jamf.count(JamfOp::Token), 2);

    let bad = w.client_with(serde_json::json!({"username": "rotator", "password": "nope-nope"}));
    assert!(matches!(bad.version().await, Err(TargetError::Auth { .. })));
}

#[tokio::test]
async fn a_401_mid_flow_signs_in_again_once_and_repeats_the_call_once() {
    let w = spawn_world().await;
    let c = w.client();
    c.smtp_server().await.unwrap();
    w.jamf.expire_tokens();
    c.smtp_server().await.unwrap();
    assert_eq!(w.jamf.count(JamfOp::Token), 2);
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 3);

    // A server that keeps answering 401 gets exactly one more sign-in and one repeat.
    w.jamf.fail_next(JamfOp::GetSmtp, 10, 401);
    let e = c.smtp_server().await.unwrap_err();
    assert!(matches!(e, TargetError::Auth { .. }), "{e:?}");
    assert_eq!(w.jamf.count(JamfOp::Token), 3);
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 5);
}

#[tokio::test]
async fn the_node_cookie_from_the_token_response_comes_back_on_later_requests() {
    let w = spawn_world().await;
    let c = w.client();
    c.smtp_server().await.unwrap();
    c.notifications().await.unwrap();
    let requests = w.jamf.requests();
    let cookie = |i: usize| {
        requests[i]
            .headers
            .iter()
            .find(|(k, _)| k == "cookie")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(cookie(0), None, "the first request has no cookie yet");
    let pinned = cookie(1).expect("GET smtp-server carries the node cookie");
    assert!(pinned.contains("jpro-ingress=node-"), "{pinned}");
    assert_eq!(
        cookie(2).as_deref(),
        Some(pinned.as_str()),
        "same node for the following request"
    );
}

#[tokio::test]
async fn jamf_errors_are_parsed_and_only_idempotent_calls_are_retried() {
    let w = spawn_world().await;
    let c = w.client();
    w.jamf.fail_next(JamfOp::GetSmtp, 1, 403);
    match c.smtp_server().await.unwrap_err() {
        TargetError::Api {
            operation,
            status,
            code,
            message,
        } => {
            assert_eq!(
                (operation.as_str(), status),
                ("GET /api/v2/smtp-server", 403)
            );
            assert_eq!(code.as_deref(), Some("INJECTED_FAILURE"));
            assert!(message.contains("failure injected"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 1, "a 403 is not retried");

    // Two 503s, then success: three attempts, the waits on the virtual clock.
    let before = w.clock.now();
    w.jamf.fail_next(JamfOp::GetSmtp, 2, 503);
    c.smtp_server().await.unwrap();
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 4);
    assert!(
        w.clock.now() > before,
        "backoff went through the injected clock"
    );

    // Three 502s exhaust the three attempts.
    w.jamf.fail_next(JamfOp::GetSmtp, 3, 502);
    assert!(matches!(
        c.smtp_server().await,
        Err(TargetError::Api { status: 502, .. })
    ));
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 7);

    // The SMTP test sends mail: never repeated.
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 503);
    assert!(c.smtp_test("it@example.com").await.is_err());
    assert_eq!(w.jamf.count(JamfOp::SmtpTest), 1);
}

#[tokio::test]
async fn twenty_parallel_calls_never_exceed_five_connections() {
    let w = spawn_world().await;
    let c = w.client();
    c.version().await.unwrap();
    // The stand-in holds each request briefly so that unlimited clients would pile up.
    w.jamf.set_latency(Duration::from_millis(25));
    let calls = (0..20).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.smtp_server().await })
    });
    for r in futures_join(calls).await {
        r.unwrap();
    }
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 20);
    let max = w.jamf.max_concurrent();
    assert!((2..=5).contains(&max), "max concurrent {max}");
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn install_changes_only_the_graph_secret() {
    let w = spawn_world().await;
    let target = w.target().await;
    let before = w.jamf.smtp_settings();
    let new_secret = SecretString::from("Nw8~the-new-graph-secret".to_string());
    target.install(&new_secret).await.unwrap();
    assert_eq!(
        w.jamf.smtp_secret().as_deref(),
        Some("Nw8~the-new-graph-secret")
    );
    assert_eq!(
        w.jamf.smtp_settings(),
        before,
        "nothing but the write-only secret changed"
    );
    let put = w
        .jamf
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert!(put
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/merge-patch+json"));
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
    let test = w
        .jamf
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/smtp-server/test")
        .unwrap();
    assert_eq!(test.status, 202);
    assert_eq!(test.body, r#"{"recipientEmail":"it-alerts@example.com"}"#);
    assert!(w.entra.accepts(
        &w.app.client_id,
        w.graph_secret.expose_secret(),
        &Cloud::Global.graph_scope()
    ));

    // A secret Entra does not know: Jamf Pro's test fails, and says why.
    target
        .install(&SecretString::from("Unkn0wn~secret-value".to_string()))
        .await
        .unwrap();
    match target.verify().await.unwrap_err() {
        TargetError::Rejected(m) => {
            assert!(
                m.contains("7000215") && m.contains("it-alerts@example.com"),
                "{m}"
            );
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
    let doc = w.document(
        "99999999-9999-4999-8999-999999999999",
        Some("it@example.com"),
    );
    let target = w.factory().open(&doc).await.unwrap();
    let e = target
        .install(&SecretString::from("Zz9~must-not-land".to_string()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, TargetError::Mismatch(m) if m.contains(&w.app.client_id)),
        "{e:?}"
    );
    assert!(!e.to_string().contains("must-not-land"));

    let mut basic = w.jamf.smtp_settings();
    basic["authenticationType"] = "BASIC".into();
    w.jamf.set_smtp_settings(basic);
    let e = w
        .target()
        .await
        .install(&SecretString::from("Zz9~must-not-land".to_string()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, TargetError::Mismatch(m) if m.contains("BASIC")),
        "{e:?}"
    );
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

#[tokio::test]
async fn the_factory_needs_a_recipient_and_usable_credentials() {
    let w = spawn_world().await;
    let no_recipient = w.document(&w.app.client_id, None);
    let e = w
        .factory()
        .open(&no_recipient)
        .await
        .err()
        .expect("no recipient");
    assert!(
        matches!(&e, TargetError::Config(m) if m.contains("SMTP_TEST_RECIPIENT")),
        "{e:?}"
    );
    let settings = Settings {
        smtp_test_recipient: Some("ops@example.com".into()),
        ..Settings::default()
    };
    let f = Targets::new(Arc::new(w.store.clone()), settings, w.shared_clock());
    f.open(&no_recipient).await.unwrap().verify().await.unwrap();

    let mut ca = w.document(&w.app.client_id, Some("it@example.com"));
    ca.jamf.target = jamf_entra_rotator::document::TargetKind::ConditionalAccess;
    assert!(matches!(
        w.factory().open(&ca).await,
        Err(TargetError::Config(_))
    ));

    let mut missing = w.document(&w.app.client_id, Some("it@example.com"));
    missing.jamf.credentials_secret_id = "jamf/nope".into();
    let e = w.factory().open(&missing).await.err().unwrap().to_string();
    assert!(e.contains("jamf/nope"), "{e}");
    w.store.insert("jamf/half", r#"{"client_id":"abc"}"#);
    missing.jamf.credentials_secret_id = "jamf/half".into();
    let e = w.factory().open(&missing).await.err().unwrap().to_string();
    assert!(
        e.contains("client_secret") && e.contains("jamf/half"),
        "{e}"
    );
}

#[tokio::test]
async fn no_secret_or_token_reaches_an_error_or_debug_output() {
    let w = spawn_world().await;
    let doc = w.document(&w.app.client_id, Some("it@example.com"));
    let target = SmtpGraphTarget::new(w.client(), &doc, "it@example.com");
    let rejected = SecretString::from("Lk7~leaked-if-you-see-this".to_string());
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
        .all(|r| r.headers.iter().all(|(k, _)| k != "authorization")));
}
