//! Non-secret settings, read from the environment (the Lambda's configuration, or the shell for
//! the CLI). Every endpoint is a setting, so tests point the product at stand-ins by
//! configuration alone.

use crate::endpoint::LoopbackHttp;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use url::Url;

/// One of the four Microsoft clouds Entra ID runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    /// Commercial (and GCC).
    #[default]
    Global,
    /// US Government L4 (GCC High).
    Usgov,
    /// US Government L5 (DoD).
    UsgovDod,
    /// Microsoft Azure operated by 21Vianet.
    China,
}

impl Cloud {
    /// The cloud's login (token endpoint) host.
    pub fn login_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::Usgov | Cloud::UsgovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }
    /// The cloud's Microsoft Graph host.
    pub fn graph_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::Usgov => "https://graph.microsoft.us",
            Cloud::UsgovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }
    /// The `.default` scope for Microsoft Graph in this cloud (an identifier, not an address:
    /// it stays the same when `GRAPH_URL` points elsewhere).
    pub fn graph_scope(self) -> String {
        format!("{}/.default", self.graph_url())
    }
    /// The `.default` scope of the Intune API that Jamf Pro's Conditional Access integration uses.
    pub fn intune_scope(self) -> &'static str {
        match self {
            Cloud::Global => "https://api.manage.microsoft.com/.default",
            Cloud::Usgov | Cloud::UsgovDod => "https://api.manage.microsoft.us/.default",
            Cloud::China => "https://api.manage.microsoftonline.cn/.default",
        }
    }
    /// The name used in documents and settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::Usgov => "usgov",
            Cloud::UsgovDod => "usgov-dod",
            Cloud::China => "china",
        }
    }
}

impl std::str::FromStr for Cloud {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "global" => Ok(Cloud::Global),
            "usgov" => Ok(Cloud::Usgov),
            "usgov-dod" => Ok(Cloud::UsgovDod),
            "china" => Ok(Cloud::China),
            other => Err(ConfigError::Invalid {
                name: "cloud".into(),
                problem: format!("'{other}' is not one of global, usgov, usgov-dod, china"),
            }),
        }
    }
}

/// `ROTATOR_AUTH`: how the rotator signs in to Entra as itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RotatorAuth {
    /// `federated`: an AWS STS web identity token trusted through a federated identity
    /// credential on the rotator's app; no secret stored anywhere.
    Federated,
    /// `certificate`: a PS256 client assertion signed with a private key kept in the
    /// `ROTATOR_CREDENTIALS_SECRET_ID` secret (`{"private_key_pem","certificate_pem"}`).
    Certificate,
    /// `client-secret`: the client secret kept in the `ROTATOR_CREDENTIALS_SECRET_ID` secret.
    #[default]
    ClientSecret,
}

impl std::str::FromStr for RotatorAuth {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "federated" => Ok(RotatorAuth::Federated),
            "certificate" => Ok(RotatorAuth::Certificate),
            "client-secret" => Ok(RotatorAuth::ClientSecret),
            other => Err(ConfigError::Invalid {
                name: "ROTATOR_AUTH".into(),
                problem: format!("'{other}' is not one of federated, certificate, client-secret"),
            }),
        }
    }
}

/// `ROTATION_MODE`: how the scheduled check runs the rotations it finds due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationMode {
    /// `auto` (the default): in this invocation while there is time for the whole rotation;
    /// once there is not, handed to Secrets Manager (`RotateSecret`), which runs it as four step
    /// invocations of this function.
    #[default]
    Auto,
    /// `in-process`: always in this invocation; a rotation there is no time for is deferred to
    /// the next check.
    InProcess,
    /// `fan-out`: every due rotation is handed to Secrets Manager (a half-done one is still
    /// resumed in this invocation: `RotateSecret` refuses while `AWSPENDING` is on another version).
    FanOut,
}

impl std::str::FromStr for RotationMode {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(RotationMode::Auto),
            "in-process" => Ok(RotationMode::InProcess),
            "fan-out" => Ok(RotationMode::FanOut),
            other => Err(ConfigError::Invalid {
                name: "ROTATION_MODE".into(),
                problem: format!("'{other}' is not one of auto, in-process, fan-out"),
            }),
        }
    }
}

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// Occurs when a setting's value cannot be used.
    #[error("setting {name} is invalid: {problem}")]
    Invalid {
        /// The setting's name (environment variable).
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Occurs when a required setting is absent.
    #[error("setting {name} is required: {why}")]
    Missing {
        /// The setting's name (environment variable).
        name: String,
        /// What needs it.
        why: String,
    },
}

/// Everything non-secret the product needs. Defaults are the product's sane defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `ENTRA_LOGIN_URL`: overrides the cloud's login host (tests, proxies).
    pub entra_login_url: Option<Url>,
    /// `GRAPH_URL`: overrides the cloud's Graph host.
    pub graph_url: Option<Url>,
    /// `ROTATOR_CLIENT_ID`: the rotator's own app registration (application id).
    pub rotator_client_id: Option<String>,
    /// `ROTATOR_CREDENTIALS_SECRET_ID`: Secrets Manager secret holding the rotator's client secret
    /// (`client-secret`) or its private key and certificate (`certificate`); unused in `federated`.
    pub rotator_credentials_secret_id: Option<String>,
    /// `ROTATOR_AUTH` (`client-secret`; the template deploys `federated`): how the rotator signs
    /// in to Entra as itself.
    pub rotator_auth: RotatorAuth,
    /// `ROTATION_THRESHOLD_DAYS` (30): rotate when the secret expires within this many days.
    pub threshold_days: i64,
    /// `SECRET_LIFETIME_DAYS` (180): lifetime of a new secret, capped by the tenant's policy.
    pub secret_lifetime_days: i64,
    /// `PROPAGATION_TIMEOUT_SECS` (300): how long to wait for Entra to accept a new secret.
    pub propagation_timeout: Duration,
    /// `PROPAGATION_SUCCESSES` (2): consecutive acceptances required before switching Jamf.
    pub propagation_successes: u32,
    /// `HTTP_TIMEOUT_SECS` (30): timeout of every outbound HTTP call.
    pub http_timeout: Duration,
    /// `ALERT_TOPIC_ARN`: SNS topic for alerts; unset, alerts go to the log only.
    pub alert_topic_arn: Option<String>,
    /// `ALERT_ON_SUCCESS` (false): also send a summary when a rotation succeeds.
    pub alert_on_success: bool,
    /// `SMTP_TEST_RECIPIENT`: default recipient of the `smtp-graph` target's test mail.
    pub smtp_test_recipient: Option<String>,
    /// `ORPHAN_MIN_AGE_SECS` (600): a credential of ours that no secret version holds is removed
    /// once older than this (a younger one may belong to a rotation running elsewhere).
    pub orphan_min_age: Duration,
    /// `ROTATION_LEASE_SECS` (900): how long an attempt at a target's rotation holds the lease
    /// that keeps other attempts out; a crashed holder's lease runs out after this. 0 keeps
    /// nobody out (only where one process at a time is certain: tests that kill the CLI).
    pub rotation_lease: Duration,
    /// `LEASE_TABLE_NAME`: the DynamoDB table that holds the targets' leases (template.yaml
    /// creates it); unset, leases stay in the process's memory and keep apart only its own
    /// attempts.
    pub lease_table_name: Option<String>,
    /// `RETIRE_GRACE_HOURS` (0): the old credential stays valid this long after a successful
    /// switch; a later scheduled check removes it. Emergency rotations ignore it.
    pub retire_grace: Duration,
    /// `RETIRE_AFTER_OBSERVED_USE` (false): keep the old credential until Entra's credential
    /// sign-in activity shows the new one in use (needs `AuditLog.Read.All`; global cloud).
    pub retire_after_observed_use: bool,
    /// `OBSERVED_USE_ALERT_DAYS` (3): alert when the new credential is not seen in use this long
    /// after the switch (Jamf Pro may not be using it).
    pub observed_use_alert_days: i64,
    /// `REVOCATION_PROOF_TIMEOUT_SECS` (600; 0 turns the proof off): after an emergency, how
    /// long the rotator keeps asking Entra's token endpoint with the revoked secret until it is
    /// refused, before it alerts `revocation-unconfirmed`.
    pub revocation_proof_timeout: Duration,
    /// `ROTATION_MODE` (`auto`): how the scheduled check runs due rotations ([`RotationMode`]).
    pub rotation_mode: RotationMode,
    /// `DEADLINE_MARGIN_SECS` (60): what an invocation keeps for its report, metrics and alerts
    /// before its deadline. The calls a rotation makes after its waits are budgeted from
    /// `HTTP_TIMEOUT_SECS` and the retry policy ([`Settings::worst_call`]), not from this.
    pub deadline_margin: Duration,
    /// `ALLOW_LOOPBACK_HTTP` (false): plain http to a loopback address is allowed, for stand-ins
    /// on this machine (tests, the CLI's `demo`). The deployed function never sets it, so a
    /// document or setting naming `http://localhost` is refused there.
    pub loopback_http: LoopbackHttp,
}

/// Lambda's longest invocation (the template's `Timeout`, 15 minutes): every invocation's worst
/// case must fit in it (`rotation::budget::Budget`).
pub const LAMBDA_TIMEOUT_SECS: u64 = 900;

/// Attempts per Entra or Graph call: the adapters' retry policy (`entra::retry`) takes its
/// number from here, so that the budget and the policy cannot drift apart.
pub const GRAPH_ATTEMPTS: u32 = 4;

/// The retry policy's longest wait between two attempts (its backoff's cap).
pub const GRAPH_MAX_BACKOFF_SECS: u64 = 30;

impl Settings {
    /// One Entra or Graph call at the retry policy's worst: each of [`GRAPH_ATTEMPTS`] attempts
    /// runs to `HTTP_TIMEOUT_SECS`, and each wait between two of them is the backoff's cap
    /// ([`GRAPH_MAX_BACKOFF_SECS`]). With the defaults: 4 × 30 s + 3 × 30 s = 210 s. (A
    /// `Retry-After` from Graph may ask for longer; Graph's throttling asks for seconds.)
    pub fn worst_call(&self) -> Duration {
        let waits = u64::from(GRAPH_ATTEMPTS.saturating_sub(1)) * GRAPH_MAX_BACKOFF_SECS;
        self.http_timeout * GRAPH_ATTEMPTS + Duration::from_secs(waits)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            entra_login_url: None,
            graph_url: None,
            rotator_client_id: None,
            rotator_credentials_secret_id: None,
            rotator_auth: RotatorAuth::ClientSecret,
            threshold_days: 30,
            secret_lifetime_days: 180,
            propagation_timeout: Duration::from_secs(300),
            propagation_successes: 2,
            http_timeout: Duration::from_secs(30),
            alert_topic_arn: None,
            alert_on_success: false,
            smtp_test_recipient: None,
            orphan_min_age: Duration::from_secs(600),
            rotation_lease: Duration::from_secs(900),
            lease_table_name: None,
            retire_grace: Duration::ZERO,
            retire_after_observed_use: false,
            observed_use_alert_days: 3,
            revocation_proof_timeout: Duration::from_secs(600),
            rotation_mode: RotationMode::Auto,
            deadline_margin: Duration::from_secs(60),
            loopback_http: LoopbackHttp::Refused,
        }
    }
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Settings::default();
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        // The AWS SDK reads its endpoint overrides itself: HTTPS, or plain HTTP to loopback
        // (moto, LocalStack on this machine). They name no Jamf or Entra host, so
        // ALLOW_LOOPBACK_HTTP does not govern them.
        for name in AWS_ENDPOINT_SETTINGS {
            if let Some(v) = get(name) {
                parse_url(name, v.trim(), LoopbackHttp::Allowed)?;
            }
        }
        let loopback_http = if flag(&get, "ALLOW_LOOPBACK_HTTP")? {
            LoopbackHttp::Allowed
        } else {
            LoopbackHttp::Refused
        };
        Ok(Self {
            entra_login_url: get("ENTRA_LOGIN_URL")
                .map(|v| parse_url("ENTRA_LOGIN_URL", &v, loopback_http))
                .transpose()?,
            graph_url: get("GRAPH_URL")
                .map(|v| parse_url("GRAPH_URL", &v, loopback_http))
                .transpose()?,
            rotator_client_id: get("ROTATOR_CLIENT_ID"),
            rotator_credentials_secret_id: get("ROTATOR_CREDENTIALS_SECRET_ID"),
            rotator_auth: get("ROTATOR_AUTH")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or_default(),
            threshold_days: num(&get, "ROTATION_THRESHOLD_DAYS", d.threshold_days, 1, 730)?,
            secret_lifetime_days: num(
                &get,
                "SECRET_LIFETIME_DAYS",
                d.secret_lifetime_days,
                2,
                730,
            )?,
            propagation_timeout: Duration::from_secs(num(
                &get,
                "PROPAGATION_TIMEOUT_SECS",
                300,
                1,
                3600,
            )? as u64),
            propagation_successes: num(&get, "PROPAGATION_SUCCESSES", 2, 1, 10)? as u32,
            http_timeout: Duration::from_secs(num(&get, "HTTP_TIMEOUT_SECS", 30, 1, 300)? as u64),
            alert_topic_arn: get("ALERT_TOPIC_ARN"),
            alert_on_success: flag(&get, "ALERT_ON_SUCCESS")?,
            smtp_test_recipient: get("SMTP_TEST_RECIPIENT"),
            orphan_min_age: Duration::from_secs(
                num(&get, "ORPHAN_MIN_AGE_SECS", 600, 0, 86_400)? as u64
            ),
            rotation_lease: Duration::from_secs(
                num(&get, "ROTATION_LEASE_SECS", 900, 0, 86_400)? as u64
            ),
            lease_table_name: get("LEASE_TABLE_NAME"),
            retire_grace: Duration::from_secs(
                num(&get, "RETIRE_GRACE_HOURS", 0, 0, 24 * 90)? as u64 * 3600,
            ),
            retire_after_observed_use: flag(&get, "RETIRE_AFTER_OBSERVED_USE")?,
            observed_use_alert_days: num(&get, "OBSERVED_USE_ALERT_DAYS", 3, 1, 90)?,
            revocation_proof_timeout: Duration::from_secs(num(
                &get,
                "REVOCATION_PROOF_TIMEOUT_SECS",
                600,
                0,
                3600,
            )? as u64),
            rotation_mode: get("ROTATION_MODE")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or_default(),
            deadline_margin: Duration::from_secs(
                num(&get, "DEADLINE_MARGIN_SECS", 60, 0, 900)? as u64
            ),
            loopback_http,
        })
    }

    /// The login host for `cloud`, honouring `ENTRA_LOGIN_URL`.
    pub fn login_base(&self, cloud: Cloud) -> Url {
        self.entra_login_url
            .clone()
            .unwrap_or_else(|| Url::parse(cloud.login_url()).expect("static url"))
    }

    /// The Graph host for `cloud`, honouring `GRAPH_URL`.
    pub fn graph_base(&self, cloud: Cloud) -> Url {
        self.graph_url
            .clone()
            .unwrap_or_else(|| Url::parse(cloud.graph_url()).expect("static url"))
    }
}

/// The AWS SDK's endpoint overrides for the services the product calls.
const AWS_ENDPOINT_SETTINGS: [&str; 5] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_SNS",
    "AWS_ENDPOINT_URL_STS",
];

fn parse_url(name: &str, value: &str, loopback: LoopbackHttp) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::Invalid {
        name: name.into(),
        problem: format!("not a URL: {e}"),
    })?;
    crate::endpoint::check_url(&url, loopback).map_err(|problem| ConfigError::Invalid {
        name: name.into(),
        problem,
    })?;
    Ok(url)
}

fn flag(get: &impl Fn(&str) -> Option<String>, name: &str) -> Result<bool, ConfigError> {
    match get(name).as_deref().map(str::trim) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            name: name.into(),
            problem: format!("'{other}' is not true or false"),
        }),
    }
}

fn num(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let Some(raw) = get(name) else {
        return Ok(default);
    };
    let v: i64 = raw.trim().parse().map_err(|_| ConfigError::Invalid {
        name: name.into(),
        problem: format!("'{raw}' is not a whole number"),
    })?;
    if !(min..=max).contains(&v) {
        return Err(ConfigError::Invalid {
            name: name.into(),
            problem: format!("{v} is outside {min}..={max}"),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_are_sane() {
        let s = from(&[]).unwrap();
        assert_eq!(s.threshold_days, 30);
        assert_eq!(s.propagation_timeout, Duration::from_secs(300));
        assert_eq!(
            s.login_base(Cloud::China).as_str(),
            "https://login.chinacloudapi.cn/"
        );
    }

    #[test]
    fn plain_http_to_a_remote_host_is_refused() {
        let e = from(&[("GRAPH_URL", "http://graph.example.com")]).unwrap_err();
        assert!(e.to_string().contains("GRAPH_URL"), "{e}");
        let allowed = ("ALLOW_LOOPBACK_HTTP", "true");
        assert!(from(&[("GRAPH_URL", "http://127.0.0.1:8080"), allowed]).is_ok());
        let e = from(&[("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://sm.example.com")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("AWS_ENDPOINT_URL_SECRETS_MANAGER") && e.contains("plain http"),
            "{e}"
        );
        assert!(
            from(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5599")]).is_ok(),
            "moto on loopback"
        );
        // The lease table's client reads its own override: checked like the others.
        let e = from(&[("AWS_ENDPOINT_URL_DYNAMODB", "http://ddb.example.com")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("AWS_ENDPOINT_URL_DYNAMODB") && e.contains("plain http"),
            "{e}"
        );
        assert!(from(&[(
            "AWS_ENDPOINT_URL",
            "https://vpce-1.secretsmanager.us-east-1.vpce.amazonaws.com"
        )])
        .is_ok());
    }

    #[test]
    fn loopback_http_only_with_allow_loopback_http_and_never_user_info() {
        assert_eq!(from(&[]).unwrap().loopback_http, LoopbackHttp::Refused);
        let e = from(&[("ENTRA_LOGIN_URL", "http://localhost:9")]).unwrap_err();
        assert!(
            e.to_string().contains("ENTRA_LOGIN_URL")
                && e.to_string().contains("ALLOW_LOOPBACK_HTTP"),
            "{e}"
        );
        let allowed = from(&[
            ("ENTRA_LOGIN_URL", "http://localhost:9"),
            ("ALLOW_LOOPBACK_HTTP", "true"),
        ])
        .unwrap();
        assert_eq!(allowed.loopback_http, LoopbackHttp::Allowed);
        let e = from(&[
            ("GRAPH_URL", "https://u:pw-value@graph.example.com"),
            ("ALLOW_LOOPBACK_HTTP", "true"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("user name or password") && !e.contains("pw-value"),
            "{e}"
        );
        let e = from(&[("ALLOW_LOOPBACK_HTTP", "yes")]).unwrap_err();
        assert!(e.to_string().contains("ALLOW_LOOPBACK_HTTP"), "{e}");
    }

    #[test]
    fn rotator_auth_defaults_to_client_secret_and_names_the_choices() {
        assert_eq!(from(&[]).unwrap().rotator_auth, RotatorAuth::ClientSecret);
        assert_eq!(
            from(&[("ROTATOR_AUTH", "federated")]).unwrap().rotator_auth,
            RotatorAuth::Federated
        );
        assert_eq!(
            from(&[("ROTATOR_AUTH", "certificate")])
                .unwrap()
                .rotator_auth,
            RotatorAuth::Certificate
        );
        let e = from(&[("ROTATOR_AUTH", "oidc")]).unwrap_err().to_string();
        assert!(
            e.contains("ROTATOR_AUTH") && e.contains("federated, certificate, client-secret"),
            "{e}"
        );
    }

    #[test]
    fn the_rotation_mode_defaults_to_auto_and_a_bad_one_is_named() {
        assert_eq!(from(&[]).unwrap().rotation_mode, RotationMode::Auto);
        assert_eq!(from(&[]).unwrap().deadline_margin, Duration::from_secs(60));
        for (v, mode) in [
            ("fan-out", RotationMode::FanOut),
            ("in-process", RotationMode::InProcess),
            ("auto", RotationMode::Auto),
        ] {
            assert_eq!(from(&[("ROTATION_MODE", v)]).unwrap().rotation_mode, mode);
        }
        let e = from(&[("ROTATION_MODE", "parallel")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "setting ROTATION_MODE is invalid: 'parallel' is not one of auto, in-process, fan-out"
        );
        let e = from(&[("DEADLINE_MARGIN_SECS", "901")]).unwrap_err();
        assert!(e.to_string().contains("DEADLINE_MARGIN_SECS"), "{e}");
    }

    #[test]
    fn the_revocation_proof_limit_defaults_to_ten_minutes_and_zero_turns_it_off() {
        let limit = |pairs: &[(&str, &str)]| from(pairs).map(|s| s.revocation_proof_timeout);
        assert_eq!(limit(&[]).unwrap(), Duration::from_secs(600));
        assert_eq!(
            limit(&[("REVOCATION_PROOF_TIMEOUT_SECS", "0")]).unwrap(),
            Duration::ZERO
        );
        let e = limit(&[("REVOCATION_PROOF_TIMEOUT_SECS", "7200")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "setting REVOCATION_PROOF_TIMEOUT_SECS is invalid: 7200 is outside 0..=3600"
        );
    }

    #[test]
    fn bad_numbers_name_the_setting() {
        let e = from(&[("ROTATION_THRESHOLD_DAYS", "soon")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "setting ROTATION_THRESHOLD_DAYS is invalid: 'soon' is not a whole number"
        );
    }
}
