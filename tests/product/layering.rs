//! The crate boundaries of issue 20's "one front door": the operator's CLI does not depend on the
//! Lambda crate (both call the engine's fleet check), and neither names another crate's modules
//! as its own (`crate::config` means the engine's nowhere but in the engine).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The repository (the root package's directory).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `[dependencies]` section of the root package's Cargo.toml.
fn root_dependencies() -> String {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let start = manifest.find("\n[dependencies]\n").expect("[dependencies]");
    let section = &manifest[start + 1..];
    let end = section[1..].find("\n[").map_or(section.len(), |i| i + 1);
    section[..end].to_string()
}

#[test]
fn the_cli_does_not_depend_on_the_lambda_crate() {
    let deps = root_dependencies();
    assert!(deps.contains("rotator-engine"), "{deps}");
    assert!(!deps.contains("rotator-lambda"), "{deps}");
}

/// The modules a crate root (`lib.rs`) declares: `pub mod name;` and `mod name;`.
fn modules(root: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root).unwrap();
    text.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")
                .or(l.trim().strip_prefix("mod "))
        })
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.display().to_string(), text));
        }
    }
    out
}

/// The module names `text` reaches through `crate::`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    (text.match_indices("crate::"))
        .filter(|(i, _)| !text[..*i].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .map(|(i, _)| {
            let rest = &text[i + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest[..end].to_string()
        })
        .collect()
}

#[test]
fn the_lambda_and_the_cli_name_the_engines_and_the_adapters_modules_by_their_crate() {
    let root = repo_root();
    let foreign: BTreeSet<String> = ["crates/engine/src/lib.rs", "crates/adapters/src/lib.rs"]
        .iter()
        .flat_map(|lib| modules(&root.join(lib)))
        .collect();
    assert!(
        foreign.contains("rotation") && foreign.contains("wiring"),
        "{foreign:?}"
    );
    let mut aliased = Vec::new();
    for (dir, own_root) in [
        ("crates/lambda/src", "crates/lambda/src/lib.rs"),
        ("src", "src/main.rs"),
    ] {
        let own = modules(&root.join(own_root));
        for (path, text) in sources(&root.join(dir)) {
            let named = crate_paths(&text);
            let theirs = named
                .iter()
                .filter(|m| foreign.contains(*m) && !own.contains(*m));
            aliased.extend(theirs.map(|m| format!("{path}: crate::{m}")));
        }
    }
    assert!(
        aliased.is_empty(),
        "another crate's module named as this crate's: {aliased:?}"
    );
    // The check itself: the alias this test exists to keep out is found.
    assert_eq!(
        crate_paths("use crate::rotation::Engine; use rotator_engine::config;"),
        BTreeSet::from(["rotation".to_string()])
    );
}
