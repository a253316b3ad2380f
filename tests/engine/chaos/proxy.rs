//! A fault-injecting proxy in front of moto, for faults moto cannot make: the CLI under test is
//! pointed at it with `AWS_ENDPOINT_URL_SECRETS_MANAGER`. It forwards every request and can
//! answer a run of them with a 500 `InternalServiceError` (what a transient failure looks like
//! once the SDK's three attempts are spent), or answer one `GetSecretValue` with a document that
//! no longer parses.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};

/// What the next requests meet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Requests `first..first + count` (1-based, counted from the arming) answer 500.
    pub failing: Option<(usize, usize)>,
    /// The n-th `GetSecretValue` (1-based, counted from the arming) answers a garbled document.
    pub garbled_read: Option<usize>,
}

#[derive(Default)]
struct State {
    faults: Faults,
    requests: usize,
    reads: usize,
    injected: usize,
}

/// The running proxy.
#[derive(Clone)]
pub struct SmProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl SmProxy {
    /// Starts a proxy to `upstream` (moto's URL) on `127.0.0.1:0`.
    pub async fn start(upstream: String) -> SmProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let http = reqwest::Client::new();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (state, http, upstream) = (shared.clone(), http.clone(), upstream.clone());
                async move { forward(&state, &http, &upstream, method, uri, headers, body).await }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SmProxy { url, state }
    }

    /// Arms `faults`, counting requests from now.
    pub fn arm(&self, faults: Faults) {
        let mut st = self.state.lock().unwrap();
        *st = State {
            faults,
            ..State::default()
        };
    }

    /// How many answers were spoiled since the arming.
    pub fn injected(&self) -> usize {
        self.state.lock().unwrap().injected
    }
}

async fn forward(
    state: &Mutex<State>,
    http: &reqwest::Client,
    upstream: &str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let action = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let garble = {
        let mut st = state.lock().unwrap();
        st.requests += 1;
        let n = st.requests;
        if st
            .faults
            .failing
            .is_some_and(|(first, count)| (first..first + count).contains(&n))
        {
            st.injected += 1;
            let body =
                r#"{"__type":"InternalServiceError","message":"injected by the chaos proxy"}"#;
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [("content-type", "application/x-amz-json-1.1")],
                body,
            )
                .into_response();
        }
        if action.ends_with(".GetSecretValue") {
            st.reads += 1;
            st.faults.garbled_read == Some(st.reads)
        } else {
            false
        }
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = http.request(method, format!("{upstream}{path}")).body(body);
    for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
        request = request.header(name, value);
    }
    let answer = match request.send().await {
        Ok(a) => a,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let kind = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-amz-json-1.1")
        .to_string();
    let mut bytes = answer.bytes().await.unwrap_or_default().to_vec();
    if garble && status == StatusCode::OK {
        if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            v["SecretString"] = "{\"entra\": 42, \"truncated\"".into();
            bytes = serde_json::to_vec(&v).unwrap();
            state.lock().unwrap().injected += 1;
        }
    }
    (status, [("content-type", kind)], bytes).into_response()
}
