//! Answers the client cannot use and what its errors show: HTML or truncated bodies are invalid
//! responses, and no secret reaches an error, a `Debug` output or a Graph request.

use super::harness::{assert_no_secret_in, spawn_world, INTUNE};
use rotator_adapters::entra::RotatorIdentity;
use rotator_engine::ports::{AppRef, Directory, DirectoryError};
use rotator_testkit::entra::{Corruption, EntraOp};
use secrecy::{ExposeSecret, SecretString};

/// Asserts an invalid-response error whose message says `what`.
fn assert_invalid_response(e: &DirectoryError, what: &str) {
    assert!(
        matches!(e, DirectoryError::InvalidResponse { message, .. } if message.contains(what)),
        "{e:?}"
    );
}

#[tokio::test]
async fn html_and_truncated_bodies_are_invalid_responses() {
    let w = spawn_world().await;
    w.sim
        .corrupt_next(EntraOp::GetApplication, 1, Corruption::Html);
    let e = w.dir.application(&w.app).await.unwrap_err();
    assert_invalid_response(&e, "text/html");
    w.sim
        .corrupt_next(EntraOp::GetApplication, 1, Corruption::Truncated);
    let e = w.dir.application(&w.app).await.unwrap_err();
    assert_invalid_response(&e, "truncated");
    w.sim.corrupt_next(EntraOp::Token, 1, Corruption::Html);
    let fresh = w.dir_with_secret(w.rotator_secret.expose_secret());
    assert!(matches!(
        fresh.application(&w.app).await,
        Err(DirectoryError::InvalidResponse { .. })
    ));
}

#[tokio::test]
async fn no_secret_reaches_an_error_or_debug_output() {
    let w = spawn_world().await;
    let new = w.add_password(&w.app, "rotated", 90).await.unwrap();
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
    errors.push(w.add_password(&w.app, "x", 9).await.unwrap_err());
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
    errors.push(w.add_password(&w.app, "y", 9).await.unwrap_err());
    let value = SecretString::from(format!(
        "{{\"client_secret\": {}",
        w.rotator_secret.expose_secret()
    ));
    errors.push(RotatorIdentity::from_secret_value(None, &value).unwrap_err());
    for e in &errors {
        for text in [e.to_string(), format!("{e:?}")] {
            assert_no_secret_in(&text, &secrets);
        }
    }
    for text in [format!("{new:?}"), format!("{:?}", w.dir)] {
        assert_no_secret_in(&text, &secrets);
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
