//! The Entra/Graph client against the Entra stand-in: real HTTP on loopback, virtual time.

use chrono::{DateTime, Duration as Days, Utc};
use jamf_entra_rotator::clock::{Clock, ManualClock, SharedClock};
use jamf_entra_rotator::config::{Cloud, Settings};
use jamf_entra_rotator::entra::{GraphDirectory, RotatorIdentity};
use jamf_entra_rotator::ports::{AppRef, Directory, DirectoryError, SecretCheck};
use jamf_entra_rotator::sim::entra::{Corruption, EntraOp, EntraSim, SimApp};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

const TENANT: &str = "6f1c2d9e-1111-4222-8333-444455556666";
const DOMAIN: &str = "contoso.onmicrosoft.com";
const INTUNE: &str = "https://api.manage.microsoft.com/.default";

struct World {
    sim: EntraSim,
    clock: ManualClock,
    dir: GraphDirectory,
    app: AppRef,
    target: SimApp,
    rotator_secret: SecretString,
    settings: Settings,
    rotator_id: String,
}

fn settings_for(sim: &EntraSim) -> Settings {
    Settings {
        entra_login_url: Some(sim.url()),
        graph_url: Some(sim.url()),
        ..Settings::default()
    }
}

/// A tenant with the rotator (owner of the target app) and the target app holding one secret.
async fn spawn_world() -> World {
    let clock = ManualClock::new("2026-05-01T00:00:00Z".parse().unwrap());
    let shared: SharedClock = Arc::new(clock.clone());
    let sim = EntraSim::start(shared.clone()).await;
    sim.add_tenant(TENANT, Some(DOMAIN));
    let (rotator_id, rotator_secret) = sim.add_rotator(TENANT);
    let target = sim.add_app(TENANT, "Jamf Conditional Access");
    sim.make_owner(&rotator_id, &target.object_id);
    sim.seed_password(&target.object_id, "initial", clock.now() + Days::days(20));
    let settings = settings_for(&sim);
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
    fn elapsed_since(&self, start: DateTime<Utc>) -> Duration {
        (self.clock.now() - start).to_std().unwrap()
    }
    /// A directory signing in as the rotator with another secret.
    fn dir_with_secret(&self, secret: &str) -> GraphDirectory {
        let identity = RotatorIdentity {
            client_id: self.rotator_id.clone(),
            secret: SecretString::from(secret.to_string()),
        };
        GraphDirectory::new(&self.settings, identity, Arc::new(self.clock.clone()))
    }
}

#[tokio::test]
async fn reads_the_app_by_object_id_or_by_app_id() {
    let w = spawn_world().await;
    let a = w.dir.application(&w.app).await.unwrap();
    assert_eq!(a.object_id, w.target.object_id);
    assert_eq!(a.passwords.len(), 1);
    assert_eq!(a.passwords[0].display_name.as_deref(), Some("initial"));
    let by_app_id = AppRef {
        object_id: None,
        ..w.app.clone()
    };
    assert_eq!(w.dir.application(&by_app_id).await.unwrap(), a);
    assert!(w
        .sim
        .requests()
        .iter()
        .any(|r| r.path.contains("applications(appId=")));
}

#[tokio::test]
async fn an_object_id_of_another_app_is_refused() {
    let w = spawn_world().await;
    let other = w.sim.add_app(TENANT, "Other");
    let wrong = AppRef {
        object_id: Some(other.object_id),
        ..w.app.clone()
    };
    let e = w.dir.application(&wrong).await.unwrap_err();
    assert!(matches!(e, DirectoryError::Config(_)), "{e:?}");
}

#[tokio::test]
async fn the_rotator_token_is_cached_until_five_minutes_before_expiry() {
    let w = spawn_world().await;
    for _ in 0..3 {
        w.dir.application(&w.app).await.unwrap();
    }
    w.dir.max_password_lifetime(&w.app).await.unwrap();
    assert_eq!(w.sim.count(EntraOp::Token), 1);
    w.clock.advance(Duration::from_secs(3599 - 300 - 1));
    w.dir.application(&w.app).await.unwrap();
    assert_eq!(w.sim.count(EntraOp::Token), 1);
    w.clock.advance(Duration::from_secs(2));
    w.dir.application(&w.app).await.unwrap();
    assert_eq!(w.sim.count(EntraOp::Token), 2);
}

#[tokio::test]
async fn throttling_waits_retry_after_in_virtual_time_then_succeeds() {
    let w = spawn_world().await;
    w.dir.application(&w.app).await.unwrap(); // sign in first
    w.sim.throttle_graph(2, 7);
    let start = w.clock.now();
    w.dir.application(&w.app).await.unwrap();
    assert!(
        w.elapsed_since(start) >= Duration::from_secs(14),
        "{:?}",
        w.elapsed_since(start)
    );
    assert_eq!(w.sim.count(EntraOp::GetApplication), 4);
}

#[tokio::test]
async fn throttling_that_outlasts_four_attempts_is_a_transient_graph_error() {
    let w = spawn_world().await;
    w.sim.throttle_graph(10, 1);
    let e = w.dir.application(&w.app).await.unwrap_err();
    assert!(
        matches!(e, DirectoryError::Graph { status: 429, .. }) && e.is_transient(),
        "{e:?}"
    );
    assert_eq!(w.sim.count(EntraOp::GetApplication), 4);
}

#[tokio::test]
async fn a_get_is_retried_on_503() {
    let w = spawn_world().await;
    w.sim.fail_next(EntraOp::GetApplication, 2, 503);
    w.dir.application(&w.app).await.unwrap();
    assert_eq!(w.sim.count(EntraOp::GetApplication), 3);
}

#[tokio::test]
async fn add_password_is_not_retried_on_500() {
    let w = spawn_world().await;
    w.sim.fail_next(EntraOp::AddPassword, 1, 500);
    let e = w
        .dir
        .add_password(&w.app, "rotator 1", w.clock.now() + Days::days(90))
        .await
        .unwrap_err();
    assert!(
        matches!(e, DirectoryError::Graph { status: 500, .. }),
        "{e:?}"
    );
    assert_eq!(w.sim.count(EntraOp::AddPassword), 1);
    assert_eq!(w.sim.passwords(&w.target.object_id).len(), 1);
}

#[tokio::test]
async fn add_password_is_retried_when_throttled_and_creates_one_credential() {
    let w = spawn_world().await;
    w.dir.application(&w.app).await.unwrap();
    w.sim.throttle_graph(1, 3);
    let end = w.clock.now() + Days::days(90);
    let new = w.dir.add_password(&w.app, "rotator 2", end).await.unwrap();
    assert_eq!(w.sim.count(EntraOp::AddPassword), 2);
    let listed = w.sim.passwords(&w.target.object_id);
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&new.credential));
    assert_eq!(new.credential.end, Some(end));
    assert_eq!(new.secret.expose_secret().len(), 40);
    assert_eq!(
        new.credential.hint.as_deref(),
        Some(&new.secret.expose_secret()[..3])
    );
}

#[tokio::test]
async fn writes_without_ownership_are_denied_with_graphs_code_and_request_id() {
    let w = spawn_world().await;
    let other = w.sim.add_app(TENANT, "Not ours");
    let app = AppRef {
        client_id: other.client_id,
        object_id: Some(other.object_id),
        ..w.app.clone()
    };
    let e = w
        .dir
        .add_password(&app, "x", w.clock.now() + Days::days(30))
        .await
        .unwrap_err();
    match &e {
        DirectoryError::Graph {
            status: 403,
            code,
            request_id: Some(rid),
            ..
        } => {
            assert_eq!(code, "Authorization_RequestDenied");
            assert!(!rid.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn remove_password_is_idempotent_and_retried_on_503() {
    let w = spawn_world().await;
    let key = w.sim.passwords(&w.target.object_id)[0].key_id.clone();
    w.sim.fail_next(EntraOp::RemovePassword, 1, 503);
    w.dir.remove_password(&w.app, &key).await.unwrap();
    assert!(w.sim.passwords(&w.target.object_id).is_empty());
    // Again: the key is gone (404), which counts as done.
    w.dir.remove_password(&w.app, &key).await.unwrap();
    w.dir
        .remove_password(&w.app, "00000000-0000-0000-0000-0000000000ff")
        .await
        .unwrap();
    assert_eq!(w.sim.count(EntraOp::RemovePassword), 4);
}

#[tokio::test]
async fn remove_password_without_ownership_fails() {
    let w = spawn_world().await;
    let other = w.sim.add_app(TENANT, "Not ours");
    let (key, _) = w
        .sim
        .seed_password(&other.object_id, "theirs", w.clock.now() + Days::days(5));
    let app = AppRef {
        client_id: other.client_id,
        object_id: Some(other.object_id.clone()),
        ..w.app.clone()
    };
    let e = w.dir.remove_password(&app, &key).await.unwrap_err();
    assert!(
        matches!(e, DirectoryError::Graph { status: 403, .. }),
        "{e:?}"
    );
    assert_eq!(w.sim.passwords(&other.object_id).len(), 1);
}

#[tokio::test]
async fn the_smallest_policy_lifetime_wins_and_graph_enforces_it() {
    let w = spawn_world().await;
    assert_eq!(w.dir.max_password_lifetime(&w.app).await.unwrap(), None);
    w.sim.set_max_password_lifetime(Some(Days::days(90)));
    assert_eq!(
        w.dir.max_password_lifetime(&w.app).await.unwrap(),
        Some(Days::days(90))
    );
    w.sim
        .set_app_max_password_lifetime(&w.target.object_id, Some(Days::days(30)));
    let by_app_id = AppRef {
        object_id: None,
        ..w.app.clone()
    };
    assert_eq!(
        w.dir.max_password_lifetime(&by_app_id).await.unwrap(),
        Some(Days::days(30))
    );
    let e = w
        .dir
        .add_password(&w.app, "too long", w.clock.now() + Days::days(31))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, DirectoryError::Graph { status: 400, code, .. } if code == "CredentialInvalidLifetimeAsPerAppPolicy"),
        "{e:?}"
    );
    w.dir
        .add_password(&w.app, "fits", w.clock.now() + Days::days(30))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreadable_policy_means_no_known_limit() {
    let w = spawn_world().await;
    w.sim.set_max_password_lifetime(Some(Days::days(90)));
    w.sim.fail_next(EntraOp::Policy, 2, 403);
    assert_eq!(w.dir.max_password_lifetime(&w.app).await.unwrap(), None);
    assert_eq!(w.sim.count(EntraOp::Policy), 2);
}

#[tokio::test]
async fn a_refused_rotator_secret_reports_aadsts_and_request_id() {
    let w = spawn_world().await;
    let dir = w.dir_with_secret("abC8Q~wrong-secret-0000000000000000000000");
    let e = dir.application(&w.app).await.unwrap_err();
    match &e {
        DirectoryError::Token {
            status: 401,
            code: Some(7000215),
            error,
            request_id: Some(_),
            ..
        } => {
            assert_eq!(error, "invalid_client")
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("AADSTS7000215") && text.contains("request-id"),
        "{text}"
    );
    // A refusal is not retried: the answer will not change.
    assert_eq!(w.sim.count(EntraOp::Token), 1);
}

#[tokio::test]
async fn an_unknown_tenant_is_aadsts_90002_and_a_domain_works() {
    let w = spawn_world().await;
    let wrong = AppRef {
        tenant_id: "00000000-0000-0000-0000-000000000001".into(),
        ..w.app.clone()
    };
    let e = w.dir.application(&wrong).await.unwrap_err();
    assert_eq!(e.aadsts(), Some(90002), "{e:?}");
    assert!(
        matches!(&e, DirectoryError::Token { error, status: 400, .. } if error == "invalid_tenant")
    );
    let by_domain = AppRef {
        tenant_id: DOMAIN.into(),
        ..w.app.clone()
    };
    let (_, secret) = w
        .sim
        .seed_password(&w.target.object_id, "s", w.clock.now() + Days::days(9));
    assert_eq!(
        w.dir
            .check_secret(&by_domain, &secret, INTUNE)
            .await
            .unwrap(),
        SecretCheck::Accepted
    );
    let unknown_app = AppRef {
        client_id: "00000000-0000-0000-0000-0000000000aa".into(),
        ..by_domain
    };
    assert_eq!(
        w.dir
            .check_secret(&unknown_app, &secret, INTUNE)
            .await
            .unwrap_err()
            .aadsts(),
        Some(700016)
    );
}

#[tokio::test]
async fn token_endpoint_outages_are_retried_for_the_rotator() {
    let w = spawn_world().await;
    w.sim.fail_next(EntraOp::Token, 2, 503);
    w.dir.application(&w.app).await.unwrap();
    assert_eq!(w.sim.count(EntraOp::Token), 3);
}

#[tokio::test]
async fn a_new_secret_is_not_accepted_until_it_propagates() {
    let w = spawn_world().await;
    w.sim.set_propagation_lag(Duration::from_secs(20));
    let new = w
        .dir
        .add_password(&w.app, "rotated", w.clock.now() + Days::days(90))
        .await
        .unwrap();
    assert_eq!(
        w.dir
            .check_secret(&w.app, &new.secret, INTUNE)
            .await
            .unwrap(),
        SecretCheck::NotAccepted
    );
    w.clock.advance(Duration::from_secs(19));
    assert_eq!(
        w.dir
            .check_secret(&w.app, &new.secret, INTUNE)
            .await
            .unwrap(),
        SecretCheck::NotAccepted
    );
    w.clock.advance(Duration::from_secs(1));
    assert_eq!(
        w.dir
            .check_secret(&w.app, &new.secret, INTUNE)
            .await
            .unwrap(),
        SecretCheck::Accepted
    );
    assert!(w
        .sim
        .accepts(&w.app.client_id, new.secret.expose_secret(), INTUNE));
}

#[tokio::test]
async fn an_expired_secret_is_reported_as_expired() {
    let w = spawn_world().await;
    let (_, secret) =
        w.sim
            .seed_password(&w.target.object_id, "short", w.clock.now() + Days::days(1));
    assert_eq!(
        w.dir.check_secret(&w.app, &secret, INTUNE).await.unwrap(),
        SecretCheck::Accepted
    );
    w.clock.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(
        w.dir.check_secret(&w.app, &secret, INTUNE).await.unwrap(),
        SecretCheck::Expired
    );
}

#[tokio::test]
async fn check_secret_is_never_retried_and_an_unknown_scope_is_an_error() {
    let w = spawn_world().await;
    let (_, secret) = w
        .sim
        .seed_password(&w.target.object_id, "s", w.clock.now() + Days::days(9));
    w.sim.fail_next(EntraOp::Token, 1, 503);
    let e = w
        .dir
        .check_secret(&w.app, &secret, INTUNE)
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert_eq!(w.sim.count(EntraOp::Token), 1);
    let e = w
        .dir
        .check_secret(&w.app, &secret, "https://example.com/.default")
        .await
        .unwrap_err();
    assert_eq!(e.aadsts(), Some(70011));
}

#[tokio::test]
async fn html_and_truncated_bodies_are_invalid_responses() {
    let w = spawn_world().await;
    w.sim
        .corrupt_next(EntraOp::GetApplication, 1, Corruption::Html);
    let e = w.dir.application(&w.app).await.unwrap_err();
    assert!(
        matches!(&e, DirectoryError::InvalidResponse { message, .. } if message.contains("text/html")),
        "{e:?}"
    );
    w.sim
        .corrupt_next(EntraOp::GetApplication, 1, Corruption::Truncated);
    let e = w.dir.application(&w.app).await.unwrap_err();
    assert!(
        matches!(&e, DirectoryError::InvalidResponse { message, .. } if message.contains("truncated")),
        "{e:?}"
    );
    w.sim.corrupt_next(EntraOp::Token, 1, Corruption::Html);
    let fresh = w.dir_with_secret(w.rotator_secret.expose_secret());
    assert!(matches!(
        fresh.application(&w.app).await,
        Err(DirectoryError::InvalidResponse { .. })
    ));
}

#[tokio::test]
async fn every_cloud_uses_its_own_graph_scope_through_the_configured_hosts() {
    let w = spawn_world().await;
    for cloud in [Cloud::Global, Cloud::Usgov, Cloud::UsgovDod, Cloud::China] {
        let app = AppRef {
            cloud,
            ..w.app.clone()
        };
        w.dir.application(&app).await.unwrap();
        let encoded: String =
            url::form_urlencoded::byte_serialize(cloud.graph_scope().as_bytes()).collect();
        let asked = w
            .sim
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/oauth2/v2.0/token") && r.body.contains(&encoded));
        assert!(asked, "{cloud:?} asked for {}", cloud.graph_scope());
    }
    assert_eq!(
        w.sim.count(EntraOp::Token),
        4,
        "one token per cloud's scope"
    );
}

#[tokio::test]
async fn default_hosts_must_be_https_and_plain_http_elsewhere_is_refused() {
    let w = spawn_world().await;
    let settings = Settings {
        graph_url: Some("http://graph.example.com/".parse().unwrap()),
        ..Settings::default()
    };
    let identity = RotatorIdentity {
        client_id: w.rotator_id.clone(),
        secret: w.rotator_secret.clone(),
    };
    let dir = GraphDirectory::new(&settings, identity, Arc::new(w.clock.clone()));
    let e = dir.application(&w.app).await.unwrap_err();
    assert!(
        matches!(&e, DirectoryError::Config(m) if m.contains("GRAPH_URL")),
        "{e:?}"
    );
    for cloud in [Cloud::Global, Cloud::Usgov, Cloud::UsgovDod, Cloud::China] {
        assert_eq!(
            Settings::default().login_base(cloud).as_str(),
            format!("{}/", cloud.login_url())
        );
        assert_eq!(
            Settings::default().graph_base(cloud).as_str(),
            format!("{}/", cloud.graph_url())
        );
    }
}

#[tokio::test]
async fn no_secret_reaches_an_error_or_debug_output() {
    let w = spawn_world().await;
    let new = w
        .dir
        .add_password(&w.app, "rotated", w.clock.now() + Days::days(90))
        .await
        .unwrap();
    let secrets = [
        w.rotator_secret.expose_secret().to_string(),
        new.secret.expose_secret().to_string(),
    ];
    let mut errors = vec![];
    errors.push(
        w.dir_with_secret(new.secret.expose_secret())
            .application(&w.app)
            .await
            .unwrap_err(),
    );
    w.sim.fail_next(EntraOp::AddPassword, 1, 500);
    errors.push(
        w.dir
            .add_password(&w.app, "x", w.clock.now() + Days::days(9))
            .await
            .unwrap_err(),
    );
    let wrong_tenant = AppRef {
        tenant_id: "nowhere.example".into(),
        ..w.app.clone()
    };
    errors.push(
        w.dir
            .check_secret(&wrong_tenant, &new.secret, INTUNE)
            .await
            .unwrap_err(),
    );
    w.sim
        .corrupt_next(EntraOp::AddPassword, 1, Corruption::Truncated);
    errors.push(
        w.dir
            .add_password(&w.app, "y", w.clock.now() + Days::days(9))
            .await
            .unwrap_err(),
    );
    let value = SecretString::from(format!(
        "{{\"client_secret\": {}",
        w.rotator_secret.expose_secret()
    ));
    errors.push(RotatorIdentity::from_secret_value(None, &value).unwrap_err());
    for e in &errors {
        for text in [e.to_string(), format!("{e:?}")] {
            for s in &secrets {
                assert!(!text.contains(s.as_str()), "secret leaked into {text}");
            }
        }
    }
    for text in [format!("{new:?}"), format!("{:?}", w.dir)] {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "secret leaked into {text}");
        }
    }
    // The rotator's secret went only to the token endpoint, never to Graph.
    for r in w.sim.requests() {
        if !r.path.ends_with("/oauth2/v2.0/token") {
            assert!(
                !r.body.contains(secrets[0].as_str()) && !r.body.contains(secrets[1].as_str()),
                "{}",
                r.path
            );
        }
        assert!(r.headers.iter().all(|(k, _)| k != "authorization"));
    }
}
