//! The Entra stand-in's check of `client_assertion` (the token endpoint's JWT bearer client
//! authentication), for real: signatures are verified.
//!
//! - A header with `x5t#S256` (or `x5t`) is a certificate assertion: the thumbprint must name a
//!   certificate registered on the app ([`Trust::add_certificate`]), the signature (PS256 or
//!   RS256) must verify with its public key, `iss` = `sub` = the client id, `aud` = the token URL
//!   the request was sent to, and now within `nbf`..`exp`.
//! - Anything else is an external token for a federated identity credential
//!   ([`Trust::add_federated_credential`]): issuer, then subject, then audience must match one
//!   credential exactly; the signature (RS256/PS256) must verify with the issuer's key named by
//!   `kid` ([`Trust::trust_issuer_key`]; the real Entra reads the issuer's JWKS); now within
//!   `nbf`..`exp`.
//!
//! Clock skew of five minutes is allowed either way, as the real service allows some.
//!
//! AADSTS codes used, from Microsoft's identity platform error reference and the Azure SDK
//! troubleshooting guides (codes as users report them where the reference is silent):
//! - 700027 (401 `invalid_client`): "Client assertion contains an invalid signature", with the
//!   reason "The key was not found" (unknown thumbprint) or "Key was found, but use of the key to
//!   verify the signature failed" (bad signature, certificate or federated).
//! - 700021 (401 `invalid_client`): certificate assertion `iss`/`sub` is not the client id.
//! - 700023 (401 `invalid_client`): certificate assertion audience does not match.
//! - 700024 (400 `invalid_client`): "Client assertion is not within its valid time range"
//!   (expired, or not yet valid).
//! - 700211 / 700213 / 700212 (400 `invalid_request`): no federated identity credential matches
//!   the assertion's issuer / subject / audience. (70021, the contract's generic "no matching
//!   federated identity record", is what older tenants answer for all three.)
//! - 7000272 (401 `invalid_client`): the `kid` is not among the issuer's published keys.
//! - 50027 (400 `invalid_request`): the assertion is not a JWT at all.
//!
//! Where it departs from the real service: certificates are matched by `x5t#S256` only (the
//! older SHA-1 `x5t` never matches); certificate validity dates are not checked; the order of
//! checks is this file's, not necessarily Entra's.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::collections::HashMap;

/// Allowed difference between the caller's clock and ours.
const SKEW: i64 = 300;

/// Keys and credentials the token endpoint trusts for client assertions.
#[derive(Default)]
pub(super) struct Trust {
    /// The stand-in's base URL (`http://127.0.0.1:PORT/`), for the expected `aud`.
    pub base: String,
    /// client id → registered certificates (`x5t#S256`, public key).
    certificates: HashMap<String, Vec<(String, DecodingKey)>>,
    /// client id → federated identity credentials.
    federated: HashMap<String, Vec<Fic>>,
    /// issuer → (kid, public key).
    issuer_keys: HashMap<String, Vec<(String, DecodingKey)>>,
}

struct Fic {
    issuer: String,
    subject: String,
    audiences: Vec<String>,
}

/// A refusal in the token endpoint's terms.
pub(super) struct Refusal {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub message: String,
}

fn refuse(status: u16, error: &'static str, code: u32, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        error,
        code,
        message: message.into(),
    }
}

/// The certificate's SHA-256 thumbprint as the contract's `x5t#S256` header carries it:
/// base64url without padding.
fn sha256_b64url(der: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
}

impl Trust {
    /// Registers a certificate (PEM) on the app with `client_id`.
    pub fn add_certificate(&mut self, client_id: &str, certificate_pem: &str) {
        let der = pem::parse(certificate_pem.trim())
            .expect("a PEM certificate")
            .into_contents();
        let key = DecodingKey::from_rsa_pem(certificate_pem.trim().as_bytes())
            .expect("an RSA certificate");
        self.certificates
            .entry(client_id.to_string())
            .or_default()
            .push((sha256_b64url(&der), key));
    }

    /// Adds a federated identity credential to the app with `client_id`.
    pub fn add_federated_credential(
        &mut self,
        client_id: &str,
        issuer: &str,
        subject: &str,
        audiences: &[&str],
    ) {
        self.federated
            .entry(client_id.to_string())
            .or_default()
            .push(Fic {
                issuer: issuer.to_string(),
                subject: subject.to_string(),
                audiences: audiences.iter().map(|a| a.to_string()).collect(),
            });
    }

    /// Publishes an issuer's public key (PEM `PUBLIC KEY` or certificate) under `kid`.
    pub fn trust_issuer_key(&mut self, issuer: &str, kid: &str, public_key_pem: &str) {
        let key =
            DecodingKey::from_rsa_pem(public_key_pem.trim().as_bytes()).expect("an RSA public key");
        self.issuer_keys
            .entry(issuer.to_string())
            .or_default()
            .push((kid.to_string(), key));
    }

    /// Checks `jwt` as `client_id`'s client assertion sent to `path` (the token endpoint's path).
    pub fn check(
        &self,
        client_id: &str,
        path: &str,
        jwt: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let malformed = || {
            refuse(
                400,
                "invalid_request",
                50027,
                "JWT token is invalid or malformed.",
            )
        };
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| malformed())?;
        let claims: Value = jwt
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).ok()
            })
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(malformed)?;
        let claim = |k: &str| {
            claims
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if header.x5t_s256.is_some() || header.x5t.is_some() {
            let thumbprint = header.x5t_s256.clone().unwrap_or_default();
            let key = self
                .certificates
                .get(client_id)
                .and_then(|c| c.iter().find(|(t, _)| *t == thumbprint))
                .map(|(_, k)| k)
                .ok_or_else(|| {
                    refuse(401, "invalid_client", 700027, format!(
                        "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"
                    ))
                })?;
            verify(jwt, header.alg, key)?;
            if claim("iss") != client_id || claim("sub") != client_id {
                return Err(refuse(401, "invalid_client", 700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."));
            }
            let expected = format!("{}{}", self.base, path.trim_start_matches('/'));
            if claim("aud") != expected {
                return Err(refuse(401, "invalid_client", 700023, "Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."));
            }
            return in_time(&claims, now);
        }
        let (iss, sub) = (claim("iss"), claim("sub"));
        let no_match = |code: u32, what: &str, value: &str| {
            refuse(400, "invalid_request", code, format!(
                "No matching federated identity record found for presented assertion {what} '{value}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
            ))
        };
        let fics: Vec<&Fic> = self
            .federated
            .get(client_id)
            .into_iter()
            .flatten()
            .filter(|f| f.issuer == iss)
            .collect();
        if fics.is_empty() {
            return Err(no_match(700211, "issuer", &iss));
        }
        let fics: Vec<&Fic> = fics.into_iter().filter(|f| f.subject == sub).collect();
        if fics.is_empty() {
            return Err(no_match(700213, "subject", &sub));
        }
        let auds: Vec<String> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => vec![],
        };
        if !fics
            .iter()
            .any(|f| f.audiences.iter().any(|a| auds.contains(a)))
        {
            return Err(no_match(700212, "audience", &auds.join(",")));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let key = self
            .issuer_keys
            .get(&iss)
            .and_then(|k| k.iter().find(|(id, _)| *id == kid))
            .map(|(_, k)| k)
            .ok_or_else(|| {
                refuse(401, "invalid_client", 7000272, format!(
                    "The certificate with identifier {kid} used to sign the federated credential could not be found in the metadata of identity provider {}. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token.",
                    iss.as_str()
                ))
            })?;
        verify(jwt, header.alg, key)?;
        in_time(&claims, now)
    }
}

/// The signature, with the header's algorithm if it is one Entra takes for RSA keys.
fn verify(jwt: &str, alg: Algorithm, key: &DecodingKey) -> Result<(), Refusal> {
    let bad = |reason: &str| {
        refuse(
            401,
            "invalid_client",
            700027,
            format!("Client assertion contains an invalid signature. [Reason - {reason}]"),
        )
    };
    if !matches!(alg, Algorithm::PS256 | Algorithm::RS256) {
        return Err(bad("The algorithm is not supported."));
    }
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(jwt, key, &v)
        .map(|_| ())
        .map_err(|_| bad("Key was found, but use of the key to verify the signature failed."))
}

/// `nbf` ≤ now ≤ `exp`, give or take [`SKEW`].
fn in_time(claims: &Value, now: DateTime<Utc>) -> Result<(), Refusal> {
    let t = |k: &str| claims.get(k).and_then(Value::as_i64);
    let (nbf, exp) = (
        t("nbf").or(t("iat")).unwrap_or(i64::MIN),
        t("exp").unwrap_or(i64::MIN),
    );
    let n = now.timestamp();
    if n + SKEW < nbf || n - SKEW > exp {
        let at = |s: i64| {
            DateTime::from_timestamp(s, 0)
                .map(|d| d.to_string())
                .unwrap_or_else(|| "(none)".into())
        };
        return Err(refuse(400, "invalid_client", 700024, format!(
            "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
            now, at(nbf), at(exp)
        )));
    }
    Ok(())
}
