//! Each target kind's Jamf Pro setting, as the composed world seeds it and reads it back: the one
//! place in the test kit that matches on the kind (see docs/EXTENDING.md).

use crate::config::Cloud;
use crate::document::TargetKind;
use crate::entra::SimApp;
use crate::jamf::JamfSim;
use secrecy::{ExposeSecret, SecretString};

/// The product's default settings, but allowing plain http to loopback (`ALLOW_LOOPBACK_HTTP`),
/// where the stand-ins listen: what a test that builds its own settings starts from.
pub fn on_loopback() -> crate::config::Settings {
    crate::config::Settings {
        loopback_http: rotator_engine::endpoint::LoopbackHttp::Allowed,
        ..Default::default()
    }
}

/// The Jamf account the rotator signs in to Jamf Pro's web UI with (conditional-access).
const UI_ACCOUNT: &str = "svc-entra-rotator";

/// The Jamf credentials a kind's target reads (the credentials secret's JSON, bound to the
/// stand-in's origin by `jamf_url`) and the secret in them (for the leak scan).
pub struct JamfCredentials {
    /// The credentials secret's document.
    pub document: serde_json::Value,
    /// The password or client secret it holds.
    pub secret: SecretString,
}

/// Seeds the Jamf Pro stand-in's setting of `kind` with the app's `first_secret`, and returns the
/// credentials the rotator's target signs in to Jamf Pro with. (The SMTP server's setting is
/// seeded when the stand-in starts.)
pub fn seed(
    kind: TargetKind,
    jamf: &JamfSim,
    app: &SimApp,
    first_secret: &SecretString,
) -> JamfCredentials {
    let (client_id, client_secret) = jamf.add_api_client();
    match kind {
        TargetKind::SmtpGraph | TargetKind::Rotator => JamfCredentials {
            document: serde_json::json!({"client_id": client_id, "client_secret": client_secret.expose_secret(), "jamf_url": jamf.url().as_str()}),
            secret: client_secret,
        },
        TargetKind::ConditionalAccess => {
            // The web UI needs a local user account; the integration holds the secret.
            let password = SecretString::from(format!("Pw-{}", uuid::Uuid::new_v4().simple()));
            jamf.add_user(UI_ACCOUNT, password.expose_secret());
            jamf.web().configure(crate::jamf_web::CaSettings {
                enabled: true,
                cloud: Cloud::Global,
                domain: "contoso.onmicrosoft.com".into(),
                application_id: app.client_id.clone(),
                secret: first_secret.expose_secret().to_string(),
            });
            JamfCredentials {
                document: serde_json::json!({"username": UI_ACCOUNT, "password": password.expose_secret(), "jamf_url": jamf.url().as_str()}),
                secret: password,
            }
        }
    }
}

/// The secret `kind`'s setting holds now (`None` for the rotator's own secret, which no Jamf Pro
/// holds), and the resource whose token proves Entra accepts it.
pub fn held(kind: TargetKind, jamf: &JamfSim) -> Option<(String, String)> {
    match kind {
        TargetKind::SmtpGraph => Some((jamf.smtp_secret()?, Cloud::Global.graph_scope())),
        TargetKind::ConditionalAccess => Some((
            jamf.web().secret()?,
            Cloud::Global.intune_scope().to_string(),
        )),
        TargetKind::Rotator => None,
    }
}
