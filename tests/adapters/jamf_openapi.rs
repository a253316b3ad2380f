//! Contract test: every request our Jamf client sent and every answer the Jamf stand-in gave, as
//! recorded in the stand-in's log, validates against the vendor's OpenAPI 3 schema subset
//! (tests/fixtures/jamf-pro-api-11.30.1.subset.json), and every operation the client calls exists
//! in that schema.
//!
//! OpenAPI 3.0 is not quite JSON Schema, so the schema is adapted the way the OpenAPI spec reads
//! it: `nullable: true` admits `null`; a `writeOnly` property is not required in (and must not
//! appear in) a response; a `readOnly` property is not required in a request.

use chrono::{TimeZone, Utc};
use rotator_adapters::jamf::{JamfClient, JamfCredentials, SmtpGraphTarget};
use rotator_engine::config::Cloud;
use rotator_engine::ports::SecretHolder;
use rotator_testkit::clock::{ManualClock, SharedClock};
use rotator_testkit::entra::EntraSim;
use rotator_testkit::jamf::{JamfSim, JamfSimConfig};
use rotator_testkit::RecordedRequest;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::sync::Arc;

const FIXTURE: &str = include_str!("../fixtures/jamf-pro-api-11.30.1.subset.json");
/// The OAuth path of older servers: the contract says to serve and accept it, the 11.30.1
/// schema no longer lists it.
const LEGACY_PATHS: [&str; 1] = ["/api/oauth/token"];

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Request,
    Response,
}

/// Rewrites an OpenAPI 3.0 schema object into JSON Schema for one direction.
fn adapt(schema: &mut Value, dir: Direction) {
    match schema {
        Value::Object(map) => {
            if map.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(t)) = map.get("type").cloned() {
                    map.insert("type".into(), json!([t, "null"]));
                }
            }
            let hidden = if dir == Direction::Response {
                "writeOnly"
            } else {
                "readOnly"
            };
            let mut dropped = Vec::new();
            if let Some(Value::Object(props)) = map.get_mut("properties") {
                for (name, prop) in props.iter_mut() {
                    if prop.get(hidden) == Some(&Value::Bool(true)) {
                        dropped.push(name.clone());
                        if dir == Direction::Response {
                            // A write-only value (a secret) must never come back.
                            *prop = Value::Bool(false);
                        }
                    }
                }
            }
            if let Some(Value::Array(required)) = map.get_mut("required") {
                required.retain(|r| !dropped.iter().any(|d| Some(d.as_str()) == r.as_str()));
            }
            map.values_mut().for_each(|v| adapt(v, dir));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| adapt(v, dir)),
        _ => {}
    }
}

struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Self {
        Self {
            doc: serde_json::from_str(FIXTURE).expect("fixture is JSON"),
        }
    }

    /// The schema's path template matching a concrete path (`/api` stripped, `{x}` any segment).
    fn template(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap().strip_prefix("/api")?;
        let want: Vec<&str> = path.split('/').collect();
        self.doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .find(|t| {
                let have: Vec<&str> = t.split('/').collect();
                have.len() == want.len()
                    && have
                        .iter()
                        .zip(&want)
                        .all(|(h, w)| h.starts_with('{') || h == w)
            })
            .cloned()
    }

    /// Validates `instance` against an OpenAPI schema object (usually a `$ref`), adapted for `dir`.
    fn check(&self, schema: &Value, instance: &Value, dir: Direction, what: &str) {
        let mut components = self.doc["components"].clone();
        adapt(&mut components, dir);
        let mut root = schema.clone();
        adapt(&mut root, dir);
        root.as_object_mut()
            .expect("schema object")
            .insert("components".into(), components);
        let validator = jsonschema::validator_for(&root).expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{what}: {errors:?}\n{instance}");
    }

    /// Checks one recorded exchange; returns the operation's `METHOD template`.
    fn exchange(&self, r: &RecordedRequest) -> Option<String> {
        let path = r.path.split('?').next().unwrap();
        if LEGACY_PATHS.contains(&path) {
            return None;
        }
        let what = format!("{} {} -> {}", r.method, r.path, r.status);
        let template = self
            .template(path)
            .unwrap_or_else(|| panic!("{what}: the path is not in the schema"));
        let op = &self.doc["paths"][&template][r.method.to_lowercase()];
        assert!(op.is_object(), "{what}: the method is not in the schema");

        // The request body, in the content type the schema names.
        match op["requestBody"]["content"].as_object() {
            Some(content) => {
                let sent = r
                    .headers
                    .iter()
                    .find(|(k, _)| k == "content-type")
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("");
                let (ctype, media) = content
                    .iter()
                    .find(|(k, _)| sent.starts_with(k.as_str()))
                    .unwrap_or_else(|| {
                        panic!(
                            "{what}: content type '{sent}' is not one of {:?}",
                            content.keys()
                        )
                    });
                let body = if ctype == "application/x-www-form-urlencoded" {
                    Value::Object(
                        url::form_urlencoded::parse(r.body.as_bytes())
                            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                            .collect(),
                    )
                } else {
                    serde_json::from_str(&r.body)
                        .unwrap_or_else(|e| panic!("{what}: request body is not JSON: {e}"))
                };
                self.check(
                    &media["schema"],
                    &body,
                    Direction::Request,
                    &format!("{what} request"),
                );
            }
            None => assert!(
                r.body.is_empty(),
                "{what}: a body the schema does not define"
            ),
        }

        // The answer: the documented status's schema; an undocumented error must still be
        // Jamf's error shape (the contract's "other errors").
        let documented = &op["responses"][r.status.to_string()];
        let schema = if documented.is_object() {
            documented["content"]["application/json"]["schema"].clone()
        } else {
            assert!(
                r.status >= 400,
                "{what}: a success status the schema does not document"
            );
            json!({"$ref": "#/components/schemas/ApiError"})
        };
        if schema.is_null() {
            assert!(
                r.response.is_empty(),
                "{what}: a body the schema does not define: {}",
                r.response
            );
        } else {
            let body: Value = serde_json::from_str(&r.response)
                .unwrap_or_else(|e| panic!("{what}: response is not JSON: {e}"));
            self.check(
                &schema,
                &body,
                Direction::Response,
                &format!("{what} response"),
            );
        }
        Some(format!("{} {template}", r.method))
    }
}

/// Runs everything the client can do, successes and failures, against the stand-ins.
async fn exercise_the_client() -> JamfSim {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap());
    let clock: SharedClock = Arc::new(clock);
    let entra = EntraSim::start(clock.clone()).await;
    let tenant = "contoso.onmicrosoft.com";
    entra.add_tenant("7c3e0000-0000-4000-8000-00000000000a", Some(tenant));
    let app = entra.add_app("7c3e0000-0000-4000-8000-00000000000a", "mail");
    let (_, secret) = entra.seed_password(
        &app.object_id,
        "seed",
        clock.now() + chrono::Duration::days(90),
    );
    let config = JamfSimConfig {
        entra_login_url: entra.url(),
        tenant_id: tenant.into(),
        client_id: app.client_id.clone(),
        secret: secret.clone(),
        cloud: Cloud::Global,
    };
    let jamf = JamfSim::start(config, clock.clone()).await;
    jamf.set_notifications(&[
        "MII_HEARTBEAT_FAILED_NOTIFICATION",
        "CONDITIONAL_ACCESS_CONNECTION_ERROR",
    ]);
    let connect = |creds: Value| {
        let creds = JamfCredentials::parse(&SecretString::from(creds.to_string())).unwrap();
        JamfClient::new(
            &jamf.url(),
            creds,
            &rotator_testkit::settings::on_loopback(),
            clock.clone(),
        )
        .unwrap()
    };
    let (id, key) = jamf.add_api_client();
    let api = connect(json!({"client_id": id, "client_secret": key.expose_secret()}));

    let doc_text = json!({"schema": 1,
        "entra": {"tenant_id": tenant, "client_id": app.client_id, "client_secret": secret.expose_secret()},
        "jamf": {"url": jamf.url().as_str(), "target": "smtp-graph", "credentials_secret_id": "x"}});
    let doc = rotator_engine::document::TargetDocument::parse(&doc_text.to_string()).unwrap();
    let target = SmtpGraphTarget::new(api.clone(), &doc, "it@example.com");
    target.inspect().await.unwrap();
    target.verify().await.unwrap();
    target
        .install(&SecretString::from("Bad~not-on-the-app".to_string()))
        .await
        .unwrap();
    target.verify().await.unwrap_err();
    target.install(&secret).await.unwrap();
    api.notifications().await.unwrap();
    api.version().await.unwrap();
    api.sso_failover().await.unwrap();
    jamf.expire_tokens();
    api.smtp_server().await.unwrap();
    api.close().await.unwrap();

    jamf.add_user("admin", "correct horse");
    let user = connect(json!({"username": "admin", "password": "correct horse"}));
    user.version().await.unwrap();
    user.close().await.unwrap();
    connect(json!({"username": "admin", "password": "wrong"}))
        .version()
        .await
        .unwrap_err();
    connect(json!({"client_id": id, "client_secret": "wrong"}))
        .version()
        .await
        .unwrap_err();
    jamf
}

#[tokio::test]
async fn every_request_and_answer_validates_against_the_jamf_pro_schema() {
    let jamf = exercise_the_client().await;
    let spec = Spec::load();
    let requests = jamf.requests();
    let mut seen: Vec<String> = requests.iter().filter_map(|r| spec.exchange(r)).collect();
    seen.sort();
    seen.dedup();
    // The scenario really covered what the client does, failures included.
    for op in [
        "POST /v1/oauth/token",
        "POST /v1/auth/token",
        "POST /v1/auth/invalidate-token",
        "GET /v2/smtp-server",
        "PUT /v2/smtp-server",
        "POST /v1/smtp-server/test",
        "GET /v1/notifications",
        "GET /v1/jamf-pro-version",
        "GET /v1/sso/failover",
    ] {
        assert!(seen.iter().any(|s| s == op), "{op} not exercised: {seen:?}");
    }
    let statuses: Vec<(String, u16)> = requests
        .iter()
        .map(|r| (r.path.clone(), r.status))
        .collect();
    for expected in [
        ("/api/v1/smtp-server/test", 400),
        ("/api/v1/smtp-server/test", 202),
        ("/api/v1/oauth/token", 400),
        ("/api/v1/auth/token", 401),
    ] {
        assert!(
            statuses
                .iter()
                .any(|(p, s)| p == expected.0 && *s == expected.1),
            "{expected:?} not exercised"
        );
    }
    assert!(
        statuses.iter().any(|(_, s)| *s == 401),
        "an expired token was refused and renewed"
    );
}

#[test]
fn the_adapted_schema_refuses_what_the_contract_forbids() {
    let spec = Spec::load();
    let smtp = json!({"$ref": "#/components/schemas/SmtpServerV2"});
    let good = json!({"enabled": true, "authenticationType": "GRAPH_API",
        "senderSettings": {"emailAddress": "a@b.c"}, "graphApiCredentials": {"tenantId": "t", "clientId": "c"}});
    spec.check(
        &smtp,
        &good,
        Direction::Response,
        "a response without the secret",
    );
    let mut leaked = good.clone();
    leaked["graphApiCredentials"]["clientSecret"] = "s".into();
    let leak = std::panic::catch_unwind(|| spec.check(&smtp, &leaked, Direction::Response, "leak"));
    assert!(
        leak.is_err(),
        "a response carrying the write-only secret must fail"
    );
    let missing =
        std::panic::catch_unwind(|| spec.check(&smtp, &good, Direction::Request, "request"));
    assert!(
        missing.is_err(),
        "a request's graphApiCredentials needs clientSecret"
    );
    assert!(spec.template("/api/v2/smtp-server").is_some());
    assert!(spec.template("/api/v1/notifications/X/1").is_some());
    assert!(spec.template("/api/v3/nothing").is_none());
}
