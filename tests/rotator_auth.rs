//! The rotator's own authentication modes (`ROTATOR_AUTH`) against the Entra and STS stand-ins:
//! `federated` (an AWS STS web identity token as the client assertion) and `certificate` (a PS256
//! client assertion) rotate end to end; every kind of bad assertion is refused with its AADSTS
//! code; no token, assertion or key shows up anywhere it must not.

mod common;

use async_trait::async_trait;
use common::{logs, spawn_world_on_moto, TestWorld};
use jamf_entra_rotator::clock::{ManualClock, SharedClock};
use jamf_entra_rotator::config::{Cloud, RotatorAuth, Settings};
use jamf_entra_rotator::entra::{
    CertificateCredential, GraphDirectory, RotatorCredential, RotatorSignIn, StsWebIdentityTokens,
    WebIdentityTokens,
};
use jamf_entra_rotator::ports::{AppRef, Directory, DirectoryError};
use jamf_entra_rotator::rotation::check::Action;
use jamf_entra_rotator::rotation::Engine;
use jamf_entra_rotator::sim::entra::EntraSim;
use jamf_entra_rotator::sim::sts::{StsSim, DEFAULT_ROLE_ARN};
use jamf_entra_rotator::sim::world::TENANT_ID;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

const CERT: &str = include_str!("../src/sim/test_keys/rotator_certificate.pem");
const CERT_KEY: &str = include_str!("../src/sim/test_keys/rotator_certificate_key.pem");
const OTHER_KEY: &str = include_str!("../src/sim/test_keys/sts_signing_key.pem");
const UNREGISTERED_CERT: &str = include_str!("../src/sim/test_keys/unregistered_certificate.pem");
const AUDIENCE: &str = "api://AzureADTokenExchange";

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

fn federated(client_id: &str, sts: &StsSim) -> RotatorSignIn {
    RotatorSignIn {
        client_id: client_id.to_string(),
        credential: RotatorCredential::Federated(Arc::new(StsWebIdentityTokens::new(sts_client(
            sts,
        )))),
    }
}

/// Entra trusts the STS stand-in as the rotator: a federated identity credential for its issuer
/// and the default role, and the issuer's key.
fn trust_sts(entra: &EntraSim, client_id: &str, sts: &StsSim) {
    entra.add_federated_credential(client_id, &sts.issuer(), DEFAULT_ROLE_ARN, &[AUDIENCE]);
    entra.trust_issuer_key(&sts.issuer(), sts.kid(), sts.public_key_pem());
}

/// The world's engine with the rotator signing in as `signin` instead.
fn engine_as(w: &TestWorld, signin: RotatorSignIn) -> Engine {
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

/// The client assertions the rotator sent to Entra (from the stand-in's recorded requests).
fn assertions_sent(entra: &EntraSim, rotator_client_id: &str) -> Vec<String> {
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

/// No token, assertion or key in the logs, the alerts or `captured`.
fn assert_nothing_secret_in(w: &TestWorld, tokens: &[String], captured: &[&str]) {
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

#[tokio::test]
async fn federated_mode_rotates_end_to_end_with_no_stored_secret() {
    let w = spawn_world_on_moto(10).await;
    let sts = StsSim::start(w.world.clock.clone()).await;
    trust_sts(&w.entra, &w.rotator_client_id, &sts);
    let engine = engine_as(&w, federated(&w.rotator_client_id, &sts));

    let report = engine.check(&w.secret_id, false).await.unwrap();

    assert_eq!(report.action, Action::Rotated, "{report:?}");
    assert!(sts.requests() >= 1, "the rotator asked STS for its token");
    let sent = assertions_sent(&w.entra, &w.rotator_client_id);
    assert!(!sent.is_empty());
    let issued: Vec<String> = sts
        .issued()
        .iter()
        .map(|t| t.expose_secret().to_string())
        .collect();
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
    let w = spawn_world_on_moto(10).await;
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
    let signin = jamf_entra_rotator::wiring::rotator_identity(&settings, w.store.as_ref())
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

/// A stand-in Entra with the rotator (owner of one app) and nothing else.
struct Bare {
    entra: EntraSim,
    rotator: String,
    app: AppRef,
    settings: Settings,
    clock: SharedClock,
}

async fn bare() -> Bare {
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
        ..Settings::default()
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
    /// Signs in as `signin` (by reading the app) and returns the AADSTS code of the refusal.
    async fn refusal(&self, signin: RotatorSignIn) -> u32 {
        self.refusal_at(signin, self.clock.clone()).await
    }

    async fn refusal_at(&self, signin: RotatorSignIn, clock: SharedClock) -> u32 {
        let graph = GraphDirectory::new(&self.settings, signin, clock);
        match graph.application(&self.app).await {
            Err(e @ DirectoryError::Token { .. }) => {
                assert!(e.to_string().contains("the rotator's own identity"), "{e}");
                e.aadsts().expect("an AADSTS code")
            }
            other => panic!("expected a token refusal, got {other:?}"),
        }
    }

    async fn accepted(&self, signin: RotatorSignIn) {
        let graph = GraphDirectory::new(&self.settings, signin, self.clock.clone());
        graph
            .application(&self.app)
            .await
            .expect("the assertion is accepted");
    }

    fn token_url(&self) -> String {
        format!("{}{TENANT_ID}/oauth2/v2.0/token", self.entra.url())
    }
}

/// Hands the token endpoint a fixed assertion (through the product's own token request).
struct Fixed(String);

#[async_trait]
impl WebIdentityTokens for Fixed {
    async fn token(&self) -> Result<SecretString, DirectoryError> {
        Ok(SecretString::from(self.0.clone()))
    }
}

fn fixed(client_id: &str, jwt: String) -> RotatorSignIn {
    RotatorSignIn {
        client_id: client_id.into(),
        credential: RotatorCredential::Federated(Arc::new(Fixed(jwt))),
    }
}

/// A certificate-style assertion with the registered certificate's thumbprint, signed by `key`.
fn cert_assertion(alg: Algorithm, key: &str, claims: serde_json::Value) -> String {
    let mut header = Header::new(alg);
    header.x5t_s256 = Some(
        CertificateCredential::from_pem(CERT_KEY, CERT)
            .unwrap()
            .thumbprint()
            .to_string(),
    );
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn claims(b: &Bare, aud: &str, iss: &str) -> serde_json::Value {
    let now = b.clock.now().timestamp();
    serde_json::json!({"aud": aud, "iss": iss, "sub": iss, "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now, "iat": now, "exp": now + 300})
}

#[tokio::test]
async fn federated_assertions_with_the_wrong_issuer_subject_or_audience_are_refused() {
    let b = bare().await;
    let sts = StsSim::start(b.clock.clone()).await;
    b.entra
        .trust_issuer_key(&sts.issuer(), sts.kid(), sts.public_key_pem());

    // No credential for this issuer.
    b.entra.add_federated_credential(
        &b.rotator,
        "https://other-issuer.example",
        DEFAULT_ROLE_ARN,
        &[AUDIENCE],
    );
    assert_eq!(b.refusal(federated(&b.rotator, &sts)).await, 700211);
    // The issuer matches, but for another role.
    b.entra.add_federated_credential(
        &b.rotator,
        &sts.issuer(),
        "arn:aws:iam::123456789012:role/someone-else",
        &[AUDIENCE],
    );
    assert_eq!(b.refusal(federated(&b.rotator, &sts)).await, 700213);
    // Issuer and subject match, the audience does not.
    b.entra.add_federated_credential(
        &b.rotator,
        &sts.issuer(),
        DEFAULT_ROLE_ARN,
        &["api://AzureADTokenExchangeChina"],
    );
    assert_eq!(b.refusal(federated(&b.rotator, &sts)).await, 700212);
    // The right credential: accepted.
    b.entra
        .add_federated_credential(&b.rotator, &sts.issuer(), DEFAULT_ROLE_ARN, &[AUDIENCE]);
    b.accepted(federated(&b.rotator, &sts)).await;
    let issued: Vec<String> = sts
        .issued()
        .iter()
        .map(|t| t.expose_secret().to_string())
        .collect();
    assert_eq!(issued.len(), 4);
    for t in &issued {
        assert!(
            !logs().contains(t.as_str()),
            "a web identity token leaked into the logs"
        );
    }
}

#[tokio::test]
async fn expired_or_badly_signed_federated_tokens_are_refused() {
    let b = bare().await;
    let sts = StsSim::start(b.clock.clone()).await;
    b.entra
        .add_federated_credential(&b.rotator, &sts.issuer(), DEFAULT_ROLE_ARN, &[AUDIENCE]);

    // The issuer's keys do not include the token's kid.
    assert_eq!(b.refusal(federated(&b.rotator, &sts)).await, 7000272);
    b.entra
        .trust_issuer_key(&sts.issuer(), sts.kid(), sts.public_key_pem());
    // Signed by another key under the issuer's kid.
    sts.sign_with_wrong_key(true);
    assert_eq!(b.refusal(federated(&b.rotator, &sts)).await, 700027);
    sts.sign_with_wrong_key(false);
    // Issued an hour ago for five minutes.
    sts.set_clock_skew(chrono::Duration::hours(-1));
    assert_eq!(b.refusal(federated(&b.rotator, &sts)).await, 700024);
    sts.set_clock_skew(chrono::Duration::zero());
    b.accepted(federated(&b.rotator, &sts)).await;
}

#[tokio::test]
async fn sts_refusals_say_what_the_administrator_must_do() {
    let b = bare().await;
    let sts = StsSim::start(b.clock.clone()).await;
    sts.set_federation_enabled(false);
    let graph = GraphDirectory::new(&b.settings, federated(&b.rotator, &sts), b.clock.clone());
    let e = graph.application(&b.app).await.unwrap_err().to_string();
    assert!(e.contains("enable-outbound-web-identity-federation"), "{e}");
}

#[tokio::test]
async fn certificate_assertions_that_are_unknown_expired_or_badly_signed_are_refused() {
    let b = bare().await;
    b.entra.add_certificate(&b.rotator, CERT);
    let cert = |key: &str, pem: &str| RotatorSignIn {
        client_id: b.rotator.clone(),
        credential: RotatorCredential::Certificate(
            CertificateCredential::from_pem(key, pem).unwrap(),
        ),
    };

    // A certificate the app does not have.
    assert_eq!(b.refusal(cert(OTHER_KEY, UNREGISTERED_CERT)).await, 700027);
    // The rotator's clock half an hour behind: the assertion expired before it was sent.
    let behind: SharedClock = Arc::new(ManualClock::new(
        b.clock.now() - chrono::Duration::minutes(30),
    ));
    assert_eq!(b.refusal_at(cert(CERT_KEY, CERT), behind).await, 700024);
    // The registered certificate's thumbprint, signed by another key.
    let forged = cert_assertion(
        Algorithm::PS256,
        OTHER_KEY,
        claims(&b, &b.token_url(), &b.rotator),
    );
    assert_eq!(b.refusal(fixed(&b.rotator, forged)).await, 700027);
    // Signed right, for another token endpoint.
    let elsewhere = format!("https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token");
    let wrong_aud = cert_assertion(
        Algorithm::PS256,
        CERT_KEY,
        claims(&b, &elsewhere, &b.rotator),
    );
    assert_eq!(b.refusal(fixed(&b.rotator, wrong_aud)).await, 700023);
    // Signed right, issued for another app.
    let wrong_iss = cert_assertion(
        Algorithm::PS256,
        CERT_KEY,
        claims(&b, &b.token_url(), "another-app"),
    );
    assert_eq!(b.refusal(fixed(&b.rotator, wrong_iss)).await, 700021);
    // The product's PS256 assertion and an older-style RS256 one are both accepted.
    b.accepted(cert(CERT_KEY, CERT)).await;
    let rs256 = cert_assertion(
        Algorithm::RS256,
        CERT_KEY,
        claims(&b, &b.token_url(), &b.rotator),
    );
    b.accepted(fixed(&b.rotator, rs256)).await;
    let sent = assertions_sent(&b.entra, &b.rotator);
    for a in &sent {
        assert!(
            !logs().contains(a.as_str()),
            "an assertion leaked into the logs"
        );
    }
}

#[tokio::test]
async fn federated_mode_needs_the_client_id_setting_and_reads_no_secret() {
    let store = jamf_entra_rotator::vault::MemoryStore::new();
    let settings = Settings {
        rotator_auth: RotatorAuth::Federated,
        ..Settings::default()
    };
    let e = jamf_entra_rotator::wiring::rotator_identity(&settings, &store)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("ROTATOR_CLIENT_ID"), "{e}");
    let settings = Settings {
        rotator_client_id: Some("cid".into()),
        ..settings
    };
    let signin = jamf_entra_rotator::wiring::rotator_identity(&settings, &store)
        .await
        .unwrap();
    assert!(matches!(signin.credential, RotatorCredential::Federated(_)));
    assert_eq!(signin.client_id, "cid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_in_federated_mode_finds_sts_through_aws_endpoint_url_sts() {
    let w = spawn_world_on_moto(10).await;
    let sts = StsSim::start(w.world.clock.clone()).await;
    trust_sts(&w.entra, &w.rotator_client_id, &sts);
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
    let issued: Vec<String> = sts
        .issued()
        .iter()
        .map(|t| t.expose_secret().to_string())
        .collect();
    w.assert_no_leaks(&[&stdout, &stderr]);
    assert_nothing_secret_in(&w, &issued, &[&stdout, &stderr]);
}

#[tokio::test]
async fn an_assertion_that_is_not_a_jwt_is_refused_as_malformed() {
    let b = bare().await;
    b.entra.add_certificate(&b.rotator, CERT);
    assert_eq!(
        b.refusal(fixed(&b.rotator, "not-a-jwt".into())).await,
        50027
    );
}
