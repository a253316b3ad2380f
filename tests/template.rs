//! `template.yaml`: least-privilege IAM (no statement allows `*` actions or `*` resources beyond
//! the few AWS requires, each named below), and the parts of the deployment the product relies on.
//! CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`, …) come through serde_norway as tagged
//! values; the checks look through them.

use rotator_engine::metrics::NAMESPACE;
use serde_norway::Value;

/// Wildcards AWS requires, each named as `(statement Sid, action or resource)`: only
/// `sts:GetWebIdentityToken` (`federated` sign-in), which has no resource type; its conditions
/// pin the audience, algorithm and lifetime instead. The function writes metrics as EMF log lines
/// (no `cloudwatch:PutMetricData`, which only takes `Resource: "*"`), and the template names its
/// targets (`ListSecrets`, needed only for `TARGET_TAG_KEY`, only takes `Resource: "*"`).
const ALLOWED_WILDCARDS: &[(&str, &str)] = &[("FederatedSignIn", "*")];

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("template.yaml"))
        .expect("template.yaml is YAML")
}

/// The value under a tag (`!Ref X` → `X`), or the value itself.
fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untag(&t.value),
        v => v,
    }
}

/// `v[key]`, looking through tags.
fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    untag(v).get(key).map(untag).unwrap_or(&NULL)
}

/// Every string scalar in `v` (sequences flattened, tags looked through): the names an `Action`
/// or `Resource` holds, including the arguments of `!Ref`, `!GetAtt` and `!Sub`.
fn strings(v: &Value) -> Vec<String> {
    match untag(v) {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        Value::Mapping(m) => m.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Every policy statement in the document: each item of any `Statement` list, with its path.
fn statements(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match untag(v) {
        Value::Mapping(m) => {
            for (k, child) in m {
                let key = k.as_str().unwrap_or("?");
                let here = format!("{path}/{key}");
                if key == "Statement" {
                    if let Value::Sequence(items) = untag(child) {
                        out.extend(
                            items
                                .iter()
                                .enumerate()
                                .map(|(i, s)| (format!("{here}[{i}]"), s.clone())),
                        );
                        continue;
                    }
                }
                statements(child, &here, out);
            }
        }
        Value::Sequence(items) => {
            for (i, child) in items.iter().enumerate() {
                statements(child, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// What is wrong with the template's IAM: wildcard actions or resources, `NotAction` /
/// `NotResource`, or a `*` principal.
fn wildcard_problems(doc: &Value) -> Vec<String> {
    let mut found = Vec::new();
    statements(doc, "", &mut found);
    let mut problems = Vec::new();
    for (path, s) in &found {
        if get(s, "Effect").as_str() != Some("Allow") {
            continue;
        }
        let sid = get(s, "Sid").as_str().unwrap_or("");
        let allowed = |what: &str| ALLOWED_WILDCARDS.contains(&(sid, what));
        for key in ["NotAction", "NotResource"] {
            if !get(s, key).is_null() {
                problems.push(format!("{path}: {key} allows everything but a list"));
            }
        }
        for action in strings(get(s, "Action")) {
            if action.contains('*') && !allowed(&action) {
                problems.push(format!("{path}: action {action}"));
            }
        }
        for resource in strings(get(s, "Resource")) {
            if resource.contains('*') && !allowed(&resource) {
                problems.push(format!("{path}: resource {resource}"));
            }
        }
        if strings(get(s, "Principal")).iter().any(|p| p == "*") {
            problems.push(format!("{path}: principal *"));
        }
    }
    problems
}

fn resource<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let r = get(get(doc, "Resources"), name);
    assert!(!r.is_null(), "template.yaml has no resource {name}");
    r
}

fn props<'a>(doc: &'a Value, name: &str) -> &'a Value {
    get(resource(doc, name), "Properties")
}

#[test]
fn no_iam_statement_allows_wildcard_actions_or_resources() {
    let doc = template();
    let mut found = Vec::new();
    statements(&doc, "", &mut found);
    assert!(
        found.len() >= 8,
        "the scan must see the template's statements (found {})",
        found.len()
    );
    assert_eq!(wildcard_problems(&doc), Vec::<String>::new());
}

#[test]
fn the_wildcard_scan_catches_wildcards_behind_tags() {
    let bad: Value = serde_norway::from_str(
        r#"
Resources:
  Role:
    Properties:
      Policies:
        - PolicyDocument:
            Statement:
              - Effect: Allow
                Action: ["s3:*"]
                Resource: !Sub "arn:${AWS::Partition}:s3:::bucket/*"
              - Effect: Allow
                Action: "*"
                Resource: [!GetAtt Topic.Arn]
              - Effect: Allow
                NotAction: iam:*
                Principal: "*"
              - Effect: Deny
                Action: "*"
                Resource: "*"
"#,
    )
    .unwrap();
    let problems = wildcard_problems(&bad);
    assert_eq!(problems.len(), 5, "{problems:#?}");
}

#[test]
fn the_function_is_an_arm64_rust_function_with_a_fixed_name_and_room_for_the_propagation_wait() {
    let doc = template();
    let f = resource(&doc, "RotatorFunction");
    assert_eq!(get(f, "Type").as_str(), Some("AWS::Serverless::Function"));
    assert_eq!(
        get(get(f, "Metadata"), "BuildMethod").as_str(),
        Some("rust-cargolambda")
    );
    let p = get(f, "Properties");
    assert_eq!(get(p, "Runtime").as_str(), Some("provided.al2023"));
    assert_eq!(strings(get(p, "Architectures")), ["arm64"]);
    assert_eq!(
        strings(get(p, "FunctionName")),
        ["FunctionName"],
        "a fixed name from a parameter"
    );
    assert!(
        get(p, "Timeout").as_u64().is_some_and(|t| t >= 600),
        "a rotation may wait 300 s for Entra, then Jamf Pro"
    );
    let env = get(get(p, "Environment"), "Variables");
    for var in [
        "TARGET_SECRET_IDS",
        "ROTATOR_CLIENT_ID",
        "ROTATOR_CREDENTIALS_SECRET_ID",
        "ALERT_TOPIC_ARN",
    ] {
        assert!(!get(env, var).is_null(), "the function needs {var}");
    }
    let permission = props(&doc, "SecretsManagerInvokePermission");
    assert_eq!(
        get(permission, "Principal").as_str(),
        Some("secretsmanager.amazonaws.com")
    );
    assert_eq!(
        strings(get(permission, "SourceAccount")),
        ["AWS::AccountId"]
    );
}

#[test]
fn the_daily_check_is_scheduled_with_retries_and_a_dead_letter_queue() {
    let doc = template();
    let target = get(props(&doc, "CheckSchedule"), "Target");
    assert_eq!(get(target, "Input").as_str(), Some(r#"{"action":"check"}"#));
    assert!(get(get(target, "RetryPolicy"), "MaximumRetryAttempts")
        .as_u64()
        .is_some_and(|n| n >= 1));
    assert_eq!(
        strings(get(get(target, "DeadLetterConfig"), "Arn")),
        ["CheckDeadLetterQueue.Arn"]
    );
}

#[test]
fn federated_sign_in_is_the_default_and_granted_for_entras_audience_only() {
    let doc = template();
    let auth = get(get(get(&doc, "Parameters"), "RotatorAuth"), "Default");
    assert_eq!(auth.as_str(), Some("federated"));
    let policy = resource(&doc, "FederatedSignInPolicy");
    assert_eq!(get(policy, "Condition").as_str(), Some("FederatedAuth"));
    let mut found = Vec::new();
    statements(policy, "", &mut found);
    let s = &found
        .iter()
        .find(|(_, s)| get(s, "Sid").as_str() == Some("FederatedSignIn"))
        .expect("the grant")
        .1;
    assert_eq!(strings(get(s, "Action")), ["sts:GetWebIdentityToken"]);
    let c = get(s, "Condition");
    assert_eq!(
        strings(get(
            get(c, "ForAllValues:StringEquals"),
            "sts:IdentityTokenAudience"
        )),
        ["api://AzureADTokenExchange"]
    );
    assert_eq!(
        strings(get(get(c, "StringEquals"), "sts:SigningAlgorithm")),
        ["RS256"]
    );
    let env = get(
        get(props(&doc, "RotatorFunction"), "Environment"),
        "Variables",
    );
    assert_eq!(strings(get(env, "ROTATOR_AUTH")), ["RotatorAuth"]);
}

#[test]
fn alarms_events_and_the_topic_are_wired_to_alert() {
    let doc = template();
    let errors = props(&doc, "FunctionErrorsAlarm");
    assert_eq!(
        (
            get(errors, "MetricName").as_str(),
            get(errors, "Threshold").as_u64()
        ),
        (Some("Errors"), Some(1))
    );
    assert_eq!(
        get(errors, "ComparisonOperator").as_str(),
        Some("GreaterThanOrEqualToThreshold")
    );
    let days = props(&doc, "DaysUntilExpiryAlarm");
    assert_eq!(
        (
            get(days, "Namespace").as_str(),
            get(days, "MetricName").as_str()
        ),
        (Some(NAMESPACE), Some("DaysUntilExpiry"))
    );
    assert_eq!(
        get(days, "TreatMissingData").as_str(),
        Some("breaching"),
        "the dead man's switch"
    );
    assert!(
        get(days, "Dimensions").is_null(),
        "the function emits the fleet minimum without a dimension"
    );
    let pattern = get(props(&doc, "RotationEventsRule"), "EventPattern");
    assert_eq!(strings(get(pattern, "source")), ["aws.secretsmanager"]);
    assert_eq!(
        strings(get(get(pattern, "detail"), "eventName")),
        ["RotationFailed", "RotationAbandoned", "TestRotationFailed"]
    );
    let policy = strings(get(props(&doc, "AlertTopicPolicy"), "PolicyDocument"));
    assert!(
        policy.contains(&"events.amazonaws.com".to_string()),
        "EventBridge may publish to the topic"
    );
    assert_eq!(
        get(resource(&doc, "AlertEmailSubscription"), "Condition").as_str(),
        Some("HasAlertEmail")
    );
    for output in ["FunctionName", "FunctionArn", "AlertTopicArn"] {
        assert!(
            !get(get(&doc, "Outputs"), output).is_null(),
            "output {output}"
        );
    }
}
