//! `template.yaml`: least-privilege IAM (no statement allows `*` actions or `*` resources beyond
//! the few AWS requires, each named below), and the parts of the deployment the product relies on.
//! CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`, …) come through serde_norway as tagged
//! values; the checks look through them.

use rotator_engine::metrics::NAMESPACE;
use serde_norway::Value;

/// Wildcards AWS requires, each named as `(statement Sid, action or resource)`:
/// - `sts:GetWebIdentityToken` (`federated` sign-in) has no resource type; its conditions pin the
///   audience, algorithm and lifetime instead;
/// - a KMS key policy names its own key as `*`, and its first statement gives the account the
///   key's administration (without it IAM could not grant anything on the key);
/// - the EC2 network-interface actions Lambda needs in a VPC take no resource
///   (`AWSLambdaVPCAccessExecutionRole` grants the same).
///
/// - `ListSecrets`, which finds the targets by tag (the default), takes no resource either;
/// - a `*` narrowed by a resource-tag condition (`secretsmanager:ResourceTag/…`) is the
///   tag's secrets, not every secret ([`tag_scoped`]).
///
/// The function writes metrics as EMF log lines (no `cloudwatch:PutMetricData`, which only takes
/// `Resource: "*"`).
const ALLOWED_WILDCARDS: &[(&str, &str)] = &[
    ("ListTaggedTargets", "*"),
    ("FederatedSignIn", "*"),
    ("AccountAdministers", "kms:*"),
    ("AccountAdministers", "*"),
    ("AlarmsAndEventsPublish", "*"),
    ("VpcNetworkInterfaces", "*"),
];

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

/// The statements an item of a `Statement` list stands for: the item, or both branches of an
/// `!If` (recursively); `!Ref AWS::NoValue` stands for none.
fn branches(item: &Value) -> Vec<Value> {
    match item {
        Value::Tagged(t) if t.tag == "!If" => match &t.value {
            Value::Sequence(parts) => parts.iter().skip(1).flat_map(branches).collect(),
            _ => Vec::new(),
        },
        Value::Tagged(t) if t.tag == "!Ref" => Vec::new(),
        other => vec![other.clone()],
    }
}

/// Every policy statement in the document: each item of any `Statement` list (both branches of
/// a conditional one), with its path.
fn statements(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match untag(v) {
        Value::Mapping(m) => {
            for (k, child) in m {
                let key = k.as_str().unwrap_or("?");
                let here = format!("{path}/{key}");
                if key == "Statement" {
                    if let Value::Sequence(items) = untag(child) {
                        out.extend(items.iter().enumerate().flat_map(|(i, s)| {
                            let here = format!("{here}[{i}]");
                            branches(s).into_iter().map(move |b| (here.clone(), b))
                        }));
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

/// Every mapping key in `v`, tags and `!If` branches looked through.
fn keys(v: &Value) -> Vec<String> {
    match untag(v) {
        Value::Mapping(m) => m
            .iter()
            .flat_map(|(k, child)| {
                let mut found = vec![k.as_str().unwrap_or("").to_string()];
                found.extend(keys(child));
                found
            })
            .collect(),
        Value::Sequence(items) => items.iter().flat_map(keys).collect(),
        _ => Vec::new(),
    }
}

/// Whether statement `s` holds only where a secret carries a tag: every branch of its
/// `Condition` names `secretsmanager:ResourceTag/…` (a branch without a condition is by ARN,
/// where the `*` is not taken).
fn tag_scoped(s: &Value) -> bool {
    keys(get(s, "Condition"))
        .iter()
        .any(|k| k.starts_with("secretsmanager:ResourceTag/"))
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
        let allowed =
            |what: &str| ALLOWED_WILDCARDS.contains(&(sid, what)) || (what == "*" && tag_scoped(s));
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
              - !If
                - SomeCondition
                - Effect: Allow
                  Action: sqs:SendMessage
                  Resource: "*"
                - !Ref AWS::NoValue
"#,
    )
    .unwrap();
    let problems = wildcard_problems(&bad);
    assert_eq!(problems.len(), 6, "{problems:#?}");
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

/// The resource's `Condition`, if any.
fn condition<'a>(doc: &'a Value, name: &str) -> Option<&'a str> {
    get(resource(doc, name), "Condition").as_str()
}

/// The parameter `name`'s `key` (`Default`, `AllowedValues`, …).
fn param<'a>(doc: &'a Value, name: &str, key: &str) -> &'a Value {
    let p = get(get(doc, "Parameters"), name);
    assert!(!p.is_null(), "template.yaml has no parameter {name}");
    get(p, key)
}

#[test]
fn the_role_has_a_name_derived_from_the_stack_so_entra_can_trust_it_before_the_deploy() {
    let doc = template();
    let role = props(&doc, "RotatorFunctionRole");
    assert_eq!(
        get(resource(&doc, "RotatorFunctionRole"), "Type").as_str(),
        Some("AWS::IAM::Role")
    );
    // `!Sub ${AWS::StackName}-rotator`: scripts/first-deploy computes the same ARN.
    assert_eq!(
        strings(get(role, "RoleName")),
        ["${AWS::StackName}-rotator"]
    );
    let f = props(&doc, "RotatorFunction");
    assert_eq!(strings(get(f, "Role")), ["RotatorFunctionRole.Arn"]);
    assert!(
        get(f, "Policies").is_null(),
        "SAM ignores Policies next to Role: every grant lives on the named role"
    );
    assert_eq!(
        strings(get(get(get(&doc, "Outputs"), "RotatorRoleArn"), "Value")),
        ["RotatorFunctionRole.Arn"]
    );
}

#[test]
fn federated_conditions_are_strings_which_iam_and_moto_both_take() {
    let doc = template();
    let mut found = Vec::new();
    statements(resource(&doc, "FederatedSignInPolicy"), "", &mut found);
    let c = get(&found[0].1, "Condition");
    assert_eq!(
        get(get(c, "NumericLessThanEquals"), "sts:DurationSeconds"),
        &Value::String("300".into()),
        "moto refuses a bare number in a condition"
    );
}

#[test]
fn a_failed_asynchronous_check_is_not_rerun_and_lands_in_an_alarmed_queue() {
    let doc = template();
    let config = get(props(&doc, "RotatorFunction"), "EventInvokeConfig");
    assert_eq!(get(config, "MaximumRetryAttempts").as_u64(), Some(0));
    let on_failure = get(get(config, "DestinationConfig"), "OnFailure");
    assert_eq!(get(on_failure, "Type").as_str(), Some("SQS"));
    assert_eq!(
        strings(get(on_failure, "Destination")),
        ["FailedInvocationQueue.Arn"]
    );
    let alarm = props(&doc, "FailedInvocationAlarm");
    assert_eq!(
        strings(get(alarm, "Dimensions")),
        ["QueueName", "FailedInvocationQueue.QueueName"]
    );
    assert_eq!(strings(get(alarm, "AlarmActions")), ["AlertTopic"]);
}

#[test]
fn failures_throttles_expiry_and_silence_each_alarm() {
    let doc = template();
    let failed = props(&doc, "RotationFailedAlarm");
    let query = strings(get(failed, "Metrics")).join(" ");
    assert!(
        query.contains(&format!(
            "SUM(RotationFailed) FROM SCHEMA({NAMESPACE}, Target)"
        )),
        "the fleet's RotationFailed, summed over every target: {query}"
    );
    assert_eq!(get(failed, "Threshold").as_u64(), Some(1));
    let throttles = props(&doc, "FunctionThrottlesAlarm");
    assert_eq!(get(throttles, "MetricName").as_str(), Some("Throttles"));
    let dead = props(&doc, "CheckNotReportingAlarm");
    assert_eq!(
        (
            get(dead, "MetricName").as_str(),
            get(dead, "Statistic").as_str(),
            get(dead, "TreatMissingData").as_str(),
        ),
        (
            Some("DaysUntilExpiry"),
            Some("SampleCount"),
            Some("breaching")
        ),
        "the dead man's switch: no complete report is breaching"
    );
    assert_eq!(
        (
            get(dead, "EvaluationPeriods").as_u64(),
            get(dead, "DatapointsToAlarm").as_u64(),
            get(dead, "Period").as_u64()
        ),
        (Some(2), Some(2), Some(86_400)),
        "two silent days: one late or missed run does not alarm"
    );
    let errors = strings(get(props(&doc, "FunctionErrorsAlarm"), "AlarmDescription")).join(" ");
    assert!(
        errors.contains("a scheduled check left a target failed"),
        "{errors}"
    );
    let dlq = strings(get(props(&doc, "CheckDeadLetterAlarm"), "AlarmDescription")).join(" ");
    assert!(
        dlq.contains("could not hand the daily check to Lambda"),
        "{dlq}"
    );
    for alarm in [
        "FunctionErrorsAlarm",
        "FunctionThrottlesAlarm",
        "RotationFailedAlarm",
        "DaysUntilExpiryAlarm",
        "CheckNotReportingAlarm",
        "CheckDeadLetterAlarm",
        "FailedInvocationAlarm",
    ] {
        assert_eq!(
            strings(get(props(&doc, alarm), "AlarmActions")),
            ["AlertTopic"],
            "{alarm}"
        );
    }
}

#[test]
fn reserved_concurrency_deploys_in_a_fresh_account_and_never_throttles_the_steps() {
    let doc = template();
    let allowed: Vec<u64> = match param(&doc, "ReservedConcurrency", "AllowedValues") {
        Value::Sequence(v) => v.iter().filter_map(Value::as_u64).collect(),
        other => panic!("AllowedValues: {other:?}"),
    };
    // A fresh account's concurrency limit is 10 and Lambda keeps 10 unreserved: any reservation
    // fails there, and the failed stack is left in ROLLBACK_COMPLETE.
    let default = param(&doc, "ReservedConcurrency", "Default").as_u64();
    assert_eq!(
        default,
        Some(0),
        "the default must leave the function unreserved"
    );
    // AWS advises at least 10 for a rotation function: fewer throttles Secrets Manager's steps.
    assert!(
        allowed.iter().all(|n| *n == 0 || *n >= 10),
        "{allowed:?}: a reservation under 10 throttles the step invocations"
    );
    let f = props(&doc, "RotatorFunction");
    assert_eq!(
        strings(get(f, "ReservedConcurrentExecutions")),
        [
            "HasReservedConcurrency",
            "ReservedConcurrency",
            "AWS::NoValue"
        ]
    );
}

#[test]
fn the_daily_check_can_be_paused_by_a_parameter() {
    let doc = template();
    let state = get(props(&doc, "CheckSchedule"), "State");
    assert_eq!(strings(state), ["CheckScheduleState"], "{state:?}");
    assert_eq!(
        param(&doc, "CheckScheduleState", "Default").as_str(),
        Some("ENABLED")
    );
}

#[test]
fn kms_vpc_and_logging_options_are_wired() {
    let doc = template();
    let mut found = Vec::new();
    statements(resource(&doc, "RotatorFunctionRole"), "", &mut found);
    let sid = |name: &str| {
        found
            .iter()
            .find(|(_, s)| get(s, "Sid").as_str() == Some(name))
            .unwrap_or_else(|| panic!("no statement {name}"))
            .1
            .clone()
    };
    let key = sid("SecretsKey");
    assert_eq!(
        strings(get(&key, "Action")),
        ["kms:Decrypt", "kms:GenerateDataKey"]
    );
    assert_eq!(strings(get(&key, "Resource")), ["KmsKeyArn"]);
    assert_eq!(
        strings(get(
            get(get(&key, "Condition"), "StringEquals"),
            "kms:ViaService"
        )),
        ["secretsmanager.${AWS::Region}.amazonaws.com"]
    );
    let topic_key = sid("AlertTopicKey");
    assert_eq!(
        strings(get(
            get(get(&topic_key, "Condition"), "StringEquals"),
            "kms:ViaService"
        )),
        ["sns.${AWS::Region}.amazonaws.com"]
    );
    let f = props(&doc, "RotatorFunction");
    let vpc = strings(get(f, "VpcConfig"));
    assert_eq!(vpc[0], "HasVpc", "{vpc:?}");
    assert!(
        vpc.contains(&"SubnetIds".to_string()) && vpc.contains(&"SecurityGroupIds".to_string())
    );
    let logging = get(f, "LoggingConfig");
    assert_eq!(get(logging, "LogFormat").as_str(), Some("JSON"));
    assert_eq!(strings(get(logging, "ApplicationLogLevel")), ["LogLevel"]);
    assert!(
        !strings(param(&doc, "LogLevel", "AllowedValues")).contains(&"FATAL".to_string()),
        "tracing has no FATAL: the function would fall back to info"
    );
}

#[test]
fn the_alert_topic_is_encrypted_with_a_key_alarms_and_events_may_use() {
    let doc = template();
    assert_eq!(
        strings(get(props(&doc, "AlertTopic"), "KmsMasterKeyId")),
        ["AlertTopicKey"]
    );
    let policy = get(props(&doc, "AlertTopicKey"), "KeyPolicy");
    let mut found = Vec::new();
    statements(policy, "", &mut found);
    let publish = &found
        .iter()
        .find(|(_, s)| get(s, "Sid").as_str() == Some("AlarmsAndEventsPublish"))
        .expect("the services' grant")
        .1;
    assert_eq!(
        strings(get(publish, "Principal")),
        ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    );
    assert_eq!(
        strings(get(publish, "Action")),
        ["kms:Decrypt", "kms:GenerateDataKey"]
    );
}

#[test]
fn chat_channels_are_optional_and_subscribe_to_the_topic() {
    let doc = template();
    for (name, cond) in [
        ("SlackAlerts", "HasSlack"),
        ("TeamsAlerts", "HasTeams"),
        ("ChatbotChannelRole", "HasChat"),
    ] {
        assert_eq!(condition(&doc, name), Some(cond), "{name}");
    }
    for name in ["SlackAlerts", "TeamsAlerts"] {
        assert_eq!(
            strings(get(props(&doc, name), "SnsTopicArns")),
            ["AlertTopic"]
        );
    }
    for p in [
        "SlackWorkspaceId",
        "SlackChannelId",
        "TeamsTenantId",
        "TeamsTeamId",
        "TeamsChannelId",
    ] {
        assert_eq!(
            param(&doc, p, "Default").as_str(),
            Some(""),
            "{p} is optional"
        );
    }
}

#[test]
fn the_dashboard_is_json_with_a_line_per_target_rotations_and_propagation() {
    let doc = template();
    let body = strings(get(props(&doc, "Dashboard"), "DashboardBody")).join("");
    // `!Sub` fills parameters in; numbers stand in for them here.
    let filled = ["${AWS::Region}", "${RotatorFunction}"]
        .iter()
        .fold(body, |b, p| b.replace(p, "x"));
    let filled = [
        "${RotationThresholdDays}",
        "${ExpiryAlarmDays}",
        "${PropagationTimeoutSecs}",
    ]
    .iter()
    .fold(filled, |b, p| b.replace(p, "1"));
    let v: serde_json::Value = serde_json::from_str(&filled).expect("the dashboard body is JSON");
    let text = v.to_string();
    for metric in [
        "DaysUntilExpiry",
        "RotationSucceeded",
        "RotationFailed",
        "PropagationSeconds",
    ] {
        let search = format!("SEARCH('{{{NAMESPACE},Target}} MetricName=\\\"{metric}\\\"'");
        assert!(text.contains(&search), "{search} in {text}");
    }
}

/// The statement `sid` of the template (in either branch of a conditional one).
fn statement(doc: &Value, sid: &str) -> Value {
    let mut found = Vec::new();
    statements(doc, "", &mut found);
    found
        .into_iter()
        .map(|(_, s)| s)
        .find(|s| get(s, "Sid").as_str() == Some(sid))
        .unwrap_or_else(|| panic!("no statement {sid}"))
}

#[test]
fn the_role_is_denied_other_secrets_and_rotates_only_through_this_function() {
    let doc = template();
    let deny = statement(&doc, "NoOtherSecrets");
    assert_eq!(get(&deny, "Effect").as_str(), Some("Deny"));
    assert!(
        get(&deny, "Resource").is_null(),
        "NotResource, not Resource"
    );
    let actions = strings(get(&deny, "Action"));
    for action in [
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "secretsmanager:RotateSecret",
        "secretsmanager:DescribeSecret",
    ] {
        assert!(
            actions.contains(&action.to_string()),
            "{action}: {actions:?}"
        );
    }
    assert!(
        !actions.iter().any(|a| a == "secretsmanager:ListSecrets"),
        "listing acts on no secret"
    );
    let outside = strings(get(&deny, "NotResource"));
    for secrets in [
        "TargetSecretArns",
        "JamfCredentialsSecretArns",
        "RotatorCredentialsSecretArn",
    ] {
        assert!(
            outside.contains(&secrets.to_string()),
            "{secrets}: {outside:?}"
        );
    }
    let function =
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${FunctionName}";
    for sid in [
        "HandRotationsToThisFunction",
        "HandOwnRotationToThisFunction",
    ] {
        let s = statement(&doc, sid);
        assert_eq!(strings(get(&s, "Action")), ["secretsmanager:RotateSecret"]);
        // Whichever way the targets are named (by tag or by ARN), the pin holds.
        let conditions = branches(s.get("Condition").unwrap());
        assert!(!conditions.is_empty(), "{sid}");
        for condition in conditions {
            assert_eq!(
                strings(get(
                    get(&condition, "ArnEquals"),
                    "secretsmanager:RotationLambdaARN"
                )),
                [function],
                "{sid}"
            );
        }
    }
}

/// The value names of the tag condition `op` in the picked branch of `s`'s `Condition`
/// (`!If [TargetsByTag, by tag, by ARN]`): the first branch.
fn tag_condition_values(s: &Value, op: &str) -> Vec<String> {
    let by_tag = &branches(s.get("Condition").expect("a condition"))[0];
    strings(get(
        get(by_tag, op),
        "secretsmanager:ResourceTag/jamf-entra-rotator:target",
    ))
}

#[test]
fn targets_are_found_by_tag_by_default_and_the_role_holds_only_where_the_tag_is() {
    let doc = template();
    let params = get(&doc, "Parameters");
    assert_eq!(
        get(get(params, "TargetSecretArns"), "Default").as_str(),
        Some("")
    );
    assert_eq!(
        get(get(params, "TargetTagValue"), "Default").as_str(),
        Some("")
    );
    // The function lists the tag the IAM conditions name, with the stack's name by default.
    let env = get(
        get(
            get(props(&doc, "RotatorFunction"), "Environment"),
            "Variables",
        ),
        "TARGET_TAG_KEY",
    );
    assert_eq!(
        strings(env),
        ["TargetsByTag", "jamf-entra-rotator:target", ""]
    );
    let value = strings(get(
        get(
            get(props(&doc, "RotatorFunction"), "Environment"),
            "Variables",
        ),
        "TARGET_TAG_VALUE",
    ));
    let tag_value = ["HasTargetTagValue", "TargetTagValue", "AWS::StackName"];
    assert_eq!(
        value[..4],
        ["TargetsByTag", tag_value[0], tag_value[1], tag_value[2]]
    );
    for sid in ["RotateTargetSecrets", "HandRotationsToThisFunction"] {
        let s = statement(&doc, sid);
        assert_eq!(
            tag_condition_values(&s, "StringEquals"),
            tag_value,
            "{sid} holds only on the tag's secrets"
        );
    }
    // The Deny spares the tag's secrets and the credentials by ARN, nothing else.
    let deny = statement(&doc, "NoOtherSecrets");
    assert_eq!(tag_condition_values(&deny, "StringNotEquals"), tag_value);
    let list = statement(&doc, "ListTaggedTargets");
    assert_eq!(
        strings(get(&list, "Action")),
        ["secretsmanager:ListSecrets"]
    );
}

#[test]
fn only_the_rotator_role_publishes_alerts_and_only_over_tls() {
    let doc = template();
    let publishes = statement(&doc, "RotatorPublishes");
    assert_eq!(
        strings(get(get(&publishes, "Principal"), "AWS")),
        ["RotatorFunctionRole.Arn"]
    );
    let policy = strings(get(props(&doc, "AlertTopicPolicy"), "PolicyDocument"));
    assert!(
        !policy.iter().any(|s| s.ends_with(":root")),
        "the account as a whole may not publish: {policy:?}"
    );
    let others = statement(&doc, "NobodyElsePublishes");
    assert_eq!(
        (
            get(&others, "Effect").as_str(),
            strings(get(&others, "Principal"))
        ),
        (Some("Deny"), vec!["*".to_string()])
    );
    let unless = get(&others, "Condition");
    assert_eq!(
        strings(get(get(unless, "ArnNotEquals"), "aws:PrincipalArn")),
        ["RotatorFunctionRole.Arn"]
    );
    assert_eq!(
        get(get(unless, "Null"), "aws:PrincipalServiceName").as_str(),
        Some("true"),
        "the alarms and the events rule (service principals) still publish"
    );
    let tls = statement(&doc, "PublishOverTlsOnly");
    assert_eq!(get(&tls, "Effect").as_str(), Some("Deny"));
    assert_eq!(strings(get(&tls, "Action")), ["sns:Publish"]);
    assert_eq!(
        get(get(get(&tls, "Condition"), "Bool"), "aws:SecureTransport").as_str(),
        Some("false")
    );
}

#[test]
fn the_rotation_events_rule_mails_text_saying_who_what_which_secret_and_when() {
    let doc = template();
    let targets = get(props(&doc, "RotationEventsRule"), "Targets");
    let target = untag(targets)
        .as_sequence()
        .and_then(|t| t.first())
        .expect("the rule has a target");
    let transformer = get(target, "InputTransformer");
    let paths = get(transformer, "InputPathsMap");
    for (name, path) in [
        ("event", "$.detail.eventName"),
        ("secret", "$.detail.additionalEventData.SecretId"),
        ("time", "$.detail.eventTime"),
        ("who", "$.detail.userIdentity.invokedBy"),
    ] {
        assert_eq!(
            get(paths, name).as_str(),
            Some(path),
            "InputPathsMap.{name}"
        );
    }
    let text = get(transformer, "InputTemplate")
        .as_str()
        .expect("a text template");
    assert!(
        !text.trim_start().starts_with('{'),
        "text, not JSON: {text}"
    );
    let names: Vec<String> = untag(paths)
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    for name in &names {
        assert!(
            text.contains(&format!("<{name}>")),
            "the mail shows <{name}>"
        );
    }
    let placeholders = text.matches('<').count();
    assert_eq!(
        placeholders,
        names.len(),
        "every placeholder is mapped: {text}"
    );
}

#[test]
fn the_deployed_function_never_allows_plain_http_to_loopback() {
    // ALLOW_LOOPBACK_HTTP is for stand-ins on one machine (tests, `demo`, `sim`); deployed, a
    // document naming http://localhost must be refused. Not set, not even as a parameter.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml");
    assert!(
        !text.contains("ALLOW_LOOPBACK_HTTP"),
        "template.yaml must never set ALLOW_LOOPBACK_HTTP"
    );
    let doc = template();
    let env = get(
        get(props(&doc, "RotatorFunction"), "Environment"),
        "Variables",
    );
    let names: Vec<String> = env
        .as_mapping()
        .expect("the function's environment is a mapping")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    assert!(names.iter().any(|n| n == "TARGET_SECRET_IDS"), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "ALLOW_LOOPBACK_HTTP"),
        "{names:?}"
    );
}

/// The template's limits make a configuration that can never fit impossible: at the largest
/// `PropagationTimeoutSecs` and in every `RotationMode`, the function's start accepts the
/// settings the template sets (the others at their defaults), and the function's `Timeout` is
/// the 900 s the budget is computed against.
#[test]
fn the_largest_propagation_wait_and_its_margin_fit_the_functions_timeout() {
    use rotator_engine::config::{Settings, LAMBDA_TIMEOUT_SECS};
    use rotator_engine::rotation::budget::{settings_never_fit, Budget};
    let doc = template();
    let timeout = get(props(&doc, "RotatorFunction"), "Timeout").as_u64();
    assert_eq!(timeout, Some(LAMBDA_TIMEOUT_SECS));
    let most = param(&doc, "PropagationTimeoutSecs", "MaxValue")
        .as_u64()
        .expect("PropagationTimeoutSecs has a MaxValue");
    let default = param(&doc, "PropagationTimeoutSecs", "Default").as_u64();
    for propagation in [Some(most), default] {
        let propagation = std::time::Duration::from_secs(propagation.unwrap());
        for mode in strings(param(&doc, "RotationMode", "AllowedValues")) {
            let settings = Settings {
                propagation_timeout: propagation,
                rotation_mode: mode.parse().unwrap(),
                ..Settings::default()
            };
            assert_eq!(
                settings_never_fit(&settings),
                None,
                "{mode} {propagation:?}"
            );
        }
    }
    // The sum, as the timeout comment states it: the largest wait and the margin are 900 s.
    let policy = rotator_engine::rotation::Policy::default();
    let margin = Budget::new(&policy, std::time::Duration::ZERO).margin();
    assert_eq!(most + margin.as_secs(), LAMBDA_TIMEOUT_SECS);
}

#[test]
fn only_this_stacks_alarms_publish_to_the_alert_topic() {
    let doc = template();
    let alarms = statement(&doc, "AlarmsPublish");
    let condition = get(&alarms, "Condition");
    let source = strings(get(get(condition, "ArnLike"), "aws:SourceArn"));
    assert_eq!(
        source,
        ["arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-*"],
        "any alarm of the account could publish fake alerts: {condition:?}"
    );
    // Every alarm of the stack keeps the name CloudFormation gives it (STACK-...): a fixed
    // AlarmName outside that prefix could no longer publish.
    let Value::Mapping(resources) = get(&doc, "Resources") else {
        panic!("no Resources")
    };
    for (name, r) in resources {
        if get(r, "Type").as_str() == Some("AWS::CloudWatch::Alarm") {
            assert!(
                get(get(r, "Properties"), "AlarmName").is_null(),
                "{name:?} sets an AlarmName"
            );
        }
    }
}
