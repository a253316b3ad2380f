//! Request handling of the Jamf Pro stand-in: one fallback handler that counts, delays, injects
//! faults, routes and records, so that every request lands in the log the same way.

use super::{JamfOp, JamfSim, State, TOKEN_LIFETIME_SECS};
use crate::RecordedRequest;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

/// What a handler answers; recorded before it is sent.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: String,
    pub(super) headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(super) fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body: body.to_string(),
            headers: vec![],
        }
    }
    pub(super) fn empty(status: u16) -> Self {
        Reply {
            status,
            body: String::new(),
            headers: vec![],
        }
    }
    /// Jamf's error shape.
    pub(super) fn jamf_error(status: u16, code: &str, description: &str) -> Self {
        Reply::json(
            status,
            json!({"httpStatus": status, "errors": [{"code": code, "field": "", "description": description, "id": null}]}),
        )
    }
    /// The RFC 6749 shape the OAuth endpoint uses.
    fn oauth_error(error: &str, description: &str) -> Self {
        Reply::json(
            400,
            json!({"error": error, "error_description": description}),
        )
    }
}

/// The router: everything goes through [`JamfSim::handle`].
pub(super) fn router(sim: JamfSim) -> axum::Router {
    axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let sim = sim.clone();
            async move { sim.handle(method, uri, headers, body).await }
        },
    )
}

/// A random opaque value (tokens, API client secrets, node ids).
pub(super) fn random_token() -> String {
    let mut rng = rand::rng();
    (0..40)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}

fn classify(method: &Method, path: &str) -> JamfOp {
    match (method.as_str(), path) {
        ("POST", "/api/v1/oauth/token" | "/api/oauth/token" | "/api/v1/auth/token") => {
            JamfOp::Token
        }
        ("POST", "/api/v1/auth/keep-alive" | "/api/v1/auth/invalidate-token") => JamfOp::Session,
        ("GET", "/api/v2/smtp-server") => JamfOp::GetSmtp,
        ("PUT", "/api/v2/smtp-server") => JamfOp::PutSmtp,
        ("POST", "/api/v1/smtp-server/test") => JamfOp::SmtpTest,
        ("GET", "/api/v1/notifications") => JamfOp::Notifications,
        _ => JamfOp::Other,
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// RFC 7396 JSON merge patch.
pub(super) fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let map = target.as_object_mut().expect("made an object above");
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

impl JamfSim {
    async fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let path = uri.path().to_string();
        let op = classify(&method, &path);
        let body_text = String::from_utf8_lossy(&body).into_owned();
        let (latency, injected, oversized) = {
            let mut st = self.state();
            *st.counts.entry(op).or_default() += 1;
            let oversized = [op, JamfOp::Any].into_iter().any(|k| {
                st.oversize
                    .get_mut(&k)
                    .filter(|n| **n > 0)
                    .map(|n| *n -= 1)
                    .is_some()
            });
            let injected = [op, JamfOp::Any]
                .into_iter()
                .find_map(|k| match st.fail.get_mut(&k) {
                    Some((n, status)) if *n > 0 => {
                        *n -= 1;
                        Some(*status)
                    }
                    _ => None,
                });
            (st.latency, injected, oversized)
        };
        if oversized {
            self.state().requests.push(RecordedRequest::new(
                &method,
                &uri,
                &headers,
                &["content-type", "cookie"],
                body_text,
                200,
                "(oversized body)".into(),
            ));
            return self.oversized_body();
        }
        let now_in_flight = self.inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.inner
            .max_in_flight
            .fetch_max(now_in_flight, Ordering::SeqCst);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let reply = match injected {
            Some(status) => Reply::jamf_error(
                status,
                "INJECTED_FAILURE",
                "failure injected by the stand-in",
            ),
            None => self.route(&method, &path, &headers, &body_text).await,
        };
        self.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.state().requests.push(RecordedRequest::new(
            &method,
            &uri,
            &headers,
            &["content-type", "cookie"],
            body_text,
            reply.status,
            reply.body.clone(),
        ));
        let mut response = (
            StatusCode::from_u16(reply.status).expect("valid status"),
            reply.body,
        )
            .into_response();
        let h = response.headers_mut();
        if !response_is_empty(reply.status) {
            h.insert(
                "content-type",
                "application/json".parse().expect("static header"),
            );
        }
        for (name, value) in reply.headers {
            h.append(name, value.parse().expect("header value"));
        }
        response
    }

    /// 256 MiB of JSON whitespace in 64 KiB chunks, counted as hyper pulls them: it stops
    /// pulling once the client hangs up.
    fn oversized_body(&self) -> Response {
        const CHUNK: usize = 64 * 1024;
        let sent = self.inner.oversized_sent.clone();
        let chunks = (0..4096).map(move |_| {
            sent.fetch_add(CHUNK, Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(Bytes::from(vec![b' '; CHUNK]))
        });
        let mut response =
            axum::body::Body::from_stream(futures_util::stream::iter(chunks)).into_response();
        response.headers_mut().insert(
            "content-type",
            "application/json".parse().expect("static header"),
        );
        response
    }

    async fn route(&self, method: &Method, path: &str, headers: &HeaderMap, body: &str) -> Reply {
        let m = method.as_str();
        let mut reply = match (m, path) {
            ("POST", "/api/v1/oauth/token") if self.state().legacy_oauth_only => {
                Reply::jamf_error(404, "NOT_FOUND", "Not Found")
            }
            ("POST", "/api/v1/oauth/token" | "/api/oauth/token") => self.oauth(body),
            ("POST", "/api/v1/auth/token") => self.user_token(headers),
            _ => {
                let Some(token) = self.bearer(headers) else {
                    return Reply::jamf_error(401, "INVALID_TOKEN", "Unauthorized");
                };
                return self.api(m, path, &token, headers, body).await;
            }
        };
        // The load balancer pins a client that does not carry its cookie yet.
        let pinned = header(headers, "cookie").is_some_and(|c| c.contains("jpro-ingress="));
        if reply.status == 200 && !pinned {
            let node = {
                let mut st = self.state();
                st.nodes += 1;
                format!("node-{}-{}", st.nodes, &random_token()[..8])
            };
            reply.headers.push((
                "set-cookie",
                format!("jpro-ingress={node}; Path=/; HttpOnly"),
            ));
        }
        reply
    }

    fn issue(&self, st: &mut State) -> (String, chrono::DateTime<chrono::Utc>) {
        let token = random_token();
        let expires = self.inner.clock.now() + chrono::Duration::seconds(TOKEN_LIFETIME_SECS);
        st.tokens.insert(token.clone(), expires);
        (token, expires)
    }

    fn oauth(&self, body: &str) -> Reply {
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return Reply::oauth_error(
                "unsupported_grant_type",
                "grant_type must be client_credentials",
            );
        }
        let mut st = self.state();
        let known = match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => st.api_clients.get(id) == Some(secret),
            _ => false,
        };
        if !known {
            return Reply::oauth_error("invalid_client", "Client authentication failed");
        }
        let (token, _) = self.issue(&mut st);
        Reply::json(
            200,
            json!({"access_token": token, "token_type": "Bearer", "scope": "api-role:1", "expires_in": TOKEN_LIFETIME_SECS - 1}),
        )
    }

    fn user_token(&self, headers: &HeaderMap) -> Reply {
        use base64_decode::decode_basic;
        let creds = header(headers, "authorization").and_then(|v| decode_basic(&v));
        let mut st = self.state();
        match creds {
            Some((user, password)) if st.users.get(&user) == Some(&password) => {
                let (token, expires) = self.issue(&mut st);
                let expires = expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                Reply::json(200, json!({"token": token, "expires": expires}))
            }
            _ => Reply::jamf_error(401, "INVALID_CREDENTIALS", "Authentication failed"),
        }
    }

    /// The bearer token, when it is known and not expired (by the injected clock).
    fn bearer(&self, headers: &HeaderMap) -> Option<String> {
        let token = header(headers, "authorization")?
            .strip_prefix("Bearer ")?
            .to_string();
        let now = self.inner.clock.now();
        let st = self.state();
        st.tokens
            .get(&token)
            .filter(|exp| **exp > now)
            .map(|_| token)
    }

    async fn api(
        &self,
        m: &str,
        path: &str,
        token: &str,
        headers: &HeaderMap,
        body: &str,
    ) -> Reply {
        match (m, path) {
            ("POST", "/api/v1/auth/keep-alive") => {
                let mut st = self.state();
                st.tokens.remove(token);
                let (token, expires) = self.issue(&mut st);
                let expires = expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                Reply::json(200, json!({"token": token, "expires": expires}))
            }
            ("POST", "/api/v1/auth/invalidate-token") => {
                self.state().tokens.remove(token);
                Reply::empty(204)
            }
            ("GET", "/api/v2/smtp-server") => Reply::json(200, self.state().smtp.clone()),
            ("PUT", "/api/v2/smtp-server") => self.put_smtp(headers, body),
            ("POST", "/api/v1/smtp-server/test") => self.smtp_test(body).await,
            ("GET", "/api/v1/notifications") => {
                let list: Vec<Value> = self
                    .state()
                    .notifications
                    .iter()
                    .enumerate()
                    .map(|(i, t)| json!({"type": t, "id": (i + 1).to_string(), "params": {}}))
                    .collect();
                Reply::json(200, Value::Array(list))
            }
            ("GET", "/api/v1/jamf-pro-version") => {
                Reply::json(200, json!({"version": "11.30.1-t1761234567890"}))
            }
            ("GET", "/api/v1/health-check") => Reply::empty(204),
            ("GET", "/api/v1/sso/failover") => Reply::json(
                200,
                json!({"failoverUrl": format!("{}?failover={}", self.url(), random_token()), "generationTime": self.inner.clock.now().timestamp_millis()}),
            ),
            _ => Reply::jamf_error(404, "NOT_FOUND", "Not Found"),
        }
    }
}

fn response_is_empty(status: u16) -> bool {
    status == 204 || status == 202
}

mod base64_decode {
    //! Just enough base64 to read an HTTP Basic header (the crate has no base64 dependency).

    pub(super) fn decode_basic(value: &str) -> Option<(String, String)> {
        let encoded = value.strip_prefix("Basic ")?.trim();
        let bytes = decode(encoded)?;
        let text = String::from_utf8(bytes).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_string(), password.to_string()))
    }

    fn decode(s: &str) -> Option<Vec<u8>> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut buf, mut bits) = (0u32, 0u32);
        for c in s.bytes().filter(|c| *c != b'=') {
            let v = ALPHABET.iter().position(|a| *a == c)? as u32;
            buf = (buf << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
                buf &= (1 << bits) - 1;
            }
        }
        Some(out)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn decodes_basic() {
            assert_eq!(
                super::decode_basic("Basic YWRtaW46cGE6c3M="),
                Some(("admin".into(), "pa:ss".into()))
            );
        }
    }
}
