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
//! Where it departs from Jamf Pro: the markup is made up (Jamf publishes none), the test asks
//! Entra for a token rather than talking to Intune, and one node serves everything.

use super::jamf::JamfSim;
use super::RecordedRequest;
use crate::clock::SharedClock;
use crate::config::Cloud;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
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

/// The submit control the edit page renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitControl {
    /// `<input type="submit" name=.. value="Save">`.
    Input { name: String },
    /// `<button type="submit" name=.. value=..>Save</button>`.
    Button { name: String, value: String },
    /// A Cancel submit before the Save submit, both `name`.
    CancelAndSave { name: String },
    /// A nameless `<input type="submit" value="Save">`.
    Nameless,
}

/// How the edit page is laid out. The target must handle every variant with no code change.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Page path (with the leading `/`).
    pub page_path: String,
    /// Name of the enable checkbox.
    pub enabled_name: String,
    /// Name of the sovereign cloud select.
    pub cloud_name: String,
    /// Name of the domain input.
    pub domain_name: String,
    /// Name of the application-ID input.
    pub application_id_name: String,
    /// Name of the client-secret password input.
    pub secret_name: String,
    /// Prefix of every control's `id`.
    pub id_prefix: String,
    /// Whether `<label for>` elements name the fields.
    pub labels: bool,
    /// Extra controls: hidden, text, radio group, select, textarea, an unchecked checkbox, a
    /// disabled input, a Test button, and another form on the page.
    pub extra_controls: bool,
    /// Visible controls in reverse order.
    pub reversed: bool,
    /// The submit control.
    pub submit: SubmitControl,
    /// A second password input (a proxy password) in the form.
    pub second_password: bool,
    /// The page has no Intune form at all (integration managed elsewhere).
    pub no_form: bool,
    /// The save-time error text quotes the submitted secret (as a careless page might).
    pub echo_secret_in_errors: bool,
    /// Save errors are plain text without any error markup (an unrecognisable answer).
    pub quiet_errors: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            page_path: "/ConditionalAccess.html".into(),
            enabled_name: "intuneEnabled".into(),
            cloud_name: "sovereignCloud".into(),
            domain_name: "domainName".into(),
            application_id_name: "applicationId".into(),
            secret_name: "clientSecret".into(),
            id_prefix: "ca-".into(),
            labels: true,
            extra_controls: false,
            reversed: false,
            submit: SubmitControl::Input {
                name: "action".into(),
            },
            second_password: false,
            no_form: false,
            echo_secret_in_errors: false,
            quiet_errors: false,
        }
    }
}

impl Layout {
    /// Opaque names and ids, no labels: the application ID is recognisable only as the one GUID.
    pub fn opaque_names() -> Self {
        Self {
            enabled_name: "f_1".into(),
            cloud_name: "f_2".into(),
            domain_name: "f_3".into(),
            application_id_name: "f_4".into(),
            secret_name: "f_5".into(),
            id_prefix: "x".into(),
            labels: false,
            ..Self::default()
        }
    }

    /// Extra controls, reverse order, a `<button>` submit.
    pub fn extra_reordered_button() -> Self {
        Self {
            extra_controls: true,
            reversed: true,
            submit: SubmitControl::Button {
                name: "saveButton".into(),
                value: "save".into(),
            },
            application_id_name: "azure_client_id".into(),
            ..Self::default()
        }
    }

    /// Cancel and Save submits, snake-case names, another page path.
    pub fn cancel_and_save() -> Self {
        Self {
            page_path: "/legacy/ConditionalAccess.html".into(),
            enabled_name: "enable_intune".into(),
            cloud_name: "location".into(),
            domain_name: "tenant_domain".into(),
            application_id_name: "app_id".into(),
            secret_name: "app_secret".into(),
            submit: SubmitControl::CancelAndSave {
                name: "action".into(),
            },
            extra_controls: true,
            ..Self::default()
        }
    }
}

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
    /// The pairs the last rendered edit form holds (secret excluded), to check the POST.
    rendered: Vec<(String, String)>,
}

struct WebState {
    settings: Option<CaSettings>,
    layout: Layout,
    sessions: HashMap<String, Session>,
    sso_enforced: bool,
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
    #[allow(dead_code)]
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
    let cookie = parts
        .headers
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .map(|c| ("cookie".to_string(), c.to_string()));
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|c| ("content-type".to_string(), c.to_string()));
    sim.record(RecordedRequest {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: content_type.into_iter().chain(cookie).collect(),
        body: body_text,
        status: page.status,
        response: page.body.clone(),
    });
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn login_page(error: Option<&str>) -> String {
    format!(
        r#"<!DOCTYPE html><html><head><title>Jamf Pro Login</title></head><body>
<div class="login">{}<form method="post" action="" name="loginForm">
<label for="username">Username</label><input type="text" id="username" name="username">
<label for="password">Password</label><input type="password" id="password" name="password">
<input type="submit" value="Log In"></form></div></body></html>"#,
        error
            .map(|e| format!(r#"<div class="error">{}</div>"#, esc(e)))
            .unwrap_or_default()
    )
}

impl WebUi {
    async fn route(
        &self,
        sim: &JamfSim,
        method: &Method,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: &str,
    ) -> Page {
        let path = uri.path();
        let query: HashMap<String, String> =
            url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let session =
            cookie(headers, "JSESSIONID").filter(|s| self.state().sessions.contains_key(s));
        let page_path = self.state().layout.page_path.clone();
        match (method.as_str(), path) {
            ("POST", "/") => self.login(sim, headers, &query, body),
            ("GET", "/") | ("GET", "/index.html") => {
                if self.state().sso_enforced && !query.contains_key("failover") && session.is_none()
                {
                    return self.to_idp();
                }
                match session {
                    Some(_) => Page::html("<html><head><title>Jamf Pro Dashboard</title></head><body>Dashboard</body></html>".into()),
                    None => Page::html(login_page(None)),
                }
            }
            ("GET", "/logout.html") => {
                if let Some(s) = session {
                    let mut st = self.state();
                    st.sessions.remove(&s);
                    st.counts.logouts += 1;
                }
                Page::redirect("/")
            }
            (m, p) if p == page_path => {
                let Some(session) = session else {
                    return Page::html(login_page(None));
                };
                if m == "POST" {
                    self.save(&session, body).await
                } else if query.get("o").map(String::as_str) == Some("u") {
                    self.edit_page(&session, None, None)
                } else {
                    self.read_page()
                }
            }
            _ => Page {
                status: 404,
                body: "<html><head><title>Not Found</title></head><body>Not Found</body></html>"
                    .into(),
                headers: vec![],
            },
        }
    }

    fn to_idp(&self) -> Page {
        self.state().counts.sso_redirects += 1;
        Page::redirect("https://idp.example.com/saml2/sso?SAMLRequest=stand-in")
    }

    fn login(
        &self,
        sim: &JamfSim,
        headers: &HeaderMap,
        query: &HashMap<String, String>,
        body: &str,
    ) -> Page {
        let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        {
            let st = self.state();
            if st.sso_enforced
                && !query
                    .get("failover")
                    .is_some_and(|k| st.failover_keys.contains(k))
            {
                drop(st);
                return self.to_idp();
            }
        }
        let (Some(user), Some(password)) = (form.get("username"), form.get("password")) else {
            return Page::html(login_page(Some("Enter a username and password")));
        };
        if !sim.user_password_ok(user, password) {
            return Page::html(login_page(Some("Invalid username or password")));
        }
        let id = random();
        let mut st = self.state();
        st.sessions.insert(
            id.clone(),
            Session {
                csrf: random(),
                rendered: vec![],
            },
        );
        st.counts.logins += 1;
        let mut page = Page::redirect("/index.html");
        page.headers
            .push(("set-cookie", format!("JSESSIONID={id}; Path=/; HttpOnly")));
        if cookie(headers, "APBALANCEID").is_none() {
            page.headers.push((
                "set-cookie",
                format!("APBALANCEID=aws.node-{}; Path=/; HttpOnly", &random()[..6]),
            ));
        }
        page
    }

    /// The edit form with `values` (the stored settings, or what a failed POST submitted).
    fn edit_page(
        &self,
        session: &str,
        values: Option<(CaSettings, Vec<(String, String)>)>,
        error: Option<&str>,
    ) -> Page {
        let mut st = self.state();
        let layout = st.layout.clone();
        let Some(stored) = st.settings.clone() else {
            return Page::html("<html><head><title>Conditional Access</title></head><body>Not configured</body></html>".into());
        };
        if layout.no_form {
            return Page::html(
                "<html><head><title>Conditional Access - Jamf Pro</title></head><body><h2>Microsoft Intune Integration</h2>\
                 <p>This server uses Device Compliance; there is nothing to edit here.</p></body></html>"
                    .into(),
            );
        }
        let (s, echoed_secret) = match &values {
            Some((v, _)) => (v.clone(), Some(v.secret.clone())),
            None => (stored, None),
        };
        let csrf = st
            .sessions
            .get(session)
            .map(|x| x.csrf.clone())
            .unwrap_or_default();
        let id = |n: &str| format!("{}{n}", layout.id_prefix);
        let label = |n: &str, text: &str| {
            if layout.labels {
                format!(r#"<label for="{}">{text}</label>"#, id(n))
            } else {
                String::new()
            }
        };
        let mut rendered = vec![("session-token".to_string(), csrf.clone())];
        let mut visible: Vec<String> = Vec::new();
        let checked = if s.enabled { " checked" } else { "" };
        visible.push(format!(
            r#"<div>{}<input type="checkbox" id="{}" name="{}" value="true"{checked}></div>"#,
            label(&layout.enabled_name, "Enable Microsoft Intune Integration"),
            id(&layout.enabled_name),
            layout.enabled_name
        ));
        let options: String = [Cloud::Global, Cloud::Usgov, Cloud::UsgovDod, Cloud::China]
            .iter()
            .map(|c| {
                format!(
                    r#"<option value="{}"{}>{}</option>"#,
                    c.as_str().to_uppercase(),
                    if *c == s.cloud { " selected" } else { "" },
                    c.as_str()
                )
            })
            .collect();
        visible.push(format!(
            r#"<div>{}<select id="{}" name="{}">{options}</select></div>"#,
            label(&layout.cloud_name, "Sovereign Cloud"),
            id(&layout.cloud_name),
            layout.cloud_name
        ));
        visible.push(format!(
            r#"<div>{}<input type="text" id="{}" name="{}" value="{}"></div>"#,
            label(&layout.domain_name, "Domain Name"),
            id(&layout.domain_name),
            layout.domain_name,
            esc(&s.domain)
        ));
        visible.push(format!(
            r#"<div>{}<input type="text" id="{}" name="{}" value="{}"></div>"#,
            label(&layout.application_id_name, "Application ID"),
            id(&layout.application_id_name),
            layout.application_id_name,
            esc(&s.application_id)
        ));
        // Jamf Pro never shows the stored secret; a re-rendered failed POST shows what was sent.
        visible.push(format!(
            r#"<div>{}<input type="password" id="{}" name="{}" value="{}" autocomplete="off"></div>"#,
            label(&layout.secret_name, "Client Secret"),
            id(&layout.secret_name),
            layout.secret_name,
            esc(echoed_secret.as_deref().unwrap_or("********"))
        ));
        if s.enabled {
            rendered.push((layout.enabled_name.clone(), "true".into()));
        }
        rendered.push((layout.cloud_name.clone(), s.cloud.as_str().to_uppercase()));
        rendered.push((layout.domain_name.clone(), s.domain.clone()));
        rendered.push((layout.application_id_name.clone(), s.application_id.clone()));
        if layout.second_password {
            visible.push(r#"<div><label for="proxyPassword">Proxy password</label><input type="password" id="proxyPassword" name="proxyPassword" value=""></div>"#.into());
            rendered.push(("proxyPassword".into(), String::new()));
        }
        let mut hidden = format!(r#"<input type="hidden" name="session-token" value="{csrf}">"#);
        if layout.extra_controls {
            hidden += r#"<input type="hidden" name="formVersion" value="3"><input type="hidden" name="id" value="1">"#;
            rendered.extend([
                ("formVersion".into(), "3".into()),
                ("id".into(), "1".into()),
            ]);
            visible.push(r#"<div><label for="displayName">Display name</label><input id="displayName" name="displayName" value="Contoso &amp; Co"></div>"#.into());
            visible.push(r#"<div><input type="radio" name="syncMode" value="delta"><input type="radio" name="syncMode" value="full" checked></div>"#.into());
            visible.push(r#"<div><select name="logLevel"><option value="info">info</option><option value="debug" selected>debug</option></select></div>"#.into());
            visible.push("<div><textarea name=\"notes\">\nmanaged by IT</textarea></div>".into());
            visible.push(r#"<div><input type="checkbox" name="beta" value="true"><input name="legacy" value="x" disabled><button type="button" name="test">Test</button></div>"#.into());
            rendered.extend([
                ("displayName".into(), "Contoso & Co".into()),
                ("syncMode".into(), "full".into()),
                ("logLevel".into(), "debug".into()),
                ("notes".into(), "managed by IT".into()),
            ]);
        }
        if layout.reversed {
            visible.reverse();
        }
        let submit = match &layout.submit {
            SubmitControl::Input { name } => {
                rendered.push((name.clone(), "Save".into()));
                format!(r#"<input type="submit" name="{name}" value="Save">"#)
            }
            SubmitControl::Button { name, value } => {
                rendered.push((name.clone(), value.clone()));
                format!(
                    r#"<button type="submit" name="{name}" value="{value}"><span>Save</span></button>"#
                )
            }
            SubmitControl::CancelAndSave { name } => {
                rendered.push((name.clone(), "Save".into()));
                format!(
                    r#"<input type="submit" name="{name}" value="Cancel"><input type="submit" name="{name}" value="Save">"#
                )
            }
            SubmitControl::Nameless => r#"<input type="submit" value="Save">"#.to_string(),
        };
        if let Some(sess) = st.sessions.get_mut(session) {
            sess.rendered = rendered;
        }
        let error = error
            .map(|e| match layout.quiet_errors {
                true => format!("<p>{}</p>", esc(e)),
                false => format!(r#"<div class="alert alert-danger error">{}</div>"#, esc(e)),
            })
            .unwrap_or_default();
        let other_form = if layout.extra_controls {
            r#"<form method="get" action="search.html"><input name="query" value=""></form>"#
        } else {
            ""
        };
        drop(st);
        Page::html(format!(
            r#"<!DOCTYPE html><html><head><title>Conditional Access - Jamf Pro</title></head><body>{other_form}
<h1>Conditional Access</h1>{error}
<form method="post" action="{path}?o=u" id="{prefix}form">{hidden}
<h2>Microsoft Intune Integration</h2>
{visible}
<div class="buttons">{submit}</div></form></body></html>"#,
            path = layout.page_path,
            prefix = layout.id_prefix,
            visible = visible.join("\n"),
        ))
    }

    fn read_page(&self) -> Page {
        let st = self.state();
        let Some(s) = st.settings.clone() else {
            return Page::html("<html><head><title>Conditional Access</title></head><body>Not configured</body></html>".into());
        };
        Page::html(format!(
            r#"<!DOCTYPE html><html><head><title>Conditional Access - Jamf Pro</title></head><body>
<h1>Conditional Access</h1><h2>Microsoft Intune Integration</h2>
<dl><dt>Enabled</dt><dd>{}</dd><dt>Sovereign Cloud</dt><dd>{}</dd><dt>Domain Name</dt><dd>{}</dd>
<dt>Application ID</dt><dd>{}</dd><dt>Client Secret</dt><dd>********</dd></dl>
<a href="{}?o=u">Edit</a></body></html>"#,
            s.enabled,
            s.cloud.as_str(),
            esc(&s.domain),
            esc(&s.application_id),
            st.layout.page_path
        ))
    }

    async fn save(&self, session: &str, body: &str) -> Page {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let (layout, expected, stored) = {
            let mut st = self.state();
            st.counts.save_posts += 1;
            if st.expire_before_save > 0 {
                st.expire_before_save -= 1;
                st.sessions.clear();
                return Page::html(login_page(None));
            }
            let sess = st.sessions.get(session).expect("checked by route");
            let token_ok = pairs
                .iter()
                .any(|(k, v)| k == "session-token" && *v == sess.csrf);
            if !token_ok {
                return Page {
                    status: 403,
                    body: "<html><head><title>Forbidden</title></head><body><div class=\"error\">Invalid session token</div></body></html>".into(),
                    headers: vec![],
                };
            }
            (
                st.layout.clone(),
                sess.rendered.clone(),
                st.settings.clone(),
            )
        };
        let Some(stored) = stored else {
            return Page::html("<html><body>Not configured</body></html>".into());
        };
        // Every pair but the secret must come back exactly as the page rendered it.
        let mut sent: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| *k != layout.secret_name)
            .cloned()
            .collect();
        let mut want = expected.clone();
        sent.sort();
        want.sort();
        if sent != want {
            return self.edit_page(
                session,
                None,
                Some("The form was changed since it was displayed. Reload the page and try again."),
            );
        }
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let Some(secret) = get(&layout.secret_name).filter(|s| !s.is_empty()) else {
            return self.edit_page(session, None, Some("Client Secret is required."));
        };
        let cloud = get(&layout.cloud_name)
            .and_then(|c| c.to_lowercase().parse::<Cloud>().ok())
            .unwrap_or(stored.cloud);
        let next = CaSettings {
            enabled: get(&layout.enabled_name).is_some(),
            cloud,
            domain: get(&layout.domain_name).unwrap_or_default(),
            application_id: get(&layout.application_id_name).unwrap_or_default(),
            secret: secret.clone(),
        };
        let forced = {
            let mut st = self.state();
            let f = st.fail_saves > 0;
            st.fail_saves = st.fail_saves.saturating_sub(1);
            f
        };
        let tested = if forced {
            Err("Microsoft Intune did not respond in time".to_string())
        } else if next.enabled {
            self.secret_works(&next).await
        } else {
            Ok(())
        };
        if let Err(reason) = tested {
            let mut message = format!("Unable to connect to Microsoft Intune. Verify the Application ID and Client Secret. {reason}");
            if layout.echo_secret_in_errors {
                message = format!("{message} (client secret {secret})");
            }
            return self.edit_page(session, Some((next, vec![])), Some(&message));
        }
        let mut st = self.state();
        st.counts.saves += 1;
        let changed = st
            .settings
            .as_ref()
            .map(|s| s.secret != next.secret)
            .unwrap_or(true);
        st.injected = if changed {
            std::mem::take(&mut st.notify_after_change)
        } else {
            vec![]
        };
        st.settings = Some(next);
        Page::redirect(&format!("{}?o=r", layout.page_path))
    }
}
