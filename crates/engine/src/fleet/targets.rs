//! Where the deployment's targets come from ([`Targets`]): a list of secret ids or a tag, read
//! from the environment and resolved to secret ids at each check, with the rotator's own
//! credential secret appended once ([`Targets::resolve_with_own`]); and which documents a secret
//! may hold ([`document_refusal`]), the rule every admission applies.

use crate::document::{TargetDocument, TargetKind};
use crate::ports::{SecretStore, StoreError};

/// Why the deployment's targets cannot be told.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// Occurs when the settings name no targets, or both a list and a tag, or when no secret
    /// carries the tag.
    #[error("configuration: {0}")]
    Config(String),
    /// Occurs when the targets tagged for this deployment cannot be listed.
    #[error("listing the target secrets tagged {key}: {source}")]
    List {
        /// The tag key.
        key: String,
        /// Secrets Manager's error.
        source: StoreError,
    },
}

impl TargetsError {
    /// True when trying again, unchanged, may succeed (a throttled or unavailable store).
    pub fn is_transient(&self) -> bool {
        matches!(self, TargetsError::List { source, .. } if source.is_transient())
    }
}

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
    pub fn from_env() -> Result<Self, TargetsError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the targets through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, TargetsError> {
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
            (false, Some(_)) => Err(TargetsError::Config("set TARGET_SECRET_IDS or TARGET_TAG_KEY, not both".into())),
            (true, None) => Err(TargetsError::Config(
                "no targets: set TARGET_SECRET_IDS (comma-separated secret ids) or TARGET_TAG_KEY (and TARGET_TAG_VALUE)".into(),
            )),
        }
    }

    /// The secret ids of the targets, now.
    pub async fn resolve(&self, store: &dyn SecretStore) -> Result<Vec<String>, TargetsError> {
        match self {
            Targets::Ids(ids) => Ok(ids.clone()),
            Targets::Tagged { key, value } => {
                let ids = store
                    .list_tagged(key, value.as_deref())
                    .await
                    .map_err(|source| TargetsError::List {
                        key: key.clone(),
                        source,
                    })?;
                if ids.is_empty() {
                    return Err(TargetsError::Config(format!(
                        "no secret carries the tag {key}{}",
                        value.as_ref().map(|v| format!("={v}")).unwrap_or_default()
                    )));
                }
                Ok(ids)
            }
        }
    }

    /// What a check covers: the targets now and, in self-rotation, the rotator's own credential
    /// secret `own` (once, even when it is listed among the targets too).
    pub async fn resolve_with_own(
        &self,
        store: &dyn SecretStore,
        own: Option<&str>,
    ) -> Result<Vec<String>, TargetsError> {
        let mut ids = self.resolve(store).await?;
        if let Some(own) = own.filter(|o| !ids.iter().any(|id| id == o)) {
            ids.push(own.to_string());
        }
        Ok(ids)
    }
}

/// What a secret is to this deployment: the only secrets the rotator acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// One of the deployment's targets (`TARGET_SECRET_IDS`, or the target tag).
    Target,
    /// The rotator's own credential secret (`ROTATOR_CREDENTIALS_SECRET_ID`), which it rotates
    /// itself (self-rotation).
    OwnCredential,
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn targets(pairs: &[(&str, &str)]) -> Result<Targets, TargetsError> {
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
