//! The `conditional-access` target: the Microsoft Intune integration's client secret (Jamf Pro >
//! Settings > Global > Conditional Access), which Jamf Pro offers no API for. The target drives
//! the settings page the way an administrator's browser does ([`super::web`]), discovering the
//! form instead of assuming it ([`super::form`]):
//!
//! - `inspect`: log in, load the edit page, discover the form; the application ID comes from the
//!   page.
//! - `install`: the same, then submit exactly what the page rendered with only the secret
//!   changed. Jamf Pro tests the settings on Save; the error it shows becomes
//!   [`TargetError::Rejected`]. Rollback is `install(old secret)`, done by the engine.
//! - `verify`: watch `GET /api/v1/notifications` for `observation_secs` (default 60) on the
//!   injected clock: a `CONDITIONAL_ACCESS_CONNECTION_ERROR` or `MII_*` notification that was not
//!   there before the change fails the rotation.
//!
//! [`probe`] shows an administrator what the target would do, changing nothing.

use super::client::JamfClient;
use super::form::{
    discover, is_login_page, save_outcome, ControlKind, FormHints, IntuneForm, SaveOutcome,
    DEFAULT_PAGE_PATH,
};
use super::web::WebSession;
use crate::clock::SharedClock;
use crate::config::{Cloud, Settings};
use crate::document::{TargetDocument, TargetKind};
use crate::ports::{JamfTarget, SecretStore, TargetConfig, TargetError, AWSCURRENT};
use async_trait::async_trait;
use secrecy::SecretString;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Seconds Jamf's notifications are watched after the change, unless the document says otherwise.
pub const DEFAULT_OBSERVATION_SECS: u64 = 60;
/// How often the notifications are read during the observation window.
const POLL_EVERY: Duration = Duration::from_secs(15);
/// The notification that reports the integration cannot reach Microsoft; `MII_*` are the others.
pub const CONNECTION_ERROR: &str = "CONDITIONAL_ACCESS_CONNECTION_ERROR";

/// Notification counts by type (only the integration's types).
type Counts = BTreeMap<String, usize>;

/// The integration's notifications seen just before each change, by server and app. The engine
/// opens a fresh target for each step (install in setSecret, verify in testSecret), so the
/// baseline has to outlive the target; a process that did not see the change (another Lambda
/// invocation) falls back to the notifications present when verification starts.
fn baselines() -> &'static Mutex<HashMap<String, Counts>> {
    static BASELINES: OnceLock<Mutex<HashMap<String, Counts>>> = OnceLock::new();
    BASELINES.get_or_init(Default::default)
}

/// True for the notification types that report the Microsoft Intune integration's health.
pub fn is_integration_problem(kind: &str) -> bool {
    kind == CONNECTION_ERROR || kind.starts_with("MII_")
}

/// The Microsoft Intune integration of one Jamf Pro server.
#[derive(Debug, Clone)]
pub struct ConditionalAccessTarget {
    client: JamfClient,
    cloud: Cloud,
    client_id: String,
    page_path: String,
    hints: FormHints,
    observation: Duration,
}

impl ConditionalAccessTarget {
    /// The target for `doc` on `client` (which must sign in with a user account).
    pub fn new(client: JamfClient, doc: &TargetDocument) -> Self {
        let j = &doc.jamf;
        Self {
            client,
            cloud: doc.entra.cloud,
            client_id: doc.entra.client_id.clone(),
            page_path: j
                .page_path
                .clone()
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_PAGE_PATH.to_string()),
            hints: FormHints {
                secret_field: j.secret_field.clone(),
                application_id_field: j.application_id_field.clone(),
            },
            observation: Duration::from_secs(
                j.observation_secs.unwrap_or(DEFAULT_OBSERVATION_SECS),
            ),
        }
    }

    /// The client underneath.
    pub fn client(&self) -> &JamfClient {
        &self.client
    }

    fn baseline_key(&self) -> String {
        format!(
            "{} {}",
            self.client.base_url(),
            self.client_id.to_ascii_lowercase()
        )
    }

    /// Loads the edit page and discovers the form, logging in again once if the session expired.
    async fn load_form(&self, web: &mut WebSession) -> Result<IntuneForm, TargetError> {
        let operation = format!("GET /{}", self.page_path.trim_start_matches('/'));
        loop {
            let page = web.get(&self.page_path).await?;
            if is_login_page(&page.html) {
                if web.relogin().await? {
                    continue;
                }
                return Err(TargetError::Auth {
                    server: self.client.server().to_string(),
                    message: format!(
                        "{operation}: Jamf Pro keeps serving its login page (does the account have the privilege to edit \
                         Conditional Access settings?)"
                    ),
                });
            }
            return discover(&page.html, &page.url, &self.hints, &operation);
        }
    }

    /// Refuses a form whose application ID is not the document's.
    fn check_application_id(&self, form: &IntuneForm) -> Result<(), TargetError> {
        if form.application_id().eq_ignore_ascii_case(&self.client_id) {
            Ok(())
        } else {
            Err(TargetError::Mismatch(format!(
                "the Microsoft Intune integration's application ID (control '{}') is '{}', the document names '{}'",
                form.application_id_field(),
                form.application_id(),
                self.client_id
            )))
        }
    }

    /// Logs in, runs `install`'s form work, and logs out whatever happened.
    async fn submit(&self, secret: &SecretString) -> Result<(), TargetError> {
        let mut web = WebSession::new(self.client.clone());
        web.login().await?;
        let result = self.submit_in(&mut web, secret).await;
        web.logout().await;
        result
    }

    async fn submit_in(
        &self,
        web: &mut WebSession,
        secret: &SecretString,
    ) -> Result<(), TargetError> {
        loop {
            let form = self.load_form(web).await?;
            self.check_application_id(&form)?;
            let rendered = form.sensitive_values();
            let mut secrets: Vec<&SecretString> = rendered.iter().collect();
            secrets.push(secret);
            let page = web
                .post_form(&form.action, form.body(secret), &secrets)
                .await?;
            match save_outcome(&page.html, form.application_id(), &secrets) {
                SaveOutcome::Saved => {
                    tracing::info!(server = self.client.server(), field = form.secret_field(), "Jamf Pro saved the Microsoft Intune integration's client secret");
                    return Ok(());
                }
                SaveOutcome::LoginPage => {
                    if web.relogin().await? {
                        continue;
                    }
                    return Err(TargetError::Auth {
                        server: self.client.server().to_string(),
                        message: "Save was answered with the login page twice".into(),
                    });
                }
                SaveOutcome::Failed(text) => {
                    tracing::warn!(server = self.client.server(), "Jamf Pro's save-time test failed: {text}");
                    return Err(TargetError::Rejected(format!("Jamf Pro's save-time test of the Microsoft Intune integration failed: {text}")));
                }
                SaveOutcome::Unrecognised(title) => {
                    return Err(TargetError::InvalidResponse {
                        operation: format!("POST {}", form.action.path()),
                        message: format!(
                            "after Save, Jamf Pro answered a page that is neither the settings page nor an error (\"{title}\"); \
                             whether the secret was saved is unknown"
                        ),
                    })
                }
            }
        }
    }

    /// The integration's notifications now.
    async fn problems(&self) -> Result<Counts, TargetError> {
        let mut counts = Counts::new();
        for n in self.client.notifications().await? {
            if is_integration_problem(&n.kind) {
                *counts.entry(n.kind).or_default() += 1;
            }
        }
        Ok(counts)
    }
}

#[async_trait]
impl JamfTarget for ConditionalAccessTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::ConditionalAccess
    }

    fn scope(&self) -> String {
        self.cloud.intune_scope().to_string()
    }

    async fn inspect(&self) -> Result<TargetConfig, TargetError> {
        let mut web = WebSession::new(self.client.clone());
        web.login().await?;
        let form = self.load_form(&mut web).await;
        web.logout().await;
        let form = form?;
        let mentions = |c: &super::form::Control, words: &[&str]| {
            let text =
                format!("{} {}", c.name, c.label.as_deref().unwrap_or("")).to_ascii_lowercase();
            words.iter().any(|w| text.contains(w))
        };
        let enabled = form
            .controls
            .iter()
            .any(|c| c.kind == ControlKind::Checkbox && mentions(c, &["enable"]));
        let tenant_id = form
            .controls
            .iter()
            .find(|c| c.kind == ControlKind::Text && mentions(c, &["domain", "tenant"]))
            .map(|c| c.shown_value());
        Ok(TargetConfig {
            enabled,
            client_id: Some(form.application_id().to_string()),
            tenant_id,
            detail: format!(
                "Microsoft Intune integration on /{} ({} controls; secret '{}', application ID '{}')",
                self.page_path.trim_start_matches('/'),
                form.controls.len(),
                form.secret_field(),
                form.application_id_field()
            ),
        })
    }

    async fn install(&self, secret: &SecretString) -> Result<(), TargetError> {
        // The baseline for verify; a failure here is not fatal (rollback must not depend on it,
        // and verify reads the same API and fails there if it is unusable).
        match self.problems().await {
            Ok(counts) => {
                baselines()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(self.baseline_key(), counts);
            }
            Err(e) => tracing::warn!(
                server = self.client.server(),
                "could not read Jamf Pro's notifications before the change: {e}"
            ),
        }
        self.submit(secret).await
    }

    async fn verify(&self) -> Result<(), TargetError> {
        let clock: SharedClock = self.client.clock().clone();
        let known = baselines()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&self.baseline_key())
            .cloned();
        let baseline = match known {
            Some(b) => b,
            None => {
                tracing::info!(
                    server = self.client.server(),
                    "no notifications recorded before the change; watching for new ones from now"
                );
                self.problems().await?
            }
        };
        let deadline = clock.now()
            + chrono::Duration::from_std(self.observation).unwrap_or(chrono::Duration::MAX);
        loop {
            let now = self.problems().await?;
            let new: Vec<String> = now
                .iter()
                .filter(|(kind, n)| **n > baseline.get(*kind).copied().unwrap_or(0))
                .map(|(kind, _)| kind.clone())
                .collect();
            if !new.is_empty() {
                return Err(TargetError::Rejected(format!(
                    "Jamf Pro raised {} after the change (Settings > Notifications)",
                    new.join(", ")
                )));
            }
            let left = deadline - clock.now();
            if left <= chrono::Duration::zero() {
                tracing::info!(
                    server = self.client.server(),
                    "no Microsoft Intune integration notifications during the observation window"
                );
                return Ok(());
            }
            clock
                .sleep(left.to_std().unwrap_or(POLL_EVERY).min(POLL_EVERY))
                .await;
        }
    }
}

/// One control as `probe` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeControl {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: ControlKind,
    /// The rendered value, `[redacted]` for passwords and tokens.
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
    let client = super::Targets::new(store, settings.clone(), clock)
        .client(&doc)
        .await?;
    let target = ConditionalAccessTarget::new(client.clone(), &doc);
    let mut web = WebSession::new(client.clone());
    web.login().await?;
    let form = target.load_form(&mut web).await;
    web.logout().await;
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
            value: c.shown_value(),
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
    let sdk = crate::vault::load_aws_config(settings.http_timeout).await;
    let store: Arc<dyn SecretStore> = Arc::new(crate::vault::AwsSecretStore::new(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_notifications_are_recognised() {
        assert!(is_integration_problem(
            "CONDITIONAL_ACCESS_CONNECTION_ERROR"
        ));
        assert!(is_integration_problem(
            "MII_UNATHORIZED_RESPONSE_NOTIFICATION"
        ));
        assert!(!is_integration_problem(
            "DEVICE_COMPLIANCE_CONNECTION_ERROR"
        ));
        assert!(!is_integration_problem("TOMCAT_SSL_CERT_EXPIRED"));
    }
}
