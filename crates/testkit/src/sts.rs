//! AWS STS stand-in for IAM outbound identity federation: `GetWebIdentityToken` over the STS
//! query protocol (form-encoded `Action=GetWebIdentityToken&Version=2011-06-15&Audience.member.N=…
//! &SigningAlgorithm=RS256&DurationSeconds=…`, XML answer), well enough for `aws-sdk-sts` pointed
//! at it (`endpoint_url`, or `AWS_ENDPOINT_URL_STS`).
//!
//! Tokens are real RS256 JWTs signed with the committed test key `test_keys/sts_signing_key.pem`:
//! `iss` is this stand-in's issuer URL ([`StsSim::issuer`]), `sub` the caller's role ARN
//! ([`StsSim::set_role_arn`]), `aud` the requested audience, `iat`/`nbf`/`exp`/`jti`. The Entra
//! stand-in is handed [`StsSim::public_key_pem`] and [`StsSim::kid`] directly (the real Entra
//! reads the issuer's OpenID configuration and JWKS).
//!
//! Where it departs from AWS: the SigV4 signature is required in form (an `AWS4-HMAC-SHA256`
//! `Authorization` header) but not verified; every caller is the one role; only RS256 is offered
//! (ES384 is refused as unsupported); no tags.

use crate::clock::SharedClock;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The STS stand-in's signing key (a committed test key, see `test_keys/README.md`).
const SIGNING_KEY: &str = include_str!("test_keys/sts_signing_key.pem");
/// Its public half.
const PUBLIC_KEY: &str = include_str!("test_keys/sts_signing_key.pub.pem");
/// A key that is not the issuer's: tokens signed with it fail signature checks.
const WRONG_KEY: &str = include_str!("test_keys/rotator_certificate_key.pem");

/// The role every caller is, unless [`StsSim::set_role_arn`] says otherwise.
pub const DEFAULT_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/jamf-entra-rotator";

/// Handle to a running STS stand-in. Cheap to clone.
#[derive(Clone)]
pub struct StsSim {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StsSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsSim")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

struct Inner {
    addr: std::net::SocketAddr,
    clock: SharedClock,
    state: Mutex<State>,
}

struct State {
    role_arn: String,
    skew: chrono::Duration,
    wrong_key: bool,
    federation_enabled: bool,
    issued: Vec<SecretString>,
    requests: usize,
}

impl StsSim {
    /// Starts the stand-in on `127.0.0.1:0`.
    pub async fn start(clock: SharedClock) -> StsSim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let sim = StsSim {
            inner: Arc::new(Inner {
                addr,
                clock,
                state: Mutex::new(State {
                    role_arn: DEFAULT_ROLE_ARN.into(),
                    skew: chrono::Duration::zero(),
                    wrong_key: false,
                    federation_enabled: true,
                    issued: vec![],
                    requests: 0,
                }),
            }),
        };
        let handle = sim.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let sim = handle.clone();
            async move { sim.handle(&headers, &body) }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        sim
    }

    /// The endpoint URL for the SDK (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The `iss` of every token (the account's outbound federation issuer, in AWS).
    pub fn issuer(&self) -> String {
        format!("http://{}/outbound-federation", self.inner.addr)
    }

    /// The `kid` in every token's header.
    pub fn kid(&self) -> &'static str {
        "sts-stand-in-key-1"
    }

    /// The issuer's public key (PEM, `PUBLIC KEY`): what its JWKS would publish.
    pub fn public_key_pem(&self) -> &'static str {
        PUBLIC_KEY
    }

    /// The role ARN every caller is taken to be (the token's `sub`).
    pub fn set_role_arn(&self, arn: &str) {
        self.state().role_arn = arn.to_string();
    }

    /// Stamps tokens as if issued at now + `skew` (a negative skew makes expired tokens).
    pub fn set_clock_skew(&self, skew: chrono::Duration) {
        self.state().skew = skew;
    }

    /// Signs tokens with a key that is not the issuer's (same `kid`): a bad signature.
    pub fn sign_with_wrong_key(&self, wrong: bool) {
        self.state().wrong_key = wrong;
    }

    /// Off: answers `OutboundWebIdentityFederationDisabledException` (the account never ran
    /// `aws iam enable-outbound-web-identity-federation`).
    pub fn set_federation_enabled(&self, enabled: bool) {
        self.state().federation_enabled = enabled;
    }

    /// Every token handed out (for the leak scan).
    pub fn issued(&self) -> Vec<SecretString> {
        self.state().issued.clone()
    }

    /// How many requests arrived.
    pub fn requests(&self) -> usize {
        self.state().requests
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        let mut st = self.state();
        st.requests += 1;
        let signed = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 Credential="));
        if !signed {
            return error(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            );
        }
        if form.get("Action").map(String::as_str) != Some("GetWebIdentityToken") {
            return error(
                400,
                "InvalidAction",
                "The action or operation requested is invalid.",
            );
        }
        if !st.federation_enabled {
            return error(
                403,
                "OutboundWebIdentityFederationDisabledException",
                "Outbound web identity federation is not enabled for this account.",
            );
        }
        let audiences: Vec<String> = (1..=10)
            .map_while(|i| form.get(&format!("Audience.member.{i}")).cloned())
            .collect();
        if audiences.is_empty() {
            return error(400, "ValidationError", "1 validation error detected: Value null at 'audience' failed to satisfy constraint: Member must not be null");
        }
        if form.get("SigningAlgorithm").map(String::as_str) != Some("RS256") {
            return error(
                400,
                "ValidationError",
                "This stand-in signs with RS256 only.",
            );
        }
        let secs = match form.get("DurationSeconds").map(|d| d.parse::<i64>()) {
            None => 300,
            Some(Ok(d)) if (60..=3600).contains(&d) => d,
            Some(_) => {
                return error(
                    400,
                    "ValidationError",
                    "DurationSeconds must be between 60 and 3600.",
                )
            }
        };
        let issued_at = self.inner.clock.now() + st.skew;
        let expires = issued_at + chrono::Duration::seconds(secs);
        let aud = if audiences.len() == 1 {
            serde_json::json!(audiences[0])
        } else {
            serde_json::json!(audiences)
        };
        let claims = serde_json::json!({
            "iss": self.issuer(), "sub": st.role_arn, "aud": aud, "jti": uuid::Uuid::new_v4().to_string(),
            "iat": issued_at.timestamp(), "nbf": issued_at.timestamp(), "exp": expires.timestamp(),
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid().to_string());
        let pem = if st.wrong_key { WRONG_KEY } else { SIGNING_KEY };
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("the committed test key parses");
        let token = jsonwebtoken::encode(&header, &claims, &key).expect("signing with a test key");
        st.issued.push(SecretString::from(token.clone()));
        xml(
            200,
            format!(
                "<GetWebIdentityTokenResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                 <GetWebIdentityTokenResult><WebIdentityToken>{token}</WebIdentityToken>\
                 <Expiration>{}</Expiration></GetWebIdentityTokenResult>\
                 <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetWebIdentityTokenResponse>",
                iso(expires),
                uuid::Uuid::new_v4()
            ),
        )
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// STS's query-protocol error shape.
fn error(status: u16, code: &str, message: &str) -> Response {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>{kind}</Type>\
             <Code>{code}</Code><Message>{message}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            uuid::Uuid::new_v4()
        ),
    )
}

fn xml(status: u16, body: String) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", "text/xml".parse().expect("static header"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(sts: &StsSim, auth: Option<&str>, body: &str) -> (u16, String) {
        let mut req = reqwest::Client::new()
            .post(sts.url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    const SIGNED: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=x";
    const ASK: &str = "Action=GetWebIdentityToken&Version=2011-06-15&Audience.member.1=api%3A%2F%2FAzureADTokenExchange&SigningAlgorithm=RS256&DurationSeconds=300";

    #[tokio::test]
    async fn unsigned_requests_and_other_algorithms_are_refused_in_stss_error_shape() {
        let sts = StsSim::start(Arc::new(crate::clock::SystemClock)).await;
        let (status, body) = post(&sts, None, ASK).await;
        assert_eq!(status, 403);
        assert!(
            body.contains("<Code>MissingAuthenticationToken</Code>"),
            "{body}"
        );
        let (status, body) = post(&sts, Some(SIGNED), &ASK.replace("RS256", "ES384")).await;
        assert_eq!(status, 400);
        assert!(body.contains("<Code>ValidationError</Code>"), "{body}");
        assert!(sts.issued().is_empty());
    }

    #[tokio::test]
    async fn tokens_name_the_issuer_the_role_and_the_audience() {
        let sts = StsSim::start(Arc::new(crate::clock::SystemClock)).await;
        sts.set_role_arn("arn:aws:iam::123456789012:role/r");
        let (status, body) = post(&sts, Some(SIGNED), ASK).await;
        assert_eq!(status, 200, "{body}");
        let token = body
            .split("<WebIdentityToken>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(sts.public_key_pem().as_bytes()).unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
        v.set_audience(&["api://AzureADTokenExchange"]);
        v.set_issuer(&[sts.issuer()]);
        let t = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).unwrap();
        assert_eq!(t.header.kid.as_deref(), Some(sts.kid()));
        assert_eq!(t.claims["sub"], "arn:aws:iam::123456789012:role/r");
        assert_eq!(
            t.claims["exp"].as_i64().unwrap() - t.claims["iat"].as_i64().unwrap(),
            300
        );
    }
}
