//! The rotator's own Entra identity: its client id and how it proves it ([`RotatorCredential`]:
//! a client secret or a certificate read from Secrets Manager, or a federated token from AWS
//! STS), per `ROTATOR_AUTH`.

use super::assertion::CertificateCredential;
use super::federated::WebIdentityTokens;
use crate::ports::DirectoryError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::Arc;

/// How the rotator authenticates at the token endpoint. `Debug` never shows a secret or key.
#[derive(Clone)]
pub enum RotatorCredential {
    /// `client-secret`: `client_secret=`.
    Secret(SecretString),
    /// `certificate`: a PS256 client assertion signed with the rotator's private key.
    Certificate(CertificateCredential),
    /// `federated`: an external token (AWS STS `GetWebIdentityToken`) as the client assertion.
    Federated(Arc<dyn WebIdentityTokens>),
}

impl std::fmt::Debug for RotatorCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RotatorCredential::Secret(_) => f.write_str("Secret([redacted])"),
            RotatorCredential::Certificate(c) => c.fmt(f),
            RotatorCredential::Federated(_) => f.write_str("Federated(web identity token source)"),
        }
    }
}

/// The rotator's app registration and its credential, whatever the mode.
#[derive(Clone, Debug)]
pub struct RotatorSignIn {
    /// Application (client) id of the rotator's app registration.
    pub client_id: String,
    /// How it proves it.
    pub credential: RotatorCredential,
}

impl From<RotatorIdentity> for RotatorSignIn {
    fn from(id: RotatorIdentity) -> Self {
        RotatorSignIn {
            client_id: id.client_id,
            credential: RotatorCredential::Secret(id.secret),
        }
    }
}

impl RotatorSignIn {
    /// `certificate` mode from the Secrets Manager value `{"private_key_pem","certificate_pem"}`
    /// (optionally `client_id`), with the client id from there or from `client_id`
    /// (`ROTATOR_CLIENT_ID`); both given and different is an error.
    pub fn from_certificate_secret(
        client_id: Option<&str>,
        value: &SecretString,
    ) -> Result<Self, DirectoryError> {
        let (json_id, certificate) = CertificateCredential::from_secret_value(value)?;
        Ok(RotatorSignIn {
            client_id: agree(json_id, client_id)?,
            credential: RotatorCredential::Certificate(certificate),
        })
    }
}

/// The client id from the secret's JSON and/or the setting.
fn agree(json_id: Option<String>, setting: Option<&str>) -> Result<String, DirectoryError> {
    let setting = setting.map(str::trim).filter(|c| !c.is_empty());
    match (json_id, setting) {
        (Some(j), Some(s)) if !j.eq_ignore_ascii_case(s) => Err(DirectoryError::Config(format!(
            "ROTATOR_CLIENT_ID is {s} but the rotator's credentials secret says client_id {j}; make them agree"
        ))),
        (Some(j), _) => Ok(j),
        (None, Some(s)) => Ok(s.to_string()),
        (None, None) => Err(DirectoryError::Config(
            "no client id for the rotator: set ROTATOR_CLIENT_ID or add 'client_id' to its credentials secret".into(),
        )),
    }
}

/// The rotator's own app registration and its secret. `Debug` never shows the secret.
#[derive(Clone)]
pub struct RotatorIdentity {
    /// Application (client) id of the rotator's app registration.
    pub client_id: String,
    /// Its client secret.
    pub secret: SecretString,
}

impl std::fmt::Debug for RotatorIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatorIdentity")
            .field("client_id", &self.client_id)
            .field("secret", &crate::redact::REDACTED)
            .finish()
    }
}

impl RotatorIdentity {
    /// Reads the Secrets Manager value: either the plain secret, or JSON
    /// `{"client_secret":"…","client_id":"…"}` (`client_id` optional). The client id comes from
    /// the JSON or from `client_id` (`ROTATOR_CLIENT_ID`); both given and different is an error.
    /// Errors never quote the value.
    pub fn from_secret_value(
        client_id: Option<&str>,
        value: &SecretString,
    ) -> Result<Self, DirectoryError> {
        let raw = value.expose_secret().trim();
        let setting = client_id.map(str::trim).filter(|c| !c.is_empty());
        let (secret, json_id) = if raw.starts_with('{') {
            // Entra secrets never start with '{', so this is meant as JSON.
            let v: Value = serde_json::from_str(raw).map_err(|_| {
                DirectoryError::Config(
                    "the rotator's credentials secret looks like JSON but does not parse".into(),
                )
            })?;
            // The rotator's own target document (`ROTATOR_AUTH=client-secret` with self-rotation):
            // the secret and client id are its `entra` section.
            if v.get("entra").is_some() {
                let doc = crate::document::TargetDocument::parse(raw).map_err(|e| {
                    DirectoryError::Config(format!("the rotator's credentials document: {e}"))
                })?;
                if let Some(s) = setting.filter(|s| !s.eq_ignore_ascii_case(&doc.entra.client_id)) {
                    return Err(DirectoryError::Config(format!(
                        "ROTATOR_CLIENT_ID {s} differs from the rotator document's entra.client_id {}",
                        doc.entra.client_id
                    )));
                }
                return Ok(Self {
                    client_id: doc.entra.client_id.clone(),
                    secret: doc.entra.client_secret.clone(),
                });
            }
            let secret = match v.get("client_secret") {
                Some(Value::String(s)) if !s.trim().is_empty() => SecretString::from(s.trim().to_string()),
                _ => {
                    return Err(DirectoryError::Config(
                        "the rotator's credentials secret is JSON without a non-empty string 'client_secret'".into(),
                    ))
                }
            };
            let id = match v.get("client_id") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Some(_) => {
                    return Err(DirectoryError::Config(
                        "the rotator's credentials secret has a 'client_id' that is not a non-empty string".into(),
                    ))
                }
            };
            (secret, id)
        } else if raw.is_empty() || raw.chars().any(char::is_whitespace) {
            return Err(DirectoryError::Config(
                "the rotator's credentials secret is neither a client secret (one word) nor JSON with 'client_secret'"
                    .into(),
            ));
        } else {
            (SecretString::from(raw.to_string()), None)
        };
        let client_id = agree(json_id, setting)?;
        Ok(RotatorIdentity { client_id, secret })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "abC8Q~not-a-real-secret-0123456789abcdefg";

    #[test]
    fn plain_secret_with_client_id_setting() {
        let id =
            RotatorIdentity::from_secret_value(Some("cid"), &SecretString::from(format!("{S}\n")))
                .unwrap();
        assert_eq!(
            (id.client_id.as_str(), id.secret.expose_secret()),
            ("cid", S)
        );
        assert!(!format!("{id:?}").contains(S));
    }

    #[test]
    fn json_secret_may_carry_the_client_id() {
        let v = SecretString::from(format!(r#"{{"client_secret":"{S}","client_id":"cid"}}"#));
        let id = RotatorIdentity::from_secret_value(None, &v).unwrap();
        assert_eq!(
            (id.client_id.as_str(), id.secret.expose_secret()),
            ("cid", S)
        );
        let e = RotatorIdentity::from_secret_value(Some("other"), &v)
            .unwrap_err()
            .to_string();
        assert!(e.contains("agree") && !e.contains(S), "{e}");
    }

    #[test]
    fn unusable_values_are_refused_without_echoing_them() {
        for v in [
            format!(r#"{{"secret":"{S}"}}"#),
            format!("{{{S}"),
            format!("{S} {S}"),
            String::new(),
        ] {
            let e = RotatorIdentity::from_secret_value(Some("cid"), &SecretString::from(v))
                .unwrap_err()
                .to_string();
            assert!(!e.contains(S), "{e}");
            assert!(e.contains("credentials secret"), "{e}");
        }
        let e = RotatorIdentity::from_secret_value(None, &SecretString::from(S.to_string()))
            .unwrap_err();
        assert!(e.to_string().contains("ROTATOR_CLIENT_ID"), "{e}");
    }
}
