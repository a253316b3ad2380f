//! [`DynamoLeases`]: the engine's [`LeaseStore`] over a DynamoDB table (`LEASE_TABLE_NAME`),
//! AWS's standard lock: one item per target, written only with conditions.
//!
//! Item: `pk` (the target secret's name, a string: the table's partition key), `holder`, and
//! `expires_at` (epoch seconds, a number: also the table's TTL attribute, so DynamoDB deletes a
//! crashed holder's item some time after it ran out; the conditions never rely on that).
//! - acquire: `PutItem` if `attribute_not_exists(pk) OR expires_at < :now OR holder = :me`
//!   (`OR holder = :parked` for a step event taking over its rotation's lease);
//! - renew: `UpdateItem` if `holder = :me`;
//! - release: `DeleteItem` if `holder = :me`;
//! - holder: `GetItem`, strongly consistent.

use crate::ports::{LeaseError, LeaseRecord, LeaseStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The error code of a refused condition.
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// The lease table through the AWS SDK. Cheap to clone (the SDK client is).
#[derive(Debug, Clone)]
pub struct DynamoLeases {
    client: Client,
    table: String,
}

impl DynamoLeases {
    /// The leases in `table`, through `client` (build it from
    /// [`crate::secrets_manager::load_aws_config`]).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The answer to a conditional write: a refused condition means another holder (read it, to
    /// say until when).
    async fn judged<T, E>(
        &self,
        operation: &str,
        key: &str,
        result: Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
    ) -> Result<(), LeaseError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(CONDITION_FAILED) => {
                Err(LeaseError::Held(self.holder(key).await.ok().flatten()))
            }
            Err(e) => Err(unavailable(operation, e)),
        }
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(at.timestamp().to_string())
}

#[async_trait]
impl LeaseStore for DynamoLeases {
    async fn acquire(
        &self,
        key: &str,
        holder: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
        parked: Option<&str>,
    ) -> Result<(), LeaseError> {
        let mut condition =
            "attribute_not_exists(pk) OR expires_at < :now OR holder = :me".to_string();
        let mut values = HashMap::from([(":now".to_string(), n(now)), (":me".into(), s(holder))]);
        if let Some(parked) = parked {
            condition.push_str(" OR holder = :parked");
            values.insert(":parked".into(), s(parked));
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(key))
            .item("holder", s(holder))
            .item("expires_at", n(expires))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        self.judged("PutItem", key, put).await
    }

    async fn renew(
        &self,
        key: &str,
        holder: &str,
        to: &str,
        expires: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET holder = :to, expires_at = :exp")
            .condition_expression("holder = :me")
            .expression_attribute_values(":to", s(to))
            .expression_attribute_values(":exp", n(expires))
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        self.judged("UpdateItem", key, update).await
    }

    async fn release(&self, key: &str, holder: &str) -> Result<(), LeaseError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        match delete {
            // Not (or no longer) this holder's: nothing of its own to let go of.
            Err(e) if e.code() == Some(CONDITION_FAILED) => Ok(()),
            other => other.map(drop).map_err(|e| unavailable("DeleteItem", e)),
        }
    }

    async fn holder(&self, key: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let holder = item.get("holder").and_then(|v| v.as_s().ok());
        let expires = (item.get("expires_at").and_then(|v| v.as_n().ok()))
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|secs| DateTime::from_timestamp(secs, 0));
        match (holder, expires) {
            (Some(holder), Some(expires)) => Ok(Some(LeaseRecord {
                holder: holder.clone(),
                expires,
            })),
            _ => Err(LeaseError::Unavailable {
                operation: "GetItem".into(),
                code: "InvalidItem".into(),
                message: format!("the lease item of {key} lacks holder or expires_at"),
            }),
        }
    }
}

/// Any other failure: throttling, a missing table, no permission, the network.
fn unavailable<E, R>(operation: &str, err: SdkError<E, R>) -> LeaseError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = match &err {
        SdkError::ServiceError(_) => (
            err.code().unwrap_or("Unknown").to_string(),
            err.message().unwrap_or("no message").to_string(),
        ),
        SdkError::TimeoutError(_) => ("timeout".into(), "the call timed out".into()),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            ("timeout".into(), DisplayErrorContext(&err).to_string())
        }
        SdkError::DispatchFailure(_) => ("dispatch".into(), DisplayErrorContext(&err).to_string()),
        _ => ("response".into(), DisplayErrorContext(&err).to_string()),
    };
    LeaseError::Unavailable {
        operation: operation.to_string(),
        code,
        message: crate::redact::truncate(&message, 300),
    }
}
