//! Entra ID / Microsoft Graph stand-in, following `docs/contracts/entra-graph.md`.
//!
//! One axum server on `127.0.0.1:0` serves both the token endpoint (`/{tenant}/oauth2/v2.0/token`)
//! and Graph (`/v1.0/…`, `/beta/reports/appCredentialSignInActivities`), so its [`EntraSim::url`]
//! is the base for both `ENTRA_LOGIN_URL` and `GRAPH_URL`. Time comes from the injected clock:
//! token expiry, secret expiry and propagation lag all follow virtual time in tests.
//!
//! Client assertions (certificate and federated) are verified for real: see
//! [`client_assertion`] for what is checked and which AADSTS code each refusal carries.
//!
//! Where it departs from the real service: tokens are opaque random strings, not JWTs; every
//! rotator has `Application.Read.All` and `Policy.Read.All` in its own tenant, and write access
//! only to apps it owns ([`EntraSim::make_owner`]); `$select` only trims top-level fields;
//! sign-in activity is recorded at once (the real report lags by minutes to hours).
//!
//! This file is long because routing, state and the two error shapes belong together; the
//! handlers share one lock-guarded [`State`] and splitting them would spread it across files.

use crate::clock::SharedClock;
use crate::ports::PasswordCredential;
use crate::sim::RecordedRequest;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rand::Rng;
use secrecy::SecretString;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

mod client_assertion;

/// The kinds of request the stand-in counts and can fail on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntraOp {
    /// `POST /{tenant}/oauth2/v2.0/token` (the rotator's own token and secret checks alike).
    Token,
    /// `GET /v1.0/applications/{id}` or `/applications(appId='…')`.
    GetApplication,
    /// `POST …/addPassword`.
    AddPassword,
    /// `POST …/removePassword`.
    RemovePassword,
    /// `GET …/appManagementPolicies` and `GET /v1.0/policies/defaultAppManagementPolicy`.
    Policy,
}

/// How [`EntraSim::corrupt_next`] spoils a successful answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// A 200 with an HTML page (a proxy's or captive portal's login page).
    Html,
    /// A 200 whose JSON body is cut off half way.
    Truncated,
}

/// An app registration created in the stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimApp {
    /// Object id (`id`).
    pub object_id: String,
    /// Application (client) id (`appId`).
    pub client_id: String,
}

/// Handle to a running Entra/Graph stand-in: state and fault switches. Cheap to clone.
#[derive(Clone)]
pub struct EntraSim {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EntraSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraSim")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

struct Inner {
    addr: std::net::SocketAddr,
    clock: SharedClock,
    state: Mutex<State>,
    /// Woken after every recorded request (chaos tests wait for the n-th one without sleeping).
    activity: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    /// tenant id → verified domain.
    tenants: HashMap<String, Option<String>>,
    apps: HashMap<String, App>,
    tokens: HashMap<String, Issued>,
    /// Certificates, federated identity credentials and issuer keys for client assertions.
    assertions: client_assertion::Trust,
    lag: Duration,
    tenant_max: Option<chrono::Duration>,
    /// How long a sign-in takes to show in the sign-in activity report.
    sign_in_report_lag: Duration,
    throttle: Option<(usize, u64)>,
    fail: HashMap<EntraOp, (usize, u16)>,
    corrupt: HashMap<EntraOp, (usize, Corruption)>,
    requests: Vec<RecordedRequest>,
    counts: HashMap<EntraOp, usize>,
    /// Held before every answer (network and server latency; scripts/bench).
    latency: Duration,
}

struct App {
    tenant: String,
    client_id: String,
    display_name: String,
    passwords: Vec<Password>,
    /// Client ids of rotators that own this app.
    owners: HashSet<String>,
    max_lifetime: Option<chrono::Duration>,
}

struct Password {
    key_id: String,
    display_name: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    secret: String,
    /// When the token endpoint starts accepting it: creation + lag (seeded ones at once).
    created: Option<DateTime<Utc>>,
    last_sign_in: Option<DateTime<Utc>>,
}

struct Issued {
    client_id: String,
    tenant: String,
    scope: String,
    expires: DateTime<Utc>,
}

/// What a handler answers; recorded before it is sent.
struct Reply {
    status: u16,
    body: String,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body: body.to_string(),
            content_type: "application/json",
            headers: vec![],
        }
    }
    fn empty(status: u16) -> Self {
        Reply {
            status,
            body: String::new(),
            content_type: "text/plain",
            headers: vec![],
        }
    }
}

impl EntraSim {
    /// Starts the stand-in on `127.0.0.1:0`.
    pub async fn start(clock: SharedClock) -> EntraSim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let sim = EntraSim {
            inner: Arc::new(Inner {
                addr,
                clock,
                state: Mutex::new(State::default()),
                activity: tokio::sync::Notify::new(),
            }),
        };
        sim.state().assertions.base = sim.url().to_string();
        let handle = sim.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let sim = handle.clone();
                async move {
                    let latency = sim.state().latency;
                    if !latency.is_zero() {
                        tokio::time::sleep(latency).await;
                    }
                    sim.handle(method, uri, headers, body)
                }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        sim
    }

    /// The base URL for both `ENTRA_LOGIN_URL` and `GRAPH_URL` (`http://127.0.0.1:PORT/`).
    pub fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.inner.addr)).expect("loopback url")
    }

    /// Adds a tenant by GUID, with an optional verified domain that the token endpoint also knows.
    pub fn add_tenant(&self, tenant_id: &str, domain: Option<&str>) {
        self.state()
            .tenants
            .insert(tenant_id.to_string(), domain.map(str::to_string));
    }

    /// Registers an app in `tenant_id`, with no passwords.
    pub fn add_app(&self, tenant_id: &str, display_name: &str) -> SimApp {
        let app = SimApp {
            object_id: uuid::Uuid::new_v4().to_string(),
            client_id: uuid::Uuid::new_v4().to_string(),
        };
        self.state().apps.insert(
            app.object_id.clone(),
            App {
                tenant: tenant_id.to_string(),
                client_id: app.client_id.clone(),
                display_name: display_name.to_string(),
                passwords: vec![],
                owners: HashSet::new(),
                max_lifetime: None,
            },
        );
        app
    }

    /// Adds a password to an app, valid from now until `end`, accepted at once (as if it had
    /// propagated long ago). Returns its key id and secret.
    pub fn seed_password(
        &self,
        app_object_id: &str,
        display_name: &str,
        end: DateTime<Utc>,
    ) -> (String, SecretString) {
        let now = self.inner.clock.now();
        let secret = new_secret();
        let key_id = uuid::Uuid::new_v4().to_string();
        let mut st = self.state();
        let app = st
            .apps
            .get_mut(app_object_id)
            .expect("seed_password: unknown app object id");
        app.passwords.push(Password {
            key_id: key_id.clone(),
            display_name: Some(display_name.to_string()),
            start: now,
            end,
            secret: secret.clone(),
            created: None,
            last_sign_in: None,
        });
        (key_id, SecretString::from(secret))
    }

    /// Registers the rotator's own app in `tenant_id` with a secret valid for two years.
    pub fn add_rotator(&self, tenant_id: &str) -> (String, SecretString) {
        let app = self.add_app(tenant_id, "jamf-entra-rotator");
        let end = self.inner.clock.now() + chrono::Duration::days(730);
        let (_, secret) = self.seed_password(&app.object_id, "rotator", end);
        (app.client_id, secret)
    }

    /// The object id of the app with this client id (e.g. the rotator's own app).
    pub fn object_id_of(&self, client_id: &str) -> Option<String> {
        self.state().apps.iter().find(|(_, a)| a.client_id == client_id).map(|(id, _)| id.clone())
    }

    /// Makes the rotator an owner of the app: with `Application.ReadWrite.OwnedBy` it may now
    /// add and remove the app's passwords.
    pub fn make_owner(&self, rotator_client_id: &str, app_object_id: &str) {
        let mut st = self.state();
        let app = st
            .apps
            .get_mut(app_object_id)
            .expect("make_owner: unknown app object id");
        app.owners.insert(rotator_client_id.to_string());
    }

    /// Registers a certificate (PEM) on the app with `client_id`: client assertions signed with
    /// its key (PS256 or RS256, `x5t#S256` naming it) are accepted.
    pub fn add_certificate(&self, client_id: &str, certificate_pem: &str) {
        self.state().assertions.add_certificate(client_id, certificate_pem);
    }

    /// Adds a federated identity credential to the app with `client_id`: external tokens with
    /// exactly this issuer and subject, and one of these audiences, are accepted as client
    /// assertions once signed by a key of the issuer's ([`Self::trust_issuer_key`]).
    pub fn add_federated_credential(&self, client_id: &str, issuer: &str, subject: &str, audiences: &[&str]) {
        self.state().assertions.add_federated_credential(client_id, issuer, subject, audiences);
    }

    /// Publishes an issuer's RSA public key (PEM) under `kid`, as its JWKS would.
    pub fn trust_issuer_key(&self, issuer: &str, kid: &str, public_key_pem: &str) {
        self.state().assertions.trust_issuer_key(issuer, kid, public_key_pem);
    }

    /// The app's password credentials as Graph lists them.
    pub fn passwords(&self, app_object_id: &str) -> Vec<PasswordCredential> {
        let st = self.state();
        st.apps
            .get(app_object_id)
            .map(|a| a.passwords.iter().map(Password::listed).collect())
            .unwrap_or_default()
    }

    /// Whether the token endpoint would issue a token for `client_id`/`secret`/`scope` now.
    pub fn accepts(&self, client_id: &str, secret: &str, scope: &str) -> bool {
        let now = self.inner.clock.now();
        let st = self.state();
        let lag = st.lag;
        known_scope(scope)
            && st
                .apps
                .values()
                .filter(|a| a.client_id == client_id)
                .any(|a| {
                    a.passwords
                        .iter()
                        .any(|p| p.secret == secret && p.end >= now && p.propagated(now, lag))
                })
    }

    /// Holds every request this long (real time) before answering: network and server latency.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// New passwords answer AADSTS7000215 until `created + lag` (by the clock).
    pub fn set_propagation_lag(&self, lag: Duration) {
        self.state().lag = lag;
    }

    /// The tenant default app management policy's password lifetime limit (`None`: no limit).
    pub fn set_max_password_lifetime(&self, max: Option<chrono::Duration>) {
        self.state().tenant_max = max;
    }

    /// A per-app app management policy's password lifetime limit (`None`: no policy).
    pub fn set_app_max_password_lifetime(
        &self,
        app_object_id: &str,
        max: Option<chrono::Duration>,
    ) {
        let mut st = self.state();
        st.apps
            .get_mut(app_object_id)
            .expect("unknown app object id")
            .max_lifetime = max;
    }

    /// The next `n` Graph requests answer 429 `Request_ThrottledTemporarily` with `Retry-After`.
    pub fn throttle_graph(&self, n: usize, retry_after_secs: u64) {
        self.state().throttle = Some((n, retry_after_secs));
    }

    /// The next `n` requests of kind `op` answer `status` in the endpoint's error shape. Graph:
    /// the code that goes with the status (403 `Authorization_RequestDenied`, …; 429 and 503 add
    /// `Retry-After: 1`). Token: 401 → `invalid_client` 7000215, other 4xx → `invalid_request`
    /// 90014, 5xx → `temporarily_unavailable` 90033. Nothing is changed by a failed request.
    pub fn fail_next(&self, op: EntraOp, n: usize, status: u16) {
        self.state().fail.insert(op, (n, status));
    }

    /// The next `n` requests of kind `op` answer 200 with a spoiled body (after doing nothing).
    pub fn corrupt_next(&self, op: EntraOp, n: usize, how: Corruption) {
        self.state().corrupt.insert(op, (n, how));
    }

    /// Every request received so far, bodies included, `Authorization` never.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// Waits until at least `n` requests have been recorded.
    pub async fn wait_for_requests(&self, n: usize) {
        loop {
            let notified = self.inner.activity.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state().requests.len() >= n {
                return;
            }
            notified.await;
        }
    }

    /// Sign-ins show in the credential sign-in activity report only after `lag` (the real report
    /// lags by minutes to hours).
    pub fn set_sign_in_report_lag(&self, lag: Duration) {
        self.state().sign_in_report_lag = lag;
    }

    /// How many requests of kind `op` arrived (failed and throttled ones included).
    pub fn count(&self, op: EntraOp) -> usize {
        self.state().counts.get(&op).copied().unwrap_or(0)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let path = percent_decode(uri.path());
        let query = uri.query().unwrap_or("").to_string();
        let body_text = String::from_utf8_lossy(&body).into_owned();
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = header(&headers, "client-request-id");
        let ctx = Ctx {
            now: self.inner.clock.now(),
            request_id: request_id.clone(),
            client_request_id: client_request_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        };
        let mut reply = {
            let mut st = self.state();
            if path.ends_with("/oauth2/v2.0/token") && method == Method::POST {
                *st.counts.entry(EntraOp::Token).or_default() += 1;
                token_endpoint(&mut st, &ctx, &path, &body_text)
            } else {
                graph(&mut st, &ctx, &method, &path, &query, &headers, &body_text)
            }
        };
        reply.headers.push(("request-id", request_id.clone()));
        if let Some(c) = &client_request_id {
            reply.headers.push(("client-request-id", c.clone()));
        }
        self.state().requests.push(RecordedRequest::new(
            &method,
            &uri,
            &headers,
            &["content-type", "client-request-id"],
            body_text,
            reply.status,
            reply.body.clone(),
        ));
        self.inner.activity.notify_waiters();
        let mut resp = (
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            reply.body,
        )
            .into_response();
        let h = resp.headers_mut();
        if reply.status != 204 {
            h.insert(
                "content-type",
                reply.content_type.parse().expect("static header"),
            );
        }
        for (k, v) in reply.headers {
            if let Ok(v) = v.parse() {
                h.insert(k, v);
            }
        }
        resp
    }
}

/// Per-request facts the handlers need.
struct Ctx {
    now: DateTime<Utc>,
    request_id: String,
    client_request_id: String,
}

impl Password {
    fn listed(&self) -> PasswordCredential {
        PasswordCredential {
            key_id: self.key_id.clone(),
            display_name: self.display_name.clone(),
            start: Some(self.start),
            end: Some(self.end),
            hint: Some(self.secret.chars().take(3).collect()),
        }
    }
    fn json(&self, secret: bool) -> Value {
        json!({
            "customKeyIdentifier": null,
            "displayName": self.display_name,
            "endDateTime": iso(self.end),
            "hint": self.secret.chars().take(3).collect::<String>(),
            "keyId": self.key_id,
            "secretText": if secret { Some(self.secret.clone()) } else { None },
            "startDateTime": iso(self.start),
        })
    }
    fn propagated(&self, now: DateTime<Utc>, lag: Duration) -> bool {
        match self.created {
            None => true,
            Some(c) => now >= c + chrono::Duration::from_std(lag).unwrap_or(chrono::Duration::MAX),
        }
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Entra-like secret: 40 characters, `xxxNQ~` followed by 34 more.
fn new_secret() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-";
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    let mut s: String = (0..3)
        .map(|_| ALNUM[rng.gen_range(0..ALNUM.len())] as char)
        .collect();
    s.push(char::from(b'0' + rng.gen_range(0..10u8)));
    s.push_str("Q~");
    s.extend((0..34).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char));
    s
}

fn random_token() -> String {
    let mut rng = rand::thread_rng();
    (0..96)
        .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const CLOUDS: [crate::config::Cloud; 4] = [
    crate::config::Cloud::Global,
    crate::config::Cloud::Usgov,
    crate::config::Cloud::UsgovDod,
    crate::config::Cloud::China,
];

fn graph_scope(scope: &str) -> bool {
    CLOUDS.iter().any(|c| c.graph_scope() == scope)
}

fn known_scope(scope: &str) -> bool {
    graph_scope(scope) || CLOUDS.iter().any(|c| c.intune_scope() == scope)
}

// ---------------------------------------------------------------------------------------------
// Token endpoint
// ---------------------------------------------------------------------------------------------

fn token_error(ctx: &Ctx, status: u16, error: &str, code: u32, message: &str) -> Reply {
    let ts = ctx.now.format("%Y-%m-%d %H:%M:%SZ").to_string();
    let mut r = Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {message}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {ts}",
                ctx.request_id, ctx.client_request_id
            ),
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": ctx.request_id,
            "correlation_id": ctx.client_request_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    );
    // The login endpoint names its request id `x-ms-request-id` (Graph uses `request-id`).
    r.headers.push(("x-ms-request-id", ctx.request_id.clone()));
    r
}

fn token_endpoint(st: &mut State, ctx: &Ctx, path: &str, body: &str) -> Reply {
    if let Some(reply) = injected(st, ctx, EntraOp::Token, true) {
        return reply;
    }
    let tenant_seg = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let Some(tenant) = st
        .tenants
        .iter()
        .find(|(id, dom)| {
            id.eq_ignore_ascii_case(tenant_seg)
                || dom
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(tenant_seg))
        })
        .map(|(id, _)| id.clone())
    else {
        let msg = format!("Tenant '{tenant_seg}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.");
        return token_error(ctx, 400, "invalid_tenant", 90002, &msg);
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return token_error(
            ctx,
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let lag = st.lag;
    let Some(app) = st
        .apps
        .values_mut()
        .find(|a| a.tenant == tenant && a.client_id == client_id)
    else {
        let msg = format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
        );
        return token_error(ctx, 400, "unauthorized_client", 700016, &msg);
    };
    let scope = form.get("scope").cloned().unwrap_or_default();
    if !known_scope(&scope) {
        let msg = format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.");
        return token_error(ctx, 400, "invalid_scope", 70011, &msg);
    }
    if let Some(jwt) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(crate::entra::assertion::JWT_BEARER) {
            let msg = "The request body must contain the following parameter: 'client_assertion_type'.";
            return token_error(ctx, 400, "invalid_request", 90014, msg);
        }
        if let Err(r) = st.assertions.check(&client_id, path, jwt, ctx.now) {
            return token_error(ctx, r.status, r.error, r.code, &r.message);
        }
        return issue_token(st, ctx, client_id, tenant, scope);
    }
    let Some(secret) = form.get("client_secret") else {
        return token_error(ctx, 401, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
    };
    let Some(pw) = app
        .passwords
        .iter_mut()
        .find(|p| &p.secret == secret && p.propagated(ctx.now, lag))
    else {
        let msg = format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'.");
        return token_error(ctx, 401, "invalid_client", 7000215, &msg);
    };
    if pw.end < ctx.now {
        let msg = format!("The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app.");
        return token_error(ctx, 401, "invalid_client", 7000222, &msg);
    }
    pw.last_sign_in = Some(ctx.now);
    issue_token(st, ctx, client_id, tenant, scope)
}

/// Issues an access token for `client_id` in `tenant` for `scope`.
fn issue_token(st: &mut State, ctx: &Ctx, client_id: String, tenant: String, scope: String) -> Reply {
    let token = random_token();
    st.tokens.insert(
        token.clone(),
        Issued {
            client_id,
            tenant,
            scope,
            expires: ctx.now + chrono::Duration::seconds(3599),
        },
    );
    Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}),
    )
}

// ---------------------------------------------------------------------------------------------
// Graph
// ---------------------------------------------------------------------------------------------

fn graph_error(ctx: &Ctx, status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": code, "message": message, "innerError": {
            "date": iso(ctx.now), "request-id": ctx.request_id, "client-request-id": ctx.client_request_id}}}),
    )
}

fn graph_code(status: u16) -> &'static str {
    match status {
        400 => "Request_BadRequest",
        401 => "InvalidAuthenticationToken",
        403 => "Authorization_RequestDenied",
        404 => "Request_ResourceNotFound",
        429 => "Request_ThrottledTemporarily",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "generalException",
    }
}

/// Faults switched on by the test: injected failures, then spoiled bodies.
fn injected(st: &mut State, ctx: &Ctx, op: EntraOp, token_shape: bool) -> Option<Reply> {
    if let Some((n, status)) = st.fail.get_mut(&op).filter(|(n, _)| *n > 0) {
        *n -= 1;
        let status = *status;
        return Some(if token_shape {
            match status {
                401 => token_error(
                    ctx,
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided.",
                ),
                400..=499 => token_error(
                    ctx,
                    status,
                    "invalid_request",
                    90014,
                    "The request body must contain the following parameter: 'grant_type'.",
                ),
                _ => token_error(
                    ctx,
                    status,
                    "temporarily_unavailable",
                    90033,
                    "A transient error has occurred. Please try again.",
                ),
            }
        } else {
            let mut r = graph_error(ctx, status, graph_code(status), "Injected failure.");
            if status == 429 || status == 503 {
                r.headers.push(("retry-after", "1".into()));
            }
            r
        });
    }
    if let Some((n, how)) = st.corrupt.get_mut(&op).filter(|(n, _)| *n > 0) {
        *n -= 1;
        return Some(match how {
            Corruption::Html => Reply {
                status: 200,
                body: "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Proxy login</body></html>".into(),
                content_type: "text/html",
                headers: vec![],
            },
            Corruption::Truncated => Reply {
                status: 200,
                body: r#"{"id":"00000000-0000-0000-0000-000000000000","appId":"#.into(),
                content_type: "application/json",
                headers: vec![],
            },
        });
    }
    None
}

fn graph(
    st: &mut State,
    ctx: &Ctx,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &str,
) -> Reply {
    let route = Route::parse(method, path);
    if let Some(op) = route.op() {
        *st.counts.entry(op).or_default() += 1;
    }
    if let Some((n, secs)) = st.throttle.as_mut().filter(|(n, _)| *n > 0) {
        *n -= 1;
        let mut r = graph_error(
            ctx,
            429,
            "Request_ThrottledTemporarily",
            "Too many requests.",
        );
        r.headers.push(("retry-after", secs.to_string()));
        return r;
    }
    if let Some(reply) = route.op().and_then(|op| injected(st, ctx, op, false)) {
        return reply;
    }
    // Authentication: a bearer token this stand-in issued for a Graph scope, not expired.
    let bearer = header(headers, "authorization")
        .and_then(|h| h.strip_prefix("Bearer ").map(str::to_string));
    let caller = match bearer.as_deref().and_then(|t| st.tokens.get(t)) {
        None => {
            return graph_error(
                ctx,
                401,
                "InvalidAuthenticationToken",
                "Access token is empty or invalid.",
            )
        }
        Some(t) if t.expires <= ctx.now => {
            return graph_error(
                ctx,
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        }
        Some(t) if !graph_scope(&t.scope) => {
            return graph_error(ctx, 401, "InvalidAuthenticationToken", "Invalid audience.")
        }
        Some(t) => (t.client_id.clone(), t.tenant.clone()),
    };
    let find = |st: &State, sel: &AppSel| -> Option<String> {
        st.apps
            .iter()
            .find(|(oid, a)| {
                a.tenant == caller.1
                    && match sel {
                        AppSel::Object(id) => oid.as_str() == id,
                        AppSel::AppId(id) => a.client_id == *id,
                    }
            })
            .map(|(oid, _)| oid.clone())
    };
    let not_found = |sel: &AppSel| {
        let id = match sel {
            AppSel::Object(s) | AppSel::AppId(s) => s,
        };
        graph_error(ctx, 404, "Request_ResourceNotFound", &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."))
    };
    match route {
        Route::GetApp(sel) => match find(st, &sel) {
            None => not_found(&sel),
            Some(oid) => {
                let a = &st.apps[&oid];
                let full = json!({
                    "id": oid, "appId": a.client_id, "displayName": a.display_name,
                    "passwordCredentials": a.passwords.iter().map(|p| p.json(false)).collect::<Vec<_>>(),
                });
                Reply::json(200, select(full, query))
            }
        },
        Route::AddPassword(sel) => {
            let Some(oid) = find(st, &sel) else {
                return not_found(&sel);
            };
            let tenant_max = st.tenant_max;
            let app = st.apps.get_mut(&oid).expect("found");
            if !app.owners.contains(&caller.0) {
                return graph_error(
                    ctx,
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                );
            }
            add_password(app, ctx, tenant_max, body)
        }
        Route::RemovePassword(sel) => {
            let Some(oid) = find(st, &sel) else {
                return not_found(&sel);
            };
            let app = st.apps.get_mut(&oid).expect("found");
            if !app.owners.contains(&caller.0) {
                return graph_error(
                    ctx,
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                );
            }
            let key = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v.get("keyId")?.as_str().map(str::to_string));
            let Some(key) = key else {
                return graph_error(
                    ctx,
                    400,
                    "Request_BadRequest",
                    "Invalid request body: keyId is required.",
                );
            };
            let before = app.passwords.len();
            app.passwords
                .retain(|p| !p.key_id.eq_ignore_ascii_case(&key));
            if app.passwords.len() == before {
                return graph_error(
                    ctx,
                    404,
                    "Request_ResourceNotFound",
                    &format!("No password credential found with keyId '{key}'."),
                );
            }
            Reply::empty(204)
        }
        Route::AppPolicies(sel) => {
            let Some(oid) = find(st, &sel) else {
                return not_found(&sel);
            };
            let value: Vec<Value> = st.apps[&oid]
                .max_lifetime
                .map(|max| json!({"id": format!("policy-{oid}"), "displayName": "app policy", "isEnabled": true,
                    "restrictions": {"passwordCredentials": [restriction(max)], "keyCredentials": []}}))
                .into_iter()
                .collect();
            Reply::json(200, json!({"value": value}))
        }
        Route::DefaultPolicy => Reply::json(
            200,
            json!({"id": "00000000-0000-0000-0000-000000000000", "displayName": "Default app management tenant policy",
                "isEnabled": true,
                "applicationRestrictions": {"passwordCredentials": st.tenant_max.map(restriction).into_iter().collect::<Vec<_>>(), "keyCredentials": []},
                "servicePrincipalRestrictions": {"passwordCredentials": [], "keyCredentials": []}}),
        ),
        Route::SignIns => {
            let app_id = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "$filter")
                .and_then(|(_, v)| v.split('\'').nth(1).map(str::to_string));
            let lag = chrono::Duration::from_std(st.sign_in_report_lag).unwrap_or_default();
            let value: Vec<Value> = st
                .apps
                .values()
                .filter(|a| a.tenant == caller.1 && app_id.as_deref().is_none_or(|id| a.client_id == id))
                .flat_map(|a| a.passwords.iter().map(move |p| (a, p)))
                .map(|(a, p)| json!({"id": uuid::Uuid::new_v4().to_string(), "keyId": p.key_id, "appId": a.client_id,
                    "credentialOrigin": "application", "keyType": "clientSecret", "keyUsage": "sign",
                    "expirationDateTime": iso(p.end),
                    "signInActivity": p.last_sign_in.filter(|t| *t + lag <= ctx.now).map(|t| json!({"lastSignInDateTime": iso(t), "lastSignInRequestId": uuid::Uuid::new_v4().to_string()}))}))
                .collect();
            Reply::json(200, json!({"value": value}))
        }
        Route::Unknown => graph_error(
            ctx,
            400,
            "Request_BadRequest",
            "Invalid request: unsupported segment or method.",
        ),
    }
}

fn restriction(max: chrono::Duration) -> Value {
    json!({"restrictionType": "passwordLifetime", "maxLifetime": format!("P{}D", max.num_days()),
        "restrictForAppsCreatedAfterDateTime": "2020-01-01T00:00:00Z", "state": "enabled"})
}

fn add_password(
    app: &mut App,
    ctx: &Ctx,
    tenant_max: Option<chrono::Duration>,
    body: &str,
) -> Reply {
    let Ok(v) = serde_json::from_str::<Value>(if body.trim().is_empty() { "{}" } else { body })
    else {
        return graph_error(
            ctx,
            400,
            "Request_BadRequest",
            "Unable to read JSON request payload.",
        );
    };
    let pc = v.get("passwordCredential").cloned().unwrap_or(Value::Null);
    let time = |field: &str| -> Result<Option<DateTime<Utc>>, Reply> {
        match pc.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| {
                    graph_error(
                        ctx,
                        400,
                        "Request_BadRequest",
                        &format!("Invalid value for {field}."),
                    )
                }),
            Some(_) => Err(graph_error(
                ctx,
                400,
                "Request_BadRequest",
                &format!("Invalid value for {field}."),
            )),
        }
    };
    let start = match time("startDateTime") {
        Ok(t) => t.unwrap_or(ctx.now),
        Err(r) => return r,
    };
    let end = match time("endDateTime") {
        Ok(t) => t.unwrap_or_else(|| {
            start
                .checked_add_months(chrono::Months::new(24))
                .expect("in range")
        }),
        Err(r) => return r,
    };
    if end <= start {
        return graph_error(
            ctx,
            400,
            "Request_BadRequest",
            "endDateTime must be after startDateTime.",
        );
    }
    let max = [tenant_max, app.max_lifetime].into_iter().flatten().min();
    if max.is_some_and(|m| end - start > m) {
        return graph_error(ctx, 400, "CredentialInvalidLifetimeAsPerAppPolicy", "Credential lifetime exceeds the max value allowed as per assigned policy '00000000-0000-0000-0000-000000000000'.");
    }
    let p = Password {
        key_id: uuid::Uuid::new_v4().to_string(),
        display_name: pc
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::to_string),
        start,
        end,
        secret: new_secret(),
        created: Some(ctx.now),
        last_sign_in: None,
    };
    let reply = Reply::json(200, p.json(true));
    app.passwords.push(p);
    reply
}

/// Keeps only the `$select`ed top-level fields.
fn select(full: Value, query: &str) -> Value {
    let Some((_, sel)) =
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "$select")
    else {
        return full;
    };
    let wanted: Vec<&str> = sel.split(',').map(str::trim).collect();
    match full {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| wanted.contains(&k.as_str()))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

enum AppSel {
    Object(String),
    AppId(String),
}

enum Route {
    GetApp(AppSel),
    AddPassword(AppSel),
    RemovePassword(AppSel),
    AppPolicies(AppSel),
    DefaultPolicy,
    SignIns,
    Unknown,
}

impl Route {
    fn parse(method: &Method, path: &str) -> Route {
        if path == "/beta/reports/appCredentialSignInActivities" && method == Method::GET {
            return Route::SignIns;
        }
        let Some(rest) = path.strip_prefix("/v1.0/") else {
            return Route::Unknown;
        };
        if rest == "policies/defaultAppManagementPolicy" && method == Method::GET {
            return Route::DefaultPolicy;
        }
        let (sel, tail) = if let Some(r) = rest.strip_prefix("applications(appId='") {
            let Some((id, tail)) = r.split_once("')") else {
                return Route::Unknown;
            };
            (AppSel::AppId(id.to_string()), tail)
        } else if let Some(r) = rest.strip_prefix("applications/") {
            let (id, tail) = r.split_once('/').unwrap_or((r, ""));
            (AppSel::Object(id.to_string()), tail)
        } else {
            return Route::Unknown;
        };
        match (method.as_str(), tail.trim_start_matches('/')) {
            ("GET", "") => Route::GetApp(sel),
            ("POST", "addPassword") => Route::AddPassword(sel),
            ("POST", "removePassword") => Route::RemovePassword(sel),
            ("GET", "appManagementPolicies") => Route::AppPolicies(sel),
            _ => Route::Unknown,
        }
    }
    fn op(&self) -> Option<EntraOp> {
        match self {
            Route::GetApp(_) => Some(EntraOp::GetApplication),
            Route::AddPassword(_) => Some(EntraOp::AddPassword),
            Route::RemovePassword(_) => Some(EntraOp::RemovePassword),
            Route::AppPolicies(_) | Route::DefaultPolicy => Some(EntraOp::Policy),
            Route::SignIns | Route::Unknown => None,
        }
    }
}
