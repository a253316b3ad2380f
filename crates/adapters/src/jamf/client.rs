//! The Jamf Pro HTTP client: one per target and credential. It holds the cookie jar that pins
//! requests to one node, the API token and the retry rules; the connection limit (Jamf asks for
//! at most five concurrent connections per server) is the server's, shared by every client of
//! this process that talks to it ([`server_permits`]). Typed API calls live in [`super::api`].
//!
//! [`JamfClient::send_once`] is the single gate every request passes (permit, timeout, cookies),
//! so a web-UI session for the `conditional-access` target can be built beside the API calls on
//! the same client: same jar, same limit.

use super::auth::{self, TokenCache};
use super::credentials::JamfCredentials;
use super::errors;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::ports::TargetError;
use backon::{BackoffBuilder, ExponentialBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;
use url::Url;

/// Jamf's published limit of concurrent connections per server: requests in flight to one
/// server from this process, whatever the number of clients ([`server_permits`]).
pub const MAX_CONNECTIONS: usize = 5;
/// Attempts of an idempotent call (the first and two retries).
pub const MAX_ATTEMPTS: usize = 3;
/// Statuses after which an idempotent call is repeated.
const RETRY_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// The permits of every Jamf Pro server this process talks to, by [`server_key`]. Entries are
/// never removed: a deployment talks to a handful of servers.
static SERVERS: OnceLock<Mutex<HashMap<String, Arc<Semaphore>>>> = OnceLock::new();

/// The server a URL names, for the connection limit: scheme, host and port (a context path such
/// as `/jamf` does not make another server).
fn server_key(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
        url.port_or_known_default().unwrap_or_default()
    )
}

/// The [`MAX_CONNECTIONS`] permits of the Jamf Pro server at `url`, shared process-wide: every
/// [`JamfClient`] of that server (any target, any credential, API or web UI) sends through them,
/// so a check working on many targets of one server at once still has at most five requests in
/// flight to it.
pub fn server_permits(url: &Url) -> Arc<Semaphore> {
    let servers = SERVERS.get_or_init(Mutex::default);
    let mut servers = servers.lock().unwrap_or_else(|p| p.into_inner());
    servers
        .entry(server_key(url))
        .or_insert_with(|| Arc::new(Semaphore::new(MAX_CONNECTIONS)))
        .clone()
}

/// A Jamf Pro API client. Cheap to clone; clones share the token and jar; every client of the
/// same server shares its connection limit.
#[derive(Clone)]
pub struct JamfClient {
    inner: Arc<Inner>,
}

struct Inner {
    base: Url,
    server: String,
    http: reqwest::Client,
    /// The server's permits ([`server_permits`]), shared with every other client of the server.
    permits: Arc<Semaphore>,
    clock: SharedClock,
    credentials: JamfCredentials,
    tokens: TokenCache,
}

impl std::fmt::Debug for JamfClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JamfClient")
            .field("base", &self.inner.base.as_str())
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

/// A response read in full while the connection permit was held.
pub(crate) struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// Decodes the body; the error names the operation and serde's complaint, never the body.
    pub(crate) fn json<T: DeserializeOwned>(&self, operation: &str) -> Result<T, TargetError> {
        serde_json::from_slice(&self.body).map_err(|e| TargetError::InvalidResponse {
            operation: operation.to_string(),
            message: format!(
                "the body is not the expected JSON ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        })
    }
}

/// The body of an API call.
pub(crate) enum Body<'a> {
    /// No body.
    Empty,
    /// `application/json`.
    Json(&'a serde_json::Value),
    /// `application/merge-patch+json` (RFC 7396).
    MergePatch(&'a serde_json::Value),
}

/// One API call: what to send, and whether repeating it is safe.
pub(crate) struct Call<'a> {
    /// HTTP method.
    pub method: reqwest::Method,
    /// Path below the server's base URL, without a leading slash (`api/v2/smtp-server`).
    pub path: &'a str,
    /// The body.
    pub body: Body<'a>,
    /// True for GETs and for PUTs that send the same merge patch again: safe to retry.
    pub idempotent: bool,
    /// Secret values in the body, scrubbed from any message the server echoes back.
    pub secrets: Vec<SecretString>,
}

impl Call<'_> {
    /// `GET /path` as a log and error label (no parameters or query: [`crate::http::label_path`]).
    pub(crate) fn operation(&self) -> String {
        format!("{} /{}", self.method, crate::http::label_path(self.path))
    }
}

/// Why an attempt failed, and whether another attempt may help.
struct Failure {
    error: TargetError,
    retry_after: Option<Duration>,
}

impl Failure {
    fn retryable(&self) -> bool {
        match &self.error {
            TargetError::Unavailable { .. } => true,
            TargetError::Api { status, .. } => RETRY_STATUSES.contains(status),
            _ => false,
        }
    }
}

impl JamfClient {
    /// A client for the server at `base` signing in with `credentials`. The URL must be HTTPS
    /// (plain HTTP only to loopback, where `settings.loopback_http` allows it); timeouts come from `settings.http_timeout`.
    pub fn new(
        base: &Url,
        credentials: JamfCredentials,
        settings: &Settings,
        clock: SharedClock,
    ) -> Result<Self, TargetError> {
        crate::http::check_url(base, settings.loopback_http)
            .map_err(|p| TargetError::Config(format!("jamf.url: {p}")))?;
        let mut base = base.clone();
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            // A context path (`https://host:8443/jamf`) is kept: every API path is joined below it.
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let server = base.host_str().unwrap_or("the Jamf Pro server").to_string();
        Ok(Self {
            inner: Arc::new(Inner {
                http: crate::http::client(settings.http_timeout, MAX_CONNECTIONS, true),
                permits: server_permits(&base),
                base,
                server,
                clock,
                credentials,
                tokens: TokenCache::default(),
            }),
        })
    }

    /// The server's base URL (ending in `/`).
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The server's host name, for messages.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// Ends the session: invalidates a user token. API-client tokens expire on their own.
    pub async fn close(&self) -> Result<(), TargetError> {
        match self.inner.tokens.take().await {
            Some(token) if self.inner.credentials.is_user() => auth::invalidate(self, &token).await,
            _ => Ok(()),
        }
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    pub(crate) fn credentials(&self) -> &JamfCredentials {
        &self.inner.credentials
    }

    /// The absolute URL of `path` (relative, no leading slash) below the base URL.
    pub(crate) fn url(&self, path: &str) -> Url {
        self.inner
            .base
            .join(path.trim_start_matches('/'))
            .expect("relative API path joins")
    }

    /// Sends one request and reads the whole response (at most
    /// [`crate::http::MAX_RESPONSE_BYTES`]) while holding one of the server's five permits
    /// (released once the body is read). No retry, no authentication: the gate every request
    /// passes, API and web UI alike.
    pub(crate) async fn send_once(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Reply, crate::http::ResponseError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = crate::http::read_body(response, crate::http::MAX_RESPONSE_BYTES).await?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// An authenticated API call: bearer token, one re-authentication on 401, and for idempotent
    /// calls up to [`MAX_ATTEMPTS`] attempts with backoff on the injected clock. Returns the
    /// successful (2xx) reply.
    pub(crate) async fn call(&self, call: &Call<'_>) -> Result<Reply, TargetError> {
        // backon supplies the delays; the loop sleeps on the injected clock. (backon's `Retry`
        // combinator over a borrowing closure does not prove `Send` inside `async_trait`.)
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_secs(1))
            .with_max_delay(Duration::from_secs(20))
            .with_max_times(MAX_ATTEMPTS - 1)
            .with_jitter()
            .build();
        loop {
            let failure = match self.attempt(call).await {
                Ok(reply) => return Ok(reply),
                Err(f) => f,
            };
            let delay = match delays.next() {
                Some(d) if call.idempotent && failure.retryable() => {
                    failure.retry_after.unwrap_or(d)
                }
                _ => return Err(failure.error),
            };
            tracing::info!(
                operation = call.operation(),
                error = %failure.error,
                wait_ms = delay.as_millis() as u64,
                "retrying Jamf Pro call"
            );
            self.inner.clock.sleep(delay).await;
        }
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<Reply, Failure> {
        let operation = call.operation();
        let fail = |error| Failure {
            error,
            retry_after: None,
        };
        let mut reauthenticated = false;
        loop {
            let token = self.inner.tokens.token(self).await.map_err(fail)?;
            let mut request = self
                .inner
                .http
                .request(call.method.clone(), self.url(call.path))
                .bearer_auth(token.value.expose_secret());
            request = match call.body {
                Body::Empty => request,
                Body::Json(v) => request.json(v),
                Body::MergePatch(v) => request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/merge-patch+json",
                    )
                    .body(serde_json::to_vec(v).expect("JSON value serialises")),
            };
            let reply = self
                .send_once(request)
                .await
                .map_err(|e| fail(errors::transport(&operation, &e)))?;
            if (200..300).contains(&reply.status) {
                return Ok(reply);
            }
            if reply.status == 401 && !reauthenticated {
                // The token expired early or the server restarted: sign in again, once.
                tracing::info!(operation, "Jamf Pro answered 401; signing in again");
                self.inner.tokens.invalidate(token.generation).await;
                reauthenticated = true;
                continue;
            }
            let mut secrets: Vec<&SecretString> = call.secrets.iter().collect();
            secrets.push(self.inner.credentials.secret());
            let error = if reply.status == 401 {
                TargetError::Auth {
                    server: self.inner.server.clone(),
                    message: format!(
                        "{operation}: {}",
                        errors::explain(401, &reply.body, &secrets).message
                    ),
                }
            } else {
                errors::api_error(&operation, reply.status, &reply.body, &secrets)
            };
            return Err(Failure {
                error,
                retry_after: crate::http::retry_after(&reply.headers),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn one_server_is_scheme_host_and_port() {
        let same = [
            "https://acme.jamfcloud.com/",
            "https://ACME.jamfcloud.com:443/jamf/",
            "https://acme.jamfcloud.com/api/v2/smtp-server?x=1",
        ];
        for u in same {
            assert_eq!(server_key(&url(u)), "https://acme.jamfcloud.com:443", "{u}");
        }
        let others = [
            "https://acme.jamfcloud.com:8443/",
            "http://acme.jamfcloud.com/",
            "https://other.jamfcloud.com/",
        ];
        for u in others {
            assert_ne!(server_key(&url(u)), server_key(&url(same[0])), "{u}");
        }
    }

    #[test]
    fn clients_of_one_server_share_its_permits_and_other_servers_do_not() {
        let a = server_permits(&url("https://limit-test-a.example.com/"));
        let a_again = server_permits(&url("https://limit-test-a.example.com:443/jamf/"));
        let b = server_permits(&url("https://limit-test-b.example.com/"));
        assert!(Arc::ptr_eq(&a, &a_again));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(a.available_permits(), MAX_CONNECTIONS);
        let held: Vec<_> = (0..MAX_CONNECTIONS)
            .map(|_| a.try_acquire().unwrap())
            .collect();
        assert!(
            a_again.try_acquire().is_err(),
            "the sixth request to the server waits"
        );
        assert!(b.try_acquire().is_ok(), "another server has its own five");
        drop(held);
        assert_eq!(a_again.available_permits(), MAX_CONNECTIONS);
    }
}
