//! Jamf Pro's legacy web UI inside the Jamf Pro stand-in: what the `conditional-access` target
//! drives. A middleware in front of the API router serves every path outside `/api/`:
//!
//! - `GET /` the login page; `POST /` the login form (`username`, `password`, checked against the
//!   stand-in's users), a `JSESSIONID` session cookie and an `APBALANCEID` load-balancer cookie,
//!   then a redirect to the dashboard. With SSO enforced, a login that does not carry a failover
//!   key (from `GET /api/v1/sso/failover`) is redirected to an identity provider.
//! - `GET /ConditionalAccess.html?o=u` the Microsoft Intune integration's edit form (enable
//!   checkbox, sovereign cloud select, domain name, application ID, client secret password input,
//!   a `session-token` hidden input); `?o=r` the read view; an expired session gets the login page.
//! - `POST /ConditionalAccess.html?o=u` checks the session, the `session-token`, that every other
//!   pair came back exactly as rendered, then runs the save-time test: a token request to the
//!   Entra stand-in for the Intune scope with the submitted application ID and secret. It stores
//!   the settings and redirects to the read view, or re-renders the form with an error.
//! - `GET /logout.html` ends the session.
//!
//! `GET /api/v1/notifications` first runs a heartbeat: when the stored secret no longer works,
//! `CONDITIONAL_ACCESS_CONNECTION_ERROR` and `MII_HEARTBEAT_FAILED_NOTIFICATION` appear.
//! [`Layout`] varies names, ids, labels, order, extra controls and the submit control.
//!
//! Sessions end after [`SESSION_IDLE_MINUTES`] without a request (by the injected clock), on
//! logout, or on demand ([`WebUi::expire_sessions`], [`WebUi::expire_sessions_before_next_saves`]).
//!
//! Where it departs from Jamf Pro: the markup is made up (Jamf publishes none), the test asks
//! Entra for a token rather than talking to Intune, one node serves everything, no privileges are
//! checked, and the API's fault switches (`fail_next`, latency) do not apply to web pages.

mod handlers;
mod layout;
mod pages;

pub use layout::{hostile_forms, Layout, SubmitControl, TOKEN_FIELDS};

use super::jamf::JamfSim;
use super::RecordedRequest;
use crate::clock::SharedClock;
use crate::config::Cloud;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// The notification types the heartbeat raises when the stored secret stops working.
pub const HEARTBEAT_NOTIFICATIONS: [&str; 2] = [
    "CONDITIONAL_ACCESS_CONNECTION_ERROR",
    "MII_HEARTBEAT_FAILED_NOTIFICATION",
];

/// The Microsoft Intune integration's settings as Jamf Pro stores them.
#[derive(Clone, PartialEq, Eq)]
pub struct CaSettings {
    /// "Enable Microsoft Intune Integration".
    pub enabled: bool,
    /// Sovereign cloud / location.
    pub cloud: Cloud,
    /// Domain name (tenant).
    pub domain: String,
    /// Application ID.
    pub application_id: String,
    /// Client secret.
    pub secret: String,
}

impl std::fmt::Debug for CaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaSettings")
            .field("enabled", &self.enabled)
            .field("cloud", &self.cloud)
            .field("domain", &self.domain)
            .field("application_id", &self.application_id)
            .finish_non_exhaustive()
    }
}

/// Minutes a web session lives without a request (Jamf Pro's default web timeout).
pub const SESSION_IDLE_MINUTES: i64 = 30;

/// Counters of what the web UI was asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebCounts {
    /// Successful logins.
    pub logins: usize,
    /// Login attempts sent to the identity provider (SSO enforced).
    pub sso_redirects: usize,
    /// POSTs to the settings page (any outcome).
    pub save_posts: usize,
    /// Saves that stored settings.
    pub saves: usize,
    /// Logouts.
    pub logouts: usize,
}

struct Session {
    csrf: String,
    /// Last request on the session (the injected clock): idle sessions expire.
    last_seen: chrono::DateTime<chrono::Utc>,
    /// The pairs the last rendered edit form holds (secret excluded), to check the POST.
    rendered: Vec<(String, String)>,
}

struct WebState {
    settings: Option<CaSettings>,
    layout: Layout,
    sessions: HashMap<String, Session>,
    sso_enforced: bool,
    sso_post_binding: bool,
    failover_keys: HashSet<String>,
    expire_before_save: usize,
    fail_saves: usize,
    notify_after_change: Vec<String>,
    /// Notifications this UI added to the API's list (heartbeat and injected).
    raised: Vec<String>,
    injected: Vec<String>,
    counts: WebCounts,
}

/// Handle to the web UI of one Jamf Pro stand-in. Cheap to clone.
#[derive(Clone)]
pub struct WebUi {
    inner: Arc<Mutex<WebState>>,
    entra_login_url: url::Url,
    http: reqwest::Client,
    clock: SharedClock,
}

impl std::fmt::Debug for WebUi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebUi").finish_non_exhaustive()
    }
}

/// A web answer, recorded before it is sent.
struct Page {
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
}

impl Page {
    fn html(body: String) -> Self {
        Page {
            status: 200,
            body,
            headers: vec![],
        }
    }
    fn redirect(to: &str) -> Self {
        Page {
            status: 302,
            body: String::new(),
            headers: vec![("location", to.to_string())],
        }
    }
}

impl WebUi {
    /// A web UI asking the Entra stand-in at `entra_login_url` for the save-time test.
    pub fn new(entra_login_url: url::Url, clock: SharedClock) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("reqwest client builds");
        let state = WebState {
            settings: None,
            layout: Layout::default(),
            sessions: HashMap::new(),
            sso_enforced: false,
            sso_post_binding: false,
            failover_keys: HashSet::new(),
            expire_before_save: 0,
            fail_saves: 0,
            notify_after_change: vec![],
            raised: vec![],
            injected: vec![],
            counts: WebCounts::default(),
        };
        Self {
            inner: Arc::new(Mutex::new(state)),
            entra_login_url,
            http,
            clock,
        }
    }

    /// True when `session` is live (known, used within [`SESSION_IDLE_MINUTES`]); renews it.
    fn touch(&self, session: &str) -> bool {
        let now = self.clock.now();
        let mut st = self.state();
        let idle = chrono::Duration::minutes(SESSION_IDLE_MINUTES);
        match st.sessions.get_mut(session) {
            Some(s) if now - s.last_seen < idle => {
                s.last_seen = now;
                true
            }
            Some(_) => {
                st.sessions.remove(session);
                false
            }
            None => false,
        }
    }

    fn state(&self) -> MutexGuard<'_, WebState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Configures the Microsoft Intune integration (as an administrator did by hand).
    pub fn configure(&self, settings: CaSettings) {
        self.state().settings = Some(settings);
    }

    /// The integration's settings now (for assertions).
    pub fn settings(&self) -> Option<CaSettings> {
        self.state().settings.clone()
    }

    /// The client secret Jamf Pro holds now.
    pub fn secret(&self) -> Option<String> {
        self.state().settings.as_ref().map(|s| s.secret.clone())
    }

    /// Changes the edit page's layout.
    pub fn set_layout(&self, layout: Layout) {
        self.state().layout = layout;
    }

    /// The page path of the current layout (without the leading `/`, with `?o=u`).
    pub fn edit_path(&self) -> String {
        format!(
            "{}?o=u",
            self.state().layout.page_path.trim_start_matches('/')
        )
    }

    /// Enforces SSO for the web UI: local logins only through the failover URL.
    pub fn set_sso_enforced(&self, on: bool) {
        self.state().sso_enforced = on;
    }

    /// With SSO enforced, sends logins to the identity provider with SAML's POST binding (a
    /// self-posting page) instead of a redirect.
    pub fn set_sso_post_binding(&self, on: bool) {
        self.state().sso_post_binding = on;
    }

    /// Ends every web session now.
    pub fn expire_sessions(&self) {
        self.state().sessions.clear();
    }

    /// The next `n` POSTs to the settings page find their session expired.
    pub fn expire_sessions_before_next_saves(&self, n: usize) {
        self.state().expire_before_save = n;
    }

    /// The next `n` save-time tests fail whatever was submitted (Microsoft unreachable, say).
    pub fn fail_next_save_tests(&self, n: usize) {
        self.state().fail_saves = n;
    }

    /// After the next save that changes the secret, these notifications appear (until the next
    /// save): Jamf Pro noticing a problem only after the change.
    pub fn notify_after_next_change(&self, types: &[&str]) {
        self.state().notify_after_change = types.iter().map(|t| t.to_string()).collect();
    }

    /// What the web UI was asked to do.
    pub fn counts(&self) -> WebCounts {
        self.state().counts.clone()
    }

    /// Number of live sessions.
    pub fn sessions(&self) -> usize {
        self.state().sessions.len()
    }

    /// Whether Entra accepts the stored secret for the integration's resource now.
    async fn secret_works(&self, s: &CaSettings) -> Result<(), String> {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.entra_login_url.as_str().trim_end_matches('/'),
            s.domain
        );
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", s.application_id.as_str()),
            ("client_secret", s.secret.as_str()),
            ("scope", s.cloud.intune_scope()),
        ];
        match self.http.post(url).form(&form).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let reason = body
                    .get("error_description")
                    .and_then(|v| v.as_str())
                    .unwrap_or("no description");
                Err(reason.lines().next().unwrap_or(reason).to_string())
            }
            Err(e) => Err(format!("Microsoft could not be reached: {e}")),
        }
    }

    /// The heartbeat run before the API lists notifications: raises or clears the heartbeat
    /// notifications, and returns the list this UI contributes.
    async fn heartbeat(&self) -> Vec<String> {
        let settings = self.settings().filter(|s| s.enabled);
        let failing = match &settings {
            Some(s) => self.secret_works(s).await.is_err(),
            None => false,
        };
        let mut raised: Vec<String> = self.state().injected.clone();
        if failing {
            raised.extend(HEARTBEAT_NOTIFICATIONS.iter().map(|t| t.to_string()));
        }
        raised
    }
}

/// The middleware: serves the web UI, runs the heartbeat before `GET /api/v1/notifications`,
/// and learns failover keys from `GET /api/v1/sso/failover`; everything else goes to the API.
pub async fn layer(State(sim): State<JamfSim>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let web = sim.web().clone();
    if path == "/api/v1/notifications" {
        let now = web.heartbeat().await;
        let before = std::mem::replace(&mut web.state().raised, now.clone());
        sim.update_notifications(|list| {
            for t in &before {
                if let Some(i) = list.iter().position(|x| x == t) {
                    list.remove(i);
                }
            }
            list.extend(now);
        });
        return next.run(req).await;
    }
    if path == "/api/v1/sso/failover" {
        let response = next.run(req).await;
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        if let Some(key) = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("failoverUrl")
                    .and_then(|u| u.as_str())
                    .map(str::to_string)
            })
            .and_then(|u| url::Url::parse(&u).ok())
            .and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "failover")
                    .map(|(_, v)| v.into_owned())
            })
        {
            web.state().failover_keys.insert(key);
        }
        return Response::from_parts(parts, Body::from(bytes));
    }
    if path.starts_with("/api/") {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let body_text = String::from_utf8_lossy(&bytes).into_owned();
    let page = web
        .route(&sim, &parts.method, &parts.uri, &parts.headers, &body_text)
        .await;
    sim.record(RecordedRequest::new(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &["content-type", "cookie"],
        body_text,
        page.status,
        page.body.clone(),
    ));
    let mut response = (
        StatusCode::from_u16(page.status).expect("valid status"),
        page.body,
    )
        .into_response();
    let h = response.headers_mut();
    h.insert(
        "content-type",
        "text/html;charset=UTF-8".parse().expect("static header"),
    );
    for (name, value) in page.headers {
        h.append(name, value.parse().expect("header value"));
    }
    response
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn random() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
