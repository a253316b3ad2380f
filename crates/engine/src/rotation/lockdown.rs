//! Lockdown (`--lockdown`, after a leak): once the new secret works, every other client secret of
//! the app goes, except the working secrets of the target's *siblings*: the deployment's other
//! targets on the same app registration (Jamf Pro's mail and its Intune integration may share
//! one). A lockdown rotates each sibling too, with `--revoke-old immediately`, so their old
//! secrets go as well, by their own rotations, once their new ones work in Jamf Pro.
//!
//! - Before anything changes, the siblings are found among the deployment's targets (the
//!   request's candidates: the Lambda's target list, the CLI's `TARGET_SECRET_IDS` or tag) by
//!   the app their documents name. A credential the rotator made for a target that is not among
//!   them (another deployment's) refuses the lockdown, naming it: it cannot be rotated from here,
//!   and removing it would cut that target off.
//! - The sweep keeps the new credential, what the siblings' `AWSCURRENT` and `AWSPENDING` hold
//!   (read right before it), and a sibling's credential younger than the orphan age (a rotation
//!   of that sibling in flight).
//! - Credentials go only in the invocation that received the operator's rotate request with
//!   lockdown. The document records the lockdown and its siblings, but a flag in a document
//!   proves nothing about who asked (anyone who may write the secret can set it): a check that
//!   finds a lockdown incomplete (a credential created before it started still on the app: a
//!   crash after the switch, or a forged flag) removes nothing and alerts, asking the operator
//!   to run the lockdown again.

use super::report::DeferredSibling;
use super::{is_ours, Engine, ErrorKind, RotateRequest, RotationError, Step};
use crate::document::{RevokeOld, RotationRecord, TargetDocument};
use crate::ports::{AlertKind, Application, PasswordCredential, AWSCURRENT, AWSPENDING};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use std::collections::BTreeSet;

/// What a lockdown must leave on the app for the siblings, as read just now.
#[derive(Debug, Default)]
pub(crate) struct Siblings {
    /// Key ids the siblings' `AWSCURRENT` and `AWSPENDING` hold.
    pub held: BTreeSet<String>,
    /// Key ids their `AWSCURRENT` holds.
    pub current: Vec<(String, String)>,
    /// Their target tags.
    pub tags: BTreeSet<String>,
}

impl Siblings {
    /// True when the lockdown must keep `cred`.
    pub fn keep(
        &self,
        cred: &PasswordCredential,
        now: DateTime<Utc>,
        min_age: chrono::Duration,
    ) -> bool {
        let key = cred.key_id.to_lowercase();
        self.held.contains(&key)
            || self.tags.iter().any(|t| {
                super::is_ours_for(cred.display_name.as_deref(), t)
                    && cred.start.is_some_and(|s| now - s < min_age)
            })
    }
}

impl Engine {
    /// The siblings of target `secret_id` among `candidates`, read before a lockdown changes
    /// anything (see [`Self::lockdown_siblings`]).
    pub(crate) async fn siblings_of(
        &self,
        secret_id: &str,
        candidates: &[String],
    ) -> Result<Vec<String>, RotationError> {
        let (_, current) = self.current(Step::Guard, secret_id).await?;
        let application = self
            .directory
            .application(&super::app_of(&current))
            .await
            .map_err(|e| RotationError::directory(Step::Guard, e))?;
        self.lockdown_siblings(secret_id, &current, candidates, &application)
            .await
    }

    /// The siblings of target `secret_id` (whose document is `doc`) among `candidates`, found
    /// before a lockdown changes anything; refused when `application` holds a credential the
    /// rotator made for a target that is neither this one nor a sibling.
    pub(crate) async fn lockdown_siblings(
        &self,
        secret_id: &str,
        doc: &TargetDocument,
        candidates: &[String],
        application: &Application,
    ) -> Result<Vec<String>, RotationError> {
        let step = Step::Guard;
        let me = self
            .store
            .describe(secret_id)
            .await
            .map_err(|e| RotationError::store(step, e))?;
        let mut siblings = Vec::new();
        let mut tags = BTreeSet::from([super::target_tag(&me.arn)]);
        for id in candidates {
            let info = self
                .store
                .describe(id)
                .await
                .map_err(|e| refuse(format!("the deployment's target {id} cannot be read ({e}), so it cannot be told apart from a sibling")))?;
            if info.arn == me.arn {
                continue;
            }
            let (_, theirs) = self
                .current(step, id)
                .await
                .map_err(|e| refuse(format!("the deployment's target {id} cannot be read ({e}), so it cannot be told apart from a sibling")))?;
            if same_app(doc, &theirs) {
                tags.insert(super::target_tag(&info.arn));
                siblings.push(id.clone());
            }
        }
        let unknown: Vec<String> = application
            .passwords
            .iter()
            .filter(|c| is_ours(c.display_name.as_deref()))
            .filter(|c| {
                !tags
                    .iter()
                    .any(|t| super::is_ours_for(c.display_name.as_deref(), t))
            })
            .map(|c| {
                format!(
                    "{} ({})",
                    c.key_id,
                    c.display_name.as_deref().unwrap_or_default()
                )
            })
            .collect();
        if !unknown.is_empty() {
            return Err(refuse(format!(
                "the app holds credentials the rotator made for targets this deployment does not list: {}. A lockdown would cut them off; add those targets to TARGET_SECRET_IDS (or the target tag) so the lockdown rotates them too, or remove the credentials by hand. Nothing was changed.",
                unknown.join(", ")
            )));
        }
        Ok(siblings)
    }

    /// What the siblings' documents hold now (read afresh): the lockdown keeps it.
    pub(crate) async fn sibling_holds(
        &self,
        step: Step,
        siblings: &[String],
    ) -> Result<Siblings, RotationError> {
        let mut out = Siblings::default();
        for id in siblings {
            let info = self
                .store
                .describe(id)
                .await
                .map_err(|e| RotationError::store(step, e))?;
            out.tags.insert(super::target_tag(&info.arn));
            for stage in [AWSCURRENT, AWSPENDING] {
                let Some(version) = info.version_with(stage) else {
                    continue;
                };
                // Unreadable: nothing proves a credential is not its, so the sweep stops.
                let value = self
                    .store
                    .value(id, version)
                    .await
                    .map_err(|e| RotationError::store(step, e))?;
                let Some(value) = value else { continue };
                let doc = TargetDocument::parse(value.expose_secret()).map_err(|e| {
                    RotationError::new(
                        step,
                        ErrorKind::SiblingDocument {
                            sibling: id.clone(),
                            source: e,
                        },
                    )
                })?;
                if let Some(k) = doc.entra.key_id {
                    out.held.insert(k.to_lowercase());
                    if stage == AWSCURRENT {
                        out.current.push((id.clone(), k.to_lowercase()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Rotates the lockdown's siblings, each as an emergency (its old secret goes at once),
    /// within `options`' deadline: a sibling starts only if its own rotation budget (and the
    /// margin kept for the report) fits the time left, as a check decides. One that does not
    /// fit is reported `deferred` and alerted, with what to run. Returns the rotations and the
    /// deferred siblings.
    pub(crate) async fn rotate_siblings(
        &self,
        secret_id: &str,
        siblings: &[String],
        options: super::report::RotateOptions,
    ) -> (Vec<super::report::RotationReport>, Vec<DeferredSibling>) {
        let (mut reports, mut deferred) = (Vec::new(), Vec::new());
        for id in siblings {
            if let Some(d) = self.sibling_does_not_fit(id, options.deadline).await {
                self.alert_deferred_sibling(secret_id, &d).await;
                deferred.push(d);
                continue;
            }
            self.note(
                Step::Guard,
                &format!("lockdown: rotating sibling target {id}"),
            );
            let request = RotateRequest {
                reason: format!("lockdown of {secret_id}"),
                revoke_old: RevokeOld::Immediately,
                ..Default::default()
            };
            match self.rotate_seen_within(id, request, None, options).await {
                Ok(r) => reports.push(r),
                Err(e) => tracing::error!(
                    step = "lockdown",
                    "the rotation of sibling {id} could not start: {e}"
                ),
            }
        }
        (reports, deferred)
    }

    /// Why sibling `id` cannot be rotated before `deadline` (`None`: it fits, or there is no
    /// deadline). Its budget is read from its current document; one that cannot be read is left
    /// to its rotation, which reports the error.
    async fn sibling_does_not_fit(
        &self,
        id: &str,
        deadline: Option<DateTime<Utc>>,
    ) -> Option<DeferredSibling> {
        let deadline = deadline?;
        let (_, doc) = self.current(Step::Guard, id).await.ok()?;
        let budget = self.rotation_budget(&doc);
        let margin = chrono::Duration::from_std(self.policy.deadline_margin).unwrap_or_default();
        let left = deadline - self.clock.now();
        (left < budget + margin).then(|| DeferredSibling {
            secret_id: id.to_string(),
            target: doc.label(),
            why: format!(
                "its rotation may take {} s and {} s are kept for the report; {} s were left before the invocation's deadline",
                budget.num_seconds(),
                margin.num_seconds(),
                left.num_seconds().max(0)
            ),
        })
    }

    /// Alerts that the lockdown of `secret_id` did not rotate sibling `d`: its old secret is
    /// still on the app and valid, and the operator must rotate it.
    async fn alert_deferred_sibling(&self, secret_id: &str, d: &DeferredSibling) {
        tracing::warn!(
            step = "lockdown",
            "sibling {} not rotated: {}",
            d.secret_id,
            d.why
        );
        self.alert(
            AlertKind::RotationFailed,
            &d.secret_id,
            format!("Lockdown sibling not rotated: {}", d.target),
            format!(
                "Target: {} ({})\nWhat happened: the lockdown of {secret_id} did not rotate this sibling target (same app registration): {}.\nState left: its current secret is still on the app and valid; Jamf Pro uses it.\nWhat to do: rotate it now as an emergency, in an invocation of its own: invoke the function with {{\"action\":\"rotate\",\"secret_id\":\"{}\",\"reason\":\"lockdown of {secret_id}\",\"revoke_old\":\"immediately\"}} (or the CLI: rotate --secret-id {} --revoke-old immediately).",
                d.secret_id, d.target, d.why, d.secret_id, d.secret_id
            ),
        )
        .await;
    }

    /// A check's part, for a current document whose rotation record says lockdown while
    /// credentials created before it started are still on the app (other than its own and what
    /// the siblings hold): a crash interrupted the lockdown, or someone wrote the flag. Removes
    /// nothing and rotates nothing: a lockdown removes credentials only in the invocation that
    /// received the operator's rotate request with lockdown, since a flag in a document proves
    /// nothing about who asked. Alerts instead.
    pub(crate) async fn alert_interrupted_lockdown(
        &self,
        secret_id: &str,
        current: &TargetDocument,
        record: &RotationRecord,
        application: &Application,
    ) {
        let step = Step::Check;
        let kept = self.sibling_holds(step, &record.lockdown_siblings).await;
        let remain: Vec<&PasswordCredential> = application
            .passwords
            .iter()
            .filter(|c| before(c, record.started_at) && !is_key(c, &current.entra.key_id))
            .filter(|c| !(kept.as_ref()).is_ok_and(|k| k.held.contains(&c.key_id.to_lowercase())))
            .collect();
        if remain.is_empty() {
            return;
        }
        let n = remain.len();
        let keys: Vec<&str> = remain.iter().map(|c| c.key_id.as_str()).collect();
        let summary = format!(
            "Lockdown interrupted: {n} other credentials remain on the app; run rotate --lockdown again to remove them"
        );
        self.note(step, &summary);
        self.alert(
            AlertKind::Drift,
            secret_id,
            format!("Lockdown interrupted: {}", current.label()),
            format!(
                "Target: {secret_id} ({})\n{summary}.\nCredentials created before the lockdown started ({}): {}.\nThe check removes none of them: a lockdown is carried out only by the invocation the operator's rotate request with lockdown reached (a flag in a document proves nothing about who asked).",
                current.label(),
                record.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                keys.join(", ")
            ),
        )
        .await;
    }
}

/// True when both documents name the same app registration.
fn same_app(a: &TargetDocument, b: &TargetDocument) -> bool {
    a.entra.client_id.eq_ignore_ascii_case(&b.entra.client_id)
        && a.entra.tenant_id.eq_ignore_ascii_case(&b.entra.tenant_id)
}

/// True when `cred` was created before `t` (no start date: assumed so).
fn before(cred: &PasswordCredential, t: DateTime<Utc>) -> bool {
    cred.start.is_none_or(|s| s < t)
}

fn is_key(cred: &PasswordCredential, key: &Option<String>) -> bool {
    key.as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case(&cred.key_id))
}

fn refuse(message: String) -> RotationError {
    RotationError::new(Step::Guard, ErrorKind::LockdownRefused(message))
}
