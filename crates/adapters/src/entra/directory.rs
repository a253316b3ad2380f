//! [`GraphDirectory`], the real [`crate::ports::Directory`]: reads and changes the target app's
//! password credentials through Graph v1.0.

use super::call::{log_failure, Call};
use super::retry::Safety;
use super::wire::segment;
use super::{graph, policy, signins, token, RotatorSignIn};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::ports::{AppRef, Application, Directory, DirectoryError, NewPassword, SecretCheck};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{json, Value};

/// The fields the rotator reads from an application.
const APP_SELECT: &str = "$select=id,appId,displayName,passwordCredentials";

/// The real Entra ID / Microsoft Graph directory.
pub struct GraphDirectory {
    pub(super) settings: Settings,
    pub(super) identity: RotatorSignIn,
    pub(super) clock: SharedClock,
    pub(super) http: reqwest::Client,
    pub(super) tokens: token::TokenCache,
}

impl std::fmt::Debug for GraphDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphDirectory")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl GraphDirectory {
    /// A directory client signing in as `identity` (a [`RotatorIdentity`](super::RotatorIdentity)
    /// with its client secret, or any [`RotatorSignIn`]). Base URLs come from `settings` (per
    /// cloud, or `ENTRA_LOGIN_URL`/`GRAPH_URL`) and are checked before every use.
    pub fn new(
        settings: &Settings,
        identity: impl Into<RotatorSignIn>,
        clock: SharedClock,
    ) -> Self {
        Self {
            http: crate::http::client(settings.http_timeout, 4, false),
            settings: settings.clone(),
            identity: identity.into(),
            clock,
            tokens: token::TokenCache::default(),
        }
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

    async fn key_last_used(
        &self,
        app: &AppRef,
        key_id: &str,
    ) -> Result<Option<DateTime<Utc>>, DirectoryError> {
        let op = "GET appCredentialSignInActivities";
        let filter = format!("appId eq '{}'", segment("application id", &app.client_id)?);
        let path = format!(
            "/beta/reports/appCredentialSignInActivities?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("$filter", &filter)
                .finish()
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
    use crate::config::Cloud;

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
