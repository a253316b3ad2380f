//! The daily proof (opt-in per target: `jamf.daily_proof`): the scheduled check runs Jamf Pro's
//! own test with the secret Jamf Pro holds, so that drift the check cannot see at Entra (an
//! administrator pasting another secret, a write Jamf Pro applied late) is found within a day.
//!
//! Jamf Pro never returns its secret; its own test (the SMTP test mail; for
//! `conditional-access`, the integration's notifications, read without saving:
//! [`SecretHolder::prove`]) is the only way to learn whether it works. When the test fails
//! because the secret was refused, and Entra accepts `AWSCURRENT`'s secret, Jamf Pro holds a
//! secret the rotator does not manage: the proof puts `AWSCURRENT`'s back (under the target's
//! lease, like any write) and tests again. It never writes a secret Entra refuses, never touches
//! the app's credentials, and any failure stays this target's report and alert.
//!
//! It runs in the check's housekeeping ([`super::housekeeping`]), never in a dry run, and not
//! when a rotation is due (the rotation proves Jamf Pro itself in testSecret) or half done
//! (`AWSPENDING`: Jamf Pro may rightly hold the pending secret).

use super::check::CheckReport;
use super::look::Look;
use super::report::ProofResult;
use super::{Driver, Engine, Step, StepContext};
use crate::alert::ProofRepair;
use crate::document::{TargetDocument, TargetKind};
use crate::ports::{SecretCheck, SecretHolder, TargetError};

impl ProofResult {
    fn pass() -> Self {
        Self {
            ran: true,
            passed: true,
            repaired: false,
            error: None,
        }
    }
}

impl Engine {
    /// The daily proof of the target the check `look`ed at, when its document opts in and no
    /// rotation is due or half done (`report.due`); `None` when it does not run.
    pub(super) async fn daily_proof(
        &self,
        secret_id: &str,
        look: &Look,
        report: &CheckReport,
    ) -> Option<ProofResult> {
        let doc = &look.doc;
        if !doc.jamf.daily_proof || !doc.jamf.target.is_jamf() || report.due {
            return None;
        }
        let target = match self.targets.open(doc).await {
            Ok(target) => target,
            Err(e) => return Some(self.proof_not_run(&e, doc)),
        };
        let result = match target.prove().await {
            Ok(()) => {
                self.note(
                    Step::Check,
                    "daily proof: Jamf Pro's own test passes with the secret it holds",
                );
                ProofResult::pass()
            }
            Err(e) if is_test_failure(&e) => {
                self.proof_failed(secret_id, look, &report.target, target.as_ref(), &e)
                    .await
            }
            Err(e) => self.proof_not_run(&e, doc),
        };
        target.close().await;
        Some(result)
    }

    /// A test that could not run: logged and reported, not alerted (the rotation's own steps
    /// alert when they cannot reach Jamf Pro).
    fn proof_not_run(&self, e: &TargetError, doc: &TargetDocument) -> ProofResult {
        let error = scrubbed(e, doc);
        tracing::warn!(step = "check", "daily proof could not run: {error}");
        ProofResult {
            ran: false,
            passed: false,
            repaired: false,
            error: Some(format!("the proof could not run: {error}")),
        }
    }

    /// Jamf Pro's test failed with `e`: puts `AWSCURRENT`'s secret back when the failure says
    /// the secret was refused, then alerts and counts it (`JamfProofFailed`).
    async fn proof_failed(
        &self,
        secret_id: &str,
        look: &Look,
        label: &str,
        target: &dyn SecretHolder,
        e: &TargetError,
    ) -> ProofResult {
        let error = scrubbed(e, &look.doc);
        tracing::warn!(step = "check", "daily proof failed: {error}");
        self.metric(crate::metrics::jamf_proof_failed(secret_id));
        let repair = if secret_refused(e) {
            self.put_current_back(secret_id, look, target).await
        } else {
            ProofRepair::NotWritten(
                "the failure does not say that Jamf Pro's secret was refused, so the rotator wrote nothing".into(),
            )
        };
        let alert =
            crate::alert::jamf_proof_failed(secret_id, label, &error, &repair, &advice(&look.doc));
        crate::alert::deliver(self.alerts.as_ref(), &alert).await;
        ProofResult {
            ran: true,
            passed: false,
            repaired: repair == ProofRepair::Repaired,
            error: Some(error),
        }
    }

    /// Writes `AWSCURRENT`'s secret into Jamf Pro (`install`) and tests again, only when Entra
    /// accepts that secret for the integration's scope and Jamf Pro still names the document's
    /// app, and only under the target's lease: taken here, refused when another attempt holds
    /// it or moved the stages since the check looked, let go of once the write is done.
    async fn put_current_back(
        &self,
        secret_id: &str,
        look: &Look,
        target: &dyn SecretHolder,
    ) -> ProofRepair {
        let secret = &look.doc.entra.client_secret;
        match self
            .directory
            .check_secret(&look.app, secret, &target.scope())
            .await
        {
            Ok(SecretCheck::Accepted) => {}
            Ok(refused) => {
                return ProofRepair::NotWritten(format!(
                    "Entra does not accept AWSCURRENT's secret either ({})",
                    if refused == SecretCheck::Expired {
                        "expired"
                    } else {
                        "refused"
                    }
                ))
            }
            Err(e) => {
                return ProofRepair::NotWritten(format!(
                    "Entra could not be asked whether it accepts AWSCURRENT's secret: {e}"
                ))
            }
        }
        if let Err(why) = self.names_the_app(target, &look.doc).await {
            return ProofRepair::NotWritten(why);
        }
        let ctx = StepContext::new(secret_id, "", Default::default(), Driver::InProcess);
        let written = match self.lease_after(Step::Check, &ctx, Some(&look.info)).await {
            Ok(()) => target.install(secret).await.map_err(|e| {
                format!(
                    "putting AWSCURRENT's secret back failed (it may still land; Entra accepts it): {}",
                    scrubbed(&e, &look.doc)
                )
            }),
            Err(e) => Err(format!(
                "the rotator could not take the target's lease, so it left the target to whoever holds it ({e})"
            )),
        };
        self.release(&ctx, "").await;
        if let Err(why) = written {
            return ProofRepair::NotWritten(why);
        }
        self.note(
            Step::Check,
            "daily proof: AWSCURRENT's secret is back in Jamf Pro",
        );
        match target.verify().await {
            Ok(()) => ProofRepair::Repaired,
            Err(e) => ProofRepair::StillFailing(scrubbed(&e, &look.doc)),
        }
    }

    /// Jamf Pro's setting still names the document's app (what a rotation checks before it
    /// writes), or why not.
    async fn names_the_app(
        &self,
        target: &dyn SecretHolder,
        doc: &TargetDocument,
    ) -> Result<(), String> {
        let config = target
            .inspect()
            .await
            .map_err(|e| format!("Jamf Pro's setting could not be read: {e}"))?;
        match &config.client_id {
            Some(id) if id.eq_ignore_ascii_case(&doc.entra.client_id) => Ok(()),
            other => Err(format!(
                "Jamf Pro uses application id {}, the document names {}",
                other.as_deref().unwrap_or("none"),
                doc.entra.client_id
            )),
        }
    }
}

/// True for an error that is Jamf Pro's test failing (its answer), not the test failing to run.
fn is_test_failure(e: &TargetError) -> bool {
    matches!(e, TargetError::Rejected(_) | TargetError::Mismatch(_))
}

/// Words of an authentication failure in Jamf Pro's test results: the SMTP test's "Unable to
/// authenticate with Microsoft Graph" with Entra's AADSTS code and `invalid_client`, and the
/// Intune integration's `MII_UNATHORIZED_RESPONSE_NOTIFICATION` (Jamf's spelling).
const REFUSED_WORDS: [&str; 6] = [
    "authenticat",
    "unauthori",
    "unathori",
    "aadsts",
    "invalid_client",
    "invalid client secret",
];

/// True when Jamf Pro's test failed because the secret it holds was refused (an
/// authentication-class failure), the one failure that writing `AWSCURRENT`'s secret can mend.
fn secret_refused(e: &TargetError) -> bool {
    let TargetError::Rejected(text) = e else {
        return false;
    };
    let text = text.to_ascii_lowercase();
    REFUSED_WORDS.iter().any(|w| text.contains(w))
}

/// The error's text without the document's secret (a server may echo what it was sent).
fn scrubbed(e: &TargetError, doc: &TargetDocument) -> String {
    crate::redact::scrub(&e.to_string(), &[&doc.entra.client_secret])
}

/// Where the operator looks in Jamf Pro, for the target's kind.
fn advice(doc: &TargetDocument) -> String {
    let app = &doc.entra.client_id;
    match doc.jamf.target {
        TargetKind::ConditionalAccess => format!(
            "In Jamf Pro, open Settings > Global > Conditional Access (Microsoft Intune Integration): the application ID must be {app}, and the integration's status green; then Settings > Notifications: dismiss a notification that is no longer true."
        ),
        TargetKind::SmtpGraph | TargetKind::Rotator => format!(
            "In Jamf Pro, open Settings > System > SMTP Server: it must send through Microsoft Graph as application {app}; send a test mail from there. If Entra accepts the secret and the mail still fails, check the app's Mail.Send permission and the sender's mailbox."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_authentication_failure_is_the_secret_refused() {
        let refused = [
            "the test mail to it@example.com failed: Unable to authenticate with Microsoft Graph: HTTP 401: AADSTS7000215: Invalid client secret provided.",
            "Jamf Pro raised MII_UNATHORIZED_RESPONSE_NOTIFICATION (Settings > Notifications)",
        ];
        for text in refused {
            assert!(
                secret_refused(&TargetError::Rejected(text.into())),
                "{text}"
            );
        }
        let other = [
            TargetError::Rejected(
                "Jamf Pro reports CONDITIONAL_ACCESS_CONNECTION_ERROR (Settings > Notifications)"
                    .into(),
            ),
            TargetError::Rejected("the test mail failed: the SMTP server is not enabled".into()),
            TargetError::Mismatch("another app, unauthorized".into()),
            TargetError::Unavailable {
                operation: "POST /api/v1/smtp-server/test".into(),
                message: "timed out".into(),
            },
        ];
        for e in &other {
            assert!(!secret_refused(e), "{e}");
        }
        assert!(is_test_failure(&other[2]) && !is_test_failure(&other[3]));
    }
}
