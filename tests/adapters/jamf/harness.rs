//! What the `jamf` tests share: Entra with one app and one secret, Jamf Pro sending mail as that
//! app with that secret, an API client for the rotator with its credentials in a secret store,
//! and the checks more than one subject repeats.

use chrono::{TimeZone, Utc};
use rotator_adapters::jamf::{JamfClient, JamfCredentials, JamfTargets};
use rotator_engine::config::Cloud;
use rotator_engine::document::TargetDocument;
use rotator_engine::ports::{SecretHolder, TargetError, TargetFactory};
use rotator_testkit::clock::{Clock, ManualClock, SharedClock};
use rotator_testkit::entra::{EntraSim, SimApp};
use rotator_testkit::jamf::{JamfSim, JamfSimConfig};
use rotator_testkit::memory_store::MemoryStore;
use rotator_testkit::RecordedRequest;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

pub const TENANT: &str = "5f1a2b3c-0000-4000-8000-000000000001";
pub const CREDS_ID: &str = "jamf/rotator-api-client";
/// The recipient of Jamf Pro's SMTP test in the target [`World::target`] opens.
pub const RECIPIENT: &str = "it-alerts@example.com";

/// Entra with one app and one secret; Jamf Pro sending mail as that app with that secret; an
/// API client for the rotator; its credentials in a secret store.
pub struct World {
    pub clock: ManualClock,
    pub entra: EntraSim,
    pub jamf: JamfSim,
    pub app: SimApp,
    pub graph_secret: SecretString,
    pub jamf_client_id: String,
    pub jamf_client_secret: SecretString,
    pub store: MemoryStore,
}

pub async fn spawn_world() -> World {
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
        &serde_json::json!({"client_id": jamf_client_id, "client_secret": jamf_client_secret.expose_secret(), "jamf_url": jamf.url().as_str()}).to_string(),
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
    pub fn shared_clock(&self) -> SharedClock {
        Arc::new(self.clock.clone())
    }

    /// A client signing in to the stand-in with the credentials `creds` (as stored JSON).
    pub fn client_with(&self, creds: serde_json::Value) -> JamfClient {
        let creds = JamfCredentials::parse(&SecretString::from(creds.to_string())).unwrap();
        JamfClient::new(
            &self.jamf.url(),
            creds,
            &rotator_testkit::settings::on_loopback(),
            self.shared_clock(),
        )
        .unwrap()
    }

    /// A client signing in as the rotator's API client.
    pub fn client(&self) -> JamfClient {
        self.client_with(serde_json::json!({
            "client_id": self.jamf_client_id, "client_secret": self.jamf_client_secret.expose_secret()
        }))
    }

    /// A target document for the `smtp-graph` target of this Jamf Pro, naming `client_id` as
    /// the Entra app and `recipient` (if any) for the SMTP test.
    pub fn document(&self, client_id: &str, recipient: Option<&str>) -> TargetDocument {
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

    /// The target for the world's app, opened by the factory, testing mail to [`RECIPIENT`].
    pub async fn target(&self) -> Box<dyn SecretHolder> {
        let doc = self.document(&self.app.client_id, Some(RECIPIENT));
        self.factory().open(&doc).await.unwrap()
    }

    pub fn factory(&self) -> JamfTargets {
        JamfTargets::new(
            Arc::new(self.store.clone()),
            rotator_testkit::settings::on_loopback(),
            self.shared_clock(),
        )
    }

    /// The factory's refusal to open `doc`.
    pub async fn open_err(&self, doc: &TargetDocument) -> TargetError {
        self.factory()
            .open(doc)
            .await
            .err()
            .expect("the factory refuses the document")
    }

    /// Paths of the recorded requests, in order.
    pub fn paths(&self) -> Vec<String> {
        self.jamf
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// How many recorded requests were exactly `method_and_path` ("POST /api/oauth/token").
    pub fn count_path(&self, method_and_path: &str) -> usize {
        self.paths()
            .iter()
            .filter(|p| p.as_str() == method_and_path)
            .count()
    }

    /// The first recorded request that matches `pred`.
    pub fn request(&self, pred: impl Fn(&RecordedRequest) -> bool) -> RecordedRequest {
        self.jamf
            .requests()
            .into_iter()
            .find(pred)
            .expect("a recorded request that matches")
    }
}

/// A secret value for the target to install.
pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// The value of the first header named `name` (lower case) on a recorded request.
pub fn header<'a>(r: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Asserts a `Mismatch` refusal whose message names `what`.
pub fn assert_mismatch(e: &TargetError, what: &str) {
    assert!(
        matches!(e, TargetError::Mismatch(m) if m.contains(what)),
        "{e:?}"
    );
}
