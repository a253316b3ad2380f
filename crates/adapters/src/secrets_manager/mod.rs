//! The Secrets Manager adapter: a [`crate::ports::SecretStore`].
//!
//! - [`AwsSecretStore`]: the real thing over `aws-sdk-secretsmanager`, written to the contract in
//!   `docs/contracts/aws-secrets-manager-rotation.md` (every read names a version or a stage, every
//!   pending write names `AWSPENDING`).
//! - [`load_aws_config`]: the SDK configuration both AWS adapters (Secrets Manager, SNS) use.
//!
//! Where moto differs from AWS and the two stores therefore cannot be compared, `tests/adapters/vault.rs`
//! says so next to the test that avoids the difference.

mod aws;

pub use aws::AwsSecretStore;

use crate::ports::StoreError;
use std::time::Duration;

/// Loads the AWS SDK configuration from the standard chain (environment, profile, container and
/// instance credentials; `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_SECRETS_MANAGER` /
/// `AWS_ENDPOINT_URL_SNS` are honoured, which is how tests point the SDK at moto).
///
/// `timeout` bounds one attempt; the whole operation (standard retry mode, at most three attempts
/// with backoff) is bounded by three times that, so a hung endpoint can never stall a rotation.
pub async fn load_aws_config(timeout: Duration) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .operation_attempt_timeout(timeout)
        .operation_timeout(timeout * 3)
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(aws_config::retry::RetryConfig::standard())
        .load()
        .await
}

/// The AWS error code for a missing secret or version.
pub(crate) const NOT_FOUND: &str = "ResourceNotFoundException";

/// Builds the [`StoreError`] for an AWS error code (`NotFound`, or `Aws` keeping the code for
/// `is_transient`).
pub(crate) fn store_error(
    operation: &str,
    secret_id: &str,
    what: &str,
    code: &str,
    message: &str,
) -> StoreError {
    if code == NOT_FOUND {
        StoreError::NotFound {
            what: what.to_string(),
        }
    } else {
        StoreError::Aws {
            operation: operation.to_string(),
            secret_id: secret_id.to_string(),
            code: code.to_string(),
            message: crate::redact::truncate(message, 300),
        }
    }
}

/// "version V of S", for `NotFound` errors that concern one version.
pub(crate) fn version_of(secret_id: &str, version_id: &str) -> String {
    format!("version {version_id} of secret {secret_id}")
}
