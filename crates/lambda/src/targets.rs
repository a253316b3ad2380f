//! Where the deployment's targets come from ([`Targets`]): a list of secret ids or a tag, read
//! from the environment and resolved to secret ids at each check; and the one rule for which
//! secrets an event may make the function act for ([`Function::admit`]): its targets, and the
//! rotator's own credential in self-rotation, each holding a document of the kind it may hold.

use super::{Function, LambdaError};
use crate::document::{DocumentError, TargetDocument, TargetKind};
use crate::ports::{SecretInfo, SecretStore, AWSCURRENT, AWSPENDING};
use crate::rotation::check::{CheckOptions, CheckReport};
use crate::rotation::error::ErrorKind;
use crate::rotation::{Engine, RotationError, Step};
use secrecy::ExposeSecret;

/// Where the deployment's targets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// `TARGET_SECRET_IDS`: a comma-separated list of secret ids (names or ARNs).
    Ids(Vec<String>),
    /// `TARGET_TAG_KEY` (and optionally `TARGET_TAG_VALUE`): every secret carrying the tag.
    Tagged {
        /// Tag key.
        key: String,
        /// Tag value; any value when absent.
        value: Option<String>,
    },
}

impl Targets {
    /// Reads the targets from the process environment.
    pub fn from_env() -> Result<Self, LambdaError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the targets through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, LambdaError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let ids: Vec<String> = get("TARGET_SECRET_IDS")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        match (ids.is_empty(), get("TARGET_TAG_KEY")) {
            (false, None) => Ok(Targets::Ids(ids)),
            (true, Some(key)) => Ok(Targets::Tagged { key, value: get("TARGET_TAG_VALUE") }),
            (false, Some(_)) => Err(LambdaError::Config("set TARGET_SECRET_IDS or TARGET_TAG_KEY, not both".into())),
            (true, None) => Err(LambdaError::Config(
                "no targets: set TARGET_SECRET_IDS (comma-separated secret ids) or TARGET_TAG_KEY (and TARGET_TAG_VALUE)".into(),
            )),
        }
    }

    /// The secret ids of the targets, now.
    pub async fn resolve(&self, store: &dyn SecretStore) -> Result<Vec<String>, LambdaError> {
        match self {
            Targets::Ids(ids) => Ok(ids.clone()),
            Targets::Tagged { key, value } => {
                let ids = store
                    .list_tagged(key, value.as_deref())
                    .await
                    .map_err(|source| LambdaError::ListTargets {
                        key: key.clone(),
                        source,
                    })?;
                if ids.is_empty() {
                    return Err(LambdaError::Config(format!(
                        "no secret carries the tag {key}{}",
                        value.as_ref().map(|v| format!("={v}")).unwrap_or_default()
                    )));
                }
                Ok(ids)
            }
        }
    }
}

/// What a secret named in an event is to this deployment: the only secrets the function acts
/// for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// One of the deployment's targets (`TARGET_SECRET_IDS`, or the target tag).
    Target,
    /// The rotator's own credential secret (`ROTATOR_CREDENTIALS_SECRET_ID`), which it rotates
    /// itself (self-rotation).
    OwnCredential,
}

/// True when `id` (a target or the credential secret, as configured) is the secret `info`
/// describes, which an event named `named`: by that name, its ARN or its name (Secrets Manager
/// accepts either; step events carry the ARN).
fn is_secret(id: &str, named: &str, info: &SecretInfo) -> bool {
    id == named || id == info.arn || id == info.name
}

/// Why a secret that is neither a target nor the rotator's own credential is refused.
const NOT_OURS: &str = "it is not one of this deployment's targets (TARGET_SECRET_IDS or the target tag), nor the rotator's own credential secret (ROTATOR_CREDENTIALS_SECRET_ID) in self-rotation";

/// Why a secret that is `member` may not be acted on with `doc`, if it may not: a `rotator`
/// document (the rotator's own credential) belongs in `ROTATOR_CREDENTIALS_SECRET_ID` only, and
/// names the rotator's own app (`rotator_client_id`, `ROTATOR_CLIENT_ID`); that secret holds
/// nothing else. Otherwise, rotating it would give a new credential of the rotator's own app (or
/// of another app) to whoever can read the secret.
pub fn document_refusal(
    member: Member,
    doc: &TargetDocument,
    rotator_client_id: Option<&str>,
) -> Option<String> {
    let kind = doc.jamf.target;
    match (member, kind) {
        (Member::Target, TargetKind::Rotator) => Some(
            "it holds a rotator document (the rotator's own credential), which only the secret ROTATOR_CREDENTIALS_SECRET_ID may hold".into(),
        ),
        (Member::OwnCredential, TargetKind::Rotator)
            if rotator_client_id != Some(doc.entra.client_id.as_str()) =>
        {
            Some(format!(
                "its rotator document names the app {}, which is not ROTATOR_CLIENT_ID ({})",
                doc.entra.client_id,
                rotator_client_id.unwrap_or("not set")
            ))
        }
        (Member::OwnCredential, kind) if kind != TargetKind::Rotator => Some(format!(
            "it is the rotator's own credential secret (ROTATOR_CREDENTIALS_SECRET_ID) but holds a {} document",
            kind.as_str()
        )),
        _ => None,
    }
}

impl Function {
    /// Admits an event's secret `secret_id`, or refuses it: the one rule for every event that
    /// names a secret (a rotate request, a Secrets Manager step). It must be one of `ids` (the
    /// targets) or, in self-rotation, the rotator's own credential secret, judged by one
    /// `DescribeSecret` before anything else is read, asked of Entra or written; then each
    /// document it holds (`AWSCURRENT`, `AWSPENDING`) must be of a kind that secret may hold
    /// ([`document_refusal`]). A refusal alerts, names the secret and why, and changes nothing.
    /// Returns what [`SecretStore::describe`] said, for the step's guard.
    pub(super) async fn admit(
        &self,
        secret_id: &str,
        ids: &[String],
    ) -> Result<SecretInfo, LambdaError> {
        let (info, member) = self.membership(secret_id, ids).await?;
        let rotator_client_id = self
            .own_secret
            .as_ref()
            .and_then(|(_, settings)| settings.rotator_client_id.as_deref());
        for doc in self.documents(secret_id, &info).await {
            if let Some(why) = document_refusal(member, &doc, rotator_client_id) {
                return Err(self.refuse(secret_id, &why).await);
            }
        }
        Ok(info)
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
    async fn documents(&self, secret_id: &str, info: &SecretInfo) -> Vec<TargetDocument> {
        let mut versions: Vec<&str> = [AWSCURRENT, AWSPENDING]
            .iter()
            .filter_map(|stage| info.version_with(stage))
            .collect();
        versions.dedup();
        let mut docs = Vec::new();
        for version in versions {
            if let Ok(Some(value)) = self.engine.store.value(secret_id, version).await {
                docs.extend(TargetDocument::parse(value.expose_secret()).ok());
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

    /// What a check needs to judge each of its targets' documents ([`CheckAdmission`]).
    pub(super) fn check_admission(&self) -> CheckAdmission {
        let own = self.own_secret.as_ref();
        CheckAdmission {
            own: own.map(|(id, _)| id.clone()),
            rotator_client_id: own.and_then(|(_, s)| s.rotator_client_id.clone()),
        }
    }
}

/// Logs and alerts the refusal of `secret_id` for `why`.
async fn alert_refused(engine: &Engine, secret_id: &str, why: &str) {
    tracing::error!(step = "guard", "refused {secret_id}: {why}");
    let alert = rotator_engine::alert::refusal(secret_id, why);
    rotator_engine::alert::deliver(engine.alerts.as_ref(), &alert).await;
}

/// The admission of a check's targets. They come from the deployment's own list (and the
/// rotator's own credential, as configured), so each is a member already; what is left is the
/// kind of document it holds ([`document_refusal`]), judged before the engine reads anything
/// else or asks Entra anything.
#[derive(Debug, Clone)]
pub(super) struct CheckAdmission {
    own: Option<String>,
    rotator_client_id: Option<String>,
}

impl CheckAdmission {
    /// `engine`'s check of `id`, unless its `AWSCURRENT` document is of a kind that secret may
    /// not hold: then a failed check of class `document` naming why, with nothing else read,
    /// nothing asked of Entra, and (unless a dry run) a refusal alert. A document that cannot be
    /// read or parsed is left to the check, which reports it.
    pub(super) async fn check(
        &self,
        engine: &Engine,
        id: &str,
        options: &CheckOptions,
    ) -> Result<CheckReport, RotationError> {
        let member = if self.own.as_deref() == Some(id) {
            Member::OwnCredential
        } else {
            Member::Target
        };
        if let Ok(Some((_, value))) = engine.store.value_at(id, AWSCURRENT).await {
            let refused = TargetDocument::parse(value.expose_secret())
                .ok()
                .and_then(|doc| document_refusal(member, &doc, self.rotator_client_id.as_deref()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn targets(pairs: &[(&str, &str)]) -> Result<Targets, LambdaError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Targets::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn targets_come_from_a_list_or_a_tag_never_both() {
        assert_eq!(
            targets(&[("TARGET_SECRET_IDS", " a, b ,,")]).unwrap(),
            Targets::Ids(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            targets(&[
                ("TARGET_TAG_KEY", "jamf-entra-rotator"),
                ("TARGET_TAG_VALUE", "prod")
            ])
            .unwrap(),
            Targets::Tagged {
                key: "jamf-entra-rotator".into(),
                value: Some("prod".into())
            }
        );
        assert!(targets(&[])
            .unwrap_err()
            .to_string()
            .contains("TARGET_SECRET_IDS"));
        assert!(
            targets(&[("TARGET_SECRET_IDS", "a"), ("TARGET_TAG_KEY", "k")])
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
    }

    fn doc(kind: &str, client_id: &str) -> TargetDocument {
        let jamf = match kind {
            "rotator" => serde_json::json!({"target": "rotator"}),
            _ => serde_json::json!({"url": "https://jamf.example.com", "target": kind,
                "credentials_secret_id": "jamf/api", "test_recipient": "it@example.com"}),
        };
        let doc = serde_json::json!({"schema": 1, "jamf": jamf, "entra": {
            "tenant_id": "contoso.onmicrosoft.com", "client_id": client_id,
            "client_secret": "not-a-real-secret"}});
        TargetDocument::parse(&doc.to_string()).unwrap()
    }

    #[test]
    fn a_rotator_document_is_accepted_only_in_the_credential_secret_naming_the_rotators_app() {
        let rotator = Some("rotator-app");
        let refused = |member, kind, client| document_refusal(member, &doc(kind, client), rotator);
        assert_eq!(refused(Member::Target, "smtp-graph", "jamf-app"), None);
        assert_eq!(
            refused(Member::OwnCredential, "rotator", "rotator-app"),
            None
        );
        let why = refused(Member::Target, "rotator", "rotator-app").unwrap();
        assert!(
            why.contains("only the secret ROTATOR_CREDENTIALS_SECRET_ID"),
            "{why}"
        );
        let why = refused(Member::OwnCredential, "rotator", "jamf-app").unwrap();
        assert!(
            why.contains("names the app jamf-app, which is not ROTATOR_CLIENT_ID (rotator-app)"),
            "{why}"
        );
        let why =
            document_refusal(Member::OwnCredential, &doc("rotator", "rotator-app"), None).unwrap();
        assert!(why.contains("not ROTATOR_CLIENT_ID (not set)"), "{why}");
        let why = refused(Member::OwnCredential, "smtp-graph", "jamf-app").unwrap();
        assert!(why.contains("holds a smtp-graph document"), "{why}");
    }
}
