//! What Secrets Manager holds: the key ids of the credentials stored in the labelled versions.
//! A credential of ours that no labelled version holds is an orphan (its secret was never
//! stored, or the rotation that made it was rolled back): nobody can use it, so it is removed.

use super::remove::NotRemoved;
use super::{is_ours_for, Engine, RotationError, Step, StepContext};
use crate::document::TargetDocument;
use crate::ports::{
    AppRef, Application, PasswordCredential, SecretInfo, AWSCURRENT, AWSPENDING, AWSPREVIOUS,
};
use secrecy::ExposeSecret;
use std::collections::BTreeSet;

/// Key ids the labelled versions of a secret hold.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Key ids held by `AWSCURRENT`, `AWSPENDING`, `AWSPREVIOUS`.
    pub held: BTreeSet<String>,
    /// False when a labelled version could not be read: then nothing may be called an orphan.
    pub complete: bool,
    /// The target's tag: only credentials made for this target can be its orphans.
    pub tag: String,
}

impl Ledger {
    /// Credentials of ours that no labelled version holds, once older than `min_age` (a younger
    /// one may belong to a rotation in flight in another process, between its `addPassword` and
    /// its `PutSecretValue`). `spent_token` names a token known to be spent (its version holds a
    /// value, so no attempt can store another credential under it): a credential named for it
    /// is an orphan whatever its age.
    pub fn orphans<'a>(
        &self,
        app: &'a Application,
        spent_token: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
        min_age: chrono::Duration,
    ) -> Vec<&'a PasswordCredential> {
        if !self.complete {
            return Vec::new();
        }
        app.passwords
            .iter()
            .filter(|c| {
                is_ours_for(c.display_name.as_deref(), &self.tag)
                    && !self.held.contains(&c.key_id.to_lowercase())
            })
            .filter(|c| {
                let this_rotation = spent_token.is_some_and(|t| {
                    c.display_name.as_deref() == Some(super::credential_name(&self.tag, t).as_str())
                });
                let old = c.start.is_none_or(|s| now - s >= min_age);
                this_rotation || old
            })
            .collect()
    }
}

impl Ledger {
    /// True when a credential named for `token` and younger than `min_age` is held by no
    /// version: then whether the token is spent decides if it is an orphan.
    pub fn young_of_token(
        &self,
        app: &Application,
        token: &str,
        now: chrono::DateTime<chrono::Utc>,
        min_age: chrono::Duration,
    ) -> bool {
        let name = super::credential_name(&self.tag, token);
        self.complete
            && app.passwords.iter().any(|c| {
                c.display_name.as_deref() == Some(name.as_str())
                    && !self.held.contains(&c.key_id.to_lowercase())
                    && c.start.is_some_and(|s| now - s < min_age)
            })
    }
}

impl Engine {
    /// Removes this target's orphans from the app (each after the removal's own fresh look).
    /// True when, instead, a concurrent attempt of the rotation `ctx` names turns out to have
    /// stored its credential since the stages were read: then the caller follows it.
    pub(crate) async fn sweep_orphans(
        &self,
        step: Step,
        ctx: &StepContext,
        info: &SecretInfo,
        app: &AppRef,
        application: &Application,
        current: (&str, &TargetDocument),
    ) -> Result<bool, RotationError> {
        let ledger = self
            .ledger(step, &ctx.secret_id, info, &[current], application)
            .await?;
        let (now, min_age) = (self.clock.now(), self.policy.orphan_min_age);
        // A credential named for this token but held by no version is a crashed earlier attempt's
        // only once the token is known spent: until then it may be another process's, between
        // its addPassword and its PutSecretValue, and counts like any other young credential.
        let spent = if ledger.young_of_token(application, &ctx.token, now, min_age) {
            match self.token_spent(step, ctx).await? {
                Some(spent) => spent,
                None => {
                    self.note(step, &format!("a concurrent attempt stored the new secret in version {}; following it", ctx.token));
                    return Ok(true);
                }
            }
        } else {
            false
        };
        for orphan in ledger.orphans(
            application,
            spent.then_some(ctx.token.as_str()),
            now,
            min_age,
        ) {
            match self
                .remove_for(step, ctx, app, &orphan.key_id, &[current], None)
                .await
            {
                Ok(()) => self.note(
                    step,
                    &format!(
                        "removed orphaned credential {} left by an interrupted rotation",
                        orphan.key_id
                    ),
                ),
                // Stored under this very token since the stages were read: a concurrent attempt
                // of this rotation got there first.
                Err(NotRemoved::Held { version, .. }) if version == ctx.token => {
                    self.note(step, &format!("a concurrent attempt stored credential {} for this rotation; following it", orphan.key_id));
                    return Ok(true);
                }
                // Stored since the ledger was read: not an orphan after all.
                Err(NotRemoved::Held { why, .. }) => self.note(step, &why),
                Err(NotRemoved::Failed(e)) => return Err(e),
            }
        }
        Ok(false)
    }

    /// True when the token is spent: its version holds a value but no label (an attempt that
    /// was rolled back), so no attempt can store a credential of its own under it any more.
    /// `None` when the version holds a value and is labelled: a concurrent attempt of this
    /// rotation stored it since the stages were read, and this one follows it.
    async fn token_spent(
        &self,
        step: Step,
        ctx: &StepContext,
    ) -> Result<Option<bool>, RotationError> {
        match self.store.value(&ctx.secret_id, &ctx.token).await {
            Ok(Some(_)) => {}
            Ok(None) | Err(crate::ports::StoreError::NotFound { .. }) => return Ok(Some(false)),
            Err(e) => return Err(RotationError::store(step, e)),
        }
        let info = self
            .store
            .describe(&ctx.secret_id)
            .await
            .map_err(|e| RotationError::store(step, e))?;
        Ok((!info.versions.contains_key(&ctx.token)).then_some(true))
    }

    /// The ledger of `secret_id`: the key ids its labelled versions hold. `known` are versions
    /// already read (their documents); the others are read only when the app holds a credential
    /// of this target that the known ones do not account for (no such credential, no orphan:
    /// nothing more to read).
    pub(crate) async fn ledger(
        &self,
        step: Step,
        secret_id: &str,
        info: &SecretInfo,
        known: &[(&str, &TargetDocument)],
        app: &Application,
    ) -> Result<Ledger, RotationError> {
        let mut ledger = Ledger {
            complete: true,
            tag: super::target_tag(&info.arn),
            ..Default::default()
        };
        for (_, doc) in known {
            if let Some(k) = &doc.entra.key_id {
                ledger.held.insert(k.to_lowercase());
            }
        }
        let unaccounted = app.passwords.iter().any(|c| {
            is_ours_for(c.display_name.as_deref(), &ledger.tag)
                && !ledger.held.contains(&c.key_id.to_lowercase())
        });
        if !unaccounted {
            return Ok(ledger);
        }
        for stage in [AWSCURRENT, AWSPENDING, AWSPREVIOUS] {
            let Some(version) = info.version_with(stage) else {
                continue;
            };
            if known.iter().any(|(v, _)| *v == version) {
                continue;
            }
            let value = self
                .store
                .value(secret_id, version)
                .await
                .map_err(|e| RotationError::store(step, e))?;
            let Some(value) = value else { continue };
            match TargetDocument::parse(value.expose_secret()) {
                Ok(doc) => {
                    if let Some(k) = &doc.entra.key_id {
                        ledger.held.insert(k.to_lowercase());
                    }
                }
                Err(e) => {
                    tracing::warn!(step = %step, "version {version} ({stage}) is unreadable, so no credential counts as an orphan: {e}");
                    ledger.complete = false;
                }
            }
        }
        Ok(ledger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn cred(key: &str, name: &str, age_min: i64) -> PasswordCredential {
        PasswordCredential {
            key_id: key.into(),
            display_name: Some(name.into()),
            start: Some(Utc::now() - Duration::minutes(age_min)),
            end: None,
            hint: None,
        }
    }

    #[test]
    fn only_unheld_credentials_of_this_target_are_orphans_and_young_ones_only_for_a_spent_token() {
        let app = Application {
            object_id: "o".into(),
            client_id: "c".into(),
            display_name: None,
            passwords: vec![
                cred("held", "jamf-entra-rotator abcd1234 t1", 999),
                cred("old-orphan", "jamf-entra-rotator abcd1234 t0", 999),
                cred("young-other", "jamf-entra-rotator abcd1234 t9", 1),
                cred("young-mine", "jamf-entra-rotator abcd1234 t2", 1),
                cred("other-target", "jamf-entra-rotator ffff0000 t3", 999),
                cred("not-ours", "set by hand", 999),
            ],
        };
        let ledger = Ledger {
            held: ["held".to_string()].into(),
            complete: true,
            tag: "abcd1234".into(),
        };
        let keys: Vec<&str> = ledger
            .orphans(&app, Some("t2"), Utc::now(), Duration::minutes(10))
            .iter()
            .map(|c| c.key_id.as_str())
            .collect();
        assert_eq!(keys, ["old-orphan", "young-mine"]);
        // Not known to be spent: another process may still store it.
        let keys: Vec<&str> = ledger
            .orphans(&app, None, Utc::now(), Duration::minutes(10))
            .iter()
            .map(|c| c.key_id.as_str())
            .collect();
        assert_eq!(keys, ["old-orphan"]);
        assert!(ledger.young_of_token(&app, "t2", Utc::now(), Duration::minutes(10)));
        assert!(!ledger.young_of_token(&app, "t0", Utc::now(), Duration::minutes(10)));
        let incomplete = Ledger {
            complete: false,
            ..ledger
        };
        assert!(incomplete
            .orphans(&app, Some("t2"), Utc::now(), Duration::minutes(10))
            .is_empty());
    }
}
