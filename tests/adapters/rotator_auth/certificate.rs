//! `certificate` sign-in refused and accepted: an unregistered certificate, an expired
//! assertion, and hand-made assertions (forged, for another endpoint or app, RS256, not a JWT)
//! sent through the product's own token request.

use super::harness::{
    assert_not_in_logs, assertions_sent, bare, Bare, CERT, CERT_KEY, OTHER_KEY, UNREGISTERED_CERT,
};
use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rotator_adapters::entra::{
    CertificateCredential, RotatorCredential, RotatorSignIn, WebIdentityTokens,
};
use rotator_engine::ports::DirectoryError;
use rotator_testkit::clock::{ManualClock, SharedClock};
use rotator_testkit::world::TENANT_ID;
use secrecy::SecretString;
use std::sync::Arc;

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

/// The rotator signing in with a hand-made certificate-style assertion: the registered
/// certificate's thumbprint, signed by `key` with `alg`, for audience `aud` from issuer `iss`.
fn hand_made(b: &Bare, alg: Algorithm, key: &str, aud: &str, iss: &str) -> RotatorSignIn {
    let mut header = Header::new(alg);
    header.x5t_s256 = Some(
        CertificateCredential::from_pem(CERT_KEY, CERT)
            .unwrap()
            .thumbprint()
            .to_string(),
    );
    let now = b.clock.now().timestamp();
    let claims = serde_json::json!({"aud": aud, "iss": iss, "sub": iss,
        "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "iat": now, "exp": now + 300});
    let jwt = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
    )
    .unwrap();
    fixed(&b.rotator, jwt)
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
    let (ps256, token_url) = (Algorithm::PS256, b.token_url());
    let forged = hand_made(&b, ps256, OTHER_KEY, &token_url, &b.rotator);
    assert_eq!(b.refusal(forged).await, 700027);
    // Signed right, for another token endpoint.
    let elsewhere = format!("https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token");
    let wrong_aud = hand_made(&b, ps256, CERT_KEY, &elsewhere, &b.rotator);
    assert_eq!(b.refusal(wrong_aud).await, 700023);
    // Signed right, issued for another app.
    let wrong_iss = hand_made(&b, ps256, CERT_KEY, &token_url, "another-app");
    assert_eq!(b.refusal(wrong_iss).await, 700021);
    // The product's PS256 assertion and an older-style RS256 one are both accepted.
    b.accepted(cert(CERT_KEY, CERT)).await;
    let rs256 = hand_made(&b, Algorithm::RS256, CERT_KEY, &token_url, &b.rotator);
    b.accepted(rs256).await;
    assert_not_in_logs(&assertions_sent(&b.entra, &b.rotator), "an assertion");
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
