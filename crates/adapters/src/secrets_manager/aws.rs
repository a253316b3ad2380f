//! [`AwsSecretStore`]: [`SecretStore`] over `aws-sdk-secretsmanager`.
//!
//! Every read names a version id or a staging label (moto, and AWS right after a label move, may
//! answer an unqualified read with a stale version). Secret values and rotation tokens are never
//! logged and never put into an error: AWS error messages name ids and labels, not values.

use super::{store_error, version_of, NOT_FOUND};
use crate::ports::{
    RotateSecretRequest, SecretInfo, SecretStore, StoreError, AWSCURRENT, AWSPENDING,
};
use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

/// Secrets Manager through the AWS SDK. Cheap to clone (the SDK client is).
#[derive(Debug, Clone)]
pub struct AwsSecretStore {
    client: Client,
}

impl AwsSecretStore {
    /// `PutSecretValue` of a new version labelled `stage`. The stage is always named: without
    /// it, PutSecretValue moves AWSCURRENT to the new value.
    async fn put_value(
        &self,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        stage: &str,
        rotation_token: Option<&SecretString>,
    ) -> Result<(), StoreError> {
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(version_id)
            .secret_string(value.expose_secret())
            .version_stages(stage)
            .set_rotation_token(rotation_token.map(|t| t.expose_secret().to_string()))
            .send()
            .await
            .map_err(|e| {
                map_err(
                    "PutSecretValue",
                    secret_id,
                    &version_of(secret_id, version_id),
                    e,
                )
            })?;
        Ok(())
    }

    /// Wraps a Secrets Manager client (build it from [`super::load_aws_config`]).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// `GetSecretValue` of one version or stage; `Ok(None)` when AWS answers
    /// `ResourceNotFoundException`, which it does both for a missing secret and for a version that
    /// exists without a value (the caller tells them apart with `DescribeSecret`).
    async fn get(
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<GetSecretValueOutput>, StoreError> {
        let res = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .set_version_id(version_id.map(str::to_string))
            .set_version_stage(stage.map(str::to_string))
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(out)),
            Err(e) if e.code() == Some(NOT_FOUND) => Ok(None),
            Err(e) => Err(map_err("GetSecretValue", secret_id, secret_id, e)),
        }
    }

    /// `CreateSecret` of `name` holding `value`; with `kms_key_id` (a key id, ARN or alias),
    /// encrypted with that customer managed key instead of `aws/secretsmanager`. Returns the ARN.
    pub async fn create_encrypted(
        &self,
        name: &str,
        value: &SecretString,
        description: &str,
        kms_key_id: Option<&str>,
    ) -> Result<String, StoreError> {
        let out = self
            .client
            .create_secret()
            .name(name)
            .description(description)
            .set_kms_key_id(kms_key_id.map(str::to_string))
            .secret_string(value.expose_secret())
            .send()
            .await
            .map_err(|e| map_err("CreateSecret", name, name, e))?;
        out.arn()
            .map(str::to_string)
            .ok_or_else(|| StoreError::Invalid(format!("CreateSecret of {name} returned no ARN")))
    }

    /// Removes `stage` from `version_id` (`UpdateSecretVersionStage` with only
    /// `RemoveFromVersionId`).
    async fn remove_stage(
        &self,
        secret_id: &str,
        stage: &str,
        version_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .remove_from_version_id(version_id)
            .send()
            .await
            .map_err(|e| {
                map_err(
                    "UpdateSecretVersionStage",
                    secret_id,
                    &version_of(secret_id, version_id),
                    e,
                )
            })?;
        Ok(())
    }
}

/// Maps an SDK error to a [`StoreError`], keeping the AWS error code. Connection failures become
/// `dispatch`, timeouts `timeout` (both transient, see [`StoreError::is_transient`]).
fn map_err<E, R>(operation: &str, secret_id: &str, what: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = match &err {
        SdkError::ServiceError(_) => (
            err.code().unwrap_or("Unknown").to_string(),
            err.message().unwrap_or("no message").to_string(),
        ),
        SdkError::TimeoutError(_) => ("timeout".to_string(), "the call timed out".to_string()),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            ("timeout".to_string(), DisplayErrorContext(&err).to_string())
        }
        SdkError::DispatchFailure(_) => (
            "dispatch".to_string(),
            DisplayErrorContext(&err).to_string(),
        ),
        _ => (
            "response".to_string(),
            DisplayErrorContext(&err).to_string(),
        ),
    };
    tracing::debug!(operation, secret_id, code, "Secrets Manager call failed");
    store_error(operation, secret_id, what, &code, &message)
}

/// The value of a `GetSecretValue` answer: text, or binary that must be UTF-8.
fn value_of(
    secret_id: &str,
    out: &GetSecretValueOutput,
) -> Result<Option<SecretString>, StoreError> {
    if let Some(s) = out.secret_string() {
        return Ok(Some(SecretString::from(s.to_string())));
    }
    match out.secret_binary() {
        Some(b) => String::from_utf8(b.as_ref().to_vec())
            .map(|s| Some(SecretString::from(s)))
            .map_err(|_| {
                StoreError::Invalid(format!(
                    "secret {secret_id} holds a binary value that is not UTF-8"
                ))
            }),
        None => Ok(None),
    }
}

#[async_trait]
impl SecretStore for AwsSecretStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretInfo, StoreError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| map_err("DescribeSecret", secret_id, secret_id, e))?;
        let versions: BTreeMap<String, Vec<String>> = out
            .version_ids_to_stages()
            // A version without labels is deprecated: AWS does not list it, moto does.
            .map(|m| {
                m.iter()
                    .filter(|(_, s)| !s.is_empty())
                    .map(|(v, s)| (v.clone(), s.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(SecretInfo {
            arn: out.arn().unwrap_or_default().to_string(),
            name: out.name().unwrap_or_default().to_string(),
            // moto leaves it out until RotateSecret was called: unknown, not "disabled".
            rotation_enabled: out.rotation_enabled(),
            versions,
        })
    }

    async fn value(
        &self,
        secret_id: &str,
        version_id: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        if let Some(out) = self.get(secret_id, Some(version_id), None).await? {
            return value_of(secret_id, &out);
        }
        // Not found: the secret is missing (describe says NotFound), the version is missing, or
        // the version exists but has no value yet (the empty AWSPENDING before createSecret).
        let info = self.describe(secret_id).await?;
        if info.versions.contains_key(version_id) {
            Ok(None)
        } else {
            Err(StoreError::NotFound {
                what: version_of(secret_id, version_id),
            })
        }
    }

    async fn version_exists(&self, secret_id: &str, version_id: &str) -> Result<bool, StoreError> {
        // Not found is "free" either way: `value` would ask DescribeSecret which of the two.
        Ok(self.get(secret_id, Some(version_id), None).await?.is_some())
    }

    async fn value_at(
        &self,
        secret_id: &str,
        stage: &str,
    ) -> Result<Option<(String, SecretString)>, StoreError> {
        let Some(out) = self.get(secret_id, None, Some(stage)).await? else {
            // No version carries the stage, or it carries no value; a missing secret is an error.
            self.describe(secret_id).await?;
            return Ok(None);
        };
        let version = out
            .version_id()
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "GetSecretValue on {secret_id} returned no VersionId"
                ))
            })?
            .to_string();
        Ok(value_of(secret_id, &out)?.map(|v| (version, v)))
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        rotation_token: Option<&SecretString>,
    ) -> Result<(), StoreError> {
        tracing::debug!(secret_id, version_id, "PutSecretValue AWSPENDING");
        self.put_value(secret_id, version_id, value, AWSPENDING, rotation_token)
            .await
    }

    async fn promote(
        &self,
        secret_id: &str,
        version_id: &str,
        from_version: &str,
    ) -> Result<(), StoreError> {
        // Moved first, looked at only when refused: a rotation's finish costs two requests.
        tracing::debug!(secret_id, version_id, from_version, "moving AWSCURRENT");
        let moved = self
            .client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(AWSCURRENT)
            .move_to_version_id(version_id)
            .remove_from_version_id(from_version)
            .send()
            .await;
        if let Err(e) = moved {
            let refused = map_err(
                "UpdateSecretVersionStage",
                secret_id,
                &version_of(secret_id, version_id),
                e,
            );
            // Re-entrant: a finishSecret that crashed after the move finds the version current.
            // (If even the look fails, the refusal is the error worth reporting.)
            let Ok(info) = self.describe(secret_id).await else {
                return Err(refused);
            };
            if !info.versions.contains_key(version_id) {
                return Err(StoreError::NotFound {
                    what: version_of(secret_id, version_id),
                });
            }
            if !info.has(version_id, AWSCURRENT) {
                return Err(refused);
            }
        }
        // A leftover AWSPENDING blocks the next rotation ("previous rotation in progress").
        self.remove_pending(secret_id, version_id).await
    }

    async fn remove_pending(&self, secret_id: &str, version_id: &str) -> Result<(), StoreError> {
        match self.remove_stage(secret_id, AWSPENDING, version_id).await {
            Ok(()) => Ok(()),
            // AWS refuses to remove a label from a version that does not carry it: then there
            // was nothing to remove.
            Err(e) => match self.describe(secret_id).await {
                Ok(info) if !info.has(version_id, AWSPENDING) => Ok(()),
                _ => Err(e),
            },
        }
    }

    async fn create(
        &self,
        name: &str,
        value: &SecretString,
        description: &str,
    ) -> Result<String, StoreError> {
        self.create_encrypted(name, value, description, None).await
    }

    async fn put_current(&self, secret_id: &str, value: &SecretString) -> Result<(), StoreError> {
        // No VersionStages: AWS moves AWSCURRENT to the new version and AWSPREVIOUS to the old one.
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(value.expose_secret())
            .send()
            .await
            .map_err(|e| map_err("PutSecretValue", secret_id, secret_id, e))?;
        Ok(())
    }

    async fn tags(&self, secret_id: &str) -> Result<BTreeMap<String, String>, StoreError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| map_err("DescribeSecret", secret_id, secret_id, e))?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    async fn tag(&self, secret_id: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let tag = aws_sdk_secretsmanager::types::Tag::builder()
            .key(key)
            .value(value)
            .build();
        self.client
            .tag_resource()
            .secret_id(secret_id)
            .tags(tag)
            .send()
            .await
            .map_err(|e| map_err("TagResource", secret_id, secret_id, e))?;
        Ok(())
    }

    async fn list_tagged(&self, key: &str, value: Option<&str>) -> Result<Vec<String>, StoreError> {
        let mut filters = vec![Filter::builder()
            .key(FilterNameStringType::TagKey)
            .values(key)
            .build()];
        if let Some(v) = value {
            filters.push(
                Filter::builder()
                    .key(FilterNameStringType::TagValue)
                    .values(v)
                    .build(),
            );
        }
        let mut arns = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_secrets()
                .set_filters(Some(filters.clone()))
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| map_err("ListSecrets", key, key, e))?;
            for entry in out.secret_list() {
                // AWS filters match prefixes, and key and value filters may match different tags:
                // keep only secrets with one tag that is exactly `key` (= `value`).
                let exact = entry
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(key) && value.is_none_or(|v| t.value() == Some(v)));
                if let (true, Some(arn)) = (exact, entry.arn()) {
                    arns.push(arn.to_string());
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => break,
            }
        }
        arns.sort();
        arns.dedup();
        Ok(arns)
    }

    async fn rotate_secret(
        &self,
        secret_id: &str,
        request: &RotateSecretRequest,
    ) -> Result<(), StoreError> {
        let rules = request.schedule.as_ref().map(|s| {
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .schedule_expression(s)
                .build()
        });
        self.client
            .rotate_secret()
            .secret_id(secret_id)
            .set_client_request_token(request.token.clone())
            .rotation_lambda_arn(&request.function_arn)
            .set_rotation_rules(rules)
            .rotate_immediately(request.rotate_immediately)
            .send()
            .await
            .map_err(|e| map_err("RotateSecret", secret_id, secret_id, e))?;
        Ok(())
    }
}
