//! Signing in at the token endpoint: the rotator's refused secret and an unknown tenant carry
//! their AADSTS codes, and `check_secret` sees a new secret only once it has propagated, an
//! expired one as expired, and is never retried.

use super::harness::{spawn_world, DOMAIN, INTUNE};
use rotator_engine::ports::{AppRef, Directory, DirectoryError, SecretCheck};
use rotator_testkit::entra::EntraOp;
use secrecy::ExposeSecret;
use std::time::Duration;

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
    let secret = w.seed_secret("s", 9);
    w.assert_check(&by_domain, &secret, SecretCheck::Accepted)
        .await;
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
async fn a_new_secret_is_not_accepted_until_it_propagates() {
    let w = spawn_world().await;
    w.sim.set_propagation_lag(Duration::from_secs(20));
    let new = w.add_password(&w.app, "rotated", 90).await.unwrap();
    w.assert_check(&w.app, &new.secret, SecretCheck::NotAccepted)
        .await;
    w.clock.advance(Duration::from_secs(19));
    w.assert_check(&w.app, &new.secret, SecretCheck::NotAccepted)
        .await;
    w.clock.advance(Duration::from_secs(1));
    w.assert_check(&w.app, &new.secret, SecretCheck::Accepted)
        .await;
    assert!(w
        .sim
        .accepts(&w.app.client_id, new.secret.expose_secret(), INTUNE));
}

#[tokio::test]
async fn an_expired_secret_is_reported_as_expired() {
    let w = spawn_world().await;
    let secret = w.seed_secret("short", 1);
    w.assert_check(&w.app, &secret, SecretCheck::Accepted).await;
    w.clock.advance(Duration::from_secs(2 * 86_400));
    w.assert_check(&w.app, &secret, SecretCheck::Expired).await;
}

#[tokio::test]
async fn check_secret_is_never_retried_and_an_unknown_scope_is_an_error() {
    let w = spawn_world().await;
    let secret = w.seed_secret("s", 9);
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
