//! The rotator's own Jamf Pro credentials, as the Jamf credentials secret holds them.

use crate::ports::TargetError;
use crate::redact::REDACTED;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

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
    /// The Jamf Pro server the credentials belong to (scheme, host and port count).
    jamf_url: Option<String>,
}

impl JamfCredentials {
    /// Parses `{"client_id","client_secret"}` or `{"username","password"}` (a `"jamf_url"` is
    /// allowed and not looked at: [`Self::parse_bound`] checks it). The error names the fields
    /// that are missing or malformed and never echoes a value.
    pub fn parse(value: &SecretString) -> Result<Self, TargetError> {
        Self::from_raw(raw(value)?)
    }

    /// Parses the credentials of secret `secret_id` for the Jamf Pro server at `jamf_url`: the
    /// secret's `"jamf_url"` must name the same origin (scheme, host, port; the case of the host,
    /// a path and a trailing slash do not count). So a document cannot send one server's
    /// credentials to another host. Refused, naming both origins, before anything is sent.
    /// Every error names `secret_id`.
    pub fn parse_bound(
        value: &SecretString,
        secret_id: &str,
        jamf_url: &Url,
    ) -> Result<Self, TargetError> {
        let named = |e: TargetError| match e {
            TargetError::Config(problem) => TargetError::Config(format!("{secret_id}: {problem}")),
            other => other,
        };
        let mut raw = raw(value).map_err(named)?;
        let bound = raw.jamf_url.take();
        let credentials = Self::from_raw(raw).map_err(named)?;
        check_origin(bound.as_deref(), secret_id, jamf_url)?;
        Ok(credentials)
    }

    fn from_raw(raw: Raw) -> Result<Self, TargetError> {
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

/// Reads the secret's JSON.
fn raw(value: &SecretString) -> Result<Raw, TargetError> {
    serde_json::from_str(value.expose_secret()).map_err(|e| {
        // serde_json's syntax errors carry only line and column; a type error could quote a
        // value, so only the category is kept.
        TargetError::Config(format!(
            "the Jamf credentials secret is not a JSON object with client_id/client_secret or \
             username/password ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// Checks that the credentials' `jamf_url` (`bound`) has the origin of `jamf_url`.
fn check_origin(bound: Option<&str>, secret_id: &str, jamf_url: &Url) -> Result<(), TargetError> {
    let wanted = jamf_url.origin().ascii_serialization();
    let Some(bound) = bound.map(str::trim).filter(|b| !b.is_empty()) else {
        return Err(TargetError::Config(format!(
            "the Jamf credentials secret {secret_id} does not name the Jamf Pro server it belongs \
             to, so it is not sent anywhere. Add that server's origin to the secret's JSON as \
             \"jamf_url\": \"https://your-server.jamfcloud.com\" (for example with \
             `jamf-entra-rotator bind-credentials --secret-id {secret_id} --jamf-url \
             https://your-server.jamfcloud.com`); the document names {wanted}"
        )));
    };
    let Ok(bound) = Url::parse(bound) else {
        return Err(TargetError::Config(format!(
            "the Jamf credentials secret {secret_id}: jamf_url is not a URL; give the Jamf Pro \
             server's origin, e.g. \"https://your-server.jamfcloud.com\""
        )));
    };
    let origin = bound.origin();
    if origin.is_tuple() && origin == jamf_url.origin() {
        return Ok(());
    }
    Err(TargetError::Config(format!(
        "the Jamf credentials secret {secret_id} belongs to {}, but the document's jamf.url is \
         {wanted}: refused, nothing was sent to either server. Correct jamf.url in the document, \
         or point jamf.credentials_secret_id at the credentials of {wanted}",
        origin.ascii_serialization()
    )))
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

    fn bound(s: &str, url: &str) -> Result<JamfCredentials, String> {
        let url = Url::parse(url).unwrap();
        JamfCredentials::parse_bound(&SecretString::from(s.to_string()), "jamf/creds", &url)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn credentials_go_only_to_the_origin_they_name() {
        let creds = r#"{"client_id":"abc","client_secret":"s3cr3t-value","jamf_url":"https://Acme.jamfcloud.com/"}"#;
        for same in [
            "https://acme.jamfcloud.com",
            "https://ACME.jamfcloud.com:443/some/path/",
        ] {
            assert!(bound(creds, same).is_ok(), "{same}");
        }
        for other in [
            "https://evil.example.com",
            "https://acme.jamfcloud.com:8443",
            "http://acme.jamfcloud.com",
        ] {
            let e = bound(creds, other).unwrap_err();
            let wanted = Url::parse(other).unwrap().origin().ascii_serialization();
            assert!(
                e.contains("jamf/creds")
                    && e.contains("https://acme.jamfcloud.com")
                    && e.contains(&wanted),
                "{e}"
            );
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn credentials_without_jamf_url_are_refused_saying_how_to_bind_them() {
        let e = bound(
            r#"{"username":"svc","password":"pa55word!"}"#,
            "https://acme.jamfcloud.com",
        )
        .unwrap_err();
        assert!(
            e.contains("\"jamf_url\"")
                && e.contains("bind-credentials --secret-id jamf/creds --jamf-url"),
            "{e}"
        );
        assert!(!e.contains("pa55word"), "{e}");
        let e = bound(
            r#"{"username":"svc","password":"pa55word!","jamf_url":"not a url"}"#,
            "https://acme.jamfcloud.com",
        )
        .unwrap_err();
        assert!(e.contains("jamf_url is not a URL"), "{e}");
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
