//! Entra ID token endpoint and Microsoft Graph client: a [`crate::ports::Directory`].
//!
//! [`GraphDirectory`] signs in as the rotator's own app registration (client credentials,
//! [`RotatorIdentity`]), caches that token per tenant and scope, and reads and changes the
//! target app's password credentials through Graph v1.0. It follows
//! `docs/contracts/entra-graph.md`.
//!
//! Layout: [`identity`] (the rotator's credentials), [`assertion`] (certificate client
//! assertions), [`federated`] (AWS STS web identity tokens), `token` (the token endpoint and cache),
//! `graph` (Graph's JSON and error shape), `policy` (app management policies), `retry` (what is
//! retried and how long to wait), `wire` (URLs, sending, strict JSON fields).

pub mod graph;
pub mod assertion;
pub mod federated;
pub mod identity;
mod own_secret;
pub mod policy;
pub mod retry;
mod signins;
pub mod token;
pub mod wire;

pub use assertion::CertificateCredential;
pub use federated::{StsWebIdentityTokens, WebIdentityTokens};
pub use identity::{RotatorCredential, RotatorIdentity, RotatorSignIn};
pub use own_secret::OwnSecret;

use crate::clock::SharedClock;
use crate::config::{Cloud, Settings};
use crate::ports::{AppRef, Application, Directory, DirectoryError, NewPassword, SecretCheck};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::Method;
use retry::{Failure, Safety};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use wire::{segment, Raw};

/// The fields the rotator reads from an application.
const APP_SELECT: &str = "$select=id,appId,displayName,passwordCredentials";

/// The real Entra ID / Microsoft Graph directory.
pub struct GraphDirectory {
    settings: Settings,
    identity: RotatorSignIn,
    clock: SharedClock,
    http: reqwest::Client,
    tokens: token::TokenCache,
}

impl std::fmt::Debug for GraphDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphDirectory")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl GraphDirectory {
    /// A directory client signing in as `identity` (a [`RotatorIdentity`] with its client
    /// secret, or any [`RotatorSignIn`]). Base URLs come from `settings` (per cloud, or
    /// `ENTRA_LOGIN_URL`/`GRAPH_URL`) and are checked before every use.
    pub fn new(settings: &Settings, identity: impl Into<RotatorSignIn>, clock: SharedClock) -> Self {
        Self {
            http: crate::http::client(settings.http_timeout, 4, false),
            settings: settings.clone(),
            identity: identity.into(),
            clock,
            tokens: token::TokenCache::default(),
        }
    }

    fn token_url(&self, cloud: Cloud, tenant: &str) -> Result<url::Url, DirectoryError> {
        let tenant = segment("tenant id", tenant)?;
        wire::endpoint(
            &self.settings.login_base(cloud),
            &format!("/{tenant}/oauth2/v2.0/token"),
            "ENTRA_LOGIN_URL",
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
            RotatorCredential::Federated(source) => Some(source.token().await.inspect_err(log_failure)?),
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
    async fn graph(&self, app: &AppRef, call: &Call<'_>) -> Result<Raw, DirectoryError> {
        let url = wire::endpoint(
            &self.settings.graph_base(app.cloud),
            &call.path,
            "GRAPH_URL",
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

    /// The app's Graph address: by object id when known, else by appId.
    fn app_path(app: &AppRef) -> Result<String, DirectoryError> {
        Ok(match &app.object_id {
            Some(id) => format!(
                "/v1.0/applications/{}",
                segment("application object id", id)?
            ),
            None => format!(
                "/v1.0/applications(appId='{}')",
                segment("application client id", &app.client_id)?
            ),
        })
    }

    /// The policy limit at `path`, or `None` when the rotator may not read it (403).
    async fn policy(
        &self,
        app: &AppRef,
        operation: &str,
        path: &str,
        parse: fn(&Value, &str) -> Result<Option<chrono::Duration>, DirectoryError>,
    ) -> Result<Option<chrono::Duration>, DirectoryError> {
        match self
            .graph(
                app,
                &Call::get(operation, path.to_string()).expecting(&[403]),
            )
            .await
        {
            Ok(raw) => parse(&raw.json(operation)?, operation),
            Err(DirectoryError::Graph {
                status: 403,
                request_id,
                ..
            }) => {
                tracing::info!(
                    operation,
                    request_id,
                    "not permitted to read the app management policy; assuming no limit from it"
                );
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// One Graph request as a directory method describes it.
struct Call<'a> {
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
    fn get(operation: &'a str, path: String) -> Self {
        Call {
            operation,
            method: Method::GET,
            path,
            body: None,
            safety: Safety::Idempotent,
            expected: &[],
        }
    }
    fn post(operation: &'a str, path: String, body: Value, safety: Safety) -> Self {
        Call {
            operation,
            method: Method::POST,
            path,
            body: Some(body),
            safety,
            expected: &[],
        }
    }
    fn expecting(mut self, statuses: &'static [u16]) -> Self {
        self.expected = statuses;
        self
    }
}

/// Logs a failure with Microsoft's request id and the status, never a body.
fn log_failure(e: &DirectoryError) {
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

/// True when a `removePassword` refusal means the key is already gone.
fn already_removed(e: &DirectoryError) -> bool {
    match e {
        DirectoryError::Graph { status: 404, .. } => true,
        DirectoryError::Graph {
            status: 400,
            code,
            message,
            ..
        } => {
            let m = message.to_ascii_lowercase();
            code == "Request_ResourceNotFound"
                || m.contains("no password credential")
                || (m.contains("key") && (m.contains("does not exist") || m.contains("not found")))
        }
        _ => false,
    }
}

#[async_trait]
impl Directory for GraphDirectory {
    async fn application(&self, app: &AppRef) -> Result<Application, DirectoryError> {
        let op = "GET application";
        let path = format!("{}?{APP_SELECT}", Self::app_path(app)?);
        let raw = self.graph(app, &Call::get(op, path)).await?;
        let found = graph::application(&raw.json(op)?, op)?;
        // A document whose object id and client id name different apps must not be acted on.
        if !found.client_id.eq_ignore_ascii_case(&app.client_id) {
            return Err(DirectoryError::Config(format!(
                "application object {} has client id {}, not {} as the document says",
                found.object_id, found.client_id, app.client_id
            )));
        }
        Ok(found)
    }

    async fn add_password(
        &self,
        app: &AppRef,
        display_name: &str,
        end: DateTime<Utc>,
    ) -> Result<NewPassword, DirectoryError> {
        let op = "addPassword";
        let path = format!("{}/addPassword", Self::app_path(app)?);
        let body = json!({"passwordCredential": {
            "displayName": display_name,
            "endDateTime": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }});
        let mut raw = self
            .graph(app, &Call::post(op, path, body, Safety::ThrottledOnly))
            .await?;
        let parsed = raw.json(op).and_then(|v| graph::new_password(v, op));
        // The body held the only copy of the secret besides the SecretString.
        secrecy::zeroize::Zeroize::zeroize(&mut raw.body);
        let created = parsed?;
        tracing::info!(key_id = created.credential.key_id, end = ?created.credential.end, "addPassword created a credential");
        Ok(created)
    }

    async fn remove_password(&self, app: &AppRef, key_id: &str) -> Result<(), DirectoryError> {
        let op = "removePassword";
        let path = format!("{}/removePassword", Self::app_path(app)?);
        let key_id = segment("key id", key_id)?;
        let body = json!({ "keyId": key_id });
        match self
            .graph(
                app,
                &Call::post(op, path, body, Safety::Idempotent).expecting(&[400, 404]),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(key_id, "removePassword removed a credential");
                Ok(())
            }
            Err(e) if already_removed(&e) => {
                tracing::info!(key_id, error = %e, "removePassword: the credential is already gone");
                Ok(())
            }
            Err(e) => {
                // Other statuses were logged by `graph`; the expected ones were not.
                if matches!(
                    e,
                    DirectoryError::Graph {
                        status: 400 | 404,
                        ..
                    }
                ) {
                    log_failure(&e);
                }
                Err(e)
            }
        }
    }

    async fn max_password_lifetime(
        &self,
        app: &AppRef,
    ) -> Result<Option<chrono::Duration>, DirectoryError> {
        let object_id = match &app.object_id {
            Some(id) => id.clone(),
            None => self.application(app).await?.object_id,
        };
        let path = format!(
            "/v1.0/applications/{}/appManagementPolicies",
            segment("application object id", &object_id)?
        );
        let per_app = self
            .policy(app, "GET appManagementPolicies", &path, policy::per_app)
            .await?;
        let default_path = "/v1.0/policies/defaultAppManagementPolicy";
        let tenant = self
            .policy(
                app,
                "GET defaultAppManagementPolicy",
                default_path,
                policy::tenant_default,
            )
            .await?;
        Ok([per_app, tenant].into_iter().flatten().min())
    }

    async fn key_last_used(&self, app: &AppRef, key_id: &str) -> Result<Option<DateTime<Utc>>, DirectoryError> {
        let op = "GET appCredentialSignInActivities";
        let filter = format!("appId eq '{}'", segment("application id", &app.client_id)?);
        let path = format!(
            "/beta/reports/appCredentialSignInActivities?{}",
            url::form_urlencoded::Serializer::new(String::new()).append_pair("$filter", &filter).finish()
        );
        let raw = self.graph(app, &Call::get(op, path)).await?;
        signins::last_used(&raw.json(op)?, key_id, op)
    }

    async fn check_secret(
        &self,
        app: &AppRef,
        secret: &SecretString,
        scope: &str,
    ) -> Result<SecretCheck, DirectoryError> {
        let url = self.token_url(app.cloud, &app.tenant_id)?;
        let context = format!("the secret being checked for app {}", app.client_id);
        match token::request(
            &self.http,
            url,
            &app.client_id,
            token::ClientAuth::Secret(secret),
            scope,
            &context,
        )
        .await
        {
            Ok(_) => Ok(SecretCheck::Accepted),
            Err(f) => match f.error.aadsts() {
                Some(7000215) => Ok(SecretCheck::NotAccepted),
                Some(7000222) => Ok(SecretCheck::Expired),
                _ => {
                    log_failure(&f.error);
                    Err(f.error)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_count_as_removed() {
        let g = |status: u16, code: &str, message: &str| DirectoryError::Graph {
            operation: "removePassword".into(),
            status,
            code: code.into(),
            message: message.into(),
            request_id: None,
        };
        assert!(already_removed(&g(404, "Request_ResourceNotFound", "")));
        assert!(already_removed(&g(
            400,
            "Request_BadRequest",
            "No password credential found with keyId 'x'."
        )));
        assert!(!already_removed(&g(
            400,
            "Request_BadRequest",
            "Invalid request body."
        )));
        assert!(!already_removed(&g(403, "Authorization_RequestDenied", "")));
    }

    #[test]
    fn app_paths_prefer_the_object_id_and_refuse_odd_ids() {
        let mut app = AppRef {
            cloud: Cloud::Global,
            tenant_id: "t".into(),
            client_id: "c-1".into(),
            object_id: None,
        };
        assert_eq!(
            GraphDirectory::app_path(&app).unwrap(),
            "/v1.0/applications(appId='c-1')"
        );
        app.object_id = Some("o-1".into());
        assert_eq!(
            GraphDirectory::app_path(&app).unwrap(),
            "/v1.0/applications/o-1"
        );
        app.object_id = Some("o-1/../x".into());
        assert!(matches!(
            GraphDirectory::app_path(&app),
            Err(DirectoryError::Config(_))
        ));
    }
}
