//! CloudWatch metrics as Embedded Metric Format (EMF) log lines.
//!
//! In Lambda, a JSON line on stdout with an `_aws` block becomes a CloudWatch metric: no
//! PutMetricData call, no extra permission, no latency. Dashboards and alarms use namespace
//! [`NAMESPACE`] with the dimension `Target` (the secret id), e.g. an alarm on
//! `DaysUntilExpiry < 14` catches a rotation that keeps failing.

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric this crate emits.
pub const NAMESPACE: &str = "JamfEntraRotator";
/// The dimension naming the rotation target.
pub const TARGET_DIMENSION: &str = "Target";

/// One EMF line: a JSON object with `_aws.Timestamp`, one `CloudWatchMetrics` directive
/// (namespace, one dimension set, the metrics' names and units) and the dimension and metric
/// values at top level. `unit` is a CloudWatch unit (`Count`, `Seconds`, `None`, …).
pub fn emf_line(
    namespace: &str,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, &str)],
    timestamp_ms: i64,
) -> String {
    let mut root = Map::new();
    for (name, value) in dimensions {
        root.insert(name.to_string(), Value::from(*value));
    }
    for (name, value, _) in metrics {
        // JSON has no NaN or infinity; CloudWatch would drop the whole line.
        let v = if value.is_finite() {
            Value::from(*value)
        } else {
            Value::Null
        };
        root.insert(name.to_string(), v);
    }
    let dims: Vec<&str> = dimensions.iter().map(|(n, _)| *n).collect();
    let defs: Vec<Value> = metrics
        .iter()
        .map(|(n, _, u)| json!({"Name": n, "Unit": u}))
        .collect();
    root.insert(
        "_aws".to_string(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [dims], "Metrics": defs}],
        }),
    );
    Value::Object(root).to_string()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn target_line(target: &str, metric: &str, value: f64, unit: &str) -> String {
    emf_line(
        NAMESPACE,
        &[(TARGET_DIMENSION, target)],
        &[(metric, value, unit)],
        now_ms(),
    )
}

/// `DaysUntilExpiry` of the target's managed secret (negative once expired).
pub fn days_until_expiry(target: &str, days: i64) -> String {
    target_line(target, "DaysUntilExpiry", days as f64, "None")
}

/// `RotationSucceeded` = 1 for the target.
pub fn rotation_succeeded(target: &str) -> String {
    target_line(target, "RotationSucceeded", 1.0, "Count")
}

/// `RotationFailed` = 1 for the target.
pub fn rotation_failed(target: &str) -> String {
    target_line(target, "RotationFailed", 1.0, "Count")
}

/// `PropagationSeconds` of the target: from `addPassword` to the last of the consecutive
/// acceptances the propagation wait requires (tune `PROPAGATION_TIMEOUT_SECS` from it).
pub fn propagation_seconds(target: &str, seconds: f64) -> String {
    target_line(target, "PropagationSeconds", seconds, "Seconds")
}

/// `RevocationSeconds` of the target: how long Entra kept accepting a secret an emergency revoked.
pub fn revocation_seconds(target: &str, seconds: u64) -> String {
    target_line(target, "RevocationSeconds", seconds as f64, "Seconds")
}

/// `RevocationUnconfirmed` = 1 for the target: a revoked secret still signed in at the limit.
pub fn revocation_unconfirmed(target: &str) -> String {
    target_line(target, "RevocationUnconfirmed", 1.0, "Count")
}

/// `RotationDeferred` = 1 for the target: a rotation was due, and the check had no time left in
/// its invocation to finish it; the next check starts it.
pub fn rotation_deferred(target: &str) -> String {
    target_line(target, "RotationDeferred", 1.0, "Count")
}

/// `RotationHandedOff` = 1 for the target: the check handed its due rotation to Secrets Manager
/// (`RotateSecret`); the rotation's own step invocations write `RotationSucceeded` or
/// `RotationFailed`.
pub fn rotation_handed_off(target: &str) -> String {
    target_line(target, "RotationHandedOff", 1.0, "Count")
}

/// `JamfProofFailed` = 1 for the target: the check's daily proof found that Jamf Pro's own test
/// fails with the secret it holds (written whether or not `AWSCURRENT`'s was put back).
pub fn jamf_proof_failed(target: &str) -> String {
    target_line(target, "JamfProofFailed", 1.0, "Count")
}

/// Writes one EMF line to stdout, where the Lambda runtime hands it to CloudWatch Logs.
pub fn emit(line: &str) {
    use std::io::Write;
    // A metric is never worth failing a rotation for: a closed stdout is ignored.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_has_the_cloudwatch_structure() {
        let line = emf_line(
            "Ns",
            &[("Target", "t1")],
            &[("A", 2.5, "Count"), ("B", -3.0, "None")],
            1_700_000_000_000,
        );
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let d = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(d["Namespace"], "Ns");
        assert_eq!(d["Dimensions"], json!([["Target"]]));
        assert_eq!(
            d["Metrics"],
            json!([{"Name": "A", "Unit": "Count"}, {"Name": "B", "Unit": "None"}])
        );
        assert_eq!(
            (v["Target"].as_str(), v["A"].as_f64(), v["B"].as_f64()),
            (Some("t1"), Some(2.5), Some(-3.0))
        );
    }

    #[test]
    fn convenience_lines_use_namespace_and_target_dimension() {
        for (line, metric, value) in [
            (days_until_expiry("arn:t", 12), "DaysUntilExpiry", 12.0),
            (rotation_succeeded("arn:t"), "RotationSucceeded", 1.0),
            (rotation_failed("arn:t"), "RotationFailed", 1.0),
            (propagation_seconds("arn:t", 7.5), "PropagationSeconds", 7.5),
            (jamf_proof_failed("arn:t"), "JamfProofFailed", 1.0),
        ] {
            let v: Value = serde_json::from_str(&line).expect("JSON");
            let d = &v["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(
                (d["Namespace"].as_str(), d["Metrics"][0]["Name"].as_str()),
                (Some(NAMESPACE), Some(metric))
            );
            assert_eq!(
                (v["Target"].as_str(), v[metric].as_f64()),
                (Some("arn:t"), Some(value))
            );
            assert!(v["_aws"]["Timestamp"]
                .as_i64()
                .is_some_and(|t| t > 1_600_000_000_000));
        }
    }

    #[test]
    fn non_finite_values_do_not_break_the_json() {
        let v: Value =
            serde_json::from_str(&emf_line("N", &[], &[("X", f64::NAN, "None")], 0)).expect("JSON");
        assert!(v["X"].is_null());
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]));
    }
}
