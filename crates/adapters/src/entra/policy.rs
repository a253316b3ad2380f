//! App management policies: the longest password lifetime a tenant allows.
//!
//! Restrictions that only apply to apps created after a date are applied regardless: we do not
//! read the app's creation date, and a shorter secret lifetime is always safe.

use super::wire;
use crate::ports::DirectoryError;
use serde_json::Value;

/// The smallest enabled `passwordLifetime` in one policy's `passwordCredentials` restrictions.
fn smallest(
    restrictions: Option<&Value>,
    path: &str,
    operation: &str,
) -> Result<Option<chrono::Duration>, DirectoryError> {
    let Some(list) = restrictions.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let list = list
        .as_array()
        .ok_or_else(|| wire::invalid(operation, format!("field '{path}' is not an array")))?;
    let mut best: Option<chrono::Duration> = None;
    for (i, r) in list.iter().enumerate() {
        let here = format!("{path}[{i}].");
        if wire::opt_str(r, "restrictionType", &here, operation)?.as_deref()
            != Some("passwordLifetime")
        {
            continue;
        }
        // `state` is nullable; a restriction that does not say it is disabled is taken as enabled.
        if wire::opt_str(r, "state", &here, operation)?.as_deref() == Some("disabled") {
            continue;
        }
        let Some(raw) = wire::opt_str(r, "maxLifetime", &here, operation)? else {
            continue;
        };
        let max = iso8601_duration(&raw).ok_or_else(|| {
            wire::invalid(
                operation,
                format!("field '{here}maxLifetime' is not an ISO 8601 duration"),
            )
        })?;
        best = Some(best.map_or(max, |b| b.min(max)));
    }
    Ok(best)
}

fn enabled(policy: &Value) -> bool {
    policy.get("isEnabled").and_then(Value::as_bool) != Some(false)
}

/// The limit in `GET /applications/{id}/appManagementPolicies`.
pub fn per_app(v: &Value, operation: &str) -> Result<Option<chrono::Duration>, DirectoryError> {
    let mut best: Option<chrono::Duration> = None;
    for (i, p) in wire::req_array(v, "value", "", operation)?
        .iter()
        .enumerate()
        .filter(|(_, p)| enabled(p))
    {
        let found = smallest(
            p.get("restrictions")
                .and_then(|r| r.get("passwordCredentials")),
            &format!("value[{i}].restrictions.passwordCredentials"),
            operation,
        )?;
        best = [best, found].into_iter().flatten().min();
    }
    Ok(best)
}

/// The limit in `GET /policies/defaultAppManagementPolicy`.
pub fn tenant_default(
    v: &Value,
    operation: &str,
) -> Result<Option<chrono::Duration>, DirectoryError> {
    if !v.is_object() {
        return Err(wire::invalid(operation, "body is not a JSON object"));
    }
    if !enabled(v) {
        return Ok(None);
    }
    smallest(
        v.get("applicationRestrictions")
            .and_then(|r| r.get("passwordCredentials")),
        "applicationRestrictions.passwordCredentials",
        operation,
    )
}

/// Parses an ISO 8601 duration of whole units (`P90D`, `P1Y`, `P2W`, `PT12H`, `P1DT2H30M`).
/// A year counts 365 days and a month 30, as Entra's own lifetime checks do for policies.
pub fn iso8601_duration(s: &str) -> Option<chrono::Duration> {
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut total = chrono::Duration::zero();
    let mut any = false;
    let mut add = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut num = String::new();
        let mut unit_idx = 0;
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            // Units must come in order and each at most once.
            let pos = units[unit_idx..].iter().position(|(u, _)| *u == c)? + unit_idx;
            let n: i64 = num.parse().ok()?;
            total = total.checked_add(&chrono::Duration::try_seconds(
                n.checked_mul(units[pos].1)?,
            )?)?;
            num.clear();
            unit_idx = pos + 1;
            any = true;
        }
        num.is_empty().then_some(())
    };
    const DAY: i64 = 86_400;
    add(
        date,
        &[
            ('Y', 365 * DAY),
            ('M', 30 * DAY),
            ('W', 7 * DAY),
            ('D', DAY),
        ],
    )?;
    if let Some(t) = time {
        add(t, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_parse() {
        assert_eq!(iso8601_duration("P90D"), Some(chrono::Duration::days(90)));
        assert_eq!(iso8601_duration("P1Y"), Some(chrono::Duration::days(365)));
        assert_eq!(iso8601_duration("PT12H"), Some(chrono::Duration::hours(12)));
        assert_eq!(
            iso8601_duration("P1DT2H30M"),
            Some(chrono::Duration::minutes(24 * 60 + 150))
        );
        assert_eq!(iso8601_duration("P2W"), Some(chrono::Duration::days(14)));
        // "P99999999999Y" (found by fuzzing) fits an i64 of seconds but not a chrono duration.
        for bad in [
            "",
            "P",
            "PT",
            "90D",
            "P1.5D",
            "PD",
            "P1H",
            "P1D2Y",
            "P1DT",
            "P99999999999Y",
        ] {
            assert_eq!(iso8601_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_smallest_enabled_password_lifetime_wins() {
        let v = json!({"value": [{"isEnabled": true, "restrictions": {"passwordCredentials": [
            {"restrictionType": "passwordLifetime", "maxLifetime": "P30D", "state": "disabled"},
            {"restrictionType": "passwordLifetime", "maxLifetime": "P60D", "state": "enabled"},
            {"restrictionType": "passwordAddition", "maxLifetime": null, "state": "enabled"}]}},
            {"isEnabled": true, "restrictions": {"passwordCredentials": [
            {"restrictionType": "passwordLifetime", "maxLifetime": "P1Y", "state": "enabled"}]}}]});
        assert_eq!(per_app(&v, "op").unwrap(), Some(chrono::Duration::days(60)));
        assert_eq!(per_app(&json!({"value": []}), "op").unwrap(), None);
    }

    #[test]
    fn tenant_default_is_read_and_a_disabled_policy_ignored() {
        let mut v = json!({"isEnabled": true, "applicationRestrictions": {"passwordCredentials": [
            {"restrictionType": "passwordLifetime", "maxLifetime": "P90D", "state": "enabled"}]}});
        assert_eq!(
            tenant_default(&v, "op").unwrap(),
            Some(chrono::Duration::days(90))
        );
        v["isEnabled"] = json!(false);
        assert_eq!(tenant_default(&v, "op").unwrap(), None);
    }

    #[test]
    fn bad_lifetimes_are_named() {
        let v = json!({"applicationRestrictions": {"passwordCredentials": [
            {"restrictionType": "passwordLifetime", "maxLifetime": "ninety days"}]}});
        let e = tenant_default(&v, "op").unwrap_err().to_string();
        assert!(
            e.contains("applicationRestrictions.passwordCredentials[0].maxLifetime"),
            "{e}"
        );
    }
}
