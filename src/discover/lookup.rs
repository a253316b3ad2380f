//! `discover`'s look-ups: the app in Graph as the rotator sees it, and the deployment's target
//! documents that tell whether an integration is managed and which key Jamf Pro holds.

use super::text::owner_command;
use super::{AppFindings, Credential, Integration};
use chrono::Utc;
use rotator_adapters::entra::GraphDirectory;
use rotator_engine::config::{RotatorAuth, Settings};
use rotator_engine::document::TargetDocument;
use rotator_engine::ports::{AppRef, Directory, DirectoryError, SecretStore, AWSCURRENT};
use secrecy::ExposeSecret;
use std::sync::Arc;

/// The rotator's Graph client and its client id, or why there is none.
pub(super) async fn rotator_directory(
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

pub(super) fn not_looked_up(why: &str) -> AppFindings {
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
pub(super) async fn lookup(
    graph: &dyn Directory,
    app: &AppRef,
    rotator_client_id: &str,
) -> AppFindings {
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

/// The documents of the deployment's targets (unreadable ones skipped, with a warning).
pub(super) async fn documents(
    store: &dyn SecretStore,
    ids: &[String],
) -> Vec<(String, TargetDocument)> {
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
/// Whether a target document names this integration (same kind, same app, same Jamf Pro
/// server: an app shared by several servers is managed per server), and which key Jamf Pro holds.
pub(super) fn managed(
    item: &mut Integration,
    jamf_url: &url::Url,
    documents: &Result<Vec<(String, TargetDocument)>, String>,
) {
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
                && d.jamf
                    .url
                    .as_ref()
                    .is_some_and(|u| same_server(u, jamf_url))
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

/// Scheme, host and port name the same server (a context path or trailing slash does not matter).
fn same_server(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::same_server;

    #[test]
    fn one_server_is_scheme_host_and_port() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let server = u("https://acme.jamfcloud.com/");
        assert!(same_server(&server, &u("https://ACME.jamfcloud.com:443")));
        assert!(same_server(&server, &u("https://acme.jamfcloud.com/jamf/")));
        assert!(!same_server(&server, &u("https://other.jamfcloud.com/")));
        assert!(!same_server(
            &server,
            &u("https://acme.jamfcloud.com:8443/")
        ));
    }
}
