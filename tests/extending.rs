//! docs/EXTENDING.md, held to the code: every target kind the engine declares
//! (`TargetKind::ALL`) has what the guide says a kind needs. Its adapter and its stand-in rotate
//! it in the world, its name round-trips through a document, and the CLI offers it.

mod common;

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
