//! `probe`: what the `conditional-access` target would do on a server, changing nothing: one
//! login, one page load, one logout.

use super::ConditionalAccessTarget;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::document::{TargetDocument, TargetKind};
use crate::jamf::form::ControlKind;
use crate::jamf::web::WebSession;
use crate::ports::{SecretStore, TargetError, AWSCURRENT};
use serde::Serialize;
use std::sync::Arc;

/// One control as `probe` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeControl {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: ControlKind,
    /// The rendered value, `[redacted]` for passwords, controls named like a token (`csrf`,
    /// `_xsrf`, `nonce`, …) and hidden values shaped like one, whatever their name.
    pub value: String,
    /// Its label, when found.
    pub label: Option<String>,
    /// `client-secret`, `application-id` or `submit`, when it plays a part.
    pub role: Option<&'static str>,
}

/// What `probe` found on the page; nothing was changed.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The target's secret id.
    pub secret_id: String,
    /// The Jamf Pro server.
    pub server: String,
    /// The edit page.
    pub page: String,
    /// Where Save posts to.
    pub form_action: String,
    /// The submit control the rotation would use.
    pub submit_control: String,
    /// Every pair the form submits, in order.
    pub controls: Vec<ProbeControl>,
    /// The client-secret control.
    pub secret_field: String,
    /// The application-ID control.
    pub application_id_field: String,
    /// The application ID the page shows.
    pub application_id: String,
    /// The document's client id.
    pub document_client_id: String,
    /// Whether they match (a rotation refuses otherwise).
    pub application_id_matches: bool,
    /// What a rotation would submit: the same pairs, the secret as `[new secret]`.
    pub would_submit: Vec<ProbePair>,
}

/// One name=value pair a rotation would submit.
#[derive(Debug, Clone, Serialize)]
pub struct ProbePair {
    /// The control's name.
    pub name: String,
    /// The value sent (`[redacted]` for rendered secrets, `[new secret]` for the client secret).
    pub value: String,
}

/// Logs in to the web UI of the target `secret_id` names, discovers the Intune form and reports
/// it. Changes nothing: one login, one page load, one logout.
pub async fn probe(
    store: Arc<dyn SecretStore>,
    settings: &Settings,
    clock: SharedClock,
    secret_id: &str,
) -> Result<ProbeReport, TargetError> {
    let (_, value) = store
        .value_at(secret_id, AWSCURRENT)
        .await
        .map_err(|e| {
            TargetError::Config(format!("the target secret {secret_id} cannot be read: {e}"))
        })?
        .ok_or_else(|| {
            TargetError::Config(format!(
                "the target secret {secret_id} has no {AWSCURRENT} value"
            ))
        })?;
    let doc = {
        use secrecy::ExposeSecret;
        TargetDocument::parse(value.expose_secret())
            .map_err(|e| TargetError::Config(format!("{secret_id}: {e}")))?
    };
    if doc.jamf.target != TargetKind::ConditionalAccess {
        return Err(TargetError::Config(format!(
            "{secret_id} is a {} target; probe inspects conditional-access targets",
            doc.jamf.target.as_str()
        )));
    }
    let client = crate::jamf::JamfTargets::new(store, settings.clone(), clock)
        .client(&doc)
        .await?;
    let target = ConditionalAccessTarget::new(client.clone(), &doc);
    let mut web = WebSession::new(client.clone());
    web.login().await?;
    let form = target.load_form(&mut web).await;
    web.logout().await;
    target.end_api_session().await;
    let form = form?;
    let role = |i: usize| {
        if i == form.secret {
            Some("client-secret")
        } else if i == form.application_id {
            Some("application-id")
        } else if Some(i) == form.submit {
            Some("submit")
        } else {
            None
        }
    };
    let controls: Vec<ProbeControl> = form
        .controls
        .iter()
        .enumerate()
        .map(|(i, c)| ProbeControl {
            name: c.name.clone(),
            kind: c.kind,
            // The application ID is shown in full below in any case.
            value: if i == form.application_id {
                form.application_id().to_string()
            } else {
                c.shown_value()
            },
            label: c.label.clone(),
            role: role(i),
        })
        .collect();
    let would_submit = controls
        .iter()
        .map(|c| ProbePair {
            name: c.name.clone(),
            value: if c.role == Some("client-secret") {
                "[new secret]".to_string()
            } else {
                c.value.clone()
            },
        })
        .collect();
    Ok(ProbeReport {
        secret_id: secret_id.to_string(),
        server: client.server().to_string(),
        page: format!("/{}", target.page_path.trim_start_matches('/')),
        form_action: form.action.path().to_string(),
        submit_control: form.submit_label.clone(),
        secret_field: form.secret_field().to_string(),
        application_id_field: form.application_id_field().to_string(),
        application_id: form.application_id().to_string(),
        document_client_id: doc.entra.client_id.clone(),
        application_id_matches: form
            .application_id()
            .eq_ignore_ascii_case(&doc.entra.client_id),
        would_submit,
        controls,
    })
}

/// [`probe`] with Secrets Manager from the environment (the CLI's `probe`).
pub async fn probe_from_env(
    settings: &Settings,
    secret_id: &str,
) -> Result<ProbeReport, TargetError> {
    let sdk = crate::secrets_manager::load_aws_config(settings.http_timeout).await;
    let store: Arc<dyn SecretStore> = Arc::new(crate::secrets_manager::AwsSecretStore::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
    ));
    probe(
        store,
        settings,
        Arc::new(crate::clock::SystemClock),
        secret_id,
    )
    .await
}

/// The probe report as text for a person.
pub fn describe_probe(r: &ProbeReport) -> String {
    let mut out = format!(
        "{} on {}: page {}, form posts to {} with {}\n  controls (in submission order):\n",
        r.secret_id, r.server, r.page, r.form_action, r.submit_control
    );
    for c in &r.controls {
        out += &format!(
            "    {:<28} {:<9} {:<40}{}{}\n",
            c.name,
            serde_json::to_value(c.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            format!("\"{}\"", c.value),
            c.label
                .as_deref()
                .map(|l| format!(" label \"{l}\""))
                .unwrap_or_default(),
            c.role.map(|r| format!(" <- {r}")).unwrap_or_default(),
        );
    }
    out += &format!(
        "  application ID: '{}' in '{}'; document: '{}' -> {}\n  a rotation would submit the same {} pairs with only '{}' changed to the new secret\n  nothing was changed\n",
        r.application_id,
        r.application_id_field,
        r.document_client_id,
        if r.application_id_matches { "match" } else { "MISMATCH: a rotation would refuse" },
        r.would_submit.len(),
        r.secret_field
    );
    out
}
