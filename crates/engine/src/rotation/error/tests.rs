//! The in-source tests of [`super`]: each cause carries its own class and advice.

use super::*;
use crate::document::TargetDocument;

/// One of each cause that is the engine's own (not a port's error passed through).
fn own_causes() -> Vec<ErrorKind> {
    let (t, s) = (|| "v1".to_string(), || "target".to_string());
    let bad_document = || TargetDocument::parse("{}").unwrap_err();
    vec![
        ErrorKind::Document(bad_document()),
        ErrorKind::SiblingDocument {
            sibling: s(),
            source: bad_document(),
        },
        ErrorKind::NoCurrentVersion { secret_id: s() },
        ErrorKind::PropagationTimeout {
            waited: Duration::from_secs(300),
            attempts: 9,
        },
        ErrorKind::Expired {
            which: Which::Current,
        },
        ErrorKind::Expired { which: Which::New },
        ErrorKind::NewSecretRefused,
        ErrorKind::RotationDisabled { secret_id: s() },
        ErrorKind::UnknownToken {
            token: t(),
            secret_id: s(),
        },
        ErrorKind::NotPending {
            token: t(),
            secret_id: s(),
        },
        ErrorKind::NothingPending { version: t() },
        ErrorKind::EmptyReadBack { version: t() },
        ErrorKind::CredentialKept {
            version: t(),
            why: "credential k was kept".into(),
        },
        ErrorKind::RetirementPending {
            old: "k".into(),
            why: "not yet seen".into(),
        },
        ErrorKind::LifetimeRefused {
            code: "CredentialInvalidLifetimeAsPerAppPolicy",
        },
        ErrorKind::LockdownRefused("the app holds credential k of a target not known".into()),
        ErrorKind::NotAStep(Step::Check),
        ErrorKind::AttemptsExhausted { attempts: 100 },
        ErrorKind::Concurrent("AWSPENDING moved".into()),
        ErrorKind::Busy {
            until: chrono::Utc::now(),
        },
        ErrorKind::Stale,
        ErrorKind::TokenSpent(t()),
        ErrorKind::Panicked("at src/x.rs:1".into()),
    ]
}

#[test]
fn each_cause_carries_its_own_advice() {
    let causes = own_causes();
    let advice: Vec<String> = causes.iter().map(ErrorKind::advice).collect();
    for (i, a) in advice.iter().enumerate() {
        for (j, b) in advice.iter().enumerate().skip(i + 1) {
            assert_ne!(
                a, b,
                "{:?} and {:?} give the same advice",
                causes[i], causes[j]
            );
        }
    }
}

#[test]
fn classes_name_where_the_cause_lies() {
    let class = |k: ErrorKind| RotationError::new(Step::SetSecret, k).class();
    assert_eq!(class(ErrorKind::NewSecretRefused), "entra");
    assert_eq!(
        class(ErrorKind::EmptyReadBack {
            version: "v".into()
        }),
        "secrets-manager"
    );
    assert_eq!(class(ErrorKind::LifetimeRefused { code: "c" }), "policy");
    assert_eq!(class(ErrorKind::LockdownRefused("x".into())), "policy");
    assert_eq!(
        class(ErrorKind::NoCurrentVersion {
            secret_id: "s".into()
        }),
        "document"
    );
    let not_pending = ErrorKind::NotPending {
        token: "v".into(),
        secret_id: "s".into(),
    };
    assert_eq!(class(not_pending), "guard");
}

#[test]
fn a_document_error_stays_typed_and_reads_as_itself() {
    let parsed = TargetDocument::parse("[]").unwrap_err();
    let said = parsed.to_string();
    let e = RotationError::new(Step::SetSecret, ErrorKind::Document(parsed));
    assert!(matches!(
        e.kind,
        ErrorKind::Document(DocumentError::Invalid(_))
    ));
    assert_eq!(e.to_string(), format!("setSecret: {said}"));
}

#[test]
fn expired_says_which_secret_and_advises_by_it() {
    let current = ErrorKind::Expired {
        which: Which::Current,
    };
    assert!(
        current
            .to_string()
            .contains("the current secret has expired"),
        "{current}"
    );
    assert!(current.advice().contains("rotate --reason expired"));
    let new = ErrorKind::Expired { which: Which::New };
    assert!(new.advice().contains("SECRET_LIFETIME_DAYS"));
}

#[test]
fn only_stage_refusals_and_races_mean_undone_elsewhere() {
    let undone: Vec<bool> = own_causes()
        .iter()
        .map(ErrorKind::undone_elsewhere)
        .collect();
    let expected = own_causes()
        .iter()
        .map(|k| {
            matches!(
                k,
                ErrorKind::RotationDisabled { .. }
                    | ErrorKind::UnknownToken { .. }
                    | ErrorKind::NotPending { .. }
                    | ErrorKind::NothingPending { .. }
                    | ErrorKind::CredentialKept { .. }
                    | ErrorKind::Concurrent(_)
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(undone, expected);
    assert!(!ErrorKind::LifetimeRefused { code: "c" }.undone_elsewhere());
}
