//! The events the function accepts, parsed strictly: an event that is not exactly one of them is
//! refused with an error naming what is wrong, and nothing runs. Parsing is by hand rather than
//! by serde so that no error message ever echoes a value the caller sent (a `RotationToken` of
//! the wrong type would otherwise appear in serde's "invalid type" message).

use super::LambdaError;
use rotator_engine::document::RevokeOld;
use rotator_engine::rotation::Step;
use secrecy::SecretString;
use serde_json::{Map, Value};

/// One invocation, as the function understands it.
#[derive(Debug)]
pub enum Event {
    /// The scheduled check of every target (`{"action":"check"}` from EventBridge Scheduler, or
    /// a classic EventBridge `Scheduled Event`).
    Check,
    /// A read-only report of every target (`{"action":"status"}`): a dry-run check.
    Status,
    /// A rotation by hand (`{"action":"rotate", ...}`).
    Rotate(RotateEvent),
    /// One step of a rotation that Secrets Manager drives.
    Step(StepEvent),
}

/// `{"action":"rotate","reason":"...","revoke_old":"after-verification|immediately","lockdown":false,"secret_id":"optional"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateEvent {
    /// Why (recorded in the document and the alerts).
    pub reason: String,
    /// How the old secret is retired (`immediately` for an emergency).
    pub revoke_old: RevokeOld,
    /// Emergency lockdown: remove every other credential of the app once the new one works.
    pub lockdown: bool,
    /// Which target; optional when the deployment has only one.
    pub secret_id: Option<String>,
}

/// A Secrets Manager rotation step: `{"Step","SecretId","ClientRequestToken","RotationToken"?}`.
/// Unlike `aws_lambda_events`' type, it keeps `RotationToken`, which `PutSecretValue` needs.
pub struct StepEvent {
    /// Which step.
    pub step: Step,
    /// The secret (Secrets Manager sends its ARN).
    pub secret_id: String,
    /// The version being created.
    pub token: String,
    /// Passed through to `PutSecretValue`; never logged.
    pub rotation_token: Option<SecretString>,
}

impl std::fmt::Debug for StepEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepEvent")
            .field("step", &self.step)
            .field("secret_id", &self.secret_id)
            .field("token", &self.token)
            .field(
                "rotation_token",
                &self.rotation_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

const EXPECTED: &str = "expected {\"action\":\"check|status|rotate\"}, a Secrets Manager step event {\"Step\",\"SecretId\",\"ClientRequestToken\"}, or an EventBridge \"Scheduled Event\"";

fn bad(problem: impl Into<String>) -> LambdaError {
    LambdaError::BadEvent(problem.into())
}

/// A caller's word shown in an error: short and printable, since it is echoed back.
fn shown(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).take(40).collect();
    if s.chars().count() > 40 {
        format!("{clean}…")
    } else {
        clean
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_field(
    obj: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<String>, LambdaError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(bad(format!("{what}: \"{key}\" is empty")))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(format!(
            "{what}: \"{key}\" must be a string, not {}",
            kind_of(other)
        ))),
    }
}

/// Longest `reason` a rotate event may give: it is recorded in the target's document (whose
/// size is capped) and shown in every alert of the rotation.
pub const REASON_MAX_CHARS: usize = 200;

/// Longest `SecretId` (Secrets Manager's own limit, for a name or an ARN).
const SECRET_ID_MAX_CHARS: usize = 2048;

/// Longest `ClientRequestToken` (Secrets Manager's own limit).
const TOKEN_MAX_CHARS: usize = 64;

/// A caller's text (`key` of `what`) that goes into documents, logs and alerts: at most `max`
/// characters, every one printable (no control characters, no bidirectional overrides that
/// would make an alert read otherwise than it says). The value itself is never echoed.
fn printable(value: String, key: &str, max: usize, what: &str) -> Result<String, LambdaError> {
    let count = value.chars().count();
    if count > max {
        return Err(bad(format!(
            "{what}: \"{key}\" has {count} characters; at most {max} are accepted"
        )));
    }
    let unprintable =
        |c: &char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if let Some(c) = value.chars().find(unprintable) {
        return Err(bad(format!(
            "{what}: \"{key}\" holds a control or formatting character (U+{:04X}); only printable text is accepted",
            c as u32
        )));
    }
    Ok(value)
}

/// At most this many unknown fields are named in an error (then "and N more").
const UNKNOWN_SHOWN: usize = 10;

fn only_keys(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), LambdaError> {
    let unknown: Vec<&String> = obj
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut named: Vec<String> = unknown
        .iter()
        .take(UNKNOWN_SHOWN)
        .map(|k| format!("\"{}\"", shown(k)))
        .collect();
    if unknown.len() > UNKNOWN_SHOWN {
        named.push(format!("and {} more", unknown.len() - UNKNOWN_SHOWN));
    }
    Err(bad(format!(
        "{what}: unknown field {} (allowed: {})",
        named.join(", "),
        allowed.join(", ")
    )))
}

impl Event {
    /// Parses an invocation's payload.
    pub fn parse(event: &Value) -> Result<Event, LambdaError> {
        let Value::Object(obj) = event else {
            return Err(bad(format!(
                "the event is {}, not a JSON object; {EXPECTED}",
                kind_of(event)
            )));
        };
        if obj.contains_key("Step") {
            return step_event(obj).map(Event::Step);
        }
        if let Some(action) = obj.get("action") {
            let Value::String(action) = action else {
                return Err(bad(format!(
                    "\"action\" must be a string, not {}",
                    kind_of(action)
                )));
            };
            return match action.as_str() {
                "check" => only_keys(obj, &["action"], "a check event").map(|_| Event::Check),
                "status" => only_keys(obj, &["action"], "a status event").map(|_| Event::Status),
                "rotate" => rotate_event(obj).map(Event::Rotate),
                other => Err(bad(format!(
                    "unknown action \"{}\" (expected check, status or rotate)",
                    shown(other)
                ))),
            };
        }
        if let Some(detail_type) = obj.get("detail-type") {
            return match detail_type.as_str() {
                Some("Scheduled Event") => Ok(Event::Check),
                Some(other) => Err(bad(format!("EventBridge events of detail-type \"{}\" are not handled; only \"Scheduled Event\"", shown(other)))),
                None => Err(bad("\"detail-type\" must be a string")),
            };
        }
        let mut keys: Vec<String> = obj
            .keys()
            .take(10)
            .map(|k| format!("\"{}\"", shown(k)))
            .collect();
        if keys.is_empty() {
            keys.push("none".into());
        }
        Err(bad(format!(
            "unrecognised event (fields: {}); {EXPECTED}",
            keys.join(", ")
        )))
    }
}

fn rotate_event(obj: &Map<String, Value>) -> Result<RotateEvent, LambdaError> {
    let what = "a rotate event";
    only_keys(
        obj,
        &["action", "reason", "revoke_old", "lockdown", "secret_id"],
        what,
    )?;
    let revoke_old = match string_field(obj, "revoke_old", what)?.as_deref() {
        None | Some("after-verification") => RevokeOld::AfterVerification,
        Some("immediately") => RevokeOld::Immediately,
        Some(other) => {
            return Err(bad(format!(
                "{what}: \"revoke_old\" is \"{}\"; expected after-verification or immediately",
                shown(other)
            )))
        }
    };
    let lockdown = match obj.get("lockdown") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(bad(format!(
                "{what}: \"lockdown\" must be true or false, not {}",
                kind_of(other)
            )))
        }
    };
    let reason = match string_field(obj, "reason", what)? {
        Some(reason) => printable(reason, "reason", REASON_MAX_CHARS, what)?,
        None => "no reason given".into(),
    };
    let secret_id = string_field(obj, "secret_id", what)?
        .map(|id| printable(id, "secret_id", SECRET_ID_MAX_CHARS, what))
        .transpose()?;
    Ok(RotateEvent {
        reason,
        revoke_old,
        lockdown,
        secret_id,
    })
}

fn step_event(obj: &Map<String, Value>) -> Result<StepEvent, LambdaError> {
    let what = "a Secrets Manager step event";
    only_keys(
        obj,
        &["Step", "SecretId", "ClientRequestToken", "RotationToken"],
        what,
    )?;
    let name = string_field(obj, "Step", what)?
        .ok_or_else(|| bad(format!("{what}: \"Step\" is missing")))?;
    let step = Step::parse(&name).ok_or_else(|| {
        bad(format!("{what}: unknown Step \"{}\" (expected createSecret, setSecret, testSecret or finishSecret)", shown(&name)))
    })?;
    let secret_id = string_field(obj, "SecretId", what)?
        .ok_or_else(|| bad(format!("{what}: \"SecretId\" is missing")))?;
    let secret_id = printable(secret_id, "SecretId", SECRET_ID_MAX_CHARS, what)?;
    let token = string_field(obj, "ClientRequestToken", what)?
        .ok_or_else(|| bad(format!("{what}: \"ClientRequestToken\" is missing")))?;
    let token = printable(token, "ClientRequestToken", TOKEN_MAX_CHARS, what)?;
    let rotation_token = match obj.get("RotationToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(SecretString::from(s.clone())),
        Some(other) => {
            return Err(bad(format!(
                "{what}: \"RotationToken\" must be a string, not {}",
                kind_of(other)
            )))
        }
    };
    Ok(StepEvent {
        step,
        secret_id,
        token,
        rotation_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        Event::parse(&v).unwrap_err().to_string()
    }

    #[test]
    fn scheduler_and_classic_scheduled_events_are_checks() {
        assert!(matches!(
            Event::parse(&json!({"action": "check"})).unwrap(),
            Event::Check
        ));
        let classic = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert!(matches!(Event::parse(&classic).unwrap(), Event::Check));
        assert!(matches!(
            Event::parse(&json!({"action": "status"})).unwrap(),
            Event::Status
        ));
    }

    #[test]
    fn rotate_fields_are_read_with_defaults() {
        let Event::Rotate(r) = Event::parse(&json!({"action": "rotate"})).unwrap() else {
            panic!()
        };
        assert_eq!(
            r,
            RotateEvent {
                reason: "no reason given".into(),
                revoke_old: RevokeOld::AfterVerification,
                lockdown: false,
                secret_id: None
            }
        );
        let e = json!({"action": "rotate", "reason": "leaked", "revoke_old": "immediately", "lockdown": true, "secret_id": "s"});
        let Event::Rotate(r) = Event::parse(&e).unwrap() else {
            panic!()
        };
        assert_eq!(
            (
                r.reason.as_str(),
                r.revoke_old,
                r.lockdown,
                r.secret_id.as_deref()
            ),
            ("leaked", RevokeOld::Immediately, true, Some("s"))
        );
    }

    #[test]
    fn step_events_accept_both_spellings_and_keep_the_rotation_token() {
        let e = json!({"Step": "set_secret", "SecretId": "arn:s", "ClientRequestToken": "t1", "RotationToken": "rt-very-secret"});
        let Event::Step(s) = Event::parse(&e).unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.step, s.secret_id.as_str(), s.token.as_str()),
            (Step::SetSecret, "arn:s", "t1")
        );
        assert!(s.rotation_token.is_some());
        assert!(!format!("{s:?}").contains("rt-very-secret"));
        let e = json!({"Step": "finishSecret", "SecretId": "arn:s", "ClientRequestToken": "t1"});
        let Event::Step(s) = Event::parse(&e).unwrap() else {
            panic!()
        };
        assert_eq!(s.step, Step::FinishSecret);
        assert!(s.rotation_token.is_none());
    }

    #[test]
    fn bad_events_get_an_error_naming_the_problem() {
        assert!(err(json!([1])).contains("an array, not a JSON object"));
        assert!(err(json!({})).contains("unrecognised event (fields: none)"));
        assert!(err(json!({"hello": 1})).contains("\"hello\""));
        assert!(err(json!({"action": "explode"})).contains("unknown action \"explode\""));
        assert!(err(json!({"action": 5})).contains("\"action\" must be a string"));
        assert!(err(json!({"action": "check", "force": true})).contains("unknown field \"force\""));
        let many: serde_json::Map<String, Value> = (0..5000)
            .map(|i| (format!("f{i:04}"), json!(1)))
            .chain([("action".to_string(), json!("check"))])
            .collect();
        let e = err(Value::Object(many));
        assert!(
            e.contains("and 4990 more") && e.len() < 400,
            "{} characters: {}",
            e.len(),
            &e[..200.min(e.len())]
        );
        assert!(err(json!({"action": "rotate", "revoke_old": "never"}))
            .contains("\"revoke_old\" is \"never\""));
        assert!(err(json!({"action": "rotate", "lockdown": "yes"}))
            .contains("\"lockdown\" must be true or false"));
        assert!(
            err(json!({"action": "rotate", "secret_id": ""})).contains("\"secret_id\" is empty")
        );
        assert!(err(json!({"detail-type": "Object Created"}))
            .contains("\"Object Created\" are not handled"));
        assert!(
            err(json!({"Step": "deleteSecret", "SecretId": "s", "ClientRequestToken": "t"}))
                .contains("unknown Step \"deleteSecret\"")
        );
        assert!(err(json!({"Step": "createSecret", "SecretId": "s"}))
            .contains("\"ClientRequestToken\" is missing"));
    }

    #[test]
    fn a_reason_is_at_most_200_printable_characters() {
        let rotate = |reason: &str| json!({"action": "rotate", "reason": reason});
        let longest = "é".repeat(REASON_MAX_CHARS);
        let Event::Rotate(r) = Event::parse(&rotate(&longest)).unwrap() else {
            panic!()
        };
        assert_eq!(r.reason, longest, "200 characters, not bytes, are accepted");
        let e = err(rotate(&"x".repeat(REASON_MAX_CHARS + 1)));
        assert_eq!(
            e,
            "unsupported event: a rotate event: \"reason\" has 201 characters; at most 200 are accepted"
        );
        for (reason, code) in [
            ("leaked\nSubject: all clear", "U+000A"),
            ("leaked\u{1b}[2J", "U+001B"),
            ("leaked \u{202E}deifirev", "U+202E"),
        ] {
            let e = err(rotate(reason));
            assert!(
                e.contains("\"reason\" holds a control or formatting character")
                    && e.contains(code)
                    && !e.contains("leaked"),
                "{e}"
            );
        }
    }

    #[test]
    fn secret_ids_and_tokens_are_bounded_and_printable() {
        let step = |id: &str, token: &str| json!({"Step": "createSecret", "SecretId": id, "ClientRequestToken": token});
        assert!(err(step(&"a".repeat(2049), "t")).contains("\"SecretId\" has 2049 characters"));
        assert!(
            err(step("s", &"t".repeat(65))).contains("\"ClientRequestToken\" has 65 characters")
        );
        assert!(err(step("s\rx", "t")).contains("\"SecretId\" holds a control"));
        assert!(err(json!({"action": "rotate", "secret_id": "a\u{0}b"}))
            .contains("\"secret_id\" holds a control"));
    }

    #[test]
    fn errors_never_echo_a_rotation_token_or_long_values() {
        let e = err(
            json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": "t", "RotationToken": 12345678}),
        );
        assert!(
            e.contains("\"RotationToken\" must be a string, not a number")
                && !e.contains("12345678"),
            "{e}"
        );
        let e = err(json!({"action": "x".repeat(500)}));
        assert!(e.len() < 200, "{e}");
    }
}
