//! Typed Jamf Pro API calls (schema 11.30.1): SMTP server, its test mail, notifications, SSO
//! failover, version. Each names its operation the way errors and logs show it.

use super::client::{Body, Call, JamfClient};
use crate::ports::TargetError;
use crate::redact::REDACTED;
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

/// `GET/PUT` the SMTP server settings.
pub const SMTP_SERVER: &str = "api/v2/smtp-server";
/// `POST`: Jamf Pro sends a test mail with the stored settings.
pub const SMTP_TEST: &str = "api/v1/smtp-server/test";
/// `GET`: the notifications shown in the web UI.
pub const NOTIFICATIONS: &str = "api/v1/notifications";
/// `GET`: the SSO failover login URL.
pub const SSO_FAILOVER: &str = "api/v1/sso/failover";
/// `GET`: the server's version.
pub const VERSION: &str = "api/v1/jamf-pro-version";

/// `authenticationType` of `SmtpServerV2` for mail through Microsoft Graph.
pub const GRAPH_API: &str = "GRAPH_API";

/// Keys whose values are secrets wherever they appear in SMTP settings (write-only in the schema;
/// dropped defensively should a server ever return them).
const SECRET_KEYS: [&str; 2] = ["clientSecret", "password"];

/// The SMTP server settings (`SmtpServerV2`): the fields the rotator reads, typed, and the whole
/// document as Jamf returned it (unknown fields included) in [`SmtpServer::raw`].
#[derive(Clone, PartialEq)]
pub struct SmtpServer {
    /// `enabled`.
    pub enabled: bool,
    /// `authenticationType` (`NONE`, `BASIC`, `GRAPH_API`, `GOOGLE_MAIL`, or newer values).
    pub authentication_type: String,
    /// `graphApiCredentials`, without the write-only secret.
    pub graph: Option<GraphCredentials>,
    /// Everything Jamf returned, minus any secret value.
    pub raw: Value,
}

/// `graphApiCredentials` as Jamf returns it (the secret is write-only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphCredentials {
    /// The tenant Jamf Pro sends mail as.
    #[serde(default)]
    pub tenant_id: String,
    /// The app registration's client id.
    #[serde(default)]
    pub client_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmtpServerFields {
    #[serde(default)]
    enabled: bool,
    authentication_type: String,
    graph_api_credentials: Option<GraphCredentials>,
}

impl SmtpServer {
    /// Reads `SmtpServerV2` JSON. The error names what is wrong, never a value.
    pub fn from_value(mut raw: Value, operation: &str) -> Result<Self, TargetError> {
        strip_secrets(&mut raw);
        let fields: SmtpServerFields =
            serde_json::from_value(raw.clone()).map_err(|e| TargetError::InvalidResponse {
                operation: operation.to_string(),
                message: format!("not SmtpServerV2: {e}"),
            })?;
        Ok(Self {
            enabled: fields.enabled,
            authentication_type: fields.authentication_type,
            graph: fields.graph_api_credentials,
            raw,
        })
    }

    /// True when mail goes through Microsoft Graph.
    pub fn uses_graph(&self) -> bool {
        self.authentication_type == GRAPH_API
    }
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("enabled", &self.enabled)
            .field("authentication_type", &self.authentication_type)
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

fn strip_secrets(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !SECRET_KEYS.contains(&k.as_str()));
            map.values_mut().for_each(strip_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_secrets),
        _ => {}
    }
}

/// The secret values in a patch (under any [`SECRET_KEYS`] key), to scrub echoes.
fn secrets_in(v: &Value, out: &mut Vec<SecretString>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if SECRET_KEYS.contains(&k.as_str()) => {
                        out.push(SecretString::from(s.clone()))
                    }
                    other => secrets_in(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| secrets_in(i, out)),
        _ => {}
    }
}

/// One entry of `GET /api/v1/notifications`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Notification {
    /// The `NotificationType` (`MII_HEARTBEAT_FAILED_NOTIFICATION`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id.
    #[serde(default)]
    pub id: String,
    /// Its parameters.
    #[serde(default)]
    pub params: Value,
}

/// `GET /api/v1/sso/failover`. The URL carries a key that bypasses SSO: it is a secret.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SsoFailover {
    /// The failover login URL.
    pub failover_url: Option<SecretString>,
    /// When the key was generated (epoch milliseconds).
    pub generation_time: Option<i64>,
}

impl std::fmt::Debug for SsoFailover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoFailover")
            .field(
                "failover_url",
                &self.failover_url.as_ref().map(|_| REDACTED),
            )
            .field("generation_time", &self.generation_time)
            .finish()
    }
}

#[derive(Deserialize)]
struct Version {
    version: Option<String>,
}

impl JamfClient {
    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, TargetError> {
        let call = Call {
            method: Method::GET,
            path,
            body: Body::Empty,
            idempotent: true,
            secrets: vec![],
        };
        self.call(&call).await?.json(&call.operation())
    }

    /// `GET /api/v2/smtp-server`.
    pub async fn smtp_server(&self) -> Result<SmtpServer, TargetError> {
        let raw: Value = self.get_json(SMTP_SERVER).await?;
        SmtpServer::from_value(raw, "GET /api/v2/smtp-server")
    }

    /// `PUT /api/v2/smtp-server` with `patch` as `application/merge-patch+json`; returns the
    /// settings Jamf answers with. Repeating the same patch is harmless, so it is retried.
    pub async fn patch_smtp_server(&self, patch: &Value) -> Result<SmtpServer, TargetError> {
        let mut secrets = Vec::new();
        secrets_in(patch, &mut secrets);
        let call = Call {
            method: Method::PUT,
            path: SMTP_SERVER,
            body: Body::MergePatch(patch),
            idempotent: true,
            secrets,
        };
        let operation = call.operation();
        let reply = self.call(&call).await?;
        SmtpServer::from_value(reply.json(&operation)?, &operation)
    }

    /// `POST /api/v1/smtp-server/test {"recipientEmail"}`: Jamf Pro sends a test mail with the
    /// stored settings (202). Not retried: each attempt sends a mail.
    pub async fn smtp_test(&self, recipient: &str) -> Result<(), TargetError> {
        let body = serde_json::json!({ "recipientEmail": recipient });
        let call = Call {
            method: Method::POST,
            path: SMTP_TEST,
            body: Body::Json(&body),
            idempotent: false,
            secrets: vec![],
        };
        self.call(&call).await.map(|_| ())
    }

    /// `GET /api/v1/notifications`.
    pub async fn notifications(&self) -> Result<Vec<Notification>, TargetError> {
        self.get_json(NOTIFICATIONS).await
    }

    /// `GET /api/v1/sso/failover`.
    pub async fn sso_failover(&self) -> Result<SsoFailover, TargetError> {
        self.get_json(SSO_FAILOVER).await
    }

    /// `GET /api/v1/jamf-pro-version`: the version string (`11.30.1-t…`).
    pub async fn version(&self) -> Result<String, TargetError> {
        let v: Version = self.get_json(VERSION).await?;
        v.version.ok_or_else(|| TargetError::InvalidResponse {
            operation: format!("GET /{VERSION}"),
            message: "no version in the answer".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_server_keeps_unknown_fields_and_drops_secrets() {
        let raw = serde_json::json!({
            "enabled": true, "authenticationType": "GRAPH_API",
            "senderSettings": {"emailAddress": "jamf@example.com"},
            "graphApiCredentials": {"tenantId": "t", "clientId": "c", "clientSecret": "leak"},
            "futureField": {"x": 1}
        });
        let s = SmtpServer::from_value(raw, "GET").unwrap();
        assert!(s.uses_graph() && s.enabled);
        assert_eq!(s.graph.as_ref().unwrap().client_id, "c");
        assert_eq!(s.raw["futureField"]["x"], 1);
        assert!(!s.raw.to_string().contains("leak"));
        let e = SmtpServer::from_value(serde_json::json!({"enabled": true}), "GET")
            .unwrap_err()
            .to_string();
        assert!(e.contains("authenticationType"), "{e}");
    }

    #[test]
    fn patch_secrets_are_collected_for_scrubbing() {
        let mut out = Vec::new();
        secrets_in(
            &serde_json::json!({"graphApiCredentials": {"clientId": "c", "clientSecret": "s1"}}),
            &mut out,
        );
        assert_eq!(out.len(), 1);
    }
}
