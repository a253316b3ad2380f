//! Every environment variable the code reads, against what `template.yaml` sets and what the
//! README's "Configuration (environment)" table documents.
//!
//! A variable is read where a file reads the environment (`std::env::var`, the settings'
//! `from_lookup`, tracing's `from_default_env`, which reads `RUST_LOG`): every string literal in
//! such a file that looks like a variable name (`UPPER_CASE` with an underscore) counts.

use super::cfn::{get, Deployment};
use super::source::File;
use std::collections::{BTreeMap, BTreeSet};

/// Read by the CLI alone, documented in the README outside the configuration table.
pub const CLI_ONLY: &[(&str, &str)] = &[(
    "JER_CLIENT_SECRET",
    "`init`: the secret Jamf Pro uses today (never a flag)",
)];

fn is_env_name(s: &str) -> bool {
    s.len() > 3
        && s.contains('_')
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Every variable the sources read, with the files that read it.
pub fn reads(files: &[File]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let reads_env = ["env::var", "from_lookup", "from_default_env"]
            .iter()
            .any(|w| f.code.contains(w));
        if !reads_env {
            continue;
        }
        let mut names: Vec<String> = f
            .literals
            .iter()
            .filter(|l| is_env_name(l))
            .cloned()
            .collect();
        if f.code.contains("from_default_env") {
            names.push("RUST_LOG".into());
        }
        for n in names {
            out.entry(n).or_default().insert(f.path.clone());
        }
    }
    out
}

/// The variables the README's "Configuration (environment)" table documents (first column).
pub fn documented(readme: &str) -> BTreeSet<String> {
    let start = readme
        .find("## Configuration (environment)")
        .expect("README has a Configuration (environment) section");
    let section = &readme[start..];
    let end = section[3..]
        .find("\n## ")
        .map(|i| i + 3)
        .unwrap_or(section.len());
    section[..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|n| is_env_name(n))
        .collect()
}

/// The variables deployment `d` gives the function: its `Environment`, and what Lambda sets from
/// its configuration (`AWS_LAMBDA_LOG_LEVEL` from `LoggingConfig.ApplicationLogLevel`).
pub fn deployed(d: &Deployment) -> BTreeSet<String> {
    let f = d.resource("RotatorFunction").expect("the function");
    let p = get(&f, "Properties");
    let mut out: BTreeSet<String> = match get(get(p, "Environment"), "Variables") {
        serde_norway::Value::Mapping(m) => m
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect(),
        _ => BTreeSet::new(),
    };
    if !get(get(p, "LoggingConfig"), "ApplicationLogLevel").is_null() {
        out.insert("AWS_LAMBDA_LOG_LEVEL".into());
    }
    out
}

/// What is wrong: a variable read but neither set nor documented, one set or documented that
/// nothing reads, a CLI-only one the README does not mention.
pub fn problems(files: &[File], d: &Deployment, readme: &str) -> Vec<String> {
    let (read, set, docs) = (reads(files), deployed(d), documented(readme));
    let cli: BTreeSet<&str> = CLI_ONLY.iter().map(|(n, _)| *n).collect();
    let mut out = Vec::new();
    for (name, sites) in &read {
        if !set.contains(name) && !docs.contains(name) && !cli.contains(name.as_str()) {
            out.push(format!(
                "{name} is read ({sites:?}) but template.yaml does not set it and README's Configuration table does not document it"
            ));
        }
    }
    for name in &set {
        if !read.contains_key(name) {
            out.push(format!("template.yaml sets {name}, which nothing reads"));
        }
    }
    for name in &docs {
        if !read.contains_key(name) {
            out.push(format!("README documents {name}, which nothing reads"));
        }
    }
    for (name, why) in CLI_ONLY {
        if !readme.contains(name) {
            out.push(format!("{name} ({why}) is not in the README"));
        }
    }
    out
}
