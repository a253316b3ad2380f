//! How [`GraphDirectory`] talks to Entra ID: the rotator's sign-in (through the token cache) and
//! one Graph call ([`Call`]) with the rotator's token, retried as its safety allows and logged.

use super::retry::{self, Failure, Safety};
use super::wire::{self, segment, Raw};
use super::{graph, token, GraphDirectory, RotatorCredential};
use crate::config::Cloud;
use crate::ports::{AppRef, DirectoryError};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

impl GraphDirectory {
    pub(super) fn token_url(&self, cloud: Cloud, tenant: &str) -> Result<url::Url, DirectoryError> {
        let tenant = segment("tenant id", tenant)?;
        wire::endpoint(
            &self.settings.login_base(cloud),
            &format!("/{tenant}/oauth2/v2.0/token"),
            "ENTRA_LOGIN_URL",
            self.settings.loopback_http,
        )
    }

    /// The rotator's Graph token for `tenant`, from the cache when still good; concurrent callers
    /// without one share one sign-in ([`token::TokenCache::get_or_sign_in`]).
    async fn rotator_token(
        &self,
        cloud: Cloud,
        tenant: &str,
    ) -> Result<(SecretString, token::CacheKey), DirectoryError> {
        let url = self.token_url(cloud, tenant)?;
        let scope = cloud.graph_scope();
        let key = (format!("{url}"), scope.clone());
        let token = self
            .tokens
            .get_or_sign_in(&key, || self.clock.now(), || self.sign_in(url, &scope))
            .await?;
        Ok((token, key))
    }

    /// One sign-in of the rotator at the token endpoint `url` for `scope` (its retries included).
    async fn sign_in(&self, url: url::Url, scope: &str) -> Result<token::Issued, DirectoryError> {
        let context = format!(
            "the rotator's own identity (client id {})",
            self.identity.client_id
        );
        // One assertion per token request (its retries included): each lives minutes, not hours.
        let assertion = match &self.identity.credential {
            RotatorCredential::Secret(_) => None,
            RotatorCredential::Certificate(c) => Some(
                c.assertion(&self.identity.client_id, url.as_str(), self.clock.now())
                    .inspect_err(log_failure)?,
            ),
            RotatorCredential::Federated(source) => {
                Some(source.token().await.inspect_err(log_failure)?)
            }
        };
        let auth = match (&self.identity.credential, &assertion) {
            (RotatorCredential::Secret(s), _) => token::ClientAuth::Secret(s),
            (_, Some(jwt)) => token::ClientAuth::Assertion(jwt),
            (_, None) => unreachable!("every assertion mode made one above"),
        };
        retry::run(&self.clock, "token request", Safety::Idempotent, || {
            Box::pin(token::request(
                &self.http,
                url.clone(),
                &self.identity.client_id,
                auth,
                scope,
                &context,
            ))
        })
        .await
        .inspect_err(log_failure)
    }

    /// One Graph call with the rotator's token, retried as its safety allows.
    pub(super) async fn graph(&self, app: &AppRef, call: &Call<'_>) -> Result<Raw, DirectoryError> {
        let url = wire::endpoint(
            &self.settings.graph_base(app.cloud),
            &call.path,
            "GRAPH_URL",
            self.settings.loopback_http,
        )?;
        retry::run(&self.clock, call.operation, call.safety, || {
            Box::pin(self.graph_attempt(app, call, &url))
        })
        .await
    }

    /// One attempt of [`Self::graph`].
    async fn graph_attempt(
        &self,
        app: &AppRef,
        call: &Call<'_>,
        url: &url::Url,
    ) -> Result<Raw, Failure> {
        let operation = call.operation;
        let (token, key) = self
            .rotator_token(app.cloud, &app.tenant_id)
            .await
            .map_err(Failure::fatal)?;
        let mut request = self
            .http
            .request(call.method.clone(), url.clone())
            .bearer_auth(token.expose_secret())
            .header("client-request-id", uuid::Uuid::new_v4().to_string());
        if let Some(b) = &call.body {
            request = request.json(b);
        }
        let raw = wire::send(request, operation).await?;
        if (200..300).contains(&raw.status) {
            return Ok(raw);
        }
        if raw.status == 401 {
            // Revoked or expired early: the next call signs in again.
            self.tokens.forget(&key);
        }
        let scrub: Vec<&SecretString> = match &self.identity.credential {
            RotatorCredential::Secret(s) => vec![s],
            _ => vec![],
        };
        let failure = graph::error(&raw, operation, &scrub);
        if !call.expected.contains(&raw.status) {
            log_failure(&failure.error);
        }
        Err(failure)
    }
}

/// One Graph request as a directory method describes it.
pub(super) struct Call<'a> {
    operation: &'a str,
    method: Method,
    /// Path and query below the Graph base.
    path: String,
    body: Option<Value>,
    safety: Safety,
    /// Statuses the caller treats as an answer: not logged as failures.
    expected: &'static [u16],
}

impl<'a> Call<'a> {
    pub(super) fn get(operation: &'a str, path: String) -> Self {
        Call {
            operation,
            method: Method::GET,
            path,
            body: None,
            safety: Safety::Idempotent,
            expected: &[],
        }
    }
    pub(super) fn post(operation: &'a str, path: String, body: Value, safety: Safety) -> Self {
        Call {
            operation,
            method: Method::POST,
            path,
            body: Some(body),
            safety,
            expected: &[],
        }
    }
    pub(super) fn expecting(mut self, statuses: &'static [u16]) -> Self {
        self.expected = statuses;
        self
    }
}

/// Logs a failure with Microsoft's request id and the status, never a body.
pub(super) fn log_failure(e: &DirectoryError) {
    match e {
        DirectoryError::Graph {
            operation,
            status,
            code,
            request_id,
            ..
        } => {
            tracing::warn!(
                operation,
                status,
                code,
                request_id = request_id.as_deref().unwrap_or(""),
                "Graph call failed"
            )
        }
        DirectoryError::Token {
            status,
            code,
            error,
            request_id,
            ..
        } => tracing::warn!(
            status,
            aadsts = code,
            error,
            request_id = request_id.as_deref().unwrap_or(""),
            "Entra token request refused"
        ),
        other => tracing::warn!(error = %other, "Entra call failed"),
    }
}
