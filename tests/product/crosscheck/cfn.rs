//! `template.yaml` evaluated for one set of parameter values: its conditions decided, `!If`
//! branches picked, `AWS::NoValue` dropped. What is left of the function's role is a set of
//! grants `(action, resource)`, each resource named as the template names it (`TargetSecretArns`,
//! `AlertTopic`, `RotatorLogGroup.Arn`, `*`).

use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One allowed action on one resource, as the template names them.
pub type Grant = (String, String);

/// The template with parameter values.
pub struct Deployment<'a> {
    /// The template (serde_norway; CloudFormation's short tags are tagged values).
    pub doc: &'a Value,
    params: BTreeMap<String, String>,
}

/// Reads `template.yaml` from the repository root.
pub fn template() -> Value {
    let path = super::source::repo_root().join("template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("template.yaml"))
        .expect("template.yaml is YAML")
}

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untag(&t.value),
        v => v,
    }
}

/// `v[key]` (tags looked through), or null.
pub fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    untag(v).get(key).map(untag).unwrap_or(&NULL)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl<'a> Deployment<'a> {
    /// `doc` with every parameter at its default, then `overrides` (`name`, value).
    pub fn new(doc: &'a Value, overrides: &[(&str, &str)]) -> Self {
        let mut params = BTreeMap::new();
        if let Value::Mapping(m) = get(doc, "Parameters") {
            for (k, p) in m {
                let value = scalar(get(p, "Default")).unwrap_or_default();
                params.insert(k.as_str().unwrap().to_string(), value);
            }
        }
        for (k, v) in overrides {
            assert!(params.contains_key(*k), "no parameter {k}");
            params.insert(k.to_string(), v.to_string());
        }
        Self { doc, params }
    }

    /// Whether the template's condition `name` holds.
    pub fn condition(&self, name: &str) -> bool {
        // Looked up without untagging: the tag is the condition's function.
        let c = untag(get(self.doc, "Conditions"))
            .get(name)
            .unwrap_or_else(|| panic!("no condition {name}"));
        self.truth(c)
    }

    fn truth(&self, v: &Value) -> bool {
        let Value::Tagged(t) = v else {
            panic!("not a condition: {v:?}")
        };
        let args = || match &t.value {
            Value::Sequence(s) => s.clone(),
            other => vec![other.clone()],
        };
        match t.tag.to_string().as_str() {
            "!Equals" => {
                let a = args();
                self.text(&a[0]) == self.text(&a[1])
            }
            "!Not" => !self.truth(&args()[0]),
            "!And" => args().iter().all(|c| self.truth(c)),
            "!Or" => args().iter().any(|c| self.truth(c)),
            "!Condition" => self.condition(t.value.as_str().unwrap()),
            other => panic!("condition function {other} is not modelled"),
        }
    }

    /// A value as text: a scalar, a parameter's value, or a `!Join` of them.
    fn text(&self, v: &Value) -> String {
        match v {
            Value::Tagged(t) if t.tag == "!Ref" => {
                let name = t.value.as_str().unwrap();
                self.params
                    .get(name)
                    .unwrap_or_else(|| panic!("!Ref {name}: not a parameter"))
                    .clone()
            }
            Value::Tagged(t) if t.tag == "!Join" => {
                let parts = t.value.as_sequence().unwrap();
                let sep = self.text(&parts[0]);
                match &parts[1] {
                    Value::Sequence(items) => items
                        .iter()
                        .map(|i| self.text(i))
                        .collect::<Vec<_>>()
                        .join(&sep),
                    list => self.text(list).split(',').collect::<Vec<_>>().join(&sep),
                }
            }
            other => scalar(other).unwrap_or_else(|| panic!("not text: {other:?}")),
        }
    }

    /// `v` with every `!If` decided and every `AWS::NoValue` dropped; `None` when `v` is itself
    /// `AWS::NoValue`.
    pub fn pick(&self, v: &Value) -> Option<Value> {
        match v {
            Value::Tagged(t) if t.tag == "!If" => {
                let parts = t.value.as_sequence().unwrap();
                let branch = if self.condition(parts[0].as_str().unwrap()) {
                    &parts[1]
                } else {
                    &parts[2]
                };
                self.pick(branch)
            }
            Value::Tagged(t) if t.tag == "!Ref" && t.value.as_str() == Some("AWS::NoValue") => None,
            Value::Sequence(items) => Some(Value::Sequence(
                items.iter().filter_map(|i| self.pick(i)).collect(),
            )),
            Value::Mapping(m) => Some(Value::Mapping(
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.pick(v)?)))
                    .collect(),
            )),
            other => Some(other.clone()),
        }
    }

    /// The resource `name` as deployed: `None` when its condition is false.
    pub fn resource(&self, name: &str) -> Option<Value> {
        let r = get(get(self.doc, "Resources"), name);
        assert!(!r.is_null(), "no resource {name}");
        match get(r, "Condition").as_str() {
            Some(c) if !self.condition(c) => None,
            _ => self.pick(r),
        }
    }

    /// Every statement of the role `role`, as deployed: its inline policies and those of the
    /// `AWS::IAM::Policy` resources attached to it that are deployed.
    pub fn role_statements(&self, role: &str) -> Vec<Value> {
        let mut documents = Vec::new();
        let r = self.resource(role).expect("the role is deployed");
        for p in get(get(&r, "Properties"), "Policies")
            .as_sequence()
            .unwrap()
        {
            documents.push(get(p, "PolicyDocument").clone());
        }
        if let Value::Mapping(all) = get(self.doc, "Resources") {
            for (name, res) in all {
                if get(res, "Type").as_str() != Some("AWS::IAM::Policy") {
                    continue;
                }
                let Some(res) = self.resource(name.as_str().unwrap()) else {
                    continue;
                };
                let props = get(&res, "Properties");
                if names(get(props, "Roles")).contains(&role.to_string()) {
                    documents.push(get(props, "PolicyDocument").clone());
                }
            }
        }
        documents
            .iter()
            .flat_map(|d| get(d, "Statement").as_sequence().unwrap().clone())
            .collect()
    }

    /// Every grant of the role `role`: each action of its `Allow` statements on each resource
    /// (their conditions aside; `iam::guard_problems` reads those, and the `Deny`).
    pub fn role_grants(&self, role: &str) -> BTreeSet<Grant> {
        let mut grants = BTreeSet::new();
        for s in self.role_statements(role) {
            let effect = get(&s, "Effect").as_str();
            assert!(matches!(effect, Some("Allow" | "Deny")), "{s:?}");
            if effect != Some("Allow") {
                continue;
            }
            let tag = tag_condition(&s, "StringEquals").map(|(key, _)| key);
            for action in names(get(&s, "Action")) {
                for resource in names(get(&s, "Resource")) {
                    // `*` narrowed to the secrets carrying a tag is named by that tag.
                    let resource = match &tag {
                        Some(key) if resource == "*" => key.clone(),
                        _ => resource,
                    };
                    grants.insert((action.clone(), resource));
                }
            }
        }
        grants
    }
}

/// The resource-tag condition of statement `s` under operator `op` (`StringEquals`,
/// `StringNotEquals`): its key without the `secretsmanager:` prefix (`ResourceTag/<tag key>`)
/// and the names of its values.
pub fn tag_condition(s: &Value, op: &str) -> Option<(String, Vec<String>)> {
    let Value::Mapping(m) = get(get(s, "Condition"), op) else {
        return None;
    };
    m.iter().find_map(|(k, v)| {
        let key = k.as_str()?.strip_prefix("secretsmanager:")?;
        key.starts_with("ResourceTag/")
            .then(|| (key.to_string(), names(v)))
    })
}

/// The names every `!Ref` in `v` refers to, in order (`AWS::NoValue` left out): the parameters
/// a `!Split` / `!Join` of lists is made of.
pub fn refs(v: &Value) -> Vec<String> {
    match v {
        Value::Tagged(t) if t.tag == "!Ref" => t
            .value
            .as_str()
            .filter(|name| *name != "AWS::NoValue")
            .map(|name| vec![name.to_string()])
            .unwrap_or_default(),
        Value::Tagged(t) => refs(&t.value),
        Value::Sequence(items) => items.iter().flat_map(refs).collect(),
        Value::Mapping(m) => m.values().flat_map(refs).collect(),
        _ => Vec::new(),
    }
}

/// The names in an `Action` or `Resource` value: literals, `!Ref X` → `X`, `!GetAtt X.Arn` →
/// `X.Arn`, `!Sub s` → `s`; lists flattened.
pub fn names(v: &Value) -> Vec<String> {
    match v {
        Value::Tagged(t) => names(&t.value),
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(names).collect(),
        Value::Null => Vec::new(),
        other => panic!("not a name: {other:?}"),
    }
}
