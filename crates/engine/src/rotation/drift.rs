//! Drift: what the app holds beside the credential the document names (expired, unmanaged,
//! orphaned, another target's, the one a rotation replaced, a rotation half done), which of it
//! is found, and the tag an operator acknowledges it by ([`DRIFT_ACK_TAG`]); which of it a check
//! alerts on is the report's ([`super::check::CheckReport::alerted_drift`]).

use super::ledger::Ledger;
use super::look::{Expiry, Look};
use super::{is_ours, Engine};
use crate::ports::PasswordCredential;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One kind of drift between what the document says and what the app holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    /// The credential the document names is not on the app: Jamf Pro's secret no longer works.
    ManagedMissing,
    /// A credential on the app has expired.
    Expired,
    /// A credential nobody manages (not ours, not the document's).
    Unmanaged,
    /// A credential of ours that no secret version holds (left by an interrupted rotation).
    Orphan,
    /// The credential a completed rotation replaced is still on the app.
    RetirePending,
    /// A rotation is half done (`AWSPENDING` present).
    StalePending,
    /// A credential the rotator made for another target that shares this app registration.
    OtherTarget,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    /// What kind.
    pub kind: DriftKind,
    /// The credential concerned.
    pub key_id: Option<String>,
    /// A sentence for the report.
    pub detail: String,
}

impl Engine {
    /// Every kind of drift the check finds.
    pub(super) fn drift(&self, look: &Look, expiry: &Expiry) -> Vec<Drift> {
        let mut drift = Vec::new();
        if let Some(p) = &expiry.pending {
            drift.push(Drift {
                kind: DriftKind::StalePending,
                key_id: None,
                detail: format!("a rotation is half done (AWSPENDING on version {p})"),
            });
        }
        if !expiry.managed_found {
            drift.push(Drift {
                kind: DriftKind::ManagedMissing,
                key_id: look.doc.entra.key_id.clone(),
                detail: "the credential the document names is not on the app: Jamf Pro's secret no longer works".into(),
            });
        }
        let retire = look
            .doc
            .rotation
            .as_ref()
            .and_then(|r| r.replaces_key_id.clone())
            .map(|k| k.to_lowercase());
        let orphans = ledger_orphans(
            &look.ledger,
            &look.application,
            look.now,
            self.policy.orphan_min_age,
        );
        for c in &look.application.passwords {
            if c.end.is_some_and(|e| e <= look.now) {
                drift.push(Drift {
                    kind: DriftKind::Expired,
                    key_id: Some(c.key_id.clone()),
                    detail: format!("credential {} expired", c.key_id),
                });
            }
            if Some(c.key_id.to_lowercase()) == expiry.managed_key {
                continue;
            }
            let retiring = retire.as_deref() == Some(c.key_id.to_lowercase().as_str());
            drift.extend(credential_drift(
                c,
                retiring,
                orphans.contains(&c.key_id),
                &look.ledger.tag,
            ));
        }
        drift
    }
}

fn ledger_orphans(
    ledger: &Ledger,
    app: &crate::ports::Application,
    now: DateTime<Utc>,
    min_age: chrono::Duration,
) -> Vec<String> {
    ledger
        .orphans(app, None, now, min_age)
        .into_iter()
        .map(|c| c.key_id.clone())
        .collect()
}

/// The drift a credential other than the managed one is: the one the last rotation replaced
/// (`retiring`), an orphan of ours, another target's, or one nobody manages.
fn credential_drift(
    c: &PasswordCredential,
    retiring: bool,
    orphan: bool,
    tag: &str,
) -> Option<Drift> {
    let (kind, detail) = if retiring {
        (
            DriftKind::RetirePending,
            "the credential the last rotation replaced is still on the app".to_string(),
        )
    } else if orphan {
        (
            DriftKind::Orphan,
            "a credential of ours that no secret version holds".to_string(),
        )
    } else if is_ours(c.display_name.as_deref())
        && !super::is_ours_for(c.display_name.as_deref(), tag)
    {
        (
            DriftKind::OtherTarget,
            "a credential the rotator made for another target on the same app".to_string(),
        )
    } else if !is_ours(c.display_name.as_deref()) {
        (
            DriftKind::Unmanaged,
            format!(
                "credential {:?} is not managed by the rotator",
                c.display_name.as_deref().unwrap_or("")
            ),
        )
    } else {
        return None;
    };
    Some(Drift {
        kind,
        key_id: Some(c.key_id.clone()),
        detail,
    })
}

/// The tag on a target's secret that acknowledges its drift: the [`CheckReport::drift_digest`]
/// of the drift an operator acknowledged (`jamf-entra-rotator ack-drift`). A tag, not a field
/// of the document: a new version would abandon a running Secrets Manager rotation.
pub const DRIFT_ACK_TAG: &str = "jamf-entra-rotator:drift-ack";

/// A drift kind's name as reports and alerts write it (`orphan`, `retire-pending`).
pub(super) fn kebab(kind: DriftKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
