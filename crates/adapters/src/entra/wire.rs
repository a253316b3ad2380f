//! What the token endpoint and Graph clients share: building URLs from settings, sending one
//! request, and reading JSON strictly. Errors built here never quote a request or response body:
//! either may hold a secret or a token.

use super::retry::{Failure, Retry};
use crate::ports::DirectoryError;
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde_json::Value;
use url::Url;

/// A response as received, before anyone decides what it means.
pub struct Raw {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Raw {
    /// Microsoft's request id: Graph's `request-id`, or the login endpoint's `x-ms-request-id`.
    pub fn request_id(&self) -> Option<String> {
        ["request-id", "x-ms-request-id"].iter().find_map(|h| {
            self.headers
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
    }

    /// The body as JSON, or `InvalidResponse` saying what it was instead (never quoting it).
    pub fn json(&self, operation: &str) -> Result<Value, DirectoryError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let kind = self
                .headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("no content type");
            let what = if e.is_eof() {
                "truncated JSON"
            } else {
                "not JSON"
            };
            invalid(
                operation,
                format!(
                    "HTTP {} body is {what} ({kind}, {} bytes)",
                    self.status,
                    self.body.len()
                ),
            )
        })
    }
}

/// Shorthand for an `InvalidResponse`.
pub fn invalid(operation: &str, message: impl Into<String>) -> DirectoryError {
    DirectoryError::InvalidResponse {
        operation: operation.to_string(),
        message: message.into(),
    }
}

/// Joins a configured base URL (checked: HTTPS, or HTTP to loopback where `loopback` allows it)
/// and a path.
pub fn endpoint(
    base: &Url,
    path: &str,
    setting: &str,
    loopback: crate::http::LoopbackHttp,
) -> Result<Url, DirectoryError> {
    crate::http::check_url(base, loopback)
        .map_err(|p| DirectoryError::Config(format!("{setting}: {p}")))?;
    let joined = format!("{}{}", base.as_str().trim_end_matches('/'), path);
    Url::parse(&joined)
        .map_err(|e| DirectoryError::Config(format!("{setting}: cannot build a URL from it: {e}")))
}

/// Checks a tenant, object or client id before it goes into a URL path: ids and domains only,
/// so a malformed document cannot address another resource.
pub fn segment<'a>(what: &str, value: &'a str) -> Result<&'a str, DirectoryError> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !value.starts_with('.');
    if ok {
        Ok(value)
    } else {
        Err(DirectoryError::Config(format!(
            "{what} '{}' is not a GUID or domain name",
            crate::redact::truncate(value, 60)
        )))
    }
}

/// Sends one request and reads its body (at most [`crate::http::MAX_RESPONSE_BYTES`]);
/// transport failures become retryable [`Failure`]s, a body over the cap a fatal one.
pub async fn send(request: reqwest::RequestBuilder, operation: &str) -> Result<Raw, Failure> {
    let transport = |e: reqwest::Error| {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else if e.is_body() || e.is_decode() {
            "connection broke while reading the response"
        } else {
            "request failed"
        };
        let host = e
            .url()
            .and_then(|u| u.host_str())
            .unwrap_or("the server")
            .to_string();
        tracing::warn!(operation, host, error = %e.without_url(), "{what}");
        Failure {
            error: DirectoryError::Unavailable {
                operation: operation.to_string(),
                message: format!("{what} ({host})"),
            },
            retry: Retry::Transient(None),
        }
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match crate::http::read_body(response, crate::http::MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(crate::http::ResponseError::Transport(e)) => return Err(transport(e)),
        // Not retried: a server or proxy that answers this once will answer it again.
        Err(crate::http::ResponseError::TooLarge { limit }) => {
            tracing::warn!(operation, status, limit, "the answer is over the size cap");
            return Err(Failure::fatal(invalid(
                operation,
                crate::http::too_large(limit),
            )));
        }
    };
    Ok(Raw {
        status,
        headers,
        body,
    })
}

/// A required string field, `InvalidResponse` naming `field` when absent or not a string.
pub fn req_str(
    v: &Value,
    field: &str,
    path: &str,
    operation: &str,
) -> Result<String, DirectoryError> {
    match v.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(invalid(
            operation,
            format!("field '{path}{field}' is missing"),
        )),
        Some(_) => Err(invalid(
            operation,
            format!("field '{path}{field}' is not a string"),
        )),
    }
}

/// An optional string field (absent or null → `None`), `InvalidResponse` when ill-typed.
pub fn opt_str(
    v: &Value,
    field: &str,
    path: &str,
    operation: &str,
) -> Result<Option<String>, DirectoryError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(
            operation,
            format!("field '{path}{field}' is not a string"),
        )),
    }
}

/// An optional RFC 3339 time field.
pub fn opt_time(
    v: &Value,
    field: &str,
    path: &str,
    operation: &str,
) -> Result<Option<DateTime<Utc>>, DirectoryError> {
    opt_str(v, field, path, operation)?
        .map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    invalid(
                        operation,
                        format!("field '{path}{field}' is not an RFC 3339 time"),
                    )
                })
        })
        .transpose()
}

/// A required array field.
pub fn req_array<'a>(
    v: &'a Value,
    field: &str,
    path: &str,
    operation: &str,
) -> Result<&'a Vec<Value>, DirectoryError> {
    match v.get(field) {
        Some(Value::Array(a)) => Ok(a),
        None | Some(Value::Null) => Err(invalid(
            operation,
            format!("field '{path}{field}' is missing"),
        )),
        Some(_) => Err(invalid(
            operation,
            format!("field '{path}{field}' is not an array"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn segments_refuse_path_tricks() {
        assert!(segment("tenant", "contoso.onmicrosoft.com").is_ok());
        assert!(segment("tenant", "6f1c2d9e-0000-4000-8000-000000000001").is_ok());
        for bad in ["", "../x", "a/b", "a'b", "a?b", ".."] {
            assert!(segment("tenant", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoint_refuses_plain_http_to_remote_hosts() {
        let e = endpoint(
            &Url::parse("http://graph.example.com").unwrap(),
            "/v1.0/x",
            "GRAPH_URL",
            crate::http::LoopbackHttp::Allowed,
        )
        .unwrap_err();
        assert!(e.to_string().contains("GRAPH_URL"), "{e}");
        let u = endpoint(
            &Url::parse("https://graph.microsoft.com").unwrap(),
            "/v1.0/x",
            "GRAPH_URL",
            crate::http::LoopbackHttp::Allowed,
        )
        .unwrap();
        assert_eq!(u.as_str(), "https://graph.microsoft.com/v1.0/x");
    }

    #[test]
    fn fields_are_named_when_wrong() {
        let v = json!({"a": 1, "t": "yesterday"});
        assert!(req_str(&v, "a", "x.", "op")
            .unwrap_err()
            .to_string()
            .contains("'x.a' is not a string"));
        assert!(req_str(&v, "b", "", "op")
            .unwrap_err()
            .to_string()
            .contains("'b' is missing"));
        assert!(opt_time(&v, "t", "", "op")
            .unwrap_err()
            .to_string()
            .contains("RFC 3339"));
        assert_eq!(opt_str(&v, "missing", "", "op").unwrap(), None);
    }

    #[test]
    fn html_is_reported_without_quoting_it() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "text/html".parse().unwrap());
        let raw = Raw {
            status: 200,
            headers,
            body: b"<html>secret-looking</html>".to_vec(),
        };
        let e = raw.json("GET application").unwrap_err().to_string();
        assert!(e.contains("not JSON") && e.contains("text/html"), "{e}");
        assert!(!e.contains("secret-looking"), "{e}");
    }
}
