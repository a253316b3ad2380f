//! The Intune form's submission: what the page shows and the body that is sent, every pair as
//! rendered with the secret replaced, in the form's own encoding.

use super::{Encoded, IntuneForm};
use secrecy::{ExposeSecret, SecretString};

impl IntuneForm {
    /// The application (client) id the page shows.
    pub fn application_id(&self) -> &str {
        self.controls[self.application_id].value.trim()
    }

    /// The path the form posts to, for errors, alerts and the probe: without path parameters
    /// (`;jsessionid=…` is a session).
    pub fn action_label(&self) -> String {
        crate::http::label_path(self.action.path())
    }

    /// The client-secret control's name.
    pub fn secret_field(&self) -> &str {
        &self.controls[self.secret].name
    }

    /// The application-ID control's name.
    pub fn application_id_field(&self) -> &str {
        &self.controls[self.application_id].name
    }

    /// The `application/x-www-form-urlencoded` body: every pair as rendered, the secret replaced.
    pub fn body(&self, secret: &SecretString) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (i, c) in self.controls.iter().enumerate() {
            let value = if i == self.secret {
                secret.expose_secret()
            } else {
                c.value.as_str()
            };
            out.append_pair(&c.name, value);
        }
        out.finish()
    }

    /// The submission in the form's own encoding: every pair as rendered, the secret replaced.
    pub fn encode(&self, secret: &SecretString) -> Encoded {
        if !self.multipart {
            return Encoded {
                content_type: "application/x-www-form-urlencoded".into(),
                body: self.body(secret),
            };
        }
        let boundary = format!("----jamf-entra-rotator-{}", uuid::Uuid::new_v4().simple());
        let mut body = String::new();
        for (i, c) in self.controls.iter().enumerate() {
            let value = if i == self.secret {
                secret.expose_secret()
            } else {
                c.value.as_str()
            };
            // Names are escaped the way browsers do (quotes and line breaks percent-encoded).
            let name = c
                .name
                .replace('"', "%22")
                .replace('\r', "%0D")
                .replace('\n', "%0A");
            body += &format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
        }
        body += &format!("--{boundary}--\r\n");
        Encoded {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            body,
        }
    }

    /// Values a message about this form must never show (rendered passwords and tokens).
    pub fn sensitive_values(&self) -> Vec<SecretString> {
        // The application id is compared with the page after Save, so it is never scrubbed.
        (self.controls.iter().enumerate())
            .filter(|(i, c)| *i != self.application_id && c.is_sensitive() && !c.value.is_empty())
            .map(|(_, c)| SecretString::from(c.value.clone()))
            .collect()
    }
}
