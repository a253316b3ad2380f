//! docs/EXTENDING.md, held to the code: every target kind the engine declares
//! (`TargetKind::ALL`) has what the guide says a kind needs. Its adapter and its stand-in rotate
//! it in the world, its name round-trips through a document, and the CLI offers it.

use crate::common;

use common::spawn_with;
use rotator_engine::document::TargetKind;

/// The kinds a Jamf Pro setting holds (the rotator's own secret is no Jamf target).
fn jamf_kinds() -> impl Iterator<Item = TargetKind> {
    TargetKind::ALL.into_iter().filter(|k| k.is_jamf())
}

#[tokio::test]
async fn every_declared_kind_has_an_adapter_and_a_stand_in_that_rotate_it() {
    for kind in jamf_kinds() {
        let w = spawn_with(10, |o| o.target = kind).await;
        let report = w.engine.check(&w.secret_id, false).await.unwrap();
        let rotation = report
            .rotation
            .expect("a secret 10 days from expiry rotates");
        assert!(
            rotation.error.is_none(),
            "{}: {:?}",
            kind.as_str(),
            rotation.error
        );
        assert!(
            w.jamf_secret_works(),
            "{}: Jamf Pro's secret works",
            kind.as_str()
        );
        w.assert_invariant().await;
    }
}

#[test]
fn every_declared_kind_names_itself_in_a_document() {
    for kind in TargetKind::ALL {
        let name = serde_json::json!(kind.as_str());
        let parsed: TargetKind = serde_json::from_value(name).unwrap();
        assert_eq!(parsed, kind);
    }
}

#[test]
fn the_cli_offers_every_declared_jamf_kind_and_no_other() {
    let cli = |target: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_jamf-entra-rotator"))
            .args(["demo", "--target", target, "--help"])
            .output()
            .unwrap()
    };
    for kind in jamf_kinds() {
        let out = cli(kind.as_str());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", kind.as_str());
    }
    for name in [TargetKind::Rotator.as_str(), "smtp"] {
        let out = cli(name);
        assert!(!out.status.success(), "{name} is not a Jamf target");
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value"));
    }
}

/// The places the guide names for a kind's match arms, and no others: the engine's declaration,
/// the adapters' factory and each adapter's own `kind`, and the test kit's `settings.rs`.
#[test]
fn a_kind_is_matched_on_only_where_the_guide_says() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/EXTENDING.md")).unwrap();
    let mut matched = Vec::new();
    for dir in [
        "src",
        "crates/adapters/src",
        "crates/lambda/src",
        "crates/testkit/src",
    ] {
        for file in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            if text.contains("TargetKind::ConditionalAccess") {
                matched.push(file.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    matched.sort();
    // Besides the engine's declaration: the factory, the kind's own adapter module, the test
    // kit's settings, `discover`. Each is a place the guide names.
    let places = [
        "crates/adapters/src/jamf/targets.rs",
        "conditional_access/",
        "crates/testkit/src/settings.rs",
        "src/discover/mod.rs",
        "src/discover/text.rs",
    ];
    for place in places {
        assert!(
            guide.contains(&format!("`{place}`")),
            "docs/EXTENDING.md names {place}"
        );
    }
    for file in &matched {
        assert!(
            places
                .iter()
                .any(|p| file.ends_with(p) || file.contains(&format!("/{p}"))),
            "{file} matches on a target kind outside the places docs/EXTENDING.md names"
        );
    }
}

fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}
