//! Client assertions the rotator presents to the token endpoint instead of a client secret
//! (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`).
//!
//! `certificate` mode: a JWT signed PS256 with the rotator's private key, header
//! `{"alg":"PS256","typ":"JWT","x5t#S256":…}` (the base64url SHA-256 of the certificate's DER),
//! claims `aud` = the token URL, `iss` = `sub` = the client id, a fresh `jti`, `nbf` = `iat` =
//! now, `exp` = now + [`ASSERTION_LIFETIME`] (Entra accepts at most ten minutes). The key and
//! certificate come from the Secrets Manager value `{"private_key_pem","certificate_pem"}`.
//!
//! Nothing here ever puts a key or an assertion into an error, a log line or `Debug` output.

use crate::ports::DirectoryError;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use sha2::Digest as _;

/// How long a certificate assertion is valid (Entra refuses more than ten minutes).
pub const ASSERTION_LIFETIME: chrono::Duration = chrono::Duration::minutes(5);

/// The form field value that says `client_assertion` is a JWT bearer assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The rotator's certificate credential: its private key and the certificate's SHA-256
/// thumbprint. `Debug` shows the thumbprint only.
#[derive(Clone)]
pub struct CertificateCredential {
    key: EncodingKey,
    /// `x5t#S256`: base64url (no padding) of the SHA-256 of the certificate's DER.
    thumbprint: String,
}

impl std::fmt::Debug for CertificateCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateCredential")
            .field("x5t#S256", &self.thumbprint)
            .field("private_key", &crate::redact::REDACTED)
            .finish()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

impl CertificateCredential {
    /// A credential from PEM text: a private RSA key (PKCS#8 `PRIVATE KEY` or PKCS#1
    /// `RSA PRIVATE KEY`) and the certificate registered on the rotator's app. Refuses a key
    /// that does not belong to the certificate. Errors never quote either.
    pub fn from_pem(private_key_pem: &str, certificate_pem: &str) -> Result<Self, DirectoryError> {
        let config =
            |m: &str| DirectoryError::Config(format!("the rotator's certificate credential: {m}"));
        let cert = pem::parse(certificate_pem.trim())
            .ok()
            .filter(|p| p.tag() == "CERTIFICATE")
            .ok_or_else(|| config("'certificate_pem' is not a PEM certificate"))?;
        let thumbprint = b64url(&sha2::Sha256::digest(cert.contents()));
        let key = EncodingKey::from_rsa_pem(private_key_pem.trim().as_bytes())
            .map_err(|_| config("'private_key_pem' is not a PEM RSA private key"))?;
        let public = DecodingKey::from_rsa_pem(certificate_pem.trim().as_bytes())
            .map_err(|_| config("the certificate does not hold an RSA public key"))?;
        let credential = CertificateCredential { key, thumbprint };
        // Sign once and verify with the certificate: a mismatched pair fails here, at start-up,
        // rather than as AADSTS700027 at every sign-in.
        let probe = credential.assertion("probe", "https://probe.invalid/token", Utc::now())?;
        let mut v = jsonwebtoken::Validation::new(Algorithm::PS256);
        v.validate_aud = false;
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(probe.expose_secret(), &public, &v)
            .map_err(|_| config("the private key does not belong to the certificate"))?;
        Ok(credential)
    }

    /// Reads the Secrets Manager value: JSON `{"private_key_pem":"…","certificate_pem":"…"}`,
    /// optionally with `client_id`. Returns that client id (if any) and the credential.
    pub fn from_secret_value(
        value: &SecretString,
    ) -> Result<(Option<String>, Self), DirectoryError> {
        let v: Value = serde_json::from_str(value.expose_secret().trim()).map_err(|_| {
            DirectoryError::Config(
                "the rotator's credentials secret is not JSON with 'private_key_pem' and 'certificate_pem' (ROTATOR_AUTH=certificate)"
                    .into(),
            )
        })?;
        let field = |k: &str| {
            match v.get(k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.as_str()),
            _ => Err(DirectoryError::Config(format!(
                "the rotator's credentials secret has no non-empty string '{k}' (ROTATOR_AUTH=certificate)"
            ))),
        }
        };
        let credential = Self::from_pem(field("private_key_pem")?, field("certificate_pem")?)?;
        let client_id = match v.get("client_id") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        };
        Ok((client_id, credential))
    }

    /// The `x5t#S256` thumbprint of the certificate.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A PS256 client assertion for `client_id` at the token endpoint `token_url`, valid from
    /// `now` for [`ASSERTION_LIFETIME`].
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        now: DateTime<Utc>,
    ) -> Result<SecretString, DirectoryError> {
        let mut header = Header::new(Algorithm::PS256);
        header.x5t_s256 = Some(self.thumbprint.clone());
        let claims = Claims {
            aud: token_url,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now.timestamp(),
            iat: now.timestamp(),
            exp: (now + ASSERTION_LIFETIME).timestamp(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(SecretString::from)
            // The library's error names the failure kind, never the key.
            .map_err(|e| {
                DirectoryError::Config(format!(
                    "signing the rotator's client assertion failed: {e}"
                ))
            })
    }
}

/// Base64url without padding, as JOSE wants it.
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../../../testkit/src/test_keys/rotator_certificate_key.pem");
    const CERT: &str = include_str!("../../../testkit/src/test_keys/rotator_certificate.pem");
    const OTHER_KEY: &str = include_str!("../../../testkit/src/test_keys/sts_signing_key.pem");

    fn part(jwt: &str, i: usize) -> Value {
        let seg = jwt.split('.').nth(i).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(seg)
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn certificate_assertions_have_the_header_and_claims_entra_wants() {
        let c = CertificateCredential::from_pem(KEY, CERT).unwrap();
        let der = pem::parse(CERT).unwrap().into_contents();
        assert_eq!(c.thumbprint(), b64url(&sha2::Sha256::digest(&der)));
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let url = "https://login.microsoftonline.com/t/oauth2/v2.0/token";
        let jwt = c.assertion("cid", url, now).unwrap();
        let jwt = jwt.expose_secret();
        let h = part(jwt, 0);
        assert_eq!(
            (h["alg"].as_str(), h["typ"].as_str()),
            (Some("PS256"), Some("JWT"))
        );
        assert_eq!(h["x5t#S256"].as_str(), Some(c.thumbprint()));
        let p = part(jwt, 1);
        assert_eq!(
            (p["aud"].as_str(), p["iss"].as_str(), p["sub"].as_str()),
            (Some(url), Some("cid"), Some("cid"))
        );
        assert_eq!(
            (p["nbf"].as_i64(), p["iat"].as_i64()),
            (Some(1_800_000_000), Some(1_800_000_000))
        );
        let life = p["exp"].as_i64().unwrap() - p["nbf"].as_i64().unwrap();
        assert!(life > 0 && life <= 600, "{life}");
        assert!(uuid::Uuid::parse_str(p["jti"].as_str().unwrap()).is_ok());
        // A second assertion is a different one (fresh jti).
        assert_ne!(c.assertion("cid", url, now).unwrap().expose_secret(), jwt);
        // The signature verifies with the certificate's public key.
        let mut v = jsonwebtoken::Validation::new(Algorithm::PS256);
        v.validate_exp = false;
        v.set_audience(&[url]);
        jsonwebtoken::decode::<Value>(
            jwt,
            &DecodingKey::from_rsa_pem(CERT.as_bytes()).unwrap(),
            &v,
        )
        .unwrap();
    }

    #[test]
    fn unusable_pairs_are_refused_without_echoing_the_key() {
        let e = CertificateCredential::from_pem(OTHER_KEY, CERT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not belong"), "{e}");
        let e = CertificateCredential::from_pem(KEY, KEY)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("certificate_pem") && !e.contains("PRIVATE"),
            "{e}"
        );
        let e = CertificateCredential::from_pem("not a key", CERT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("private_key_pem"), "{e}");
        let c = CertificateCredential::from_pem(KEY, CERT).unwrap();
        let d = format!("{c:?}");
        assert!(d.contains(c.thumbprint()) && !d.contains("MII"), "{d}");
    }

    #[test]
    fn the_secret_value_is_json_with_both_pems() {
        let v = serde_json::json!({"private_key_pem": KEY, "certificate_pem": CERT, "client_id": "cid"});
        let (id, _) =
            CertificateCredential::from_secret_value(&SecretString::from(v.to_string())).unwrap();
        assert_eq!(id.as_deref(), Some("cid"));
        let v = serde_json::json!({"private_key_pem": KEY});
        let e = CertificateCredential::from_secret_value(&SecretString::from(v.to_string()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("certificate_pem") && !e.contains("MII"), "{e}");
        let e = CertificateCredential::from_secret_value(&SecretString::from(KEY.to_string()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not JSON") && !e.contains("MII"), "{e}");
    }
}
