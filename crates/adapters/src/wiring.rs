//! Builds the production engine from settings: Secrets Manager, SNS and the lease table
//! (DynamoDB, `LEASE_TABLE_NAME`) through the AWS SDK (standard credential chain;
//! `AWS_ENDPOINT_URL` honoured), Graph with the rotator's identity
//! per `ROTATOR_AUTH` (a client secret or certificate read from `ROTATOR_CREDENTIALS_SECRET_ID`,
//! or an AWS STS web identity token), Jamf targets over HTTPS. The CLI and the Lambda share it.

use crate::alert::LogAlerts;
use crate::clock::{SharedClock, SystemClock};
use crate::config::RotatorAuth;
use crate::config::Settings;
use crate::entra::{
    GraphDirectory, RotatorCredential, RotatorIdentity, RotatorSignIn, StsWebIdentityTokens,
};
use crate::lease_table::DynamoLeases;
use crate::ports::{Alerts, SecretStore, StoreError, AWSCURRENT};
use crate::rotation::{Engine, Policy};
use crate::secrets_manager::{load_aws_config, AwsSecretStore};
use crate::sns::SnsAlerts;
use std::sync::Arc;

/// Why the engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// Occurs when a required setting is missing.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Occurs when the rotator's credentials cannot be read.
    #[error("reading the rotator's credentials: {0}")]
    Store(#[from] StoreError),
    /// Occurs when the rotator's credentials are unusable.
    #[error("the rotator's credentials: {0}")]
    Identity(#[from] crate::ports::DirectoryError),
}

impl WiringError {
    /// True when trying again may succeed (throttling, a timeout, a service error): not a
    /// missing setting, a missing secret or an unusable credential.
    pub fn is_transient(&self) -> bool {
        match self {
            WiringError::Config(_) => false,
            WiringError::Store(e) => e.is_transient(),
            WiringError::Identity(e) => e.is_transient(),
        }
    }
}

/// The production adapters and the engine over them.
pub struct Wiring {
    /// Settings in force.
    pub settings: Settings,
    /// Secrets Manager.
    pub store: Arc<dyn SecretStore>,
    /// The engine.
    pub engine: Engine,
    /// The rotator's own document's secret id when it rotates its own secret (what
    /// [`own_secret_target`] says), found in the same read as its identity.
    pub own_secret: Option<String>,
}

/// Checks, without reading anything, the settings `ROTATOR_AUTH` needs: `ROTATOR_CLIENT_ID` for
/// `federated`, `ROTATOR_CREDENTIALS_SECRET_ID` for `client-secret` and `certificate`. The Lambda
/// calls it at init, so a missing setting still fails the init with a clear error although the
/// secret itself is only read at the first invocation.
pub fn check_rotator_settings(settings: &Settings) -> Result<(), crate::config::ConfigError> {
    match settings.rotator_auth {
        RotatorAuth::Federated => federated_client_id(settings).map(drop),
        _ => credentials_secret_id(settings).map(drop),
    }
}

fn federated_client_id(settings: &Settings) -> Result<String, crate::config::ConfigError> {
    settings
        .rotator_client_id
        .clone()
        .ok_or_else(|| crate::config::ConfigError::Missing {
            name: "ROTATOR_CLIENT_ID".into(),
            why:
                "ROTATOR_AUTH=federated signs in as that app registration (no secret holds its id)"
                    .into(),
        })
}

fn credentials_secret_id(settings: &Settings) -> Result<&str, crate::config::ConfigError> {
    settings
        .rotator_credentials_secret_id
        .as_deref()
        .ok_or_else(|| crate::config::ConfigError::Missing {
            name: "ROTATOR_CREDENTIALS_SECRET_ID".into(),
            why: match settings.rotator_auth {
                RotatorAuth::Certificate => {
                    "ROTATOR_AUTH=certificate signs with the private key stored there"
                }
                _ => "the rotator signs in to Microsoft Graph with the client secret stored there",
            }
            .into(),
        })
}

/// The rotator's identity per `ROTATOR_AUTH`: `client-secret` and `certificate` read their
/// secret (`ROTATOR_CREDENTIALS_SECRET_ID`); `federated` reads nothing and asks AWS STS (the
/// standard SDK configuration, `AWS_ENDPOINT_URL_STS` honoured) for a token at each sign-in.
pub async fn rotator_identity(
    settings: &Settings,
    store: &dyn SecretStore,
) -> Result<RotatorSignIn, WiringError> {
    Ok(read_rotator(settings, store, None).await?.0)
}

/// The rotator's identity and, when its secret is its own target document (self-rotation, see
/// [`own_secret_target`]), that secret's id: one `GetSecretValue` for both. `sdk`: the AWS
/// configuration already loaded, if any (`federated` builds its STS client from it).
async fn read_rotator(
    settings: &Settings,
    store: &dyn SecretStore,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<(RotatorSignIn, Option<String>), WiringError> {
    if settings.rotator_auth == RotatorAuth::Federated {
        let client_id = federated_client_id(settings)?;
        let sts = match sdk {
            Some(sdk) => aws_sdk_sts::Client::new(sdk),
            None => aws_sdk_sts::Client::new(&load_aws_config(settings.http_timeout).await),
        };
        let tokens = StsWebIdentityTokens::new(sts);
        return Ok((
            RotatorSignIn {
                client_id,
                credential: RotatorCredential::Federated(Arc::new(tokens)),
            },
            None,
        ));
    }
    let id = credentials_secret_id(settings)?;
    let (_, value) = store
        .value_at(id, AWSCURRENT)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("{id} (AWSCURRENT)"),
        })?;
    let client_id = settings.rotator_client_id.as_deref();
    let signin = match settings.rotator_auth {
        RotatorAuth::Certificate => RotatorSignIn::from_certificate_secret(client_id, &value)?,
        _ => RotatorIdentity::from_secret_value(client_id, &value)?.into(),
    };
    Ok((signin, own_document(settings, id, &value)))
}

/// Builds the engine over the real adapters.
pub async fn from_settings(settings: Settings) -> Result<Wiring, WiringError> {
    let sdk = load_aws_config(settings.http_timeout).await;
    let store: Arc<dyn SecretStore> = Arc::new(AwsSecretStore::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
    ));
    let clock: SharedClock = Arc::new(SystemClock);
    let (identity, own_secret) = read_rotator(&settings, store.as_ref(), Some(&sdk)).await?;
    let alerts: Arc<dyn Alerts> = match &settings.alert_topic_arn {
        Some(arn) => Arc::new(SnsAlerts::new(aws_sdk_sns::Client::new(&sdk), arn.clone())),
        None => Arc::new(LogAlerts),
    };
    let engine = with_lease_table(
        Engine::new(
            Arc::new(GraphDirectory::new(&settings, identity, clock.clone())),
            Arc::new(crate::jamf::JamfTargets::new(
                store.clone(),
                settings.clone(),
                clock.clone(),
            )),
            store.clone(),
            alerts,
            clock,
            Policy::from_settings(&settings),
        ),
        &settings,
        &sdk,
    );
    Ok(Wiring {
        settings,
        store,
        engine,
        own_secret,
    })
}

/// The engine with its leases in the table `LEASE_TABLE_NAME`. Without the setting the leases
/// stay in this process's memory, which keeps apart only the attempts of this process: said
/// loudly, since the deployment (template.yaml) always sets it.
fn with_lease_table(engine: Engine, settings: &Settings, sdk: &aws_config::SdkConfig) -> Engine {
    match &settings.lease_table_name {
        Some(table) => engine.with_leases(Arc::new(DynamoLeases::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table.clone(),
        ))),
        None => {
            tracing::warn!("LEASE_TABLE_NAME is not set: rotations in other processes are not kept apart from this one's (set it to the deployment's lease table)");
            engine
        }
    }
}

/// The rotator's own document, when it rotates its own secret: with `ROTATOR_AUTH=client-secret`
/// and a `rotator` document (not a plain secret) in `ROTATOR_CREDENTIALS_SECRET_ID`, that secret id.
pub async fn own_secret_target(settings: &Settings, store: &dyn SecretStore) -> Option<String> {
    if settings.rotator_auth != RotatorAuth::ClientSecret {
        return None;
    }
    let id = settings.rotator_credentials_secret_id.as_deref()?;
    let (_, value) = store.value_at(id, AWSCURRENT).await.ok()??;
    own_document(settings, id, &value)
}

/// `id` when its value `value` is the rotator's own target document and the rotator signs in with
/// a client secret.
fn own_document(settings: &Settings, id: &str, value: &secrecy::SecretString) -> Option<String> {
    if settings.rotator_auth != RotatorAuth::ClientSecret {
        return None;
    }
    use secrecy::ExposeSecret;
    let doc = crate::document::TargetDocument::parse(value.expose_secret()).ok()?;
    (doc.jamf.target == crate::document::TargetKind::Rotator).then(|| id.to_string())
}
