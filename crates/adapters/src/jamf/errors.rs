//! Turning Jamf Pro's error answers into [`TargetError`]s that say what failed without ever
//! carrying a secret, a token or a request body.

use crate::ports::TargetError;
use crate::redact::{scrub, truncate};
use secrecy::SecretString;
use serde::Deserialize;

/// Longest server message kept in an error.
const MAX_MESSAGE: usize = 300;

/// Jamf's own error shape: `{"httpStatus","errors":[{"code","field","description","id"}]}`.
#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    errors: Vec<ApiErrorCause>,
}

#[derive(Deserialize)]
struct ApiErrorCause {
    code: Option<String>,
    field: Option<String>,
    description: Option<String>,
}

/// The RFC 6749 shape the OAuth token endpoint uses instead.
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

/// What an error body said: Jamf's code (or the OAuth `error`) and a readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// Jamf's error code, or the OAuth error.
    pub code: Option<String>,
    /// A one-line description, scrubbed and truncated.
    pub message: String,
}

/// Reads an error body. Jamf's shape and the OAuth shape are understood; an HTML page (a proxy,
/// a maintenance page, a login redirect) and an empty body get a message saying so.
pub fn explain(status: u16, body: &[u8], secrets: &[&SecretString]) -> Explained {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    let clean = |s: &str| truncate(&scrub(s, secrets), MAX_MESSAGE);
    if let Ok(e) = serde_json::from_str::<ApiError>(trimmed) {
        if let Some(first) = e.errors.first() {
            let mut message = first
                .description
                .clone()
                .unwrap_or_else(|| "no description".into());
            if let Some(field) = first.field.as_deref().filter(|f| !f.is_empty()) {
                message = format!("{message} (field {field})");
            }
            if e.errors.len() > 1 {
                message = format!("{message} (and {} more)", e.errors.len() - 1);
            }
            return Explained {
                code: first.code.as_deref().map(clean),
                message: clean(&message),
            };
        }
    }
    if let Ok(e) = serde_json::from_str::<OAuthError>(trimmed) {
        let message = e.error_description.unwrap_or_else(|| e.error.clone());
        return Explained {
            code: Some(clean(&e.error)),
            message: clean(&message),
        };
    }
    let message = if trimmed.is_empty() {
        format!("HTTP {status} with an empty body")
    } else if trimmed.starts_with('<') {
        // Never quote the page: it may be a login form that reflects what was sent.
        format!(
            "HTTP {status} with an HTML page instead of JSON (a proxy, maintenance or login page?)"
        )
    } else {
        format!(
            "HTTP {status} with a body that is not Jamf's error shape: {}",
            clean(trimmed)
        )
    };
    Explained {
        code: None,
        message,
    }
}

/// Builds the [`TargetError::Api`] for a failed call and logs Jamf's status.
pub(crate) fn api_error(
    operation: &str,
    status: u16,
    body: &[u8],
    secrets: &[&SecretString],
) -> TargetError {
    let e = explain(status, body, secrets);
    tracing::warn!(
        operation,
        status,
        code = e.code.as_deref().unwrap_or(""),
        "Jamf Pro call failed"
    );
    TargetError::Api {
        operation: operation.to_string(),
        status,
        code: e.code,
        message: e.message,
    }
}

/// Describes why a response could not be received: a transport failure (without its URL's
/// query or any header), or a body over the size cap.
pub(crate) fn transport(operation: &str, e: &crate::http::ResponseError) -> TargetError {
    let e = match e {
        crate::http::ResponseError::Transport(e) => e,
        crate::http::ResponseError::TooLarge { limit } => {
            tracing::warn!(operation, limit, "Jamf Pro's answer is over the size cap");
            return TargetError::InvalidResponse {
                operation: operation.to_string(),
                message: crate::http::too_large(*limit),
            };
        }
    };
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response was cut off"
    } else {
        "the request failed"
    };
    // The innermost cause ("connection refused", "dns error") helps; it holds no request data.
    let mut innermost = None;
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        innermost = Some(cause.to_string());
        next = cause.source();
    }
    let detail = innermost.map(|c| format!(" ({c})")).unwrap_or_default();
    tracing::warn!(operation, what, "Jamf Pro call failed");
    TargetError::Unavailable {
        operation: operation.to_string(),
        message: format!("{what}{detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jamf_shape_oauth_shape_html_and_empty() {
        let e = explain(
            400,
            br#"{"httpStatus":400,"errors":[{"code":"INVALID_FIELD","field":"senderSettings.emailAddress","description":"must not be blank","id":null}]}"#,
            &[],
        );
        assert_eq!(e.code.as_deref(), Some("INVALID_FIELD"));
        assert!(
            e.message.contains("must not be blank") && e.message.contains("senderSettings"),
            "{e:?}"
        );
        let e = explain(
            400,
            br#"{"error":"invalid_client","error_description":"bad client"}"#,
            &[],
        );
        assert_eq!(e.code.as_deref(), Some("invalid_client"));
        let e = explain(502, b"<html><body>Bad gateway</body></html>", &[]);
        assert!(
            e.message.contains("HTML") && !e.message.contains("Bad gateway"),
            "{e:?}"
        );
        assert!(explain(500, b"", &[]).message.contains("empty body"));
    }

    #[test]
    fn echoed_secrets_are_scrubbed() {
        let s = SecretString::from("Zq8~echoed-secret".to_string());
        let body = br#"{"httpStatus":400,"errors":[{"code":"X","field":"","description":"bad value Zq8~echoed-secret","id":null}]}"#;
        let e = explain(400, body, &[&s]);
        assert!(!e.message.contains("echoed-secret"), "{e:?}");
        // Found by fuzzing: the code was kept as sent, in both shapes.
        let body = br#"{"httpStatus":400,"errors":[{"code":"X Zq8~echoed-secret","id":null}]}"#;
        let e = explain(400, body, &[&s]);
        assert!(!format!("{e:?}").contains("echoed-secret"), "{e:?}");
        let e = explain(400, br#"{"error":"bad Zq8~echoed-secret"}"#, &[&s]);
        assert!(!format!("{e:?}").contains("echoed-secret"), "{e:?}");
    }
}
