//! The rotator's own client secret as a rotation target (`ROTATOR_AUTH=client-secret`): its
//! document lives in `ROTATOR_CREDENTIALS_SECRET_ID` and is rotated with the same four steps as a
//! Jamf target. There is nothing to "install": every invocation reads the rotator's secret from
//! `AWSCURRENT`, so promoting the new version is the switch. Verification is the engine's own
//! token-endpoint check with the new secret for Microsoft Graph, the only resource the rotator
//! uses.

use crate::document::{TargetDocument, TargetKind};
use crate::ports::{SecretHolder, TargetConfig, TargetError};
use async_trait::async_trait;
use secrecy::SecretString;

/// The rotator's own secret, as a [`SecretHolder`].
pub struct OwnSecret {
    client_id: String,
    scope: String,
}

impl OwnSecret {
    /// The target a `rotator` document describes.
    pub fn new(doc: &TargetDocument) -> Self {
        Self {
            client_id: doc.entra.client_id.clone(),
            scope: doc.entra.cloud.graph_scope(),
        }
    }
}

#[async_trait]
impl SecretHolder for OwnSecret {
    fn kind(&self) -> TargetKind {
        TargetKind::Rotator
    }
    fn scope(&self) -> String {
        self.scope.clone()
    }
    async fn inspect(&self) -> Result<TargetConfig, TargetError> {
        Ok(TargetConfig {
            enabled: true,
            client_id: Some(self.client_id.clone()),
            tenant_id: None,
            detail: "the rotator's own credential (read from Secrets Manager at every start)"
                .into(),
        })
    }
    async fn install(&self, _secret: &SecretString) -> Result<(), TargetError> {
        Ok(())
    }
    async fn verify(&self) -> Result<(), TargetError> {
        Ok(())
    }
}
