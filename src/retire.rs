//! `retire`: removes one client secret from a target's app on the operator's word, such as the
//! unknown credential Jamf Pro used before `init --fresh` (which `discover` and `status` list).
//! Never the credential the target's `AWSCURRENT` (or a rotation's `AWSPENDING`) holds; a
//! credential the rotator did not make for this target only with `--yes`.

use crate::exit::BadInput;
use anyhow::Result;
use rotator_engine::document::TargetDocument;
use rotator_engine::ports::{AppRef, AWSCURRENT, AWSPENDING};
use rotator_engine::rotation::{is_ours_for, target_tag, Engine};
use secrecy::ExposeSecret;
use serde::Serialize;

/// What `retire` removed.
#[derive(Debug, Serialize)]
pub struct Retired {
    /// The target's secret.
    pub secret_id: String,
    /// The credential removed.
    pub key_id: String,
    /// Its display name.
    pub display_name: Option<String>,
}

/// Removes credential `key_id` from the app of target `secret_id`, or refuses, changing nothing.
pub async fn retire(engine: &Engine, secret_id: &str, key_id: &str, yes: bool) -> Result<Retired> {
    let store = &engine.store;
    let info = store.describe(secret_id).await?;
    let mut held = Vec::new();
    for stage in [AWSCURRENT, AWSPENDING] {
        if let Some((_, value)) = store.value_at(secret_id, stage).await? {
            held.push((stage, TargetDocument::parse(value.expose_secret())?));
        }
    }
    let Some((_, current)) = held.iter().find(|(stage, _)| *stage == AWSCURRENT) else {
        return Err(BadInput(format!("{secret_id} holds no AWSCURRENT document")).into());
    };
    for (stage, doc) in &held {
        if doc
            .entra
            .key_id
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(key_id))
        {
            return Err(BadInput(format!(
                "credential {key_id} is the one {secret_id}'s {stage} holds (Jamf Pro uses it, or a rotation is putting it in): retire refuses it; rotate instead"
            ))
            .into());
        }
    }
    let app = AppRef::of(current);
    let application = engine.directory.application(&app).await?;
    let Some(credential) = application
        .passwords
        .iter()
        .find(|c| c.key_id.eq_ignore_ascii_case(key_id))
    else {
        return Err(BadInput(format!(
            "the app {} has no credential {key_id}; nothing was changed",
            current.entra.client_id
        ))
        .into());
    };
    let name = credential.display_name.clone();
    if !is_ours_for(name.as_deref(), &target_tag(&info.arn)) && !yes {
        return Err(BadInput(format!(
            "credential {key_id} ({:?}) was not made by the rotator for {secret_id}: something else may use it. Nothing was changed; check (discover lists who uses what), then pass --yes",
            name.as_deref().unwrap_or("")
        ))
        .into());
    }
    engine
        .directory
        .remove_password(&app, &credential.key_id)
        .await?;
    Ok(Retired {
        secret_id: secret_id.to_string(),
        key_id: credential.key_id.clone(),
        display_name: name,
    })
}
