//! `sim --fleet N`: beside the seeded target, N more, none due: each its own app registration in
//! the stand-in tenant and its own document in Secrets Manager, tagged so that a deployment finds
//! them by tag (`TARGET_TAG_KEY`, `TARGET_TAG_VALUE`). scripts/bench-fleet measures the function
//! checking them (docs/PERFORMANCE.md, "Fleets").

use crate::setup::SetupError;
use aws_sdk_secretsmanager::types::Tag;
use rotator_engine::document::TargetDocument;
use rotator_engine::ports::AWSCURRENT;
use rotator_testkit::world::{World, TENANT_ID};
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinSet;

/// The tag every fleet target carries; its value is the seeded target's name.
pub const FLEET_TAG_KEY: &str = "jamf-entra-rotator-sim-fleet";

/// Secrets Manager writes in flight at once while seeding.
const WRITES_AT_ONCE: usize = 16;

/// Adds `n` apps to the world's tenant (the rotator owns each, one secret expiring in 90 days)
/// and writes a target document for each, like the seeded one, named `<seed>/fleet/<i>` and
/// tagged [`FLEET_TAG_KEY`] = `<seed>`.
pub async fn seed_fleet(
    world: &World,
    client: &aws_sdk_secretsmanager::Client,
    n: usize,
) -> Result<(), SetupError> {
    let template = world
        .store
        .value_at(&world.secret_id, AWSCURRENT)
        .await?
        .ok_or_else(|| SetupError::Fleet(format!("{} has no AWSCURRENT", world.secret_id)))?;
    let template = TargetDocument::parse(template.1.expose_secret())?;
    let mut writes = JoinSet::new();
    for i in 0..n {
        if writes.len() >= WRITES_AT_ONCE {
            write_ended(writes.join_next().await)?;
        }
        let name = format!("{}/fleet/{i}", world.secret_id);
        let value = fleet_document(world, &template, i).to_secret();
        let (client, seed) = (client.clone(), world.secret_id.clone());
        writes.spawn(async move { create_tagged(&client, &name, &value, &seed).await });
    }
    while let Some(result) = writes.join_next().await {
        write_ended(Some(result))?;
    }
    Ok(())
}

/// The template's document for a new app of the world's tenant.
fn fleet_document(world: &World, template: &TargetDocument, i: usize) -> TargetDocument {
    let app = world
        .entra
        .add_app(TENANT_ID, &format!("Jamf Pro fleet {i}"));
    world
        .entra
        .make_owner(&world.rotator_client_id, &app.object_id);
    let expires = chrono::Utc::now() + chrono::Duration::days(90);
    let (key_id, secret) = world
        .entra
        .seed_password(&app.object_id, "set by hand", expires);
    let mut doc = template.clone();
    doc.entra.client_id = app.client_id;
    doc.entra.application_object_id = Some(app.object_id);
    doc.entra.client_secret = secret;
    doc.entra.key_id = Some(key_id);
    doc.entra.expires_at = Some(expires);
    doc
}

/// `CreateSecret` of `name` holding `value`, tagged [`FLEET_TAG_KEY`] = `seed`.
async fn create_tagged(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &SecretString,
    seed: &str,
) -> Result<(), SetupError> {
    client
        .create_secret()
        .name(name)
        .secret_string(value.expose_secret())
        .tags(Tag::builder().key(FLEET_TAG_KEY).value(seed).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| SetupError::Fleet(format!("CreateSecret {name}: {}", e.into_service_error())))
}

/// The outcome of a write that ended (`None`: there was none left).
fn write_ended(
    joined: Option<Result<Result<(), SetupError>, tokio::task::JoinError>>,
) -> Result<(), SetupError> {
    match joined {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(SetupError::Fleet(format!("a write crashed: {e}"))),
        None => Ok(()),
    }
}
