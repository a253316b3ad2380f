//! What Secrets Manager holds: the key ids of the credentials stored in the labelled versions.
//! A credential of ours that no labelled version holds is an orphan (its secret was never
//! stored, or the rotation that made it was rolled back): nobody can use it, so it is removed.

use super::{is_ours_for, Engine, RotationError, Step};
use crate::document::TargetDocument;
use crate::ports::{
    Application, PasswordCredential, SecretInfo, AWSCURRENT, AWSPENDING, AWSPREVIOUS,
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
    /// Credentials of ours that no labelled version holds. `token` names the credential an
    /// earlier attempt of this very rotation created (always an orphan when not held); others
    /// count only once older than `min_age`, since a younger one may belong to a rotation in
    /// flight in another process.
    pub fn orphans<'a>(
        &self,
        app: &'a Application,
        token: Option<&str>,
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
                let this_rotation = token.is_some_and(|t| {
                    c.display_name.as_deref() == Some(super::credential_name(&self.tag, t).as_str())
                });
                let old = c.start.is_none_or(|s| now - s >= min_age);
                this_rotation || old
            })
            .collect()
    }
}

impl Engine {
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
    fn only_unheld_credentials_of_this_target_are_orphans_and_young_ones_only_for_this_token() {
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
        let incomplete = Ledger {
            complete: false,
            ..ledger
        };
        assert!(incomplete
            .orphans(&app, Some("t2"), Utc::now(), Duration::minutes(10))
            .is_empty());
    }
}
