//! `bind-credentials`: names the Jamf Pro server a Jamf credentials secret belongs to, as its
//! `"jamf_url"` field, in a new version of the secret. The rotator sends Jamf credentials only to
//! the origin they name, and refuses a secret that names none: this is the migration path for a
//! secret written before the field existed.

use rotator_engine::endpoint::{check_url, LoopbackHttp};
use rotator_engine::ports::{SecretStore, AWSCURRENT};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

/// What `bind-credentials` did.
#[derive(Debug, Serialize)]
pub struct Bound {
    /// The credentials secret.
    pub secret_id: String,
    /// The Jamf Pro origin it names now.
    pub jamf_url: String,
    /// `bound` (a new version written) or `already-bound` (nothing written).
    pub action: &'static str,
}

/// Why the secret was not bound. Never carries a value of the secret.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Occurs when `--jamf-url` is not an https URL without user-info.
    #[error("--jamf-url: {0}")]
    Url(String),
    /// Occurs when the secret cannot be read or written.
    #[error("the Jamf credentials secret {secret_id}: {problem}")]
    Store {
        /// The secret.
        secret_id: String,
        /// What went wrong.
        problem: String,
    },
    /// Occurs when the secret does not hold Jamf credentials, or names another server already.
    #[error("the Jamf credentials secret {secret_id} {problem}; nothing was written")]
    Refused {
        /// The secret.
        secret_id: String,
        /// Why.
        problem: String,
    },
}

/// [`bind_credentials`] on the Secrets Manager the settings and the AWS environment name.
pub async fn run(
    settings: &rotator_engine::config::Settings,
    secret_id: &str,
    jamf_url: &str,
) -> Result<Bound, BindError> {
    use rotator_adapters::secrets_manager::{load_aws_config, AwsSecretStore};
    let config = load_aws_config(settings.http_timeout).await;
    let store = AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(&config));
    bind_credentials(&store, secret_id, jamf_url).await
}

/// Adds `"jamf_url"` (the origin of `jamf_url`, which must be https) to the credentials in
/// `secret_id`, as a new `AWSCURRENT` version. Nothing is written when the secret already names
/// that origin, or when it names another one (refused: a server that moved is re-bound by hand,
/// deliberately).
pub async fn bind_credentials(
    store: &dyn SecretStore,
    secret_id: &str,
    jamf_url: &str,
) -> Result<Bound, BindError> {
    let url = Url::parse(jamf_url).map_err(|e| BindError::Url(format!("not a URL: {e}")))?;
    check_url(&url, LoopbackHttp::Refused).map_err(BindError::Url)?;
    let origin = url.origin().ascii_serialization();
    let store_error = |problem: String| BindError::Store {
        secret_id: secret_id.to_string(),
        problem,
    };
    let refused = |problem: String| BindError::Refused {
        secret_id: secret_id.to_string(),
        problem,
    };
    let (_, value) = store
        .value_at(secret_id, AWSCURRENT)
        .await
        .map_err(|e| store_error(format!("cannot be read: {e}")))?
        .ok_or_else(|| store_error(format!("has no {AWSCURRENT} value")))?;
    // Checked as the rotator reads it: only a secret that holds Jamf credentials is bound.
    rotator_adapters::jamf::JamfCredentials::parse(&value)
        .map_err(|e| refused(format!("does not hold Jamf credentials ({e})")))?;
    let mut fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(value.expose_secret())
            .map_err(|_| refused("is not a JSON object".into()))?;
    let bound = |action| Bound {
        secret_id: secret_id.to_string(),
        jamf_url: origin.clone(),
        action,
    };
    if let Some(existing) = fields.get("jamf_url").and_then(|v| v.as_str()) {
        let existing = Url::parse(existing).map(|u| u.origin().ascii_serialization());
        return match existing {
            Ok(o) if o == origin => Ok(bound("already-bound")),
            Ok(o) => Err(refused(format!(
                "already belongs to {o}; if that Jamf Pro server moved, change jamf_url by hand"
            ))),
            Err(_) => Err(refused("holds a jamf_url that is not a URL".into())),
        };
    }
    fields.insert("jamf_url".into(), origin.clone().into());
    let text = serde_json::Value::Object(fields).to_string();
    store
        .put_current(secret_id, &SecretString::from(text))
        .await
        .map_err(|e| store_error(format!("cannot be written: {e}")))?;
    Ok(bound("bound"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotator_testkit::memory_store::MemoryStore;

    const ID: &str = "jamf/creds";

    #[tokio::test]
    async fn adds_the_origin_as_a_new_version_and_keeps_the_credentials() {
        let store = MemoryStore::new();
        store.insert(ID, r#"{"client_id":"abc","client_secret":"s3cr3t-value"}"#);
        let before = store.describe(ID).await.unwrap().versions.len();
        let b = bind_credentials(&store, ID, "https://Acme.jamfcloud.com/some/path")
            .await
            .unwrap();
        assert_eq!(
            (b.action, b.jamf_url.as_str()),
            ("bound", "https://acme.jamfcloud.com")
        );
        assert_eq!(store.describe(ID).await.unwrap().versions.len(), before + 1);
        let (_, v) = store.value_at(ID, AWSCURRENT).await.unwrap().unwrap();
        let url = Url::parse("https://acme.jamfcloud.com").unwrap();
        rotator_adapters::jamf::JamfCredentials::parse_bound(&v, ID, &url).unwrap();
        let again = bind_credentials(&store, ID, "https://acme.jamfcloud.com")
            .await
            .unwrap();
        assert_eq!(again.action, "already-bound");
        assert_eq!(store.describe(ID).await.unwrap().versions.len(), before + 1);
    }

    #[tokio::test]
    async fn refuses_http_user_info_another_origin_and_non_credentials_writing_nothing() {
        let store = MemoryStore::new();
        store.insert(
            ID,
            r#"{"username":"svc","password":"pa55word!","jamf_url":"https://a.jamfcloud.com"}"#,
        );
        for (url, says) in [
            ("http://acme.jamfcloud.com", "plain http"),
            ("http://localhost:8080", "plain http"),
            (
                "https://svc:pa55word!@acme.jamfcloud.com",
                "user name or password",
            ),
            (
                "https://b.jamfcloud.com",
                "already belongs to https://a.jamfcloud.com",
            ),
        ] {
            let e = bind_credentials(&store, ID, url)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains(says) && !e.contains("pa55word"), "{url}: {e}");
        }
        store.insert("other", r#"{"private_key_pem":"-----BEGIN"}"#);
        let e = bind_credentials(&store, "other", "https://a.jamfcloud.com")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not hold Jamf credentials"), "{e}");
        assert_eq!(store.describe(ID).await.unwrap().versions.len(), 1);
    }
}
