//! Shared by the integration tests: a world of stand-ins over a real Secrets Manager emulator
//! (moto, over HTTP), captured logs, and the leak scan every test ends with.
#![allow(dead_code)]

pub mod moto;
pub mod tripwire;

use rotator_adapters::secrets_manager::AwsSecretStore;
use rotator_testkit::clock::ManualClock;
use rotator_testkit::clock::SharedClock;
use rotator_testkit::world::{spawn_world, World, WorldOptions};
use secrecy::{ExposeSecret, SecretString};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Everything every test's tracing output went to (one buffer per test process).
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber once (debug level for the crate, so the leak scan sees the
/// most the product ever logs). `TEST_LOG=1` also prints it.
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buf.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("rotator_engine=trace,rotator_adapters=trace,rotator_lambda=trace,rotator_testkit=trace,info")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        buf
    });
}

/// The logs captured so far.
pub fn logs() -> String {
    LOGS.get()
        .map(|b| String::from_utf8_lossy(&b.lock().unwrap()).into_owned())
        .unwrap_or_default()
}

/// A test world: stand-ins, moto-backed Secrets Manager, virtual clock.
pub struct TestWorld {
    pub world: World,
    pub clock: ManualClock,
}

impl std::ops::Deref for TestWorld {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

/// Starts a world whose first secret expires in `expires_in_days`, on virtual time, with
/// Secrets Manager on moto.
pub async fn spawn_world_on_moto(expires_in_days: i64) -> TestWorld {
    spawn_with(expires_in_days, |_| {}).await
}

/// A world whose Secrets Manager is the in-memory store (for faults moto cannot inject).
pub async fn spawn_world_on_memory(
    expires_in_days: i64,
) -> (TestWorld, rotator_testkit::memory_store::MemoryStore) {
    capture_logs();
    let clock = ManualClock::new(chrono::Utc::now());
    let shared: SharedClock = Arc::new(clock.clone());
    let store = rotator_testkit::memory_store::MemoryStore::new();
    let mut opts = WorldOptions::new(shared, Arc::new(store.clone()), "jamf-prod");
    opts.expires_in_days = expires_in_days;
    let world = spawn_world(opts).await.expect("world seeds the store");
    (TestWorld { world, clock }, store)
}

/// As [`spawn_world_on_moto`], with a chance to adjust the options first.
pub async fn spawn_with(expires_in_days: i64, adjust: impl FnOnce(&mut WorldOptions)) -> TestWorld {
    capture_logs();
    let clock = ManualClock::new(chrono::Utc::now());
    let shared: SharedClock = Arc::new(clock.clone());
    let store = Arc::new(AwsSecretStore::new(moto::secrets_client().await));
    let mut opts = WorldOptions::new(shared, store, &moto::unique("jamf-prod"));
    opts.expires_in_days = expires_in_days;
    adjust(&mut opts);
    let world = spawn_world(opts).await.expect("world seeds moto");
    TestWorld { world, clock }
}

impl TestWorld {
    /// Every secret that exists in this world: the seeded ones, and every `secretText` the Entra
    /// stand-in handed out.
    pub fn all_secrets(&self) -> Vec<SecretString> {
        let mut out = self.world.secrets.clone();
        for r in self.world.entra.requests() {
            if r.path.ends_with("/addPassword") {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.response) {
                    if let Some(s) = v["secretText"].as_str() {
                        out.push(SecretString::from(s.to_string()));
                    }
                }
            }
        }
        out
    }

    /// The leak scan: no secret of this world appears in the logs, the alerts, or `captured`
    /// (reports, errors, CLI output); the rotator's secret never reaches Jamf Pro, and the Jamf
    /// credentials never reach Entra.
    pub fn assert_no_leaks(&self, captured: &[&str]) {
        let logs = logs();
        let alerts = serde_json::to_string(&self.world.alerts.sent()).unwrap();
        let secrets = self.all_secrets();
        assert!(secrets.len() >= 3, "the scan must know the world's secrets");
        for s in &secrets {
            let s = s.expose_secret();
            assert!(!logs.contains(s), "a secret leaked into the logs");
            assert!(!alerts.contains(s), "a secret leaked into an alert");
            for (i, c) in captured.iter().enumerate() {
                assert!(!c.contains(s), "a secret leaked into captured output #{i}");
            }
        }
        let rotator = self.world.secrets[1].expose_secret();
        let jamf_api = self.world.secrets[2].expose_secret();
        for r in self.world.jamf.requests() {
            assert!(
                !r.body.contains(rotator),
                "the rotator's secret reached Jamf Pro"
            );
        }
        for r in self.world.entra.requests() {
            assert!(
                !r.body.contains(jamf_api),
                "the Jamf API credentials reached Entra"
            );
        }
    }

    /// The invariant: Jamf Pro holds a secret Entra accepts, and every credential of ours on the
    /// app (made for this target: another target on the same app keeps its own in its secret)
    /// is held by a labelled version of the secret.
    pub async fn assert_invariant(&self) {
        assert!(
            self.world.jamf_secret_works(),
            "Jamf Pro's secret must work at Entra"
        );
        let held = self.held_key_ids().await;
        let arn = self
            .world
            .store
            .describe(&self.world.secret_id)
            .await
            .unwrap()
            .arn;
        let tag = rotator_engine::rotation::target_tag(&arn);
        for c in self.world.entra.passwords(&self.world.app.object_id) {
            if rotator_engine::rotation::is_ours_for(c.display_name.as_deref(), &tag) {
                assert!(
                    held.contains(&c.key_id.to_lowercase()),
                    "credential {} of ours is held by no version",
                    c.key_id
                );
            }
        }
    }

    /// Key ids held by AWSCURRENT / AWSPENDING / AWSPREVIOUS.
    pub async fn held_key_ids(&self) -> Vec<String> {
        let info = self
            .world
            .store
            .describe(&self.world.secret_id)
            .await
            .unwrap();
        let mut held = Vec::new();
        for stage in ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"] {
            if let Some(v) = info.version_with(stage) {
                if let Some(val) = self
                    .world
                    .store
                    .value(&self.world.secret_id, v)
                    .await
                    .unwrap()
                {
                    let doc = rotator_engine::document::TargetDocument::parse(val.expose_secret())
                        .unwrap();
                    if let Some(k) = doc.entra.key_id {
                        held.push(k.to_lowercase());
                    }
                }
            }
        }
        held
    }

    /// The AWSCURRENT document.
    pub async fn current_doc(&self) -> rotator_engine::document::TargetDocument {
        let (_, v) = self
            .world
            .store
            .value_at(&self.world.secret_id, "AWSCURRENT")
            .await
            .unwrap()
            .unwrap();
        rotator_engine::document::TargetDocument::parse(v.expose_secret()).unwrap()
    }
}
