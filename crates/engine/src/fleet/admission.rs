//! The admission of a check's targets ([`Admission`]): they come from the deployment's own list
//! (and the rotator's own credential, as configured), so each is a member already; what is left
//! is the kind of document it holds ([`document_refusal`]), judged before the engine reads
//! anything else or asks Entra anything.

use super::targets::{document_refusal, Member};
use crate::document::{DocumentError, TargetDocument};
use crate::ports::AWSCURRENT;
use crate::rotation::check::{CheckOptions, CheckReport};
use crate::rotation::error::ErrorKind;
use crate::rotation::{Engine, RotationError, Step};
use secrecy::ExposeSecret;

/// What a check needs to judge each of its targets' documents.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// The rotator's own credential secret, in self-rotation (`ROTATOR_CREDENTIALS_SECRET_ID`).
    pub own: Option<String>,
    /// The rotator's own app (`ROTATOR_CLIENT_ID`), the only app a `rotator` document may name.
    pub rotator_client_id: Option<String>,
}

impl Admission {
    /// What `id` is to this deployment, among a check's targets.
    pub fn member(&self, id: &str) -> Member {
        if self.own.as_deref() == Some(id) {
            Member::OwnCredential
        } else {
            Member::Target
        }
    }

    /// `engine`'s check of `id`, unless its `AWSCURRENT` document is of a kind that secret may
    /// not hold: then a failed check of class `document` naming why, with nothing else read,
    /// nothing asked of Entra, and (unless a dry run) a refusal alert. A document that cannot be
    /// read or parsed is left to the check, which reports it.
    pub async fn check(
        &self,
        engine: &Engine,
        id: &str,
        options: &CheckOptions,
    ) -> Result<CheckReport, RotationError> {
        if let Ok(Some((_, value))) = engine.store.value_at(id, AWSCURRENT).await {
            let refused = TargetDocument::parse(value.expose_secret())
                .ok()
                .and_then(|doc| {
                    document_refusal(self.member(id), &doc, self.rotator_client_id.as_deref())
                });
            if let Some(why) = refused {
                if !options.dry_run {
                    alert_refused(engine, id, &why).await;
                }
                let invalid = DocumentError::Invalid(format!("refused: {why}"));
                return Err(RotationError::new(
                    Step::Check,
                    ErrorKind::Document(invalid),
                ));
            }
        }
        engine.check_with(id, options).await
    }
}

/// Logs and alerts the refusal of `secret_id` for `why`: nothing was changed.
pub async fn alert_refused(engine: &Engine, secret_id: &str, why: &str) {
    tracing::error!(step = "guard", "refused {secret_id}: {why}");
    let alert = crate::alert::refusal(secret_id, why);
    crate::alert::deliver(engine.alerts.as_ref(), &alert).await;
}
