//! Opening the Jamf target a document names: read the Jamf credentials from the secret store,
//! build one client for the server, and the target on top of it.

use super::client::JamfClient;
use super::conditional_access::ConditionalAccessTarget;
use super::credentials::JamfCredentials;
use super::smtp::SmtpGraphTarget;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::document::{TargetDocument, TargetKind};
use crate::ports::{SecretHolder, SecretStore, TargetError, TargetFactory, AWSCURRENT};
use async_trait::async_trait;
use std::sync::Arc;

/// The real [`TargetFactory`]: Jamf Pro over HTTPS.
#[derive(Clone)]
pub struct JamfTargets {
    store: Arc<dyn SecretStore>,
    settings: Settings,
    clock: SharedClock,
}

impl JamfTargets {
    /// A factory reading Jamf credentials from `store`.
    pub fn new(store: Arc<dyn SecretStore>, settings: Settings, clock: SharedClock) -> Self {
        Self {
            store,
            settings,
            clock,
        }
    }

    /// Reads and parses the Jamf credentials `doc` points to, refuses them unless their
    /// `jamf_url` names the document's Jamf origin, and builds the client.
    pub async fn client(&self, doc: &TargetDocument) -> Result<JamfClient, TargetError> {
        let id = &doc.jamf.credentials_secret_id;
        let url = doc
            .jamf
            .url
            .as_ref()
            .ok_or_else(|| TargetError::Config("jamf.url is missing".into()))?;
        let (_, value) = self
            .store
            .value_at(id, AWSCURRENT)
            .await
            .map_err(|e| {
                TargetError::Config(format!(
                    "the Jamf credentials secret {id} cannot be read: {e}"
                ))
            })?
            .ok_or_else(|| {
                TargetError::Config(format!(
                    "the Jamf credentials secret {id} has no {AWSCURRENT} value"
                ))
            })?;
        // Bound to their server: a document naming another host gets nothing sent there.
        let credentials = JamfCredentials::parse_bound(&value, id, url)?;
        JamfClient::new(url, credentials, &self.settings, self.clock.clone())
    }
}

#[async_trait]
impl TargetFactory for JamfTargets {
    async fn open(&self, doc: &TargetDocument) -> Result<Box<dyn SecretHolder>, TargetError> {
        match doc.jamf.target {
            TargetKind::SmtpGraph => {
                let recipient = doc
                    .jamf
                    .test_recipient
                    .clone()
                    .or_else(|| self.settings.smtp_test_recipient.clone())
                    .filter(|r| !r.trim().is_empty())
                    .ok_or_else(|| {
                        TargetError::Config(
                            "the smtp-graph target needs a test mail recipient: set jamf.test_recipient in the \
                             document or SMTP_TEST_RECIPIENT"
                                .into(),
                        )
                    })?;
                let client = self.client(doc).await?;
                Ok(Box::new(SmtpGraphTarget::new(client, doc, recipient)))
            }
            TargetKind::ConditionalAccess => {
                let client = self.client(doc).await?;
                if !client.credentials().is_user() {
                    return Err(TargetError::Config(format!(
                        "the conditional-access target logs in to Jamf Pro's web UI: {} must hold a user account \
                         {{\"username\",\"password\"}}, not an API client",
                        doc.jamf.credentials_secret_id
                    )));
                }
                Ok(Box::new(ConditionalAccessTarget::new(client, doc)))
            }
            TargetKind::Rotator => Ok(Box::new(crate::entra::OwnSecret::new(doc))),
        }
    }
}
