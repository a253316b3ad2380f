//! Microsoft Graph's wire format: its error shape and the application / password credential
//! JSON, read strictly (a missing or ill-typed field is an `InvalidResponse` naming it).

use super::retry::{Failure, Retry};
use super::wire::{self, opt_str, opt_time, req_array, req_str, Raw};
use crate::ports::{Application, DirectoryError, NewPassword, PasswordCredential};
use secrecy::SecretString;
use serde_json::Value;

/// Turns a Graph error answer into a [`Failure`]: 429 and 5xx are retryable, the rest are not.
/// Graph's `error.code`, `message` and `innerError.request-id` are kept; the message is cut to
/// a sane length and scrubbed of the secrets in `scrub`.
pub fn error(raw: &Raw, operation: &str, scrub: &[&SecretString]) -> Failure {
    let body: Option<Value> = serde_json::from_slice(&raw.body).ok();
    let err = body.as_ref().and_then(|b| b.get("error"));
    let text = |k: &str| {
        err.and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let inner_id = err
        .and_then(|e| e.get("innerError").or_else(|| e.get("innererror")))
        .and_then(|i| i.get("request-id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let request_id = raw.request_id().or(inner_id);
    let (code, message) = match (text("code"), text("message")) {
        (Some(c), m) => (c, m.unwrap_or_default()),
        // Not Graph's JSON (a proxy's page, say): describe it, never quote it.
        (None, _) => (
            "(no Graph error)".to_string(),
            format!("{} bytes of non-Graph body", raw.body.len()),
        ),
    };
    let clean = |s: &str, max| crate::redact::truncate(&crate::redact::scrub(s, scrub), max);
    let (code, message) = (clean(&code, 100), clean(&message, 300));
    let request_id = request_id.map(|r| clean(&r, 100));
    let retry = match raw.status {
        429 => Retry::Throttled(crate::http::retry_after(&raw.headers)),
        500..=599 => Retry::Transient(crate::http::retry_after(&raw.headers)),
        _ => Retry::No,
    };
    let error = DirectoryError::Graph {
        operation: operation.to_string(),
        status: raw.status,
        code,
        message,
        request_id,
    };
    Failure { error, retry }
}

/// Parses `GET /applications/…?$select=id,appId,displayName,passwordCredentials`.
pub fn application(v: &Value, operation: &str) -> Result<Application, DirectoryError> {
    if !v.is_object() {
        return Err(wire::invalid(operation, "body is not a JSON object"));
    }
    let passwords = req_array(v, "passwordCredentials", "", operation)?
        .iter()
        .enumerate()
        .map(|(i, p)| credential(p, &format!("passwordCredentials[{i}]."), operation))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Application {
        object_id: req_str(v, "id", "", operation)?,
        client_id: req_str(v, "appId", "", operation)?,
        display_name: opt_str(v, "displayName", "", operation)?,
        passwords,
    })
}

/// Parses one `passwordCredential` (`path` prefixes field names in errors).
pub fn credential(
    v: &Value,
    path: &str,
    operation: &str,
) -> Result<PasswordCredential, DirectoryError> {
    if !v.is_object() {
        return Err(wire::invalid(
            operation,
            format!("'{}' is not an object", path.trim_end_matches('.')),
        ));
    }
    Ok(PasswordCredential {
        key_id: req_str(v, "keyId", path, operation)?,
        display_name: opt_str(v, "displayName", path, operation)?,
        start: opt_time(v, "startDateTime", path, operation)?,
        end: opt_time(v, "endDateTime", path, operation)?,
        hint: opt_str(v, "hint", path, operation)?,
    })
}

/// Parses `addPassword`'s answer, moving `secretText` into a [`SecretString`] before anything
/// else can copy it.
pub fn new_password(mut v: Value, operation: &str) -> Result<NewPassword, DirectoryError> {
    let secret = match v.get_mut("secretText").map(Value::take) {
        Some(Value::String(s)) if !s.is_empty() => SecretString::from(s),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(wire::invalid(operation, "field 'secretText' is missing"))
        }
        Some(_) => {
            return Err(wire::invalid(
                operation,
                "field 'secretText' is not a string",
            ))
        }
    };
    let credential = credential(&v, "", operation)?;
    Ok(NewPassword { credential, secret })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use serde_json::json;

    fn app_json() -> Value {
        json!({"id": "obj", "appId": "app", "displayName": "Jamf", "passwordCredentials": [
            {"customKeyIdentifier": null, "displayName": "rotated", "endDateTime": "2026-11-01T00:00:00Z",
             "hint": "abc", "keyId": "k1", "secretText": null, "startDateTime": "2026-05-01T00:00:00Z"}]})
    }

    #[test]
    fn applications_parse() {
        let a = application(&app_json(), "op").unwrap();
        assert_eq!((a.object_id.as_str(), a.client_id.as_str()), ("obj", "app"));
        assert_eq!(a.passwords[0].key_id, "k1");
        assert_eq!(
            a.passwords[0].end.unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let mut v = app_json();
        v["passwordCredentials"][0]["endDateTime"] = json!(17);
        let e = application(&v, "op").unwrap_err().to_string();
        assert!(e.contains("passwordCredentials[0].endDateTime"), "{e}");
        let mut v = app_json();
        v.as_object_mut().unwrap().remove("appId");
        assert!(application(&v, "op")
            .unwrap_err()
            .to_string()
            .contains("'appId' is missing"));
        let mut v = app_json();
        v["passwordCredentials"] = json!({});
        assert!(application(&v, "op")
            .unwrap_err()
            .to_string()
            .contains("not an array"));
    }

    #[test]
    fn new_password_keeps_the_secret_only_in_a_secret_string() {
        let v = json!({"keyId": "k2", "secretText": "abC8Q~0123456789012345678901234567890123", "hint": "abC"});
        let p = new_password(v, "addPassword").unwrap();
        assert_eq!(
            p.secret.expose_secret(),
            "abC8Q~0123456789012345678901234567890123"
        );
        assert!(!format!("{p:?}").contains("Q~0123"));
        let e =
            new_password(json!({"keyId": "k2", "secretText": null}), "addPassword").unwrap_err();
        assert!(e.to_string().contains("secretText"));
    }

    #[test]
    fn graph_errors_keep_code_message_and_request_id() {
        let body = json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges.",
            "innerError": {"request-id": "rid-1"}}});
        let raw = Raw {
            status: 403,
            headers: Default::default(),
            body: body.to_string().into_bytes(),
        };
        let f = error(&raw, "addPassword", &[]);
        assert_eq!(f.retry, Retry::No);
        let s = f.error.to_string();
        assert!(
            s.contains("Authorization_RequestDenied") && s.contains("rid-1") && s.contains("403"),
            "{s}"
        );
    }

    #[test]
    fn graph_error_messages_are_scrubbed() {
        let secret = SecretString::from("hunter2-very-secret");
        let body = json!({"error": {"code": "X", "message": "echo hunter2-very-secret"}});
        let raw = Raw {
            status: 400,
            headers: Default::default(),
            body: body.to_string().into_bytes(),
        };
        assert!(!error(&raw, "op", &[&secret])
            .error
            .to_string()
            .contains("hunter2"));
        // Found by fuzzing: the code and the request id were kept as sent.
        let body = json!({"error": {"code": "X hunter2-very-secret", "message": "m",
            "innerError": {"request-id": "hunter2-very-secret"}}});
        let raw = Raw {
            status: 400,
            headers: Default::default(),
            body: body.to_string().into_bytes(),
        };
        let e = error(&raw, "op", &[&secret]).error.to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
