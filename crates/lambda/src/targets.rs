//! Where the deployment's targets come from ([`Targets`]): a list of secret ids or a tag, read
//! from the environment and resolved to secret ids at each check.

use super::LambdaError;
use crate::ports::SecretStore;

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
}
