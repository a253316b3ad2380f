//! What the `entra` tests share: a tenant on the Entra stand-in with the rotator owning one target
//! app, the client signed in as the rotator, and the checks more than one subject repeats.

use chrono::{DateTime, Duration as Days, Utc};
use rotator_adapters::entra::{GraphDirectory, RotatorIdentity};
use rotator_engine::config::{Cloud, Settings};
use rotator_engine::ports::{AppRef, Directory, DirectoryError, NewPassword, SecretCheck};
use rotator_testkit::clock::{Clock, ManualClock, SharedClock};
use rotator_testkit::entra::{EntraSim, SimApp};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

pub const TENANT: &str = "6f1c2d9e-1111-4222-8333-444455556666";
pub const DOMAIN: &str = "contoso.onmicrosoft.com";
pub const INTUNE: &str = "https://api.manage.microsoft.com/.default";
/// Every cloud the rotator knows.
pub const CLOUDS: [Cloud; 4] = [Cloud::Global, Cloud::Usgov, Cloud::UsgovDod, Cloud::China];

pub struct World {
    pub sim: EntraSim,
    pub clock: ManualClock,
    pub dir: GraphDirectory,
    pub app: AppRef,
    pub target: SimApp,
    pub rotator_secret: SecretString,
    settings: Settings,
    rotator_id: String,
}

/// A tenant with the rotator (owner of the target app) and the target app holding one secret.
pub async fn spawn_world() -> World {
    let clock = ManualClock::new("2026-05-01T00:00:00Z".parse().unwrap());
    let shared: SharedClock = Arc::new(clock.clone());
    let sim = EntraSim::start(shared.clone()).await;
    sim.add_tenant(TENANT, Some(DOMAIN));
    let (rotator_id, rotator_secret) = sim.add_rotator(TENANT);
    let target = sim.add_app(TENANT, "Jamf Conditional Access");
    sim.make_owner(&rotator_id, &target.object_id);
    sim.seed_password(&target.object_id, "initial", clock.now() + Days::days(20));
    let settings = Settings {
        entra_login_url: Some(sim.url()),
        graph_url: Some(sim.url()),
        ..rotator_testkit::settings::on_loopback()
    };
    let identity = RotatorIdentity {
        client_id: rotator_id.clone(),
        secret: rotator_secret.clone(),
    };
    let dir = GraphDirectory::new(&settings, identity, shared);
    let app = AppRef {
        cloud: Cloud::Global,
        tenant_id: TENANT.into(),
        client_id: target.client_id.clone(),
        object_id: Some(target.object_id.clone()),
    };
    World {
        sim,
        clock,
        dir,
        app,
        target,
        rotator_secret,
        settings,
        rotator_id,
    }
}

impl World {
    pub fn elapsed_since(&self, start: DateTime<Utc>) -> Duration {
        (self.clock.now() - start).to_std().unwrap()
    }

    /// A directory signing in as the rotator with another secret.
    pub fn dir_with_secret(&self, secret: &str) -> GraphDirectory {
        self.dir_with(&self.settings, SecretString::from(secret.to_string()))
    }

    /// A directory signing in as the rotator, with its own secret, under other settings.
    pub fn dir_with_settings(&self, settings: &Settings) -> GraphDirectory {
        self.dir_with(settings, self.rotator_secret.clone())
    }

    fn dir_with(&self, settings: &Settings, secret: SecretString) -> GraphDirectory {
        let identity = RotatorIdentity {
            client_id: self.rotator_id.clone(),
            secret,
        };
        GraphDirectory::new(settings, identity, Arc::new(self.clock.clone()))
    }

    /// The target app named by its app id only, so the client has to look the object up.
    pub fn app_by_app_id(&self) -> AppRef {
        AppRef {
            object_id: None,
            ..self.app.clone()
        }
    }

    /// Another app in the tenant, which the rotator does not own, and a reference to it.
    pub fn app_not_ours(&self) -> (SimApp, AppRef) {
        let other = self.sim.add_app(TENANT, "Not ours");
        let app = AppRef {
            client_id: other.client_id.clone(),
            object_id: Some(other.object_id.clone()),
            ..self.app.clone()
        };
        (other, app)
    }

    /// A secret seeded on the target app (not through the client), valid for `days`.
    pub fn seed_secret(&self, name: &str, days: i64) -> SecretString {
        let end = self.clock.now() + Days::days(days);
        self.sim.seed_password(&self.target.object_id, name, end).1
    }

    /// `addPassword` through the client on `app`, for a credential valid for `days`.
    pub async fn add_password(
        &self,
        app: &AppRef,
        name: &str,
        days: i64,
    ) -> Result<NewPassword, DirectoryError> {
        let end = self.clock.now() + Days::days(days);
        self.dir.add_password(app, name, end).await
    }

    /// Asserts what the token endpoint says of `secret` for `app` and the Intune scope.
    pub async fn assert_check(&self, app: &AppRef, secret: &SecretString, expected: SecretCheck) {
        let got = self.dir.check_secret(app, secret, INTUNE).await.unwrap();
        assert_eq!(got, expected);
    }
}

/// Asserts a Graph error with this status.
pub fn assert_graph_status(e: &DirectoryError, status: u16) {
    assert!(
        matches!(e, DirectoryError::Graph { status: s, .. } if *s == status),
        "{e:?}"
    );
}

/// Asserts that none of `secrets` appears in `text`.
pub fn assert_no_secret_in(text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "secret leaked into {text}");
    }
}
