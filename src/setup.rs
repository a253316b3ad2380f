//! What the CLI's `init`, `status`/`check` output and `sim` need from the library: writing a
//! target's first document, describing a check report for people, and running the stand-ins.

use chrono::{DateTime, Utc};
use rotator_adapters::entra::GraphDirectory;
use rotator_adapters::secrets_manager::{load_aws_config, AwsSecretStore};
use rotator_engine::config::{Cloud, Settings};
use rotator_engine::document::{EntraSection, JamfSection, TargetDocument, TargetKind};
use rotator_engine::ports::{
    AppRef, Directory, RotateSecretRequest, SecretCheck, SecretStore, StoreError,
};
use rotator_engine::rotation::check::CheckReport;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::sync::Arc;

/// What `init` writes.
pub struct InitRequest {
    /// Secret to write.
    pub secret_id: String,
    /// Jamf Pro base URL.
    pub jamf_url: url::Url,
    /// Which integration.
    pub target: TargetKind,
    /// Where the Jamf credentials live.
    pub jamf_credentials_secret_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// Application object id, if known.
    pub application_object_id: Option<String>,
    /// Cloud.
    pub cloud: Cloud,
    /// Key id of the current secret, if known.
    pub key_id: Option<String>,
    /// smtp-graph: test mail recipient.
    pub test_recipient: Option<String>,
    /// The check's daily proof that Jamf Pro works (`jamf.daily_proof`).
    pub daily_proof: bool,
    /// The current client secret.
    pub client_secret: SecretString,
    /// Replace an existing document.
    pub overwrite: bool,
    /// The customer managed KMS key (id, ARN or alias) a new secret is encrypted with
    /// (`aws/secretsmanager` when absent).
    pub kms_key_id: Option<String>,
    /// Secrets Manager rotation to configure on the secret ([`RotationConfig::parse`]).
    pub rotation: Option<RotationConfig>,
    /// The tag that makes the secret one of the deployment's targets (key, value): the
    /// template's default names its targets by tag.
    pub tag: Option<(String, String)>,
}

impl InitRequest {
    /// The document `init` writes, with `client_secret`.
    pub fn document(&self, client_secret: SecretString) -> TargetDocument {
        TargetDocument {
            schema: 1,
            entra: EntraSection {
                cloud: self.cloud,
                tenant_id: self.tenant_id.clone(),
                client_id: self.client_id.clone(),
                application_object_id: self.application_object_id.clone(),
                client_secret,
                key_id: self.key_id.clone(),
                expires_at: None,
            },
            jamf: JamfSection {
                url: Some(self.jamf_url.clone()),
                target: self.target,
                credentials_secret_id: self.jamf_credentials_secret_id.clone(),
                test_recipient: self.test_recipient.clone(),
                page_path: None,
                secret_field: None,
                application_id_field: None,
                observation_secs: None,
                daily_proof: self.daily_proof,
            },
            rotation: None,
        }
    }
}

/// Secrets Manager rotation of a target's secret: the function Secrets Manager invokes for each
/// step (`RotationLambdaARN`), and an automatic schedule only when one is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationConfig {
    /// The rotation function's ARN.
    pub function_arn: String,
    /// `rate(…)` or `cron(…)`; `None`: no automatic rotation (the daily check, or an operator's
    /// `aws secretsmanager rotate-secret`, starts them).
    pub schedule: Option<String>,
}

impl RotationConfig {
    /// Checks `--rotation-function-arn` and `--rotation-schedule` (nothing to configure without
    /// a function); the error names what is wrong.
    pub fn parse(
        function_arn: Option<&str>,
        schedule: Option<&str>,
    ) -> Result<Option<RotationConfig>, SetupError> {
        let bad = |m: String| Err(SetupError::Mismatch(m));
        let Some(arn) = function_arn else {
            return match schedule {
                Some(_) => bad("--rotation-schedule needs --rotation-function-arn (the function Secrets Manager invokes)".into()),
                None => Ok(None),
            };
        };
        let parts: Vec<&str> = arn.split(':').collect();
        let is_function = parts.len() == 7
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "lambda"
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && parts[5] == "function"
            && !parts[6].is_empty();
        if !is_function {
            return bad("--rotation-function-arn must be a Lambda function's ARN (arn:aws:lambda:<region>:<account>:function:<name>)".into());
        }
        let schedule = schedule.map(str::trim);
        if let Some(s) = schedule
            .filter(|s| !((s.starts_with("rate(") || s.starts_with("cron(")) && s.ends_with(')')))
        {
            let shown: String = s.chars().take(40).collect();
            return bad(format!("--rotation-schedule \"{shown}\" must be rate(…) or cron(…), e.g. \"rate(30 days)\""));
        }
        Ok(Some(RotationConfig {
            function_arn: arn.to_string(),
            schedule: schedule.map(str::to_string),
        }))
    }
}

/// What `init` did.
#[derive(Debug, Serialize)]
pub struct InitOutcome {
    /// `created` or `replaced`.
    pub action: &'static str,
    /// The secret written.
    pub secret_id: String,
    /// The key id recorded.
    pub key_id: Option<String>,
    /// The expiry recorded.
    pub expires_at: Option<DateTime<Utc>>,
    /// The Secrets Manager rotation configured on the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationConfig>,
    /// The target tag put on the secret, `key=value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// Why `init` refused.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Occurs when the document would be invalid.
    #[error(transparent)]
    Document(#[from] rotator_engine::document::DocumentError),
    /// Occurs when Secrets Manager fails.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Occurs when Graph or the token endpoint fails.
    #[error(transparent)]
    Directory(#[from] rotator_engine::ports::DirectoryError),
    /// Occurs when the rotator's identity cannot be loaded.
    #[error(transparent)]
    Wiring(#[from] rotator_adapters::wiring::WiringError),
    /// Occurs when what was given does not match the app.
    #[error("{0}")]
    Mismatch(String),
    /// Occurs when `sim --fleet` cannot write its targets.
    #[cfg(feature = "sim")]
    #[error("the fleet could not be seeded: {0}")]
    Fleet(String),
}

/// `sim`'s extra targets (`--fleet`, with a seeded target only) and the latency of its stand-ins.
#[cfg(feature = "sim")]
#[derive(Debug, Clone, Copy, Default)]
pub struct SimFleet {
    /// Targets beside the seeded one, none due.
    pub targets: usize,
    /// Held before every answer of the stand-ins.
    pub latency: std::time::Duration,
}

/// Writes a target's document. When the rotator's credentials are configured, it first checks
/// against Entra that the app exists, that it accepts the given secret, and finds the secret's
/// key id (by its hint) and expiry; nothing is written when any of that fails.
pub async fn init(settings: &Settings, req: InitRequest) -> Result<InitOutcome, SetupError> {
    let store = aws_store(settings).await;
    let mut doc = req.document(req.client_secret.clone());
    doc.validate()?;
    check_budget(settings, &doc)?;
    if settings.rotator_credentials_secret_id.is_some()
        || settings.rotator_auth == rotator_engine::config::RotatorAuth::Federated
    {
        let identity = rotator_adapters::wiring::rotator_identity(settings, &store).await?;
        let graph = GraphDirectory::new(
            settings,
            identity,
            Arc::new(rotator_engine::clock::SystemClock),
        );
        resolve_credential(&graph, &mut doc).await?;
    } else if doc.entra.key_id.is_none() {
        return Err(SetupError::Mismatch(
            "pass --key-id, or configure the rotator's sign-in (ROTATOR_CREDENTIALS_SECRET_ID or ROTATOR_AUTH=federated) so init can look the key id up".into(),
        ));
    }
    let exists = existing(&store, &req).await?;
    write_document(&store, &req, &doc, exists).await
}

/// Refuses a target that could never rotate within Lambda's 900 s, with the arithmetic.
pub(crate) fn check_budget(settings: &Settings, doc: &TargetDocument) -> Result<(), SetupError> {
    match rotator_engine::rotation::budget::Budget::of(settings, doc)
        .never_fits(settings.rotation_mode)
    {
        Some(why) => Err(SetupError::Mismatch(format!(
            "this target could never rotate: {why}; nothing was written"
        ))),
        None => Ok(()),
    }
}

/// Secrets Manager, as `init` uses it.
pub(crate) async fn aws_store(settings: &Settings) -> AwsSecretStore {
    let sdk = load_aws_config(settings.http_timeout).await;
    AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(&sdk))
}

/// Whether `req`'s secret exists, when `init` may write it: a document is replaced only with
/// `--overwrite`, and a KMS key applies to a new secret only. Asked before anything is made.
pub(crate) async fn existing(
    store: &AwsSecretStore,
    req: &InitRequest,
) -> Result<bool, SetupError> {
    match store.describe(&req.secret_id).await {
        Ok(_) if !req.overwrite => Err(SetupError::Mismatch(format!(
            "secret {} already exists; pass --overwrite to replace its document",
            req.secret_id
        ))),
        Ok(_) if req.kms_key_id.is_some() => Err(SetupError::Mismatch(format!(
            "--kms-key-id applies to a new secret, and {} exists: change its key with `aws secretsmanager update-secret --secret-id {} --kms-key-id …`",
            req.secret_id, req.secret_id
        ))),
        Ok(_) => Ok(true),
        Err(StoreError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Writes `doc` as the secret's `AWSCURRENT` (a new secret unless `exists`), tags it as a
/// target when asked, and configures Secrets Manager rotation when asked.
pub(crate) async fn write_document(
    store: &AwsSecretStore,
    req: &InitRequest,
    doc: &TargetDocument,
    exists: bool,
) -> Result<InitOutcome, SetupError> {
    let action = if exists {
        store.put_current(&req.secret_id, &doc.to_secret()).await?;
        "replaced"
    } else {
        store
            .create_encrypted(
                &req.secret_id,
                &doc.to_secret(),
                "Jamf Pro's Entra client secret, rotated by jamf-entra-rotator",
                req.kms_key_id.as_deref(),
            )
            .await?;
        "created"
    };
    if let Some((key, value)) = &req.tag {
        // A tag, no new version: the deployment finds its targets by it.
        store.tag(&req.secret_id, key, value).await?;
    }
    if let Some(rotation) = &req.rotation {
        // The configuration only: no rotation starts now (Secrets Manager tries the function's
        // testSecret step on a copy of the document, which changes nothing).
        let request = RotateSecretRequest {
            token: None,
            function_arn: rotation.function_arn.clone(),
            schedule: rotation.schedule.clone(),
            rotate_immediately: false,
        };
        store.rotate_secret(&req.secret_id, &request).await?;
    }
    Ok(InitOutcome {
        action,
        secret_id: req.secret_id.clone(),
        key_id: doc.entra.key_id.clone(),
        expires_at: doc.entra.expires_at,
        rotation: req.rotation.clone(),
        tag: req.tag.as_ref().map(|(k, v)| format!("{k}={v}")),
    })
}

/// Finds the app, checks that Entra accepts the secret, and fills in key id, expiry, object id.
async fn resolve_credential(
    directory: &dyn Directory,
    doc: &mut TargetDocument,
) -> Result<(), SetupError> {
    let app = directory.application(&AppRef::of(doc)).await?;
    doc.entra.application_object_id = Some(app.object_id.clone());
    let scope = doc.entra.cloud.graph_scope();
    match directory
        .check_secret(&AppRef::of(doc), &doc.entra.client_secret, &scope)
        .await?
    {
        SecretCheck::Accepted => {}
        SecretCheck::Expired => {
            return Err(SetupError::Mismatch(
                "Entra reports the given client secret has expired".into(),
            ))
        }
        SecretCheck::NotAccepted => {
            return Err(SetupError::Mismatch(
                "Entra does not accept the given client secret for this app".into(),
            ))
        }
    }
    let secret = doc.entra.client_secret.expose_secret();
    let found: Vec<_> = match &doc.entra.key_id {
        Some(k) => app
            .passwords
            .iter()
            .filter(|c| c.key_id.eq_ignore_ascii_case(k))
            .collect(),
        None => app
            .passwords
            .iter()
            .filter(|c| {
                c.hint
                    .as_deref()
                    .is_some_and(|h| !h.is_empty() && secret.starts_with(h))
            })
            .collect(),
    };
    match found.as_slice() {
        [one] => {
            doc.entra.key_id = Some(one.key_id.clone());
            doc.entra.expires_at = one.end;
            Ok(())
        }
        [] => Err(SetupError::Mismatch(
            "no client secret on the app matches (key id or hint); pass --key-id".into(),
        )),
        _ => Err(SetupError::Mismatch(
            "several client secrets on the app share this secret's hint; pass --key-id".into(),
        )),
    }
}

/// A check report for people.
pub fn describe_check(r: &CheckReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", r.secret_id, r.target);
    let _ = writeln!(
        out,
        "  managed secret   {} expires {} ({} days; threshold {})",
        r.key_id.as_deref().unwrap_or("unknown"),
        r.expires_at
            .map(|e| e.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "unknown".into()),
        r.days_until_expiry
            .map(|d| d.to_string())
            .unwrap_or_else(|| "?".into()),
        r.threshold_days
    );
    let _ = writeln!(
        out,
        "  due              {}",
        if r.due { "yes" } else { "no" }
    );
    let _ = writeln!(
        out,
        "  action           {}",
        serde_json::to_value(r.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "  app credentials  {}", r.credentials.len());
    for c in &r.credentials {
        let _ = writeln!(
            out,
            "    {} {:<40} {}{}",
            c.key_id,
            c.display_name.as_deref().unwrap_or(""),
            c.expires_at
                .map(|e| e.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            if c.managed {
                "  (managed)"
            } else if c.ours {
                "  (ours)"
            } else {
                ""
            }
        );
    }
    for d in &r.drift {
        let _ = writeln!(out, "  drift            {}", d.detail);
    }
    if let Some(rot) = &r.rotation {
        let _ = writeln!(
            out,
            "  rotation         {:?}{}",
            rot.outcome,
            rot.error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    out
}

/// `sim`: runs the stand-ins until Ctrl-C, printing their URLs; with `seed`, writes a target into
/// Secrets Manager (`AWS_ENDPOINT_URL`) and prints the settings that point the CLI at it.
#[cfg(feature = "sim")]
pub async fn run_sim(
    seed: Option<String>,
    target: TargetKind,
    fleet: SimFleet,
    json: bool,
) -> Result<(), SetupError> {
    use rotator_testkit::world::{spawn_world, WorldOptions};
    let clock: rotator_engine::clock::SharedClock = Arc::new(rotator_engine::clock::SystemClock);
    let client = match &seed {
        Some(_) => Some(aws_sdk_secretsmanager::Client::new(
            &load_aws_config(std::time::Duration::from_secs(30)).await,
        )),
        None => None,
    };
    let store: Arc<dyn SecretStore> = match &client {
        Some(client) => Arc::new(AwsSecretStore::new(client.clone())),
        None => Arc::new(rotator_testkit::memory_store::MemoryStore::new()),
    };
    let name = seed
        .clone()
        .unwrap_or_else(|| "jamf-entra-rotator/sim".into());
    let mut opts = WorldOptions::new(clock, store, &name);
    opts.target = target;
    // A person watches in real time: a short notification window instead of a minute.
    opts.observation_secs = Some(5);
    let world = spawn_world(opts).await?;
    if let (Some(client), true) = (&client, fleet.targets > 0) {
        crate::sim_fleet::seed_fleet(&world, client, fleet.targets).await?;
    }
    world.entra.set_latency(fleet.latency);
    world.jamf.set_latency(fleet.latency);
    let info = serde_json::json!({
        "entra_url": world.entra.url().to_string(),
        "jamf_url": world.jamf.url().to_string(),
        "tenant_id": rotator_testkit::world::TENANT_ID,
        "app_client_id": world.app.client_id,
        "app_object_id": world.app.object_id,
        "secret_id": seed,
        "env": {
            "ENTRA_LOGIN_URL": world.entra.url().to_string(),
            "GRAPH_URL": world.entra.url().to_string(),
            "ALLOW_LOOPBACK_HTTP": "true",
            "ROTATOR_CLIENT_ID": world.rotator_client_id,
            "ROTATOR_CREDENTIALS_SECRET_ID": world.rotator_credentials_id,
            "SMTP_TEST_RECIPIENT": "it-alerts@example.com",
        },
        "fleet": {
            "targets": fleet.targets,
            "tag_key": crate::sim_fleet::FLEET_TAG_KEY,
            "tag_value": seed,
        },
    });
    if json {
        println!("{info}");
    } else {
        println!("Entra/Graph stand-in  {}", world.entra.url());
        println!("Jamf Pro stand-in     {}", world.jamf.url());
        if let Some(id) = &seed {
            println!("target secret         {id} (written to Secrets Manager)");
            println!("# point the CLI at them:");
            for (k, v) in info["env"].as_object().into_iter().flatten() {
                println!("export {k}={}", v.as_str().unwrap_or_default());
            }
        }
        println!("Ctrl-C stops them.");
    }
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

#[cfg(test)]
mod rotation_config_tests {
    use super::RotationConfig;

    const ARN: &str = "arn:aws:lambda:eu-west-1:111122223333:function:jamf-entra-rotator";

    #[test]
    fn a_rotation_function_is_configured_without_a_schedule_unless_one_is_given() {
        assert_eq!(RotationConfig::parse(None, None).unwrap(), None);
        let plain = RotationConfig::parse(Some(ARN), None).unwrap().unwrap();
        assert_eq!((plain.function_arn.as_str(), plain.schedule), (ARN, None));
        let scheduled = RotationConfig::parse(Some(ARN), Some("rate(30 days)"))
            .unwrap()
            .unwrap();
        assert_eq!(scheduled.schedule.as_deref(), Some("rate(30 days)"));
    }

    #[test]
    fn a_bad_rotation_function_or_schedule_is_refused_with_what_is_wrong() {
        let err = |arn: Option<&str>, schedule: Option<&str>| {
            RotationConfig::parse(arn, schedule)
                .unwrap_err()
                .to_string()
        };
        assert!(err(None, Some("rate(1 day)")).contains("needs --rotation-function-arn"));
        for arn in [
            "jamf-entra-rotator",
            "arn:aws:lambda:eu-west-1:1111:function:x",
            "arn:aws:sns:eu-west-1:111122223333:function:x",
            "arn:aws:lambda:eu-west-1:111122223333:layer:x",
        ] {
            assert!(
                err(Some(arn), None).contains("must be a Lambda function's ARN"),
                "{arn}"
            );
        }
        let e = err(Some(ARN), Some("every day"));
        assert!(
            e.contains("\"every day\" must be rate(…) or cron(…)"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    /// `init` refuses a target that could never rotate within Lambda's 900 s, with the
    /// arithmetic, before it reads or writes anything.
    #[tokio::test]
    async fn init_refuses_a_target_whose_budget_can_never_fit() {
        let settings = Settings {
            propagation_timeout: std::time::Duration::from_secs(600),
            ..Settings::default()
        };
        let request = InitRequest {
            secret_id: "jamf/never-fits".into(),
            jamf_url: url::Url::parse("https://example.jamfcloud.com").unwrap(),
            target: TargetKind::SmtpGraph,
            jamf_credentials_secret_id: "jamf/creds".into(),
            tenant_id: "contoso.onmicrosoft.com".into(),
            client_id: "11111111-1111-1111-1111-111111111111".into(),
            application_object_id: None,
            cloud: Cloud::Global,
            key_id: Some("33333333-3333-3333-3333-333333333333".into()),
            test_recipient: Some("it@example.com".into()),
            daily_proof: false,
            client_secret: SecretString::from("Zq8~verysecretvalue"),
            overwrite: false,
            kms_key_id: None,
            rotation: None,
            tag: None,
        };
        let e = init(&settings, request).await.unwrap_err().to_string();
        assert!(
            e.contains("600 s propagation (setSecret) + 330 s margin = 930 s > 900 s"),
            "{e}"
        );
        assert!(e.contains("nothing was written"), "{e}");
        assert!(!e.contains("verysecretvalue"), "{e}");
    }
}
