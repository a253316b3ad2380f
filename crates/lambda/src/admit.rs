//! The one rule for which secrets an event may make the function act for ([`Function::admit`]):
//! its targets, and the rotator's own credential in self-rotation, each holding a document of
//! the kind it may hold ([`document_refusal`]).

use super::{Function, LambdaError};
use rotator_engine::document::TargetDocument;
use rotator_engine::fleet::admission::alert_refused;
use rotator_engine::fleet::{document_refusal, Admission, Member};
use rotator_engine::ports::{SecretInfo, AWSCURRENT, AWSPENDING};
use rotator_engine::rotation::looked::Looked;
use rotator_engine::rotation::{RotationError, Step};
use secrecy::ExposeSecret;

/// True when `id` (a target or the credential secret, as configured) is the secret `info`
/// describes, which an event named `named`: by that name, its ARN or its name (Secrets Manager
/// accepts either; step events carry the ARN).
fn is_secret(id: &str, named: &str, info: &SecretInfo) -> bool {
    id == named || id == info.arn || id == info.name
}

/// Why a secret that is neither a target nor the rotator's own credential is refused.
const NOT_OURS: &str = "it is not one of this deployment's targets (TARGET_SECRET_IDS or the target tag), nor the rotator's own credential secret (ROTATOR_CREDENTIALS_SECRET_ID) in self-rotation";

impl Function {
    /// Admits an event's secret `secret_id`, or refuses it: the one rule for every event that
    /// names a secret (a rotate request, a Secrets Manager step). It must be one of `ids` (the
    /// targets) or, in self-rotation, the rotator's own credential secret, judged by one
    /// `DescribeSecret` before anything else is read, asked of Entra or written; then each
    /// document it holds (`AWSCURRENT`, `AWSPENDING`) must be of a kind that secret may hold
    /// ([`document_refusal`]). A refusal alerts, names the secret and why, and changes nothing.
    /// Returns what [`rotator_engine::ports::SecretStore::describe`] said, for the step's guard.
    pub(super) async fn admit(
        &self,
        secret_id: &str,
        ids: &[String],
    ) -> Result<(SecretInfo, Looked), LambdaError> {
        let (info, member) = self.membership(secret_id, ids).await?;
        let rotator_client_id = self
            .own_secret
            .as_ref()
            .and_then(|(_, settings)| settings.rotator_client_id.as_deref());
        let docs = self.documents(secret_id, &info).await;
        for doc in docs.iter().filter_map(|(_, doc)| doc.as_ref()) {
            if let Some(why) = document_refusal(member, doc, rotator_client_id) {
                return Err(self.refuse(secret_id, &why).await);
            }
        }
        // What was read here is what the step reads first (an admitted secret's documents).
        let looked = Looked::new(info.clone(), docs);
        Ok((info, looked))
    }

    /// What `secret_id` is to this deployment, from its description.
    async fn membership(
        &self,
        secret_id: &str,
        ids: &[String],
    ) -> Result<(SecretInfo, Member), LambdaError> {
        let own = self.own_secret.as_ref().map(|(own, _)| own.as_str());
        let configured = own == Some(secret_id) || ids.iter().any(|t| t == secret_id);
        let info = match self.engine.store.describe(secret_id).await {
            Ok(info) => info,
            // A configured secret that cannot be read is that secret's failure, not a stranger.
            Err(e) if configured || e.is_transient() => {
                return Err(LambdaError::rotation(
                    secret_id,
                    RotationError::store(Step::Guard, e),
                ))
            }
            Err(e) => return Err(self.refuse(secret_id, &format!("{NOT_OURS} ({e})")).await),
        };
        // The credential secret first: a deployment may list it among its targets too.
        if own.is_some_and(|own| is_secret(own, secret_id, &info)) {
            return Ok((info, Member::OwnCredential));
        }
        if ids.iter().any(|t| is_secret(t, secret_id, &info)) {
            return Ok((info, Member::Target));
        }
        Err(self.refuse(secret_id, NOT_OURS).await)
    }

    /// The documents `secret_id` holds now, as `AWSCURRENT` and `AWSPENDING`. A version that
    /// cannot be read or parsed is left out: the step that needs it fails on it, with its own
    /// error.
    async fn documents(
        &self,
        secret_id: &str,
        info: &SecretInfo,
    ) -> Vec<(String, Option<TargetDocument>)> {
        let mut versions: Vec<&str> = [AWSCURRENT, AWSPENDING]
            .iter()
            .filter_map(|stage| info.version_with(stage))
            .collect();
        versions.dedup();
        let mut docs = Vec::new();
        for version in versions {
            // Only what was read and understood is kept: anything else, the step reads again.
            match self.engine.store.value(secret_id, version).await {
                Ok(None) => docs.push((version.to_string(), None)),
                Ok(Some(value)) => {
                    if let Ok(doc) = TargetDocument::parse(value.expose_secret()) {
                        docs.push((version.to_string(), Some(doc)));
                    }
                }
                Err(_) => {}
            }
        }
        docs
    }

    /// A refusal of `secret_id` for `why`: the error, and the alert naming the secret. Nothing
    /// was changed, and no `RotationFailed` metric is written (no rotation ran): the function's
    /// error (its `Errors` alarm) and this alert report it.
    async fn refuse(&self, secret_id: &str, why: &str) -> LambdaError {
        alert_refused(&self.engine, secret_id, why).await;
        LambdaError::Refused {
            secret_id: secret_id.to_string(),
            why: why.to_string(),
        }
    }

    /// What a check needs to judge each of its targets' documents ([`Admission`]).
    pub(super) fn admission(&self) -> Admission {
        let own = self.own_secret.as_ref();
        Admission {
            own: own.map(|(id, _)| id.clone()),
            rotator_client_id: own.and_then(|(_, s)| s.rotator_client_id.clone()),
        }
    }
}
