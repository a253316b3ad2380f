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

use crate::BadInput;
use chrono::{DateTime, Utc};
use rotator_adapters::entra::GraphDirectory;
use rotator_adapters::jamf::{ConditionalAccessTarget, JamfClient, JamfCredentials};
use rotator_adapters::secrets_manager::{load_aws_config, AwsSecretStore};
use rotator_engine::config::{Cloud, RotatorAuth, Settings};
use rotator_engine::document::{TargetDocument, TargetKind};
use rotator_engine::ports::{
    AppRef, Directory, DirectoryError, SecretStore, TargetConfig, TargetError, AWSCURRENT,
};
use secrecy::ExposeSecret;
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
}

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

/// Reads Jamf Pro and Graph and reports; `progress` lines go to stderr.
pub async fn discover(
    settings: &Settings,
    req: DiscoverRequest,
    progress: bool,
) -> anyhow::Result<Discovery> {
    let say = |msg: &str| {
        if progress {
            eprintln!("discover: {msg}");
        }
    };
    rotator_adapters::http::check_url(&req.jamf_url)
        .map_err(|p| BadInput(format!("--jamf-url: {p}")))?;
    if req.jamf_credentials_secret_id.is_none() && req.jamf_ui_credentials_secret_id.is_none() {
        return Err(BadInput(
            "pass --jamf-credentials-secret-id (a Jamf API client or user account) and/or \
             --jamf-ui-credentials-secret-id (a user account, for the Conditional Access page)"
                .into(),
        )
        .into());
    }
    let store = AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(
        &load_aws_config(settings.http_timeout).await,
    ));
    let api = match &req.jamf_credentials_secret_id {
        Some(id) => Some((id.clone(), jamf_credentials(&store, id).await?)),
        None => None,
    };
    let ui = match &req.jamf_ui_credentials_secret_id {
        Some(id) => {
            let creds = jamf_credentials(&store, id).await?;
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

    let mut found = Vec::new();
    // Mail: the documented API (an API client, or a user account's token).
    match api.clone().or_else(|| ui.clone()) {
        Some((secret_id, creds)) => {
            say("reading the SMTP server settings (GET /api/v2/smtp-server)");
            let jamf = client(creds)?;
            let read = jamf.smtp_server().await;
            let _ = jamf.close().await;
            let read = read.map(|s| rotator_adapters::jamf::smtp::describe(&s));
            found.push((TargetKind::SmtpGraph, secret_id, read));
        }
        None => unreachable!("one of the two credentials was checked above"),
    }
    // The Intune integration: the settings page, with a user account.
    match ui {
        Some((secret_id, creds)) => {
            say("reading the Conditional Access settings page (GET, with the user account)");
            let read = ConditionalAccessTarget::read_settings(client(creds)?).await;
            found.push((TargetKind::ConditionalAccess, secret_id, read));
        }
        None => found.push((
            TargetKind::ConditionalAccess,
            String::new(),
            Err(TargetError::Config(NO_UI_ACCOUNT.into())),
        )),
    }

    let uses_app = |r: &Result<TargetConfig, TargetError>| matches!(r, Ok(c) if c.client_id.as_deref().is_some_and(|id| !id.trim().is_empty()));
    let directory = if found.iter().any(|(_, _, r)| uses_app(r)) {
        say("signing in to Microsoft Graph as the rotator");
        rotator_directory(settings, &store).await
    } else {
        Err("no integration uses an Entra app".into())
    };
    let documents = match &req.targets {
        Ok(ids) => {
            say(&format!("reading {} target document(s)", ids.len()));
            Ok(documents(&store, ids).await)
        }
        Err(why) => Err(why.clone()),
    };

    let mut integrations = Vec::new();
    for (kind, credentials_id, read) in found {
        let mut item = integration(kind, read);
        if item.state == "uses-entra-app" {
            let (tenant, client_id) = (
                item.tenant_id.clone().unwrap_or_default(),
                item.client_id.clone().unwrap_or_default(),
            );
            say(&format!("looking up app {client_id} in Graph"));
            item.app = Some(match &directory {
                Ok((graph, rotator)) => {
                    let app = AppRef {
                        cloud: req.cloud,
                        tenant_id: tenant.clone(),
                        client_id: client_id.clone(),
                        object_id: None,
                    };
                    lookup(graph.as_ref(), &app, rotator).await
                }
                Err(why) => not_looked_up(why),
            });
            managed(&mut item, &documents);
            if item.managed != "yes" {
                item.init_command = Some(init_command(
                    settings,
                    &req,
                    kind,
                    &credentials_id,
                    &tenant,
                    &client_id,
                ));
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
    })
}

const NO_UI_ACCOUNT: &str = "not read: Jamf Pro has no API for these settings, and no user \
account was given (pass --jamf-ui-credentials-secret-id)";

async fn jamf_credentials(store: &dyn SecretStore, id: &str) -> anyhow::Result<JamfCredentials> {
    let (_, value) = store
        .value_at(id, AWSCURRENT)
        .await
        .map_err(|e| {
            BadInput(format!(
                "the Jamf credentials secret {id} cannot be read: {e}"
            ))
        })?
        .ok_or_else(|| BadInput(format!("the Jamf credentials secret {id} has no value")))?;
    Ok(JamfCredentials::parse(&value).map_err(|e| BadInput(format!("{id}: {e}")))?)
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
    }
    item
}

/// The rotator's Graph client and its client id, or why there is none.
async fn rotator_directory(
    settings: &Settings,
    store: &dyn SecretStore,
) -> Result<(Box<dyn Directory>, String), String> {
    if settings.rotator_credentials_secret_id.is_none()
        && settings.rotator_auth != RotatorAuth::Federated
    {
        return Err("the rotator's sign-in is not configured (set ROTATOR_CREDENTIALS_SECRET_ID, or ROTATOR_AUTH=federated with ROTATOR_CLIENT_ID)".into());
    }
    let identity = rotator_adapters::wiring::rotator_identity(settings, store)
        .await
        .map_err(|e| e.to_string())?;
    let client_id = identity.client_id.clone();
    let clock = Arc::new(rotator_engine::clock::SystemClock);
    Ok((
        Box::new(GraphDirectory::new(settings, identity, clock)),
        client_id,
    ))
}

fn not_looked_up(why: &str) -> AppFindings {
    AppFindings {
        visible: false,
        object_id: None,
        display_name: None,
        credentials: Vec::new(),
        error: Some(format!("not looked up in Graph: {why}")),
        owner_command: None,
    }
}

/// Reads the app in Graph (one GET).
async fn lookup(graph: &dyn Directory, app: &AppRef, rotator_client_id: &str) -> AppFindings {
    if app.tenant_id.is_empty() {
        return not_looked_up("Jamf Pro shows no tenant for it");
    }
    match graph.application(app).await {
        Ok(found) => {
            let now = Utc::now();
            AppFindings {
                visible: true,
                object_id: Some(found.object_id),
                display_name: found.display_name,
                credentials: found
                    .passwords
                    .into_iter()
                    .map(|p| Credential {
                        days_left: p.end.map(|e| (e - now).num_days()),
                        key_id: p.key_id,
                        display_name: p.display_name,
                        start: p.start,
                        end: p.end,
                        hint: p.hint,
                        held_by_jamf: None,
                    })
                    .collect(),
                error: None,
                owner_command: None,
            }
        }
        Err(
            e @ DirectoryError::Graph {
                status: 403 | 404, ..
            },
        ) => AppFindings {
            visible: false,
            object_id: None,
            display_name: None,
            credentials: Vec::new(),
            error: Some(format!(
                "{e}. Either the app is not in tenant {}, or the rotator may not see it: with \
                 Application.ReadWrite.OwnedBy it must be an owner of the app",
                app.tenant_id
            )),
            owner_command: Some(owner_command(&app.client_id, rotator_client_id)),
        },
        Err(e) => AppFindings {
            error: Some(format!("Graph refused: {e}")),
            ..not_looked_up("")
        },
    }
}

/// The `az` command (as scripts/setup-azure runs it) that makes the rotator's service principal
/// an owner of the app.
pub fn owner_command(app_client_id: &str, rotator_client_id: &str) -> String {
    format!(
        "az ad app owner add --id {} --owner-object-id \"$(az ad sp show --id {} --query id -o tsv)\"",
        shell_word(app_client_id),
        shell_word(rotator_client_id)
    )
}

/// The documents of the deployment's targets (unreadable ones skipped, with a warning).
async fn documents(store: &dyn SecretStore, ids: &[String]) -> Vec<(String, TargetDocument)> {
    let mut docs = Vec::new();
    for id in ids {
        match store.value_at(id, AWSCURRENT).await {
            Ok(Some((_, value))) => match TargetDocument::parse(value.expose_secret()) {
                Ok(doc) => docs.push((id.clone(), doc)),
                Err(e) => eprintln!("discover: {id} is not a target document: {e}"),
            },
            Ok(None) => eprintln!("discover: {id} has no {AWSCURRENT} value"),
            Err(e) => eprintln!("discover: {id} cannot be read: {e}"),
        }
    }
    docs
}

/// Whether a target document names this integration's app, and which key Jamf Pro holds.
fn managed(item: &mut Integration, documents: &Result<Vec<(String, TargetDocument)>, String>) {
    let client_id = item.client_id.clone().unwrap_or_default();
    let docs = match documents {
        Ok(docs) => docs,
        Err(why) => {
            item.managed = "unknown";
            item.jamf_holds = format!("unknown: whether a target manages it is unknown ({why})");
            return;
        }
    };
    let mine: Vec<&(String, TargetDocument)> = docs
        .iter()
        .filter(|(_, d)| {
            d.jamf.target.as_str() == item.target
                && d.entra.client_id.eq_ignore_ascii_case(&client_id)
        })
        .collect();
    item.managed_by = mine.iter().map(|(id, _)| id.clone()).collect();
    item.managed = if mine.is_empty() { "no" } else { "yes" };
    let named = mine
        .iter()
        .find_map(|(id, d)| Some((id, d.entra.key_id.clone()?)));
    match named {
        Some((id, key)) => {
            item.jamf_holds = format!("key id {key}, as the target document {id} records");
            if let Some(app) = item.app.as_mut().filter(|a| a.visible) {
                for c in &mut app.credentials {
                    c.held_by_jamf = Some(c.key_id.eq_ignore_ascii_case(&key));
                }
            }
            item.jamf_holds_key_id = Some(key);
        }
        None => {
            item.jamf_holds = "unknown: Jamf Pro never shows the secret it holds, and no target \
                document names its key id"
                .into()
        }
    }
}

/// The `init` command that makes the integration a target; the client secret comes from the
/// environment (`JER_CLIENT_SECRET`), never a flag.
fn init_command(
    settings: &Settings,
    req: &DiscoverRequest,
    kind: TargetKind,
    credentials_id: &str,
    tenant: &str,
    client_id: &str,
) -> String {
    let host = req.jamf_url.host_str().unwrap_or("jamf");
    let mut words = vec![
        "jamf-entra-rotator init --secret-id".to_string(),
        shell_word(&format!("jamf-entra-rotator/{host}/{}", kind.as_str())),
        "--jamf-url".into(),
        shell_word(req.jamf_url.as_str()),
        "--target".into(),
        kind.as_str().into(),
        "--jamf-credentials-secret-id".into(),
        shell_word(credentials_id),
        "--tenant-id".into(),
        shell_word(tenant),
        "--client-id".into(),
        shell_word(client_id),
    ];
    if req.cloud != Cloud::Global {
        words.extend(["--cloud".into(), req.cloud.as_str().into()]);
    }
    if kind == TargetKind::SmtpGraph && settings.smtp_test_recipient.is_none() {
        words.extend(["--test-recipient".into(), "RECIPIENT@EXAMPLE.COM".into()]);
    }
    words.join(" ")
}

/// `s` as one POSIX shell word: as is when it holds only safe characters, else single-quoted
/// (values read from a server must not become shell syntax in a printed command).
fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.:/@%+=,".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The discovery for a person.
pub fn describe(d: &Discovery) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "Jamf Pro {} (read only: GET requests besides signing in and out)\n",
        d.jamf_url
    );
    for i in &d.integrations {
        let _ = writeln!(out, "\n{} ({})", i.target, i.state);
        let _ = writeln!(out, "  Jamf Pro      {}", i.detail);
        if i.state != "uses-entra-app" {
            continue;
        }
        let _ = writeln!(
            out,
            "  app           client id {} in tenant {}{}",
            i.client_id.as_deref().unwrap_or("?"),
            i.tenant_id.as_deref().unwrap_or("?"),
            if i.enabled == Some(false) {
                " (integration disabled)"
            } else {
                ""
            }
        );
        if let Some(app) = &i.app {
            describe_app(&mut out, app);
        }
        let _ = writeln!(out, "  Jamf holds    {}", i.jamf_holds);
        let _ = writeln!(
            out,
            "  managed       {}{}",
            i.managed,
            if i.managed_by.is_empty() {
                String::new()
            } else {
                format!(" (by {})", i.managed_by.join(", "))
            }
        );
        if let Some(cmd) = &i.init_command {
            let _ = writeln!(
                out,
                "  to manage it  with JER_CLIENT_SECRET set to the secret Jamf Pro uses for it:\n    {cmd}"
            );
        }
    }
    let _ = writeln!(out, "\nmanaged targets: {}", d.managed_targets);
    let _ = writeln!(out, "sign-in with the apps' secrets: {}", d.secret_sign_in);
    let _ = writeln!(out, "nothing was changed");
    out
}

fn describe_app(out: &mut String, app: &AppFindings) {
    use std::fmt::Write;
    if !app.visible {
        let _ = writeln!(
            out,
            "  Entra         CANNOT SEE IT: {}",
            app.error.as_deref().unwrap_or("?")
        );
        if let Some(cmd) = &app.owner_command {
            let _ = writeln!(out, "  to fix it     {cmd}");
        }
        return;
    }
    let _ = writeln!(
        out,
        "  Entra         \"{}\" (object id {}), {} client secret(s)",
        app.display_name.as_deref().unwrap_or(""),
        app.object_id.as_deref().unwrap_or("?"),
        app.credentials.len()
    );
    let day = |t: Option<DateTime<Utc>>| t.map_or("-".into(), |t| t.format("%Y-%m-%d").to_string());
    for c in &app.credentials {
        let _ = writeln!(
            out,
            "    {}  {:<36}  {} .. {}  {:>5} days  hint {:<3}{}",
            c.key_id,
            c.display_name.as_deref().unwrap_or(""),
            day(c.start),
            day(c.end),
            c.days_left.map_or("?".into(), |d| d.to_string()),
            c.hint.as_deref().unwrap_or("-"),
            match c.held_by_jamf {
                Some(true) => "  <- Jamf Pro holds this one",
                _ => "",
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_a_server_stay_one_shell_word() {
        assert_eq!(
            shell_word("contoso.onmicrosoft.com"),
            "contoso.onmicrosoft.com"
        );
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("x;rm -rf /"), "'x;rm -rf /'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("$(id)"), "'$(id)'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn the_owner_command_names_the_app_and_the_rotators_service_principal() {
        assert_eq!(
            owner_command("app-1", "rot-2"),
            "az ad app owner add --id app-1 --owner-object-id \"$(az ad sp show --id rot-2 --query id -o tsv)\""
        );
    }
}
