//! The SMTP server settings of the Jamf Pro stand-in: merge-patch writes with a write-only
//! secret, and the test mail that really asks Entra for a Graph token with the stored secret.

use super::server::Reply;
use super::JamfSim;
use serde_json::{json, Value};

/// `authenticationType` values of `SmtpServerV2`.
const AUTH_TYPES: [&str; 4] = ["NONE", "BASIC", "GRAPH_API", "GOOGLE_MAIL"];

impl JamfSim {
    /// Replaces the Graph client secret the SMTP settings hold, with no request: an
    /// administrator pasting a secret on the settings page, or a write Jamf Pro applies late
    /// landing. The test mail then asks Entra with it, as Jamf Pro sends with the stored settings.
    pub fn set_smtp_secret(&self, secret: &str) {
        self.state().smtp_secret = Some(secret.to_string());
    }

    /// `PUT /api/v2/smtp-server`: applies the merge patch, keeps secrets out of what GET returns.
    pub(super) fn put_smtp(&self, headers: &axum::http::HeaderMap, body: &str) -> Reply {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/merge-patch+json") {
            return Reply::jamf_error(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "Content-Type must be application/merge-patch+json",
            );
        }
        let Ok(patch) = serde_json::from_str::<Value>(body) else {
            return Reply::jamf_error(400, "INVALID_JSON", "the body is not JSON");
        };
        let mut st = self.state();
        let mut next = st.smtp.clone();
        super::server::merge(&mut next, &patch);
        // The write-only secret leaves the settings document and is kept apart.
        let mut secret = st.smtp_secret.clone();
        if let Some(creds) = next
            .get_mut("graphApiCredentials")
            .and_then(Value::as_object_mut)
        {
            if let Some(Value::String(s)) = creds.remove("clientSecret") {
                secret = Some(s);
            }
        }
        for (section, key) in [
            ("basicAuthCredentials", "password"),
            ("googleMailCredentials", "clientSecret"),
        ] {
            if let Some(creds) = next.get_mut(section).and_then(Value::as_object_mut) {
                creds.remove(key);
            }
        }
        let auth = next
            .get("authenticationType")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !AUTH_TYPES.contains(&auth) {
            return Reply::jamf_error(
                400,
                "INVALID_FIELD",
                "authenticationType is not a known value",
            );
        }
        if next
            .pointer("/senderSettings/emailAddress")
            .and_then(Value::as_str)
            .is_none()
        {
            return Reply::jamf_error(
                400,
                "INVALID_FIELD",
                "senderSettings.emailAddress is required",
            );
        }
        if auth == "GRAPH_API" {
            let filled = |p: &str| {
                next.pointer(p)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
            };
            if !filled("/graphApiCredentials/tenantId")
                || !filled("/graphApiCredentials/clientId")
                || secret.is_none()
            {
                return Reply::jamf_error(
                    400,
                    "INVALID_FIELD",
                    "graphApiCredentials needs tenantId, clientId and clientSecret",
                );
            }
        }
        st.smtp = next.clone();
        st.smtp_secret = secret;
        Reply::json(200, next)
    }

    /// `POST /api/v1/smtp-server/test`: 202 when Entra issues a Graph token for the stored
    /// client id and secret; otherwise 400 (the schema's only error answer) with Entra's reason.
    pub(super) async fn smtp_test(&self, body: &str) -> Reply {
        let recipient = serde_json::from_str::<Value>(body).ok().and_then(|v| {
            v.get("recipientEmail")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        if recipient.as_deref().is_none_or(|r| !r.contains('@')) {
            return Reply::jamf_error(
                400,
                "INVALID_FIELD",
                "recipientEmail must be an email address",
            );
        }
        let (settings, secret) = {
            let st = self.state();
            (st.smtp.clone(), st.smtp_secret.clone())
        };
        if settings.get("enabled") != Some(&json!(true)) {
            return Reply::jamf_error(400, "SMTP_DISABLED", "the SMTP server is not enabled");
        }
        if settings.get("authenticationType").and_then(Value::as_str) != Some("GRAPH_API") {
            return Reply::jamf_error(
                400,
                "UNSUPPORTED",
                "the stand-in only tests GRAPH_API mail settings",
            );
        }
        let tenant = settings
            .pointer("/graphApiCredentials/tenantId")
            .and_then(Value::as_str)
            .unwrap_or("");
        let client_id = settings
            .pointer("/graphApiCredentials/clientId")
            .and_then(Value::as_str)
            .unwrap_or("");
        let config = &self.inner.config;
        let url = format!(
            "{}/{tenant}/oauth2/v2.0/token",
            config.entra_login_url.as_str().trim_end_matches('/')
        );
        let scope = config.cloud.graph_scope();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret.as_deref().unwrap_or("")),
            ("scope", scope.as_str()),
        ];
        let answer = self.inner.http.post(url).form(&form).send().await;
        let refused = match answer {
            Ok(r) if r.status().is_success() => return Reply::empty(202),
            Ok(r) => {
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                let reason = body
                    .get("error_description")
                    .and_then(Value::as_str)
                    .unwrap_or("no description");
                // Entra's description ends with trace and correlation ids on further lines.
                format!("HTTP {status}: {}", reason.lines().next().unwrap_or(reason))
            }
            Err(e) => format!("Entra could not be reached: {e}"),
        };
        Reply::jamf_error(
            400,
            "SMTP_TEST_FAILED",
            &format!("Unable to authenticate with Microsoft Graph: {refused}"),
        )
    }
}
