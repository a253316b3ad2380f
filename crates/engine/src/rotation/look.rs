//! A check's look at one target: its stages, `AWSCURRENT`'s document, the app's credentials and
//! which of them the secret's versions hold ([`Look`]), and the managed credential's expiry
//! ([`Expiry`]), from which the check judges.

use super::ledger::Ledger;
use super::{app_of, is_ours, Engine, RotationError, Step};
use crate::document::TargetDocument;
use crate::ports::{AppRef, Application, SecretInfo, AWSPENDING};
use chrono::{DateTime, Utc};

/// What a check read of one target.
pub(super) struct Look {
    /// The secret's stages.
    pub(super) info: SecretInfo,
    /// The `AWSCURRENT` version.
    pub(super) current_version: String,
    /// Its document.
    pub(super) doc: TargetDocument,
    /// The app's credentials.
    pub(super) application: Application,
    /// The app, with its object id.
    pub(super) app: AppRef,
    /// Which credentials the secret's versions hold.
    pub(super) ledger: Ledger,
    /// When it was read.
    pub(super) now: DateTime<Utc>,
    /// Rotations this process had let through the target's lock before the read.
    pub(super) generation: u64,
    /// Until when another attempt holds the target's lease, as the lease table said.
    pub(super) lease_until: Option<DateTime<Utc>>,
}

/// The managed credential's expiry, and whether a rotation is due.
pub(super) struct Expiry {
    /// The managed credential's key id, lower case.
    pub(super) managed_key: Option<String>,
    /// True when the app holds it.
    pub(super) managed_found: bool,
    /// When it expires.
    pub(super) expires_at: Option<DateTime<Utc>>,
    /// Whole days until then.
    pub(super) days: Option<i64>,
    /// The threshold applied.
    pub(super) threshold: i64,
    /// A half-done rotation's version.
    pub(super) pending: Option<String>,
}

impl Engine {
    /// Reads the target: its stages, the `AWSCURRENT` document, the app's credentials, and which
    /// of them the secret's versions hold.
    pub(super) async fn look(&self, secret_id: &str) -> Result<Look, RotationError> {
        let step = Step::Check;
        // Taken before the read: a rotation of this target in this process after it makes what
        // was read stale for the rotation below.
        let generation = self.lock_for(secret_id).rotations();
        let info = self
            .store
            .describe(secret_id)
            .await
            .map_err(|e| RotationError::store(step, e))?;
        let (current_version, doc) = self.current(step, secret_id).await?;
        let application = self
            .directory
            .application(&app_of(&doc))
            .await
            .map_err(|e| RotationError::directory(step, e))?;
        let app = AppRef {
            object_id: Some(application.object_id.clone()),
            ..app_of(&doc)
        };
        let ledger = self
            .ledger(
                step,
                secret_id,
                &info,
                &[(&current_version, &doc)],
                &application,
            )
            .await
            .unwrap_or_else(|_| Ledger {
                tag: super::target_tag(&info.arn),
                ..Default::default()
            });
        Ok(Look {
            lease_until: self.held_until(secret_id).await,
            info,
            current_version,
            doc,
            application,
            app,
            ledger,
            now: self.clock.now(),
            generation,
        })
    }

    /// The managed credential's expiry and the threshold that applies to it.
    pub(super) fn expiry(&self, look: &Look) -> Expiry {
        let managed_key = look.doc.entra.key_id.as_deref().map(str::to_lowercase);
        let managed = look
            .application
            .passwords
            .iter()
            .find(|c| Some(c.key_id.to_lowercase()) == managed_key);
        let expires_at = managed.and_then(|c| c.end).or(look.doc.entra.expires_at);
        // A secret we made shorter-lived than the threshold allows (a strict tenant policy) would
        // be due the day it was made: then rotate in its last third instead.
        let lifetime_days = managed
            .filter(|c| is_ours(c.display_name.as_deref()))
            .and_then(|c| Some((c.end? - c.start?).num_days()));
        Expiry {
            managed_found: managed.is_some(),
            days: expires_at.map(|e| (e - look.now).num_days()),
            threshold: lifetime_days.map_or(self.policy.threshold_days, |l| {
                self.policy.threshold_days.min(l / 3).max(1)
            }),
            expires_at,
            pending: look
                .info
                .version_with(AWSPENDING)
                .filter(|v| *v != look.current_version)
                .map(str::to_string),
            managed_key,
        }
    }
}
