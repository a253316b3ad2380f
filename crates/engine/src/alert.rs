//! Alerts: what they say, and how they are delivered.
//!
//! - [`sns_subject`], [`structured_message`]: an alert as SNS carries it (the adapters'
//!   `SnsAlerts` publishes it): plain text for e-mail and queues, an AWS Chatbot custom
//!   notification for Slack and Microsoft Teams, every text of it made inert ([`chat_text`]).
//! - [`LogAlerts`]: logs the alert when no topic is configured.
//! - [`refusal`]: the alert of an event the function refused to act on (a secret that is not
//!   its own).
//! - [`jamf_proof_failed`]: the alert of the check's daily proof ("Jamf Pro cannot use its
//!   secret"), saying what the proof put back.
//! - [`deliver`]: sends an alert and never fails: an alert that cannot be sent is logged, and the
//!   error that caused it stays the error the caller reports.
//!
//! Metric lines (CloudWatch Embedded Metric Format) are in [`crate::metrics`].

use crate::document::TargetDocument;
use crate::ports::{Alert, AlertError, AlertKind, Alerts};
use crate::rotation::report::RotationReport;
use crate::rotation::rollback::Settled;
use crate::rotation::{RotateRequest, RotationError};
use async_trait::async_trait;

/// SNS subjects: at most 100 characters.
const SUBJECT_MAX: usize = 100;
/// SNS messages may be 256 KiB, and each alert goes out in three forms (plain text twice, and
/// the chat form); alerts are short, so a cut far below that is only a safety net.
const MESSAGE_MAX: usize = 48 * 1024;

/// Makes a subject SNS accepts: ASCII, printable, no line breaks, 1 to 100 characters.
pub fn sns_subject(subject: &str) -> String {
    let cleaned: String = subject
        .chars()
        .map(|c| match c {
            ' '..='~' => c,
            '\r' | '\n' | '\t' => ' ',
            _ => '?',
        })
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.is_empty() {
        return "jamf-entra-rotator alert".to_string();
    }
    if cleaned.len() <= SUBJECT_MAX {
        cleaned
    } else {
        format!("{}...", &cleaned[..SUBJECT_MAX - 3])
    }
}

/// The message body: the alert's text, then the facts a subscriber filters on.
pub fn sns_message(alert: &Alert) -> String {
    let kind = kind_name(alert);
    let text = crate::redact::truncate(&alert.message, MESSAGE_MAX);
    format!("{text}\n\nTarget: {}\nKind: {kind}\n", alert.target)
}

/// The kind as alerts write it (`rotation-failed`).
fn kind_name(alert: &Alert) -> String {
    serde_json::to_value(alert.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `text` made inert for a chat renderer. Chatbot's custom notifications render only
/// "client-markdown" (Slack's mrkdwn, Teams' markdown), and an alert carries text from outside
/// (an invoker's `reason`, Jamf Pro's error text, secret names): a link that hides its address, a
/// mention that pages a channel, or formatting that changes what the alert says must show as the
/// characters they are. So `&`, `<` and `>` become entities (Slack's `<!here>`, `<@U…>` and
/// `<url|text>`), markdown's punctuation gets a backslash, and `@` a zero-width space after it,
/// which breaks a mention word without changing what a reader sees.
pub fn chat_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' => out.push_str("@\u{200B}"),
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '(' | ')' | '#' | '!' | '|' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The alert as an AWS Chatbot (Amazon Q Developer in chat applications) custom notification,
/// the only form Chatbot shows in Slack or Microsoft Teams: the subject as the title, what
/// happened and what was left as the description, the "What to do" as the next step. Every text
/// goes through [`chat_text`]: Chatbot renders them as markdown.
fn chat_message(alert: &Alert) -> String {
    let text = crate::redact::truncate(&alert.message, MESSAGE_MAX);
    let (what, todo) = match text.split_once("What to do:") {
        Some((what, todo)) => (chat_text(what.trim_end()), vec![chat_text(todo.trim())]),
        None => (chat_text(&text), Vec::new()),
    };
    let kind = kind_name(alert);
    let title = chat_text(&sns_subject(&alert.subject));
    serde_json::json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": what,
            "nextSteps": todo,
            "keywords": [kind, "jamf-entra-rotator"],
        },
        "metadata": {
            "summary": title,
            "eventType": kind,
            "relatedResources": [chat_text(&alert.target)],
        },
    })
    .to_string()
}

/// The SNS message in its per-protocol form (`MessageStructure: json`): the plain text for
/// e-mail, SQS and every other protocol, the chat notification for HTTPS (AWS Chatbot's
/// subscription).
pub fn structured_message(alert: &Alert) -> String {
    let text = sns_message(alert);
    serde_json::json!({"default": text, "email": text, "https": chat_message(alert)}).to_string()
}

/// The alert of an event naming `secret_id` that the function refused to act on, for `why` (a
/// secret that is not one of its targets, a document of a kind that secret may not hold).
/// Nothing was read beyond the secret's description and documents, nothing asked of Entra,
/// nothing written; whoever sent the event may be probing for a confused deputy.
pub fn refusal(secret_id: &str, why: &str) -> Alert {
    Alert {
        kind: AlertKind::Refused,
        target: secret_id.to_string(),
        subject: sns_subject(&format!("Refused: {secret_id}")),
        message: format!(
            "Target: {secret_id}\nThe function was asked to act for this secret and refused: {why}.\n\
             State left: nothing was changed (no credential made in Entra, nothing written to the secret or to Jamf Pro).\n\
             What to do: if this secret should be rotated, add it to the deployment's targets (TARGET_SECRET_IDS, or the target tag) \
             with a document of its own kind; otherwise find who invoked the function or called RotateSecret for it (CloudTrail) and why."
        ),
    }
}

/// The alert of a rotation the in-process driver completed (sent with `ALERT_ON_SUCCESS`).
pub fn rotated(r: &RotationReport) -> Alert {
    Alert {
        kind: AlertKind::Rotated,
        target: r.secret_id.clone(),
        subject: sns_subject(&format!("Rotated: {}", r.target)),
        message: format!(
            "Target: {} ({})\nReason: {}\nNew key id: {}\nOld key id: {} (removed: {})\nElapsed: {} ms",
            r.secret_id,
            r.target,
            r.reason,
            r.new_key_id.as_deref().unwrap_or("-"),
            r.old_key_id.as_deref().unwrap_or("-"),
            r.old_removed,
            r.elapsed_ms
        ),
    }
}

/// The alert of a rotation the in-process driver could not complete (`e`), with the state
/// `settled` left.
pub fn rotation_failed(r: &RotationReport, e: &RotationError, settled: &Settled) -> Alert {
    Alert {
        kind: settled.alert,
        target: r.secret_id.clone(),
        subject: sns_subject(&format!("Rotation failed: {}", r.target)),
        message: format!(
            "Target: {} ({})\nReason: {}\nFailed step: {}\nError class: {}\nError: {e}\nState left: {}\nWhat to do: {}",
            r.secret_id,
            r.target,
            r.reason,
            e.step,
            e.class(),
            settled.state,
            e.advice()
        ),
    }
}

/// The alert of a rotation Secrets Manager drove to its end (sent with `ALERT_ON_SUCCESS`):
/// `doc` is the document now `AWSCURRENT`.
pub fn step_rotated(
    secret_id: &str,
    token: &str,
    request: &RotateRequest,
    doc: &TargetDocument,
) -> Alert {
    let replaced = doc
        .rotation
        .as_ref()
        .and_then(|r| r.replaces_key_id.clone());
    Alert {
        kind: AlertKind::Rotated,
        target: secret_id.to_string(),
        subject: sns_subject(&format!("Rotated: {}", doc.label())),
        message: format!(
            "Target: {secret_id} ({})\nDriver: Secrets Manager rotation, version {token}\nReason: {}\nNew key id: {}\nOld key id: {}",
            doc.label(),
            request.reason,
            doc.entra.key_id.as_deref().unwrap_or("-"),
            replaced.as_deref().unwrap_or("-"),
        ),
    }
}

/// The alert of a step of a rotation Secrets Manager drives that failed (`e`), with the state
/// `settled` left.
pub fn step_failed(secret_id: &str, token: &str, e: &RotationError, settled: Settled) -> Alert {
    Alert {
        kind: settled.alert,
        target: secret_id.to_string(),
        subject: sns_subject(&format!("Rotation failed: {secret_id}")),
        message: format!(
            "Target: {secret_id}\nDriver: Secrets Manager rotation, version {token}\nFailed step: {}\nError class: {}\nError: {e}\nState left: {}\nWhat to do: {}",
            e.step,
            e.class(),
            settled.state,
            e.advice()
        ),
    }
}

/// Daily checks in a row that find a rotation due and defer it before the deferral alerts.
pub const DEFERRALS_BEFORE_ALERT: i64 = 3;

/// The alert of a rotation that `checks` checks running found due and none could start (the
/// latest deferred it for `why`), while the secret expires on `expires_on`. Nothing was changed.
pub fn deferred(
    secret_id: &str,
    target: &str,
    checks: i64,
    expires_on: chrono::NaiveDate,
    why: &str,
) -> Alert {
    Alert {
        kind: AlertKind::ExpiryClose,
        target: secret_id.to_string(),
        subject: sns_subject(&format!("Rotation deferred {checks} times: {target}")),
        message: format!(
            "Target: {secret_id} ({target})\nRotation deferred {checks} times: the rotation has been due for {checks} daily checks and none could start it; the latest deferred it ({why}).\n\
             The client secret Jamf Pro uses expires on {expires_on}.\n\
             State left: nothing was changed; Jamf Pro keeps its secret.\n\
             What to do: raise ROTATION_MODE to auto or fan-out (the check then hands the rotation to Secrets Manager, one step per invocation), \
             or lower PROPAGATION_TIMEOUT_SECS or the target's observation_secs, or rotate it now with `jamf-entra-rotator rotate`."
        ),
    }
}

/// What the daily proof did about a failed test, for its alert ([`jamf_proof_failed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofRepair {
    /// `AWSCURRENT`'s secret was put back into Jamf Pro and Jamf Pro's test passes with it.
    Repaired,
    /// `AWSCURRENT`'s secret was put back, and the test still fails (why).
    StillFailing(String),
    /// Nothing was written (why: the failure is not the secret's, Entra refuses `AWSCURRENT`'s
    /// secret too, another attempt holds the target, the write failed).
    NotWritten(String),
}

/// The alert of a daily proof that found Jamf Pro unable to use its secret: Jamf Pro's own test
/// failed with `error` (never a secret: the caller scrubs it), and what the proof then did.
/// `advice` is the target kind's "where to look in Jamf Pro".
pub fn jamf_proof_failed(
    secret_id: &str,
    target: &str,
    error: &str,
    repair: &ProofRepair,
    advice: &str,
) -> Alert {
    let (what, state) = match repair {
        ProofRepair::Repaired => (
            "The rotator put AWSCURRENT's secret back into Jamf Pro, and Jamf Pro's test passes with it now: Jamf Pro held a secret the rotator does not manage (pasted by hand, or a write that landed late).".to_string(),
            "Jamf Pro holds AWSCURRENT's secret and works; no credential on the app was changed.",
        ),
        ProofRepair::StillFailing(why) => (
            format!("The rotator put AWSCURRENT's secret back into Jamf Pro (Entra accepts it), and Jamf Pro's test still fails: {why}."),
            "Jamf Pro holds AWSCURRENT's secret, which Entra accepts; the failure is elsewhere. No credential on the app was changed.",
        ),
        ProofRepair::NotWritten(why) => (
            format!("Nothing was written to Jamf Pro: {why}."),
            "Jamf Pro keeps what it holds; no credential on the app was changed.",
        ),
    };
    Alert {
        kind: AlertKind::JamfProofFailed,
        target: secret_id.to_string(),
        subject: sns_subject(&format!("Jamf Pro cannot use its secret: {target}")),
        message: format!(
            "Target: {secret_id} ({target})\nThe daily proof ran Jamf Pro's own test with the secret Jamf Pro holds, and it failed: {error}\n{what}\n\
             State left: {state}\n\
             What to do: {advice} If someone changes the secret by hand, let the rotator do it instead (`jamf-entra-rotator rotate`); the next check proves Jamf Pro again."
        ),
    }
}

/// Alerts as log lines only, for a deployment without a topic.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAlerts;

#[async_trait]
impl Alerts for LogAlerts {
    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        tracing::warn!(
            kind = ?alert.kind,
            target = %alert.target,
            subject = %alert.subject,
            message = %alert.message,
            "alert (no ALERT_TOPIC_ARN set: logged only)"
        );
        Ok(())
    }
}

/// Sends `alert` and never fails: when sending fails, the failure and the alert's subject are
/// logged at error level and the caller carries on, so an alert that cannot be sent never hides
/// the error it was about. Returns whether the alert went out (for reports; never required).
pub async fn deliver(alerts: &dyn Alerts, alert: &Alert) -> bool {
    match alerts.send(alert).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(
                error = %e,
                subject = %alert.subject,
                target = %alert.target,
                kind = ?alert.kind,
                "could not send alert"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::AlertKind;

    fn alert(subject: &str) -> Alert {
        Alert {
            kind: AlertKind::RotationFailed,
            target: "t".into(),
            subject: subject.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn subject_is_ascii_one_line_and_at_most_100_chars() {
        assert_eq!(
            sns_subject("Rotation failed:\n  jamf – prod\r\n"),
            "Rotation failed: jamf ? prod"
        );
        let long = sns_subject(&"x".repeat(300));
        assert_eq!(long.len(), 100);
        assert!(long.ends_with("..."));
        assert_eq!(sns_subject(" \n "), "jamf-entra-rotator alert");
    }

    #[test]
    fn message_names_target_and_kind() {
        let m = sns_message(&alert("s"));
        assert!(
            m.starts_with("m\n") && m.contains("Target: t") && m.contains("Kind: rotation-failed"),
            "{m}"
        );
    }

    #[test]
    fn a_refusal_names_the_secret_why_and_that_nothing_changed() {
        let arn = format!(
            "arn:aws:secretsmanager:us-east-1:1:secret:{}",
            "x".repeat(120)
        );
        let a = refusal(&arn, "it is not one of this deployment's targets");
        assert_eq!(
            (a.kind, a.target.as_str()),
            (AlertKind::Refused, arn.as_str())
        );
        assert!(a.subject.starts_with("Refused: arn:aws:") && a.subject.len() <= 100);
        assert!(
            a.message.starts_with(&format!("Target: {arn}\n"))
                && a.message
                    .contains("refused: it is not one of this deployment's targets.")
                && a.message.contains("nothing was changed")
                && a.message.contains("What to do:"),
            "{}",
            a.message
        );
        assert!(sns_message(&a).contains("Kind: refused"));
    }

    #[test]
    fn a_proof_alert_says_what_was_found_what_was_done_and_what_to_do() {
        let a = jamf_proof_failed(
            "jamf/prod",
            "example.jamfcloud.com smtp-graph",
            "the test mail failed",
            &ProofRepair::Repaired,
            "In Jamf Pro, check Settings > System > SMTP Server.",
        );
        assert_eq!(a.kind, AlertKind::JamfProofFailed);
        assert_eq!(
            a.subject,
            "Jamf Pro cannot use its secret: example.jamfcloud.com smtp-graph"
        );
        for part in [
            "Target: jamf/prod (example.jamfcloud.com smtp-graph)",
            "it failed: the test mail failed",
            "put AWSCURRENT's secret back",
            "State left: Jamf Pro holds AWSCURRENT's secret and works",
            "What to do: In Jamf Pro, check Settings > System > SMTP Server.",
        ] {
            assert!(a.message.contains(part), "{part:?} in {}", a.message);
        }
        assert!(sns_message(&a).contains("Kind: jamf-proof-failed"));
        let kept = jamf_proof_failed(
            "t",
            "x",
            "e",
            &ProofRepair::NotWritten("the failure is not the secret's".into()),
            "",
        );
        assert!(kept
            .message
            .contains("Nothing was written to Jamf Pro: the failure is not the secret's."));
        assert!(!kept.message.contains("put AWSCURRENT's secret back"));
    }

    #[test]
    fn chat_subscribers_get_a_custom_notification_and_everyone_else_the_text() {
        let a = Alert {
            kind: AlertKind::RolledBack,
            target: "arn:aws:secretsmanager:us-east-1:1:secret:jamf".into(),
            subject: "Rotation failed: jamf".into(),
            message: "Jamf Pro rejected the new secret.\nWhat to do: check the integration.".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&structured_message(&a)).unwrap();
        assert_eq!(v["default"], v["email"]);
        assert!(v["default"].as_str().unwrap().contains("Target: arn:aws"));
        let chat: serde_json::Value = serde_json::from_str(v["https"].as_str().unwrap()).unwrap();
        assert_eq!(
            (chat["version"].as_str(), chat["source"].as_str()),
            (Some("1.0"), Some("custom"))
        );
        assert_eq!(chat["content"]["title"], "Rotation failed: jamf");
        assert_eq!(
            chat["content"]["description"],
            "Jamf Pro rejected the new secret."
        );
        assert_eq!(chat["content"]["nextSteps"][0], "check the integration.");
        assert_eq!(chat["metadata"]["relatedResources"][0], a.target.as_str());
        assert_eq!(chat["content"]["textType"], "client-markdown");
        assert_eq!(chat["metadata"]["eventType"], "rolled-back");
    }

    /// An invoker's `reason` (or Jamf Pro's error text) written to page a channel and hide a
    /// link: the chat form carries it as inert characters, the e-mail form as it was.
    #[test]
    fn hostile_markdown_and_mentions_reach_chat_inert() {
        let hostile =
            "<@here> <!channel> [click](https://evil) **urgent** `code` @all #general ~x~ a|b";
        let a = Alert {
            kind: AlertKind::RotationFailed,
            target: "arn:aws:secretsmanager:us-east-1:1:secret:jamf_[x]".into(),
            subject: format!("Rotation failed: {hostile}"),
            message: format!("Reason: {hostile}\nWhat to do: ask {hostile}"),
        };
        let v: serde_json::Value = serde_json::from_str(&structured_message(&a)).unwrap();
        let chat: serde_json::Value = serde_json::from_str(v["https"].as_str().unwrap()).unwrap();
        let inert = "&lt;@\u{200B}here&gt; &lt;\\!channel&gt; \\[click\\]\\(https://evil\\) \\*\\*urgent\\*\\* \\`code\\` @\u{200B}all \\#general \\~x\\~ a\\|b";
        assert_eq!(chat["content"]["description"], format!("Reason: {inert}"));
        assert_eq!(chat["content"]["nextSteps"][0], format!("ask {inert}"));
        assert_eq!(
            chat["content"]["title"],
            format!("Rotation failed: {inert}")
        );
        assert_eq!(chat["metadata"]["summary"], chat["content"]["title"]);
        assert_eq!(
            chat["metadata"]["relatedResources"][0],
            "arn:aws:secretsmanager:us-east-1:1:secret:jamf\\_\\[x\\]"
        );
        // Nothing of it is left to render: no raw link, mention, tag or emphasis in any chat text.
        for field in [
            &chat["content"]["title"],
            &chat["content"]["description"],
            &chat["content"]["nextSteps"][0],
        ] {
            let text = field.as_str().unwrap();
            for live in [
                "<@",
                "<!",
                "](",
                "[click]",
                "**",
                "@here",
                "@all",
                " #general",
                "`code`",
            ] {
                assert!(!text.contains(live), "{live:?} is live in {text:?}");
            }
        }
        // E-mail is plain text: the reader sees exactly what was written.
        assert!(v["email"].as_str().unwrap().contains(hostile));
    }
}
