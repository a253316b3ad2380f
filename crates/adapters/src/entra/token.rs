//! The Entra token endpoint (client credentials with a client secret or a client assertion): one
//! request, its refusal parsed into an AADSTS code, and a cache of the rotator's own tokens that
//! signs in once for all the callers that want a token at the same time.

use super::retry::{Failure, Retry};
use super::wire::{self, Raw};
use crate::ports::DirectoryError;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Cached tokens are dropped this long before Entra says they expire, so a call that starts
/// with a cached token never carries an expired one (backoff included).
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// An access token and how long Entra says it lasts.
#[derive(Debug)]
pub struct Issued {
    /// The bearer token.
    pub token: SecretString,
    /// `expires_in`.
    pub lifetime: Duration,
}

/// How a token request proves the client: a client secret, or a signed JWT (a certificate
/// assertion, or an external token trusted through a federated identity credential).
#[derive(Clone, Copy)]
pub enum ClientAuth<'a> {
    /// `client_secret=`.
    Secret(&'a SecretString),
    /// `client_assertion_type=…jwt-bearer&client_assertion=`.
    Assertion(&'a SecretString),
}

/// Asks the token endpoint at `url` for a token for `client_id`/`auth`/`scope`.
/// A refusal (4xx with Entra's error JSON) is a fatal [`Failure`] carrying
/// [`DirectoryError::Token`]; 429, 5xx and transport errors are retryable.
pub async fn request(
    http: &reqwest::Client,
    url: url::Url,
    client_id: &str,
    auth: ClientAuth<'_>,
    scope: &str,
    context: &str,
) -> Result<Issued, Failure> {
    let operation = "token request";
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("scope", scope),
    ];
    match auth {
        ClientAuth::Secret(secret) => form.push(("client_secret", secret.expose_secret())),
        ClientAuth::Assertion(jwt) => {
            form.push(("client_assertion_type", super::assertion::JWT_BEARER));
            form.push(("client_assertion", jwt.expose_secret()));
        }
    }
    let client_request_id = uuid::Uuid::new_v4().to_string();
    let raw = wire::send(
        http.post(url)
            .header("client-request-id", &client_request_id)
            .form(&form),
        operation,
    )
    .await?;
    if raw.status == 200 {
        return parse_issued(&raw, operation).map_err(Failure::fatal);
    }
    Err(refusal(&raw, operation, context))
}

/// Reads the token endpoint's 200 answer, moving the token into a [`SecretString`] at once.
pub fn parse_issued(raw: &Raw, operation: &str) -> Result<Issued, DirectoryError> {
    let mut v = raw.json(operation)?;
    // Take the token out of the parsed body at once; errors below never quote the body.
    let token = match v.get_mut("access_token").map(Value::take) {
        Some(Value::String(s)) if !s.is_empty() => SecretString::from(s),
        _ => {
            return Err(wire::invalid(
                operation,
                "field 'access_token' is missing or not a string",
            ))
        }
    };
    let secs = match v.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        // The v1 endpoint sends it as a string; accept both.
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| wire::invalid(operation, "field 'expires_in' is missing or not a number"))?;
    Ok(Issued {
        token,
        lifetime: Duration::from_secs(secs),
    })
}

/// Turns a non-200 answer into a failure: a refusal is fatal, throttling and 5xx are retryable.
pub fn refusal(raw: &Raw, operation: &str, context: &str) -> Failure {
    let body: Option<Value> = serde_json::from_slice(&raw.body).ok();
    let field = |k: &str| {
        body.as_ref()
            .and_then(|b| b.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let code = body
        .as_ref()
        .and_then(|b| b.get("error_codes")?.as_array()?.first()?.as_u64())
        .map(|c| c as u32)
        .or_else(|| field("error_description").as_deref().and_then(aadsts_in));
    let request_id = raw
        .request_id()
        .or_else(|| field("correlation_id"))
        .or_else(|| field("trace_id"));
    // Callers log: a 7000215 while a new secret propagates is expected, not a warning.
    let error = field("error");
    let retry = match raw.status {
        429 => Retry::Throttled(crate::http::retry_after(&raw.headers)),
        500..=599 => Retry::Transient(crate::http::retry_after(&raw.headers)),
        _ => Retry::No,
    };
    let error = match (retry, error) {
        (Retry::No, Some(error)) => DirectoryError::Token {
            context: context.to_string(),
            status: raw.status,
            code,
            error,
            request_id,
        },
        (Retry::No, None) => match raw.json(operation) {
            Err(e) => e,
            Ok(_) => wire::invalid(
                operation,
                format!("HTTP {} without an 'error' field", raw.status),
            ),
        },
        (_, error) => DirectoryError::Unavailable {
            operation: operation.to_string(),
            message: format!(
                "Entra answered HTTP {}{}{}",
                raw.status,
                error.map(|e| format!(" {e}")).unwrap_or_default(),
                request_id
                    .map(|r| format!(" (request-id {r})"))
                    .unwrap_or_default()
            ),
        },
    };
    Failure { error, retry }
}

/// The number in the first `AADSTSnnn` of an error description.
pub fn aadsts_in(text: &str) -> Option<u32> {
    let rest = &text[text.find("AADSTS")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A copy of `e` for the callers that shared the sign-in that failed (the error carries no
/// secret: it is what every caller logs).
fn duplicate(e: &DirectoryError) -> DirectoryError {
    use DirectoryError::*;
    match e {
        Token {
            context,
            status,
            code,
            error,
            request_id,
        } => Token {
            context: context.clone(),
            status: *status,
            code: *code,
            error: error.clone(),
            request_id: request_id.clone(),
        },
        Graph {
            operation,
            status,
            code,
            message,
            request_id,
        } => Graph {
            operation: operation.clone(),
            status: *status,
            code: code.clone(),
            message: message.clone(),
            request_id: request_id.clone(),
        },
        Unavailable { operation, message } => Unavailable {
            operation: operation.clone(),
            message: message.clone(),
        },
        InvalidResponse { operation, message } => InvalidResponse {
            operation: operation.clone(),
            message: message.clone(),
        },
        Config(m) => Config(m.clone()),
    }
}

/// (token endpoint URL, which names the login host and tenant; scope).
pub type CacheKey = (String, String);

/// The rotator's tokens per (login base, tenant, scope), until [`EXPIRY_MARGIN`] before expiry.
/// [`Self::get_or_sign_in`] is single-flight: callers that find no token wait for one sign-in.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<CacheKey, (SecretString, DateTime<Utc>)>>,
    flights: Mutex<HashMap<CacheKey, Arc<Flight>>>,
}

/// The sign-ins of one key, one at a time.
#[derive(Default)]
struct Flight {
    /// Sign-ins ended so far (read before waiting, to know whether one ended meanwhile).
    ended: AtomicU64,
    /// Held while signing in; the number and error of the last sign-in when it failed.
    lock: tokio::sync::Mutex<Option<(u64, DirectoryError)>>,
}

impl TokenCache {
    /// A cached token still good at `now()`, or else the token of one sign-in (`sign_in`) shared
    /// by every caller waiting for the same key: a caller that finds no token waits for the
    /// sign-in under way and then looks again, and signs in itself only if there is still none.
    /// When the sign-in it waited for failed, it gets that error without asking again (a wrong
    /// secret or an outage is not made worse by many workers asking at once); a caller that
    /// arrives later tries again.
    pub async fn get_or_sign_in<F, Fut>(
        &self,
        key: &CacheKey,
        now: impl Fn() -> DateTime<Utc>,
        sign_in: F,
    ) -> Result<SecretString, DirectoryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Issued, DirectoryError>>,
    {
        if let Some(t) = self.get(key, now()) {
            return Ok(t);
        }
        let flight = self
            .flights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let seen = flight.ended.load(Ordering::SeqCst);
        let mut last = flight.lock.lock().await;
        if let Some(t) = self.get(key, now()) {
            return Ok(t);
        }
        if let Some((n, e)) = last.as_ref().filter(|(n, _)| *n > seen) {
            tracing::debug!(
                sign_in = n,
                "sharing the failure of the rotator sign-in just made"
            );
            return Err(duplicate(e));
        }
        let outcome = sign_in().await;
        let n = flight.ended.fetch_add(1, Ordering::SeqCst) + 1;
        match outcome {
            Ok(issued) => {
                self.put(key.clone(), &issued, now());
                *last = None;
                Ok(issued.token)
            }
            Err(e) => {
                *last = Some((n, duplicate(&e)));
                Err(e)
            }
        }
    }

    /// A cached token still good at `now`.
    pub fn get(&self, key: &CacheKey, now: DateTime<Utc>) -> Option<SecretString> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(t, _)| t.clone())
    }

    /// Keeps a token issued at `now`.
    pub fn put(&self, key: CacheKey, issued: &Issued, now: DateTime<Utc>) {
        let keep = issued.lifetime.saturating_sub(EXPIRY_MARGIN);
        let until = chrono::Duration::from_std(keep)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(now);
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (issued.token.clone(), until));
    }

    /// Forgets a token Graph refused (revoked, or the clock was wrong).
    pub fn forget(&self, key: &CacheKey) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(status: u16, body: &str, headers: &[(&'static str, &str)]) -> Raw {
        let mut h = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, v.parse().unwrap());
        }
        Raw {
            status,
            headers: h,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn aadsts_codes_are_found_in_descriptions() {
        assert_eq!(
            aadsts_in("AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"),
            Some(7000215)
        );
        assert_eq!(aadsts_in("no code here"), None);
    }

    #[test]
    fn refusals_carry_code_error_status_and_request_id() {
        let r = raw(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000222: expired","error_codes":[7000222],"correlation_id":"corr-1"}"#,
            &[("x-ms-request-id", "req-9")],
        );
        let f = refusal(&r, "token request", "the rotator's own identity");
        assert_eq!(f.retry, Retry::No);
        match f.error {
            DirectoryError::Token {
                status,
                code,
                error,
                request_id,
                ..
            } => {
                assert_eq!(
                    (status, code, error.as_str(), request_id.as_deref()),
                    (401, Some(7000222), "invalid_client", Some("req-9"))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn code_falls_back_to_the_description_and_request_id_to_the_correlation_id() {
        let r = raw(
            400,
            r#"{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant 'x' not found.","correlation_id":"corr-2"}"#,
            &[],
        );
        let e = refusal(&r, "token request", "ctx").error;
        assert_eq!(e.aadsts(), Some(90002));
        assert!(e.to_string().contains("corr-2"), "{e}");
    }

    #[test]
    fn server_errors_are_retryable_and_html_refusals_are_invalid() {
        let f = refusal(
            &raw(503, "", &[("retry-after", "4")]),
            "token request",
            "ctx",
        );
        assert_eq!(f.retry, Retry::Transient(Some(Duration::from_secs(4))));
        let f = refusal(&raw(400, "<html>oops</html>", &[]), "token request", "ctx");
        assert!(
            matches!(f.error, DirectoryError::InvalidResponse { .. }),
            "{:?}",
            f.error
        );
    }

    #[test]
    fn tokens_are_parsed_without_echoing_them() {
        let issued = parse_issued(
            &raw(
                200,
                r#"{"access_token":"tok-123","expires_in":"3599"}"#,
                &[],
            ),
            "t",
        )
        .unwrap();
        assert_eq!(issued.token.expose_secret(), "tok-123");
        assert_eq!(issued.lifetime, Duration::from_secs(3599));
        let e = parse_issued(&raw(200, r#"{"access_token":"tok-123"}"#, &[]), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expires_in") && !e.contains("tok-123"), "{e}");
    }

    #[test]
    fn cache_expires_five_minutes_early() {
        let cache = TokenCache::default();
        let now = Utc::now();
        let key = ("t".to_string(), "s".to_string());
        cache.put(
            key.clone(),
            &Issued {
                token: "a".into(),
                lifetime: Duration::from_secs(3599),
            },
            now,
        );
        assert!(cache
            .get(&key, now + chrono::Duration::seconds(3298))
            .is_some());
        assert!(cache
            .get(&key, now + chrono::Duration::seconds(3300))
            .is_none());
    }

    #[test]
    fn a_lifetime_past_the_end_of_time_does_not_panic() {
        // Found by fuzzing (fuzz/fuzz_targets/entra_response.rs): `expires_in` of 10^15 seconds.
        let issued = parse_issued(
            &raw(
                200,
                r#"{"access_token":"a","expires_in":1000000000000000}"#,
                &[],
            ),
            "t",
        )
        .unwrap();
        let cache = TokenCache::default();
        let key = ("t".to_string(), "s".to_string());
        cache.put(key.clone(), &issued, Utc::now());
        assert!(cache.get(&key, Utc::now()).is_none());
    }
}
