//! `init --fresh`: onboarding without the secret Jamf Pro uses today (Jamf Pro never shows it).
//! A new client secret is made on the app, proven at Entra, written into Jamf Pro and proven
//! there by Jamf Pro's own test, and only then stored as the target's document. The old,
//! unknown credential stays on the app: `discover` lists it and `retire` removes it on the
//! operator's word.
//!
//! What a failure leaves:
//! - before Jamf Pro was written (the app or Jamf Pro unreadable, Entra never accepting the new
//!   secret, Jamf Pro refusing the write): the new credential is removed; nothing else changed;
//! - Jamf Pro took the new secret but its test failed: Jamf Pro no longer holds its old secret,
//!   and `init` knows no old secret to put back. The new credential is kept (Entra accepts it;
//!   removing it would leave Jamf Pro with a secret that no longer exists, a certain outage),
//!   nothing is stored, and the error names the credential and what to do;
//! - the document could not be stored after Jamf Pro passed its test: the same, for that cause.

use crate::setup::{self, InitOutcome, InitRequest};
use anyhow::{anyhow, Context, Result};
use rotator_adapters::secrets_manager::AwsSecretStore;
use rotator_engine::config::Settings;
use rotator_engine::ports::{AppRef, NewPassword, SecretHolder};
use rotator_engine::rotation::{credential_name, target_tag, Engine};
use secrecy::SecretString;

/// Where a proof of the new secret stopped.
enum Unproven {
    /// Before Jamf Pro was written: nothing but the new credential was made.
    BeforeWrite(anyhow::Error),
    /// Jamf Pro holds the new secret; its test failed.
    TestFailed(anyhow::Error),
}

/// Runs `init --fresh` for `req` (under `settings`) with `engine`'s Entra, Jamf Pro and clock, writing through
/// `store`. Everything `init` refuses (an existing secret without `--overwrite`, a bad document)
/// is refused before anything is made.
pub async fn init_fresh(
    settings: &Settings,
    engine: &Engine,
    store: &AwsSecretStore,
    req: InitRequest,
) -> Result<InitOutcome> {
    let exists = setup::existing(store, &req).await?;
    // A placeholder until the new secret exists; the document is checked before anything is made.
    let mut doc = req.document(SecretString::from("not-yet-made"));
    doc.validate()?;
    setup::check_budget(settings, &doc)?;
    let app = engine.directory.application(&AppRef::of(&doc)).await?;
    doc.entra.application_object_id = Some(app.object_id.clone());
    let app = AppRef::of(&doc);
    // Jamf Pro opened and read first: its credentials or URL failing cost no credential.
    let holder = engine.targets.open(&doc).await?;
    holder
        .inspect()
        .await
        .context("reading Jamf Pro before making a secret (nothing was changed)")?;
    let new = add_credential(engine, store, &req, &app, exists).await?;
    let key = new.credential.key_id.clone();
    let proven = prove(engine, holder.as_ref(), &app, &new.secret).await;
    holder.close().await;
    match proven {
        Ok(()) => {}
        Err(Unproven::BeforeWrite(e)) => return Err(discard(engine, &app, &key, e).await),
        Err(Unproven::TestFailed(e)) => return Err(e.context(test_failed(&req, &key))),
    }
    doc.entra.client_secret = new.secret;
    doc.entra.key_id = Some(key.clone());
    doc.entra.expires_at = new.credential.end;
    setup::write_document(store, &req, &doc, exists)
        .await
        .map_err(|e| anyhow::Error::new(e).context(not_stored(&req, &key)))
}

/// `addPassword`, named like the rotator's own credentials (for the target's tag, from its
/// secret's ARN when the secret exists; a new secret's ARN is not known before it is stored).
async fn add_credential(
    engine: &Engine,
    store: &AwsSecretStore,
    req: &InitRequest,
    app: &AppRef,
    exists: bool,
) -> Result<NewPassword> {
    use rotator_engine::ports::SecretStore;
    let arn = if exists {
        store.describe(&req.secret_id).await?.arn
    } else {
        req.secret_id.clone()
    };
    let now = engine.clock.now();
    let name = credential_name(
        &target_tag(&arn),
        &format!("init {}", now.format("%Y%m%dT%H%M%SZ")),
    );
    let end = now + chrono::Duration::days(engine.policy.secret_lifetime_days);
    Ok(engine.directory.add_password(app, &name, end).await?)
}

/// Waits until Entra accepts `secret` for the scope Jamf Pro uses, writes it into Jamf Pro and
/// runs Jamf Pro's test.
async fn prove(
    engine: &Engine,
    holder: &dyn SecretHolder,
    app: &AppRef,
    secret: &SecretString,
) -> Result<(), Unproven> {
    engine
        .wait_for_propagation(app, secret, &holder.scope())
        .await
        .map_err(|e| Unproven::BeforeWrite(e.into()))?;
    holder.install(secret).await.map_err(|e| {
        Unproven::BeforeWrite(anyhow::Error::new(e).context("writing the new secret into Jamf Pro"))
    })?;
    holder.verify().await.map_err(|e| {
        Unproven::TestFailed(anyhow::Error::new(e).context("Jamf Pro's test of the new secret"))
    })
}

/// Removes the credential `key` made for a proof that stopped before Jamf Pro was written, and
/// returns `error` saying so.
async fn discard(engine: &Engine, app: &AppRef, key: &str, error: anyhow::Error) -> anyhow::Error {
    match engine.directory.remove_password(app, key).await {
        Ok(()) => error.context(format!(
            "init --fresh stopped before writing Jamf Pro: nothing was changed (the new credential {key} was removed again)"
        )),
        Err(removal) => error.context(anyhow!(
            "init --fresh stopped before writing Jamf Pro, and the new credential {key} could not be removed ({removal}): Jamf Pro and Secrets Manager were not changed; remove it with `az ad app credential delete --id <app> --key-id {key}`"
        )),
    }
}

/// What Jamf Pro is left with when its test of the new secret failed.
fn test_failed(req: &InitRequest, key: &str) -> String {
    let (secret_id, app) = (&req.secret_id, &req.client_id);
    format!(
        "Jamf Pro now holds the new secret (credential {key}, which Entra accepts), but its test failed; the secret it held before is no longer in Jamf Pro and init cannot put it back (it never knew it). Nothing was stored in {secret_id}, and credential {key} is kept so that Jamf Pro is not left with a secret that no longer exists. What to do: fix the cause above and run init --fresh again (it makes and writes another secret), then remove credential {key} (`az ad app credential delete --id {app} --key-id {key}`)"
    )
}

/// What is left when Jamf Pro passed its test but the document could not be stored.
fn not_stored(req: &InitRequest, key: &str) -> String {
    let (secret_id, app) = (&req.secret_id, &req.client_id);
    format!(
        "Jamf Pro works with the new secret (credential {key}), but its document could not be stored in {secret_id}, so the rotator cannot manage it. What to do: fix the cause above and run init --fresh again, then remove credential {key} (`az ad app credential delete --id {app} --key-id {key}`)"
    )
}
