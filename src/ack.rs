//! `ack-drift`: records a target's drift as acknowledged, so that the daily check stops
//! alerting on that same drift (a new finding alerts again). The record is a tag on the
//! target's secret holding the drift's digest ([`DRIFT_ACK_TAG`]): no new secret version,
//! which would abandon a running Secrets Manager rotation.

use crate::exit::BadInput;
use anyhow::Result;
use rotator_engine::ports::SecretStore;
use rotator_engine::rotation::check::CheckReport;
use rotator_engine::rotation::drift::DRIFT_ACK_TAG;
use serde::Serialize;

/// What `ack-drift` recorded.
#[derive(Debug, Serialize)]
pub struct Acknowledged {
    /// The target's secret.
    pub secret_id: String,
    /// The drift's digest now on the secret; `None` when there was no drift to acknowledge.
    pub drift: Option<String>,
    /// The findings acknowledged (`kind: detail`), when a check found them here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

/// The digest `--drift` names, checked: the drift alert's (a UUID).
pub fn parse_digest(digest: &str) -> Result<String, BadInput> {
    let d = digest.trim().to_ascii_lowercase();
    let is_uuid = d.len() == 36
        && d.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    is_uuid.then_some(d).ok_or_else(|| BadInput(format!("--drift {digest:?} is not a drift digest: copy it from the drift alert, or leave it out to acknowledge the drift a check finds now")))
}

/// The digest and findings of `report`'s alerted drift.
pub fn of_report(report: &CheckReport) -> (Option<String>, Vec<String>) {
    let findings = report
        .alerted_drift(&[])
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                serde_json::to_value(d.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                d.detail
            )
        })
        .collect();
    (report.drift_digest(&[]), findings)
}

/// Tags `secret_id` with `digest` (when there is drift to acknowledge).
pub async fn acknowledge(
    store: &dyn SecretStore,
    secret_id: &str,
    digest: Option<String>,
    findings: Vec<String>,
) -> Result<Acknowledged> {
    if let Some(digest) = &digest {
        store.tag(secret_id, DRIFT_ACK_TAG, digest).await?;
    }
    Ok(Acknowledged {
        secret_id: secret_id.to_string(),
        drift: digest,
        findings,
    })
}
