//! Setting up the Entra stand-in's world (tenants, apps, passwords, certificates, federated
//! credentials) and reading back what it holds and what it was sent.

use super::passwords::new_secret;
use super::token::known_scope;
use super::{App, EntraOp, EntraSim, Password, SimApp};
use crate::ports::PasswordCredential;
use crate::RecordedRequest;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::collections::HashSet;

impl EntraSim {
    /// Adds a tenant by GUID, with an optional verified domain that the token endpoint also knows.
    pub fn add_tenant(&self, tenant_id: &str, domain: Option<&str>) {
        self.state()
            .tenants
            .insert(tenant_id.to_string(), domain.map(str::to_string));
    }

    /// Registers an app in `tenant_id`, with no passwords.
    pub fn add_app(&self, tenant_id: &str, display_name: &str) -> SimApp {
        let app = SimApp {
            object_id: uuid::Uuid::new_v4().to_string(),
            client_id: uuid::Uuid::new_v4().to_string(),
        };
        self.state().apps.insert(
            app.object_id.clone(),
            App {
                tenant: tenant_id.to_string(),
                client_id: app.client_id.clone(),
                display_name: display_name.to_string(),
                passwords: vec![],
                owners: HashSet::new(),
                max_lifetime: None,
            },
        );
        app
    }

    /// Adds a password to an app, valid from now until `end`, accepted at once (as if it had
    /// propagated long ago). Returns its key id and secret.
    pub fn seed_password(
        &self,
        app_object_id: &str,
        display_name: &str,
        end: DateTime<Utc>,
    ) -> (String, SecretString) {
        let now = self.inner.clock.now();
        let secret = new_secret();
        let key_id = uuid::Uuid::new_v4().to_string();
        let mut st = self.state();
        let app = st
            .apps
            .get_mut(app_object_id)
            .expect("seed_password: unknown app object id");
        app.passwords.push(Password {
            key_id: key_id.clone(),
            display_name: Some(display_name.to_string()),
            start: now,
            end,
            secret: secret.clone(),
            created: None,
            last_sign_in: None,
        });
        (key_id, SecretString::from(secret))
    }

    /// Registers the rotator's own app in `tenant_id` with a secret valid for two years.
    pub fn add_rotator(&self, tenant_id: &str) -> (String, SecretString) {
        let app = self.add_app(tenant_id, "jamf-entra-rotator");
        let end = self.inner.clock.now() + chrono::Duration::days(730);
        let (_, secret) = self.seed_password(&app.object_id, "rotator", end);
        (app.client_id, secret)
    }

    /// The object id of the app with this client id (e.g. the rotator's own app).
    pub fn object_id_of(&self, client_id: &str) -> Option<String> {
        self.state()
            .apps
            .iter()
            .find(|(_, a)| a.client_id == client_id)
            .map(|(id, _)| id.clone())
    }

    /// Makes the rotator an owner of the app: with `Application.ReadWrite.OwnedBy` it may now
    /// add and remove the app's passwords.
    pub fn make_owner(&self, rotator_client_id: &str, app_object_id: &str) {
        let mut st = self.state();
        let app = st
            .apps
            .get_mut(app_object_id)
            .expect("make_owner: unknown app object id");
        app.owners.insert(rotator_client_id.to_string());
    }

    /// With `on`, the rotator holds only `Application.ReadWrite.OwnedBy`, not
    /// `Application.Read.All` (contracts/entra-graph.md, Permissions): `GET /applications/…` of
    /// an app it does not own is refused with 403 `Authorization_RequestDenied`, as its writes are.
    pub fn set_read_requires_ownership(&self, on: bool) {
        self.state().read_owned_only = on;
    }

    /// Registers a certificate (PEM) on the app with `client_id`: client assertions signed with
    /// its key (PS256 or RS256, `x5t#S256` naming it) are accepted.
    pub fn add_certificate(&self, client_id: &str, certificate_pem: &str) {
        self.state()
            .assertions
            .add_certificate(client_id, certificate_pem);
    }

    /// Adds a federated identity credential to the app with `client_id`: external tokens with
    /// exactly this issuer and subject, and one of these audiences, are accepted as client
    /// assertions once signed by a key of the issuer's ([`Self::trust_issuer_key`]).
    pub fn add_federated_credential(
        &self,
        client_id: &str,
        issuer: &str,
        subject: &str,
        audiences: &[&str],
    ) {
        self.state()
            .assertions
            .add_federated_credential(client_id, issuer, subject, audiences);
    }

    /// Publishes an issuer's RSA public key (PEM) under `kid`, as its JWKS would.
    pub fn trust_issuer_key(&self, issuer: &str, kid: &str, public_key_pem: &str) {
        self.state()
            .assertions
            .trust_issuer_key(issuer, kid, public_key_pem);
    }

    /// The app's password credentials as Graph lists them.
    pub fn passwords(&self, app_object_id: &str) -> Vec<PasswordCredential> {
        let st = self.state();
        st.apps
            .get(app_object_id)
            .map(|a| a.passwords.iter().map(Password::listed).collect())
            .unwrap_or_default()
    }

    /// Whether the token endpoint would issue a token for `client_id`/`secret`/`scope` now.
    pub fn accepts(&self, client_id: &str, secret: &str, scope: &str) -> bool {
        let now = self.inner.clock.now();
        let st = self.state();
        let lag = st.lag;
        known_scope(scope)
            && st
                .apps
                .values()
                .filter(|a| a.client_id == client_id)
                .any(|a| {
                    a.passwords
                        .iter()
                        .any(|p| p.secret == secret && p.end >= now && p.propagated(now, lag))
                })
    }

    /// Every request received so far, bodies included, `Authorization` never.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// Waits until at least `n` requests have been recorded.
    pub async fn wait_for_requests(&self, n: usize) {
        loop {
            let notified = self.inner.activity.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state().requests.len() >= n {
                return;
            }
            notified.await;
        }
    }

    /// How many requests of kind `op` arrived (failed and throttled ones included).
    pub fn count(&self, op: EntraOp) -> usize {
        self.state().counts.get(&op).copied().unwrap_or(0)
    }
}
