//! Secrets Manager's documented rule that moto lacks, applied on the wire: an HTTP proxy in front
//! of moto that every AWS request of the function goes through (`AWS_ENDPOINT_URL`).
//!
//! - **A new version abandons the rotation.** While a rotation Secrets Manager started
//!   (`RotateSecret`, seen passing through) is under way, a request that creates a new version of
//!   its secret (`PutSecretValue`, or `UpdateSecret` with a value, under a version id not yet
//!   written), other than createSecret's `PutSecretValue` of `AWSPENDING` under the rotation's
//!   token, abandons it: once moto made the version, the proxy removes `AWSPENDING` from the
//!   token's version and records `RotationAbandoned` ([`SmProxy::abandoned`]).
//! - **What went by.** Each request's operation, secret and answer (never a body, so never a
//!   secret or a `RotationToken`): [`SmProxy::calls`].
//! - **Holding an answer.** [`SmProxy::hold_answer`] keeps moto's answer to the next request that
//!   matches until the test lets it go: an invocation stopped at a known point, so another can
//!   overlap it there, without sleeping.

use crate::common::moto;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Secrets Manager's label on the version a rotation creates.
const AWSPENDING: &str = "AWSPENDING";

/// One request that went through: `operation` is the `X-Amz-Target` (`secretsmanager.PutSecretValue`,
/// `DynamoDB_20120810.PutItem`) or `-` for the query protocols (SNS, CloudWatch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub operation: String,
    /// The request's `SecretId`, when it names one.
    pub secret_id: Option<String>,
    /// The request's `ClientRequestToken` or `VersionId`, when it names one.
    pub version: Option<String>,
    /// moto's answer.
    pub status: u16,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = self.operation.rsplit('.').next().unwrap_or(&self.operation);
        write!(f, "{op} {}", self.status)?;
        if let Some(v) = &self.version {
            write!(f, " (version {v})")?;
        }
        Ok(())
    }
}

/// A `RotationAbandoned` event: the rotation of `secret_arn` under `token`, abandoned by `cause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned {
    pub secret_arn: String,
    pub token: String,
    /// The request that created the new version.
    pub cause: Call,
}

/// moto's answer to one request, held until [`Hold::release`] (or the hold is dropped).
pub struct Hold {
    reached: Option<oneshot::Receiver<()>>,
    release: oneshot::Sender<()>,
}

impl Hold {
    /// Waits until the request arrived and moto answered it (the answer is held); a request
    /// that never comes fails the test after a minute rather than hanging it.
    pub async fn reached(&mut self) {
        if let Some(r) = self.reached.take() {
            let minute = std::time::Duration::from_secs(60);
            let reached = tokio::time::timeout(minute, r).await;
            assert!(matches!(reached, Ok(Ok(()))), "the held request never came");
        }
    }

    /// Lets the held answer go to the caller.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

/// A hold waiting for its request.
struct Armed {
    /// Whether a request (its operation) is the one to hold.
    matches: Box<dyn Fn(&str) -> bool + Send>,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

#[derive(Default)]
struct State {
    /// The rotations Secrets Manager runs: secret ARN → the rotation's token.
    rotating: HashMap<String, String>,
    abandoned: Vec<Abandoned>,
    calls: Vec<Call>,
    holds: Vec<Armed>,
}

struct Inner {
    addr: std::net::SocketAddr,
    upstream: String,
    http: reqwest::Client,
    /// Straight to moto: the proxy's own look-ups and its removal of `AWSPENDING`.
    moto: aws_sdk_secretsmanager::Client,
    state: Mutex<State>,
}

/// The proxy; cheap to clone (clones share the state).
#[derive(Clone)]
pub struct SmProxy {
    inner: Arc<Inner>,
}

/// What a request asks, read from its JSON body (the AWS JSON protocol).
struct Request {
    operation: String,
    secret_id: Option<String>,
    version: Option<String>,
    /// `PutSecretValue`, or `UpdateSecret` with a value: a version is written.
    writes_version: bool,
    /// `VersionStages` holds `AWSPENDING`.
    pending: bool,
}

impl Request {
    fn read(headers: &HeaderMap, body: &[u8]) -> Request {
        let operation = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let field = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_string);
        let has_value = json.get("SecretString").is_some() || json.get("SecretBinary").is_some();
        let writes_version = operation == "secretsmanager.PutSecretValue"
            || (operation == "secretsmanager.UpdateSecret" && has_value);
        let pending = json
            .get("VersionStages")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|l| l == AWSPENDING));
        Request {
            secret_id: field("SecretId"),
            version: field("ClientRequestToken").or_else(|| field("VersionId")),
            operation,
            writes_version,
            pending,
        }
    }

    fn call(&self, status: u16) -> Call {
        Call {
            operation: self.operation.clone(),
            secret_id: self.secret_id.clone(),
            version: self.version.clone(),
            status,
        }
    }
}

impl SmProxy {
    /// Starts the proxy on `127.0.0.1:0` in front of the tests' moto.
    pub async fn start() -> SmProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let proxy = SmProxy {
            inner: Arc::new(Inner {
                addr: listener.local_addr().expect("local addr"),
                upstream: moto::endpoint().await,
                http: reqwest::Client::new(),
                moto: moto::secrets_client().await,
                state: Mutex::default(),
            }),
        };
        let handle = proxy.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let proxy = handle.clone();
                async move { proxy.handle(method, uri, headers, body).await }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        proxy
    }

    /// The endpoint for the function's SDK (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `RotationAbandoned` events so far.
    pub fn abandoned(&self) -> Vec<Abandoned> {
        self.state().abandoned.clone()
    }

    /// Every request so far, in the order moto answered them.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Secrets Manager's side saw the rotation of `secret_arn` end (its finishSecret succeeded,
    /// or it gave up): a new version no longer abandons anything.
    pub fn rotation_ended(&self, secret_arn: &str) {
        self.state().rotating.remove(secret_arn);
    }

    /// Holds moto's answer to the next request for which `matches` (given its operation, the
    /// `X-Amz-Target`) is true.
    pub fn hold_answer(&self, matches: impl Fn(&str) -> bool + Send + 'static) -> Hold {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        self.state().holds.push(Armed {
            matches: Box::new(matches),
            reached: reached_tx,
            release: release_rx,
        });
        Hold {
            reached: Some(reached_rx),
            release: release_tx,
        }
    }

    /// One request: read, judged against the rule, forwarded, recorded, perhaps held.
    async fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let request = Request::read(&headers, &body);
        // Whether this write makes a version while a rotation runs, asked before moto changes.
        let abandons = if request.writes_version {
            self.would_abandon(&request).await
        } else {
            None
        };
        let (status, response_headers, answer) = self.forward(method, &uri, &headers, body).await;
        let call = request.call(status.as_u16());
        if status.is_success() {
            self.observe(&request, &answer, abandons, &call).await;
        }
        self.state().calls.push(call);
        self.hold_if_armed(&request.operation).await;
        (status, response_headers, answer).into_response()
    }

    /// Sends the request on to moto as it came; returns moto's answer.
    async fn forward(
        &self,
        method: Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut to_moto = headers.clone();
        to_moto.remove(axum::http::header::HOST);
        let resp = self
            .inner
            .http
            .request(method, format!("{}{path}", self.inner.upstream))
            .headers(to_moto)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("the proxy reaches moto: {e}"));
        let status = resp.status();
        let mut back = resp.headers().clone();
        for h in [
            axum::http::header::CONTENT_LENGTH,
            axum::http::header::TRANSFER_ENCODING,
        ] {
            back.remove(h);
        }
        let answer = resp.bytes().await.expect("moto's answer");
        (status, back, answer)
    }

    /// For a version write: the rotation (ARN, token) it would abandon, if one runs on its secret
    /// and the write is neither createSecret's `AWSPENDING` write under the token nor a repeat of
    /// a version already written.
    async fn would_abandon(&self, request: &Request) -> Option<(String, String)> {
        let secret_id = request.secret_id.as_deref()?;
        let arn = self.arn_of(secret_id).await?;
        let token = self.state().rotating.get(&arn).cloned()?;
        let version = request.version.as_deref();
        if request.pending && version == Some(token.as_str()) {
            return None;
        }
        if let Some(v) = version {
            let written = self
                .inner
                .moto
                .get_secret_value()
                .secret_id(&arn)
                .version_id(v)
                .send()
                .await;
            if written.is_ok() {
                return None;
            }
        }
        Some((arn, token))
    }

    async fn arn_of(&self, secret_id: &str) -> Option<String> {
        let out = self.inner.moto.describe_secret().secret_id(secret_id);
        out.send().await.ok()?.arn
    }

    /// After moto carried out a request: a rotation started, or one abandoned.
    async fn observe(
        &self,
        request: &Request,
        answer: &[u8],
        abandons: Option<(String, String)>,
        call: &Call,
    ) {
        if request.operation == "secretsmanager.RotateSecret" {
            let out: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
            if let (Some(arn), Some(token)) = (out["ARN"].as_str(), out["VersionId"].as_str()) {
                let rotating = &mut self.state().rotating;
                rotating.insert(arn.to_string(), token.to_string());
            }
        }
        if let Some((arn, token)) = abandons {
            self.abandon(&arn, &token, call).await;
        }
    }

    /// What Secrets Manager does to a rotation a new version abandons.
    async fn abandon(&self, arn: &str, token: &str, cause: &Call) {
        let removed = self
            .inner
            .moto
            .update_secret_version_stage()
            .secret_id(arn)
            .version_stage(AWSPENDING)
            .remove_from_version_id(token)
            .send()
            .await;
        if let Err(e) = removed {
            // Already gone (the function dropped it itself): nothing left to remove.
            eprintln!(
                "sm_proxy: AWSPENDING not removed from {token}: {}",
                DisplayErrorContext(e)
            );
        }
        let mut st = self.state();
        st.rotating.remove(arn);
        st.abandoned.push(Abandoned {
            secret_arn: arn.to_string(),
            token: token.to_string(),
            cause: cause.clone(),
        });
    }

    /// Holds this answer when an armed hold matches `operation`, until the test lets it go.
    async fn hold_if_armed(&self, operation: &str) {
        let armed = {
            let mut st = self.state();
            let at = st.holds.iter().position(|h| (h.matches)(operation));
            at.map(|i| st.holds.remove(i))
        };
        if let Some(hold) = armed {
            let _ = hold.reached.send(());
            let _ = hold.release.await;
        }
    }
}
