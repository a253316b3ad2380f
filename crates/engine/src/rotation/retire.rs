//! Retiring the credential a rotation replaced: at once after verification (the default, and
//! always for an emergency rotation), or only after a grace period and/or once Entra's credential
//! sign-in activity shows the new credential in use. Until then the old credential stays valid and
//! is "retire pending"; later scheduled checks retire it.

use super::{Engine, RotationError, Step};
use crate::document::{RevokeOld, TargetDocument};
use crate::ports::AppRef;

/// Sign-ins within this time after a rotation started may be the rotator's own checks of the new
/// secret (propagation wait, testSecret); only later ones count as Jamf Pro using it.
pub const OBSERVED_USE_GAP: chrono::Duration = chrono::Duration::hours(1);

/// May the replaced credential go?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retirement {
    /// Yes.
    Now,
    /// Not yet; why.
    Wait(String),
    /// Not yet, and the new credential has not been seen in use for longer than the alert limit.
    Overdue(String),
}

impl Engine {
    /// Decides whether the credential that `doc`'s rotation replaced may be removed now.
    /// `emergency` (the request at hand is one) retires at once, whatever the document says.
    pub async fn retirement(
        &self,
        step: Step,
        doc: &TargetDocument,
        app: &AppRef,
        emergency: bool,
    ) -> Result<Retirement, RotationError> {
        let Some(record) = &doc.rotation else {
            return Ok(Retirement::Now);
        };
        if emergency || record.revoke_old == RevokeOld::Immediately || record.lockdown {
            return Ok(Retirement::Now);
        }
        let now = self.clock.now();
        let grace_ends = record.started_at + self.policy.retire_grace;
        if now < grace_ends {
            return Ok(Retirement::Wait(format!(
                "grace period until {}",
                grace_ends.format("%Y-%m-%d %H:%M UTC")
            )));
        }
        if self.policy.retire_after_observed_use {
            let key = doc.entra.key_id.as_deref().unwrap_or_default();
            let last = self
                .directory
                .key_last_used(app, key)
                .await
                .map_err(|e| RotationError::directory(step, e))?;
            if last.is_none_or(|t| t <= record.started_at + OBSERVED_USE_GAP) {
                let waited = now - record.started_at;
                let why = format!("the new credential {key} has not been seen signing in since the switch {} hours ago", waited.num_hours());
                return Ok(
                    if waited > chrono::Duration::days(self.policy.observed_use_alert_days) {
                        Retirement::Overdue(why)
                    } else {
                        Retirement::Wait(why)
                    },
                );
            }
        }
        Ok(Retirement::Now)
    }
}
