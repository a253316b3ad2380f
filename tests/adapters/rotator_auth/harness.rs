//! What the `rotator_auth` tests share: the test keys, an STS client and a federated sign-in
//! through the STS stand-in, a moto world whose Entra trusts that STS, a bare Entra with only
//! the rotator and one app, and the scans for tokens, assertions and keys where they must not be.

use crate::common::{self, logs, spawn_world_on_moto, TestWorld};
use rotator_adapters::entra::{
    GraphDirectory, RotatorCredential, RotatorSignIn, StsWebIdentityTokens,
};
use rotator_engine::config::{Cloud, Settings};
use rotator_engine::ports::{AppRef, Directory, DirectoryError};
use rotator_engine::rotation::Engine;
use rotator_testkit::clock::{ManualClock, SharedClock};
use rotator_testkit::entra::EntraSim;
use rotator_testkit::sts::{StsSim, DEFAULT_ROLE_ARN};
use rotator_testkit::world::TENANT_ID;
use secrecy::ExposeSecret;
use std::sync::Arc;

pub const CERT: &str =
    include_str!("../../../crates/testkit/src/test_keys/rotator_certificate.pem");
pub const CERT_KEY: &str =
    include_str!("../../../crates/testkit/src/test_keys/rotator_certificate_key.pem");
pub const OTHER_KEY: &str =
    include_str!("../../../crates/testkit/src/test_keys/sts_signing_key.pem");
pub const UNREGISTERED_CERT: &str =
    include_str!("../../../crates/testkit/src/test_keys/unregistered_certificate.pem");
pub const AUDIENCE: &str = "api://AzureADTokenExchange";

/// An STS client pointed at the stand-in (configuration only: the SDK's `endpoint_url`).
fn sts_client(sts: &StsSim) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(sts.url())
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "AKIDSTANDIN",
            "stand-in",
            None,
            None,
            "test",
        ))
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

/// The rotator `client_id` signing in with web identity tokens from the STS stand-in.
pub fn federated(client_id: &str, sts: &StsSim) -> RotatorSignIn {
    RotatorSignIn {
        client_id: client_id.to_string(),
        credential: RotatorCredential::Federated(Arc::new(StsWebIdentityTokens::new(sts_client(
            sts,
        )))),
    }
}

/// A moto world (secret expiring in 10 days) and an STS stand-in on its clock, which Entra
/// trusts as the rotator: a federated identity credential for its issuer and the default role,
/// and the issuer's key.
pub async fn spawn_world_trusting_sts() -> (TestWorld, StsSim) {
    let w = spawn_world_on_moto(10).await;
    let sts = StsSim::start(w.world.clock.clone()).await;
    w.entra.add_federated_credential(
        &w.rotator_client_id,
        &sts.issuer(),
        DEFAULT_ROLE_ARN,
        &[AUDIENCE],
    );
    w.entra
        .trust_issuer_key(&sts.issuer(), sts.kid(), sts.public_key_pem());
    (w, sts)
}

/// The world's engine with the rotator signing in as `signin` instead.
pub fn engine_as(w: &TestWorld, signin: RotatorSignIn) -> Engine {
    let e = &w.engine;
    let directory = Arc::new(GraphDirectory::new(
        &w.settings,
        signin,
        w.world.clock.clone(),
    ));
    Engine::new(
        directory,
        e.targets.clone(),
        e.store.clone(),
        e.alerts.clone(),
        e.clock.clone(),
        e.policy.clone(),
    )
}

/// Every web identity token the STS stand-in issued, as text.
pub fn issued(sts: &StsSim) -> Vec<String> {
    sts.issued()
        .iter()
        .map(|t| t.expose_secret().to_string())
        .collect()
}

/// The client assertions the rotator sent to Entra (from the stand-in's recorded requests).
pub fn assertions_sent(entra: &EntraSim, rotator_client_id: &str) -> Vec<String> {
    entra
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .filter_map(|r| {
            let form: Vec<(String, String)> = url::form_urlencoded::parse(r.body.as_bytes())
                .into_owned()
                .collect();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            (get("client_id").as_deref() == Some(rotator_client_id)).then(|| {
                assert!(
                    get("client_secret").is_none(),
                    "the rotator sent a client secret in an assertion mode"
                );
                get("client_assertion")
                    .expect("the rotator's token requests carry client_assertion")
            })
        })
        .collect()
}

/// Asserts that none of `tokens` is in the captured logs; `what` names them in the message.
pub fn assert_not_in_logs(tokens: &[String], what: &str) {
    let logs = logs();
    for t in tokens {
        assert!(!logs.contains(t.as_str()), "{what} leaked into the logs");
    }
}

/// No token, assertion or key in the logs, the alerts or `captured`.
pub fn assert_nothing_secret_in(w: &TestWorld, tokens: &[String], captured: &[&str]) {
    let logs = logs();
    let alerts = serde_json::to_string(&w.alerts.sent()).unwrap();
    // A line from the middle of each private key: what a leaked key would contain.
    let key_lines: Vec<&str> = [CERT_KEY, OTHER_KEY]
        .iter()
        .map(|k| k.lines().nth(5).unwrap())
        .collect();
    assert!(!tokens.is_empty(), "the scan must know the tokens");
    for t in tokens.iter().map(String::as_str).chain(key_lines) {
        assert!(
            !logs.contains(t),
            "a token, assertion or key leaked into the logs"
        );
        assert!(
            !alerts.contains(t),
            "a token, assertion or key leaked into an alert"
        );
        for (i, c) in captured.iter().enumerate() {
            assert!(
                !c.contains(t),
                "a token, assertion or key leaked into captured output #{i}"
            );
        }
        for r in w.jamf.requests() {
            assert!(!r.body.contains(t), "a token or assertion reached Jamf Pro");
        }
    }
}

/// A stand-in Entra with the rotator (owner of one app) and nothing else.
pub struct Bare {
    pub entra: EntraSim,
    pub rotator: String,
    pub app: AppRef,
    pub settings: Settings,
    pub clock: SharedClock,
}

pub async fn bare() -> Bare {
    common::capture_logs();
    let clock: SharedClock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let entra = EntraSim::start(clock.clone()).await;
    entra.add_tenant(TENANT_ID, None);
    let (rotator, _) = entra.add_rotator(TENANT_ID);
    let app = entra.add_app(TENANT_ID, "Jamf Pro");
    entra.make_owner(&rotator, &app.object_id);
    let settings = Settings {
        entra_login_url: Some(entra.url()),
        graph_url: Some(entra.url()),
        ..rotator_testkit::settings::on_loopback()
    };
    let app = AppRef {
        cloud: Cloud::Global,
        tenant_id: TENANT_ID.into(),
        client_id: app.client_id,
        object_id: Some(app.object_id),
    };
    Bare {
        entra,
        rotator,
        app,
        settings,
        clock,
    }
}

impl Bare {
    /// An STS stand-in on this Entra's clock (not yet trusted).
    pub async fn sts(&self) -> StsSim {
        StsSim::start(self.clock.clone()).await
    }

    /// The rotator signing in with tokens from `sts`.
    pub fn federated(&self, sts: &StsSim) -> RotatorSignIn {
        federated(&self.rotator, sts)
    }

    /// A directory signing in as `signin` on this Entra.
    pub fn graph(&self, signin: RotatorSignIn, clock: SharedClock) -> GraphDirectory {
        GraphDirectory::new(&self.settings, signin, clock)
    }

    /// Signs in as `signin` (by reading the app) and returns the AADSTS code of the refusal.
    pub async fn refusal(&self, signin: RotatorSignIn) -> u32 {
        self.refusal_at(signin, self.clock.clone()).await
    }

    /// As [`Bare::refusal`], with the rotator on `clock`.
    pub async fn refusal_at(&self, signin: RotatorSignIn, clock: SharedClock) -> u32 {
        match self.graph(signin, clock).application(&self.app).await {
            Err(e @ DirectoryError::Token { .. }) => {
                assert!(e.to_string().contains("the rotator's own identity"), "{e}");
                e.aadsts().expect("an AADSTS code")
            }
            other => panic!("expected a token refusal, got {other:?}"),
        }
    }

    /// Signs in as `signin` (by reading the app), which must succeed.
    pub async fn accepted(&self, signin: RotatorSignIn) {
        self.graph(signin, self.clock.clone())
            .application(&self.app)
            .await
            .expect("the assertion is accepted");
    }

    /// This Entra's token endpoint for the tenant: the audience of a certificate assertion.
    pub fn token_url(&self) -> String {
        format!("{}{TENANT_ID}/oauth2/v2.0/token", self.entra.url())
    }
}
