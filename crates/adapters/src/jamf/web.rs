//! A session on Jamf Pro's web UI, for the settings that have no API (the `conditional-access`
//! target). It logs in the way the login page does (the form fields `username` and `password`
//! POSTed to the server's base URL; where SSO is enforced, to the failover URL from
//! `GET /api/v1/sso/failover`), keeps the session and load-balancer cookies in the
//! [`JamfClient`]'s jar, and passes every request through the client's gate,
//! [`JamfClient::send_once`] (the server's five-connection limit, shared with the API calls and
//! every other client of that server, and the timeouts). Redirects are followed by hand, within
//! the server only.
//!
//! Re-login after a session expired mid-flow is the caller's decision ([`WebSession::relogin`]
//! allows it once), because only the caller knows which request must be repeated.

use super::client::{JamfClient, Reply};
use super::conditional_access::{off_runtime, PARSE_TIME_LIMIT};
use super::credentials::JamfCredentials;
use super::errors;
use super::form::{is_login_page, Encoded};
use crate::ports::TargetError;
use crate::redact::REDACTED;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Same-server redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// Path of the page that ends a session.
pub const LOGOUT_PATH: &str = "logout.html";

/// A page the server answered with, after redirects.
pub struct Page {
    /// Where it came from (after redirects).
    pub url: Url,
    /// HTTP status of the last answer.
    pub status: u16,
    /// The body as text.
    pub html: String,
}

/// A logged-in web session on one Jamf Pro server.
pub struct WebSession {
    client: JamfClient,
    /// The SSO failover login URL, once the server turned out to enforce SSO. It carries a key
    /// that bypasses SSO, so it is never logged.
    failover: Option<SecretString>,
    logged_in: bool,
    relogins_left: usize,
}

impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSession")
            .field("server", &self.client.server())
            .field("failover", &self.failover.as_ref().map(|_| REDACTED))
            .field("logged_in", &self.logged_in)
            .finish()
    }
}

/// How the server answered the login form.
enum LoginAnswer {
    LoggedIn,
    SsoEnforced,
    Refused,
}

impl WebSession {
    /// A session (not yet logged in) over `client`, which must hold a user account.
    pub fn new(client: JamfClient) -> Self {
        Self {
            client,
            failover: None,
            logged_in: false,
            relogins_left: 1,
        }
    }

    /// The client underneath (its API calls share the jar and the connection limit).
    pub fn client(&self) -> &JamfClient {
        &self.client
    }

    /// Logs in with the client's user account, through the SSO failover URL when the server
    /// sends the login form to an identity provider.
    pub async fn login(&mut self) -> Result<(), TargetError> {
        let JamfCredentials::User { username, password } = self.client.credentials().clone() else {
            return Err(TargetError::Config(
                "the conditional-access target logs in to Jamf Pro's web UI and needs a user account: store \
                 {\"username\",\"password\"} in the Jamf credentials secret"
                    .into(),
            ));
        };
        for _ in 0..2 {
            let via_failover = self.failover.is_some();
            let target = match &self.failover {
                Some(f) => {
                    Url::parse(f.expose_secret()).map_err(|_| TargetError::InvalidResponse {
                        operation: format!("GET /{}", super::api::SSO_FAILOVER),
                        message: "the failover URL is not a URL".into(),
                    })?
                }
                None => self.client.base_url().clone(),
            };
            // The password goes to this server only, whatever the failover URL says.
            self.same_server(&target)?;
            let operation = if via_failover {
                "POST the SSO failover login page".to_string()
            } else {
                "POST / (login)".to_string()
            };
            let form = [
                ("username", username.as_str()),
                ("password", password.expose_secret()),
            ];
            let request = self.client.http().post(target.clone()).form(&form);
            let reply = self
                .client
                .send_once(request)
                .await
                .map_err(|e| errors::transport(&operation, &e))?;
            // The answer is read off the runtime like every page (it may be any size up to the
            // body cap): is it the login form again?
            let body = reply.body.clone();
            let shows_login = reply.status == 200
                && off_runtime(&operation, PARSE_TIME_LIMIT, move || {
                    Ok(is_login_page(&String::from_utf8_lossy(&body)))
                })
                .await?;
            match self.login_answer(&target, &reply, shows_login, &operation, &password)? {
                LoginAnswer::LoggedIn => {
                    tracing::info!(server = self.client.server(), sso_failover = via_failover, "logged in to Jamf Pro's web UI");
                    self.logged_in = true;
                    return Ok(());
                }
                LoginAnswer::SsoEnforced if !via_failover => {
                    tracing::info!(server = self.client.server(), "Jamf Pro enforces SSO; logging in through the failover URL");
                    let failover = self.client.sso_failover().await?;
                    self.failover = Some(failover.failover_url.ok_or_else(|| TargetError::InvalidResponse {
                        operation: format!("GET /{}", super::api::SSO_FAILOVER),
                        message: "SSO is enforced but Jamf Pro returned no failover URL".into(),
                    })?);
                }
                LoginAnswer::SsoEnforced => {
                    return Err(TargetError::Auth {
                        server: self.client.server().to_string(),
                        message: "the SSO failover login page also sent the login to the identity provider".into(),
                    })
                }
                LoginAnswer::Refused => {
                    return Err(TargetError::Auth {
                        server: self.client.server().to_string(),
                        message: format!("the web UI refused the login of '{username}' (wrong password, locked, or not a local account?)"),
                    })
                }
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    fn login_answer(
        &self,
        target: &Url,
        reply: &Reply,
        shows_login: bool,
        operation: &str,
        password: &SecretString,
    ) -> Result<LoginAnswer, TargetError> {
        match reply.status {
            300..=399 => {
                let location = location(target, reply).unwrap_or_else(|| target.clone());
                let to_idp = location.origin() != target.origin() || {
                    let p = location.path().to_ascii_lowercase();
                    p.contains("saml") || p.contains("sso") || p.contains("oauth")
                };
                Ok(if to_idp {
                    LoginAnswer::SsoEnforced
                } else {
                    LoginAnswer::LoggedIn
                })
            }
            200 => {
                let html = String::from_utf8_lossy(&reply.body);
                // SAML's POST binding: a page that posts itself to the identity provider.
                let to_idp = html.to_ascii_lowercase().contains("name=\"samlrequest\"");
                Ok(if to_idp {
                    LoginAnswer::SsoEnforced
                } else if shows_login {
                    LoginAnswer::Refused
                } else {
                    LoginAnswer::LoggedIn
                })
            }
            status => Err(errors::api_error(
                operation,
                status,
                &reply.body,
                &[password],
            )),
        }
    }

    /// Allows one more login after the server served its login page mid-flow; false when the
    /// one re-login was used already.
    pub async fn relogin(&mut self) -> Result<bool, TargetError> {
        if self.relogins_left == 0 {
            return Ok(false);
        }
        self.relogins_left -= 1;
        tracing::info!(
            server = self.client.server(),
            "Jamf Pro's web session expired; logging in again"
        );
        self.logged_in = false;
        self.login().await?;
        Ok(true)
    }

    /// `GET` a page below the base URL (`path` relative, like `ConditionalAccess.html?o=u`).
    pub async fn get(&self, path: &str) -> Result<Page, TargetError> {
        let url = self.client.url(path);
        self.fetch(url, None, &[]).await
    }

    /// `POST`s a form submission (in the form's own encoding) to `url` (same server only) and
    /// follows the answer's redirects. `secrets` are scrubbed from any message.
    pub async fn post_form(
        &self,
        url: &Url,
        body: Encoded,
        secrets: &[&SecretString],
    ) -> Result<Page, TargetError> {
        self.fetch(url.clone(), Some(body), secrets).await
    }

    async fn fetch(
        &self,
        mut url: Url,
        mut body: Option<Encoded>,
        secrets: &[&SecretString],
    ) -> Result<Page, TargetError> {
        for _ in 0..=MAX_REDIRECTS {
            self.same_server(&url)?;
            let operation = format!(
                "{} {}",
                if body.is_some() { "POST" } else { "GET" },
                path_of(&url)
            );
            let request = match body.take() {
                Some(b) => self
                    .client
                    .http()
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, b.content_type)
                    .body(b.body),
                None => self.client.http().get(url.clone()),
            };
            let reply = self
                .client
                .send_once(request)
                .await
                .map_err(|e| errors::transport(&operation, &e))?;
            match reply.status {
                300..=399 => {
                    url = location(&url, &reply).ok_or_else(|| TargetError::InvalidResponse {
                        operation: operation.clone(),
                        message: format!("HTTP {} without a usable Location", reply.status),
                    })?;
                }
                200..=299 => {
                    return Ok(Page {
                        url,
                        status: reply.status,
                        html: String::from_utf8_lossy(&reply.body).into_owned(),
                    });
                }
                status => {
                    let mut all: Vec<&SecretString> = secrets.to_vec();
                    all.push(self.client.credentials().secret());
                    return Err(errors::api_error(&operation, status, &reply.body, &all));
                }
            }
        }
        Err(TargetError::InvalidResponse {
            operation: format!("GET {}", path_of(&url)),
            message: "too many redirects".into(),
        })
    }

    fn same_server(&self, url: &Url) -> Result<(), TargetError> {
        if url.origin() == self.client.base_url().origin() {
            Ok(())
        } else {
            Err(TargetError::InvalidResponse {
                operation: "following a redirect".into(),
                message: format!(
                    "Jamf Pro redirected to another server ({})",
                    url.host_str().unwrap_or("?")
                ),
            })
        }
    }

    /// Ends the session (`GET logout.html`). Failures are logged, not returned: the work is done.
    pub async fn logout(&mut self) {
        if !self.logged_in {
            return;
        }
        self.logged_in = false;
        let request = self.client.http().get(self.client.url(LOGOUT_PATH));
        match self.client.send_once(request).await {
            Ok(r) if r.status < 400 => tracing::debug!(
                server = self.client.server(),
                "logged out of Jamf Pro's web UI"
            ),
            Ok(r) => tracing::warn!(
                server = self.client.server(),
                status = r.status,
                "logging out of Jamf Pro's web UI failed"
            ),
            Err(e) => tracing::warn!(
                server = self.client.server(),
                "logging out of Jamf Pro's web UI failed: {}",
                errors::transport("GET /logout.html", &e)
            ),
        }
    }
}

/// The path of a URL for messages, without `;parameters`, query or fragment
/// ([`crate::http::label_path`]): a redirect may put a session id or a token in any of them.
fn path_of(url: &Url) -> String {
    crate::http::label_path(url.path())
}

fn location(base: &Url, reply: &Reply) -> Option<Url> {
    let value = reply
        .headers
        .get(reqwest::header::LOCATION)?
        .to_str()
        .ok()?;
    base.join(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SharedClock;
    use crate::config::{Cloud, Settings};
    use crate::jamf::client::{server_permits, MAX_CONNECTIONS};
    use rotator_testkit::clock::ManualClock;
    use rotator_testkit::jamf::{JamfSim, JamfSimConfig};
    use std::sync::Arc;
    use std::time::Duration;

    /// The web UI's requests count against the same per-server limit as the API's: while
    /// another client of the server holds all five permits, the login does not reach the server.
    #[tokio::test(start_paused = true)]
    async fn web_requests_wait_for_the_servers_permits() {
        let clock: SharedClock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let jamf = JamfSim::start(
            JamfSimConfig {
                entra_login_url: Url::parse("http://127.0.0.1:9/").unwrap(),
                tenant_id: "tenant".into(),
                client_id: "client".into(),
                secret: SecretString::from("graph-secret".to_string()),
                cloud: Cloud::Global,
            },
            clock.clone(),
        )
        .await;
        jamf.add_user("svc-rotator", "web-pw-1");
        let creds = JamfCredentials::parse(&SecretString::from(
            serde_json::json!({"username": "svc-rotator", "password": "web-pw-1"}).to_string(),
        ))
        .unwrap();
        let settings = Settings {
            loopback_http: crate::http::LoopbackHttp::Allowed,
            ..Settings::default()
        };
        let client = JamfClient::new(&jamf.url(), creds, &settings, clock).unwrap();
        let held = server_permits(&jamf.url())
            .acquire_many_owned(MAX_CONNECTIONS as u32)
            .await
            .unwrap();
        let mut session = WebSession::new(client);
        let login = tokio::spawn(async move { session.login().await.map(|()| session) });
        // A virtual second: time enough for an ungated login to reach the loopback server.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!login.is_finished(), "the login waits for a permit");
        assert!(jamf.requests().is_empty(), "nothing reached the server");
        drop(held);
        let mut session = login.await.unwrap().expect("logs in once a permit is free");
        assert!(session.logged_in);
        assert!(!jamf.requests().is_empty());
        session.logout().await;
        assert_eq!(
            server_permits(&jamf.url()).available_permits(),
            MAX_CONNECTIONS,
            "every permit came back"
        );
    }
}
