//! `AwsSecretStore` only: an unreachable endpoint is a transient error without the value, and
//! `load_aws_config` follows `AWS_ENDPOINT_URL`.

use super::harness::{assert_no_value, secret, token};
use crate::common::moto;
use aws_sdk_secretsmanager::config::{retry::RetryConfig, BehaviorVersion, Credentials, Region};
use rotator_adapters::secrets_manager::AwsSecretStore;
use rotator_engine::ports::SecretStore;

/// A loopback port nothing listens on (bound, read, and released).
fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("port").port()
}

#[tokio::test]
async fn aws_store_unreachable_endpoint_is_a_transient_error_without_the_value() {
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .endpoint_url(format!("http://127.0.0.1:{}", unused_port()))
        .retry_config(RetryConfig::disabled())
        .build();
    let store = AwsSecretStore::new(aws_sdk_secretsmanager::Client::from_conf(conf));
    let err = store
        .put_pending("s", &token(), &secret("pending-value-xyz"), None)
        .await
        .expect_err("nothing listens");
    assert!(err.is_transient(), "{err:?}");
    assert_no_value(&err, "pending-value-xyz");
}

#[tokio::test]
async fn load_aws_config_honours_aws_endpoint_url() {
    // scripts/test exports AWS_ENDPOINT_URL and dummy credentials; without them there is nothing
    // to check (the client would go to real AWS), so the test says so and passes.
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        eprintln!("AWS_ENDPOINT_URL unset: run scripts/test to check load_aws_config against moto");
        return;
    }
    let conf =
        rotator_adapters::secrets_manager::load_aws_config(std::time::Duration::from_secs(5)).await;
    let store = AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(&conf));
    let name = moto::unique("env-config");
    let arn = store
        .create(&name, &secret("v"), "load_aws_config")
        .await
        .expect("create through env config");
    assert_eq!(store.describe(&name).await.expect("describe").arn, arn);
}
