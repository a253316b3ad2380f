//! The CLI's exit codes, and what kind of failure an error is. One table (`--help`, docs/CLI.md):
//! 0 ok, 1 needs attention, 2 bad input or configuration, 3 could not run. An error is classified
//! by type, walking its whole chain (a wrapper such as `WiringError::Config`, whose display is
//! transparent, still counts as the configuration error it wraps). With `--json` a failure is
//! one object on stdout: `{"error": {"kind", "message", "exit_code"}}`.

use crate::setup::SetupError;
use rotator_adapters::wiring::WiringError;
use rotator_engine::config::ConfigError;
use rotator_engine::document::DocumentError;
use rotator_engine::fleet::TargetsError;
use rotator_engine::ports::{DirectoryError, StoreError, TargetError};
use rotator_engine::rotation::error::ErrorKind;
use rotator_engine::rotation::RotationError;
use serde::Serialize;
use std::process::ExitCode;

/// The exit-code table, as `--help` shows it.
pub const TABLE: &str = "\
Exit codes:
  0  ok: every target is fine, or the command did what it was asked
  1  needs attention: a target is due, expired, drifting or its check failed; a rotation failed
     (and was rolled back)
  2  bad input or configuration: a flag or argument, a setting (environment variable), a target
     document, a lockdown not confirmed
  3  could not run: network, AWS, Entra ID or Jamf Pro unreachable, throttling, another
     attempt holding the target, or the command refused access (sign-in, permissions). A
     report over targets (status, check, discover) exits 3 only when a service did not answer
     for one; a target refused access is that target's failure (1)

With --json, a failure prints one object on stdout:
  {\"error\": {\"kind\": \"input|config|unavailable|denied|attention\", \"message\": \"...\", \"exit_code\": N}}
See docs/CLI.md.";

/// A failure that is the user's to fix: a flag, an argument, a name (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// What kind of failure an error is; each kind has one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Someone should act on a target: a rotation or a check failed, Jamf Pro refused the
    /// secret, a policy stopped the rotation (exit 1).
    Attention,
    /// The command line is wrong: a flag, an argument, a name that does not exist, a lockdown
    /// not confirmed (exit 2).
    Input,
    /// A setting or a target document is missing or invalid (exit 2).
    Config,
    /// A service could not be reached or could not serve now: the network, a timeout,
    /// throttling, a server error, another attempt holding the target (exit 3).
    Unavailable,
    /// A service refused the rotator's identity or access: Entra's sign-in, AWS AccessDenied,
    /// Jamf Pro's credentials (exit 3).
    Denied,
}

impl Kind {
    /// Its exit code.
    pub fn code(self) -> u8 {
        match self {
            Kind::Attention => 1,
            Kind::Input | Kind::Config => 2,
            Kind::Unavailable | Kind::Denied => 3,
        }
    }
}

/// The kind of `error`: the first cause in its chain of a type that says (an unknown error is
/// a failure to look at: exit 1).
pub fn classify(error: &anyhow::Error) -> Kind {
    error.chain().find_map(kind_of).unwrap_or(Kind::Attention)
}

/// The JSON object a failed command prints with `--json` (never a secret: errors carry none).
pub fn error_object(error: &anyhow::Error) -> serde_json::Value {
    let kind = classify(error);
    let mut object = serde_json::json!({
        "kind": kind,
        "message": format!("{error:#}"),
        "exit_code": kind.code(),
    });
    if let Some(e) = error
        .chain()
        .find_map(|c| c.downcast_ref::<RotationError>())
    {
        object["advice"] = e.advice().into();
    }
    serde_json::json!({ "error": object })
}

/// The exit code of a command over targets (status, check, discover): 3 when a service did not
/// answer for one of them (unreachable, throttled: [`Kind::Unavailable`]), else 1 when any needs
/// attention, else 0. A target refused access is that target's failure to look at (1).
pub fn of_targets(attention: bool, failures: impl IntoIterator<Item = Kind>) -> ExitCode {
    let unavailable = failures.into_iter().any(|k| k == Kind::Unavailable);
    ExitCode::from(match (unavailable, attention) {
        (true, _) => 3,
        (false, true) => 1,
        (false, false) => 0,
    })
}

fn kind_of(cause: &(dyn std::error::Error + 'static)) -> Option<Kind> {
    if cause.is::<BadInput>() || cause.is::<clap::Error>() {
        return Some(Kind::Input);
    }
    if cause.is::<ConfigError>() || cause.is::<DocumentError>() {
        return Some(Kind::Config);
    }
    if let Some(e) = cause.downcast_ref::<RotationError>() {
        return Some(rotation(&e.kind));
    }
    if let Some(e) = cause.downcast_ref::<WiringError>() {
        return Some(wiring(e));
    }
    if let Some(e) = cause.downcast_ref::<SetupError>() {
        return Some(setup(e));
    }
    if let Some(e) = cause.downcast_ref::<TargetsError>() {
        return Some(targets(e));
    }
    if let Some(e) = cause.downcast_ref::<DirectoryError>() {
        return Some(directory(e));
    }
    if let Some(e) = cause.downcast_ref::<TargetError>() {
        return Some(target(e));
    }
    if let Some(e) = cause.downcast_ref::<StoreError>() {
        return Some(store(e));
    }
    None
}

/// The kind of a failed check or rotation step.
pub fn rotation(kind: &ErrorKind) -> Kind {
    use ErrorKind::*;
    match kind {
        Directory(e) => directory(e),
        Target(e) => target(e),
        Store(e) => store(e),
        Document(_) | SiblingDocument { .. } | NoCurrentVersion { .. } => Kind::Config,
        Busy { .. } | Concurrent(_) | Stale => Kind::Unavailable,
        _ => Kind::Attention,
    }
}

fn wiring(e: &WiringError) -> Kind {
    match e {
        WiringError::Config(_) => Kind::Config,
        // ROTATOR_CREDENTIALS_SECRET_ID names a secret that does not exist: a setting.
        WiringError::Store(StoreError::NotFound { .. }) => Kind::Config,
        WiringError::Store(e) => store(e),
        WiringError::Identity(e) => directory(e),
    }
}

fn setup(e: &SetupError) -> Kind {
    match e {
        SetupError::Document(_) => Kind::Config,
        SetupError::Store(e) => store(e),
        SetupError::Directory(e) => directory(e),
        SetupError::Wiring(e) => wiring(e),
        SetupError::Mismatch(_) => Kind::Input,
        #[cfg(feature = "sim")]
        SetupError::Fleet(_) => Kind::Unavailable,
    }
}

/// The kind of a failure to tell the deployment's targets: a setting, or the store's answer.
fn targets(e: &TargetsError) -> Kind {
    match e {
        TargetsError::Config(_) => Kind::Config,
        TargetsError::List { source, .. } => store(source),
    }
}

fn directory(e: &DirectoryError) -> Kind {
    match e {
        _ if e.is_transient() => Kind::Unavailable,
        DirectoryError::Unavailable { .. } | DirectoryError::InvalidResponse { .. } => {
            Kind::Unavailable
        }
        // No such tenant or app: the ids given are wrong.
        DirectoryError::Token {
            code: Some(700016 | 90002),
            ..
        } => Kind::Config,
        DirectoryError::Token { .. } => Kind::Denied,
        DirectoryError::Graph {
            status: 401 | 403, ..
        } => Kind::Denied,
        DirectoryError::Graph { status: 404, .. } => Kind::Input,
        DirectoryError::Graph { .. } => Kind::Attention,
        DirectoryError::Config(_) => Kind::Config,
    }
}

/// The kind of a failed Jamf Pro call.
pub fn target(e: &TargetError) -> Kind {
    match e {
        TargetError::Auth { .. } => Kind::Denied,
        TargetError::Unavailable { .. } | TargetError::InvalidResponse { .. } => Kind::Unavailable,
        TargetError::Api { status, .. } if *status == 429 || *status >= 500 => Kind::Unavailable,
        TargetError::Api {
            status: 401 | 403, ..
        } => Kind::Denied,
        TargetError::Api { .. } | TargetError::Rejected(_) => Kind::Attention,
        TargetError::Mismatch(_) | TargetError::Config(_) => Kind::Config,
    }
}

fn store(e: &StoreError) -> Kind {
    match e {
        StoreError::NotFound { .. } => Kind::Input,
        StoreError::Invalid(_) => Kind::Config,
        StoreError::Aws { code, .. } => {
            let denied = ["AccessDenied", "UnrecognizedClient", "InvalidSignature"];
            let refused = ["InvalidParameter", "InvalidRequest", "ResourceExists"];
            if denied.iter().any(|d| code.contains(d)) || code.contains("ExpiredToken") {
                Kind::Denied
            } else if code.contains("ResourceNotFound") || refused.iter().any(|r| code.contains(r))
            {
                Kind::Input
            } else {
                Kind::Unavailable
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(code: &str) -> StoreError {
        StoreError::Aws {
            operation: "DescribeSecret".into(),
            secret_id: "s".into(),
            code: code.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn a_configuration_error_behind_a_transparent_wrapper_is_configuration() {
        let missing = ConfigError::Missing {
            name: "ROTATOR_CLIENT_ID".into(),
            why: "federated".into(),
        };
        let wrapped = anyhow::Error::new(WiringError::Config(missing));
        assert_eq!(classify(&wrapped), Kind::Config);
        assert_eq!(classify(&wrapped).code(), 2);
        let in_setup = anyhow::Error::new(SetupError::Wiring(WiringError::Config(
            ConfigError::Invalid {
                name: "X".into(),
                problem: "p".into(),
            },
        )));
        assert_eq!(classify(&in_setup), Kind::Config);
    }

    #[test]
    fn throttling_and_unreachable_services_could_not_run() {
        let throttled = SetupError::Store(aws("ThrottlingException"));
        assert_eq!(classify(&anyhow::Error::new(throttled)).code(), 3);
        let unreachable = DirectoryError::Unavailable {
            operation: "token".into(),
            message: "connection refused".into(),
        };
        assert_eq!(
            classify(&anyhow::Error::new(unreachable)),
            Kind::Unavailable
        );
        assert_eq!(store(&aws("dispatch")), Kind::Unavailable);
        assert_eq!(store(&aws("AccessDeniedException")), Kind::Denied);
        let busy = ErrorKind::Busy {
            until: chrono::Utc::now(),
        };
        assert_eq!(rotation(&busy).code(), 3);
    }

    #[test]
    fn targets_that_cannot_be_told_are_configuration_or_the_stores_answer() {
        let none = TargetsError::Config("no secret carries the tag k=v".into());
        assert_eq!(classify(&anyhow::Error::new(none)).code(), 2);
        let list = |code| TargetsError::List {
            key: "k".into(),
            source: aws(code),
        };
        assert_eq!(
            classify(&anyhow::Error::new(list("ThrottlingException"))),
            Kind::Unavailable
        );
        assert_eq!(
            classify(&anyhow::Error::new(list("AccessDeniedException"))),
            Kind::Denied
        );
    }

    #[test]
    fn a_failed_rotation_needs_attention_and_a_mismatch_is_input() {
        let timeout = ErrorKind::PropagationTimeout {
            waited: std::time::Duration::from_secs(300),
            attempts: 9,
        };
        assert_eq!(rotation(&timeout), Kind::Attention);
        let mismatch = anyhow::Error::new(SetupError::Mismatch("--overwrite".into()));
        assert_eq!(classify(&mismatch), Kind::Input);
        let context = anyhow::Error::new(BadInput("pass --yes".into())).context("rotate");
        assert_eq!(classify(&context), Kind::Input, "found below a context");
    }

    #[test]
    fn a_json_error_is_one_object_with_kind_message_and_exit_code() {
        let e = anyhow::Error::new(BadInput("--lockdown needs --yes".into()));
        let v = error_object(&e);
        assert_eq!(v["error"]["kind"], "input");
        assert_eq!(v["error"]["exit_code"], 2);
        assert_eq!(v["error"]["message"], "--lockdown needs --yes");
        assert_eq!(v.as_object().unwrap().len(), 1);
    }

    #[test]
    fn a_target_no_service_answered_for_outranks_attention() {
        let code = |a, f: &[Kind]| of_targets(a, f.iter().copied());
        assert_eq!(code(false, &[]), ExitCode::from(0));
        assert_eq!(code(true, &[Kind::Config, Kind::Denied]), ExitCode::from(1));
        assert_eq!(
            code(true, &[Kind::Attention, Kind::Unavailable]),
            ExitCode::from(3)
        );
    }
}
