//! Credential sign-in activity (`GET /beta/reports/appCredentialSignInActivities`): when a client
//! secret last signed in. The observed-use gate waits for the new secret to appear here before the
//! old one is retired.

use crate::ports::DirectoryError;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The last sign-in of `key_id` in a report page, `None` when the report has not seen it.
pub fn last_used(
    report: &Value,
    key_id: &str,
    op: &str,
) -> Result<Option<DateTime<Utc>>, DirectoryError> {
    let bad = |m: &str| DirectoryError::InvalidResponse {
        operation: op.to_string(),
        message: m.to_string(),
    };
    let entries = report
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("`value` is not a list"))?;
    let mut last: Option<DateTime<Utc>> = None;
    for e in entries {
        let Some(k) = e.get("keyId").and_then(Value::as_str) else {
            continue;
        };
        if !k.eq_ignore_ascii_case(key_id) {
            continue;
        }
        let Some(t) = e
            .pointer("/signInActivity/lastSignInDateTime")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let t = DateTime::parse_from_rfc3339(t)
            .map_err(|_| bad("`lastSignInDateTime` is not a date"))?
            .with_timezone(&Utc);
        last = Some(last.map_or(t, |l| l.max(t)));
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_latest_sign_in_of_the_key_and_ignores_others() {
        let r = json!({"value": [
            {"keyId": "AAA", "signInActivity": {"lastSignInDateTime": "2026-11-01T00:00:00Z"}},
            {"keyId": "bbb", "signInActivity": {"lastSignInDateTime": "2026-11-05T00:00:00Z"}},
            {"keyId": "aaa", "signInActivity": null},
        ]});
        assert_eq!(
            last_used(&r, "aaa", "op").unwrap().unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(last_used(&r, "ccc", "op").unwrap(), None);
        assert!(last_used(
            &json!({"value": [{"keyId": "aaa", "signInActivity": {"lastSignInDateTime": "soon"}}]}),
            "aaa",
            "op"
        )
        .is_err());
        assert!(last_used(&json!("<html>"), "aaa", "op").is_err());
    }
}
