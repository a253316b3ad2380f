//! Alerts (SNS, in-memory) and CloudWatch EMF metric lines.
//!
//! - `SnsAlerts` (in the adapters): publishes to an SNS topic (e-mail, chat, paging subscribe to
//!   it) with [`sns_subject`] and [`sns_message`].
//! - [`LogAlerts`]: logs the alert when no topic is configured.
//! - [`deliver`]: sends an alert and never fails: an alert that cannot be sent is logged, and the
//!   error that caused it stays the error the caller reports.
//!
//! Metric lines (CloudWatch Embedded Metric Format) are in [`crate::metrics`].

use crate::ports::{Alert, AlertError, Alerts};
use async_trait::async_trait;

/// SNS subjects: at most 100 characters.
const SUBJECT_MAX: usize = 100;
/// SNS messages may be 256 KiB; alerts are short, so a cut far below that is only a safety net.
const MESSAGE_MAX: usize = 64 * 1024;

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
    let kind = serde_json::to_value(alert.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let text = crate::redact::truncate(&alert.message, MESSAGE_MAX);
    format!("{text}\n\nTarget: {}\nKind: {kind}\n", alert.target)
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
}
