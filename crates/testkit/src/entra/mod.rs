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
//! Layout: this file holds the handle, the state behind its lock and the request dispatch;
//! `setup` the world (tenants, apps, passwords, credentials) and what the stand-in saw;
//! `faults` the fault switches; `token` the token endpoint; `graph` the Graph routes;
//! `passwords` password credentials (`addPassword` included).

use crate::clock::SharedClock;
use crate::RecordedRequest;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

mod client_assertion;
mod faults;
mod graph;
mod passwords;
mod setup;
mod token;

use graph::graph;
use token::token_endpoint;

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
    /// A 200 whose body (3 MiB, length declared) is over the client's size cap.
    Oversized,
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
    /// How long a removed password keeps signing in (Entra's removal is eventually consistent).
    removal_lag: Duration,
    /// Removed passwords, with the client id of their app and when they stop signing in.
    removed: Vec<(String, Password, DateTime<Utc>)>,
    tenant_max: Option<chrono::Duration>,
    /// How long a sign-in takes to show in the sign-in activity report.
    sign_in_report_lag: Duration,
    throttle: Option<(usize, u64)>,
    fail: HashMap<EntraOp, (usize, u16)>,
    corrupt: HashMap<EntraOp, (usize, Corruption)>,
    requests: Vec<RecordedRequest>,
    /// Record requests without their bodies (a benchmark's memory figure is then the client's).
    forget_bodies: bool,
    counts: HashMap<EntraOp, usize>,
    /// The rotator holds no `Application.Read.All` (only `Application.ReadWrite.OwnedBy`): Graph
    /// refuses it the apps it does not own, reads included.
    read_owned_only: bool,
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
        let mut st = self.state();
        let (body, response) = match st.forget_bodies {
            true => (String::new(), String::new()),
            false => (body_text, reply.body.clone()),
        };
        st.requests.push(RecordedRequest::new(
            &method,
            &uri,
            &headers,
            &["content-type", "client-request-id"],
            body,
            reply.status,
            response,
        ));
        drop(st);
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

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
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
