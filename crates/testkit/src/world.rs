//! A whole world of stand-ins, wired to an engine: Entra/Graph and Jamf Pro stand-ins seeded with
//! a tenant, the Jamf app registration and its first secret, the rotator's own identity (owner of
//! the app), a Jamf API client, and the three secrets the product reads (target document, Jamf
//! credentials, rotator credentials) in the given store. `demo`, `sim` and the tests share it.

use crate::alerts::MemoryAlerts;
use crate::clock::SharedClock;
use crate::config::{Cloud, Settings};
use crate::document::{EntraSection, JamfSection, TargetDocument, TargetKind};
use crate::entra::{EntraSim, SimApp};
use crate::jamf::{JamfSim, JamfSimConfig};
use crate::memory_leases::MemoryLeases;
use crate::ports::{SecretStore, StoreError};
use crate::rotation::{Engine, Policy};
use rotator_adapters::entra::{GraphDirectory, RotatorIdentity};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// The tenant every world uses.
pub const TENANT_ID: &str = "8f4b3c2a-1d6e-4f7a-9b0c-2e5d8a1f3c7b";

/// What to build.
#[derive(Clone)]
pub struct WorldOptions {
    /// Time for the stand-ins and the engine.
    pub clock: SharedClock,
    /// Where the three secrets go (in-memory store, or Secrets Manager on moto).
    pub store: Arc<dyn SecretStore>,
    /// Name of the target's secret (the Jamf credentials and rotator secrets get suffixes).
    pub secret_name: String,
    /// Which Jamf integration.
    pub target: TargetKind,
    /// Days until the first secret expires.
    pub expires_in_days: i64,
    /// Settings to start from; endpoints and identities are filled in.
    pub settings: Settings,
    /// `conditional-access`: seconds to watch Jamf's notifications (`None`: the default 60 s).
    pub observation_secs: Option<u64>,
    /// The document's `jamf.daily_proof` (the check runs Jamf Pro's own test daily).
    pub daily_proof: bool,
}

impl WorldOptions {
    /// A world with a secret expiring in 10 days (due), the given store and clock.
    pub fn new(clock: SharedClock, store: Arc<dyn SecretStore>, secret_name: &str) -> Self {
        Self {
            clock,
            store,
            secret_name: secret_name.to_string(),
            target: TargetKind::SmtpGraph,
            expires_in_days: 10,
            settings: Settings {
                smtp_test_recipient: Some("it-alerts@example.com".into()),
                ..Settings::default()
            },
            observation_secs: None,
            daily_proof: false,
        }
    }
}

/// A running world.
pub struct World {
    /// Entra/Graph stand-in.
    pub entra: EntraSim,
    /// Jamf Pro stand-in.
    pub jamf: JamfSim,
    /// The Jamf app registration.
    pub app: SimApp,
    /// The target's secret id.
    pub secret_id: String,
    /// The Jamf credentials secret id.
    pub jamf_credentials_id: String,
    /// The rotator credentials secret id.
    pub rotator_credentials_id: String,
    /// The rotator's client id.
    pub rotator_client_id: String,
    /// The first secret's key id.
    pub initial_key_id: String,
    /// Which Jamf integration holds the secret.
    pub target: TargetKind,
    /// Every secret the world made (the leak scan checks none of them shows up).
    pub secrets: Vec<SecretString>,
    /// Settings pointing at the stand-ins.
    pub settings: Settings,
    /// Recorded alerts.
    pub alerts: MemoryAlerts,
    /// The lease table every engine of this world (every process of the test) shares.
    pub leases: MemoryLeases,
    /// The engine, wired to the stand-ins.
    pub engine: Engine,
    /// The store.
    pub store: Arc<dyn SecretStore>,
    /// The clock.
    pub clock: SharedClock,
}

/// Starts the stand-ins, seeds them and the store, and wires an engine.
pub async fn spawn_world(opts: WorldOptions) -> Result<World, StoreError> {
    let clock = opts.clock.clone();
    let entra = EntraSim::start(clock.clone()).await;
    entra.add_tenant(TENANT_ID, Some("contoso.onmicrosoft.com"));
    let app = entra.add_app(TENANT_ID, "Jamf Pro");
    let (rotator_client_id, rotator_secret) = entra.add_rotator(TENANT_ID);
    entra.make_owner(&rotator_client_id, &app.object_id);
    let expires = clock.now() + chrono::Duration::days(opts.expires_in_days);
    let (initial_key_id, first_secret) =
        entra.seed_password(&app.object_id, "set by hand in the Azure portal", expires);

    let jamf = JamfSim::start(
        JamfSimConfig {
            entra_login_url: entra.url(),
            tenant_id: TENANT_ID.to_string(),
            client_id: app.client_id.clone(),
            secret: first_secret.clone(),
            cloud: Cloud::Global,
        },
        clock.clone(),
    )
    .await;
    let jamf_creds = crate::settings::seed(opts.target, &jamf, &app, &first_secret);

    let secret_id = opts.secret_name.clone();
    let jamf_credentials_id = format!("{secret_id}/jamf-credentials");
    let rotator_credentials_id = format!("{secret_id}/rotator-credentials");
    let jamf_secret = jamf_creds.secret;
    let jamf_creds = SecretString::from(jamf_creds.document.to_string());
    let rotator_creds = SecretString::from(
        serde_json::json!({"client_id": rotator_client_id, "client_secret": rotator_secret.expose_secret()}).to_string(),
    );
    let doc = TargetDocument {
        schema: 1,
        entra: EntraSection {
            cloud: Cloud::Global,
            tenant_id: TENANT_ID.to_string(),
            client_id: app.client_id.clone(),
            application_object_id: Some(app.object_id.clone()),
            client_secret: first_secret.clone(),
            key_id: Some(initial_key_id.clone()),
            expires_at: Some(expires),
        },
        jamf: JamfSection {
            url: Some(jamf.url()),
            target: opts.target,
            credentials_secret_id: jamf_credentials_id.clone(),
            test_recipient: None,
            page_path: None,
            secret_field: None,
            application_id_field: None,
            observation_secs: opts.observation_secs,
            daily_proof: opts.daily_proof,
        },
        rotation: None,
    };
    let store = opts.store.clone();
    store
        .create(
            &jamf_credentials_id,
            &jamf_creds,
            "Jamf Pro API client for jamf-entra-rotator",
        )
        .await?;
    store
        .create(
            &rotator_credentials_id,
            &rotator_creds,
            "jamf-entra-rotator's own Entra credential",
        )
        .await?;
    store
        .create(
            &secret_id,
            &doc.to_secret(),
            "Jamf Pro's Entra client secret, rotated by jamf-entra-rotator",
        )
        .await?;

    let settings = Settings {
        entra_login_url: Some(entra.url()),
        graph_url: Some(entra.url()),
        rotator_client_id: Some(rotator_client_id.clone()),
        rotator_credentials_secret_id: Some(rotator_credentials_id.clone()),
        // The stand-ins speak plain http on this machine (ALLOW_LOOPBACK_HTTP=true).
        loopback_http: rotator_engine::endpoint::LoopbackHttp::Allowed,
        ..opts.settings.clone()
    };
    let identity = RotatorIdentity {
        client_id: rotator_client_id.clone(),
        secret: rotator_secret.clone(),
    };
    let alerts = MemoryAlerts::default();
    let leases = MemoryLeases::default();
    let engine = Engine::new(
        Arc::new(GraphDirectory::new(&settings, identity, clock.clone())),
        Arc::new(rotator_adapters::jamf::JamfTargets::new(
            store.clone(),
            settings.clone(),
            clock.clone(),
        )),
        store.clone(),
        Arc::new(alerts.clone()),
        clock.clone(),
        Policy::from_settings(&settings),
    )
    .with_leases(Arc::new(leases.clone()));
    Ok(World {
        leases,
        entra,
        jamf,
        app,
        secret_id,
        jamf_credentials_id,
        rotator_credentials_id,
        rotator_client_id,
        initial_key_id,
        target: opts.target,
        secrets: vec![first_secret, rotator_secret, jamf_secret],
        settings,
        alerts,
        engine,
        store,
        clock,
    })
}

impl World {
    /// The secret Jamf Pro holds now, and whether Entra accepts it for the integration's scope.
    pub fn jamf_secret_works(&self) -> bool {
        crate::settings::held(self.target, &self.jamf)
            .is_some_and(|(secret, scope)| self.entra.accepts(&self.app.client_id, &secret, &scope))
    }

    /// The secret the world's Jamf integration holds now.
    pub fn jamf_secret(&self) -> Option<String> {
        crate::settings::held(self.target, &self.jamf).map(|(secret, _)| secret)
    }

    /// Wires another engine over the same stand-ins and store (a second process).
    pub fn second_engine(&self) -> Engine {
        let identity = RotatorIdentity {
            client_id: self.rotator_client_id.clone(),
            secret: self.secrets[1].clone(),
        };
        Engine::new(
            Arc::new(GraphDirectory::new(
                &self.settings,
                identity,
                self.clock.clone(),
            )),
            Arc::new(rotator_adapters::jamf::JamfTargets::new(
                self.store.clone(),
                self.settings.clone(),
                self.clock.clone(),
            )),
            self.store.clone(),
            Arc::new(self.alerts.clone()),
            self.clock.clone(),
            Policy::from_settings(&self.settings),
        )
        .with_leases(Arc::new(self.leases.clone()))
    }
}
