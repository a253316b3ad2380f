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
//! - `prove` (the check's daily proof): one read of the notifications; any of the integration's
//!   present now fails, since nothing was changed to compare against.
//!
//! [`probe`] shows an administrator what the target would do, changing nothing.

mod offload;
mod probe;

pub use offload::{off_runtime, PARSE_TIME_LIMIT};

pub use probe::{describe_probe, probe, probe_from_env, ProbeControl, ProbePair, ProbeReport};

use super::client::JamfClient;
use super::form::{
    read_edit_page, ControlKind, EditPage, FormHints, IntuneForm, SaveOutcome, DEFAULT_PAGE_PATH,
};
use super::web::WebSession;
use crate::clock::SharedClock;
use crate::config::Cloud;
use crate::document::{TargetDocument, TargetKind};
use crate::ports::{SecretHolder, TargetConfig, TargetError};
use async_trait::async_trait;
use secrecy::SecretString;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Seconds Jamf's notifications are watched after the change, unless the document says otherwise.
pub const DEFAULT_OBSERVATION_SECS: u64 = crate::document::DEFAULT_OBSERVATION_SECS;
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

/// The Microsoft Intune integration of one Jamf Pro server. The web-UI session (and a user's
/// API token) it opens stays open across its calls until [`SecretHolder::close`]: the engine
/// closes it after one step, or after a whole in-process rotation (one login instead of three).
#[derive(Clone)]
pub struct ConditionalAccessTarget {
    client: JamfClient,
    cloud: Cloud,
    client_id: String,
    page_path: String,
    hints: FormHints,
    observation: Duration,
    web: std::sync::Arc<tokio::sync::Mutex<Option<WebSession>>>,
}

impl std::fmt::Debug for ConditionalAccessTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConditionalAccessTarget")
            .field("client", &self.client)
            .field("page_path", &self.page_path)
            .field("observation", &self.observation)
            .finish_non_exhaustive()
    }
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
            web: Default::default(),
        }
    }

    /// The client underneath.
    pub fn client(&self) -> &JamfClient {
        &self.client
    }

    /// Reads what the Microsoft Intune integration's page shows on the server of `client` (a
    /// user account), at the default page path, and ends the session: one login, one page load,
    /// one logout. No document is needed (`discover` runs before one exists); the target built
    /// for it never leaves this function, so nothing can be submitted through it.
    pub async fn read_settings(client: JamfClient) -> Result<TargetConfig, TargetError> {
        let target = Self {
            client,
            cloud: Cloud::Global,
            client_id: String::new(),
            page_path: DEFAULT_PAGE_PATH.to_string(),
            hints: FormHints::default(),
            observation: Duration::from_secs(DEFAULT_OBSERVATION_SECS),
            web: Default::default(),
        };
        let found = target.inspect().await;
        target.close().await;
        found
    }

    fn baseline_key(&self) -> String {
        format!(
            "{} {}",
            self.client.base_url(),
            self.client_id.to_ascii_lowercase()
        )
    }

    /// Loads the edit page and discovers the form (off the runtime, [`off_runtime`]), logging
    /// in again once if the session expired.
    async fn load_form(&self, web: &mut WebSession) -> Result<IntuneForm, TargetError> {
        let operation = format!(
            "GET /{}",
            crate::http::label_path(self.page_path.trim_start_matches('/'))
        );
        loop {
            let page = web.get(&self.page_path).await?;
            let (hints, op) = (self.hints.clone(), operation.clone());
            let read = off_runtime(&operation, PARSE_TIME_LIMIT, move || {
                read_edit_page(&page.html, &page.url, &hints, &op)
            })
            .await?;
            if let EditPage::Form(form) = read {
                return Ok(form);
            }
            if !web.relogin().await? {
                return Err(TargetError::Auth {
                    server: self.client.server().to_string(),
                    message: format!(
                        "{operation}: Jamf Pro keeps serving its login page (does the account have the privilege to edit \
                         Conditional Access settings?)"
                    ),
                });
            }
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
    /// The target's web-UI session, logged in when none was open yet.
    async fn session(&self) -> Result<tokio::sync::MappedMutexGuard<'_, WebSession>, TargetError> {
        let mut slot = self.web.lock().await;
        if slot.is_none() {
            let mut web = WebSession::new(self.client.clone());
            web.login().await?;
            *slot = Some(web);
        }
        Ok(tokio::sync::MutexGuard::map(slot, |s| {
            s.as_mut().expect("a session was just opened")
        }))
    }

    async fn submit(&self, secret: &SecretString) -> Result<(), TargetError> {
        let mut web = self.session().await?;
        self.submit_in(&mut web, secret).await
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
                .post_form(&form.action, form.encode(secret), &secrets)
                .await?;
            match offload::save_outcome_off_runtime(&form, page.html, &secrets).await? {
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
                        operation: format!("POST {}", form.action_label()),
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
impl SecretHolder for ConditionalAccessTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::ConditionalAccess
    }

    fn scope(&self) -> String {
        self.cloud.intune_scope().to_string()
    }

    async fn inspect(&self) -> Result<TargetConfig, TargetError> {
        let form = {
            let mut web = self.session().await?;
            self.load_form(&mut web).await?
        };
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
        let result = self.watch().await;
        baselines()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.baseline_key());
        result
    }

    /// Nothing was just changed, so there is no baseline: whatever the integration's
    /// notifications report now is the answer (one read, no waiting, no save).
    async fn prove(&self) -> Result<(), TargetError> {
        let now = self.problems().await?;
        if now.is_empty() {
            return Ok(());
        }
        let kinds: Vec<&str> = now.keys().map(String::as_str).collect();
        Err(TargetError::Rejected(format!(
            "Jamf Pro reports {} (Settings > Notifications)",
            kinds.join(", ")
        )))
    }

    /// Logs out of the web UI and ends the API token.
    async fn close(&self) {
        if let Some(mut web) = self.web.lock().await.take() {
            web.logout().await;
        }
        self.end_api_session().await;
    }
}

impl ConditionalAccessTarget {
    /// Ends the API token the notifications and SSO failover calls used (a user token would
    /// otherwise live on for its 30 minutes). A failure only gets a log line.
    async fn end_api_session(&self) {
        if let Err(e) = self.client.close().await {
            tracing::debug!(
                server = self.client.server(),
                "ending the Jamf Pro API session: {e}"
            );
        }
    }

    /// Watches the notifications for the observation window: `verify`'s work.
    async fn watch(&self) -> Result<(), TargetError> {
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
        // Jamf Pro raises its notifications on its own schedule: what counts is what is there
        // once the window has passed, so one read at its end (an earlier read could only fail
        // sooner, at the price of a request per poll; a success waits the window either way).
        clock.sleep(self.observation).await;
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
        tracing::info!(
            server = self.client.server(),
            "no Microsoft Intune integration notifications during the observation window"
        );
        Ok(())
    }
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
