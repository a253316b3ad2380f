//! The README serves its reader: short, the legacy integration's status up front, and a
//! parameter table that matches `template.yaml` name for name and default for default.

use serde_norway::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).unwrap()
}

/// The template's parameters: name -> default as text (`—` when there is none or it is empty).
fn template_parameters() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let doc: Value = serde_norway::from_str(&text).unwrap();
    let Some(Value::Mapping(params)) = doc.get("Parameters") else {
        panic!("template.yaml has no Parameters");
    };
    params
        .iter()
        .map(|(name, p)| {
            let default = match p.get("Default") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => "—".to_string(),
            };
            (name.as_str().unwrap().to_string(), default)
        })
        .collect()
}

/// The README's "## Parameters" table: name -> default, both without backticks.
fn readme_parameters(readme: &str) -> BTreeMap<String, String> {
    let start = readme
        .find("\n## Parameters")
        .expect("README has a Parameters section");
    let section = &readme[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    section[..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let bare = |s: &str| s.trim_matches('`').to_string();
            (bare(cells[1]), bare(cells[2]))
        })
        .collect()
}

#[test]
fn the_readme_parameter_table_matches_the_template() {
    let template = template_parameters();
    let documented = readme_parameters(&readme());
    let missing: Vec<_> = template
        .keys()
        .filter(|k| !documented.contains_key(*k))
        .collect();
    let unknown: Vec<_> = documented
        .keys()
        .filter(|k| !template.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "README's parameter table: missing {missing:?}, not in template.yaml {unknown:?}"
    );
    for (name, default) in &template {
        assert_eq!(
            &documented[name], default,
            "README gives {name} another default than template.yaml"
        );
    }
}

#[test]
fn the_readme_is_short_and_names_the_legacy_integrations_end_first() {
    let text = readme();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() <= 250, "README has {} lines", lines.len());
    let head = lines[..40.min(lines.len())].join("\n");
    assert!(
        head.contains("ended support") && head.contains("Device Compliance"),
        "the first 40 lines must state Microsoft's deprecation of legacy Conditional Access and name Device Compliance"
    );
}

#[test]
fn the_readme_starts_with_the_demo_and_the_test_command() {
    let text = readme();
    let block = text
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("README opens with a sh block");
    let commands: Vec<&str> = block
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .collect();
    assert_eq!(commands, ["cargo run --example demo", "bash scripts/test"]);
}

#[test]
fn no_command_hides_in_a_table_cell() {
    // Commands go in copyable blocks: a table cell may name a script, never run one with
    // arguments (`scripts/x --flag`, `jamf-entra-rotator status`, `aws …`, `az …`, `cargo …`).
    let text = readme();
    let is_invocation = |code: &str| {
        let mut words = code.split_whitespace();
        let first = words.next().unwrap_or_default();
        let runs = first.starts_with("scripts/")
            || ["jamf-entra-rotator", "aws", "az", "cargo", "sam"].contains(&first);
        runs && words.next().is_some()
    };
    let offenders: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter(|l| l.split('`').skip(1).step_by(2).any(is_invocation))
        .collect();
    assert!(offenders.is_empty(), "{offenders:#?}");
}
