//! Jamf Pro stand-in, following `docs/contracts/jamf-pro.md` and the 11.30.1 schema subset.
//!
//! One axum server on `127.0.0.1:0` serves the API under `/api`: both OAuth token paths (form
//! body; a bad client gets the RFC 6749 400), user tokens with HTTP Basic, keep-alive and
//! invalidate-token; a bearer token everywhere else (401 in Jamf's error shape); the
//! `jpro-ingress` node cookie on token responses; `GET/PUT /api/v2/smtp-server` with merge-patch
//! semantics and a write-only `clientSecret`; `POST /api/v1/smtp-server/test`, which really
//! asks the Entra token endpoint (`entra_login_url`) for a Graph token with the stored client id
//! and secret, as Jamf Pro does before it sends mail; notifications, version, health check and
//! SSO failover. Token expiry follows the injected clock.
//!
//! Where it departs from Jamf Pro: one node (the cookie is set and recorded but changes
//! nothing); no privileges (every valid token may do everything); the test mail is not sent
//! (Entra accepting the secret counts as success); the legacy web UI is not served.

mod server;
mod smtp;

use crate::clock::SharedClock;
use crate::config::Cloud;
use crate::RecordedRequest;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What the stand-in needs to know at start: where Entra is, and the Graph mail settings it holds.
#[derive(Debug, Clone)]
pub struct JamfSimConfig {
    /// Base of the Entra token endpoint (`{entra_login_url}/{tenant}/oauth2/v2.0/token`).
    pub entra_login_url: url::Url,
    /// Tenant of the Graph mail settings.
    pub tenant_id: String,
    /// Client id of the Graph mail settings.
    pub client_id: String,
    /// The initial Graph client secret it holds.
    pub secret: SecretString,
    /// Which cloud's Graph scope the SMTP test requests.
    pub cloud: Cloud,
}

/// The kinds of request the stand-in counts and can fail on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JamfOp {
    /// Any token issuance: `POST /api/v1/oauth/token`, `/api/oauth/token`, `/api/v1/auth/token`.
    Token,
    /// `GET /api/v2/smtp-server`.
    GetSmtp,
    /// `PUT /api/v2/smtp-server`.
    PutSmtp,
    /// `POST /api/v1/smtp-server/test`.
    SmtpTest,
    /// `GET /api/v1/notifications`.
    Notifications,
    /// `POST /api/v1/auth/keep-alive` and `/api/v1/auth/invalidate-token`.
    Session,
    /// Everything else (version, health check, SSO failover, unknown paths).
    Other,
    /// Every request (for `count` and `fail_next`).
    Any,
}

/// Handle to a running Jamf Pro stand-in: state and fault switches. Cheap to clone.
#[derive(Clone)]
pub struct JamfSim {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JamfSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JamfSim")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

struct Inner {
    addr: std::net::SocketAddr,
    clock: SharedClock,
    config: JamfSimConfig,
    /// Jamf Pro's own outbound client (to Entra).
    http: reqwest::Client,
    state: Mutex<State>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Bytes of oversized bodies handed to the connection so far.
    oversized_sent: Arc<AtomicUsize>,
    /// The legacy web UI (`crate::jamf_web`), served by a middleware in front of the API.
    web: crate::jamf_web::WebUi,
}

/// Everything the handlers share.
#[derive(Default)]
struct State {
    api_clients: HashMap<String, String>,
    users: HashMap<String, String>,
    /// Bearer token → when it expires.
    tokens: HashMap<String, chrono::DateTime<chrono::Utc>>,
    /// `SmtpServerV2` as GET returns it (no secret).
    smtp: Value,
    /// The write-only Graph client secret.
    smtp_secret: Option<String>,
    notifications: Vec<String>,
    fail: HashMap<JamfOp, (usize, u16)>,
    /// Requests left that answer an oversized body, by kind.
    oversize: HashMap<JamfOp, usize>,
    requests: Vec<RecordedRequest>,
    counts: HashMap<JamfOp, usize>,
    latency: Duration,
    legacy_oauth_only: bool,
    nodes: usize,
}

/// Lifetime of every token the stand-in issues (Jamf's default for user tokens).
const TOKEN_LIFETIME_SECS: i64 = 1800;

impl JamfSim {
    /// Starts the stand-in on `127.0.0.1:0`, holding Graph mail settings for `config`'s app.
    pub async fn start(config: JamfSimConfig, clock: SharedClock) -> JamfSim {
        use secrecy::ExposeSecret;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = State {
            smtp: json!({
                "enabled": true,
                "authenticationType": "GRAPH_API",
                "connectionSettings": {"host": "", "port": 25, "encryptionType": "NONE", "connectionTimeout": 5},
                "senderSettings": {"displayName": "Jamf Pro Server", "emailAddress": "jamf@example.com"},
                "graphApiCredentials": {"tenantId": config.tenant_id, "clientId": config.client_id},
            }),
            smtp_secret: Some(config.secret.expose_secret().to_string()),
            ..State::default()
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client builds");
        let web = crate::jamf_web::WebUi::new(config.entra_login_url.clone(), clock.clone());
        let sim = JamfSim {
            inner: Arc::new(Inner {
                addr,
                clock,
                config,
                http,
                state: Mutex::new(state),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
                oversized_sent: Arc::default(),
                web,
            }),
        };
        let app = server::router(sim.clone()).layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            crate::jamf_web::layer,
        ));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        sim
    }

    /// The server's base URL (`http://127.0.0.1:PORT/`).
    pub fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.inner.addr)).expect("loopback url")
    }

    /// Creates an API client (API Roles and Clients); returns its client id and secret.
    pub fn add_api_client(&self) -> (String, SecretString) {
        let id = uuid::Uuid::new_v4().to_string();
        let secret = server::random_token();
        self.state().api_clients.insert(id.clone(), secret.clone());
        (id, SecretString::from(secret))
    }

    /// Creates a local user account.
    pub fn add_user(&self, username: &str, password: &str) {
        self.state()
            .users
            .insert(username.to_string(), password.to_string());
    }

    /// The Graph client secret Jamf Pro holds now (for assertions).
    pub fn smtp_secret(&self) -> Option<String> {
        self.state().smtp_secret.clone()
    }

    /// The SMTP settings as `GET /api/v2/smtp-server` returns them (no secret).
    pub fn smtp_settings(&self) -> Value {
        self.state().smtp.clone()
    }

    /// Replaces the SMTP settings (not the secret), e.g. to configure another app or BASIC.
    pub fn set_smtp_settings(&self, settings: Value) {
        self.state().smtp = settings;
    }

    /// Sets the notifications `GET /api/v1/notifications` lists, by `NotificationType`.
    pub fn set_notifications(&self, types: &[&str]) {
        self.state().notifications = types.iter().map(|t| t.to_string()).collect();
    }

    /// Answers the next `n` requests of kind `op` with `status` in Jamf's error shape.
    pub fn fail_next(&self, op: JamfOp, n: usize, status: u16) {
        self.state().fail.insert(op, (n, status));
    }

    /// The next `n` requests of kind `op` answer 200 with a 256 MiB body streamed in 64 KiB
    /// chunks, no length declared (a broken proxy, a hostile server): a client that reads it
    /// whole holds it all. [`Self::oversized_bytes_sent`] tells how much of it went out.
    pub fn oversize_next(&self, op: JamfOp, n: usize) {
        self.state().oversize.insert(op, n);
    }

    /// Bytes of oversized bodies ([`Self::oversize_next`]) handed to the connection so far.
    pub fn oversized_bytes_sent(&self) -> usize {
        self.inner.oversized_sent.load(Ordering::SeqCst)
    }

    /// Ends every token issued so far: the next request with one gets 401.
    pub fn expire_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Makes `/api/v1/oauth/token` answer 404, like servers that only know `/api/oauth/token`.
    pub fn set_legacy_oauth_only(&self, legacy: bool) {
        self.state().legacy_oauth_only = legacy;
    }

    /// Holds every request this long before answering (network and server latency), so that
    /// concurrent requests overlap and [`Self::max_concurrent`] sees them.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Every request received, bodies included; the `authorization` header is never recorded.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// How many requests of kind `op` arrived ([`JamfOp::Any`]: all of them).
    pub fn count(&self, op: JamfOp) -> usize {
        let st = self.state();
        match op {
            JamfOp::Any => st.counts.values().sum(),
            op => st.counts.get(&op).copied().unwrap_or(0),
        }
    }

    /// The highest number of requests in flight at once so far.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }

    /// The legacy web UI: the Conditional Access page, sessions, layout and fault switches.
    pub fn web(&self) -> &crate::jamf_web::WebUi {
        &self.inner.web
    }

    /// Whether `username`/`password` is one of the local accounts (the web UI's login).
    pub(crate) fn user_password_ok(&self, username: &str, password: &str) -> bool {
        self.state()
            .users
            .get(username)
            .is_some_and(|p| p == password)
    }

    /// Records a request the web UI served, in the same log as the API's.
    pub(crate) fn record(&self, request: RecordedRequest) {
        self.state().requests.push(request);
    }

    /// Lets the web UI add or remove the notifications its heartbeat raises.
    pub(crate) fn update_notifications(&self, f: impl FnOnce(&mut Vec<String>)) {
        f(&mut self.state().notifications);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
