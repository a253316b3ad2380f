//! The JSON document a target's Secrets Manager secret holds.
//!
//! `AWSCURRENT` holds the document Jamf Pro is using; `AWSPENDING` the next one during a rotation;
//! `AWSPREVIOUS` the last one (the break-glass copy). Example:
//!
//! ```json
//! {
//!   "schema": 1,
//!   "entra": {
//!     "cloud": "global",
//!     "tenant_id": "contoso.onmicrosoft.com",
//!     "client_id": "11111111-1111-1111-1111-111111111111",
//!     "application_object_id": "22222222-2222-2222-2222-222222222222",
//!     "client_secret": "…",
//!     "key_id": "33333333-3333-3333-3333-333333333333",
//!     "expires_at": "2027-05-01T00:00:00Z"
//!   },
//!   "jamf": {
//!     "url": "https://example.jamfcloud.com",
//!     "target": "smtp-graph",
//!     "credentials_secret_id": "jamf/rotator-api-client",
//!     "test_recipient": "it-alerts@example.com",
//!     "daily_proof": true
//!   }
//! }
//! ```
//! A document written by a rotation also carries `rotation` (token, the key id it replaced, why,
//! when, how the old secret is retired).

use crate::config::Cloud;
use crate::redact::{serialize_secret, REDACTED};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// Largest document accepted (Secrets Manager's own limit is 64 KiB).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

/// The document of one rotation target.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetDocument {
    /// Format version; 1.
    pub schema: u32,
    /// The Entra side: which app, and its current secret.
    pub entra: EntraSection,
    /// The Jamf side: which server, which integration, where the Jamf credentials live.
    pub jamf: JamfSection,
    /// Set on documents a rotation wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationRecord>,
}

/// The Entra app registration Jamf Pro authenticates as, and its secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraSection {
    /// Which Microsoft cloud.
    #[serde(default)]
    pub cloud: Cloud,
    /// Tenant id (GUID) or verified domain.
    pub tenant_id: String,
    /// Application (client) id, the `appId`.
    pub client_id: String,
    /// Application object id, the `id`; found from `client_id` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_object_id: Option<String>,
    /// The client secret Jamf Pro uses.
    #[serde(serialize_with = "serialize_secret")]
    pub client_secret: SecretString,
    /// The secret's key id on the app; unknown for a secret made by hand (then `init` looks it up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// When the secret expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// `conditional-access`: seconds Jamf's notifications are watched after the change, unless the
/// document says otherwise (`jamf.observation_secs`).
pub const DEFAULT_OBSERVATION_SECS: u64 = 60;

/// The longest `jamf.observation_secs`: testSecret's invocation watches for that long, then
/// needs the calls' worst-case margin (330 s with the default settings) within Lambda's 900 s.
/// `init` and the function's start check the budget under the actual settings
/// (`rotation::budget::Budget`).
pub const MAX_OBSERVATION_SECS: u64 = 570;

/// Which Jamf integration uses the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// Mail through Microsoft Graph (`PUT /api/v2/smtp-server`).
    SmtpGraph,
    /// Microsoft Intune integration (Settings > Global > Conditional Access), a web page.
    ConditionalAccess,
    /// The rotator's own client secret (`ROTATOR_AUTH=client-secret`): the document in
    /// `ROTATOR_CREDENTIALS_SECRET_ID`, rotated like a target; no Jamf Pro involved.
    Rotator,
}

impl TargetKind {
    /// Every kind, in the order the CLI lists them: the one place a kind is declared
    /// (docs/EXTENDING.md).
    pub const ALL: [TargetKind; 3] = [
        TargetKind::SmtpGraph,
        TargetKind::ConditionalAccess,
        TargetKind::Rotator,
    ];

    /// True for a kind a Jamf Pro setting holds (all but the rotator's own secret).
    pub fn is_jamf(self) -> bool {
        self != TargetKind::Rotator
    }

    /// The name used in documents and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::SmtpGraph => "smtp-graph",
            TargetKind::ConditionalAccess => "conditional-access",
            TargetKind::Rotator => "rotator",
        }
    }
}

/// The Jamf Pro server and how to reach it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JamfSection {
    /// Base URL of the Jamf Pro server (not for `rotator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    /// Which integration holds the secret.
    pub target: TargetKind,
    /// Secrets Manager secret holding the Jamf credentials: `{"client_id","client_secret"}` (API
    /// client, preferred) or `{"username","password"}` (user account; required for
    /// `conditional-access`). Not for `rotator`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credentials_secret_id: String,
    /// `smtp-graph`: recipient of the test mail Jamf Pro sends to prove the secret works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_recipient: Option<String>,
    /// `conditional-access`: path of the settings edit page (default `ConditionalAccess.html?o=u`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_path: Option<String>,
    /// `conditional-access`: name of the client-secret control, when the form's password input is
    /// not it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_field: Option<String>,
    /// `conditional-access`: name of the application-id control, when it cannot be discovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id_field: Option<String>,
    /// `conditional-access`: seconds to watch Jamf's notifications after the change (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation_secs: Option<u64>,
    /// Opt-in: the scheduled check runs Jamf Pro's own test every day (the SMTP test mail; for
    /// `conditional-access`, the integration's notifications), so that a secret Jamf Pro holds
    /// and Entra refuses (pasted by hand, a write applied late) is found within a day and
    /// `AWSCURRENT`'s put back ([`crate::rotation::proof`]). Off unless set: the test mail
    /// reaches a mailbox daily.
    #[serde(default, skip_serializing_if = "is_false")]
    pub daily_proof: bool,
}

/// Serde helper: leaves a flag that is off out of the document (documents without it parse the
/// same).
fn is_false(flag: &bool) -> bool {
    !*flag
}

/// How the old secret is retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeOld {
    /// Remove the old credential once the new one is verified in Jamf Pro (the default).
    #[default]
    AfterVerification,
    /// Emergency: remove the old credential as soon as the new one is in Jamf Pro and verified,
    /// and never keep it for a grace period.
    Immediately,
}

/// What a rotation wrote into the document it created.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationRecord {
    /// The rotation's token (the Secrets Manager version id).
    pub token: String,
    /// The key id this rotation replaces (removed when it completes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces_key_id: Option<String>,
    /// Why the rotation ran (`scheduled`, `manual: …`).
    pub reason: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How the old secret is retired.
    #[serde(default)]
    pub revoke_old: RevokeOld,
    /// Emergency lockdown: also remove every other credential of the app.
    #[serde(default)]
    pub lockdown: bool,
    /// A lockdown's sibling targets (secret ids): targets on the same app registration, rotated
    /// with it rather than cut off. Kept so that a check can complete a lockdown a crash
    /// interrupted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lockdown_siblings: Vec<String>,
}

/// A document that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Occurs when the secret's value is not a valid document.
    #[error("the target document is invalid: {0}")]
    Invalid(String),
    /// Occurs when the pending document (`AWSPENDING`) differs from `AWSCURRENT` in more than a
    /// rotation changes (the credential and the rotation record): it was not written by a
    /// rotation, and acting on it could send credentials elsewhere.
    #[error(
        "the pending document (AWSPENDING, version {version}) differs from AWSCURRENT in {}, \
         which a rotation never changes: refused, nothing was changed. If you did not write it, \
         someone else did; remove the AWSPENDING label from that version and look into who \
         can write this secret",
        fields.join(", ")
    )]
    PendingDiffers {
        /// The pending version.
        version: String,
        /// The fields that differ (names, never values).
        fields: Vec<&'static str>,
    },
}

impl TargetDocument {
    /// Parses and validates a document. The error names the field; it never echoes a value.
    pub fn parse(text: &str) -> Result<Self, DocumentError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::Invalid(format!(
                "{} bytes is larger than the {MAX_DOCUMENT_BYTES}-byte limit",
                text.len()
            )));
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let doc: TargetDocument = serde_path_to_error::deserialize(de).map_err(|e| {
            // The path names the field; serde_json's message names the problem and position.
            // Neither holds the value of a string field, except "unknown variant" errors, which
            // hold enum names, and URL errors, which hold the URL: never a secret.
            let path = e.path().to_string();
            // serde_json quotes a wrongly typed string value ("invalid type: string \"…\""); at
            // the top level, or in place of a section, that value may be a secret: drop it.
            let inner = redact_quoted(&e.into_inner().to_string());
            if path.is_empty() || path == "." {
                DocumentError::Invalid(inner)
            } else {
                DocumentError::Invalid(format!("{path}: {inner}"))
            }
        })?;
        doc.validate()?;
        Ok(doc)
    }

    /// Checks what serde cannot: supported schema, non-empty ids, an allowed Jamf URL.
    pub fn validate(&self) -> Result<(), DocumentError> {
        let bad = |m: String| Err(DocumentError::Invalid(m));
        if self.schema != 1 {
            return bad(format!(
                "schema {} is not supported (expected 1)",
                self.schema
            ));
        }
        let jamf = self.jamf.target != TargetKind::Rotator;
        for (name, v) in [
            ("entra.tenant_id", &self.entra.tenant_id),
            ("entra.client_id", &self.entra.client_id),
            (
                "jamf.credentials_secret_id",
                &self.jamf.credentials_secret_id,
            ),
        ] {
            if !jamf && name.starts_with("jamf.") {
                continue;
            }
            if v.trim().is_empty() {
                return bad(format!("{name} is empty"));
            }
        }
        if !self
            .entra
            .tenant_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return bad("entra.tenant_id must be a GUID or a domain name".into());
        }
        if let Some(secs) = self
            .jamf
            .observation_secs
            .filter(|s| *s > MAX_OBSERVATION_SECS)
        {
            return bad(format!(
                "jamf.observation_secs is {secs}; it must be at most {MAX_OBSERVATION_SECS} (testSecret's invocation watches that long, then needs 330 s of margin for its calls within Lambda's 900 s)"
            ));
        }
        use secrecy::ExposeSecret;
        if self.entra.client_secret.expose_secret().is_empty() {
            return bad("entra.client_secret is empty".into());
        }
        match (&self.jamf.url, jamf) {
            (Some(url), true) => {
                // Whether plain http to loopback is allowed is the settings' to say
                // (ALLOW_LOOPBACK_HTTP), and the Jamf client applies it before any request;
                // here the URL's form is checked (https or loopback, never user-info).
                let form = crate::endpoint::LoopbackHttp::Allowed;
                if let Err(problem) = crate::endpoint::check_url(url, form) {
                    return bad(format!("jamf.url: {problem}"));
                }
            }
            (None, true) => return bad("jamf.url is missing".into()),
            (Some(_), false) => return bad("jamf.url does not belong in a rotator document".into()),
            (None, false) => {}
        }
        if self.jamf.daily_proof && !jamf {
            return bad("jamf.daily_proof does not belong in a rotator document (no Jamf Pro holds the rotator's own secret)".into());
        }
        Ok(())
    }

    /// The fields in which this pending document differs from `current` beyond what a rotation
    /// changes: the credential (client secret, key id, expiry; the app's object id when current
    /// had none, since createSecret fills it in) and the rotation record. Names, never values.
    pub fn differences_from_current(&self, current: &TargetDocument) -> Vec<&'static str> {
        let (p, c) = (self, current);
        let object_id_filled_in = c.entra.application_object_id.is_none();
        let same = [
            ("schema", p.schema == c.schema),
            ("entra.cloud", p.entra.cloud == c.entra.cloud),
            ("entra.tenant_id", p.entra.tenant_id == c.entra.tenant_id),
            ("entra.client_id", p.entra.client_id == c.entra.client_id),
            (
                "entra.application_object_id",
                object_id_filled_in
                    || p.entra.application_object_id == c.entra.application_object_id,
            ),
            ("jamf.url", p.jamf.url == c.jamf.url),
            ("jamf.target", p.jamf.target == c.jamf.target),
            (
                "jamf.credentials_secret_id",
                p.jamf.credentials_secret_id == c.jamf.credentials_secret_id,
            ),
            (
                "jamf.test_recipient",
                p.jamf.test_recipient == c.jamf.test_recipient,
            ),
            ("jamf.page_path", p.jamf.page_path == c.jamf.page_path),
            (
                "jamf.secret_field",
                p.jamf.secret_field == c.jamf.secret_field,
            ),
            (
                "jamf.application_id_field",
                p.jamf.application_id_field == c.jamf.application_id_field,
            ),
            (
                "jamf.observation_secs",
                p.jamf.observation_secs == c.jamf.observation_secs,
            ),
            ("jamf.daily_proof", p.jamf.daily_proof == c.jamf.daily_proof),
        ];
        same.into_iter()
            .filter(|(_, same)| !same)
            .map(|(name, _)| name)
            .collect()
    }

    /// Refuses this pending document (version `version`) when it differs from `current` beyond
    /// what a rotation changes ([`Self::differences_from_current`]).
    pub fn check_pending(
        &self,
        version: &str,
        current: &TargetDocument,
    ) -> Result<(), DocumentError> {
        let fields = self.differences_from_current(current);
        if fields.is_empty() {
            return Ok(());
        }
        Err(DocumentError::PendingDiffers {
            version: version.to_string(),
            fields,
        })
    }

    /// Serialises the document (to store it in Secrets Manager).
    pub fn to_secret(&self) -> SecretString {
        SecretString::from(serde_json::to_string(self).expect("document serialises"))
    }

    /// How long verifying a new secret in Jamf Pro waits on purpose: `conditional-access` watches
    /// Jamf's notifications for `observation_secs` (default [`DEFAULT_OBSERVATION_SECS`]); the
    /// other kinds test at once. Part of a rotation's time budget (the check's deadline gate).
    pub fn verification_window(&self) -> std::time::Duration {
        match self.jamf.target {
            TargetKind::ConditionalAccess => std::time::Duration::from_secs(
                self.jamf
                    .observation_secs
                    .unwrap_or(DEFAULT_OBSERVATION_SECS),
            ),
            TargetKind::SmtpGraph | TargetKind::Rotator => std::time::Duration::ZERO,
        }
    }

    /// A short name for logs and alerts: Jamf host (or the rotator's client id) and target kind.
    pub fn label(&self) -> String {
        match &self.jamf.url {
            Some(url) => format!(
                "{} {}",
                url.host_str().unwrap_or("?"),
                self.jamf.target.as_str()
            ),
            None => format!("{} {}", self.entra.client_id, self.jamf.target.as_str()),
        }
    }
}

/// Replaces every double-quoted part of a parser message (string values; field and variant names
/// are in backticks) with `"…"`.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…");
            } else {
                out.push('"');
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

impl std::fmt::Debug for TargetDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetDocument")
            .field("schema", &self.schema)
            .field("entra", &self.entra)
            .field("jamf", &self.jamf)
            .field("rotation", &self.rotation)
            .finish()
    }
}

impl std::fmt::Debug for EntraSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraSection")
            .field("cloud", &self.cloud)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("application_object_id", &self.application_object_id)
            .field("client_secret", &REDACTED)
            .field("key_id", &self.key_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"schema":1,"entra":{"cloud":"global","tenant_id":"contoso.onmicrosoft.com",
      "client_id":"11111111-1111-1111-1111-111111111111","client_secret":"Zq8~verysecretvalue",
      "key_id":"33333333-3333-3333-3333-333333333333","expires_at":"2027-05-01T00:00:00Z"},
      "jamf":{"url":"https://example.jamfcloud.com","target":"smtp-graph",
      "credentials_secret_id":"jamf/creds","test_recipient":"it@example.com"}}"#;

    #[test]
    fn round_trips_and_never_debug_prints_the_secret() {
        let doc = TargetDocument::parse(DOC).unwrap();
        assert_eq!(doc.jamf.target, TargetKind::SmtpGraph);
        let dbg = format!("{doc:?}");
        assert!(!dbg.contains("verysecretvalue"), "{dbg}");
        use secrecy::ExposeSecret;
        let again = TargetDocument::parse(doc.to_secret().expose_secret()).unwrap();
        assert_eq!(
            again.entra.client_secret.expose_secret(),
            "Zq8~verysecretvalue"
        );
    }

    #[test]
    fn unknown_fields_and_plain_http_are_named() {
        let typo = DOC.replace("\"test_recipient\"", "\"test_recipent\"");
        let e = TargetDocument::parse(&typo).unwrap_err().to_string();
        assert!(e.contains("test_recipent"), "{e}");
        let http = DOC.replace("https://example", "http://example");
        let e = TargetDocument::parse(&http).unwrap_err().to_string();
        assert!(e.contains("jamf.url") && e.contains("plain http"), "{e}");
        let e = TargetDocument::parse(&DOC.replace("\"schema\":1", "\"schema\":2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("schema 2"), "{e}");
    }

    #[test]
    fn a_document_that_is_only_a_string_is_not_echoed() {
        let e = TargetDocument::parse("\"Zq8~verysecretvalue\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid type: string"), "{e}");
        assert!(!e.contains("verysecret"), "{e}");
        let e = TargetDocument::parse(
            &DOC.replace("\"jamf\":{", "\"jamf\":\"Zq8~verysecretvalue\",\"x\":{"),
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("verysecret"), "{e}");
    }

    /// A pending document as createSecret makes it from `current`: new credential, new record.
    fn rotated(current: &TargetDocument) -> TargetDocument {
        let mut p = current.clone();
        p.entra.client_secret = SecretString::from("Zq8~thenewsecretvalue".to_string());
        p.entra.key_id = Some("44444444-4444-4444-4444-444444444444".into());
        p.entra.expires_at = Some("2028-01-01T00:00:00Z".parse().unwrap());
        p.entra.application_object_id = Some("22222222-2222-2222-2222-222222222222".into());
        p.rotation = Some(RotationRecord {
            token: "t1".into(),
            replaces_key_id: current.entra.key_id.clone(),
            reason: "scheduled".into(),
            started_at: "2027-04-01T00:00:00Z".parse().unwrap(),
            revoke_old: RevokeOld::AfterVerification,
            lockdown: false,
            lockdown_siblings: Vec::new(),
        });
        p
    }

    #[test]
    fn a_pending_document_may_differ_only_in_the_credential_and_the_record() {
        let current = TargetDocument::parse(DOC).unwrap();
        let pending = rotated(&current);
        assert!(pending.differences_from_current(&current).is_empty());
        pending.check_pending("t1", &current).unwrap();
        // Once the object id is known, it may not change either.
        let mut known = current.clone();
        known.entra.application_object_id = Some("99999999-9999-9999-9999-999999999999".into());
        assert_eq!(
            pending.differences_from_current(&known),
            ["entra.application_object_id"]
        );
    }

    #[test]
    fn a_tampered_pending_document_is_refused_naming_the_fields_not_the_values() {
        let current = TargetDocument::parse(DOC).unwrap();
        let mut pending = rotated(&current);
        pending.jamf.url = Some(Url::parse("https://evil.example.com").unwrap());
        pending.jamf.credentials_secret_id = "jamf/other-server".into();
        pending.entra.tenant_id = "fabrikam.onmicrosoft.com".into();
        pending.entra.client_id = "55555555-5555-5555-5555-555555555555".into();
        pending.entra.cloud = Cloud::Usgov;
        pending.jamf.target = TargetKind::ConditionalAccess;
        pending.jamf.test_recipient = Some("attacker@example.com".into());
        let e = pending.check_pending("t1", &current).unwrap_err();
        let DocumentError::PendingDiffers { fields, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            fields,
            &[
                "entra.cloud",
                "entra.tenant_id",
                "entra.client_id",
                "jamf.url",
                "jamf.target",
                "jamf.credentials_secret_id",
                "jamf.test_recipient"
            ]
        );
        let text = e.to_string();
        assert!(
            text.contains("version t1") && text.contains("jamf.url"),
            "{text}"
        );
        for value in ["evil.example.com", "attacker@", "thenewsecret", "fabrikam"] {
            assert!(!text.contains(value), "{text}");
        }
    }

    #[test]
    fn the_daily_proof_is_off_unless_set_and_older_documents_read_the_same() {
        let old = TargetDocument::parse(DOC).unwrap();
        assert!(!old.jamf.daily_proof);
        use secrecy::ExposeSecret;
        let written = old.to_secret().expose_secret().to_string();
        assert!(!written.contains("daily_proof"), "{written}");
        let opted = DOC.replace(
            "\"test_recipient\"",
            "\"daily_proof\":true,\"test_recipient\"",
        );
        let doc = TargetDocument::parse(&opted).unwrap();
        assert!(doc.jamf.daily_proof);
        let again = TargetDocument::parse(doc.to_secret().expose_secret()).unwrap();
        assert!(again.jamf.daily_proof);
        let e = TargetDocument::parse(&DOC.replace(
            "\"test_recipient\"",
            "\"daily_proof\":\"yes\",\"test_recipient\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("jamf.daily_proof"), "{e}");
    }

    #[test]
    fn a_rotator_document_has_no_daily_proof() {
        let rotator = r#"{"schema":1,"entra":{"tenant_id":"contoso.onmicrosoft.com",
          "client_id":"11111111-1111-1111-1111-111111111111","client_secret":"Zq8~verysecretvalue"},
          "jamf":{"target":"rotator","daily_proof":true}}"#;
        let e = TargetDocument::parse(rotator).unwrap_err().to_string();
        assert!(e.contains("jamf.daily_proof does not belong"), "{e}");
        TargetDocument::parse(&rotator.replace("\"daily_proof\":true", "\"daily_proof\":false"))
            .unwrap();
    }

    #[test]
    fn errors_never_echo_the_secret() {
        let broken = DOC.replace(
            "\"client_secret\":\"Zq8~verysecretvalue\"",
            "\"client_secret\":42",
        );
        let e = TargetDocument::parse(&broken).unwrap_err().to_string();
        assert!(e.contains("client_secret") || e.contains("string"), "{e}");
        assert!(!e.contains("verysecret"));
    }
}
