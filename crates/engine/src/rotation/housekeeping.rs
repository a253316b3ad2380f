//! The check's housekeeping: the retirement of the credential the last rotation replaced, the
//! sweep of orphans, the alert on a lockdown left incomplete, the drift alert, and the daily
//! proof that Jamf Pro works ([`super::proof`]).

use super::check::CheckReport;
use super::drift::{kebab, DriftKind, DRIFT_ACK_TAG};
use super::look::Look;
use super::retire::Retirement;
use super::{Engine, Step};
use crate::ports::AlertKind;

impl Engine {
    /// Housekeeping: finishes a retirement that is due (or that a crash interrupted), sweeps
    /// orphans, alerts a lockdown left incomplete (removing nothing for it), and then runs the
    /// daily proof when the target opts in (after the removals: a retirement of a credential
    /// Jamf Pro still used is found the same day). Returns the key ids it removed; what it could
    /// not remove is alerted.
    pub(super) async fn housekeeping(
        &self,
        secret_id: &str,
        look: &Look,
        report: &mut CheckReport,
    ) -> Vec<String> {
        let retirement = self.retirement_due(secret_id, look, report).await;
        let (removed, not_removed) = self
            .remove_due(secret_id, look, report, retirement.as_ref())
            .await;
        self.alert_if_lockdown_interrupted(secret_id, look, &removed)
            .await;
        let not_removed: Vec<String> = not_removed.into_iter().map(|(_, line)| line).collect();
        if !not_removed.is_empty() {
            self.housekeeping_failed(secret_id, &report.target, &not_removed)
                .await;
        }
        report.proof = self.daily_proof(secret_id, look, report).await;
        removed
    }

    /// Whether the credential the last rotation replaced may go now (`None`: none is left),
    /// alerting when the new one was not seen in use in time.
    async fn retirement_due(
        &self,
        secret_id: &str,
        look: &Look,
        report: &CheckReport,
    ) -> Option<Retirement> {
        if !report
            .drift
            .iter()
            .any(|d| d.kind == DriftKind::RetirePending)
        {
            return None;
        }
        // An unreadable sign-in report keeps the old credential for a later check.
        let retirement = self
            .retirement(Step::Check, &look.doc, &look.app, false)
            .await
            .unwrap_or_else(|e| Retirement::Wait(e.to_string()));
        if let Retirement::Overdue(why) = &retirement {
            self.alert(
                AlertKind::Drift,
                secret_id,
                format!("New secret not seen in use: {}", report.target),
                format!("Target: {secret_id} ({})\n{why}.\nThe old credential is kept, so Jamf Pro keeps working either way.\nWhat to do: check that Jamf Pro uses the new secret (the integration's status in Jamf Pro); an emergency rotation (`--revoke-old immediately`) retires the old one regardless.", report.target),
            )
            .await;
        }
        Some(retirement)
    }

    /// Removes the orphans, and the replaced credential when its retirement is due: the key ids
    /// removed, and those not removed with a line for the alert.
    async fn remove_due(
        &self,
        secret_id: &str,
        look: &Look,
        report: &CheckReport,
        retirement: Option<&Retirement>,
    ) -> (Vec<String>, Vec<(String, String)>) {
        let (mut removed, mut not_removed) = (Vec::new(), Vec::new());
        for d in &report.drift {
            let due = match d.kind {
                DriftKind::Orphan => true,
                DriftKind::RetirePending => retirement == Some(&Retirement::Now),
                _ => false,
            };
            if !due {
                continue;
            }
            let key = d.key_id.as_deref().unwrap_or_default();
            let known = [(look.current_version.as_str(), &look.doc)];
            match self
                .remove_checked(Step::Check, secret_id, &look.app, key, &known, None)
                .await
            {
                Ok(()) => {
                    removed.push(key.to_string());
                    let what = if d.kind == DriftKind::Orphan {
                        "orphaned"
                    } else {
                        "replaced"
                    };
                    self.note(Step::Check, &format!("removed {what} credential {key}"))
                }
                Err(e) => {
                    tracing::warn!(step = "check", "could not remove credential {key}: {e}");
                    not_removed.push((
                        key.to_string(),
                        format!("- {} credential {key}: {e}", kebab(d.kind)),
                    ));
                }
            }
        }
        (removed, not_removed)
    }

    /// A lockdown the current document records but did not complete is alerted, never
    /// completed here: nothing is removed on a document's flag (see [`super::lockdown`]).
    async fn alert_if_lockdown_interrupted(
        &self,
        secret_id: &str,
        look: &Look,
        removed: &[String],
    ) {
        let Some(record) = look.doc.rotation.as_ref().filter(|r| r.lockdown) else {
            return;
        };
        let mut left = look.application.clone();
        left.passwords.retain(|c| !removed.contains(&c.key_id));
        self.alert_interrupted_lockdown(secret_id, &look.doc, record, &left)
            .await;
    }

    /// Alerts the serious drift still there after the housekeeping
    /// ([`CheckReport::alerted_drift`]), unless an operator acknowledged that same drift (the
    /// secret's [`DRIFT_ACK_TAG`] holds its digest): a new finding alerts again.
    pub(super) async fn alert_drift(
        &self,
        secret_id: &str,
        report: &CheckReport,
        removed: &[String],
    ) {
        let Some(digest) = report.drift_digest(removed) else {
            return;
        };
        // A tag that cannot be read acknowledges nothing: the alert goes out.
        let acked = self
            .store
            .tags(secret_id)
            .await
            .ok()
            .and_then(|mut t| t.remove(DRIFT_ACK_TAG));
        if acked.as_deref() == Some(digest.as_str()) {
            self.note(
                Step::Check,
                &format!("drift {digest} acknowledged; not alerted"),
            );
            return;
        }
        let lines: Vec<String> = report
            .alerted_drift(removed)
            .iter()
            .map(|d| format!("- {}: {}", kebab(d.kind), d.detail))
            .collect();
        self.alert(AlertKind::Drift, secret_id, format!("Drift: {}", report.target), format!("Target: {secret_id} ({})\n{}\nWhat to do: review the app registration's client secrets; outside a lockdown the rotator removes only the secret a rotation replaced and its own leftovers. When this drift is known and intended: jamf-entra-rotator ack-drift --secret-id {secret_id} --drift {digest} (a new finding alerts again).", report.target, lines.join("\n"))).await;
    }

    /// Alerts that credentials the check should have removed (an orphan, or the one a rotation
    /// replaced) are still on the app: each stays valid until it expires.
    async fn housekeeping_failed(&self, secret_id: &str, target: &str, lines: &[String]) {
        self.alert(
            AlertKind::Drift,
            secret_id,
            format!("Housekeeping failed: {target}"),
            format!(
                "Target: {secret_id} ({target})\nThe check could not remove:\n{}\nState: each stays on the app, valid until it expires; Jamf Pro is not affected.\nWhat to do: the next check tries again; if it keeps failing, check the rotator's Graph permission (Application.ReadWrite.OwnedBy) and its ownership of the app, or remove the credential by hand (az ad app credential delete --id <app> --key-id <key>).",
                lines.join("\n")
            ),
        )
        .await;
    }
}
