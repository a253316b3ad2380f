//! Revocation proof. Removal in Entra is eventually consistent: a removed secret can keep
//! signing in for a while. After an emergency (`--revoke-old immediately`, `--lockdown`) the
//! rotator does not assume the leaked secret is dead: it asks the token endpoint with it, with
//! backoff, until Entra refuses it ([`super::Policy::propagation_successes`] times in a row, as
//! for a new secret's propagation) or [`super::Policy::revocation_proof_timeout`] has passed
//! (then a `revocation-unconfirmed` alert). The report says how many seconds the refusal took.
//!
//! Within an invocation's deadline the proof takes only the time left, less
//! [`super::Policy::deadline_margin`] for the report and the alerts and
//! [`super::Policy::http_timeout`] for a last try: when that is shorter than the
//! limit, the proof stops in time and the alert says so (the secret was still accepted after so
//! many seconds, the proof was cut short by the deadline), rather than Lambda killing the
//! invocation before any alert goes out.
//!
//! Every try is a sign-in with the app's client id and the revoked secret: Entra's sign-in logs
//! (service principal sign-ins of the Jamf app) show them as the rotator's, from the function's
//! address, failing with AADSTS7000215 once the removal has taken effect. A token Entra still
//! issues is dropped at once. The revoked secret never reaches a log, an error or an alert.
//!
//! The revoked secret the rotator knows is the one the rotation replaced, which `AWSPREVIOUS`
//! keeps. Credentials a lockdown removes that were never the rotator's have secrets it never saw,
//! so they cannot be tried.

use super::report::{RevocationProof, RotationReport};
use super::{app_of, Engine, RotateRequest, Step};
use crate::document::TargetDocument;
use crate::ports::{AlertKind, AppRef, SecretCheck, AWSPREVIOUS};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// First pause between tries; doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(5);
/// Longest pause between tries (about a dozen tries in ten minutes).
const MAX_PAUSE: Duration = Duration::from_secs(60);

impl Engine {
    /// After an emergency rotation that removed the old credential: proves that Entra refuses
    /// the revoked secret, records the proof in `report`, and alerts `revocation-unconfirmed`
    /// when it is not refused within the limit. Does nothing otherwise.
    pub(crate) async fn prove_revocation(
        &self,
        request: &RotateRequest,
        report: &mut RotationReport,
        deadline: Option<DateTime<Utc>>,
    ) {
        let emergency = request.is_emergency();
        let completed = report.outcome.succeeded();
        let Some(key_id) = report.old_key_id.clone() else {
            return;
        };
        if !emergency || !completed || !report.old_removed {
            return;
        }
        let Some(limit) = self.proof_limit(deadline) else {
            return;
        };
        let step = Step::FinishSecret;
        self.note(
            step,
            &format!("proving that Entra refuses the revoked secret {key_id}"),
        );
        let proof = match self.revoked_secret(&report.secret_id, &key_id).await {
            Ok((app, secret)) => self.until_refused(&app, &secret, &key_id, limit).await,
            Err(detail) => RevocationProof {
                key_id: key_id.clone(),
                confirmed: false,
                seconds: None,
                attempts: 0,
                limit_secs: limit.limit.as_secs(),
                detail: Some(detail),
            },
        };
        match (&proof.seconds, &proof.detail) {
            (Some(s), _) => self.note(
                step,
                &format!(
                    "Entra refuses the revoked secret {key_id} ({s}s after its removal, {} tries)",
                    proof.attempts
                ),
            ),
            (None, detail) => {
                let detail = detail.as_deref().unwrap_or_default();
                tracing::warn!(step = %step, "revocation of {key_id} unconfirmed: {detail}");
                self.alert(
                    AlertKind::RevocationUnconfirmed,
                    &report.secret_id,
                    format!("Revocation unconfirmed: {}", report.target),
                    unconfirmed_message(report, &proof, detail),
                )
                .await;
            }
        }
        report.revocation = Some(vec![proof]);
    }

    /// The app and the secret of the revoked credential `key_id`, from `AWSPREVIOUS`; or why
    /// they cannot be had.
    async fn revoked_secret(
        &self,
        secret_id: &str,
        key_id: &str,
    ) -> Result<(AppRef, SecretString), String> {
        let read = self.store.value_at(secret_id, AWSPREVIOUS).await;
        let (_, value) = read
            .map_err(|e| format!("AWSPREVIOUS could not be read: {e}"))?
            .ok_or("AWSPREVIOUS is absent: the revoked secret is unknown")?;
        let doc = TargetDocument::parse(value.expose_secret())
            .map_err(|e| format!("AWSPREVIOUS does not hold a usable document: {e}"))?;
        if !doc
            .entra
            .key_id
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(key_id))
        {
            return Err(format!(
                "AWSPREVIOUS holds another credential than {key_id}: the revoked secret is unknown"
            ));
        }
        Ok((app_of(&doc), doc.entra.client_secret.clone()))
    }

    /// How long the proof may take: [`super::Policy::revocation_proof_timeout`], cut to the
    /// time left before `deadline` less the margin for the report and alerts
    /// (`DEADLINE_MARGIN_SECS`) and one try (`HTTP_TIMEOUT_SECS`). `None`: the proof
    /// is off (a limit of zero).
    fn proof_limit(&self, deadline: Option<DateTime<Utc>>) -> Option<ProofLimit> {
        let setting = self.policy.revocation_proof_timeout;
        if setting.is_zero() {
            return None;
        }
        // The report and the alerts, and a last try that started just before the limit and
        // runs to its HTTP timeout.
        let margin = self.policy.deadline_margin + self.policy.http_timeout;
        let margin = chrono::Duration::from_std(margin).unwrap_or_default();
        let left = deadline.map(|d| (d - margin - self.clock.now()).to_std().unwrap_or_default());
        Some(match left {
            Some(left) if left < setting => ProofLimit {
                limit: left,
                cut_short: true,
            },
            _ => ProofLimit {
                limit: setting,
                cut_short: false,
            },
        })
    }

    /// Tries `secret` with backoff until Entra refuses it enough times in a row, or the limit.
    /// A limit the deadline cut to nothing makes no try at all.
    async fn until_refused(
        &self,
        app: &AppRef,
        secret: &SecretString,
        key_id: &str,
        limit: ProofLimit,
    ) -> RevocationProof {
        let ProofLimit { limit, cut_short } = limit;
        if limit.is_zero() {
            return RevocationProof {
                key_id: key_id.to_string(),
                confirmed: false,
                seconds: None,
                attempts: 0,
                limit_secs: 0,
                detail: Some(format!("the revoked secret was not tried: {CUT_SHORT}")),
            };
        }
        let needed = self.policy.propagation_successes.max(1);
        let scope = app.cloud.graph_scope();
        let started = self.clock.now();
        let (mut attempts, mut streak, mut first_refusal) = (0, 0, None);
        let mut pause = FIRST_PAUSE;
        let mut detail: Option<String>;
        loop {
            attempts += 1;
            let now = self.clock.now();
            match self.directory.check_secret(app, secret, &scope).await {
                Ok(SecretCheck::NotAccepted | SecretCheck::Expired) => {
                    streak += 1;
                    first_refusal.get_or_insert(now);
                    detail = Some(format!(
                        "Entra refused the revoked secret only {streak} of the {needed} times in a row needed"
                    ));
                }
                Ok(SecretCheck::Accepted) => {
                    (streak, first_refusal) = (0, None);
                    detail = Some("Entra still accepts the revoked secret".to_string());
                }
                Err(e) => {
                    (streak, first_refusal) = (0, None);
                    detail = Some(format!("Entra could not be asked: {e}"));
                    if !e.is_transient() {
                        break;
                    }
                }
            }
            if streak >= needed {
                let seconds = first_refusal.map(|t| (t - started).num_seconds().max(0) as u64);
                return RevocationProof {
                    key_id: key_id.to_string(),
                    confirmed: true,
                    seconds,
                    attempts,
                    limit_secs: limit.as_secs(),
                    detail: None,
                };
            }
            let waited = (self.clock.now() - started).to_std().unwrap_or_default();
            if waited >= limit {
                break;
            }
            // Never sleep past the limit: the last try lands on it.
            let wait = if streak > 0 { FIRST_PAUSE } else { pause };
            self.clock.sleep(wait.min(limit - waited)).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
        let waited = (self.clock.now() - started).num_seconds();
        let cut = if cut_short {
            format!("; {CUT_SHORT}")
        } else {
            String::new()
        };
        RevocationProof {
            key_id: key_id.to_string(),
            confirmed: false,
            seconds: None,
            attempts,
            limit_secs: limit.as_secs(),
            detail: detail
                .map(|d| format!("{d} ({waited}s after its removal, {attempts} tries){cut}")),
        }
    }
}

/// What the alert says when the invocation's deadline stopped the proof.
const CUT_SHORT: &str = "the proof was cut short by the invocation's deadline";

/// How long the proof may take, and whether the invocation's deadline cut it.
#[derive(Debug, Clone, Copy)]
struct ProofLimit {
    limit: Duration,
    cut_short: bool,
}

/// The `revocation-unconfirmed` alert's text.
fn unconfirmed_message(report: &RotationReport, proof: &RevocationProof, detail: &str) -> String {
    format!(
        "Target: {} ({})\nReason: {}\nRevoked credential: {}\nWhat happened: the credential was removed from the app, but Entra did not refuse its secret within {}s: {detail}.\nState left: Jamf Pro uses the new secret; the revoked credential is gone from the app, yet Entra may still accept its secret.\nWhat to do: treat the revoked secret as live until Entra refuses it. Watch the Jamf app's service principal sign-in logs for key id {} (the rotator's own tries show there too, from the function's address); if it still signs in after an hour, open a case with Microsoft.",
        report.secret_id, report.target, report.reason, proof.key_id, proof.limit_secs, proof.key_id
    )
}
