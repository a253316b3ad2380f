//! Signing in to the Jamf Pro API: OAuth client credentials for an API client, a bearer token
//! from HTTP Basic for a user account. The token is reused until shortly before it expires (by
//! the injected clock) and fetched again once when Jamf answers 401.

use super::client::JamfClient;
use super::credentials::JamfCredentials;
use super::errors;
use crate::ports::TargetError;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

/// The current path of the OAuth token endpoint.
pub(crate) const OAUTH_TOKEN: &str = "api/v1/oauth/token";
/// The path older servers (and older docs) use.
pub(crate) const OAUTH_TOKEN_LEGACY: &str = "api/oauth/token";
/// The user-account token endpoint (HTTP Basic).
pub(crate) const USER_TOKEN: &str = "api/v1/auth/token";
/// Ends a user token's life.
pub(crate) const INVALIDATE_TOKEN: &str = "api/v1/auth/invalidate-token";

/// A bearer token and when it stops working.
#[derive(Clone)]
pub(crate) struct Token {
    /// The bearer value.
    pub value: SecretString,
    /// Expiry as Jamf stated it.
    pub expires: DateTime<Utc>,
    /// Which fetch produced it, so that two calls that both saw a 401 re-authenticate once.
    pub generation: u64,
    /// When it was issued (by our clock), to refresh a short-lived token at half its life.
    issued: DateTime<Utc>,
}

impl Token {
    /// True while the token can still be sent: until a minute before expiry, or half its
    /// lifetime for tokens that live less than two minutes.
    fn usable_at(&self, now: DateTime<Utc>) -> bool {
        let life = self.expires - self.issued;
        let margin = std::cmp::min(chrono::Duration::seconds(60), life / 2);
        now < self.expires - margin
    }
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    generation: u64,
    /// Set once the current OAuth path answered 404 (an older server).
    legacy_oauth: bool,
}

/// The token of one client. The lock is held while fetching, so parallel calls share one fetch.
#[derive(Default)]
pub(crate) struct TokenCache {
    state: Mutex<State>,
}

#[derive(Deserialize)]
struct OAuthToken {
    access_token: SecretString,
    expires_in: i64,
}

#[derive(Deserialize)]
struct UserToken {
    token: SecretString,
    expires: DateTime<Utc>,
}

impl TokenCache {
    /// A token that is good for now, fetched when there is none or it is about to expire.
    pub(crate) async fn token(&self, client: &JamfClient) -> Result<Token, TargetError> {
        let mut state = self.state.lock().await;
        let now = client.clock().now();
        if let Some(t) = state.token.as_ref().filter(|t| t.usable_at(now)) {
            return Ok(t.clone());
        }
        state.token = None;
        let (value, expires) = match client.credentials() {
            JamfCredentials::ApiClient {
                client_id,
                client_secret,
            } => oauth(client, &mut state.legacy_oauth, client_id, client_secret).await?,
            JamfCredentials::User { username, password } => {
                user(client, username, password).await?
            }
        };
        state.generation += 1;
        let token = Token {
            value,
            expires,
            generation: state.generation,
            issued: now,
        };
        state.token = Some(token.clone());
        Ok(token)
    }

    /// Forgets the token of `generation` after Jamf refused it (a newer one is kept).
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .token
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            state.token = None;
        }
    }

    /// Removes and returns the current token (to end it on `close`).
    pub(crate) async fn take(&self) -> Option<Token> {
        self.state.lock().await.token.take()
    }
}

/// `POST /api/v1/oauth/token` (falling back to `/api/oauth/token` on 404), client credentials.
async fn oauth(
    client: &JamfClient,
    legacy: &mut bool,
    client_id: &str,
    client_secret: &SecretString,
) -> Result<(SecretString, DateTime<Utc>), TargetError> {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret.expose_secret()),
    ];
    let mut path = if *legacy {
        OAUTH_TOKEN_LEGACY
    } else {
        OAUTH_TOKEN
    };
    loop {
        let operation = format!("POST /{path}");
        let request = client.http().post(client.url(path)).form(&form);
        let reply = client
            .send_once(request)
            .await
            .map_err(|e| errors::transport(&operation, &e))?;
        if reply.status == 404 && path == OAUTH_TOKEN {
            tracing::info!("Jamf Pro has no /api/v1/oauth/token; using the older /api/oauth/token");
            *legacy = true;
            path = OAUTH_TOKEN_LEGACY;
            continue;
        }
        if reply.status == 200 {
            let t: OAuthToken = reply.json(&operation)?;
            let expires = oauth_expiry(client.clock().now(), t.expires_in);
            return Ok((t.access_token, expires));
        }
        return Err(refused(client, &operation, reply.status, &reply.body));
    }
}

/// When an OAuth token of `expires_in` seconds issued at `now` expires: at least a second, and a
/// lifetime too large for a date (a broken server) lasts until the end of time instead of
/// panicking.
fn oauth_expiry(now: DateTime<Utc>, expires_in: i64) -> DateTime<Utc> {
    chrono::Duration::try_seconds(expires_in.max(1))
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `POST /api/v1/auth/token` with HTTP Basic.
async fn user(
    client: &JamfClient,
    username: &str,
    password: &SecretString,
) -> Result<(SecretString, DateTime<Utc>), TargetError> {
    let operation = format!("POST /{USER_TOKEN}");
    let request = client
        .http()
        .post(client.url(USER_TOKEN))
        .basic_auth(username, Some(password.expose_secret()));
    let reply = client
        .send_once(request)
        .await
        .map_err(|e| errors::transport(&operation, &e))?;
    if reply.status == 200 {
        let t: UserToken = reply.json(&operation)?;
        return Ok((t.token, t.expires));
    }
    Err(refused(client, &operation, reply.status, &reply.body))
}

/// A token endpoint's refusal: bad credentials become [`TargetError::Auth`], the rest an API
/// error (a 5xx stays retryable).
fn refused(client: &JamfClient, operation: &str, status: u16, body: &[u8]) -> TargetError {
    let secrets = [client.credentials().secret()];
    let e = errors::explain(status, body, &secrets);
    let bad_credentials = matches!(status, 400 | 401 | 403)
        && (status != 400
            || e.code
                .as_deref()
                .is_some_and(|c| c == "invalid_client" || c == "unauthorized_client"));
    if bad_credentials {
        tracing::warn!(
            operation,
            status,
            "Jamf Pro refused the rotator's credentials"
        );
        return TargetError::Auth {
            server: client.server().to_string(),
            message: format!(
                "HTTP {status} {}{}",
                e.code.map(|c| format!("{c}: ")).unwrap_or_default(),
                e.message
            ),
        };
    }
    errors::api_error(operation, status, body, &secrets)
}

/// Ends a user token (`POST /api/v1/auth/invalidate-token`, 204). API-client tokens simply
/// expire. A 401 means it already ended.
pub(crate) async fn invalidate(client: &JamfClient, token: &Token) -> Result<(), TargetError> {
    let operation = format!("POST /{INVALIDATE_TOKEN}");
    let request = client
        .http()
        .post(client.url(INVALIDATE_TOKEN))
        .bearer_auth(token.value.expose_secret());
    let reply = client
        .send_once(request)
        .await
        .map_err(|e| errors::transport(&operation, &e))?;
    match reply.status {
        200..=299 | 401 => Ok(()),
        status => Err(errors::api_error(&operation, status, &reply.body, &[])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_lifetimes_too_large_for_a_date_do_not_panic() {
        // Found while writing the fuzz targets: `chrono::Duration::seconds` panicked on these.
        let now = Utc::now();
        assert_eq!(oauth_expiry(now, 60), now + chrono::Duration::seconds(60));
        assert_eq!(oauth_expiry(now, -5), now + chrono::Duration::seconds(1));
        assert_eq!(oauth_expiry(now, i64::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(oauth_expiry(now, 10_i64.pow(15)), DateTime::<Utc>::MAX_UTC);
    }
}
