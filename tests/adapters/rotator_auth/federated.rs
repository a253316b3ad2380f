//! `federated` sign-in refused and accepted: a federated identity credential for another issuer,
//! role or audience; an unknown key, a wrong signature or an expired token; STS with outbound
//! federation off; and the settings the mode needs.

use super::harness::{assert_not_in_logs, bare, issued, AUDIENCE};
use rotator_adapters::entra::RotatorCredential;
use rotator_engine::config::{RotatorAuth, Settings};
use rotator_engine::ports::Directory;
use rotator_testkit::sts::DEFAULT_ROLE_ARN;

#[tokio::test]
async fn federated_assertions_with_the_wrong_issuer_subject_or_audience_are_refused() {
    let b = bare().await;
    let sts = b.sts().await;
    b.entra
        .trust_issuer_key(&sts.issuer(), sts.kid(), sts.public_key_pem());

    // No credential for this issuer.
    b.entra.add_federated_credential(
        &b.rotator,
        "https://other-issuer.example",
        DEFAULT_ROLE_ARN,
        &[AUDIENCE],
    );
    assert_eq!(b.refusal(b.federated(&sts)).await, 700211);
    // The issuer matches, but for another role.
    b.entra.add_federated_credential(
        &b.rotator,
        &sts.issuer(),
        "arn:aws:iam::123456789012:role/someone-else",
        &[AUDIENCE],
    );
    assert_eq!(b.refusal(b.federated(&sts)).await, 700213);
    // Issuer and subject match, the audience does not.
    b.entra.add_federated_credential(
        &b.rotator,
        &sts.issuer(),
        DEFAULT_ROLE_ARN,
        &["api://AzureADTokenExchangeChina"],
    );
    assert_eq!(b.refusal(b.federated(&sts)).await, 700212);
    // The right credential: accepted.
    b.entra
        .add_federated_credential(&b.rotator, &sts.issuer(), DEFAULT_ROLE_ARN, &[AUDIENCE]);
    b.accepted(b.federated(&sts)).await;
    let issued = issued(&sts);
    assert_eq!(issued.len(), 4);
    assert_not_in_logs(&issued, "a web identity token");
}

#[tokio::test]
async fn expired_or_badly_signed_federated_tokens_are_refused() {
    let b = bare().await;
    let sts = b.sts().await;
    b.entra
        .add_federated_credential(&b.rotator, &sts.issuer(), DEFAULT_ROLE_ARN, &[AUDIENCE]);

    // The issuer's keys do not include the token's kid.
    assert_eq!(b.refusal(b.federated(&sts)).await, 7000272);
    b.entra
        .trust_issuer_key(&sts.issuer(), sts.kid(), sts.public_key_pem());
    // Signed by another key under the issuer's kid.
    sts.sign_with_wrong_key(true);
    assert_eq!(b.refusal(b.federated(&sts)).await, 700027);
    sts.sign_with_wrong_key(false);
    // Issued an hour ago for five minutes.
    sts.set_clock_skew(chrono::Duration::hours(-1));
    assert_eq!(b.refusal(b.federated(&sts)).await, 700024);
    sts.set_clock_skew(chrono::Duration::zero());
    b.accepted(b.federated(&sts)).await;
}

#[tokio::test]
async fn sts_refusals_say_what_the_administrator_must_do() {
    let b = bare().await;
    let sts = b.sts().await;
    sts.set_federation_enabled(false);
    let graph = b.graph(b.federated(&sts), b.clock.clone());
    let e = graph.application(&b.app).await.unwrap_err().to_string();
    assert!(e.contains("enable-outbound-web-identity-federation"), "{e}");
}

#[tokio::test]
async fn federated_mode_needs_the_client_id_setting_and_reads_no_secret() {
    let store = rotator_testkit::memory_store::MemoryStore::new();
    let settings = Settings {
        rotator_auth: RotatorAuth::Federated,
        ..rotator_testkit::settings::on_loopback()
    };
    let e = rotator_adapters::wiring::rotator_identity(&settings, &store)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("ROTATOR_CLIENT_ID"), "{e}");
    let settings = Settings {
        rotator_client_id: Some("cid".into()),
        ..settings
    };
    let signin = rotator_adapters::wiring::rotator_identity(&settings, &store)
        .await
        .unwrap();
    assert!(matches!(signin.credential, RotatorCredential::Federated(_)));
    assert_eq!(signin.client_id, "cid");
}
