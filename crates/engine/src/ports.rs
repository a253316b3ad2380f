//! The four narrow traits the engine talks to, and their error types. Real adapters live in
//! the adapters crate (Entra/Graph, Jamf Pro, Secrets Manager, SNS); stand-ins and
//! in-memory versions implement the same traits. Nothing here names reqwest or an AWS SDK type.

use crate::config::Cloud;
use crate::document::{TargetDocument, TargetKind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Serialize;
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// Directory: Entra ID + Microsoft Graph
// ---------------------------------------------------------------------------------------------

/// Addresses one app registration in one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRef {
    /// Which cloud.
    pub cloud: Cloud,
    /// Tenant id or domain.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// Application object id, when known (saves a lookup).
    pub object_id: Option<String>,
}

impl AppRef {
    /// The app a target document names.
    pub fn of(doc: &TargetDocument) -> Self {
        Self {
            cloud: doc.entra.cloud,
            tenant_id: doc.entra.tenant_id.clone(),
            client_id: doc.entra.client_id.clone(),
            object_id: doc.entra.application_object_id.clone(),
        }
    }
}

/// One password credential of an app, as Graph lists it (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasswordCredential {
    /// The credential's key id (GUID).
    pub key_id: String,
    /// Its display name; ours start with [`crate::rotation::CREDENTIAL_PREFIX`].
    pub display_name: Option<String>,
    /// Start of validity.
    pub start: Option<DateTime<Utc>>,
    /// End of validity.
    pub end: Option<DateTime<Utc>>,
    /// The first characters of the secret (Graph's `hint`).
    pub hint: Option<String>,
}

/// An app registration and its password credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Application {
    /// Object id.
    pub object_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Password credentials.
    pub passwords: Vec<PasswordCredential>,
}

/// A credential just created by `addPassword`, with the only copy of its secret.
pub struct NewPassword {
    /// The credential as listed.
    pub credential: PasswordCredential,
    /// The secret text (returned once, by `addPassword`).
    pub secret: SecretString,
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPassword")
            .field("credential", &self.credential)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// What the token endpoint said of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretCheck {
    /// A token was issued.
    Accepted,
    /// Refused as an invalid secret (AADSTS7000215): wrong, removed, or not yet propagated.
    NotAccepted,
    /// Refused because the secret has expired (AADSTS7000222).
    Expired,
}

/// An Entra ID or Graph call that failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Occurs when the token endpoint refuses a request (wrong tenant, app, secret, assertion).
    #[error("Entra token endpoint refused {context}: {}{error}{}", .code.map(|c| format!("AADSTS{c} ")).unwrap_or_default(), .request_id.as_ref().map(|r| format!(" (request-id {r})")).unwrap_or_default())]
    Token {
        /// What was being authenticated ("the rotator's own identity", …).
        context: String,
        /// HTTP status.
        status: u16,
        /// The AADSTS code, when the body carried one.
        code: Option<u32>,
        /// The OAuth `error` (`invalid_client`, …).
        error: String,
        /// Microsoft's request id (correlation id) for support.
        request_id: Option<String>,
    },
    /// Occurs when Graph answers with an error.
    #[error("Graph {operation} failed: HTTP {status} {code}: {message}{}", .request_id.as_ref().map(|r| format!(" (request-id {r})")).unwrap_or_default())]
    Graph {
        /// The Graph operation (`addPassword`, …).
        operation: String,
        /// HTTP status.
        status: u16,
        /// Graph's error code (`Authorization_RequestDenied`, …).
        code: String,
        /// Graph's message.
        message: String,
        /// Graph's `request-id`.
        request_id: Option<String>,
    },
    /// Occurs when a call cannot be completed: connection refused or reset, timeout, or retries
    /// exhausted on throttling.
    #[error("{operation}: {message}")]
    Unavailable {
        /// The operation.
        operation: String,
        /// What happened (never a secret).
        message: String,
    },
    /// Occurs when a response is not what the contract promises (truncated, HTML, wrong types).
    #[error("{operation}: unexpected response: {message}")]
    InvalidResponse {
        /// The operation.
        operation: String,
        /// What was wrong with it.
        message: String,
    },
    /// Occurs when the rotator's own configuration is missing or wrong.
    #[error("Entra configuration: {0}")]
    Config(String),
}

impl DirectoryError {
    /// The AADSTS code of a token-endpoint refusal.
    pub fn aadsts(&self) -> Option<u32> {
        match self {
            DirectoryError::Token { code, .. } => *code,
            _ => None,
        }
    }
    /// True when a later attempt may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            DirectoryError::Unavailable { .. } => true,
            DirectoryError::Graph { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// Entra ID and Microsoft Graph, as the engine needs them.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Reads the app and its password credentials (by object id when known, else by appId).
    async fn application(&self, app: &AppRef) -> Result<Application, DirectoryError>;
    /// `addPassword`: creates a credential; the returned secret exists nowhere else.
    async fn add_password(
        &self,
        app: &AppRef,
        display_name: &str,
        end: DateTime<Utc>,
    ) -> Result<NewPassword, DirectoryError>;
    /// `removePassword`. Idempotent: a key id the app does not have counts as removed.
    async fn remove_password(&self, app: &AppRef, key_id: &str) -> Result<(), DirectoryError>;
    /// The longest password lifetime the tenant's app management policy allows this app, or
    /// `None` when nothing restricts it or the policy cannot be read (no permission).
    async fn max_password_lifetime(
        &self,
        app: &AppRef,
    ) -> Result<Option<chrono::Duration>, DirectoryError>;
    /// When the credential `key_id` last signed in, from Entra's credential sign-in activity
    /// report (`/beta/reports/appCredentialSignInActivities`; needs `AuditLog.Read.All`; global
    /// cloud only; lags by minutes to hours). `None` when the report has not seen it sign in.
    async fn key_last_used(
        &self,
        app: &AppRef,
        key_id: &str,
    ) -> Result<Option<DateTime<Utc>>, DirectoryError>;
    /// Asks the token endpoint whether it accepts `secret` for the app and `scope` right now.
    /// Never retried inside: the caller polls.
    async fn check_secret(
        &self,
        app: &AppRef,
        secret: &SecretString,
        scope: &str,
    ) -> Result<SecretCheck, DirectoryError>;
}

// ---------------------------------------------------------------------------------------------
// Jamf targets
// ---------------------------------------------------------------------------------------------

/// What a Jamf target has configured (never the secret: Jamf does not return it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TargetConfig {
    /// Whether the integration is enabled.
    pub enabled: bool,
    /// The application (client) id Jamf Pro uses.
    pub client_id: Option<String>,
    /// The tenant Jamf Pro uses.
    pub tenant_id: Option<String>,
    /// One line describing the integration for reports.
    pub detail: String,
}

/// A Jamf Pro call or check that failed.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Occurs when Jamf Pro refuses the rotator's own Jamf credentials.
    #[error("Jamf Pro at {server} refused the rotator's credentials: {message}")]
    Auth {
        /// Host of the server.
        server: String,
        /// Jamf's message.
        message: String,
    },
    /// Occurs when Jamf Pro answers an API call with an error.
    #[error("Jamf Pro {operation} failed: HTTP {status}{}: {message}", .code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
    Api {
        /// The operation (`PUT /api/v2/smtp-server`, …).
        operation: String,
        /// HTTP status.
        status: u16,
        /// Jamf's error code.
        code: Option<String>,
        /// Jamf's description.
        message: String,
    },
    /// Occurs when Jamf Pro reports that the integration does not work with the secret (the
    /// save-time test, the SMTP test, notifications).
    #[error("Jamf Pro reports the integration does not work: {0}")]
    Rejected(String),
    /// Occurs when what Jamf Pro has configured does not match the document (other client id,
    /// other authentication type): the rotator refuses to change a server it does not understand.
    #[error("Jamf Pro's configuration does not match the document: {0}")]
    Mismatch(String),
    /// Occurs when a call cannot be completed (connection, timeout, retries exhausted).
    #[error("{operation}: {message}")]
    Unavailable {
        /// The operation.
        operation: String,
        /// What happened.
        message: String,
    },
    /// Occurs when a response is not what the contract promises.
    #[error("{operation}: unexpected response: {message}")]
    InvalidResponse {
        /// The operation.
        operation: String,
        /// What was wrong with it.
        message: String,
    },
    /// Occurs when the target's configuration (document, Jamf credentials secret) is unusable.
    #[error("Jamf target configuration: {0}")]
    Config(String),
}

/// A place that holds the secret and uses it: a Jamf Pro integration (`smtp-graph`,
/// `conditional-access`), or the rotator itself (its own secret). The engine writes the new
/// secret into it, asks it to prove it works, and puts the old one back on rollback.
#[async_trait]
pub trait SecretHolder: Send + Sync {
    /// Which kind of target.
    fn kind(&self) -> TargetKind;
    /// The `.default` scope the integration requests tokens for (Graph for mail, Intune for
    /// Conditional Access): the propagation wait polls Entra with this scope.
    fn scope(&self) -> String;
    /// Reads what Jamf Pro has configured.
    async fn inspect(&self) -> Result<TargetConfig, TargetError>;
    /// Puts `secret` into Jamf Pro, changing nothing else.
    async fn install(&self, secret: &SecretString) -> Result<(), TargetError>;
    /// Proves that Jamf Pro works with the secret it holds.
    async fn verify(&self) -> Result<(), TargetError>;
    /// Proves, changing nothing, that Jamf Pro works with the secret it holds now, when nothing
    /// was just changed (the check's daily proof): a problem Jamf Pro already reports counts,
    /// where [`Self::verify`] looks only for what a change brought. The default is `verify`.
    async fn prove(&self) -> Result<(), TargetError> {
        self.verify().await
    }
    /// Ends what the target keeps open between calls (a web-UI session, a user's API token). The
    /// engine calls it when it is done with the target (after one step, or after a whole
    /// in-process rotation); the default has nothing to end.
    async fn close(&self) {}
}

/// Opens the secret holder a document names (for a Jamf target, reading the Jamf credentials it
/// points to).
#[async_trait]
pub trait TargetFactory: Send + Sync {
    /// Builds the target for `doc`.
    async fn open(&self, doc: &TargetDocument) -> Result<Box<dyn SecretHolder>, TargetError>;
}

// ---------------------------------------------------------------------------------------------
// Secret store: AWS Secrets Manager
// ---------------------------------------------------------------------------------------------

/// Staging label of the version in use.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// Staging label of the version being rotated in.
pub const AWSPENDING: &str = "AWSPENDING";
/// Staging label of the version last in use.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// A secret's metadata: its versions and their staging labels.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SecretInfo {
    /// ARN.
    pub arn: String,
    /// Name.
    pub name: String,
    /// Whether rotation is enabled (`None` when Secrets Manager does not say).
    pub rotation_enabled: Option<bool>,
    /// Version id → staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
}

impl SecretInfo {
    /// The version that carries `stage`.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, s)| s.iter().any(|x| x == stage))
            .map(|(v, _)| v.as_str())
    }
    /// True when `version` carries `stage`.
    pub fn has(&self, version: &str, stage: &str) -> bool {
        self.versions
            .get(version)
            .is_some_and(|s| s.iter().any(|x| x == stage))
    }
}

/// A Secrets Manager call that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Occurs when the secret or version does not exist.
    #[error("Secrets Manager: {what} not found")]
    NotFound {
        /// The secret id or version.
        what: String,
    },
    /// Occurs when Secrets Manager refuses or fails a call.
    #[error("Secrets Manager {operation} on {secret_id} failed: {code}: {message}")]
    Aws {
        /// The API operation.
        operation: String,
        /// The secret.
        secret_id: String,
        /// The AWS error code (`ThrottlingException`, `InvalidRequestException`, …).
        code: String,
        /// AWS's message.
        message: String,
    },
    /// Occurs when a stored value is not what it must be (not UTF-8, not a document).
    #[error("Secrets Manager: {0}")]
    Invalid(String),
}

impl StoreError {
    /// True when the same call may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Aws { code, .. } if code.contains("Throttl") || code.contains("InternalService") || code == "dispatch" || code == "timeout")
    }
}

/// What `RotateSecret` is asked: hand a rotation (or only its configuration) to Secrets Manager's
/// rotation engine, which then invokes `function_arn` once per step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateSecretRequest {
    /// The new version's id (`ClientRequestToken`); `None` lets Secrets Manager choose one.
    pub token: Option<String>,
    /// The rotation function (`RotationLambdaARN`).
    pub function_arn: String,
    /// An automatic schedule (`RotationRules.ScheduleExpression`, `rate(…)` or `cron(…)`);
    /// `None`: none is set.
    pub schedule: Option<String>,
    /// `RotateImmediately`: start a rotation now (otherwise only the configuration is stored, and
    /// Secrets Manager tries the function's `testSecret` step).
    pub rotate_immediately: bool,
}

/// Secrets Manager, as the engine needs it.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Metadata and versions (`DescribeSecret`).
    async fn describe(&self, secret_id: &str) -> Result<SecretInfo, StoreError>;
    /// The value of one version; `Ok(None)` when the version exists but holds no value yet (the
    /// empty `AWSPENDING` version Secrets Manager makes before `createSecret`).
    async fn value(
        &self,
        secret_id: &str,
        version_id: &str,
    ) -> Result<Option<SecretString>, StoreError>;
    /// True when version `version_id` of a secret known to exist was ever written: one read
    /// (the in-process driver's check that a rotation token is unspent). Unlike [`Self::value`]
    /// it need not tell a missing secret from a missing version.
    async fn version_exists(&self, secret_id: &str, version_id: &str) -> Result<bool, StoreError> {
        match self.value(secret_id, version_id).await {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
    /// The value of the version carrying `stage`, with its version id.
    async fn value_at(
        &self,
        secret_id: &str,
        stage: &str,
    ) -> Result<Option<(String, SecretString)>, StoreError>;
    /// `PutSecretValue(ClientRequestToken=version_id, VersionStages=[AWSPENDING], RotationToken)`.
    async fn put_pending(
        &self,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        rotation_token: Option<&SecretString>,
    ) -> Result<(), StoreError>;
    /// Moves `AWSCURRENT` from `from_version` to `version_id` (`AWSPREVIOUS` follows the old one).
    async fn promote(
        &self,
        secret_id: &str,
        version_id: &str,
        from_version: &str,
    ) -> Result<(), StoreError>;
    /// Removes `AWSPENDING` from `version_id` (a no-op when it is not there).
    async fn remove_pending(&self, secret_id: &str, version_id: &str) -> Result<(), StoreError>;
    /// Creates a secret whose first version (`AWSCURRENT`) is `value`; returns its ARN.
    async fn create(
        &self,
        name: &str,
        value: &SecretString,
        description: &str,
    ) -> Result<String, StoreError>;
    /// Stores `value` as the new `AWSCURRENT` of an existing secret (used by `init`).
    async fn put_current(&self, secret_id: &str, value: &SecretString) -> Result<(), StoreError>;
    /// Secret ids that carry the tag `key` (with `value`, when given): the targets of a deployment.
    async fn list_tagged(&self, key: &str, value: Option<&str>) -> Result<Vec<String>, StoreError>;
    /// The secret's tags (`DescribeSecret`), key → value. A store without tags has none.
    async fn tags(&self, secret_id: &str) -> Result<BTreeMap<String, String>, StoreError> {
        self.describe(secret_id).await.map(|_| BTreeMap::new())
    }
    /// `TagResource`: sets the tag `key` = `value` on the secret (no new version). A store that
    /// cannot tag refuses, changing nothing.
    async fn tag(&self, secret_id: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let _ = (key, value);
        Err(StoreError::Invalid(format!(
            "this store cannot tag {secret_id}"
        )))
    }
    /// `RotateSecret`: with `rotate_immediately`, Secrets Manager attaches `AWSPENDING` to a new
    /// empty version `token` and invokes the rotation function for each of the four steps.
    /// Refused while `AWSPENDING` is on another version than `AWSCURRENT`. A store that cannot
    /// hand rotations over refuses, changing nothing.
    async fn rotate_secret(
        &self,
        secret_id: &str,
        request: &RotateSecretRequest,
    ) -> Result<(), StoreError> {
        let _ = request;
        Err(StoreError::Invalid(format!(
            "this store cannot hand the rotation of {secret_id} to Secrets Manager"
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Lease store: a DynamoDB table with conditional writes
// ---------------------------------------------------------------------------------------------

/// Who holds a target's lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The holder's id (one invocation's, or one in-process run's).
    pub holder: String,
    /// When it runs out (whole seconds: the table keeps epoch seconds).
    pub expires: DateTime<Utc>,
}

/// A lease-store call that was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Occurs when another holder has the lease (`record`, when it could be read), or when the
    /// caller asked about a lease it no longer holds.
    #[error("the lease is held by another attempt{}", .0.as_ref().map(|r| format!(" until {}", r.expires.format("%Y-%m-%d %H:%M:%S UTC"))).unwrap_or_default())]
    Held(Option<LeaseRecord>),
    /// Occurs when the lease table cannot be reached or refuses the call for another reason
    /// (throttling, a missing table, no permission).
    #[error("lease table {operation} failed: {code}: {message}")]
    Unavailable {
        /// The API operation (`PutItem`, …).
        operation: String,
        /// The AWS error code, or `dispatch` / `timeout`.
        code: String,
        /// What happened (never a secret: the table holds none).
        message: String,
    },
}

/// Where a target's lease lives: one item per target (its key), written only with conditions, so
/// that of two attempts only one holds it; it runs out by itself at its expiry. The lease never
/// touches the target's secret (a new version of a secret abandons the rotation Secrets Manager
/// is running).
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease of `key` for `holder` until `expires`: granted when nobody holds it, when
    /// it ran out before `now`, when `holder` holds it already, or when it is parked under
    /// `parked` (a holder name anyone may take it over from). [`LeaseError::Held`] otherwise.
    async fn acquire(
        &self,
        key: &str,
        holder: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
        parked: Option<&str>,
    ) -> Result<(), LeaseError>;
    /// Moves the expiry of a lease `holder` holds to `expires`, handing it to `to` as it does
    /// (`to` = `holder` to keep it). [`LeaseError::Held`] when `holder` no longer holds it.
    async fn renew(
        &self,
        key: &str,
        holder: &str,
        to: &str,
        expires: DateTime<Utc>,
    ) -> Result<(), LeaseError>;
    /// Lets go of a lease `holder` holds (a no-op for a lease it does not hold).
    async fn release(&self, key: &str, holder: &str) -> Result<(), LeaseError>;
    /// Who holds the lease of `key` as stored (perhaps run out), if anyone.
    async fn holder(&self, key: &str) -> Result<Option<LeaseRecord>, LeaseError>;
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// A rotation failed.
    RotationFailed,
    /// A rotation failed and was rolled back: Jamf Pro is on the old secret.
    RolledBack,
    /// The secret expires soon and cannot be rotated (rotation failing or disabled).
    ExpiryClose,
    /// Drift: the managed credential is missing, expired credentials, unmanaged credentials.
    Drift,
    /// A rotation succeeded (only with `ALERT_ON_SUCCESS`).
    Rotated,
    /// After an emergency, a revoked secret still signed in at the proof's limit (or could not
    /// be tried).
    RevocationUnconfirmed,
    /// An event named a secret the function does not act for (not a target, or a document of a
    /// kind its secret may not hold): refused, nothing changed.
    Refused,
    /// The check's daily proof ([`crate::rotation::proof`]): Jamf Pro's own test failed with the
    /// secret it holds ("Jamf Pro cannot use its secret"), whether or not `AWSCURRENT`'s was put
    /// back.
    JamfProofFailed,
}

/// One alert. Built only from non-secret facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// The target (secret id).
    pub target: String,
    /// One-line subject (SNS subjects are at most 100 characters).
    pub subject: String,
    /// What happened, what state was left, what the operator should do.
    pub message: String,
}

/// An alert that could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("alert could not be sent: {0}")]
pub struct AlertError(pub String);

/// Where alerts go.
#[async_trait]
pub trait Alerts: Send + Sync {
    /// Sends one alert.
    async fn send(&self, alert: &Alert) -> Result<(), AlertError>;
}

// ---------------------------------------------------------------------------------------------
// Progress of long waits
// ---------------------------------------------------------------------------------------------

/// Observes the engine's long waits (the propagation wait): the CLI draws a progress bar on a
/// terminal, the Lambda logs a line now and then. Given nothing secret.
pub trait Progress: Send + Sync {
    /// Called on each poll of a wait for `what` ("Entra to accept the new secret"), `elapsed`
    /// of at most `limit`.
    fn waiting(&self, what: &str, elapsed: std::time::Duration, limit: std::time::Duration);
    /// Called once when that wait ends, whichever way; the default does nothing.
    fn finished(&self, _what: &str) {}
}
