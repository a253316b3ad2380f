//! One JSON shape for a target's report (docs/target-report.schema.json): the CLI's
//! `check --json` and `status --json` and the Lambda's `check` and `status` responses all follow
//! it, a failed target's entry too, and the schema refuses a wrong shape.

use crate::cli::{cli, world_env};
use crate::common::{moto, spawn_with};
use rotator_lambda::{route, Function, LambdaError, Targets};
use serde_json::{json, Value};
use std::sync::Arc;

/// The schema as docs/ gives it.
fn schema() -> Value {
    let text = include_str!("../../docs/target-report.schema.json");
    serde_json::from_str(text).expect("the schema is JSON")
}

/// A validator of the schema's definition `def` (`None`: the schema's root, one target's report).
fn validator(def: Option<&str>) -> jsonschema::Validator {
    let mut schema = schema();
    if let Some(def) = def {
        schema["$ref"] = json!(format!("#/$defs/{def}"));
    }
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

/// Why `instance` does not follow the definition `def` (empty when it does).
fn errors(def: Option<&str>, instance: &Value) -> Vec<String> {
    (validator(def).iter_errors(instance))
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// Asserts that `response` is a whole check's or status report, and each entry one target's.
fn assert_follows_the_schema(what: &str, response: &Value) {
    let whole = errors(Some("fleetReport"), response);
    assert!(whole.is_empty(), "{what}: {whole:?}\n{response:#}");
    for entry in response["results"].as_array().expect("results") {
        let one = errors(None, entry);
        assert!(one.is_empty(), "{what}: {one:?}\n{entry:#}");
    }
}

/// The entry of `response` for `secret_id`.
fn entry<'a>(response: &'a Value, secret_id: &str) -> &'a Value {
    (response["results"].as_array().unwrap().iter())
        .find(|r| r["secret_id"] == secret_id)
        .unwrap_or_else(|| panic!("{secret_id} in {response}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clis_check_and_status_follow_the_target_report_schema() {
    let w = spawn_with(10, |_| {}).await;
    let env = world_env(&w).await;
    let missing = moto::unique("no-such-target");
    let targets = ["--secret-id", &w.secret_id, "--secret-id", &missing];

    let status = cli(&[&["status", "--json"][..], &targets].concat(), &env).await;
    let check = cli(&[&["check", "--json"][..], &targets].concat(), &env).await;

    let (status, check) = (status.json(), check.json());
    assert_follows_the_schema("status", &status);
    assert_follows_the_schema("check", &check);
    assert_eq!(entry(&status, &w.secret_id)["state"], "due", "{status}");
    assert_eq!(entry(&status, &missing)["state"], "failed", "{status}");
    let rotated = entry(&check, &w.secret_id);
    assert_eq!(rotated["report"]["action"], "rotated", "{check}");
    assert_eq!(
        rotated["report"]["rotation"]["outcome"], "rotated",
        "{check}"
    );
    assert_eq!(rotated["state"], "ok", "{check}");
    assert_eq!(entry(&check, &missing)["ok"], false, "{check}");
}

#[tokio::test]
async fn the_lambdas_check_and_status_follow_the_target_report_schema() {
    let w = spawn_with(10, |_| {}).await;
    let missing = moto::unique("no-such-target");
    let targets = Targets::Ids(vec![w.secret_id.clone(), missing.clone()]);
    let f = Function::new(w.engine.clone(), targets).with_metrics(Arc::new(|_: &str| {}));

    let status = route(&f, json!({"action": "status"})).await.unwrap();
    let check = match route(&f, json!({"action": "check"})).await {
        Err(LambdaError::CheckFailed { report, .. }) => report,
        other => panic!("the missing target fails the check: {other:?}"),
    };
    let quiet = f.clone().with_full_response_up_to(0);
    let compact = match route(&quiet, json!({"action": "check"})).await {
        Err(LambdaError::CheckFailed { report, .. }) => report,
        other => panic!("the missing target fails the check: {other:?}"),
    };

    assert_follows_the_schema("status", &status);
    assert_follows_the_schema("check", &check);
    assert_follows_the_schema("compact check", &compact);
    let failed = entry(&check, &missing);
    assert_eq!(
        (failed["ok"].as_bool(), failed["state"].as_str()),
        (Some(false), Some("failed"))
    );
    assert!(
        failed["error_class"].is_string() && failed["advice"].is_string(),
        "{failed}"
    );
    assert_eq!(
        entry(&check, &w.secret_id)["report"]["action"],
        "rotated",
        "{check}"
    );
    let short = &entry(&compact, &w.secret_id)["report"];
    assert_eq!(short.as_object().map(|o| o.len()), Some(3), "{compact}");
}

#[test]
fn the_schema_refuses_a_wrong_shape() {
    let good = json!({"secret_id": "jamf/prod", "ok": true, "state": "ok", "attention": false,
        "report": {"action": "none", "expires_at": null, "days_until_expiry": 90}});
    let failed = json!({"secret_id": "jamf/prod", "ok": false, "state": "failed", "attention": true,
        "error": "Secrets Manager: no such secret", "error_class": "secrets-manager",
        "advice": "check the id"});
    assert!(errors(None, &good).is_empty(), "{:?}", errors(None, &good));
    assert!(
        errors(None, &failed).is_empty(),
        "{:?}",
        errors(None, &failed)
    );

    let mut unknown = good.clone();
    unknown["days_left"] = json!(90);
    let mut no_state = good.clone();
    no_state.as_object_mut().unwrap().remove("state");
    let mut ok_as_text = good.clone();
    ok_as_text["ok"] = json!("yes");
    let mut failed_with_report = failed.clone();
    failed_with_report["report"] = good["report"].clone();
    let mut failed_but_ok = failed.clone();
    failed_but_ok["ok"] = json!(true);
    let mut short_with_more = good.clone();
    short_with_more["report"]["due"] = json!(false);
    for wrong in [
        unknown,
        no_state,
        ok_as_text,
        failed_with_report,
        failed_but_ok,
        short_with_more,
    ] {
        assert!(!errors(None, &wrong).is_empty(), "refused: {wrong}");
    }
    let lambda_only = json!({"action": "check", "targets": 1, "results": [good]});
    assert!(!errors(Some("fleetReport"), &lambda_only).is_empty());
}
