//! The `smtp-graph` target: Jamf Pro sending mail through Microsoft Graph
//! (`authenticationType: GRAPH_API`) with the app registration's client secret.

use super::api::{SmtpServer, GRAPH_API};
use super::client::JamfClient;
use crate::config::Cloud;
use crate::document::{TargetDocument, TargetKind};
use crate::ports::{SecretHolder, TargetConfig, TargetError};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

/// The SMTP server settings of one Jamf Pro server, when they send mail through Graph as the
/// document's app.
#[derive(Debug, Clone)]
pub struct SmtpGraphTarget {
    client: JamfClient,
    cloud: Cloud,
    client_id: String,
    recipient: String,
}

impl SmtpGraphTarget {
    /// The target for `doc` on `client`; `recipient` receives the test mail of [`Self::verify`].
    pub fn new(client: JamfClient, doc: &TargetDocument, recipient: impl Into<String>) -> Self {
        Self {
            client,
            cloud: doc.entra.cloud,
            client_id: doc.entra.client_id.clone(),
            recipient: recipient.into(),
        }
    }

    /// The client underneath (for `probe` and for closing the session).
    pub fn client(&self) -> &JamfClient {
        &self.client
    }

    /// Refuses settings the rotator does not manage: another authentication type, or Graph with
    /// another app. `when` says which read it was ("before the update", …).
    fn check(&self, s: &SmtpServer, when: &str) -> Result<(), TargetError> {
        if !s.uses_graph() {
            return Err(TargetError::Mismatch(format!(
                "{when}, Jamf Pro's SMTP server uses authentication type {} rather than {GRAPH_API}",
                s.authentication_type
            )));
        }
        let configured = s.graph.as_ref().map(|g| g.client_id.as_str()).unwrap_or("");
        if !configured.eq_ignore_ascii_case(&self.client_id) {
            return Err(TargetError::Mismatch(format!(
                "{when}, Jamf Pro's SMTP server sends mail as client id '{configured}', the document names '{}'",
                self.client_id
            )));
        }
        Ok(())
    }
}

/// What SMTP settings `s` say about the Graph integration: enabled (and through Graph), the
/// client id and tenant it sends mail as, one line for reports. `inspect` and `discover` share it.
pub fn describe(s: &SmtpServer) -> TargetConfig {
    let sender = s
        .raw
        .pointer("/senderSettings/emailAddress")
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    let detail = if s.uses_graph() {
        format!(
            "SMTP server {} through Microsoft Graph, sender {sender}",
            if s.enabled { "enabled" } else { "disabled" }
        )
    } else {
        format!(
            "SMTP server uses authentication type {} (not Microsoft Graph)",
            s.authentication_type
        )
    };
    // Only a server that sends through Graph uses the app at all.
    let graph = s.graph.as_ref().filter(|_| s.uses_graph());
    TargetConfig {
        enabled: s.enabled && s.uses_graph(),
        client_id: graph.map(|g| g.client_id.clone()),
        tenant_id: s.graph.as_ref().map(|g| g.tenant_id.clone()),
        detail,
    }
}

#[async_trait]
impl SecretHolder for SmtpGraphTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::SmtpGraph
    }

    fn scope(&self) -> String {
        self.cloud.graph_scope()
    }

    async fn inspect(&self) -> Result<TargetConfig, TargetError> {
        Ok(describe(&self.client.smtp_server().await?))
    }

    /// Reads the settings, refuses anything it does not manage, writes only the Graph
    /// credentials (tenant and client id as read, the new secret), then reads back on the same
    /// node (the jar's `jpro-ingress` cookie) to confirm the server still uses the app.
    async fn install(&self, secret: &SecretString) -> Result<(), TargetError> {
        let before = self.client.smtp_server().await?;
        self.check(&before, "before the update")?;
        let graph = before
            .graph
            .clone()
            .unwrap_or_else(|| unreachable!("check() requires Graph credentials"));
        let mut patch = json!({
            "graphApiCredentials": {
                "tenantId": graph.tenant_id,
                "clientId": graph.client_id,
                "clientSecret": secret.expose_secret(),
            }
        });
        // The schema makes `enabled`, `authenticationType` and `senderSettings` required in the
        // PUT body even for a merge patch; sending them back exactly as read keeps the request
        // valid and changes nothing.
        patch["enabled"] = json!(before.enabled);
        patch["authenticationType"] = json!(GRAPH_API);
        if let Some(sender) = before.raw.get("senderSettings") {
            patch["senderSettings"] = sender.clone();
        }
        self.client.patch_smtp_server(&patch).await?;
        drop(patch);
        let after = self.client.smtp_server().await?;
        self.check(&after, "after the update")?;
        if after.graph.as_ref().map(|g| &g.tenant_id) != Some(&graph.tenant_id) {
            return Err(TargetError::Mismatch(
                "after the update, Jamf Pro reports another tenant id".into(),
            ));
        }
        tracing::info!(
            server = self.client.server(),
            "the Graph client secret is in Jamf Pro's SMTP settings"
        );
        Ok(())
    }

    /// Asks Jamf Pro to send a test mail with the stored settings; Jamf authenticates to Graph
    /// with the secret it holds, so a refusal means the secret does not work there.
    async fn verify(&self) -> Result<(), TargetError> {
        match self.client.smtp_test(&self.recipient).await {
            Ok(()) => Ok(()),
            Err(TargetError::Api {
                status, message, ..
            }) if (400..500).contains(&status) && status != 403 => Err(TargetError::Rejected(
                format!("the test mail to {} failed: {message}", self.recipient),
            )),
            Err(other) => Err(other),
        }
    }

    /// Ends a user's API token (an API client's expires on its own).
    async fn close(&self) {
        if let Err(e) = self.client.close().await {
            tracing::debug!(
                server = self.client.server(),
                "ending the Jamf Pro API session: {e}"
            );
        }
    }
}
