//! `discover`: read-only onboarding. Given a Jamf Pro server and credentials for it, finds which
//! Entra app registrations Jamf Pro uses (mail through Microsoft Graph: the SMTP server's
//! `GRAPH_API` credentials; the Microsoft Intune integration: its settings page, read with a
//! user account), looks each app up in Graph as the rotator, lists its client secrets, says which
//! one Jamf Pro holds where that can be told, what the rotator cannot see (with the `az` command
//! that fixes it), and prints the `init` command of each integration no target manages yet.
//!
//! It changes nothing: Jamf Pro gets GET requests only, besides signing in and out; Graph gets
//! only `GET /applications`; Secrets Manager only reads. It never signs in with a client secret of
//! the apps (that would be sign-ins with secrets it does not own), so which secret Jamf Pro holds
//! is known only from a target document that names its key id.

mod lookup;
mod text;

pub use text::describe;

use crate::exit::{self, BadInput};
use chrono::{DateTime, Utc};
use rotator_adapters::jamf::{ConditionalAccessTarget, JamfClient, JamfCredentials};
use rotator_adapters::secrets_manager::{load_aws_config, AwsSecretStore};
use rotator_engine::config::{Cloud, Settings};
use rotator_engine::document::TargetKind;
use rotator_engine::ports::{
    AppRef, SecretStore, StoreError, TargetConfig, TargetError, AWSCURRENT,
};
use serde::Serialize;
use std::sync::Arc;

/// What `discover` was asked to read.
pub struct DiscoverRequest {
    /// Jamf Pro's base URL.
    pub jamf_url: url::Url,
    /// Secret holding Jamf API credentials (an API client, or a user account).
    pub jamf_credentials_secret_id: Option<String>,
    /// Secret holding the Jamf user account for the Conditional Access page.
    pub jamf_ui_credentials_secret_id: Option<String>,
    /// The Microsoft cloud of the apps.
    pub cloud: Cloud,
    /// The deployment's target secrets, or why they are not known.
    pub targets: Result<Vec<String>, String>,
}

/// What the output says about signing in with the apps' secrets, always.
pub const NO_SIGN_IN: &str = "not attempted: discover never signs in with a client secret of \
these apps (it owns none of them), so which one Jamf Pro holds is known only from a target \
document; `init` finds it by the hint of the secret you give it";

/// Everything `discover` found. Every field is always present (`null` when unknown), so scripts
/// can rely on the shape.
#[derive(Debug, Serialize)]
pub struct Discovery {
    /// The Jamf Pro server read.
    pub jamf_url: String,
    /// One entry per Jamf integration that can hold an Entra client secret.
    pub integrations: Vec<Integration>,
    /// Where the list of managed targets came from, or why it is unknown.
    pub managed_targets: String,
    /// Always [`NO_SIGN_IN`].
    pub secret_sign_in: &'static str,
    /// How many integrations could not be read or looked up (the CLI exits 1 then).
    pub problems: usize,
    /// How many of those Jamf Pro did not answer for (unreachable, throttled, a server error:
    /// the CLI exits 3 then, it could not run). Not in the JSON, whose shape stays as it was.
    #[serde(skip)]
    pub unreachable: usize,
}

/// What was found for one integration.
#[derive(Debug, Serialize)]
pub struct Integration {
    /// `smtp-graph` or `conditional-access`.
    pub target: &'static str,
    /// `uses-entra-app`, `not-configured` (reported, not an error), `not-read`, `failed`.
    pub state: &'static str,
    /// One line describing what Jamf Pro shows, or why it was not read.
    pub detail: String,
    /// Whether the integration is enabled in Jamf Pro.
    pub enabled: Option<bool>,
    /// The tenant Jamf Pro uses.
    pub tenant_id: Option<String>,
    /// The application (client) id Jamf Pro uses.
    pub client_id: Option<String>,
    /// The app as the rotator sees it in Graph.
    pub app: Option<AppFindings>,
    /// `yes`, `no`, or `unknown` (the deployment's targets were not named or not readable).
    pub managed: &'static str,
    /// The target secrets whose documents name this app and integration.
    pub managed_by: Vec<String>,
    /// The key id of the secret Jamf Pro holds, when a target document names it.
    pub jamf_holds_key_id: Option<String>,
    /// How that is known, or why it is not.
    pub jamf_holds: String,
    /// The `init` command that makes this integration a target (when not managed).
    pub init_command: Option<String>,
    /// True for an integration Microsoft no longer supports (legacy Conditional Access).
    pub legacy: bool,
    /// What to do about a legacy integration: the migration, and what the rotator does meanwhile.
    pub advice: Option<&'static str>,
}

/// The advice `discover` gives for Jamf's legacy macOS Conditional Access integration.
pub const CONDITIONAL_ACCESS_ADVICE: &str = "legacy: Microsoft has ended support for Jamf's macOS \
    Conditional Access integration, and Jamf Pro accepts no new configurations of it. Migrate to \
    Device Compliance (Jamf Pro: Settings > Global > Device Compliance), which holds no customer \
    client secret; then remove this integration and its target. Until then the rotator keeps \
    its secret from expiring.";

/// The app registration as Graph shows it to the rotator.
#[derive(Debug, Serialize)]
pub struct AppFindings {
    /// Whether the rotator could read it.
    pub visible: bool,
    /// Its object id.
    pub object_id: Option<String>,
    /// Its display name.
    pub display_name: Option<String>,
    /// Its client secrets (never a value: Graph does not return them).
    pub credentials: Vec<Credential>,
    /// Why it could not be read.
    pub error: Option<String>,
    /// The `az` command that makes the rotator an owner, when Graph refused or hid the app.
    pub owner_command: Option<String>,
}

/// One client secret of an app.
#[derive(Debug, Serialize)]
pub struct Credential {
    /// Its key id.
    pub key_id: String,
    /// Its display name.
    pub display_name: Option<String>,
    /// Start of validity.
    pub start: Option<DateTime<Utc>>,
    /// End of validity.
    pub end: Option<DateTime<Utc>>,
    /// Whole days until it expires (negative: expired).
    pub days_left: Option<i64>,
    /// Graph's hint: the secret's first three characters.
    pub hint: Option<String>,
    /// Whether Jamf Pro holds it (`null`: cannot be told).
    pub held_by_jamf: Option<bool>,
}

/// The deployment's target secrets, as `status` finds them: `ids` when given, else
/// `TARGET_SECRET_IDS` or the target tag; why they are unknown otherwise (never a guess).
pub async fn deployment_targets(
    settings: &Settings,
    ids: Vec<String>,
) -> Result<Vec<String>, String> {
    if !ids.is_empty() {
        return Ok(ids);
    }
    let targets = rotator_engine::fleet::Targets::from_env().map_err(|_| {
        "the deployment's targets were not named (TARGET_SECRET_IDS, TARGET_TAG_KEY or --secret-id)"
            .to_string()
    })?;
    targets
        .resolve(&store(settings).await)
        .await
        .map_err(|e| e.to_string())
}

async fn store(settings: &Settings) -> AwsSecretStore {
    AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(
        &load_aws_config(settings.http_timeout).await,
    ))
}

/// Prints a progress line on stderr, when asked to.
#[derive(Clone, Copy)]
struct Say(bool);

impl Say {
    fn line(self, msg: &str) {
        if self.0 {
            eprintln!("discover: {msg}");
        }
    }
}

/// One integration as read from Jamf Pro: its kind, the Jamf credentials secret that read it,
/// and what Jamf Pro showed.
type Read = (TargetKind, String, Result<TargetConfig, TargetError>);

/// Reads Jamf Pro and Graph and reports; `progress` lines go to stderr.
pub async fn discover(
    settings: &Settings,
    req: DiscoverRequest,
    progress: bool,
) -> anyhow::Result<Discovery> {
    let say = Say(progress);
    rotator_adapters::http::check_url(&req.jamf_url, settings.loopback_http)
        .map_err(|p| BadInput(format!("--jamf-url: {p}")))?;
    let store = store(settings).await;
    let found = read_jamf(settings, &req, &store, say).await?;

    let uses_app = |r: &Read| matches!(&r.2, Ok(c) if c.client_id.as_deref().is_some_and(|id| !id.trim().is_empty()));
    let directory = if found.iter().any(uses_app) {
        say.line("signing in to Microsoft Graph as the rotator");
        lookup::rotator_directory(settings, &store).await
    } else {
        Err("no integration uses an Entra app".into())
    };
    let documents = match &req.targets {
        Ok(ids) => {
            say.line(&format!("reading {} target document(s)", ids.len()));
            Ok(lookup::documents(&store, ids).await)
        }
        Err(why) => Err(why.clone()),
    };

    let unreachable = found
        .iter()
        .filter(|(_, _, read)| {
            read.as_ref()
                .is_err_and(|e| exit::target(e) == exit::Kind::Unavailable)
        })
        .count();
    let mut integrations = Vec::new();
    for (kind, credentials_id, read) in found {
        let mut item = integration(kind, read);
        if item.state == "uses-entra-app" {
            let app = AppRef {
                cloud: req.cloud,
                tenant_id: item.tenant_id.clone().unwrap_or_default(),
                client_id: item.client_id.clone().unwrap_or_default(),
                object_id: None,
            };
            say.line(&format!("looking up app {} in Graph", app.client_id));
            item.app = Some(match &directory {
                Ok((graph, rotator)) => lookup::lookup(graph.as_ref(), &app, rotator).await,
                Err(why) => lookup::not_looked_up(why),
            });
            lookup::managed(&mut item, &req.jamf_url, &documents);
            if item.managed != "yes" {
                let command = text::init_command(settings, &req, kind, &credentials_id, &app);
                item.init_command = Some(command);
            }
        }
        integrations.push(item);
    }
    let problems = integrations
        .iter()
        .filter(|i| i.state == "failed" || i.app.as_ref().is_some_and(|a| !a.visible))
        .count();
    Ok(Discovery {
        jamf_url: req.jamf_url.to_string(),
        integrations,
        managed_targets: match &documents {
            Ok(docs) => format!("{} target document(s) read", docs.len()),
            Err(why) => format!("unknown: {why}"),
        },
        secret_sign_in: NO_SIGN_IN,
        problems,
        unreachable,
    })
}

/// Reads both integrations from Jamf Pro: the SMTP server through the API (an API client, or a
/// user account's token), the Intune integration's page with a user account (reported
/// `not-read` without one). GETs only, besides signing in and out.
async fn read_jamf(
    settings: &Settings,
    req: &DiscoverRequest,
    store: &dyn SecretStore,
    say: Say,
) -> anyhow::Result<Vec<Read>> {
    let api = match &req.jamf_credentials_secret_id {
        Some(id) => Some((
            id.clone(),
            jamf_credentials(store, id, &req.jamf_url).await?,
        )),
        None => None,
    };
    let ui = match &req.jamf_ui_credentials_secret_id {
        Some(id) => {
            let creds = jamf_credentials(store, id, &req.jamf_url).await?;
            if !creds.is_user() {
                return Err(BadInput(format!(
                    "--jamf-ui-credentials-secret-id: {id} holds an API client; the Conditional \
                     Access page needs a user account {{\"username\",\"password\"}}"
                ))
                .into());
            }
            Some((id.clone(), creds))
        }
        // A user account given for the API also opens the web UI.
        None => api.clone().filter(|(_, c)| c.is_user()),
    };
    let client = |creds: JamfCredentials| {
        let clock = Arc::new(rotator_engine::clock::SystemClock);
        JamfClient::new(&req.jamf_url, creds, settings, clock)
            .map_err(|e| BadInput(format!("--jamf-url: {e}")))
    };
    let Some((api_id, api_creds)) = api.or_else(|| ui.clone()) else {
        return Err(BadInput(
            "pass --jamf-credentials-secret-id (a Jamf API client or user account) and/or \
             --jamf-ui-credentials-secret-id (a user account, for the Conditional Access page)"
                .into(),
        )
        .into());
    };
    say.line("reading the SMTP server settings (GET /api/v2/smtp-server)");
    let jamf = client(api_creds)?;
    let smtp = jamf.smtp_server().await;
    let _ = jamf.close().await;
    let smtp = smtp.map(|s| rotator_adapters::jamf::smtp::describe(&s));
    let page = match ui {
        Some((ui_id, creds)) => {
            say.line("reading the Conditional Access settings page (GET, with the user account)");
            let read = ConditionalAccessTarget::read_settings(client(creds)?).await;
            (TargetKind::ConditionalAccess, ui_id, read)
        }
        None => (
            TargetKind::ConditionalAccess,
            String::new(),
            Err(TargetError::Config(NO_UI_ACCOUNT.into())),
        ),
    };
    Ok(vec![(TargetKind::SmtpGraph, api_id, smtp), page])
}

const NO_UI_ACCOUNT: &str = "not read: Jamf Pro has no API for these settings, and no user \
account was given (pass --jamf-ui-credentials-secret-id)";

/// The Jamf credentials `id` holds, bound to `jamf_url`: credentials of another server are never
/// sent to this one.
async fn jamf_credentials(
    store: &dyn SecretStore,
    id: &str,
    jamf_url: &url::Url,
) -> anyhow::Result<JamfCredentials> {
    let (_, value) = store
        .value_at(id, AWSCURRENT)
        .await
        .map_err(|e| match e {
            e @ StoreError::NotFound { .. } => BadInput(format!(
                "the Jamf credentials secret {id} cannot be read: {e}"
            ))
            .into(),
            // Secrets Manager unreachable or refusing: the error's own kind (exit 3).
            e => anyhow::Error::new(e)
                .context(format!("the Jamf credentials secret {id} cannot be read")),
        })?
        .ok_or_else(|| BadInput(format!("the Jamf credentials secret {id} has no value")))?;
    Ok(JamfCredentials::parse_bound(&value, id, jamf_url).map_err(|e| BadInput(e.to_string()))?)
}

/// The integration as Jamf Pro showed it.
fn integration(kind: TargetKind, read: Result<TargetConfig, TargetError>) -> Integration {
    let mut item = Integration {
        target: kind.as_str(),
        state: "failed",
        detail: String::new(),
        enabled: None,
        tenant_id: None,
        client_id: None,
        app: None,
        managed: "unknown",
        managed_by: Vec::new(),
        jamf_holds_key_id: None,
        jamf_holds: String::new(),
        init_command: None,
        legacy: false,
        advice: None,
    };
    match read {
        Ok(c) => {
            let client_id = c.client_id.filter(|id| !id.trim().is_empty());
            item.state = if client_id.is_some() {
                "uses-entra-app"
            } else {
                "not-configured"
            };
            item.detail = c.detail;
            item.enabled = Some(c.enabled);
            item.tenant_id = c.tenant_id.filter(|t| !t.trim().is_empty());
            item.client_id = client_id;
        }
        Err(TargetError::Config(why)) if why == NO_UI_ACCOUNT => {
            item.state = "not-read";
            item.detail = why;
        }
        Err(e) => item.detail = e.to_string(),
    }
    if item.state != "uses-entra-app" {
        item.managed = "no";
    } else if kind == TargetKind::ConditionalAccess {
        item.legacy = true;
        item.advice = Some(CONDITIONAL_ACCESS_ADVICE);
    }
    item
}
