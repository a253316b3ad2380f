//! Every AWS call the code can make, and what it acts on, from the sources; and the grants the
//! function's role must hold for them, compared with the role `template.yaml` deploys.
//!
//! How a call is found:
//! - a method named after an operation of an AWS SDK crate (`.get_secret_value(`, `.publish(`,
//!   `.get_web_identity_token(`), in a file that names that crate (`aws_sdk_<service>`; a client
//!   is always held in a field or variable whose type names it). The operation names come from
//!   the SDK crates themselves (`cargo metadata`, their `src/operation/` directories);
//! - the Secrets Manager calls are made by `AwsSecretStore`, the `SecretStore` implementation:
//!   each of its methods makes the calls of its body and of the `self.` helpers it calls (so
//!   `value_at` is `GetSecretValue` and, when nothing carries the stage, `DescribeSecret`);
//! - a `SecretStore` method called on a receiver named `store` acts on the secret the calling
//!   module deals with, by the module's name (directory or file stem, in either layout):
//!
//! | module | calls act on | template resource |
//! |---|---|---|
//! | `rotation/`, `lambda/` | the targets (the engine); with `ROTATOR_AUTH=client-secret`, also the rotator's own document, which the check adds to the targets (self-rotation) | `TargetSecretArns` (by ARN) or `*` conditioned on the target tag ([`TARGET_TAG`]); `RotatorCredentialsSecretArn` |
//! | `lambda/`: `list_tagged` | no secret (`ListSecrets`, with `TARGET_TAG_KEY`: targets by tag) | `*` by tag; not granted by ARN |
//! | `jamf/` | the Jamf Pro credentials a target names | `JamfCredentialsSecretArns` |
//! | `wiring` | the rotator's credential (certificate, client-secret) | `RotatorCredentialsSecretArn` |
//! | `sns` | the alert topic | `AlertTopic` |
//! | `lease_table` (DynamoDB) | the lease table | `LeaseTable` |
//! | `entra/` (STS) | no resource (`GetWebIdentityToken`, federated only) | `*` |
//! | the CLI (`src/`: `main`, `setup`, `status`), `probe` | the CLI's own calls (`init`, `status`, `probe`, `sim`): not the function | not granted |
//!
//! A call in any other module is a problem to classify here, so a new call cannot slip past.
//!
//! A `RotateSecret` call (the check's hand-off to Secrets Manager) also needs
//! `lambda:InvokeFunction` on the function itself, which it names as the rotation function.
//!
//! Two guards hold beyond the grants ([`guard_problems`]): a `Deny` of every Secrets Manager
//! action that acts on a secret, on every secret but those the role is granted (`NotResource`),
//! so that a resource policy on someone else's secret cannot widen the role; and `RotateSecret`
//! only with this function as the rotation function (`secretsmanager:RotationLambdaARN`).
//!
//! What Lambda itself does with the role (not calls of the code) is required too: write the
//! function's logs (its `LoggingConfig.LogGroup`), send a failed asynchronous invocation to the
//! `OnFailure` destination, use the alert topic's KMS key to publish, the secrets' KMS key
//! (`KmsKeyArn`) when set, and the VPC's network interfaces when `SubnetIds` is set.

use super::cfn::{get, names, refs, Deployment, Grant};
use super::source::{method_calls, pascal, sdk_crates_named, sdk_operations, File};
use std::collections::{BTreeMap, BTreeSet};

/// The function's own ARN, as its role names it (`!Sub`, by `FunctionName`: the role comes
/// before the function).
pub const OWN_FUNCTION: &str =
    "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${FunctionName}";

/// What a call acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    /// The target secrets (and, self-rotating, the rotator's own document).
    Targets,
    /// The Jamf Pro credential secrets.
    JamfCredentials,
    /// The rotator's own credential secret.
    RotatorCredential,
    /// The alert topic.
    AlertTopic,
    /// The lease table (DynamoDB).
    LeaseTable,
    /// No resource: STS `GetWebIdentityToken`.
    NoResource,
    /// Every secret: `ListSecrets`, only with `TARGET_TAG_KEY`.
    TagListing,
    /// The CLI only, never the function.
    Cli,
}

/// The grants on the targets in tag mode: `*` conditioned on the tag (`cfn::tag_condition`).
pub const TARGET_TAG: &str = "ResourceTag/jamf-entra-rotator:target";

/// One AWS call the code can make.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// IAM action, `service:Operation`.
    pub action: String,
    /// What it acts on.
    pub subject: Subject,
    /// Where: `path: function` (and the store method, for Secrets Manager calls).
    pub site: String,
}

/// Files of the CLI alone.
fn is_cli(f: &File) -> bool {
    f.path.starts_with("src/") || ["setup", "probe", "demo"].iter().any(|s| f.is_in(s))
}

fn store_subject(f: &File, method: &str) -> Option<Subject> {
    Some(if is_cli(f) {
        Subject::Cli
    } else if method == "list_tagged" {
        Subject::TagListing
    } else if f.is_in("rotation") || f.is_in("fleet") || f.is_in("lambda") {
        Subject::Targets
    } else if f.is_in("jamf") {
        Subject::JamfCredentials
    } else if f.is_in("wiring") {
        Subject::RotatorCredential
    } else {
        return None;
    })
}

fn direct_subject(f: &File, service: &str) -> Option<Subject> {
    Some(if is_cli(f) {
        Subject::Cli
    } else if service == "sns" && f.is_in("sns") {
        Subject::AlertTopic
    } else if service == "dynamodb" && f.is_in("lease_table") {
        Subject::LeaseTable
    } else if service == "sts" && f.is_in("entra") {
        Subject::NoResource
    } else {
        return None;
    })
}

/// The name of the enclosing function of each method call in `f`: `(function, calls)`.
fn calls_by_function(f: &File) -> Vec<(String, Vec<(String, String)>)> {
    f.functions()
        .into_iter()
        .map(|(name, body)| (name, method_calls(&body)))
        .collect()
}

/// The methods of `trait SecretStore`, from the file that declares it.
fn store_methods(files: &[File]) -> BTreeSet<String> {
    let f = files
        .iter()
        .find(|f| f.code.contains("trait SecretStore"))
        .expect("a file declares trait SecretStore");
    let at = f.code.find("trait SecretStore").unwrap();
    let open = at + f.code[at..].find('{').unwrap();
    let block = &f.code[open..];
    let mut depth = 0;
    let end = block
        .char_indices()
        .find(|(_, c)| {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            depth == 0
        })
        .unwrap()
        .0;
    let block = &block[..end];
    block
        .match_indices("fn ")
        .map(|(i, _)| {
            block[i + 3..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// The Secrets Manager operations each `AwsSecretStore` method makes, its `self.` helpers
/// included.
fn store_operations(impl_file: &File) -> BTreeMap<String, BTreeSet<String>> {
    let ops = &sdk_operations()["secretsmanager"];
    let fns = calls_by_function(impl_file);
    let local: BTreeSet<&str> = fns.iter().map(|(n, _)| n.as_str()).collect();
    let closure = |start: &str| {
        let (mut seen, mut todo, mut found) =
            (BTreeSet::new(), vec![start.to_string()], BTreeSet::new());
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            for (_, calls) in fns.iter().filter(|(n, _)| *n == name) {
                for (method, receiver) in calls {
                    if ops.contains(method) {
                        found.insert(format!("secretsmanager:{}", pascal(method)));
                    } else if receiver.ends_with("self") && local.contains(method.as_str()) {
                        todo.push(method.clone());
                    }
                }
            }
        }
        found
    };
    local.iter().map(|n| (n.to_string(), closure(n))).collect()
}

/// Every AWS call the sources can make, or the problems that keep the model from knowing.
pub fn calls(files: &[File]) -> Result<Vec<Call>, Vec<String>> {
    let impl_file = files
        .iter()
        .find(|f| f.code.contains("impl SecretStore for AwsSecretStore"))
        .expect("a file implements SecretStore for AwsSecretStore");
    // The trait's methods, and AwsSecretStore's own public ones (`create_encrypted`).
    let mut methods = store_methods(files);
    methods.extend(
        impl_file
            .functions()
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| {
                ["pub fn ", "pub async fn "]
                    .iter()
                    .any(|p| impl_file.code.contains(&format!("{p}{name}(")))
            }),
    );
    let store_ops = store_operations(impl_file);
    let (mut calls, mut problems) = (Vec::new(), Vec::new());
    for f in files {
        let services = sdk_crates_named(&f.code);
        let internal = f.is_in("secrets_manager") || f.is_in("ports");
        for (function, found) in calls_by_function(f) {
            let site = format!("{}: {function}", f.path);
            for (method, receiver) in &found {
                // A direct SDK call.
                let matching: Vec<&String> = services
                    .iter()
                    .filter(|s| sdk_operations().get(*s).is_some_and(|o| o.contains(method)))
                    .collect();
                match (matching.as_slice(), f.path == impl_file.path) {
                    ([], _) | (_, true) => {}
                    ([service], false) => match direct_subject(f, service) {
                        Some(subject) => calls.push(Call {
                            action: format!("{service}:{}", pascal(method)),
                            subject,
                            site: site.clone(),
                        }),
                        None => problems.push(format!(
                            "{site}: .{method}() ({service}) is an AWS call in a module the IAM model does not classify (tests/product/crosscheck/iam.rs)"
                        )),
                    },
                    (many, false) => problems.push(format!(
                        "{site}: .{method}() is an operation of several SDK crates named here: {many:?}"
                    )),
                }
                // A SecretStore call.
                if internal || !methods.contains(method) {
                    continue;
                }
                if !receiver.ends_with("store") {
                    if method.contains('_') {
                        problems.push(format!(
                            "{site}: .{method}() on `{receiver}`: call SecretStore methods on a receiver named `store` so the IAM model sees them"
                        ));
                    }
                    continue;
                }
                let Some(subject) = store_subject(f, method) else {
                    problems.push(format!(
                        "{site}: store.{method}() in a module the IAM model does not classify (tests/product/crosscheck/iam.rs)"
                    ));
                    continue;
                };
                for action in store_ops.get(method).into_iter().flatten() {
                    calls.push(Call {
                        action: action.clone(),
                        subject,
                        site: format!("{site} (store.{method})"),
                    });
                }
            }
        }
    }
    calls.sort();
    calls.dedup();
    if problems.is_empty() {
        Ok(calls)
    } else {
        Err(problems)
    }
}

/// Whether the check adds the rotator's own document to its targets (self-rotation): the
/// function `check_all` resolves its ids with `resolve_with_own`, which pushes `own` onto them.
pub fn self_rotation(files: &[File]) -> bool {
    let function = |wanted: &str, holding: &str| {
        files.iter().any(|f| {
            f.functions().iter().any(|(name, body)| {
                let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
                name == wanted && body.contains(holding)
            })
        })
    };
    // The Lambda's check resolves its targets with the own secret; the engine appends it.
    function("check_all", "resolve_with_own(") && function("resolve_with_own", "ids.push(own")
}

/// The grants the role needs in deployment `d` for `calls`, and what Lambda itself does with
/// the role. Each grant comes with why.
pub fn required(calls: &[Call], self_rotating: bool, d: &Deployment) -> BTreeMap<Grant, String> {
    let (federated, client_secret) = (
        d.condition("FederatedAuth"),
        d.condition("ClientSecretAuth"),
    );
    let mut need = BTreeMap::new();
    let mut add = |action: &str, resource: &str, why: String| {
        need.entry((action.to_string(), resource.to_string()))
            .or_insert(why);
    };
    let by_tag = d.condition("TargetsByTag");
    let targets = if by_tag {
        TARGET_TAG
    } else {
        "TargetSecretArns"
    };
    for c in calls {
        let why = format!("called at {}", c.site);
        match c.subject {
            Subject::Targets => {
                add(&c.action, targets, why.clone());
                if client_secret && self_rotating {
                    add(
                        &c.action,
                        "RotatorCredentialsSecretArn",
                        format!("self-rotation: {why}"),
                    );
                }
            }
            Subject::JamfCredentials => add(&c.action, "JamfCredentialsSecretArns", why),
            Subject::RotatorCredential if !federated => {
                add(&c.action, "RotatorCredentialsSecretArn", why)
            }
            Subject::AlertTopic => add(&c.action, "AlertTopic", why),
            Subject::LeaseTable => add(&c.action, "LeaseTable.Arn", why),
            Subject::NoResource if federated => add(&c.action, "*", why),
            Subject::TagListing if by_tag => add(&c.action, "*", why),
            _ => {}
        }
    }
    // RotateSecret names this function as the rotation function: its caller needs
    // lambda:InvokeFunction on it (AWS's RotateSecret reference).
    if let Some(c) = calls
        .iter()
        .find(|c| c.action == "secretsmanager:RotateSecret" && c.subject == Subject::Targets)
    {
        add(
            "lambda:InvokeFunction",
            OWN_FUNCTION,
            format!(
                "RotateSecret with this function as the rotation function, at {}",
                c.site
            ),
        );
    }
    let f = d.resource("RotatorFunction").expect("the function");
    let p = get(&f, "Properties");
    for group in names(get(get(p, "LoggingConfig"), "LogGroup")) {
        for a in ["logs:CreateLogStream", "logs:PutLogEvents"] {
            add(
                a,
                &format!("{group}.Arn"),
                "Lambda writes the function's logs".into(),
            );
        }
    }
    let on_failure = get(
        get(get(p, "EventInvokeConfig"), "DestinationConfig"),
        "OnFailure",
    );
    for queue in names(get(on_failure, "Destination")) {
        add(
            "sqs:SendMessage",
            &queue,
            "Lambda records a failed asynchronous invocation".into(),
        );
    }
    let publishes = calls.iter().any(|c| c.subject == Subject::AlertTopic);
    let topic = d.resource("AlertTopic").expect("the topic");
    for key in names(get(get(&topic, "Properties"), "KmsMasterKeyId"))
        .into_iter()
        .filter(|_| publishes)
    {
        for a in ["kms:Decrypt", "kms:GenerateDataKey"] {
            add(
                a,
                &format!("{key}.Arn"),
                "sns:Publish to the encrypted topic".into(),
            );
        }
    }
    if d.condition("HasKmsKey") {
        for a in ["kms:Decrypt", "kms:GenerateDataKey"] {
            add(
                a,
                "KmsKeyArn",
                "Secrets Manager calls on secrets under KmsKeyArn".into(),
            );
        }
    }
    if !get(p, "VpcConfig").is_null() {
        for a in [
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        ] {
            add(a, "*", "Lambda's network interfaces in the VPC".into());
        }
    }
    need
}

/// What is wrong with deployment `d`'s function role for `calls`: grants missing (with the call
/// that needs each) and grants beyond what anything needs.
pub fn problems(calls: &[Call], self_rotating: bool, d: &Deployment) -> Vec<String> {
    let need = required(calls, self_rotating, d);
    let granted = d.role_grants("RotatorFunctionRole");
    let mut out = Vec::new();
    for ((action, resource), why) in &need {
        if !granted.contains(&(action.clone(), resource.clone())) {
            out.push(format!("missing: {action} on {resource} ({why})"));
        }
    }
    for (action, resource) in &granted {
        if !need.contains_key(&(action.clone(), resource.clone())) {
            out.push(format!(
                "beyond what the code calls: {action} on {resource}"
            ));
        }
    }
    out
}

/// Secrets Manager operations that act on no secret (their resource is `*`): a `Deny` outside
/// the role's secrets leaves them. `BatchGetSecretValue` reads each secret with `GetSecretValue`,
/// which the `Deny` covers.
pub const ACCOUNT_WIDE: [&str; 3] = ["ListSecrets", "GetRandomPassword", "BatchGetSecretValue"];

/// What is wrong with the guards of deployment `d`'s function role: no `Deny` of every Secrets
/// Manager action on a secret (from the SDK's operations, but [`ACCOUNT_WIDE`]) on every secret
/// outside exactly those its `Allow` statements name; or a `RotateSecret` allowed without the
/// condition that the rotation function is this function.
pub fn guard_problems(d: &Deployment) -> Vec<String> {
    let role = "RotatorFunctionRole";
    let statements = d.role_statements(role);
    let mut problems = Vec::new();
    let grants = d.role_grants(role);
    let by_tag = grants.iter().any(|(_, resource)| resource == TARGET_TAG);
    // The secrets granted by ARN; those granted by tag are outside the Deny by its condition.
    let ours: BTreeSet<String> = grants
        .into_iter()
        .filter(|(action, _)| action.starts_with("secretsmanager:"))
        .filter(|(action, _)| !ACCOUNT_WIDE.iter().any(|a| action.ends_with(a)))
        .map(|(_, resource)| resource)
        .filter(|resource| resource != TARGET_TAG)
        .collect();
    // The tag values the Allow statements grant; the Deny must spare exactly those.
    let tag_values: BTreeSet<Vec<String>> = statements
        .iter()
        .filter_map(|s| super::cfn::tag_condition(s, "StringEquals"))
        .map(|(_, values)| values)
        .collect();
    let on_secrets: BTreeSet<String> = sdk_operations()["secretsmanager"]
        .iter()
        .map(|op| pascal(op))
        .filter(|op| !ACCOUNT_WIDE.contains(&op.as_str()))
        .map(|op| format!("secretsmanager:{op}"))
        .collect();
    let guards: Vec<&serde_norway::Value> = statements
        .iter()
        .filter(|s| get(s, "Effect").as_str() == Some("Deny"))
        .filter(|s| {
            // Not `get`, which would look through a lone `!Ref` to its bare name.
            let outside: BTreeSet<String> = s
                .get("NotResource")
                .map(refs)
                .unwrap_or_default()
                .into_iter()
                .collect();
            let spared = super::cfn::tag_condition(s, "StringNotEquals")
                .filter(|(key, _)| key == TARGET_TAG)
                .map(|(_, values)| values);
            let tag_guard = if by_tag {
                tag_values.len() == 1 && spared.as_ref() == tag_values.iter().next()
            } else {
                get(s, "Condition").is_null()
            };
            get(s, "Resource").is_null() && outside == ours && tag_guard
        })
        .collect();
    let denied: BTreeSet<String> = guards
        .iter()
        .flat_map(|s| names(get(s, "Action")))
        .collect();
    let undenied: Vec<&String> = on_secrets.difference(&denied).collect();
    if !undenied.is_empty() {
        problems.push(format!(
            "no Deny of {undenied:?} with NotResource exactly the role's secrets {ours:?}{}: a resource policy on another secret could widen the role",
            if by_tag { format!(" and StringNotEquals secretsmanager:{TARGET_TAG} = {tag_values:?}") } else { String::new() }
        ));
    }
    for s in &statements {
        let rotates = names(get(s, "Action")).contains(&"secretsmanager:RotateSecret".into());
        if get(s, "Effect").as_str() != Some("Allow") || !rotates {
            continue;
        }
        let condition = get(s, "Condition");
        let pinned = ["ArnEquals", "StringEquals"].iter().any(|op| {
            names(get(get(condition, op), "secretsmanager:RotationLambdaARN")) == [OWN_FUNCTION]
        });
        if !pinned {
            problems.push(format!(
                "secretsmanager:RotateSecret on {:?} without the condition secretsmanager:RotationLambdaARN = {OWN_FUNCTION}: the role could hand a rotation to another function",
                names(get(s, "Resource"))
            ));
        }
    }
    problems
}

#[test]
fn the_lease_tables_four_calls_are_found_and_act_on_the_lease_table_only() {
    let files = super::sources();
    let calls = calls(&files).unwrap_or_else(|p| panic!("{p:#?}"));
    let on_table: BTreeSet<&str> = (calls.iter())
        .filter(|c| c.action.starts_with("dynamodb:"))
        .inspect(|c| assert_eq!(c.subject, Subject::LeaseTable, "{c:?}"))
        .map(|c| c.action.as_str())
        .collect();
    assert_eq!(
        on_table,
        BTreeSet::from([
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem"
        ])
    );
}
