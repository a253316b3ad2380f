//! The one way a credential leaves the app. Every `removePassword` the engine makes goes through
//! `Engine::remove_checked`, which first looks at the stages afresh: the key `AWSCURRENT` holds
//! is never removed, and the key `AWSPENDING` holds only by the rollback of that very version.
//! Whatever another attempt did since this one last looked (completed the rotation, started
//! another, moved `AWSCURRENT` back), the removal sees it.

use super::{Engine, ErrorKind, RotationError, Step, StepContext};
use crate::document::TargetDocument;
use crate::ports::{AppRef, AWSCURRENT, AWSPENDING};
use secrecy::ExposeSecret;

/// Why a removal was refused, or how it failed.
#[derive(Debug)]
pub(crate) enum NotRemoved {
    /// The fresh look found the key held by a stage that must keep it.
    Held {
        /// `AWSCURRENT` or `AWSPENDING`.
        stage: &'static str,
        /// The version that carries it.
        version: String,
        /// A sentence for notes and alerts.
        why: String,
    },
    /// The look or the removal itself failed.
    Failed(RotationError),
}

impl NotRemoved {
    /// The refusal or failure as a step's error.
    pub(crate) fn into_error(self, step: Step) -> RotationError {
        match self {
            NotRemoved::Held { version, why, .. } => {
                RotationError::new(step, ErrorKind::CredentialKept { version, why })
            }
            NotRemoved::Failed(e) => e,
        }
    }
}

impl std::fmt::Display for NotRemoved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotRemoved::Held { why, .. } => f.write_str(why),
            NotRemoved::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl Engine {
    /// [`Self::remove_checked`] for a step of a rotation, which must still hold the target's
    /// lease.
    pub(crate) async fn remove_for(
        &self,
        step: Step,
        ctx: &StepContext,
        app: &AppRef,
        key_id: &str,
        known: &[(&str, &TargetDocument)],
        pending_of: Option<&str>,
    ) -> Result<(), NotRemoved> {
        // Still this attempt's turn? (Free while the lease is far from its end.)
        self.lease(step, ctx).await.map_err(NotRemoved::Failed)?;
        self.remove_checked(step, &ctx.secret_id, app, key_id, known, pending_of)
            .await
    }

    /// Removes credential `key_id` from the app after a fresh look at the stages of `secret_id`:
    /// refused when `AWSCURRENT` holds it, or `AWSPENDING` does and `pending_of` is not that
    /// version (the rollback of a version may remove what it holds). `known` are documents
    /// already read (a version's document never changes), so the look is usually one
    /// `DescribeSecret`; a version not known is read, and one that cannot be read refuses the
    /// removal (nothing proves the key is not its).
    pub(crate) async fn remove_checked(
        &self,
        step: Step,
        secret_id: &str,
        app: &AppRef,
        key_id: &str,
        known: &[(&str, &TargetDocument)],
        pending_of: Option<&str>,
    ) -> Result<(), NotRemoved> {
        let info = self
            .store
            .describe(secret_id)
            .await
            .map_err(|e| NotRemoved::Failed(RotationError::store(step, e)))?;
        for stage in [AWSCURRENT, AWSPENDING] {
            let Some(version) = info.version_with(stage) else {
                continue;
            };
            if stage == AWSPENDING && pending_of == Some(version) {
                continue;
            }
            let held = match self.key_of(secret_id, version, known).await {
                Ok(key) => key,
                Err(e) => {
                    return Err(NotRemoved::Held {
                        stage,
                        version: version.to_string(),
                        why: format!("credential {key_id} was kept: the {stage} version {version} could not be read to rule it out ({e})"),
                    })
                }
            };
            if held.is_some_and(|k| k.eq_ignore_ascii_case(key_id)) {
                return Err(NotRemoved::Held {
                    stage,
                    version: version.to_string(),
                    why: format!(
                        "credential {key_id} was kept: {stage} (version {version}) holds it"
                    ),
                });
            }
        }
        self.directory
            .remove_password(app, key_id)
            .await
            .map_err(|e| NotRemoved::Failed(RotationError::directory(step, e)))
    }

    /// The key id version `version` holds: from `known`, else read.
    async fn key_of(
        &self,
        secret_id: &str,
        version: &str,
        known: &[(&str, &TargetDocument)],
    ) -> Result<Option<String>, String> {
        if let Some((_, doc)) = known.iter().find(|(v, _)| *v == version) {
            return Ok(doc.entra.key_id.clone());
        }
        let value = self
            .store
            .value(secret_id, version)
            .await
            .map_err(|e| e.to_string())?;
        match value {
            None => Ok(None),
            Some(v) => TargetDocument::parse(v.expose_secret())
                .map(|d| d.entra.key_id)
                .map_err(|e| e.to_string()),
        }
    }
}
