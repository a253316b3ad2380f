//! The rotator's own Jamf Pro credentials, as the Jamf credentials secret holds them.

use crate::ports::TargetError;
use crate::redact::REDACTED;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How the rotator signs in to Jamf Pro.
#[derive(Clone)]
pub enum JamfCredentials {
    /// An API client (API Roles and Clients): OAuth client credentials. Preferred.
    ApiClient {
        /// The API client's id (not secret).
        client_id: String,
        /// The API client's secret.
        client_secret: SecretString,
    },
    /// A user account: a bearer token from `POST /api/v1/auth/token` with HTTP Basic. The web
    /// UI (the `conditional-access` target) also needs this kind.
    User {
        /// The account name (not secret).
        username: String,
        /// The account's password.
        password: SecretString,
    },
}

/// The secret's JSON, read field by field so that errors can name what is missing.
#[derive(Deserialize)]
struct Raw {
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    username: Option<String>,
    password: Option<SecretString>,
}

impl JamfCredentials {
    /// Parses `{"client_id","client_secret"}` or `{"username","password"}`. The error names the
    /// fields that are missing or malformed and never echoes a value.
    pub fn parse(value: &SecretString) -> Result<Self, TargetError> {
        let raw: Raw = serde_json::from_str(value.expose_secret()).map_err(|e| {
            // serde_json's syntax errors carry only line and column; a type error could quote a
            // value, so only the category is kept.
            TargetError::Config(format!(
                "the Jamf credentials secret is not a JSON object with client_id/client_secret or \
                 username/password ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let present =
            |s: &Option<SecretString>| s.as_ref().is_some_and(|s| !s.expose_secret().is_empty());
        let named = |s: &Option<String>| s.as_ref().is_some_and(|s| !s.trim().is_empty());
        match (&raw.client_id, &raw.username) {
            (Some(_), Some(_)) => Err(TargetError::Config(
                "the Jamf credentials secret holds both client_id and username; keep one kind".into(),
            )),
            (Some(_), None) => {
                let mut missing = Vec::new();
                if !named(&raw.client_id) {
                    missing.push("client_id");
                }
                if !present(&raw.client_secret) {
                    missing.push("client_secret");
                }
                if !missing.is_empty() {
                    return Err(missing_fields(&missing));
                }
                Ok(JamfCredentials::ApiClient {
                    client_id: raw.client_id.unwrap_or_default().trim().to_string(),
                    client_secret: raw.client_secret.expect("checked above"),
                })
            }
            (None, Some(_)) => {
                let mut missing = Vec::new();
                if !named(&raw.username) {
                    missing.push("username");
                }
                if !present(&raw.password) {
                    missing.push("password");
                }
                if !missing.is_empty() {
                    return Err(missing_fields(&missing));
                }
                Ok(JamfCredentials::User {
                    username: raw.username.unwrap_or_default(),
                    password: raw.password.expect("checked above"),
                })
            }
            (None, None) => Err(TargetError::Config(
                "the Jamf credentials secret has neither client_id (API client) nor username (user \
                 account)"
                    .into(),
            )),
        }
    }

    /// The secret part, for scrubbing server messages that might echo it.
    pub(crate) fn secret(&self) -> &SecretString {
        match self {
            JamfCredentials::ApiClient { client_secret, .. } => client_secret,
            JamfCredentials::User { password, .. } => password,
        }
    }

    /// True for a user account (its token can be invalidated; the web UI accepts it).
    pub fn is_user(&self) -> bool {
        matches!(self, JamfCredentials::User { .. })
    }
}

fn missing_fields(fields: &[&str]) -> TargetError {
    TargetError::Config(format!(
        "the Jamf credentials secret lacks a non-empty {}",
        fields.join(" and ")
    ))
}

impl std::fmt::Debug for JamfCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JamfCredentials::ApiClient { client_id, .. } => f
                .debug_struct("ApiClient")
                .field("client_id", client_id)
                .field("client_secret", &REDACTED)
                .finish(),
            JamfCredentials::User { username, .. } => f
                .debug_struct("User")
                .field("username", username)
                .field("password", &REDACTED)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<JamfCredentials, TargetError> {
        JamfCredentials::parse(&SecretString::from(s.to_string()))
    }

    #[test]
    fn both_kinds_parse_and_debug_hides_the_secret() {
        let c = parse(r#"{"client_id":"abc","client_secret":"s3cr3t-value"}"#).unwrap();
        assert!(!c.is_user());
        let dbg = format!("{c:?}");
        assert!(dbg.contains("abc") && !dbg.contains("s3cr3t"), "{dbg}");
        let u = parse(r#"{"username":"svc","password":"pa55word!"}"#).unwrap();
        assert!(u.is_user());
        assert!(!format!("{u:?}").contains("pa55word"));
    }

    #[test]
    fn errors_name_what_is_missing_and_never_echo_values() {
        let e = parse(r#"{"client_id":"abc"}"#).unwrap_err().to_string();
        assert!(e.contains("client_secret"), "{e}");
        let e = parse(r#"{"username":"svc","password":""}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("password"), "{e}");
        let e = parse(r#"{"user":"x"}"#).unwrap_err().to_string();
        assert!(e.contains("neither"), "{e}");
        let e = parse(r#"{"client_id":"abc","client_secret":42}"#)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("42") || e.contains("line"), "{e}");
        let e = parse(r#"not json topsecretvalue"#).unwrap_err().to_string();
        assert!(!e.contains("topsecretvalue"), "{e}");
    }
}
